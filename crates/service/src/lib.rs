//! The query service: the one place where "run this query" lives. The CLI's `query` and
//! `explain`, the HTTP API, dashboards and their variable lists, the demo and the benchmarks
//! all hand a [`QueryRequest`] to a [`QueryService`], which
//!
//! 1. compiles it with its variables (diagnostics point into the text as written),
//! 2. takes one snapshot of the store from its [`Backend`] (the result cache's key and the
//!    run agree on one generation),
//! 3. answers from the result cache when it can,
//! 4. waits for a place among the queries allowed to run at once (admission: the memory a
//!    running query decodes is bounded by how many run together),
//! 5. runs it on the back end, on the service's own runtime, under a time limit and
//!    cancellable by a client-chosen id.
//!
//! A second back end (the cluster) or a second plan (answers from partial aggregates) is
//! another [`Backend`]; no caller changes.

mod backend;
mod cache;
mod memory;
mod service;
mod table;

pub use backend::{Backend, Local, Snapshot};
pub use memory::{MemoryBudget, process_status_bytes};
pub use service::{
    Answer, Observer, QueryError, QueryRequest, QueryService, ServiceConfig, ServiceStats,
    positive_keywords, query_runtime,
};
pub use table::{Table, column_types};
