//! Every error body the endpoints send, in the shape the real service uses, built in one
//! place: Entra ID's `AADSTS` JSON, Graph's `{"error":{"code","message","innerError"}}`, the
//! Reporting Web Service's OData error and its IIS 401 page, and the sign-in page that the
//! service has been seen to return with status 200.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::json;

/// Why an API refused a request, before it is put in that API's error shape (the server
/// does that in one place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: StatusCode,
    /// Graph's error code (`BadRequest`, …); the Reporting Web Service sends an empty one.
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub(crate) fn bad(message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            code: "BadRequest",
            message: message.into(),
        }
    }

    pub(crate) fn internal() -> Refusal {
        Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalServerError",
            message: "An internal server error occurred.".to_owned(),
        }
    }
}

/// Identifiers Microsoft attaches to every answer.
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    pub request_id: String,
    pub client_request_id: String,
    pub date: DateTime<Utc>,
}

pub(crate) fn with_body(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub(crate) const GRAPH_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
pub(crate) const RWS_LIGHT_JSON: &str =
    "application/json;odata=minimalmetadata;streaming=true;charset=utf-8";
pub(crate) const RWS_VERBOSE_JSON: &str = "application/json;odata=verbose;charset=utf-8";
const PLAIN_JSON: &str = "application/json; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

pub(crate) fn json_response(
    status: StatusCode,
    content_type: &'static str,
    value: serde_json::Value,
) -> Response {
    with_body(status, content_type, value.to_string().into_bytes())
}

/// Entra ID token endpoint error (`/oauth2/v2.0/token` and `/oauth2/token`).
pub(crate) fn aad_error(
    status: StatusCode,
    error: &str,
    code: u32,
    description: &str,
    ids: &RequestIds,
) -> Response {
    let timestamp = ids.date.format("%Y-%m-%d %H:%M:%SZ").to_string();
    let full = format!(
        "AADSTS{code}: {description}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {timestamp}",
        ids.request_id, ids.client_request_id
    );
    json_response(
        status,
        PLAIN_JSON,
        json!({
            "error": error,
            "error_description": full,
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": ids.request_id,
            "correlation_id": ids.client_request_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}

/// Graph error body.
pub(crate) fn graph_error(
    status: StatusCode,
    code: &str,
    message: &str,
    ids: &RequestIds,
) -> Response {
    json_response(
        status,
        GRAPH_JSON,
        json!({
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": ids.date.format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "request-id": ids.request_id,
                    "client-request-id": ids.client_request_id,
                }
            }
        }),
    )
}

/// Graph's 401, with the challenge header Graph sends.
pub(crate) fn graph_unauthorized(message: &str, ids: &RequestIds) -> Response {
    let mut response = graph_error(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
        ids,
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
        ),
    );
    response
}

/// The Reporting Web Service's OData error (WCF Data Services JSON form).
pub(crate) fn odata_error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        PLAIN_JSON,
        json!({"error": {"code": "", "message": {"lang": "en-US", "value": message}}}),
    )
}

const IIS_401: &str = "<title>401 - Unauthorized: Access is denied due to invalid credentials.</title>\
<body><div id=\"header\"><h1>Server Error</h1></div><div id=\"content\"><div class=\"content-container\">\
<fieldset><h2>401 - Unauthorized: Access is denied due to invalid credentials.</h2><h3>You do not have \
permission to view this directory or page using the credentials that you supplied.</h3></fieldset></div>\
</div></body>";

/// The Reporting Web Service's 401: IIS's HTML page.
pub(crate) fn rws_unauthorized() -> Response {
    let mut response = with_body(StatusCode::UNAUTHORIZED, HTML, IIS_401.as_bytes().to_vec());
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "Bearer client_id=\"00000002-0000-0ff1-ce00-000000000000\", trusted_issuers=\"00000001-0000-0000-c000-000000000000@*\", token_types=\"app_asserted_user_v1 service_asserted_app_v1\", error=\"invalid_token\"",
        ),
    );
    response
}

const SIGN_IN: &str = "<!-- Copyright (C) Microsoft Corporation. All rights reserved. -->\n\
<!DOCTYPE html>\n<html dir=\"ltr\" class=\"\" lang=\"en\">\n<head>\n    <title>Sign in to your account</title>\n\
    <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\">\n\
    <meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0, maximum-scale=2.0, user-scalable=yes\">\n\
</head>\n<body data-bind=\"defineGlobals: ServerData, bodyCssClass\">\n\
    <noscript>JavaScript is required. Your browser either does not support JavaScript, or it has been blocked.</noscript>\n\
    <div id=\"lightbox\"><div role=\"heading\">Sign in</div></div>\n</body>\n</html>\n";

/// The HTML sign-in page, sent with status 200 (a fault seen on the real service).
pub(crate) fn sign_in_page() -> Response {
    with_body(StatusCode::OK, HTML, SIGN_IN.as_bytes().to_vec())
}

/// A plain 404 outside both APIs.
pub(crate) fn not_found() -> Response {
    with_body(
        StatusCode::NOT_FOUND,
        HTML,
        b"<h1>404 - Not Found</h1>".to_vec(),
    )
}

/// Adds `Retry-After` in whole seconds (at least 1).
pub(crate) fn retry_after(mut response: Response, seconds: u64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}
