//! `POST /api/v1/query` (a page of a query's result, see API.md) and
//! `POST /api/v1/query/{id}/cancel`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use mailscope_engine::exec::QueryOptions;
use mailscope_query::Diagnostic;
use serde::Deserialize;

use super::{ApiError, AppState, JsonBody, coded_error, error, parse_body};
use mailscope_engine::exec::Value;
use mailscope_service::{Answer, QueryError, QueryRequest};

/// Rows of one page by default, and at most.
const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = 10_000;
const MAX_ID_CHARS: usize = 128;

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
    #[serde(default)]
    offset: usize,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    id: Option<String>,
}

pub async fn run(State(state): State<AppState>, body: JsonBody<Request>) -> Response {
    let request = match parse_body(body) {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    let time_zone = match parse_tz(request.tz.as_deref()) {
        Ok(tz) => tz,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = check_range(request.from, request.to) {
        return e.into_response();
    }
    let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("limit {limit} is out of range: 1 to {MAX_LIMIT}"),
        );
    }
    if let Some(id) = &request.id
        && !valid_query_id(id)
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "query id {:?} is not valid: 1 to {MAX_ID_CHARS} letters, digits and - _ . :",
                crate::apps::dashboard::truncate(id, 40)
            ),
        );
    }
    let started = Instant::now();
    let source = request.query.clone();
    let answer = state
        .queries
        .run(QueryRequest {
            text: request.query,
            variables: request.variables,
            options: options(&state, request.from, request.to, time_zone),
            id: request.id,
        })
        .await;
    match answer {
        Ok(answer) => page(&answer, request.offset, limit, started.elapsed()),
        Err(e) => query_error(e, &source),
    }
}

/// The engine's options for a range, with the server's enrichment databases.
pub fn options(
    state: &AppState,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    time_zone: Tz,
) -> QueryOptions {
    QueryOptions {
        from,
        to,
        time_zone,
        geo: state.geo.clone(),
        asn: state.asn.clone(),
        threat: state.threat.as_ref().map(|threat| threat.index()),
        // The query service sets its own cap.
        max_raw_rows: 0,
    }
}

fn page(answer: &Answer, offset: usize, limit: usize, elapsed: Duration) -> Response {
    let table = &answer.table;
    let result = &table.result;
    let rows: Vec<Vec<serde_json::Value>> = result
        .rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(|row| row.iter().map(Value::to_json).collect())
        .collect();
    axum::Json(serde_json::json!({
        "columns": result.columns,
        "types": table.types,
        "rows": rows,
        "total_rows": result.rows.len(),
        "offset": offset,
        "warnings": result.warnings,
        "elapsed_ms": u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        "cached": answer.cached,
        "input": result.input.as_str(),
        "keywords": answer.keywords,
    }))
    .into_response()
}

/// The response for a query that did not give a result.
/// The code of a query that does not compile (its diagnostics in `errors`).
pub const QUERY_INVALID: &str = "query_invalid";

pub fn query_error(e: QueryError, source: &str) -> Response {
    match e {
        QueryError::Compile(diagnostics) => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({
                "code": QUERY_INVALID,
                "errors": diagnostics_json(source, &diagnostics),
            })),
        )
            .into_response(),
        QueryError::DuplicateId(id) => coded_error(
            StatusCode::CONFLICT,
            "query_id_in_use",
            format!("a query with id {id:?} is running already"),
        ),
        QueryError::Cancelled => error(cancelled_status(), "the query was cancelled"),
        QueryError::TimedOut(limit) => coded_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "timed_out",
            format!(
                "the query ran longer than {} and was cancelled; narrow the time range",
                seconds(limit)
            ),
        ),
        QueryError::Failed(mailscope_engine::Error::MemoryBudget { .. }) => coded_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "memory_budget",
            e.to_string(),
        ),
        QueryError::Failed(
            failure @ (mailscope_engine::Error::Query(_) | mailscope_engine::Error::DataFusion(_)),
        ) => coded_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "query_failed",
            failure.to_string(),
        ),
        QueryError::Failed(failure) => {
            // The store or a file failed: the details (paths) go to the log, not the client.
            tracing::error!(error = %failure, "query failed reading the store");
            coded_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "store_failed",
                "the store could not be read; the server's log has the details",
            )
        }
        QueryError::Internal(detail) => {
            tracing::error!(%detail, "query task failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "the query task failed")
        }
    }
}

/// 499, "client closed request": the status API.md gives a cancelled query.
fn cancelled_status() -> StatusCode {
    StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST)
}

pub async fn cancel(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if !valid_query_id(&id) {
        return error(StatusCode::BAD_REQUEST, "not a query id");
    }
    if state.queries.cancel(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            format!("no query with id {id:?} is running"),
        )
    }
}

fn valid_query_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

pub fn parse_tz(name: Option<&str>) -> Result<Tz, ApiError> {
    let name = name.unwrap_or("UTC");
    name.parse().map_err(|_| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "tz {:?} is not an IANA time zone",
                crate::apps::dashboard::truncate(name, 60)
            ),
        )
    })
}

pub fn check_range(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), ApiError> {
    if from >= to {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "the time range is empty: from must be before to".into(),
        ));
    }
    Ok(())
}

/// `2 s`, `0.05 s`.
fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        let text = format!("{:.3}", duration.as_secs_f64());
        format!("{} s", text.trim_end_matches('0'))
    }
}

/// Diagnostics as API.md gives them: the compiler's fields plus 1-based `line` and `column`
/// (in characters) of the span's start in `source`.
pub fn diagnostics_json(source: &str, diagnostics: &[Diagnostic]) -> Vec<serde_json::Value> {
    diagnostics
        .iter()
        .map(|diagnostic| {
            let mut value = serde_json::to_value(diagnostic).unwrap_or_default();
            let start = diagnostic.span.start.min(source.len());
            let before = source
                .get(..start)
                .unwrap_or_else(|| &source[..floor_boundary(source, start)]);
            let line = before.matches('\n').count() + 1;
            let column = before
                .rsplit('\n')
                .next()
                .map_or(0, |text| text.chars().count())
                + 1;
            if let Some(object) = value.as_object_mut() {
                object.insert("line".into(), line.into());
                object.insert("column".into(), column.into());
            }
            value
        })
        .collect()
}

fn floor_boundary(text: &str, mut index: usize) -> usize {
    while index > 0 && !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_carry_line_and_character_column() {
        let source = "_sourceCategory=x\n| where x = \"ä\" | countt";
        let Err(diagnostics) = mailscope_query::compile(source) else {
            panic!("compiles")
        };
        let json = diagnostics_json(source, &diagnostics);
        assert_eq!(json[0]["code"], "E0101", "{json:?}");
        assert_eq!(json[0]["line"], 2);
        // `| where x = "ä" | ` is 18 characters (19 bytes) before `countt`.
        assert_eq!(json[0]["column"], 19);
    }

    #[test]
    fn time_limits_read_naturally() {
        assert_eq!(seconds(Duration::from_secs(120)), "120 s");
        assert_eq!(seconds(Duration::from_millis(50)), "0.05 s");
    }
}
