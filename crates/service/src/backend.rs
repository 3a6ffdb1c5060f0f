//! Where a query runs. [`Local`] runs it in this process on the embedded engine over the
//! store's Parquet segments.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use mailscope_engine::Result;
use mailscope_engine::exec::{Engine, MemoryStats, QueryOptions, QueryResult};
use mailscope_query::ir;

pub use mailscope_engine::exec::Snapshot;

/// A back end: takes snapshots of a store and runs compiled queries over them.
#[async_trait]
pub trait Backend: Send + Sync {
    /// A name for logs, metrics and `explain` ("local").
    fn name(&self) -> &'static str;

    /// The store as one query sees it.
    async fn snapshot(&self) -> Result<Snapshot>;

    async fn execute(
        &self,
        snapshot: &Snapshot,
        query: &ir::Query,
        options: &QueryOptions,
    ) -> Result<QueryResult>;

    async fn explain(
        &self,
        snapshot: &Snapshot,
        query: &ir::Query,
        options: &QueryOptions,
    ) -> Result<String>;

    /// What the back end's memory pool holds.
    fn memory(&self) -> MemoryStats;
}

/// The embedded engine over a store on this machine.
#[derive(Debug, Clone)]
pub struct Local {
    data_dir: PathBuf,
    engine: Engine,
}

impl Local {
    pub fn new(data_dir: &Path, engine: Engine) -> Local {
        Local {
            data_dir: data_dir.to_path_buf(),
            engine,
        }
    }
}

#[async_trait]
impl Backend for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn snapshot(&self) -> Result<Snapshot> {
        let dir = self.data_dir.clone();
        // The catalog is a small file, but reading it is blocking I/O.
        tokio::task::spawn_blocking(move || Snapshot::load(&dir))
            .await
            .unwrap_or_else(|join| {
                Err(mailscope_engine::Error::Query(format!(
                    "reading the catalog failed: {join}"
                )))
            })
    }

    async fn execute(
        &self,
        snapshot: &Snapshot,
        query: &ir::Query,
        options: &QueryOptions,
    ) -> Result<QueryResult> {
        self.engine.execute(snapshot, query, options).await
    }

    async fn explain(
        &self,
        snapshot: &Snapshot,
        query: &ir::Query,
        options: &QueryOptions,
    ) -> Result<String> {
        self.engine.explain(snapshot, query, options).await
    }

    fn memory(&self) -> MemoryStats {
        self.engine.memory()
    }
}
