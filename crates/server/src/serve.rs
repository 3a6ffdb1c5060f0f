//! `mailscope serve`: the HTTP API over a store, with the collectors of a configuration
//! running in the same process (the server is then the store's single writer).

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use mailscope_engine::store::Store;

use crate::app::{App, AppConfig};
use crate::cli::ServeArgs;
use crate::http;
use crate::{collect, geodb, threat};
use mailscope_collect::Secret;

pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    // Logs (queries, retention, collectors) to standard error; RUST_LOG filters them.
    crate::logging::init(args.log_format);
    let token = read_token(args.token_file.as_deref())?;
    http::check_listen(&args.listen, token.as_ref())?;
    let geo = geodb::open(args.geoip.path())?;
    if let Some(geo) = &geo {
        crate::logging::notice(format!("mailscope: {}", geodb::describe(geo)));
    }
    let asn = geodb::open_asn(args.asn.path())?;
    let threat = threat::open(&args.data_dir, args.threat_config.as_deref())?;
    if let Some(threat) = &threat {
        crate::logging::notice(format!("mailscope: {}", threat::describe(threat)));
    }
    let store = Store::open(&args.data_dir)
        .with_context(|| format!("cannot open store {}", args.data_dir.display()))?;
    let app = App::build(AppConfig {
        data_dir: args.data_dir.clone(),
        store: Arc::new(Mutex::new(store)),
        geo,
        asn,
        threat: threat.clone(),
        token,
        max_ingest_bytes: args.max_ingest_mib.saturating_mul(1 << 20),
        source_category: args.source_category.clone(),
        memory: args.memory.budget()?,
        column_cache_bytes: args.memory.column_cache_bytes(),
        query_timeout: std::time::Duration::from_millis(args.query_timeout_ms.max(1)),
    })?;
    let state = app.state.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        crate::logging::notice(format!(
            "mailscope: serving {} on http://{}/",
            args.data_dir.display(),
            listener.local_addr()?
        ));
        let (trigger, stopped) = mailscope_collect::Shutdown::channel();
        let refresh = threat.map(|threat| {
            let mut stop = stopped.clone();
            threat::spawn_refresh(threat, async move { stop.requested().await })
        });
        let retention = args
            .retention_days
            .map(|days| spawn_retention(state.store.clone(), days, stopped.clone()));
        let compaction = (args.compact_interval_secs > 0).then(|| {
            spawn_compaction(
                state.store.clone(),
                state.memory.clone(),
                std::time::Duration::from_secs(args.compact_interval_secs),
                stopped.clone(),
            )
        });
        let collectors = match &args.collect {
            Some(path) => {
                let config =
                    mailscope_collect::Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
                collect::spawn_all(
                    &config,
                    state.store.clone(),
                    state.geo.clone(),
                    Some(state.memory.clone()),
                    &stopped,
                    false,
                    &state.collectors,
                )
            }
            None => Vec::new(),
        };
        let shutdown = async move {
            let _ = tokio::signal::ctrl_c().await;
            trigger.shutdown();
        };
        let status_writer =
            (!collectors.is_empty()).then(|| state.collectors.spawn_writer(args.data_dir.clone()));
        http::serve(listener, state, shutdown).await?;
        let reports = collect::join_all(collectors).await?;
        if let Some(writer) = status_writer {
            writer.finish()?;
        }
        for report in reports {
            crate::logging::notice(collect::summary(&report));
        }
        if let Some(refresh) = refresh {
            let _ = refresh.await;
        }
        if let Some(retention) = retention {
            let _ = retention.await;
        }
        if let Some(compaction) = compaction {
            let _ = compaction.await;
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Drops days older than `days` now and every hour until shutdown, then removes the files
/// no catalog names once past the grace period.
fn spawn_retention(
    store: Arc<Mutex<Store>>,
    days: u32,
    mut stopped: mailscope_collect::Shutdown,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let store = store.clone();
            let pass = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let first_kept =
                    chrono::Utc::now().date_naive() - chrono::Days::new(u64::from(days));
                let mut store = store
                    .lock()
                    .map_err(|_| anyhow::anyhow!("the store's lock is poisoned"))?;
                let dropped = store.drop_days_before(first_kept)?;
                store.collect_garbage(mailscope_engine::store::GARBAGE_GRACE)?;
                Ok((first_kept, dropped))
            })
            .await;
            match pass {
                Ok(Ok((first_kept, dropped))) if dropped.days > 0 => tracing::info!(
                    %first_kept,
                    days = dropped.days,
                    rows = dropped.rows,
                    "retention dropped old days"
                ),
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "retention pass failed"),
                Err(error) => tracing::warn!(%error, "retention pass panicked"),
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
                _ = stopped.requested() => return,
            }
        }
    })
}

/// A day with this many segments (appends, polls) is compacted in the background.
pub(crate) const COMPACT_MIN_SEGMENTS: usize = 4;

/// What a background compaction holds per row of the day it merges, beyond a fixed part:
/// the day's key run (21 bytes a row), its rollup's groups and the Parquet writer's
/// buffers. Measured: `store compact` of the 100 M store of BENCHMARKS.md (days of up to
/// 4.5 M rows in ten segments) peaked at 1.13 GB, ~235 bytes a row of the largest day.
const COMPACTION_BYTES_PER_ROW: u64 = 240;
/// The part that does not grow with the day: decoded row groups of the inputs and the
/// writer's buffers.
const COMPACTION_FIXED_BYTES: u64 = 64 << 20;

/// The memory a background compaction of a day of `rows` rows holds from the queries' pool.
fn compaction_memory(rows: u64) -> usize {
    usize::try_from(
        COMPACTION_FIXED_BYTES.saturating_add(rows.saturating_mul(COMPACTION_BYTES_PER_ROW)),
    )
    .unwrap_or(usize::MAX)
}

/// What one background compaction pass did.
enum Pass {
    Compacted(
        String,
        mailscope_engine::store::Compacted,
        std::time::Duration,
    ),
    /// No day needs it.
    Idle,
    /// The queries' pool cannot spare the memory now (why).
    Waiting(String),
}

/// Compacts crowded past days in the background, one day per pass, every `every` (a second
/// apart while such days remain). A pass holds its memory in the queries' pool (`gate`)
/// for as long as it merges, so queries spill sooner rather than the process outgrowing its
/// budget; when the pool cannot spare it the pass waits for a later one.
pub(crate) fn spawn_compaction(
    store: Arc<Mutex<Store>>,
    gate: mailscope_engine::exec::MemoryGate,
    every: std::time::Duration,
    mut stopped: mailscope_collect::Shutdown,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut pause = every;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stopped.requested() => return,
            }
            let store = store.clone();
            let gate = gate.clone();
            let pass = tokio::task::spawn_blocking(move || -> anyhow::Result<Pass> {
                let mut store = store
                    .lock()
                    .map_err(|_| anyhow::anyhow!("the store's lock is poisoned"))?;
                let today = chrono::Utc::now().date_naive();
                let Some(day) = store.compaction_candidate(today, COMPACT_MIN_SEGMENTS) else {
                    return Ok(Pass::Idle);
                };
                // A compaction writes at most this many rows into one segment; what it
                // holds grows with one segment's rows, not with the day's.
                let rows: u64 = store
                    .catalog()
                    .segments
                    .iter()
                    .filter(|s| s.day == day)
                    .map(|s| s.rows)
                    .sum::<u64>()
                    .min(mailscope_engine::store::COMPACTED_SEGMENT_ROWS);
                let _held = match gate.hold("background compaction", compaction_memory(rows)) {
                    Ok(held) => held,
                    Err(error) => return Ok(Pass::Waiting(error.to_string())),
                };
                let started = std::time::Instant::now();
                let mut done = mailscope_engine::store::Compacted::default();
                store.compact_day(&day, &mut done)?;
                Ok(Pass::Compacted(day, done, started.elapsed()))
            })
            .await;
            pause = match pass {
                Ok(Ok(Pass::Compacted(day, done, took))) => {
                    tracing::info!(
                        %day,
                        deleted_rows_dropped = done.deleted_rows_dropped,
                        bytes_written = done.bytes_written,
                        took_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                        "compacted a day in the background"
                    );
                    std::time::Duration::from_secs(1)
                }
                Ok(Ok(Pass::Idle)) => every,
                Ok(Ok(Pass::Waiting(why))) => {
                    tracing::info!(%why, "background compaction waits for memory");
                    every.min(std::time::Duration::from_secs(30))
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "background compaction failed");
                    every
                }
                Err(error) => {
                    tracing::warn!(%error, "background compaction panicked");
                    every
                }
            };
        }
    })
}

/// The access token: `MAILSCOPE_TOKEN`, or the first line of the token file.
pub fn read_token(file: Option<&std::path::Path>) -> Result<Option<Secret>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read token file {}", path.display()))?;
        let token = text.lines().next().unwrap_or_default().trim().to_owned();
        anyhow::ensure!(!token.is_empty(), "token file {} is empty", path.display());
        return Ok(Some(Secret::new(token)));
    }
    Ok(std::env::var("MAILSCOPE_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(|t| Secret::new(t.trim().to_owned())))
}
