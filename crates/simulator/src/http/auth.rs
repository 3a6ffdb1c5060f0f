//! Entra ID's client-credentials flow (`/{tenant}/oauth2/v2.0/token` with `scope`, and the v1
//! `/{tenant}/oauth2/token` with `resource`) and the bearer tokens it issues.
//!
//! Tokens look like JWTs (header, claims, signature, base64url) so clients that peek at them
//! see the usual claims, but the simulator validates them by lookup: a token is valid for the
//! audience it was issued for until it dies. It dies at `expires_in`, or earlier when the
//! `token-expiry` fault says so.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde_json::json;

use super::responses::{RequestIds, aad_error, with_body};

/// The API a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Microsoft Graph (`https://graph.microsoft.com`).
    Graph,
    /// Exchange Online, which serves the Reporting Web Service (`https://outlook.office365.com`).
    Exchange,
}

impl Audience {
    /// The resource identifier (application ID URI).
    pub fn resource(self) -> &'static str {
        match self {
            Audience::Graph => "https://graph.microsoft.com",
            Audience::Exchange => "https://outlook.office365.com",
        }
    }

    /// The v2 scope for the client-credentials flow.
    pub fn scope(self) -> String {
        format!("{}/.default", self.resource())
    }

    fn app_id(self) -> &'static str {
        match self {
            Audience::Graph => "00000003-0000-0000-c000-000000000000",
            Audience::Exchange => "00000002-0000-0ff1-ce00-000000000000",
        }
    }

    /// A v1 `resource` value: the URI (with or without a trailing slash) or the app id.
    fn from_resource(resource: &str) -> Option<Audience> {
        let trimmed = resource.trim().trim_end_matches('/');
        [Audience::Graph, Audience::Exchange].into_iter().find(|a| {
            trimmed.eq_ignore_ascii_case(a.resource()) || trimmed.eq_ignore_ascii_case(a.app_id())
        })
    }
}

/// Who may sign in. `Debug` leaves the secret out.
#[derive(Clone)]
pub(crate) struct Directory {
    pub tenant_id: String,
    /// Names the tenant answers to besides its id (its domains).
    pub tenant_names: Vec<String>,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("tenant_id", &self.tenant_id)
            .field("tenant_names", &self.tenant_names)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Directory {
    fn knows_tenant(&self, tenant: &str) -> bool {
        tenant.eq_ignore_ascii_case(&self.tenant_id)
            || self
                .tenant_names
                .iter()
                .any(|name| name.eq_ignore_ascii_case(tenant))
    }
}

#[derive(Debug)]
struct Issued {
    audience: Audience,
    dies_at: Instant,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenProblem {
    Missing,
    Malformed,
    Unknown,
    Expired,
}

/// Most live tokens kept; beyond it the oldest are forgotten (their clients sign in again).
const MAX_TOKENS: usize = 65_536;

#[derive(Debug)]
pub(crate) struct Tokens {
    issued: Mutex<HashMap<String, Issued>>,
    sequence: AtomicU64,
    secret: u64,
}

impl Tokens {
    pub(crate) fn new(secret: u64) -> Tokens {
        Tokens {
            issued: Mutex::new(HashMap::new()),
            sequence: AtomicU64::new(0),
            secret,
        }
    }

    fn issue(
        &self,
        directory: &Directory,
        audience: Audience,
        lifetime: Duration,
        dies_after: Duration,
    ) -> String {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        let now = Utc::now().timestamp();
        let header = r#"{"typ":"JWT","alg":"RS256","kid":"mailscope-simulator"}"#;
        let claims = json!({
            "aud": audience.resource(),
            "iss": format!("https://sts.windows.net/{}/", directory.tenant_id),
            "iat": now,
            "nbf": now,
            "exp": now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)),
            "appid": directory.client_id,
            "tid": directory.tenant_id,
            "roles": match audience {
                Audience::Graph => "ExchangeMessageTrace.Read.All",
                Audience::Exchange => "ReportingWebService.Read.All",
            },
            "jti": format!("{sequence}"),
        });
        let mut signature = Vec::with_capacity(32);
        for part in 0..4u64 {
            signature.extend_from_slice(&mix(self.secret ^ part, sequence).to_le_bytes());
        }
        let token = format!(
            "{}.{}.{}",
            base64url(header.as_bytes()),
            base64url(claims.to_string().as_bytes()),
            base64url(&signature)
        );
        let mut issued = self
            .issued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if issued.len() >= 1024 {
            let now = Instant::now();
            issued.retain(|_, t| t.dies_at > now);
            if issued.len() >= MAX_TOKENS {
                issued.clear();
            }
        }
        issued.insert(
            token.clone(),
            Issued {
                audience,
                // A century stands for "never" and keeps the addition in range.
                dies_at: Instant::now() + dies_after.min(Duration::from_secs(100 * 365 * 86_400)),
            },
        );
        token
    }

    /// Checks an `Authorization` header value; returns the token's audience.
    pub(crate) fn check(&self, authorization: Option<&str>) -> Result<Audience, TokenProblem> {
        let value = authorization.map(str::trim).unwrap_or("");
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ if value.is_empty() || value.eq_ignore_ascii_case("bearer") => {
                return Err(TokenProblem::Missing);
            }
            _ => return Err(TokenProblem::Malformed),
        };
        if token.is_empty() {
            return Err(TokenProblem::Missing);
        }
        if token.split('.').count() != 3 {
            return Err(TokenProblem::Malformed);
        }
        let issued = self
            .issued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = issued.get(token).ok_or(TokenProblem::Unknown)?;
        if Instant::now() >= found.dies_at {
            return Err(TokenProblem::Expired);
        }
        Ok(found.audience)
    }
}

fn mix(a: u64, b: u64) -> u64 {
    // SplitMix64 finaliser over the pair: enough to make signatures look random.
    let mut z = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// The token endpoint's settings for one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetimes {
    /// What `expires_in` says.
    pub advertised: Duration,
    /// When the token actually stops working (the `token-expiry` fault), if sooner.
    pub dies_after: Option<Duration>,
}

/// Answers a token request. `v1` selects `/oauth2/token` (with `resource`, numbers as strings).
pub(crate) fn token_endpoint(
    directory: &Directory,
    tokens: &Tokens,
    tenant: &str,
    v1: bool,
    form: &[(String, String)],
    lifetimes: Lifetimes,
    ids: &RequestIds,
) -> Response {
    let get = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let missing = |name: &str| {
        aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            &format!("The request body must contain the following parameter: '{name}'."),
            ids,
        )
    };
    if !directory.knows_tenant(tenant) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{}' not found. Check to make sure you have the correct tenant ID and are \
                 signing into the correct cloud. Check with your subscription administrator, this \
                 may happen if there are no active subscriptions for the tenant.",
                clip(tenant)
            ),
            ids,
        );
    }
    let Some(grant_type) = get("grant_type") else {
        return missing("grant_type");
    };
    if grant_type != "client_credentials" {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            &format!(
                "The app requested an unsupported grant type '{}'.",
                clip(grant_type)
            ),
            ids,
        );
    }
    let Some(client_id) = get("client_id") else {
        return missing("client_id");
    };
    if !client_id.eq_ignore_ascii_case(&directory.client_id) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory '{}'. This can \
                 happen if the application has not been installed by the administrator of the \
                 tenant or consented to by any user in the tenant. You may have sent your \
                 authentication request to the wrong tenant.",
                clip(client_id),
                clip(tenant)
            ),
            ids,
        );
    }
    let Some(secret) = get("client_secret") else {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'.",
            ids,
        );
    };
    if secret != directory.client_secret {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is \
                 the client secret value, not the client secret ID, for a secret added to app \
                 '{}'.",
                directory.client_id
            ),
            ids,
        );
    }
    let audience = if v1 {
        let Some(resource) = get("resource") else {
            return missing("resource");
        };
        match Audience::from_resource(resource) {
            Some(audience) => audience,
            None => return unknown_resource(resource, tenant, ids),
        }
    } else {
        let Some(scope) = get("scope") else {
            return missing("scope");
        };
        let scope = scope.trim();
        let Some(resource) = scope
            .strip_suffix("/.default")
            .filter(|_| !scope.contains(' '))
        else {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                1002012,
                &format!(
                    "The provided value for scope {} is not valid. Client credential flows must \
                     have a scope value with /.default suffixed to the resource identifier \
                     (application ID URI).",
                    clip(scope)
                ),
                ids,
            );
        };
        match Audience::from_resource(resource) {
            Some(audience) => audience,
            None => return unknown_resource(resource, tenant, ids),
        }
    };
    let dies_after = lifetimes
        .dies_after
        .map_or(lifetimes.advertised, |d| d.min(lifetimes.advertised));
    let token = tokens.issue(directory, audience, lifetimes.advertised, dies_after);
    let expires_in = lifetimes.advertised.as_secs();
    let body = if v1 {
        let now = Utc::now().timestamp();
        let expires_on = now.saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX));
        json!({
            "token_type": "Bearer",
            "expires_in": expires_in.to_string(),
            "ext_expires_in": expires_in.to_string(),
            "expires_on": expires_on.to_string(),
            "not_before": now.to_string(),
            "resource": audience.resource(),
            "access_token": token,
        })
    } else {
        json!({
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": token,
        })
    };
    with_body(
        StatusCode::OK,
        "application/json; charset=utf-8",
        body.to_string().into_bytes(),
    )
}

fn unknown_resource(resource: &str, tenant: &str, ids: &RequestIds) -> Response {
    aad_error(
        StatusCode::BAD_REQUEST,
        "invalid_resource",
        500011,
        &format!(
            "The resource principal named {} was not found in the tenant named {}. This can \
             happen if the application has not been installed by the administrator of the \
             tenant or consented to by any user in the tenant. You might have sent your \
             authentication request to the wrong tenant.",
            clip(resource),
            clip(tenant)
        ),
        ids,
    )
}

/// Echoed input is shortened so a hostile value cannot balloon an error body.
fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_known_vectors() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn resources_and_scopes() {
        assert_eq!(
            Audience::from_resource("https://graph.microsoft.com/"),
            Some(Audience::Graph)
        );
        assert_eq!(
            Audience::from_resource("00000002-0000-0ff1-ce00-000000000000"),
            Some(Audience::Exchange)
        );
        assert_eq!(Audience::from_resource("https://example.com"), None);
        assert_eq!(
            Audience::Exchange.scope(),
            "https://outlook.office365.com/.default"
        );
    }

    #[test]
    fn tokens_are_checked_by_lookup() {
        let directory = Directory {
            tenant_id: "t".into(),
            tenant_names: vec![],
            client_id: "c".into(),
            client_secret: "s".into(),
        };
        let tokens = Tokens::new(1);
        let token = tokens.issue(
            &directory,
            Audience::Graph,
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        assert_eq!(
            tokens.check(Some(&format!("Bearer {token}"))),
            Ok(Audience::Graph)
        );
        assert_eq!(tokens.check(None), Err(TokenProblem::Missing));
        assert_eq!(tokens.check(Some("Bearer ")), Err(TokenProblem::Missing));
        assert_eq!(
            tokens.check(Some("Basic abc")),
            Err(TokenProblem::Malformed)
        );
        assert_eq!(
            tokens.check(Some("Bearer abc")),
            Err(TokenProblem::Malformed)
        );
        assert_eq!(
            tokens.check(Some("Bearer a.b.c")),
            Err(TokenProblem::Unknown)
        );
        let dead = tokens.issue(
            &directory,
            Audience::Exchange,
            Duration::from_secs(60),
            Duration::ZERO,
        );
        assert_eq!(
            tokens.check(Some(&format!("bearer {dead}"))),
            Err(TokenProblem::Expired)
        );
    }
}
