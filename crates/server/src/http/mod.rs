//! The HTTP server (contract: `crates/server/API.md`): the query API, dashboards, apps,
//! health and metrics, the ingest endpoint (bearer-token protected), and the embedded web
//! app. The server is the store's single writer while it runs: the ingest endpoint and any
//! collectors it hosts share one [`Store`] handle.

mod apps;
mod dashboards;
mod ingest;
pub mod metrics;
mod query;
mod request_id;
mod trace;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use mailscope_engine::geo::GeoDatabase;
use mailscope_engine::store::{Catalog, Store};

use mailscope_collect::Secret;

pub use mailscope_service::QueryService;
pub use metrics::Metrics;

use crate::apps::Error as LibraryError;

/// The time limit of a query unless configured otherwise.
pub const QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
/// Largest JSON body of the API (queries, dashboards); the ingest endpoint has its own.
const API_BODY_LIMIT: usize = 2 << 20;
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' \
     'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'";

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
    /// Threat-intelligence feeds for the threat lookups (null columns without).
    pub threat: Option<Arc<mailscope_threat::ThreatStore>>,
    /// Runs queries off the HTTP runtime, with their cache, limit and cancellation.
    pub queries: Arc<QueryService>,
    /// The queries' memory pool, for background work that shares their budget (compaction).
    pub memory: mailscope_engine::exec::MemoryGate,
    pub metrics: Arc<Metrics>,
    /// The collectors running in this process.
    pub collectors: crate::collect::Board,
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
    let ingest_limit = state.max_ingest_bytes;
    let api = Router::new()
        .route("/api/v1/query", post(query::run))
        .route("/api/v1/query/{id}/cancel", post(query::cancel))
        .route("/api/v1/trace", get(trace::get))
        .route(
            "/api/v1/ingest",
            post(ingest::run).layer(DefaultBodyLimit::max(ingest_limit)),
        )
        .route(
            "/api/v1/dashboards",
            get(dashboards::list).post(dashboards::create),
        )
        .route(
            "/api/v1/dashboards/{id}",
            get(dashboards::get)
                .put(dashboards::update)
                .delete(dashboards::delete),
        )
        .route(
            "/api/v1/dashboards/{id}/duplicate",
            post(dashboards::duplicate),
        )
        .route(
            "/api/v1/dashboards/{id}/variables/{name}/values",
            get(dashboards::values),
        )
        .route("/api/v1/apps", get(apps::list))
        .route("/api/v1/apps/{id}/install", post(apps::install))
        .route("/api/v1/apps/{id}/upgrade", post(apps::upgrade))
        .route("/api/v1/apps/{id}", delete(apps::uninstall))
        .route("/api/v1/metrics", get(metrics_text))
        .route("/api/v1/collectors", get(collectors))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
    Router::new()
        .route("/api/v1/health", get(health))
        .merge(api)
        .fallback(web::serve)
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), count_request))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(request_id::layer))
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

/// The store's catalog as readers see it (never waits for the writer's lock).
async fn catalog(state: &AppState) -> Option<Catalog> {
    let dir = state.data_dir.clone();
    tokio::task::spawn_blocking(move || Catalog::load(&dir).ok())
        .await
        .ok()
        .flatten()
}

/// Whether the request carries the server's token (always true without one).
fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(token) = &state.token else {
        return true;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|presented| token.matches(presented.trim()))
}

/// `{"status": "ok"}` for anyone (a load balancer's probe); the details (store, reference
/// data, feeds, memory) only with the token when one is configured: feed errors can name
/// URLs with keys in them.
async fn health(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(catalog) = catalog(&state).await else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the store's catalog is unreadable",
        );
    };
    if !authorized(&state, &headers) {
        return axum::Json(serde_json::json!({ "status": "ok" })).into_response();
    }
    let geo = state.geo.as_ref().map(|geo| geo.info());
    let asn = state.asn.as_ref().map(|asn| asn.info());
    let threat = state.threat.as_ref().map(
        |threat| serde_json::json!({ "index": threat.index().stats(), "feeds": threat.status() }),
    );
    let cache = mailscope_engine::exec::cache::active().map(|cache| cache.stats());
    axum::Json(serde_json::json!({
        "status": "ok",
        "rows": catalog.rows(),
        "generation": catalog.generation,
        "geo": geo,
        "asn": asn,
        "threat": threat,
        "column_cache": cache,
        "queries": state.queries.stats(),
        "collectors": collector_statuses(&state),
    }))
    .into_response()
}

/// Every collector of this process, with how far behind now its checkpoint is.
fn collector_statuses(state: &AppState) -> Vec<serde_json::Value> {
    let now = chrono::Utc::now();
    state
        .collectors
        .snapshot()
        .into_iter()
        .map(|status| {
            let lag = status.checkpoint.map(|c| (now - c).num_seconds().max(0));
            let mut value = serde_json::to_value(&status).unwrap_or_default();
            value["lag_seconds"] = serde_json::json!(lag);
            value
        })
        .collect()
}

/// `GET /api/v1/collectors`: the collectors this process runs, one per tenant.
async fn collectors(State(state): State<AppState>) -> Response {
    axum::Json(serde_json::json!({ "collectors": collector_statuses(&state) })).into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    let store = catalog(&state).await.map(|c| metrics::StoreFigures {
        rows: c.rows(),
        generation: c.generation,
        deleted_rows: c.segments.iter().map(|s| s.rows - s.live_rows()).sum(),
        segments_with_deletes: c.segments.iter().filter(|s| s.deletes.is_some()).count() as u64,
    });
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(
            store,
            Some(state.queries.stats()),
            &state.collectors.snapshot(),
        ),
    )
        .into_response()
}

/// With a token configured every API request must carry it (`Authorization: Bearer …`).
async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if !authorized(&state, &headers) {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong access token (Authorization: Bearer <token>)",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    next.run(request).await
}

/// Counts every response by route template (never the raw path: bounded labels) and status.
async fn count_request(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let route = match &matched {
        Some(path) => path.as_str().to_owned(),
        None if request.uri().path().starts_with("/api/") => "unmatched".to_owned(),
        None => "static".to_owned(),
    };
    let response = next.run(request).await;
    state.metrics.request(&route, response.status().as_u16());
    response
}

/// The headers of API.md on every response, API or static.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A JSON error body: `{"error": "...", "code": "..."}`, the code the status's
/// ([`code_for`]).
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    coded_error(status, code_for(status), message)
}

/// A JSON error body with a code more precise than the status's (API.md, "Errors").
pub fn coded_error(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message.into(), "code": code })),
    )
        .into_response()
}

/// The stable code of an error answer when nothing more precise is said: clients branch on
/// codes, never on messages (which may change).
pub fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "too_large",
        422 => "unprocessable",
        499 => "cancelled",
        503 => "unavailable",
        500..=599 => "internal",
        _ => "error",
    }
}

/// A refusal before any work: a status and the message of `{"error": ...}`.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

/// A JSON request body, or why it was refused.
pub type JsonBody<T> = Result<axum::Json<T>, JsonRejection>;

/// The body, or the response refusing it: 413 when too large, else 400 with the reason
/// (malformed JSON, a missing or unknown field, a wrong type).
pub fn parse_body<T>(body: JsonBody<T>) -> Result<T, ApiError> {
    match body {
        Ok(axum::Json(value)) => Ok(value),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {API_BODY_LIMIT} bytes"),
        )),
        Err(rejection) => Err(ApiError(StatusCode::BAD_REQUEST, rejection.body_text())),
    }
}

/// The status of a library error: all mapping of its kinds to HTTP is here.
fn library_error(e: LibraryError) -> Response {
    match e {
        LibraryError::NotFound(message) => error(StatusCode::NOT_FOUND, message),
        LibraryError::Conflict(message) => error(StatusCode::CONFLICT, message),
        LibraryError::Invalid(message) => error(StatusCode::BAD_REQUEST, message),
        LibraryError::Query {
            panel,
            field,
            text,
            diagnostics,
        } => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({
                "code": query::QUERY_INVALID,
                "errors": query::diagnostics_json(&text, &diagnostics),
                "panel": panel,
                "field": field,
            })),
        )
            .into_response(),
        // Names a file of the library (relative to the data directory): the user can fix
        // or remove it.
        e @ LibraryError::Corrupt { .. } => coded_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "library_damaged",
            e.to_string(),
        ),
        e @ LibraryError::Io { .. } => {
            tracing::error!(error = %e, "dashboard library");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the dashboard library could not be read or written (see the server log)",
            )
        }
    }
}

/// Runs a library operation on the blocking pool (it takes a file lock and does I/O).
async fn blocking_value<T: Send + 'static>(
    operation: impl FnOnce() -> Result<T, LibraryError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(operation).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(library_error(e)),
        Err(_) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the library task failed",
        )),
    }
}

async fn blocking(
    operation: impl FnOnce() -> Result<Response, LibraryError> + Send + 'static,
) -> Response {
    match blocking_value(operation).await {
        Ok(response) | Err(response) => response,
    }
}
