//! The application as `serve`, `demo` and the HTTP benchmark run it, assembled in one place:
//! the memory budget shared out (query pool, column cache, result cache), the query service
//! on its own runtime, and the state every HTTP handler sees.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use mailscope_collect::Secret;
use mailscope_engine::exec::Engine;
use mailscope_engine::geo::{AsnDatabase, GeoDatabase};
use mailscope_engine::store::Store;
use mailscope_service::{Local, MemoryBudget, QueryService, ServiceConfig};

use crate::http::{self, AppState};

/// Rows a query without aggregation returns at most.
pub const MAX_RAW_ROWS: usize = 10_000;
/// Rows an aggregated result of the server keeps at most: a result is held in memory whole
/// (for paging), outside the query memory pool.
pub const MAX_RESULT_ROWS: usize = 100_000;

/// Everything the application is built from.
pub struct AppConfig {
    pub data_dir: PathBuf,
    /// The store's writer (the server is its single writer while it runs).
    pub store: Arc<Mutex<Store>>,
    pub geo: Option<Arc<GeoDatabase>>,
    pub asn: Option<Arc<AsnDatabase>>,
    pub threat: Option<Arc<mailscope_threat::ThreatStore>>,
    pub token: Option<Secret>,
    pub max_ingest_bytes: usize,
    pub source_category: String,
    /// The whole process's memory; see `mailscope_service::MemoryBudget` for the shares.
    pub memory: MemoryBudget,
    /// Overrides the column cache's share (0 turns the cache off).
    pub column_cache_bytes: Option<usize>,
    pub query_timeout: Duration,
}

/// The running application: its state and the runtime its queries run on.
pub struct App {
    pub state: AppState,
    /// Held for as long as the application runs; dropped after the HTTP runtime, outside
    /// any async context.
    _query_runtime: tokio::runtime::Runtime,
}

impl App {
    pub fn build(config: AppConfig) -> Result<App> {
        // What is loaded by now (reference data included) and the program's code that
        // queries will page in come off the budget first.
        let memory = match MemoryBudget::resident_now() {
            Some(held) => config
                .memory
                .with_baseline(held + MemoryBudget::code_not_yet_resident().unwrap_or(0))
                .map_err(|e| anyhow::anyhow!("--memory: {e}"))?,
            None => config.memory,
        };
        configure_column_cache(config.column_cache_bytes.unwrap_or(memory.column_cache()));
        let engine = Engine::with_memory_limit(memory.query_pool())
            .context("cannot set up the query engine's memory pool")?
            .with_max_result_rows(MAX_RESULT_ROWS);
        let memory_gate = engine.memory_gate();
        let query_runtime = mailscope_service::query_runtime()?;
        let metrics = Arc::new(http::Metrics::default());
        let service = QueryService::new(
            query_runtime.handle().clone(),
            Arc::new(Local::new(&config.data_dir, engine)),
            ServiceConfig {
                timeout: Some(config.query_timeout),
                cache_bytes: memory.result_cache(),
                max_raw_rows: MAX_RAW_ROWS,
                max_running: max_running(&memory),
            },
            metrics.clone(),
        );
        crate::logging::notice(format!(
            "mailscope: memory budget {memory}, {} MiB held at start or by code: {} MiB for running queries \
             (at most {} at once), {} MiB of decoded columns, {} MiB of results",
            memory.baseline() >> 20,
            memory.query_pool() >> 20,
            service.config().max_running,
            config.column_cache_bytes.unwrap_or(memory.column_cache()) >> 20,
            memory.result_cache() >> 20
        ));
        Ok(App {
            state: AppState {
                data_dir: config.data_dir,
                store: config.store,
                geo: config.geo,
                asn: config.asn,
                token: config.token,
                threat: config.threat,
                max_ingest_bytes: config.max_ingest_bytes,
                source_category: config.source_category,
                queries: Arc::new(service),
                memory: memory_gate,
                metrics,
                collectors: crate::collect::Board::default(),
            },
            _query_runtime: query_runtime,
        })
    }
}

/// The query service of a one-shot command over `data_dir`: the engine without a memory
/// pool, no result cache, no time limit, one query at a time.
pub fn one_shot_service(runtime: &tokio::runtime::Runtime, data_dir: &Path) -> QueryService {
    QueryService::new(
        runtime.handle().clone(),
        Arc::new(Local::new(data_dir, Engine::default())),
        ServiceConfig::one_shot(MAX_RAW_ROWS),
        Arc::new(()),
    )
}

/// Queries that run at once: `MAILSCOPE_MAX_QUERIES`, else one per core. Each runs on
/// every core already (DataFusion partitions its scan), so more at once mostly adds memory.
/// `MAILSCOPE_MAX_QUERIES`, else one a core, fewer when the budget is small.
fn max_running(memory: &MemoryBudget) -> usize {
    std::env::var("MAILSCOPE_MAX_QUERIES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| {
            memory.running_queries(std::thread::available_parallelism().map_or(2, usize::from))
        })
}

/// Turns the column cache on with `budget` bytes (the first budget of the process stays).
pub fn configure_column_cache(budget: usize) {
    mailscope_engine::exec::cache::configure(budget);
}
