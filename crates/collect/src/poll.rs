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
use crate::config::{Api, TenantConfig};
use crate::error::{Error, Result};
use crate::fetch::{FetchCounters, Fetcher, WindowFetch};
use crate::rate::RateStats;
use crate::retry::backoff;
use crate::shutdown::Shutdown;
use crate::sink::{CommitStats, Sink};
use crate::status::{CollectorState, OrganizationSource, StatusHandle, TenantStatus};
use crate::window::{self, MIN_WINDOW};

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunReport {
    pub tenant: String,
    /// Polls completed.
    pub polls: u64,
    /// Polls that failed (a long-running collector logs them and tries again).
    pub failed_polls: u64,
    /// Polls that re-read the deep look-back.
    pub deep_polls: u64,
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
    /// The `Organization` given to records that carry none, and where it came from.
    pub organization: Option<String>,
    pub organization_source: OrganizationSource,
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
    status: StatusHandle,
    /// The organization is settled: configured, learned, or named by every row.
    organization_known: bool,
    /// When the last deep poll started (none yet in this run).
    last_deep: Option<DateTime<Utc>>,
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
        let mut status = TenantStatus::new(&config.name, config.api.name());
        let organization_known = match (&config.organization, config.api) {
            (Some(organization), _) => {
                status.organization = Some(organization.clone());
                status.organization_source = OrganizationSource::Configured;
                true
            }
            (None, Api::Reporting) => {
                status.organization_source = OrganizationSource::Records;
                status.organization_note =
                    Some("the Reporting Web Service names it in every row".to_owned());
                true
            }
            (None, Api::Graph) => false,
        };
        Ok(Collector {
            status: StatusHandle::new(status),
            organization_known,
            last_deep: None,
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

    /// The collector's status, updated as it polls.
    pub fn status(&self) -> StatusHandle {
        self.status.clone()
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
                        self.failed(&error);
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
                        self.failed(&error);
                        self.status.update(|s| s.state = CollectorState::Stopped);
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
                let polled = self.poll(&mut shutdown).await;
                if let Err(error) = &polled {
                    self.failed(error);
                    self.status.update(|s| s.state = CollectorState::Stopped);
                }
                match polled? {
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

    /// A poll failed: counted, and shown until one succeeds.
    fn failed(&mut self, error: &Error) {
        self.report.failed_polls += 1;
        self.report.last_error = Some(error.to_string());
        let (message, at) = (error.to_string(), self.clock.now());
        self.status.update(|s| {
            s.state = CollectorState::Failing;
            s.failed_polls += 1;
            s.last_error = Some(message);
            s.last_error_at = Some(at);
        });
    }

    /// Learns the tenant's domain from Graph when no `organization` is configured, so Graph
    /// rows (which carry none) get one. A refusal or failure is shown with what to do and
    /// tried again at the next poll; rows meanwhile have none.
    async fn learn_organization(&mut self) {
        match self.fetcher.tenant_domain().await {
            Ok(domain) => {
                tracing::info!(organization = %domain, "organization learned from the tenant's initial domain");
                self.fetcher.organization = Some(domain.clone());
                self.organization_known = true;
                self.status.update(|s| {
                    s.organization = Some(domain);
                    s.organization_source = OrganizationSource::Tenant;
                    s.organization_note = Some(
                        "the tenant's initial domain, from Graph GET /organization".to_owned(),
                    );
                });
            }
            Err(message) => {
                let note = format!("not configured, and not learned: {message}");
                let repeated = self.status.snapshot().organization_note.as_deref() == Some(&note);
                if !repeated {
                    tracing::warn!(%message, "the tenant's organization is unknown; rows get none");
                }
                self.status.update(|s| s.organization_note = Some(note));
            }
        }
    }

    fn finish(mut self) -> RunReport {
        let status = self.status.snapshot();
        self.report.organization = status.organization;
        self.report.organization_source = status.organization_source;
        self.status.update(|s| s.state = CollectorState::Stopped);
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
        if !self.organization_known {
            self.learn_organization().await;
        }
        let mut collected_until = self.load_checkpoint().await?;
        self.report.checkpoint = collected_until;
        let now = self.clock.now();
        // The first poll of a run and then one every `deep_every` re-read the longer
        // look-back, for rows and status changes that arrive late.
        // A backfill (no checkpoint) reads everything there is, as deep as a deep poll.
        let backfill = collected_until.is_none();
        let deep = !backfill
            && self.config.deep_lookback > self.config.lookback
            && self.last_deep.is_none_or(|last| {
                now - last
                    >= chrono::TimeDelta::from_std(self.config.deep_every)
                        .unwrap_or(chrono::TimeDelta::MAX)
            });
        let plan = window::plan(now, &self.config, collected_until, deep);
        let backfilling = now - plan.start > chrono::TimeDelta::days(1);
        self.status.update(|s| {
            s.checkpoint = collected_until;
            s.poll_start = Some(plan.start);
            s.poll_target = Some(plan.target);
            if backfilling {
                s.state = CollectorState::Backfilling;
            } else if s.state == CollectorState::Starting {
                s.state = CollectorState::Collecting;
            }
        });
        if plan.gap {
            tracing::warn!(
                checkpoint = ?collected_until,
                resume_from = %plan.start,
                "the checkpoint is older than the API keeps data; rows in between are lost"
            );
        }
        tracing::info!(start = %plan.start, target = %plan.target, deep, "poll");
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
                    self.status.update(|s| {
                        s.windows += 1;
                        s.checkpoint = Some(until);
                    });
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
        if deep {
            self.report.deep_polls += 1;
        }
        if deep || backfill {
            self.last_deep = Some(now);
        }
        let at = self.clock.now();
        self.status.update(|s| {
            s.polls += 1;
            s.last_success = Some(at);
            s.state = CollectorState::Collecting;
        });
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
        self.status.update(|s| {
            s.records += stats.received;
            s.inserted += stats.inserted;
            s.updated += stats.updated;
        });
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
