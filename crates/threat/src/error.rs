//! The crate's one error type.

use std::path::PathBuf;

use crate::config::ConfigError;

/// What stops a feed from loading or the store from working.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The feed's body is not the format it should be (HTML instead of a list, not JSON,
    /// empty, truncated, nothing readable in it). The last good copy stays in use.
    #[error("{feed}: {message}")]
    Malformed { feed: String, message: String },

    /// The feed could not be fetched (network, HTTP status, size cap).
    #[error("{feed}: {message}")]
    Fetch { feed: String, message: String },

    /// The configuration is invalid; the message names file, line and column.
    #[error("{0}")]
    Config(#[from] ConfigError),

    /// Reading or writing the store's directory failed.
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
}

impl Error {
    pub(crate) fn malformed(feed: &str, message: impl Into<String>) -> Error {
        Error::Malformed {
            feed: feed.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, error: &std::io::Error) -> Error {
        Error::Io {
            path: path.to_owned(),
            message: error.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
