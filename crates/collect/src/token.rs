//! OAuth2 client credentials against Microsoft Entra ID: the v2.0 endpoint with
//! `scope=<audience>/.default`, or the v1 endpoint with `resource=<audience>`. The token is
//! cached and refreshed before it expires (and on demand after a 401 from the API).
//!
//! The client secret is sent in the form body only. Error text from the token endpoint is
//! passed on as its error code and the first line of its description, cut short, with any
//! echo of the secret removed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Client;
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use crate::config::{TenantConfig, TokenVersion};
use crate::http::{BodyError, clean, describe_transport, read_body};
use crate::secret::Secret;

/// Largest token response read.
const MAX_TOKEN_BODY: usize = 64 * 1024;

/// Refresh this long before expiry (or at half the lifetime for short-lived tokens).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Why no token could be had.
#[derive(Debug)]
pub enum TokenError {
    /// Worth retrying: the endpoint was unreachable, throttled or failing.
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The credentials were refused; retrying will not help.
    Rejected(String),
}

#[derive(Debug)]
struct Cached {
    token: Secret,
    refresh_at: Instant,
}

/// One tenant's token source.
#[derive(Debug)]
pub struct TokenClient {
    http: Client,
    endpoint: Url,
    version: TokenVersion,
    client_id: String,
    secret: Secret,
    audience: String,
    cached: Mutex<Option<Cached>>,
    requests: AtomicU64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    /// Seconds; the v1 endpoint sends it as a string.
    expires_in: Option<serde_json::Value>,
    error: Option<String>,
    error_description: Option<String>,
}

impl TokenClient {
    pub fn new(http: Client, config: &TenantConfig) -> TokenClient {
        let mut endpoint = config.login_url.clone();
        if let Ok(mut segments) = endpoint.path_segments_mut() {
            segments
                .pop_if_empty()
                .push(&config.tenant_id)
                .push("oauth2");
            match config.token_version {
                TokenVersion::V2 => segments.push("v2.0").push("token"),
                TokenVersion::V1 => segments.push("token"),
            };
        }
        TokenClient {
            http,
            endpoint,
            version: config.token_version,
            client_id: config.client_id.clone(),
            secret: config.client_secret.clone(),
            audience: config.audience.clone(),
            cached: Mutex::new(None),
            requests: AtomicU64::new(0),
        }
    }

    /// Token requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// A valid access token, from the cache when it is not about to expire.
    pub async fn token(&self) -> Result<Secret, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached.as_ref()
            && Instant::now() < current.refresh_at
        {
            return Ok(current.token.clone());
        }
        let (token, lifetime) = self.request().await?;
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        *cached = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(margin),
        });
        Ok(token)
    }

    /// Forgets the cached token (the API said 401).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn request(&self) -> Result<(Secret, Duration), TokenError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let audience_key = match self.version {
            TokenVersion::V2 => "scope",
            TokenVersion::V1 => "resource",
        };
        let audience = match self.version {
            TokenVersion::V2 => format!("{}/.default", self.audience),
            TokenVersion::V1 => self.audience.clone(),
        };
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.secret.expose()),
            (audience_key, audience.as_str()),
        ];
        let response = self
            .http
            .post(self.endpoint.clone())
            .form(&form)
            .send()
            .await
            .map_err(|error| TokenError::Transient {
                message: format!("token endpoint: {}", describe_transport(&error)),
                retry_after: None,
            })?;
        let status = response.status();
        let retry_after = crate::retry::retry_after(response.headers());
        let body =
            read_body(response, MAX_TOKEN_BODY)
                .await
                .map_err(|error| TokenError::Transient {
                    message: match error {
                        BodyError::TooLarge => "token endpoint: response too large".to_owned(),
                        BodyError::Transport(message) => format!("token endpoint: {message}"),
                    },
                    retry_after: None,
                })?;
        let parsed = serde_json::from_slice::<TokenResponse>(&body).ok();
        if status.is_success() {
            let parsed = parsed.ok_or_else(|| TokenError::Transient {
                message: "token endpoint: response is not JSON".to_owned(),
                retry_after: None,
            })?;
            let token = parsed
                .access_token
                .filter(|token| !token.is_empty())
                .ok_or_else(|| TokenError::Transient {
                    message: "token endpoint: response has no access_token".to_owned(),
                    retry_after: None,
                })?;
            let lifetime = parsed
                .expires_in
                .as_ref()
                .and_then(|value| {
                    value
                        .as_u64()
                        .or_else(|| value.as_str().and_then(|text| text.trim().parse().ok()))
                })
                .map_or(Duration::from_secs(3600), Duration::from_secs);
            return Ok((Secret::new(token), lifetime));
        }
        let message = self.describe_failure(status.as_u16(), parsed.as_ref());
        if status.as_u16() == 429 || status.is_server_error() {
            Err(TokenError::Transient {
                message,
                retry_after,
            })
        } else {
            Err(TokenError::Rejected(message))
        }
    }

    /// `token endpoint returned HTTP 401: invalid_client: AADSTS7000215: Invalid client
    /// secret provided.` — the first line of the description only (later lines carry trace
    /// and correlation ids), without any echo of the secret.
    fn describe_failure(&self, status: u16, parsed: Option<&TokenResponse>) -> String {
        let mut text = format!("token endpoint returned HTTP {status}");
        if let Some(parsed) = parsed {
            if let Some(code) = &parsed.error {
                text.push_str(": ");
                text.push_str(&clean(code, 80));
            }
            if let Some(description) = &parsed.error_description {
                let first_line = description
                    .split(['\r', '\n'])
                    .next()
                    .unwrap_or_default()
                    .split("Trace ID:")
                    .next()
                    .unwrap_or_default();
                text.push_str(": ");
                text.push_str(&clean(first_line, 300));
            }
        }
        let scrubbed = self.secret.scrub(&text);
        if scrubbed.to_ascii_lowercase().contains("client_secret=") {
            return format!("token endpoint returned HTTP {status}");
        }
        scrubbed
    }
}
