//! The engine's error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("geolocation database {path}: {message}")]
    Geo { path: PathBuf, message: String },
    #[error("ASN database {path}: {message}")]
    Asn { path: PathBuf, message: String },
    #[error("catalog {path}: {message}")]
    Catalog { path: PathBuf, message: String },
    #[error("the store at {path} is locked by another writer")]
    Locked { path: PathBuf },
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("query execution: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("{0}")]
    Query(String),
    /// The query needs more memory than the process's budget allows, even spilling.
    #[error(
        "the query needs more memory than the budget allows ({} MiB for all running queries; raise --memory or narrow the query): {detail}",
        limit_bytes >> 20
    )]
    MemoryBudget { limit_bytes: usize, detail: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
