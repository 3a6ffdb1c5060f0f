//! `POST /api/v1/query`: `{"query", "from", "to", "tz"?, "variables"?}` → the result as
//! `{"columns", "rows", "warnings"}` (the shape of `mailscope query --format json`), or
//! `{"errors": [diagnostics]}` with status 400 for a query that does not compile.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use mailscope_engine::exec::{self, QueryOptions};
use serde::Deserialize;

use super::{AppState, error};

/// Longest a query may run before it is cancelled.
const QUERY_TIMEOUT: Duration = Duration::from_secs(120);
/// Rows a query without aggregation returns at most.
const MAX_RAW_ROWS: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    query: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    #[serde(default)]
    tz: Option<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
}

pub async fn run(
    State(state): State<AppState>,
    body: Result<axum::Json<Request>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let request = match body {
        Ok(axum::Json(request)) => request,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    let time_zone: Tz = match request.tz.as_deref().unwrap_or("UTC").parse() {
        Ok(tz) => tz,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("tz {:?} is not an IANA time zone", request.tz),
            );
        }
    };
    let query = match mailscope_query::compile_with_variables(&request.query, &request.variables) {
        Ok(query) => query,
        Err(diagnostics) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({ "errors": diagnostics })),
            )
                .into_response();
        }
    };
    let options = QueryOptions {
        from: request.from,
        to: request.to,
        time_zone,
        geo: state.geo.clone(),
        asn: state.asn.clone(),
        max_raw_rows: MAX_RAW_ROWS,
    };
    let data_dir = state.data_dir.clone();
    let run = tokio::spawn(async move { exec::execute(&data_dir, &query, &options).await });
    let abort = run.abort_handle();
    match tokio::time::timeout(QUERY_TIMEOUT, run).await {
        Ok(Ok(Ok(result))) => axum::Json(crate::query::to_json(&result)).into_response(),
        Ok(Ok(Err(e))) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Ok(Err(_)) => error(StatusCode::INTERNAL_SERVER_ERROR, "query task failed"),
        Err(_) => {
            abort.abort();
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the query ran longer than {} s and was cancelled; narrow the time range",
                    QUERY_TIMEOUT.as_secs()
                ),
            )
        }
    }
}
