//! The poll loop, the same for both APIs: plan the range (see [`crate::window`]), fetch it
//! window by window, and commit each window's records together with the advanced checkpoint
//! in one [`Sink::commit`]. The checkpoint never moves past a window whose records are not
//! in that same commit, and never moves backwards (look-back windows end before it).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mailscope_record::Record;
use tracing::Instrument;

use crate::api::Window;
use crate::checkpoint::Checkpoint;
use crate::clock::{Clock, SystemClock};
use crate::config::TenantConfig;
use crate::error::{Error, Result};
use crate::fetch::{FetchCounters, Fetcher, WindowFetch};
use crate::rate::RateStats;
use crate::retry::backoff;
use crate::shutdown::Shutdown;
use crate::sink::{CommitStats, Sink};
use crate::window::{self, MIN_WINDOW};

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunReport {
    pub tenant: String,
    /// Polls completed.
    pub polls: u64,
    /// Polls that failed (a long-running collector logs them and tries again).
    pub failed_polls: u64,
    /// Windows committed.
    pub windows: u64,
    /// Windows abandoned because they held more records than the bound, or their next links
    /// kept expiring, and re-planned smaller.
    pub window_splits: u64,
    pub fetch: FetchCounters,
    pub token_requests: u64,
    /// Sum over every commit.
    pub committed: CommitStats,
    /// The checkpoint when the run ended.
    pub checkpoint: Option<DateTime<Utc>>,
    pub rate: RateStats,
    /// The last poll failure, if any.
    pub last_error: Option<String>,
    /// The shutdown signal ended the run.
    pub interrupted: bool,
}

/// How a poll ended.
enum PollEnd {
    /// Everything up to `target` is committed.
    Done {
        target: DateTime<Utc>,
    },
    Interrupted,
}

/// One tenant's collector. Use [`crate::run`] or [`crate::collect_once`], or build one to
/// choose the clock.
pub struct Collector<S: Sink> {
    config: Arc<TenantConfig>,
    sink: Option<S>,
    fetcher: Fetcher,
    clock: Arc<dyn Clock>,
    window_size: Duration,
    report: RunReport,
}

impl<S: Sink> std::fmt::Debug for Collector<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("tenant", &self.config.name)
            .field("api", &self.config.api)
            .finish_non_exhaustive()
    }
}

impl<S: Sink> Collector<S> {
    pub fn new(config: TenantConfig, sink: S) -> Result<Collector<S>> {
        let config = Arc::new(config);
        let fetcher = Fetcher::new(Arc::clone(&config))?;
        Ok(Collector {
            window_size: config.window,
            report: RunReport {
                tenant: config.name.clone(),
                ..RunReport::default()
            },
            config,
            sink: Some(sink),
            fetcher,
            clock: Arc::new(SystemClock),
        })
    }

    /// Runs on `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Collector<S> {
        self.clock = clock;
        self
    }

    /// Polls every `interval` until shutdown. Failed polls (throttling or outages that
    /// outlast the retries, refused credentials, API errors) are logged and retried later;
    /// a broken checkpoint or a store failure ends the run.
    pub async fn run(mut self, shutdown: Shutdown) -> Result<RunReport> {
        let span = self.span();
        async move {
            let mut shutdown = shutdown;
            let mut failures = 0u32;
            loop {
                let started = tokio::time::Instant::now();
                let delay = match self.poll(&mut shutdown).await {
                    Ok(PollEnd::Interrupted) => break,
                    Ok(PollEnd::Done { .. }) => {
                        failures = 0;
                        self.config.interval.saturating_sub(started.elapsed())
                    }
                    Err(error) if error.is_retried_by_run() => {
                        failures += 1;
                        self.report.failed_polls += 1;
                        self.report.last_error = Some(error.to_string());
                        let delay = if error.is_transient() {
                            backoff(&self.config.retry, failures).min(self.config.interval)
                        } else {
                            self.config.interval
                        };
                        tracing::error!(%error, retry_in_ms = delay.as_millis() as u64, "poll failed");
                        delay
                    }
                    Err(error) => {
                        tracing::error!(%error, "collector stopped");
                        return Err(error);
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.requested() => break,
                }
            }
            self.report.interrupted = true;
            Ok(self.finish())
        }
        .instrument(span)
        .await
    }

    /// Polls until the checkpoint has reached `now - settle` (give or take one interval),
    /// then returns. Every error ends it.
    pub async fn collect_until_caught_up(mut self, shutdown: Shutdown) -> Result<RunReport> {
        let span = self.span();
        async move {
            let mut shutdown = shutdown;
            loop {
                match self.poll(&mut shutdown).await? {
                    PollEnd::Interrupted => {
                        self.report.interrupted = true;
                        return Ok(self.finish());
                    }
                    PollEnd::Done { target } => {
                        let lag = self.clock.now() - target;
                        let allowed =
                            chrono::TimeDelta::from_std(self.config.settle + self.config.interval)
                                .unwrap_or(chrono::TimeDelta::MAX);
                        if lag <= allowed {
                            return Ok(self.finish());
                        }
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    fn span(&self) -> tracing::Span {
        tracing::info_span!("collector", tenant = %self.config.name, api = %self.config.api)
    }

    fn finish(mut self) -> RunReport {
        self.report.fetch = self.fetcher.counters;
        self.report.token_requests = self.fetcher.token_requests();
        self.report.rate = self.fetcher.limiter().stats();
        self.report
    }

    /// One pass over `[checkpoint - lookback, now - settle)`.
    async fn poll(&mut self, shutdown: &mut Shutdown) -> Result<PollEnd> {
        if shutdown.is_requested() {
            return Ok(PollEnd::Interrupted);
        }
        let mut collected_until = self.load_checkpoint().await?;
        self.report.checkpoint = collected_until;
        let plan = window::plan(self.clock.now(), &self.config, collected_until);
        if plan.gap {
            tracing::warn!(
                checkpoint = ?collected_until,
                resume_from = %plan.start,
                "the checkpoint is older than the API keeps data; rows in between are lost"
            );
        }
        tracing::info!(start = %plan.start, target = %plan.target, "poll");
        let mut cursor = plan.start;
        while cursor < plan.target {
            // The API's oldest allowed start moves with the clock during a long backfill.
            let start = cursor.max(window::earliest(self.clock.now(), &self.config));
            let end = window::window_end(start, self.window_size, plan.target);
            if start >= end {
                break;
            }
            let window = Window { start, end };
            let bound = (self.window_size > MIN_WINDOW).then_some(self.config.max_window_records);
            let fetched = tokio::select! {
                fetched = self.fetcher.fetch_window(window, bound) => fetched?,
                () = shutdown.requested() => {
                    tracing::info!(%window, "shutdown: abandoning the window in flight");
                    return Ok(PollEnd::Interrupted);
                }
            };
            match fetched {
                WindowFetch::Complete(records) => {
                    let count = records.len();
                    let until = collected_until.map_or(end, |until| until.max(end));
                    if !records.is_empty() || collected_until != Some(until) {
                        let stats = self.commit(records, until).await?;
                        tracing::info!(
                            %window,
                            records = count,
                            inserted = stats.inserted,
                            updated = stats.updated,
                            checkpoint = %until,
                            "window committed"
                        );
                    }
                    self.report.windows += 1;
                    collected_until = Some(until);
                    self.report.checkpoint = collected_until;
                    self.window_size =
                        window::size_after_complete(self.window_size, count, &self.config);
                    cursor = end;
                }
                WindowFetch::TooMany { fetched, received } => {
                    let spread = received.and_then(|(first, last)| (last - first).to_std().ok());
                    let smaller = window::size_after_overflow(
                        self.window_size,
                        fetched,
                        spread,
                        &self.config,
                    );
                    self.report.window_splits += 1;
                    tracing::info!(
                        %window,
                        fetched,
                        bound = self.config.max_window_records,
                        next_window_s = smaller.as_secs(),
                        "window holds too many records; splitting"
                    );
                    self.window_size = smaller;
                }
                WindowFetch::LinksExpiring { restarts } => {
                    let smaller = window::size_after_expiries(self.window_size, &self.config);
                    self.report.window_splits += 1;
                    tracing::info!(
                        %window,
                        restarts,
                        next_window_s = smaller.as_secs(),
                        "next links keep expiring before the window's last page; splitting"
                    );
                    self.window_size = smaller;
                }
            }
        }
        self.report.polls += 1;
        Ok(PollEnd::Done {
            target: plan.target,
        })
    }

    async fn load_checkpoint(&mut self) -> Result<Option<DateTime<Utc>>> {
        let key = self.config.checkpoint_key();
        let stored = self
            .with_sink({
                let key = key.clone();
                move |sink| sink.checkpoint(&key)
            })
            .await??;
        let Some(value) = stored else {
            return Ok(None);
        };
        let checkpoint = Checkpoint::from_json(&value)
            .and_then(|checkpoint| checkpoint.validate_for(&self.config).map(|()| checkpoint))
            .map_err(|message| Error::Checkpoint {
                key: key.clone(),
                message,
            })?;
        if checkpoint.api != self.config.api.name() {
            tracing::info!(previous_api = %checkpoint.api, "continuing from a checkpoint written by the other api");
        }
        Ok(Some(checkpoint.collected_until))
    }

    async fn commit(&mut self, records: Vec<Record>, until: DateTime<Utc>) -> Result<CommitStats> {
        let key = self.config.checkpoint_key();
        let checkpoint = Checkpoint::new(self.config.api, &self.config.tenant_id, until).to_json();
        let stats = self
            .with_sink(move |sink| sink.commit(&key, records, checkpoint))
            .await??;
        self.report.committed += stats;
        Ok(stats)
    }

    /// Runs `work` on the blocking pool with the sink, and takes the sink back.
    async fn with_sink<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut S) -> T + Send + 'static,
    ) -> Result<T> {
        let mut sink = self.sink.take().ok_or_else(|| {
            Error::SinkTask("the store was lost by an earlier failure".to_owned())
        })?;
        let (sink, result) = tokio::task::spawn_blocking(move || {
            let result = work(&mut sink);
            (sink, result)
        })
        .await
        .map_err(|error| Error::SinkTask(error.to_string()))?;
        self.sink = Some(sink);
        Ok(result)
    }
}
