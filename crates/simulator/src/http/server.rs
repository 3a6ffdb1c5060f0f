//! The HTTP front: routing (case-insensitive paths, as Microsoft's are), authentication, the
//! Graph quota, fault injection, request identifiers and counters. The API modules only turn
//! a request into a page or an error.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use chrono::Utc;
use tokio::sync::watch;

use super::auth::{self, Audience, Directory, Lifetimes, TokenProblem, Tokens};
use super::dataset::Dataset;
use super::faults::{FaultKind, Injector};
use super::graph::{self, GraphRequest};
use super::page::{MAX_QUERY_BYTES, Params, Rendered};
use super::responses::{
    self, Refusal, RequestIds, graph_error, graph_unauthorized, odata_error, retry_after, with_body,
};
use super::rws::{self, RwsRequest};
use super::{Quota, Stats};
use crate::tenant::ids::push_guid;

/// Largest token request body accepted.
const MAX_FORM_BYTES: usize = 64 * 1024;
const THROTTLED: &str =
    "Your recent queries have surpassed the permitted limit, please try again later.";
const OVERLOADED: &str =
    "We cannot currently process your request, please wait a few minutes and try again.";

/// Settings the handlers read.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub token_lifetime: Duration,
    pub graph_page_size: usize,
    pub rws_page_size: usize,
    pub link_lifetime: Option<Duration>,
}

/// A sliding-window request quota: at most `requests` admitted in any `window`.
#[derive(Debug)]
pub(crate) struct Limiter {
    quota: Quota,
    admitted: Mutex<VecDeque<Instant>>,
}

impl Limiter {
    pub(crate) fn new(quota: Quota) -> Limiter {
        Limiter {
            quota,
            admitted: Mutex::new(VecDeque::new()),
        }
    }

    /// Admits a request now, or says how long until one would be admitted.
    fn admit(&self) -> Result<(), Duration> {
        let now = Instant::now();
        let mut admitted = self
            .admitted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while admitted
            .front()
            .is_some_and(|first| now.duration_since(*first) >= self.quota.window)
        {
            admitted.pop_front();
        }
        if admitted.len() < self.quota.requests as usize {
            admitted.push_back(now);
            return Ok(());
        }
        let first = admitted.front().copied().unwrap_or(now);
        Err(self.quota.window.saturating_sub(now.duration_since(first)))
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    token_requests: AtomicU64,
    tokens_issued: AtomicU64,
    rws_requests: AtomicU64,
    graph_requests: AtomicU64,
    pages: AtomicU64,
    rows: AtomicU64,
    unauthorized: AtomicU64,
    expired_tokens: AtomicU64,
    quota_throttled: AtomicU64,
    bad_requests: AtomicU64,
    faults: [AtomicU64; 7],
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let fault = |kind: FaultKind| get(&self.faults[fault_slot(kind)]);
        Stats {
            requests: get(&self.requests),
            token_requests: get(&self.token_requests),
            tokens_issued: get(&self.tokens_issued),
            rws_requests: get(&self.rws_requests),
            graph_requests: get(&self.graph_requests),
            pages_served: get(&self.pages),
            rows_served: get(&self.rows),
            unauthorized: get(&self.unauthorized),
            expired_tokens: get(&self.expired_tokens),
            quota_throttled: get(&self.quota_throttled),
            bad_requests: get(&self.bad_requests),
            fault_throttled: fault(FaultKind::Throttle),
            fault_internal_error: fault(FaultKind::InternalError),
            fault_unavailable: fault(FaultKind::Unavailable),
            fault_timeout: fault(FaultKind::Timeout),
            fault_truncated: fault(FaultKind::Truncate),
            fault_html: fault(FaultKind::Html),
            fault_expired_link: fault(FaultKind::ExpiredLink),
        }
    }
}

fn fault_slot(kind: FaultKind) -> usize {
    FaultKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

/// Everything a request may touch.
#[derive(Debug)]
pub(crate) struct State {
    pub dataset: Dataset,
    pub directory: Directory,
    pub tokens: Tokens,
    pub injector: Injector,
    pub limiter: Limiter,
    pub settings: Settings,
    pub counters: Counters,
    pub files: Vec<super::ServedFile>,
    /// `GET /v1.0/organization` answers (else 403, a missing permission).
    pub organization_readable: bool,
    /// Changed at run time by [`super::Simulator::set_onboarding`] (an admin revoking a
    /// permission mid-run).
    pub onboarding: std::sync::RwLock<Option<super::Onboarding>>,
    /// Keys skip tokens.
    pub secret: u64,
    pub addr: SocketAddr,
    pub shutdown: watch::Receiver<bool>,
    pub sequence: AtomicU64,
}

impl State {
    fn onboarding(&self) -> Option<super::Onboarding> {
        *self
            .onboarding
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn request_ids(&self, headers: &HeaderMap) -> RequestIds {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        let mut request_id = String::with_capacity(36);
        push_guid(
            &mut request_id,
            (u128::from(self.secret) << 64) | u128::from(sequence),
            false,
        );
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 128)
            .map_or_else(|| request_id.clone(), str::to_owned);
        RequestIds {
            request_id,
            client_request_id,
            date: Utc::now(),
        }
    }

    /// `http://host[:port]` as the client addressed us, for absolute links.
    fn origin(&self, headers: &HeaderMap) -> String {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|host| {
                !host.is_empty()
                    && host.len() <= 255
                    && host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            });
        match host {
            Some(host) => format!("http://{host}"),
            None => format!("http://{}", self.addr),
        }
    }
}

/// Which data API a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Rws,
    Graph { beta: bool },
}

/// The single handler: routes by method and lower-cased path.
pub(crate) async fn dispatch(
    AxumState(state): AxumState<Arc<State>>,
    request: Request,
) -> Response {
    bump(&state.counters.requests);
    let ids = state.request_ids(request.headers());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut response = route(&state, request, &ids).await;
    tracing::debug!(
        request_id = %ids.request_id,
        %method,
        path = %super::page::clip(&path),
        status = response.status().as_u16(),
        "simulator request"
    );
    let headers = response.headers_mut();
    for (name, value) in [
        ("request-id", &ids.request_id),
        ("client-request-id", &ids.client_request_id),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    response
}

async fn route(state: &Arc<State>, request: Request, ids: &RequestIds) -> Response {
    let uri = request.uri().clone();
    if uri.query().is_some_and(|q| q.len() > MAX_QUERY_BYTES) {
        return with_body(
            StatusCode::URI_TOO_LONG,
            "text/html; charset=utf-8",
            b"<h1>414 - Request-URI Too Long</h1>".to_vec(),
        );
    }
    let path = uri.path().to_ascii_lowercase();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = request.method().clone();
    match segments.as_slice() {
        [tenant, "oauth2", "v2.0", "token"] | [tenant, "oauth2", "token"] => {
            if method != Method::POST {
                return method_not_allowed();
            }
            let v1 = segments.len() == 3;
            // The tenant keeps its case for error messages.
            let tenant = uri
                .path()
                .trim_matches('/')
                .split('/')
                .next()
                .unwrap_or(tenant)
                .to_owned();
            token(state, request, &tenant, v1, ids).await
        }
        [
            "ecp",
            "reportingwebservice",
            "reporting.svc",
            "messagetrace",
        ] => data(state, request, Api::Rws, ids).await,
        [
            version @ ("v1.0" | "beta"),
            "admin",
            "exchange",
            "tracing",
            "messagetraces",
        ] => {
            let beta = *version == "beta";
            data(state, request, Api::Graph { beta }, ids).await
        }
        [_version @ ("v1.0" | "beta"), "organization"] => organization(state, request, ids),
        ["ecp", ..] => odata_error(
            StatusCode::NOT_FOUND,
            &format!(
                "Resource not found for the segment '{}'.",
                super::page::clip(segments.last().copied().unwrap_or(""))
            ),
        ),
        ["v1.0" | "beta", rest @ ..] => graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!(
                "Resource not found for the segment '{}'.",
                super::page::clip(rest.first().copied().unwrap_or(""))
            ),
            ids,
        ),
        ["feeds", name] if method == Method::GET => {
            match state.files.iter().find(|f| f.name == *name) {
                Some(file) => with_body(StatusCode::OK, file.content_type, file.body.clone()),
                None => responses::not_found(),
            }
        }
        _ => responses::not_found(),
    }
}

/// `GET /v1.0/organization`: the tenant with its verified domains, as Graph lists them (the
/// onmicrosoft domain is the initial one, the first accepted domain the default). Needs a
/// Graph token, and the `Organization.Read.All` permission.
fn organization(state: &Arc<State>, request: Request, ids: &RequestIds) -> Response {
    if request.method() != Method::GET {
        return method_not_allowed();
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match state.tokens.check(authorization) {
        Ok(Audience::Graph) => {}
        Ok(_) => {
            return graph_unauthorized("Access token validation failure. Invalid audience.", ids);
        }
        Err(TokenProblem::Expired) => {
            return graph_unauthorized("Lifetime validation failed, the token is expired.", ids);
        }
        Err(_) => return graph_unauthorized("Access token validation failure.", ids),
    }
    if !state.organization_readable {
        return graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
            ids,
        );
    }
    let tenant = &state.dataset.tenant;
    let default = tenant
        .accepted_domains
        .iter()
        .find(|d| **d != tenant.organization)
        .unwrap_or(&tenant.organization);
    let domains: Vec<serde_json::Value> = tenant
        .accepted_domains
        .iter()
        .chain(
            (!tenant.accepted_domains.contains(&tenant.organization))
                .then_some(&tenant.organization),
        )
        .map(|name| {
            serde_json::json!({
                "capabilities": "Email, OfficeCommunicationsOnline",
                "isDefault": name == default,
                "isInitial": *name == tenant.organization,
                "name": name,
                "type": "Managed",
            })
        })
        .collect();
    let display = tenant
        .organization
        .split('.')
        .next()
        .unwrap_or("Tenant")
        .to_owned();
    super::responses::json_response(
        StatusCode::OK,
        super::responses::GRAPH_JSON,
        serde_json::json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#organization",
            "value": [{
                "id": state.directory.tenant_id,
                "displayName": display,
                "verifiedDomains": domains,
            }],
        }),
    )
}

fn method_not_allowed() -> Response {
    with_body(
        StatusCode::METHOD_NOT_ALLOWED,
        "text/html; charset=utf-8",
        b"<h1>405 - Method Not Allowed</h1>".to_vec(),
    )
}

async fn token(
    state: &Arc<State>,
    request: Request,
    tenant: &str,
    v1: bool,
    ids: &RequestIds,
) -> Response {
    bump(&state.counters.token_requests);
    let Ok(body) = to_bytes(request.into_body(), MAX_FORM_BYTES).await else {
        return with_body(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text/html; charset=utf-8",
            b"<h1>413 - Request Entity Too Large</h1>".to_vec(),
        );
    };
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let lifetimes = Lifetimes {
        advertised: state.settings.token_lifetime,
        dies_after: state.injector.faults().token_expiry,
    };
    if state.onboarding() == Some(super::Onboarding::ExpiredSecret) {
        let secret_given = form.iter().any(|(k, _)| k == "client_secret");
        if secret_given {
            return super::responses::aad_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000222,
                &format!(
                    "The provided client secret keys for app '{}' are expired. Visit the Azure \
                     portal to create new keys for your app: \
                     https://aka.ms/NewClientSecret, or consider using certificate credentials \
                     for added security: https://aka.ms/certCreds.",
                    state.directory.client_id
                ),
                ids,
            );
        }
    }
    let response = auth::token_endpoint(
        &state.directory,
        &state.tokens,
        tenant,
        v1,
        &form,
        lifetimes,
        ids,
    );
    if response.status() == StatusCode::OK {
        bump(&state.counters.tokens_issued);
    }
    response
}

async fn data(state: &Arc<State>, request: Request, api: Api, ids: &RequestIds) -> Response {
    if request.method() != Method::GET {
        return method_not_allowed();
    }
    match api {
        Api::Rws => bump(&state.counters.rws_requests),
        Api::Graph { .. } => bump(&state.counters.graph_requests),
    }
    let headers = request.headers();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let wanted = match api {
        Api::Rws => Audience::Exchange,
        Api::Graph { .. } => Audience::Graph,
    };
    let problem = match state.tokens.check(authorization) {
        Ok(audience) if audience == wanted => None,
        Ok(_) => Some("Access token validation failure. Invalid audience."),
        Err(TokenProblem::Missing) => Some("Access token is empty."),
        Err(TokenProblem::Malformed) => Some(
            "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in \
             JWS or JWE Compact Serialization Format.",
        ),
        Err(TokenProblem::Unknown) => Some("Access token validation failure."),
        Err(TokenProblem::Expired) => {
            bump(&state.counters.expired_tokens);
            Some("Lifetime validation failed, the token is expired.")
        }
    };
    if let Some(message) = problem {
        bump(&state.counters.unauthorized);
        return match api {
            Api::Rws => responses::rws_unauthorized(),
            Api::Graph { .. } => graph_unauthorized(message, ids),
        };
    }
    match (state.onboarding(), api) {
        (Some(super::Onboarding::NoServicePrincipal), Api::Graph { .. }) => {
            bump(&state.counters.unauthorized);
            return graph_unauthorized(
                "Service principal-less Authentication failed: the service principal for App \
                 ID 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 was not found. Please create the \
                 service principal in the tenant.",
                ids,
            );
        }
        (Some(super::Onboarding::NoPermission), Api::Graph { .. }) => {
            return graph_error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "Missing role permissions on the request. API requires one of \
                 'ExchangeMessageTrace.Read.All'. Roles on the request ''.",
                ids,
            );
        }
        (Some(super::Onboarding::NoPermission), Api::Rws) => {
            return odata_error(
                StatusCode::FORBIDDEN,
                "No permission to access the report for the organization .",
            );
        }
        _ => {}
    }
    if matches!(api, Api::Graph { .. })
        && let Err(wait) = state.limiter.admit()
    {
        bump(&state.counters.quota_throttled);
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return retry_after(
            graph_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                THROTTLED,
                ids,
            ),
            seconds,
        );
    }
    let params = Params::parse(request.uri().query());
    let fault = state.injector.draw(params.get("$skiptoken").is_some());
    if let Some(kind) = fault {
        tracing::debug!(request_id = %ids.request_id, fault = kind.name(), "injecting a fault");
    }
    let retry_seconds = state.injector.faults().retry_after.as_secs_f64().ceil() as u64;
    let count = |kind: FaultKind| bump(&state.counters.faults[fault_slot(kind)]);
    match fault {
        Some(FaultKind::Throttle) => {
            count(FaultKind::Throttle);
            let response = match api {
                Api::Rws => odata_error(StatusCode::TOO_MANY_REQUESTS, THROTTLED),
                Api::Graph { .. } => graph_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequests",
                    THROTTLED,
                    ids,
                ),
            };
            return retry_after(response, retry_seconds);
        }
        Some(FaultKind::InternalError) => {
            count(FaultKind::InternalError);
            return match api {
                Api::Rws => odata_error(StatusCode::INTERNAL_SERVER_ERROR, OVERLOADED),
                Api::Graph { .. } => graph_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "An internal server error occurred.",
                    ids,
                ),
            };
        }
        Some(FaultKind::Unavailable) => {
            count(FaultKind::Unavailable);
            let response = match api {
                Api::Rws => odata_error(StatusCode::SERVICE_UNAVAILABLE, OVERLOADED),
                Api::Graph { .. } => graph_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The service is temporarily unavailable. Please retry later.",
                    ids,
                ),
            };
            return retry_after(response, retry_seconds);
        }
        Some(FaultKind::Timeout) => {
            count(FaultKind::Timeout);
            return stall(state, state.injector.faults().stall).await;
        }
        Some(FaultKind::Html) => {
            count(FaultKind::Html);
            return responses::sign_in_page();
        }
        Some(FaultKind::ExpiredLink) => {
            count(FaultKind::ExpiredLink);
            let refusal = match api {
                Api::Rws => rws::expired_link(),
                Api::Graph { .. } => graph::expired_link(),
            };
            return refuse(api, &refusal, ids);
        }
        Some(FaultKind::Truncate) | None => {}
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let origin = state.origin(headers);
    let unknown_enum_members = graph::asks_for_unknown_enum_members(headers);
    let now = Utc::now();
    let worker_state = Arc::clone(state);
    // Page selection scans and serializes: off the async workers.
    let outcome = tokio::task::spawn_blocking(move || match api {
        Api::Rws => rws::handle(
            &worker_state,
            &RwsRequest {
                params: &params,
                accept: accept.as_deref(),
                now,
                origin: &origin,
            },
        ),
        Api::Graph { beta } => graph::handle(
            &worker_state,
            &GraphRequest {
                params: &params,
                now,
                origin: &origin,
                version: if beta { "beta" } else { "v1.0" },
                unknown_enum_members,
            },
        ),
    })
    .await;
    let rendered = match outcome {
        Ok(Ok(rendered)) => rendered,
        Ok(Err(refusal)) => {
            if refusal.status.is_client_error() {
                bump(&state.counters.bad_requests);
            }
            return refuse(api, &refusal, ids);
        }
        Err(_) => {
            return with_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                b"internal error".to_vec(),
            );
        }
    };
    if fault == Some(FaultKind::Truncate) {
        count(FaultKind::Truncate);
        return truncated(rendered);
    }
    bump(&state.counters.pages);
    state
        .counters
        .rows
        .fetch_add(rendered.rows as u64, Ordering::Relaxed);
    with_body(StatusCode::OK, rendered.content_type, rendered.body)
}

/// Puts a refusal in the API's error shape.
fn refuse(api: Api, refusal: &Refusal, ids: &RequestIds) -> Response {
    match api {
        Api::Rws => odata_error(refusal.status, &refusal.message),
        Api::Graph { .. } => graph_error(refusal.status, refusal.code, &refusal.message, ids),
    }
}

/// Cuts a page in the middle of its first rows (or its envelope when it has none); the
/// headers describe the cut body, so only the JSON is broken.
fn truncated(rendered: Rendered) -> Response {
    let Rendered {
        mut body,
        content_type,
        rows_start,
        rows,
    } = rendered;
    let cut = if rows == 0 {
        rows_start.saturating_sub(1).max(1)
    } else {
        let rest = body.len().saturating_sub(rows_start);
        // Inside the first row or two: a third of the way into the rows, bounded.
        rows_start + (rest / 3).clamp(1, 700)
    };
    body.truncate(cut.min(body.len().saturating_sub(1)));
    with_body(StatusCode::OK, content_type, body)
}

/// Holds the request for `duration` (or until shutdown), then sends headers promising a
/// megabyte and the first bytes of a page, and ends the connection there: a client without
/// a timeout sees the transfer break off.
async fn stall(state: &Arc<State>, duration: Duration) -> Response {
    let mut shutdown = state.shutdown.clone();
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
    let mut response = Response::new(Body::from("{\"value\":["));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("1048576"));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
