//! Request ids: every response carries `x-request-id` — the client's own when it sent a
//! well-formed one, else one made here — and everything the server logs while answering runs
//! in a span holding it. A 5xx answer (our own failure) also carries the id in its JSON body
//! and is logged with it, so a user's report leads to the log lines.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// The longest id taken from a client.
const MAX_LEN: usize = 64;
/// The largest 5xx body rewritten to carry the id (ours are a line of JSON).
const MAX_ERROR_BODY: usize = 64 << 10;

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A new id: the process's start (seconds, hex) and a counter, unique within the process
/// and, across restarts, within a second's precision.
fn new_id() -> String {
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    format!("{start:x}-{:06}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A client's id when it is short and plain (letters, digits, `-`, `_`, `.`): it goes into
/// logs and headers as it is.
fn client_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let plain = !text.is_empty()
        && text.len() <= MAX_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    plain.then(|| text.to_owned())
}

pub async fn layer(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&HEADER)
        .and_then(client_id)
        .unwrap_or_else(new_id);
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let span = tracing::info_span!("http", request_id = %id, %method, %path);
    let mut response = next.run(request).instrument(span.clone()).await;
    if response.status().is_server_error() {
        response = with_id_in_body(response, &id).instrument(span).await;
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// A 5xx answer with `request_id` added to its JSON object, logged with the error.
async fn with_id_in_body(response: Response, id: &str) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_ERROR_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => {
            tracing::error!(
                status = parts.status.as_u16(),
                "request failed (body not shown)"
            );
            return Response::from_parts(parts, Body::empty());
        }
    };
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice(&bytes) else {
        tracing::error!(status = parts.status.as_u16(), "request failed");
        return Response::from_parts(parts, Body::from(bytes));
    };
    tracing::error!(
        status = parts.status.as_u16(),
        error = object
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or_default(),
        "request failed"
    );
    object.insert("request_id".into(), serde_json::Value::from(id));
    let body = serde_json::to_vec(&object).unwrap_or_else(|_| bytes.to_vec());
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_client_ids_are_kept_and_anything_else_replaced() {
        let id = |text: &str| client_id(&HeaderValue::from_str(text).unwrap());
        assert_eq!(id("abc-123_x.y").as_deref(), Some("abc-123_x.y"));
        assert_eq!(id(""), None);
        assert_eq!(id("has space"), None);
        assert_eq!(id("<script>"), None);
        assert_eq!(id(&"a".repeat(65)), None);
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert!(client_id(&HeaderValue::from_str(&a).unwrap()).is_some());
    }
}
