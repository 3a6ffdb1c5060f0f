//! `GET /api/v1/trace?id=…`: one message's story (`crate::trace`), as `mailscope trace
//! --json` prints it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::query::{check_range, options, query_error};
use super::{ApiError, AppState, catalog, error};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// A Message-ID (brackets optional) or a message trace id.
    id: String,
    /// The range searched (RFC 3339); default: the store's whole range.
    from: Option<String>,
    to: Option<String>,
}

pub async fn get(
    State(state): State<AppState>,
    params: Result<Query<Params>, QueryRejection>,
) -> Response {
    let params = match params {
        Ok(Query(params)) => params,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    let condition = match crate::trace::id_condition(&params.id) {
        Ok(condition) => condition,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let time = |text: &Option<String>, what: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        text.as_deref()
            .map(|t| {
                DateTime::parse_from_rfc3339(t)
                    .map(|t| t.to_utc())
                    .map_err(|_| {
                        ApiError(
                            StatusCode::BAD_REQUEST,
                            format!("{what} is not an RFC 3339 time"),
                        )
                    })
            })
            .transpose()
    };
    let (from, to) = match (time(&params.from, "from"), time(&params.to, "to")) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(refusal), _) | (_, Err(refusal)) => return refusal.into_response(),
    };
    // The store's whole range, read only for a bound not given.
    let (from, to) = match (from, to) {
        (Some(from), Some(to)) => (from, to),
        (from, to) => match catalog(&state).await {
            Some(catalog) => {
                let (first, last) = crate::trace::range_of(&catalog);
                (from.unwrap_or(first), to.unwrap_or(last))
            }
            None => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the store's catalog is unreadable",
                );
            }
        },
    };
    if let Err(e) = check_range(from, to) {
        return e.into_response();
    }
    let options = options(&state, from, to, chrono_tz::UTC);
    match crate::trace::story(&state.queries, &params.id, &condition, &options).await {
        Ok(Some(story)) => axum::Json(story).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!(
                "no message with this id between {} and {}",
                from.to_rfc3339(),
                to.to_rfc3339()
            ),
        ),
        Err(e) => query_error(e, ""),
    }
}
