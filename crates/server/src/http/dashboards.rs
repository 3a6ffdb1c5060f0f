//! `/api/v1/dashboards…`: list, read, create, replace, delete, duplicate, and the values of a
//! dashboard variable. Library operations take a file lock and touch the disk, so they run
//! on the blocking pool.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::query::{check_range, query_error};
use super::{ApiError, AppState, JsonBody, blocking, blocking_value, error, parse_body};
use crate::apps::dashboard::{self, Dashboard, scope_term};
use crate::apps::{self, library::Library};
use mailscope_service::QueryRequest;

const DEFAULT_VALUES: usize = 100;
const MAX_VALUES: usize = 1000;

/// The message trace fields, parsed as the app's panels parse them; a variable's `field` is
/// one of these or a geo column of the sender IP.
const PARSE: &str = r#"| json "Organization", "MessageId", "Received", "SenderAddress", "RecipientAddress", "Subject", "Status", "ToIP", "FromIP", "Size", "MessageTraceId", "StartDate", "EndDate", "Index" as organization, message_id, received, sender_address, recipient_address, subject, status, toIP, fromIP, size, message_traceId, start_date, end_Date, index nodrop"#;

pub async fn list(State(state): State<AppState>) -> Response {
    let library = Library::new(&state.data_dir);
    blocking(move || {
        let (summaries, problems) = apps::list_dashboards(&library)?;
        for problem in problems {
            tracing::warn!(%problem, "dashboard skipped");
        }
        Ok(axum::Json(summaries).into_response())
    })
    .await
}

pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let library = Library::new(&state.data_dir);
    blocking(move || Ok(axum::Json(apps::get_dashboard(&library, &id)?).into_response())).await
}

pub async fn create(State(state): State<AppState>, body: JsonBody<Dashboard>) -> Response {
    let dashboard = match parse_body(body) {
        Ok(dashboard) => dashboard,
        Err(e) => return e.into_response(),
    };
    let library = Library::new(&state.data_dir);
    blocking(move || {
        let stored = apps::create_dashboard(&library, dashboard)?;
        Ok((StatusCode::CREATED, axum::Json(stored)).into_response())
    })
    .await
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: JsonBody<Dashboard>,
) -> Response {
    let dashboard = match parse_body(body) {
        Ok(dashboard) => dashboard,
        Err(e) => return e.into_response(),
    };
    let library = Library::new(&state.data_dir);
    blocking(move || {
        let stored = apps::update_dashboard(&library, &id, dashboard)?;
        Ok(axum::Json(stored).into_response())
    })
    .await
}

pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let library = Library::new(&state.data_dir);
    blocking(move || {
        apps::delete_dashboard(&library, &id)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}

pub async fn duplicate(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let library = Library::new(&state.data_dir);
    blocking(move || {
        let copy = apps::duplicate_dashboard(&library, &id)?;
        Ok((StatusCode::CREATED, axum::Json(copy)).into_response())
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValuesParams {
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
}

/// Distinct values of a variable's field over the dashboard's source category, most frequent
/// first.
pub async fn values(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    params: Result<Query<ValuesParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(params) = match params {
        Ok(params) => params,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    let limit = match params.limit.as_deref().map(str::parse::<usize>) {
        None => DEFAULT_VALUES,
        Some(Ok(limit)) if (1..=MAX_VALUES).contains(&limit) => limit,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("limit must be a number from 1 to {MAX_VALUES}"),
            );
        }
    };
    let library = Library::new(&state.data_dir);
    let dashboard = match blocking_value(move || apps::get_dashboard(&library, &id)).await {
        Ok(dashboard) => dashboard,
        Err(e) => return e.into_response(),
    };
    let Some(variable) = dashboard.variables.iter().find(|v| v.name == name) else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "dashboard {} has no variable {:?}",
                dashboard.id,
                dashboard::truncate(&name, 60)
            ),
        );
    };
    let (from, to) = match range(&dashboard, params.from.as_deref(), params.to.as_deref()) {
        Ok(range) => range,
        Err(e) => return e.into_response(),
    };
    let text = values_query(&dashboard.source_category, &variable.field, limit);
    let request = QueryRequest {
        text: text.clone(),
        variables: Default::default(),
        options: super::query::options(&state, from, to, chrono_tz::Tz::UTC),
        id: None,
    };
    match state.queries.run(request).await {
        Ok(answer) => {
            let values: Vec<serde_json::Value> = answer
                .table
                .result
                .rows
                .iter()
                .filter_map(|row| match row.as_slice() {
                    [value, count] => Some(
                        serde_json::json!({"value": value.to_json(), "count": count.to_json()}),
                    ),
                    _ => None,
                })
                .collect();
            axum::Json(serde_json::json!({ "values": values })).into_response()
        }
        Err(e) => query_error(e, &text),
    }
}

/// The range asked for, else the dashboard's own.
fn range(
    dashboard: &Dashboard,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let parse = |text: &str, what: &str| {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.to_utc())
            .map_err(|_| {
                ApiError(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "{what} {:?} is not an RFC 3339 time",
                        dashboard::truncate(text, 60)
                    ),
                )
            })
    };
    let (default_from, default_to) = dashboard
        .time_range
        .resolve(Utc::now())
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let from = from.map_or(Ok(default_from), |t| parse(t, "from"))?;
    let to = to.map_or(Ok(default_to), |t| parse(t, "to"))?;
    check_range(from, to)?;
    Ok((from, to))
}

/// `field` was checked to be a plain name when the dashboard was stored, and the category
/// to be a safe scope term.
fn values_query(category: &str, field: &str, limit: usize) -> String {
    let geo = if mailscope_engine::geo::GEO_COLUMNS.contains(&field) {
        format!("\n| lookup {field} from geo://location on ip = fromIP")
    } else {
        String::new()
    };
    format!(
        "{}\n{PARSE}{geo}\n| where !isNull({field})\n| count by {field}\n| sort by _count, {field} asc\n| limit {limit}",
        scope_term(category)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_queries_compile_for_message_and_geo_fields() {
        for field in ["status", "sender_address", "organization", "country_name"] {
            let text = values_query("o365/message trace", field, 100);
            if let Err(diagnostics) = mailscope_query::compile(&text) {
                panic!("{text}\n{diagnostics:?}");
            }
        }
    }
}
