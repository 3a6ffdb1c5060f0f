//! The collectors' store side: [`StoreSink`] publishes a window's records and the
//! collector's checkpoint in one catalog rename, so a collector killed at any moment resumes
//! exactly where its published data ends.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow};
use mailscope_collect::{
    Collector, CommitStats, Config, OrganizationSource, RunReport, Shutdown, Sink, SinkError,
    StatusHandle, TenantStatus,
};
use mailscope_engine::geo::GeoDatabase;
use mailscope_engine::schema::SourceMeta;
use mailscope_engine::store::Store;
use mailscope_record::Record;
use tokio::task::JoinHandle;

use crate::cli::CollectArgs;
use crate::geodb;
use mailscope_engine::exec::MemoryGate;

/// A collected record's size in memory, roughly, for the append's estimate.
const RECORD_BYTES: usize = 1 << 10;

/// A [`Sink`] over the store (shared with the HTTP server when both run in one process).
pub struct StoreSink {
    store: Arc<Mutex<Store>>,
    geo: Option<Arc<GeoDatabase>>,
    meta: SourceMeta,
    /// Inside a server: the queries' pool, which each commit holds its memory in.
    memory: Option<MemoryGate>,
}

impl StoreSink {
    pub fn new(store: Arc<Mutex<Store>>, geo: Option<Arc<GeoDatabase>>, meta: SourceMeta) -> Self {
        StoreSink {
            store,
            geo,
            meta,
            memory: None,
        }
    }

    /// Each commit holds its memory in `memory` (waiting for running queries to let go).
    pub fn with_memory(self, memory: Option<MemoryGate>) -> Self {
        StoreSink { memory, ..self }
    }

    fn store(&self) -> std::result::Result<std::sync::MutexGuard<'_, Store>, SinkError> {
        self.store
            .lock()
            .map_err(|_| SinkError::new("the store lock is poisoned"))
    }
}

impl Sink for StoreSink {
    fn checkpoint(
        &mut self,
        key: &str,
    ) -> std::result::Result<Option<serde_json::Value>, SinkError> {
        Ok(self.store()?.checkpoint(key).cloned())
    }

    fn commit(
        &mut self,
        key: &str,
        records: Vec<Record>,
        checkpoint: serde_json::Value,
    ) -> std::result::Result<CommitStats, SinkError> {
        let received = records.len() as u64;
        let (geo, meta) = (self.geo.clone(), self.meta.clone());
        // Held before the store's lock, so waiting for memory never blocks other writers.
        let _held = match &self.memory {
            Some(gate) => Some(
                gate.hold_waiting(
                    "a collector's append",
                    crate::append::append_memory(
                        records.len().saturating_mul(RECORD_BYTES),
                        gate.limit(),
                    ),
                    crate::append::APPEND_WAIT,
                )
                .map_err(|e| SinkError::new(e.to_string()))?,
            ),
            None => None,
        };
        let mut store = self.store()?;
        let mut ingest = store.ingest(geo, meta);
        for record in records {
            ingest
                .push(record)
                .map_err(|e| SinkError::new(e.to_string()))?;
        }
        ingest.set_checkpoint(key, checkpoint);
        let report = ingest.commit().map_err(|e| SinkError::new(e.to_string()))?;
        Ok(CommitStats {
            received,
            inserted: report.added,
            updated: report.updated,
            unchanged: report.unchanged,
            stale: report.stale,
        })
    }
}

/// The status of every collector a server runs, in the configuration's order: its health
/// answer and the Collectors page read them.
#[derive(Debug, Clone, Default)]
pub struct Board(Arc<Mutex<Vec<StatusHandle>>>);

impl Board {
    pub fn snapshot(&self) -> Vec<TenantStatus> {
        self.0
            .lock()
            .map(|handles| handles.iter().map(StatusHandle::snapshot).collect())
            .unwrap_or_default()
    }

    fn add(&self, handle: StatusHandle) {
        if let Ok(mut handles) = self.0.lock() {
            handles.push(handle);
        }
    }
}

/// Starts one collector per tenant of `config`, all writing into `store`, each registered on
/// `board`. With `once`, each returns when its tenant has caught up; otherwise they poll
/// until `shutdown`.
pub fn spawn_all(
    config: &Config,
    store: Arc<Mutex<Store>>,
    geo: Option<Arc<GeoDatabase>>,
    memory: Option<MemoryGate>,
    shutdown: &Shutdown,
    once: bool,
    board: &Board,
) -> Vec<JoinHandle<mailscope_collect::Result<RunReport>>> {
    config
        .tenants
        .iter()
        .map(|tenant| {
            let meta = SourceMeta {
                source_category: tenant.source_category.clone(),
                source: tenant.name.clone(),
                collector: "mailscope-collect".into(),
            };
            let sink = StoreSink::new(store.clone(), geo.clone(), meta).with_memory(memory.clone());
            let shutdown = shutdown.clone();
            let collector = match Collector::new(tenant.clone(), sink) {
                Ok(collector) => collector,
                Err(error) => return tokio::spawn(async move { Err(error) }),
            };
            board.add(collector.status());
            tokio::spawn(async move {
                if once {
                    collector.collect_until_caught_up(shutdown).await
                } else {
                    collector.run(shutdown).await
                }
            })
        })
        .collect()
}

/// Waits for collectors started by [`spawn_all`]; the first failure is the error.
pub async fn join_all(
    handles: Vec<JoinHandle<mailscope_collect::Result<RunReport>>>,
) -> Result<Vec<RunReport>> {
    let mut reports = Vec::new();
    for handle in handles {
        reports.push(handle.await.context("collector task")??);
    }
    Ok(reports)
}

/// One line per tenant: what a run did.
pub fn summary(report: &RunReport) -> String {
    let organization = match (&report.organization, report.organization_source) {
        (Some(name), OrganizationSource::Tenant) => format!("{name} (the tenant's domain)"),
        (Some(name), _) => name.clone(),
        (None, OrganizationSource::Records) => "as each row names it".to_owned(),
        (None, _) => "none".to_owned(),
    };
    format!(
        "{}: {} windows, {} records ({} new, {} updated), {} polls ({} failed), checkpoint {}, \
         organization {organization}",
        report.tenant,
        report.windows,
        report.committed.received,
        report.committed.inserted,
        report.committed.updated,
        report.polls,
        report.failed_polls,
        report
            .checkpoint
            .map_or_else(|| "none".to_owned(), |c| c.to_rfc3339()),
    )
}

/// Logs to standard error, `info` unless `RUST_LOG` says otherwise.
/// `mailscope collect --config FILE`.
pub fn run(args: &CollectArgs) -> Result<ExitCode> {
    crate::logging::init(args.log_format);
    let config = Config::load(&args.config).map_err(|e| anyhow!("{e}"))?;
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| config.data_dir.clone())
        .ok_or_else(|| {
            anyhow!(
                "no store: give --data-dir or set data_dir in {}",
                args.config.display()
            )
        })?;
    let geo = geodb::open(args.geoip.path())?;
    let store = Store::open(&data_dir)
        .with_context(|| format!("cannot open store {}", data_dir.display()))?;
    let store = Arc::new(Mutex::new(store));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let reports = runtime.block_on(async {
        let (trigger, shutdown) = Shutdown::channel();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            trigger.shutdown();
        });
        join_all(spawn_all(
            &config,
            store,
            geo,
            None,
            &shutdown,
            args.once,
            &Board::default(),
        ))
        .await
    })?;
    for report in &reports {
        crate::logging::notice(summary(report));
    }
    Ok(ExitCode::SUCCESS)
}
