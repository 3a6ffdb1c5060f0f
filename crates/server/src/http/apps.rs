//! `/api/v1/apps…`: the bundled apps, and installing, upgrading and uninstalling one (the
//! same operations as `mailscope app`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{AppState, JsonBody, blocking, error, parse_body};
use crate::apps::{self, library::Library};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    source_category: String,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    #[serde(default)]
    version: Option<String>,
}

pub async fn list(State(state): State<AppState>) -> Response {
    let library = Library::new(&state.data_dir);
    blocking(move || Ok(axum::Json(apps::list_apps(&library)?).into_response())).await
}

pub async fn install(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: JsonBody<InstallRequest>,
) -> Response {
    let request = match parse_body(body) {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    let library = Library::new(&state.data_dir);
    blocking(move || {
        let entry = apps::install(
            &library,
            &id,
            &request.source_category,
            request.version.as_deref(),
        )?;
        Ok((StatusCode::CREATED, axum::Json(entry)).into_response())
    })
    .await
}

/// The body is optional: none (or `{}`) upgrades to the latest version.
pub async fn upgrade(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let request: UpgradeRequest = if body.iter().all(u8::is_ascii_whitespace) {
        UpgradeRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not an upgrade request: {e}"),
                );
            }
        }
    };
    let library = Library::new(&state.data_dir);
    blocking(move || {
        let report = apps::upgrade(&library, &id, request.version.as_deref())?;
        Ok(axum::Json(report).into_response())
    })
    .await
}

pub async fn uninstall(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let library = Library::new(&state.data_dir);
    blocking(move || {
        apps::uninstall(&library, &id)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}
