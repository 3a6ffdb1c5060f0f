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
    #[error("authentication failed for tenant {tenant:?}: {message}")]
    Auth { tenant: String, message: String },

    /// The API answered with an error that retrying will not fix (400, 403, 404, a 401 that
    /// persists after a fresh token).
    #[error("{api} returned HTTP {status}: {message}")]
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
