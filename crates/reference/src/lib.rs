//! The reference evaluator: a deliberately simple, row-at-a-time interpreter of
//! [`mailscope_query::ir::Query`] over canonical records. It defines what a correct answer
//! is; the engine (DataFusion, column cache, partial aggregates, a cluster) is tested
//! against it. No DataFusion, no Arrow, no performance tricks: one obvious function per
//! operator and per function of the language. See `README.md`.
//!
//! Semantics follow `crates/query/ARCHITECTURE.md` ("Decisions", "Decisions of the
//! engine") and, where those are silent, the engine's
//! intended behaviour, written again here independently.

mod aggregate;
pub mod compare;
pub mod corpus;
mod dates;
mod expr;
mod extract;
mod format;
mod functions;
mod record;
mod relation;
mod scope;
mod shape;
mod stages;
mod time;
mod value;
mod window;

use std::collections::HashMap;

use mailscope_query::ir;
use mailscope_record::Record;

pub use value::Value;

use relation::{Context, Relation};

/// One row of the store: the record as last observed plus Sumo's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    pub record: Record,
    pub source_category: String,
    pub source: String,
    pub collector: String,
    pub receipt_time_ms: i64,
}

/// How to run a query.
#[derive(Debug, Clone)]
pub struct Options {
    /// The time range `[from, to)` on `Received`, epoch milliseconds.
    pub from_ms: i64,
    pub to_ms: i64,
    /// The zone of timeslices, `formatDate` and `parseDate`.
    pub time_zone: chrono_tz::Tz,
    /// `now()`, epoch milliseconds (fixed for the query).
    pub now_ms: i64,
    /// Cap on rows returned by a query without aggregation.
    pub max_raw_rows: usize,
}

/// Data the lookups read.
pub trait ReferenceData {
    /// The `geo://location` column (`latitude`, `longitude`, `country_code`, `country_name`,
    /// `city`, `state`, …) for an IP text; `Value::Null` when unknown.
    fn geo(&self, ip: &str, column: &str) -> Value;
}

/// No reference data: every lookup column is null.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoData;

impl ReferenceData for NoData {
    fn geo(&self, _ip: &str, _column: &str) -> Value {
        Value::Null
    }
}

/// A result.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// True when the row order is defined by the query (`sort`, `top`, `topk`,
    /// `count_frequent`, `transpose`, …); compare the order only then.
    pub ordered: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A construct this evaluator does not implement.
    #[error("not supported by the reference evaluator: {0}")]
    Unsupported(String),
    /// The query cannot run (unknown lookup table, empty time range, …).
    #[error("query error: {0}")]
    Query(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs `query` over `rows` (the store's rows, already settled).
pub fn evaluate(
    query: &ir::Query,
    rows: &[StoredRow],
    options: &Options,
    data: &dyn ReferenceData,
) -> Result<Table> {
    if options.to_ms <= options.from_ms {
        return Err(Error::Query(
            "the time range is empty: --to must be after --from".into(),
        ));
    }
    let context = Context::new(rows, options, data);
    let mut relation = Relation::stored(&context, &query.scope);
    for stage in &query.stages {
        stages::run(&context, &mut relation, &stage.kind)?;
    }
    Ok(stages::output(&context, relation))
}

/// The store's identity rule over observations in the order observed: one row per identity
/// (trimmed, lower-cased `MessageTraceId` and `RecipientAddress`); a new identity is added;
/// the same status changes nothing; a less final status is ignored; otherwise the newer
/// observation replaces the row. Rows come out in the order their identity was first seen.
pub fn settle(observations: impl IntoIterator<Item = StoredRow>) -> Vec<StoredRow> {
    let mut rows: Vec<StoredRow> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for observation in observations {
        let identity = (
            observation
                .record
                .message_trace_id
                .trim()
                .to_ascii_lowercase(),
            observation
                .record
                .recipient_address
                .trim()
                .to_ascii_lowercase(),
        );
        match index.get(&identity) {
            None => {
                index.insert(identity, rows.len());
                rows.push(observation);
            }
            Some(&at) => {
                let stored = &rows[at].record.status;
                let new = &observation.record.status;
                if new == stored || new.finality() < stored.finality() {
                    continue;
                }
                rows[at] = observation;
            }
        }
    }
    rows
}
