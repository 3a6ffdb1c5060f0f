//! The engine: the stored row schema, the embedded Parquet store with merge-on-write
//! identity, geolocation at ingest, and query execution on DataFusion. The only crate that
//! knows Arrow and DataFusion.

pub mod error;
pub mod exec;
pub mod geo;
pub mod schema;
pub mod store;

pub use error::{Error, Result};
