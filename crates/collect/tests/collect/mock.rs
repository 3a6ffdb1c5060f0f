//! A small stand-in for the token endpoint, Graph and the Reporting Web Service, with a
//! script of faults applied to data requests in order. Enough to pin each behaviour of the
//! clients down; the simulator tests cover whole collections.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, TimeDelta, Utc};
use mailscope_collect::{Api, Secret, TenantConfig};
use mailscope_record::Status;

pub const SECRET: &str = "Zq8~mock-client-secret-value-0001";
pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";

/// One row of the mock tenant.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub recipient: String,
    pub received: DateTime<Utc>,
    pub status: Status,
}

/// What goes wrong with the next data request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// An error status, with an optional `Retry-After` value.
    Status(u16, Option<&'static str>),
    /// `200 text/html` sign-in page.
    Html,
    /// `200` whose JSON stops in the middle.
    Truncate,
    /// Refused as an expired link when the request carries a skip token (else served).
    ExpiredLink,
    /// Every issued token stops working (expiry mid-paging); the request then gets a 401.
    RevokeTokens,
}

#[derive(Debug, Default)]
pub struct MockState {
    pub rows: Mutex<Vec<Row>>,
    pub faults: Mutex<VecDeque<Fault>>,
    pub page_size: usize,
    pub expires_in: u64,
    /// When set, the token endpoint answers with this status and body.
    pub token_failure: Mutex<Option<(u16, String)>>,
    pub tokens: Mutex<HashSet<String>>,
    pub token_forms: Mutex<Vec<HashMap<String, String>>>,
    pub token_requests: AtomicU64,
    pub data_requests: AtomicU64,
    /// Path and query of every data request.
    pub requests: Mutex<Vec<String>>,
    /// Requests served from the `../../` link target.
    pub relative_hits: AtomicU64,
    pub addr: Mutex<Option<SocketAddr>>,
}

pub struct Mock {
    pub addr: SocketAddr,
    pub state: Arc<MockState>,
}

impl Mock {
    pub async fn start(rows: Vec<Row>, page_size: usize) -> Mock {
        let state = Arc::new(MockState {
            rows: Mutex::new(rows),
            page_size,
            expires_in: 3599,
            ..MockState::default()
        });
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/{tenant}/oauth2/token", post(token))
            .route("/v1.0/admin/exchange/tracing/messageTraces", get(graph))
            .route(
                "/ecp/reportingwebservice/reporting.svc/MessageTrace",
                get(reporting),
            )
            .route(
                "/ecp/ReportingWebService/Reporting.svc/MessageTrace",
                get(reporting_relative),
            )
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        *state.addr.lock().unwrap() = Some(addr);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Mock { addr, state }
    }

    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state.faults.lock().unwrap().extend(faults);
    }

    /// A tenant pointed at this mock, with short retries and no quota.
    pub fn tenant(&self, api: Api) -> TenantConfig {
        let mut config = TenantConfig::new("mock", api, TENANT, "client-1", Secret::new(SECRET));
        let base = url::Url::parse(&format!("http://{}", self.addr)).unwrap();
        config.login_url = base.clone();
        config.api_url = base;
        config.settle = Duration::ZERO;
        config.lookback = Duration::from_secs(3600);
        config.backfill = Duration::from_secs(2 * 86_400);
        config.window = Duration::from_secs(86_400);
        config.quota = None;
        config.request_timeout = Duration::from_secs(5);
        config.retry.initial = Duration::from_millis(5);
        config.retry.max = Duration::from_millis(40);
        config.retry.attempts = 6;
        if api == Api::Graph {
            config.page_size = Some(self.state.page_size as u32);
        }
        config
    }

    pub fn token_requests(&self) -> u64 {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    pub fn data_requests(&self) -> u64 {
        self.state.data_requests.load(Ordering::SeqCst)
    }
}

/// `count` rows spread over the last 30 hours (ending an hour ago), a few recipients per
/// message, the last row of each message still pending.
pub fn rows(count: usize) -> Vec<Row> {
    let now = Utc::now();
    (0..count)
        .map(|i| Row {
            id: format!("00000000-0000-4000-8000-{:012x}", i / 3),
            recipient: format!("user{}@contoso.com", i % 3),
            received: now
                - TimeDelta::hours(1)
                - TimeDelta::seconds((i as i64 * 107_000) / count.max(1) as i64),
            status: if i % 7 == 0 {
                Status::Pending
            } else {
                Status::Delivered
            },
        })
        .collect()
}

fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

async fn token(
    State(state): State<Arc<MockState>>,
    Path(_tenant): Path<String>,
    body: Bytes,
) -> Response {
    let n = state.token_requests.fetch_add(1, Ordering::SeqCst) + 1;
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    state.token_forms.lock().unwrap().push(form.clone());
    if let Some((status, body)) = state.token_failure.lock().unwrap().clone() {
        return (StatusCode::from_u16(status).unwrap(), body).into_response();
    }
    if form.get("client_secret").map(String::as_str) != Some(SECRET) {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#,
        )
            .into_response();
    }
    let token = format!("token-{n}");
    state.tokens.lock().unwrap().insert(token.clone());
    let body = serde_json::json!({
        "token_type": "Bearer",
        "expires_in": state.expires_in.to_string(),
        "access_token": token,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Applies the fault script and the bearer check; `Some` is the response to send instead.
fn gate(
    state: &MockState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Option<Response> {
    state.data_requests.fetch_add(1, Ordering::SeqCst);
    let fault = state.faults.lock().unwrap().pop_front();
    match fault {
        Some(Fault::Status(status, retry_after)) => {
            let mut response = (
                StatusCode::from_u16(status).unwrap(),
                r#"{"error":{"code":"Busy","message":"Your recent queries have surpassed the permitted limit, please try again later."}}"#,
            )
                .into_response();
            if let Some(value) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, value.parse().unwrap());
            }
            return Some(response);
        }
        Some(Fault::Html) => {
            return Some((
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<!DOCTYPE html><html><head><title>Sign in to your account</title></head></html>",
            )
                .into_response());
        }
        Some(Fault::ExpiredLink) if query.contains_key("$skiptoken") => {
            return Some((
                StatusCode::BAD_REQUEST,
                r#"{"error":{"code":"BadRequest","message":"The skip token is invalid or has expired."}}"#,
            )
                .into_response());
        }
        Some(Fault::RevokeTokens) => state.tokens.lock().unwrap().clear(),
        Some(Fault::Truncate) => {
            return Some((
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"@odata.context":"x","value":[{"id":"a","recipientAddress":"b@c.d","receivedDateTime":"2026-01-01T00:00:00Z","status":"delivered","senderAddress":"x@y.z","subject":"s","size":1,"fromIP":"1.2.3.4","toIP":"","messageId":"<m@y.z>"},{"id":"tr"#,
            )
                .into_response());
        }
        Some(Fault::ExpiredLink) | None => {}
    }
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|token| state.tokens.lock().unwrap().contains(token));
    if !authorized {
        return Some((
            StatusCode::UNAUTHORIZED,
            r#"{"error":{"code":"InvalidAuthenticationToken","message":"Lifetime validation failed, the token is expired."}}"#,
        )
            .into_response());
    }
    None
}

/// Rows with `received` in `[from, to]`, and the page starting at `skip`.
fn select(
    state: &MockState,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    skip: usize,
) -> (Vec<Row>, Option<usize>) {
    let matching: Vec<Row> = state
        .rows
        .lock()
        .unwrap()
        .iter()
        .filter(|row| row.received >= from && row.received <= to)
        .cloned()
        .collect();
    let page: Vec<Row> = matching
        .iter()
        .skip(skip)
        .take(state.page_size)
        .cloned()
        .collect();
    let next = (skip + page.len() < matching.len()).then_some(skip + page.len());
    (page, next)
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

async fn graph(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    state
        .requests
        .lock()
        .unwrap()
        .push(format!("graph?{}", raw.clone().unwrap_or_default()));
    let query = parse_query(raw.as_deref());
    if let Some(response) = gate(&state, &headers, &query) {
        return response;
    }
    let filter = query.get("$filter").cloned().unwrap_or_default();
    let words: Vec<&str> = filter.split(' ').collect();
    let (from, to) = (time(words[2]), time(words[6]));
    let skip: usize = query.get("$skiptoken").map_or(0, |s| s.parse().unwrap());
    let (page, next) = select(&state, from, to, skip);
    // Graph's evolvable enum: `recalled` only to a client that asks for such members.
    let unknown_members = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| {
            p.trim()
                .eq_ignore_ascii_case("include-unknown-enum-members")
        });
    let value: Vec<serde_json::Value> = page
        .iter()
        .map(|row| {
            let status = match &row.status {
                Status::Recalled if !unknown_members => "unknownFutureValue".to_owned(),
                status => status.as_graph_str(),
            };
            serde_json::json!({
                "id": row.id, "messageId": format!("<{}@contoso.com>", row.id),
                "receivedDateTime": row.received.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                "senderAddress": "sender@fabrikam.com", "recipientAddress": row.recipient,
                "subject": "quarterly report", "size": 1234, "fromIP": "198.51.100.7", "toIP": "",
                "status": status,
            })
        })
        .collect();
    let mut body = serde_json::json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#admin/exchange/tracing/messageTraces",
        "value": value,
    });
    if let Some(next) = next {
        let addr = state.addr.lock().unwrap().unwrap();
        let mut link = url::Url::parse(&format!(
            "http://{addr}/v1.0/admin/exchange/tracing/messageTraces"
        ))
        .unwrap();
        link.query_pairs_mut()
            .append_pair("$filter", &filter)
            .append_pair("$top", &state.page_size.to_string())
            .append_pair("$skiptoken", &next.to_string());
        body["@odata.nextLink"] = serde_json::Value::String(link.to_string());
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn reporting_relative(
    state: State<Arc<MockState>>,
    headers: HeaderMap,
    raw: RawQuery,
) -> Response {
    state.relative_hits.fetch_add(1, Ordering::SeqCst);
    reporting(state, headers, raw).await
}

async fn reporting(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    state
        .requests
        .lock()
        .unwrap()
        .push(format!("reporting?{}", raw.clone().unwrap_or_default()));
    let query = parse_query(raw.as_deref());
    if let Some(response) = gate(&state, &headers, &query) {
        return response;
    }
    let filter = query.get("$filter").cloned().unwrap_or_default();
    let quoted: Vec<&str> = filter.split('\'').collect();
    let (from, to) = (time(quoted[1]), time(quoted[3]));
    let skip: usize = query.get("$skiptoken").map_or(0, |s| s.parse().unwrap());
    let verbose = query.get("$format").map(String::as_str) == Some("json");
    let (page, next) = select(&state, from, to, skip);
    let value: Vec<serde_json::Value> = page
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let received = if verbose {
                format!("/Date({})/", row.received.timestamp_millis())
            } else {
                // Seven digits and, as the service sometimes does, no `Z`.
                mailscope_record::time::format_trace_time(row.received)
                    .trim_end_matches('Z')
                    .to_owned()
            };
            serde_json::json!({
                "Organization": "contoso.com", "MessageId": format!("<{}@contoso.com>", row.id),
                "Received": received, "SenderAddress": "sender@fabrikam.com",
                "RecipientAddress": row.recipient, "Subject": "quarterly report",
                "Status": row.status.as_str(), "ToIP": null, "FromIP": "198.51.100.7", "Size": 1234,
                "MessageTraceId": row.id, "StartDate": quoted[1], "EndDate": quoted[3],
                "Index": skip + index,
            })
        })
        .collect();
    let mut link = url::form_urlencoded::Serializer::new(String::new());
    link.append_pair("$filter", &filter);
    if verbose {
        link.append_pair("$format", "json");
    }
    let body = if verbose {
        let mut d = serde_json::json!({ "results": value });
        if let Some(next) = next {
            link.append_pair("$skiptoken", &next.to_string());
            let addr = state.addr.lock().unwrap().unwrap();
            d["__next"] = format!(
                "http://{addr}/ecp/ReportingWebService/Reporting.svc/MessageTrace?{}",
                link.finish()
            )
            .into();
        }
        serde_json::json!({ "d": d })
    } else {
        let mut body = serde_json::json!({
            "odata.metadata": "https://reports.office365.com/ecp/ReportingWebService/Reporting.svc/$metadata#MessageTrace",
            "value": value,
        });
        if let Some(next) = next {
            link.append_pair("$skiptoken", &next.to_string());
            body["odata.nextLink"] = format!(
                "../../ReportingWebService/Reporting.svc/MessageTrace?{}",
                link.finish()
            )
            .into();
        }
        body
    };
    Response::builder()
        .header(
            header::CONTENT_TYPE,
            "application/json;odata=minimalmetadata",
        )
        .body(Body::from(body.to_string()))
        .unwrap()
}
