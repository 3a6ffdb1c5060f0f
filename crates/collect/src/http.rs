//! HTTP helpers shared by the token and API clients: bounded body reads and short, safe
//! descriptions of error bodies.

use reqwest::Response;

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Larger than the limit; nothing more is read.
    TooLarge,
    /// The connection broke or timed out mid-body (a truncated download).
    Transport(String),
}

/// Reads the body chunk by chunk, refusing more than `limit` bytes.
pub async fn read_body(mut response: Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(BodyError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(error) => return Err(BodyError::Transport(describe_transport(&error))),
        }
    }
}

/// A transport error without its URL (URLs are harmless, but the message stays short).
pub fn describe_transport(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "response body broken"
    } else if error.is_request() {
        "request failed"
    } else {
        "HTTP error"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(error);
    // The innermost cause says the most ("connection refused", "unexpected EOF").
    let mut innermost = None;
    while let Some(cause) = source {
        innermost = Some(cause.to_string());
        source = cause.source();
    }
    if let Some(cause) = innermost {
        text.push_str(": ");
        text.push_str(&clean(&cause, 200));
    }
    text
}

/// The message of an error body, cut short: OData `{"error":{"message":..}}` (Graph, and
/// the Reporting Web Service with `{"value": ..}` inside), `{"Message": ..}` (the Reporting
/// Web Service's 403), an HTML `<title>`, or the start of the text.
pub fn describe_error_body(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let error = value.get("error");
        let message = error
            .and_then(|error| error.get("message"))
            .and_then(|message| message.get("value").unwrap_or(message).as_str())
            .or_else(|| value.get("Message").and_then(serde_json::Value::as_str))
            .or_else(|| error.and_then(serde_json::Value::as_str));
        let code = error
            .and_then(|error| error.get("code"))
            .and_then(serde_json::Value::as_str)
            .filter(|code| !code.is_empty());
        return match (code, message) {
            (Some(code), Some(message)) => clean(&format!("{code}: {message}"), 400),
            (None, Some(message)) => clean(message, 400),
            (Some(code), None) => clean(code, 400),
            (None, None) => "no error message".to_owned(),
        };
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    if let Some(title) = html_title(&text) {
        return format!("HTML page: {}", clean(title, 200));
    }
    if text.trim().is_empty() {
        return "empty body".to_owned();
    }
    clean(&text, 200)
}

fn html_title(text: &str) -> Option<&str> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let end = lower.get(start..)?.find("</title>")? + start;
    text.get(start..end)
}

/// One line of at most `max` characters without control characters.
pub fn clean(text: &str, max: usize) -> String {
    let mut cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        cleaned.push('…');
    }
    cleaned.trim().to_owned()
}

/// Whether a 200 body is a web page rather than JSON (a sign-in page served in place of
/// the report).
pub fn looks_like_html(content_type: Option<&str>, body: &[u8]) -> bool {
    let html_type = content_type.is_some_and(|value| value.to_ascii_lowercase().contains("html"));
    let first = body.iter().copied().find(|byte| {
        !byte.is_ascii_whitespace() && *byte != 0xEF && *byte != 0xBB && *byte != 0xBF
    });
    html_type || first == Some(b'<')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_described() {
        assert_eq!(
            describe_error_body(br#"{"error":{"code":"","message":{"lang":"en-US","value":"Type 'X' does not have a property"}}}"#),
            "Type 'X' does not have a property"
        );
        assert_eq!(
            describe_error_body(br#"{"ErrorCode":"","Message":"No permission to access the report for the organization ."}"#),
            "No permission to access the report for the organization ."
        );
        assert!(describe_error_body(br#"{"error":{"code":"Unauthorized","message":"Service principal-less Authentication failed"}}"#)
            .starts_with("Unauthorized: Service principal-less"));
        assert_eq!(
            describe_error_body(b"<html><head><title>Sign in to Outlook</title></head></html>"),
            "HTML page: Sign in to Outlook"
        );
        assert_eq!(describe_error_body(b""), "empty body");
        assert_eq!(describe_error_body(&[b'x'; 500]).chars().count(), 201);
    }

    #[test]
    fn html_is_recognised() {
        assert!(looks_like_html(Some("text/html; charset=utf-8"), b"{}"));
        assert!(looks_like_html(None, b"\n  <!DOCTYPE html>"));
        assert!(!looks_like_html(
            Some("application/json"),
            b"{\"value\":[]}"
        ));
    }
}
