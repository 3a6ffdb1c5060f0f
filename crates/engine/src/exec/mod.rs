//! Query execution: `ir::Query` -> DataFusion logical plan over the store's segments ->
//! rows. Relational stages (parse, where, assignments, lookups, timeslice, aggregation,
//! sort, limit) are lowered to one DataFusion plan; data-dependent shaping (`fillmissing`,
//! `transpose`) runs on the small result in between, which then becomes the input of the
//! next plan.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use mailscope_query::ir;

use crate::error::Result;
use crate::geo::GeoDatabase;

/// How to run a query.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// The time range, `[from, to)`, selecting rows by `_messagetime` (= `Received`).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Time zone of timeslices and dates.
    pub time_zone: chrono_tz::Tz,
    /// Geolocation for rows stored without geo columns, and for IPs computed by the query.
    pub geo: Option<Arc<GeoDatabase>>,
    /// Cap on rows returned by a query without aggregation (messages).
    pub max_raw_rows: usize,
}

/// A result table.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    pub warnings: Vec<String>,
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// A time (e.g. `_timeslice`), milliseconds since the epoch.
    Time(i64),
}

/// Runs `query` over the store in `data_dir`.
pub async fn execute(data_dir: &Path, query: &ir::Query, options: &QueryOptions) -> Result<QueryResult> {
    let _ = (data_dir, query, options);
    Err(crate::error::Error::Query("not wired yet".into()))
}
