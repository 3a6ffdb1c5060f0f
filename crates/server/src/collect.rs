//! The collectors' store side: [`StoreSink`] publishes a window's records and the
//! collector's checkpoint in one catalog rename, so a collector killed at any moment resumes
//! exactly where its published data ends.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use mailscope_collect::{
    Collector, CommitStats, Config, OrganizationSource, RunReport, Shutdown, Sink, SinkError,
    StatusHandle, TenantStatus,
};
use mailscope_engine::geo::GeoDatabase;
use mailscope_engine::schema::SourceMeta;
use mailscope_engine::store::Store;
use mailscope_record::Record;
use tokio::task::JoinHandle;

use crate::cli::{CollectArgs, CollectCommand};
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

    /// Writes the statuses to `<data dir>/collectors.json` (whole, then renamed into place),
    /// for `mailscope collect status` to read while the process runs or after it stopped.
    pub fn persist(&self, data_dir: &Path) -> Result<()> {
        let body = serde_json::json!({
            "format": STATUS_FORMAT,
            "version": STATUS_VERSION,
            "written_at": chrono::Utc::now(),
            "collectors": self.snapshot(),
        });
        let path = data_dir.join(STATUS_FILE);
        let partial = data_dir.join(format!(".{STATUS_FILE}.partial"));
        std::fs::write(&partial, serde_json::to_vec_pretty(&body)?)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        std::fs::rename(&partial, &path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// Keeps `collectors.json` current every few seconds until [`StatusWriter::finish`].
    pub fn spawn_writer(&self, data_dir: PathBuf) -> StatusWriter {
        let (board, dir) = (self.clone(), data_dir.clone());
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(STATUS_EVERY).await;
                let (board, dir) = (board.clone(), dir.clone());
                let written = tokio::task::spawn_blocking(move || board.persist(&dir)).await;
                if let Ok(Err(error)) = written {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "cannot record the collectors' status"
                    );
                }
            }
        });
        StatusWriter {
            task,
            board: self.clone(),
            data_dir,
        }
    }
}

/// The task keeping `collectors.json` current.
pub struct StatusWriter {
    task: JoinHandle<()>,
    board: Board,
    data_dir: PathBuf,
}

impl StatusWriter {
    /// Stops the task and records the statuses the collectors ended with.
    pub fn finish(self) -> Result<()> {
        self.task.abort();
        self.board.persist(&self.data_dir)
    }
}

/// Where the collectors' status is recorded, in the data directory.
pub const STATUS_FILE: &str = "collectors.json";
/// What that file says it is, and the version of its layout (`collect status` reads only it).
const STATUS_FORMAT: &str = "mailscope-collectors";
const STATUS_VERSION: u64 = 1;
/// How often it is written while collectors run.
const STATUS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

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
    if let Some(CollectCommand::Status { data_dir, json }) = &args.command {
        return status(data_dir, *json);
    }
    let Some(config_path) = &args.config else {
        bail!("give --config FILE, or a command (collect status)");
    };
    crate::logging::init(args.log_format);
    let config = Config::load(config_path).map_err(|e| anyhow!("{e}"))?;
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| config.data_dir.clone())
        .ok_or_else(|| {
            anyhow!(
                "no store: give --data-dir or set data_dir in {}",
                config_path.display()
            )
        })?;
    let geo = geodb::open(args.geoip.path())?;
    let store = Store::open(&data_dir)
        .with_context(|| format!("cannot open store {}", data_dir.display()))?;
    let store = Arc::new(Mutex::new(store));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let board = Board::default();
    let reports = runtime.block_on(async {
        let (trigger, shutdown) = Shutdown::channel();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            trigger.shutdown();
        });
        let collectors = spawn_all(&config, store, geo, None, &shutdown, args.once, &board);
        let writer = board.spawn_writer(data_dir.clone());
        let reports = join_all(collectors).await;
        writer.finish()?;
        reports
    })?;
    for report in &reports {
        crate::logging::notice(summary(report));
    }
    Ok(ExitCode::SUCCESS)
}

/// `mailscope collect status --data-dir D`: every tenant with a checkpoint in the store, with
/// what its collector last recorded in `collectors.json` (while it runs, or when it stopped).
fn status(data_dir: &Path, json: bool) -> Result<ExitCode> {
    if !data_dir.is_dir() {
        bail!(
            "{} is not a store: give the data directory the collectors write to",
            data_dir.display()
        );
    }
    let catalog = mailscope_engine::store::Catalog::load(data_dir)
        .map_err(|e| anyhow!("cannot read the store {}: {e}", data_dir.display()))?;
    let path = data_dir.join(STATUS_FILE);
    let recorded: serde_json::Value = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is damaged", path.display()))?,
        Err(_) => serde_json::Value::Null,
    };
    if !recorded.is_null()
        && (recorded["format"] != STATUS_FORMAT || recorded["version"] != STATUS_VERSION)
    {
        bail!(
            "{} is not a collectors' status this mailscope reads (format {STATUS_FORMAT} \
             version {STATUS_VERSION}); it is rewritten by the next collector run",
            path.display()
        );
    }
    let now = chrono::Utc::now();
    let mut tenants: Vec<String> = catalog
        .checkpoints
        .keys()
        .filter_map(|key| key.strip_prefix("collect/").map(str::to_owned))
        .collect();
    for status in recorded["collectors"].as_array().into_iter().flatten() {
        if let Some(name) = status["tenant"].as_str()
            && !tenants.iter().any(|t| t == name)
        {
            tenants.push(name.to_owned());
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let service = crate::app::one_shot_service(&runtime, data_dir);
    let mut rows = Vec::new();
    for tenant in &tenants {
        let checkpoint = catalog
            .checkpoints
            .get(&format!("collect/{tenant}"))
            .and_then(|c| c["collected_until"].as_str())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.to_utc());
        let api = catalog
            .checkpoints
            .get(&format!("collect/{tenant}"))
            .and_then(|c| c["api"].as_str().map(str::to_owned));
        let last_hour = rows_since(
            &runtime,
            &service,
            tenant,
            now - chrono::TimeDelta::hours(1),
            now,
        )?;
        let seen = recorded["collectors"]
            .as_array()
            .into_iter()
            .flatten()
            .rev()
            .find(|s| s["tenant"].as_str() == Some(tenant.as_str()))
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        rows.push(serde_json::json!({
            "tenant": tenant,
            "api": api.or_else(|| seen["api"].as_str().map(str::to_owned)),
            "collected_until": checkpoint,
            "lag_seconds": checkpoint.map(|c| (now - c).num_seconds().max(0)),
            "rows_last_hour": last_hour,
            "state": seen["state"],
            "recorded_at": recorded["written_at"],
            "last_success": seen["last_success"],
            "last_error": seen["last_error"],
            "failed_polls": seen["failed_polls"],
            "organization": seen["organization"],
            "organization_source": seen["organization_source"],
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no tenant has been collected into {}", data_dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::String(s) => s.chars().filter(|c| !c.is_control()).collect(),
        other => other.to_string(),
    };
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header([
        "tenant",
        "api",
        "state (recorded)",
        "collected until",
        "behind",
        "rows last hour",
        "last success",
        "organization",
        "last error",
    ]);
    for row in &rows {
        let behind = row["lag_seconds"]
            .as_i64()
            .map_or_else(|| "-".to_owned(), |s| format!("{} min", s / 60));
        let organization = match (
            row["organization"].as_str(),
            row["organization_source"].as_str(),
        ) {
            (Some(name), Some(source)) => format!("{name} ({source})"),
            (None, Some("records")) => "named by each row".to_owned(),
            _ => "-".to_owned(),
        };
        table.add_row([
            text(&row["tenant"]),
            text(&row["api"]),
            text(&row["state"]),
            text(&row["collected_until"]),
            behind,
            text(&row["rows_last_hour"]),
            text(&row["last_success"]),
            organization,
            text(&row["last_error"]),
        ]);
    }
    println!("{table}");
    if let Some(at) = recorded["written_at"].as_str() {
        println!("collector states as recorded at {at}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Rows of `tenant` (its `_source`) received in `[from, to)`.
fn rows_since(
    runtime: &tokio::runtime::Runtime,
    service: &mailscope_service::QueryService,
    tenant: &str,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> Result<i64> {
    let text = format!("_source={} | count", crate::trace::literal(tenant));
    let options = mailscope_engine::exec::QueryOptions {
        from,
        to,
        time_zone: chrono_tz::Tz::UTC,
        geo: None,
        asn: None,
        threat: None,
        max_raw_rows: 0,
    };
    let answer = runtime
        .block_on(service.run(mailscope_service::QueryRequest::new(text, options)))
        .map_err(|e| anyhow!("{e}"))?;
    Ok(answer
        .table
        .result
        .rows
        .first()
        .and_then(|row| row.first())
        .and_then(|cell| cell.to_json().as_i64())
        .unwrap_or(0))
}
