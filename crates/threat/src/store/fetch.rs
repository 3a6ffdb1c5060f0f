//! Getting feed bodies: HTTP with conditional requests, a timeout and a size cap; local
//! files; MISP feed directories (manifest, then the newest events).

use std::path::Path;

use crate::config::{FeedConfig, FeedLocation};
use crate::error::{Error, Result};
use crate::read::FeedFormat;
use crate::read::{self, LineError};

/// Fetches a MISP feed directory: its `manifest.json` (conditionally), then the newest
/// [`MISP_EVENT_LIMIT`] events. Returns the events as one JSON array (the stored copy)
/// and the events that could not be fetched as line errors of the manifest; `None` when
/// the manifest is unchanged.
pub(super) async fn fetch_misp_feed(
    client: &reqwest::Client,
    config: &FeedConfig,
    etag: Option<String>,
    last_modified: Option<String>,
) -> Result<Option<(Vec<u8>, Option<String>, Option<String>, Vec<LineError>)>> {
    let failed = |message: String| Error::Fetch {
        feed: config.name.clone(),
        message,
    };
    let (manifest, etag, last_modified) = match &config.location {
        FeedLocation::File(path) => {
            let body = read_file(
                &misp_directory(path).join("manifest.json"),
                config.max_bytes,
            )
            .await
            .map_err(failed)?;
            (body, None, None)
        }
        FeedLocation::Url(url) => {
            let url = format!("{}/manifest.json", misp_base(url));
            match fetch(client, config, &url, etag, last_modified).await? {
                Some(fetched) => fetched,
                None => return Ok(None),
            }
        }
    };
    let entries = read::read_manifest(&config.name, &manifest)?;
    let manifest_text = String::from_utf8_lossy(&manifest);
    let mut events: Vec<Vec<u8>> = Vec::new();
    let mut errors = Vec::new();
    let mut total = 0u64;
    for entry in entries.iter().take(MISP_EVENT_LIMIT) {
        let name = format!("{}.json", entry.uuid);
        let body = match &config.location {
            FeedLocation::File(path) => {
                read_file(&misp_directory(path).join(&name), config.max_bytes).await
            }
            FeedLocation::Url(url) => {
                let url = format!("{}/{name}", misp_base(url));
                fetch(client, config, &url, None, None)
                    .await
                    .map(|fetched| fetched.map(|(body, _, _)| body).unwrap_or_default())
                    .map_err(|error| error.to_string())
            }
        };
        let body = body.and_then(|body| {
            let value: serde_json::Value =
                serde_json::from_slice(&body).map_err(|error| format!("not JSON: {error}"))?;
            if value.get("Event").is_some_and(serde_json::Value::is_object) {
                Ok(body)
            } else {
                Err("not a MISP event (no \"Event\" object)".to_owned())
            }
        });
        match body {
            Ok(body) => {
                total += body.len() as u64;
                if total > config.max_bytes {
                    return Err(failed(format!(
                        "events are over the {}-byte limit",
                        config.max_bytes
                    )));
                }
                events.push(body);
            }
            Err(message) => errors.push(LineError {
                source: config.name.clone(),
                line: read::line_of_needle(&manifest_text, &format!("\"{}\"", entry.uuid)),
                column: None,
                message: format!("manifest.json: event {}: {message}", entry.uuid),
            }),
        }
    }
    if events.is_empty()
        && let Some(first) = errors.first()
    {
        return Err(failed(format!(
            "no event of the feed could be read; first error: {}",
            first.message
        )));
    }
    let mut combined = b"[\n".to_vec();
    for (position, event) in events.iter().enumerate() {
        if position > 0 {
            combined.extend_from_slice(b",\n");
        }
        combined.extend_from_slice(event);
    }
    combined.extend_from_slice(b"\n]\n");
    Ok(Some((combined, etag, last_modified, errors)))
}

/// Events fetched from one MISP feed, newest first.
pub const MISP_EVENT_LIMIT: usize = 500;

/// The feed's base URL, given either the directory or its `manifest.json`.
fn misp_base(url: &str) -> &str {
    url.trim_end_matches("manifest.json").trim_end_matches('/')
}

fn misp_directory(path: &Path) -> &Path {
    if path.file_name().is_some_and(|name| name == "manifest.json") {
        path.parent().unwrap_or(path)
    } else {
        path
    }
}

/// URL feeds and MISP feed directories are kept as a stored copy; plain files are read
/// again from where they are.
pub(super) fn stores_copy(config: &FeedConfig) -> bool {
    matches!(config.location, FeedLocation::Url(_)) || config.format == FeedFormat::MispFeed
}

pub(super) async fn read_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, String> {
    let length = tokio::fs::metadata(path)
        .await
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?
        .len();
    if length > max_bytes {
        return Err(format!(
            "{} is {length} bytes, over the {max_bytes}-byte limit",
            path.display()
        ));
    }
    tokio::fs::read(path)
        .await
        .map_err(|error| format!("cannot read {}: {error}", path.display()))
}

pub(super) type Body = (Vec<u8>, Option<String>, Option<String>);

/// GETs `url`; `None` when the server says the copy we have is current.
pub(super) async fn fetch(
    client: &reqwest::Client,
    config: &FeedConfig,
    url: &str,
    etag: Option<String>,
    last_modified: Option<String>,
) -> Result<Option<Body>> {
    let failed = |message: String| Error::Fetch {
        feed: config.name.clone(),
        message,
    };
    let mut request = client.get(url).timeout(config.timeout);
    if let Some(etag) = &etag {
        request = request.header(reqwest::header::IF_NONE_MATCH, etag);
    }
    if let Some(last_modified) = &last_modified {
        request = request.header(reqwest::header::IF_MODIFIED_SINCE, last_modified);
    }
    let mut response = request
        .send()
        .await
        .map_err(|error| failed(format!("request failed: {}", describe(&error))))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(failed(format!("HTTP {}", status.as_u16())));
    }
    if let Some(length) = response.content_length()
        && length > config.max_bytes
    {
        return Err(failed(format!(
            "body of {length} bytes is over the {}-byte limit",
            config.max_bytes
        )));
    }
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let new_etag = header(reqwest::header::ETAG);
    let new_last_modified = header(reqwest::header::LAST_MODIFIED);
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| failed(format!("reading the body failed: {}", describe(&error))))?
    {
        if body.len() as u64 + chunk.len() as u64 > config.max_bytes {
            return Err(failed(format!(
                "body is over the {}-byte limit",
                config.max_bytes
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some((body, new_etag, new_last_modified)))
}

/// The error and its causes on one line (reqwest's own message omits them).
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
