//! The crate's one error type. Messages never contain a secret: the client secret and access
//! tokens travel only in request bodies and headers, which no error renders, and text taken
//! from Microsoft's responses is cut short and scrubbed (see [`crate::token`]).

use std::path::PathBuf;

/// Everything that can stop a collector.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file cannot be read or is invalid; the message names the place.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),

    /// A stored checkpoint that this version cannot use; never silently replaced.
    #[error("checkpoint under {key:?} is invalid: {message}")]
    Checkpoint { key: String, message: String },

    /// The store refused a read or a commit.
    #[error("store: {0}")]
    Sink(#[from] SinkError),

    /// The token endpoint rejected the credentials (wrong secret, unknown client, consent).
    #[error(
        "authentication failed for tenant {tenant:?}: {message}{}",
        setup_hint(None, None, message)
    )]
    Auth { tenant: String, message: String },

    /// The API answered with an error that retrying will not fix (400, 403, 404, a 401 that
    /// persists after a fresh token).
    #[error("{api} returned HTTP {status}: {message}{}", setup_hint(Some(api), Some(*status), message))]
    Api {
        api: &'static str,
        status: u16,
        message: String,
    },

    /// Transient failures (throttling, 5xx, timeouts, broken pages) went on for every attempt.
    #[error("{what} failed after {attempts} attempts; last error: {last}")]
    RetriesExhausted {
        what: String,
        attempts: u32,
        last: String,
    },

    /// A page larger than the configured bound; retrying would not shrink it.
    #[error("{api} page is larger than the limit of {limit} bytes")]
    PageTooLarge { api: &'static str, limit: usize },

    /// A nextLink that leaves the configured API origin: the bearer token would go with it.
    #[error("{api} nextLink points outside the API origin {origin}: refused")]
    ForeignLink { api: &'static str, origin: String },

    /// The secret file or environment variable named by the configuration is unusable.
    #[error("cannot read the client secret from {source_name}: {message}")]
    Secret {
        source_name: String,
        message: String,
    },

    /// A data directory or file problem outside the store.
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },

    /// The blocking store task died (a panic inside the sink).
    #[error("store task failed: {0}")]
    SinkTask(String),
}

impl Error {
    /// Whether a later poll may succeed without anyone changing anything: the service was
    /// unavailable or throttled for longer than one poll's retries.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::RetriesExhausted { .. })
    }

    /// Errors a long-running collector reports and retries at its poll interval, because they
    /// are often fixed on Microsoft's side without a restart (a service principal still being
    /// provisioned answers 401 for hours; a role assignment answers 403 until it propagates).
    pub fn is_retried_by_run(&self) -> bool {
        matches!(
            self,
            Error::RetriesExhausted { .. } | Error::Auth { .. } | Error::Api { .. }
        )
    }
}

/// What to do about a refusal a tenant set up wrong meets: the token endpoint's AADSTS codes,
/// and the APIs' 401 and 403 (research: Microsoft's permission docs and the errors users of
/// other collectors report). Empty when there is nothing more specific to say.
fn setup_hint(api: Option<&str>, status: Option<u16>, message: &str) -> String {
    let graph = api.is_some_and(|api| api.starts_with("Graph"));
    let hint = if message.contains("AADSTS90002") {
        "tenant_id must be the directory (tenant) id or a verified domain of the tenant, in \
         the global cloud"
    } else if message.contains("AADSTS700016") {
        "client_id must be the application (client) id of an app registration that an \
         administrator of this tenant has consented to"
    } else if message.contains("AADSTS7000215") {
        "give the client secret's value (shown once, when it was created), not its secret id"
    } else if message.contains("AADSTS7000222") {
        "the client secret has expired: create a new one under the app registration's \
         Certificates & secrets and put its value where the configuration reads the secret"
    } else if graph && status == Some(401) && message.contains("8bd644d1") {
        "create the message trace service's service principal once in the tenant \
         (New-MgServicePrincipal -AppId 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373); it can take \
         hours to take effect"
    } else if graph && matches!(status, Some(401 | 403)) {
        "grant the app the Microsoft Graph application permission ExchangeMessageTrace.Read.All \
         with an administrator's consent, and create the message trace service's service \
         principal in the tenant (New-MgServicePrincipal -AppId \
         8bd644d1-64a1-4d4b-ae52-2e0cbf64e373)"
    } else if api.is_some() && !graph && matches!(status, Some(401 | 403)) {
        "grant the app the Office 365 Exchange Online application permission \
         ReportingWebService.Read.All with an administrator's consent, and assign its service \
         principal an Entra role such as Global Reader"
    } else {
        return String::new();
    };
    format!(" (to fix: {hint})")
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failure of the store behind a [`crate::Sink`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    pub message: String,
}

impl SinkError {
    pub fn new(message: impl Into<String>) -> Self {
        SinkError {
            message: message.into(),
        }
    }
}
