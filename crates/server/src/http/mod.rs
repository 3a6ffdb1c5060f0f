//! The HTTP server: the query API and the ingest endpoint (bearer-token protected) over one
//! store. The server is the store's single writer while it runs: the ingest endpoint and any
//! collectors it hosts share one [`Store`] handle.

mod ingest;
mod query;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mailscope_engine::geo::GeoDatabase;
use mailscope_engine::store::Store;

use mailscope_collect::Secret;

/// What every handler sees.
#[derive(Clone)]
pub struct AppState {
    pub data_dir: PathBuf,
    /// The store's writer, shared with collectors running in this process.
    pub store: Arc<Mutex<Store>>,
    pub geo: Option<Arc<GeoDatabase>>,
    /// AS numbers for `asn://default` lookups.
    pub asn: Option<Arc<mailscope_engine::geo::AsnDatabase>>,
    /// Bearer token for API requests; without one only loopback clients are served and the
    /// ingest endpoint is off.
    pub token: Option<Secret>,
    /// Largest request body accepted by the ingest endpoint.
    pub max_ingest_bytes: usize,
    /// `_sourceCategory` of ingested rows when the request names none.
    pub source_category: String,
}

/// Refuses to listen beyond loopback without a token: the data is a tenant's mail metadata.
pub fn check_listen(addr: &SocketAddr, token: Option<&Secret>) -> Result<()> {
    if !addr.ip().is_loopback() && token.is_none() {
        bail!(
            "refusing to listen on {addr} without an access token: set MAILSCOPE_TOKEN or \
             --token-file, or listen on 127.0.0.1"
        );
    }
    Ok(())
}

pub fn router(state: AppState) -> Router {
    let body_limit = state.max_ingest_bytes;
    let api = Router::new()
        .route("/query", post(query::run))
        .route(
            "/ingest",
            post(ingest::run).layer(DefaultBodyLimit::max(body_limit)),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
    Router::new()
        .route("/api/v1/health", get(health))
        .nest("/api/v1", api)
        .with_state(state)
}

/// Binds `addr` and serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed")
}

async fn health(State(state): State<AppState>) -> Response {
    let (rows, generation) = match state.store.lock() {
        Ok(store) => (store.catalog().rows(), store.catalog().generation),
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "store lock poisoned"),
    };
    axum::Json(serde_json::json!({ "status": "ok", "rows": rows, "generation": generation }))
        .into_response()
}

/// With a token configured every API request must carry it (`Authorization: Bearer …`).
async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &state.token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !presented.is_some_and(|p| token.matches(p.trim())) {
            let mut response = error(
                StatusCode::UNAUTHORIZED,
                "missing or wrong access token (Authorization: Bearer <token>)",
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer".parse().expect("static header"),
            );
            return response;
        }
    }
    next.run(request).await
}

/// A JSON error body: `{"error": "..."}`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message.into() })),
    )
        .into_response()
}
