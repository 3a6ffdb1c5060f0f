//! [`ThreatStore`]: owns the feeds' directory, fetches each feed on its schedule, keeps the
//! last good copy of every feed on disk and in memory, and publishes a fresh [`ThreatIndex`]
//! after each change.
//!
//! - A fetch is a conditional GET (`If-None-Match` / `If-Modified-Since` from the last good
//!   copy) with a timeout, a body size cap and the User-Agent `mailscope/<version>`.
//! - A good body is written atomically (temporary file, fsync, rename, directory fsync)
//!   together with its fetch time, ETag and Last-Modified.
//! - A failed fetch or a body the reader refuses leaves the last good copy in use; the
//!   error is recorded in the feed's [`FeedStatus`].
//! - No feed is fetched again before its minimum interval, including across restarts: the
//!   stored fetch time counts.
//! - [`ThreatStore::open`] loads the stored copies without touching the network.
//! - Readers take [`ThreatStore::index`], an `Arc` cloned under a lock held only for the
//!   clone; refreshes build the new index aside and swap it in.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

mod disk;
mod fetch;

pub(crate) use disk::write_atomically;
use disk::{Meta, load_from_disk, save};
pub use fetch::MISP_EVENT_LIMIT;
use fetch::{read_file, stores_copy};

use crate::config::{FeedConfig, FeedLocation};
use crate::error::{Error, Result};
use crate::index::{IndexStats, ThreatIndex};
use crate::indicator::Indicator;
use crate::read::{self, FeedFormat, FeedParse, ReadContext};

/// Version of the `<feed>.meta.json` files.
pub const META_VERSION: u32 = 1;

/// What the store knows about one feed, for the health endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedStatus {
    pub name: String,
    /// The URL or file path.
    pub location: String,
    pub format: String,
    pub enabled: bool,
    /// When the copy in use was fetched (from the network, a file, or found on disk).
    pub fetched_at: Option<DateTime<Utc>>,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// The last attempt's error; cleared by the next success.
    pub last_error: Option<String>,
    /// Indicators in the copy in use.
    pub indicators: usize,
    /// Lines of the copy in use that were reported and skipped.
    pub line_errors: usize,
    /// Entries of a kind not matched (URL patterns, hashes, non-IDS attributes).
    pub skipped: usize,
    /// The first few line errors, for a person looking at the status page.
    pub sample_errors: Vec<String>,
    pub next_fetch: Option<DateTime<Utc>>,
    pub refresh_seconds: u64,
    pub min_refresh_seconds: u64,
}

/// The whole store, for the health endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreStatus {
    pub feeds: Vec<FeedStatus>,
    pub index: IndexStats,
    pub index_built_at: Option<DateTime<Utc>>,
}

/// What one refresh attempt did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshOutcome {
    /// A new copy is in use.
    Updated {
        indicators: usize,
    },
    /// The server answered 304 Not Modified, or the file is unchanged.
    NotModified,
    /// Not attempted: the feed's minimum interval has not passed.
    TooSoon {
        next_allowed: DateTime<Utc>,
    },
    /// The attempt failed; the last good copy stays in use.
    Failed {
        error: String,
    },
    Disabled,
}

#[derive(Debug)]
struct FeedState {
    config: FeedConfig,
    indicators: Arc<Vec<Indicator>>,
    status: FeedStatus,
    etag: Option<String>,
    last_modified: Option<String>,
    /// A fetch of this feed is under way (two refreshes never race on one feed).
    busy: bool,
}

/// The threat-intelligence store. Share it as `Arc<ThreatStore>`.
#[derive(Debug)]
pub struct ThreatStore {
    dir: PathBuf,
    client: reqwest::Client,
    feeds: Mutex<Vec<FeedState>>,
    index: RwLock<Arc<ThreatIndex>>,
    index_built_at: Mutex<Option<DateTime<Utc>>>,
}

impl ThreatStore {
    /// Opens (creating) `dir` and loads each feed's last good copy from it, or from the
    /// configured file for file feeds. Never touches the network.
    pub fn open(dir: &Path, feeds: Vec<FeedConfig>) -> Result<ThreatStore> {
        std::fs::create_dir_all(dir).map_err(|error| Error::io(dir, &error))?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("mailscope/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .build()
            .map_err(|error| Error::Fetch {
                feed: String::new(),
                message: format!("cannot build the HTTP client: {error}"),
            })?;
        let mut states = Vec::with_capacity(feeds.len());
        for config in feeds {
            let mut state = FeedState {
                status: initial_status(&config),
                config,
                indicators: Arc::new(Vec::new()),
                etag: None,
                last_modified: None,
                busy: false,
            };
            load_from_disk(dir, &mut state);
            states.push(state);
        }
        let store = ThreatStore {
            dir: dir.to_owned(),
            client,
            feeds: Mutex::new(states),
            index: RwLock::new(Arc::new(ThreatIndex::default())),
            index_built_at: Mutex::new(None),
        };
        store.rebuild_index(Utc::now());
        Ok(store)
    }

    /// The directory holding the feeds' last good copies.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current index. Cheap; never waits for a refresh.
    pub fn index(&self) -> Arc<ThreatIndex> {
        Arc::clone(&self.index.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn status(&self) -> StoreStatus {
        let feeds = self.lock_feeds().iter().map(|s| s.status.clone()).collect();
        StoreStatus {
            feeds,
            index: self.index().stats(),
            index_built_at: *self
                .index_built_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Names of the enabled feeds whose next fetch is at or before `now`.
    pub fn refresh_due(&self, now: DateTime<Utc>) -> Vec<String> {
        self.lock_feeds()
            .iter()
            .filter(|state| state.config.enabled && !state.busy)
            .filter(|state| state.status.next_fetch.is_none_or(|next| next <= now))
            .map(|state| state.config.name.clone())
            .collect()
    }

    /// The earliest next fetch among the enabled feeds.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.lock_feeds()
            .iter()
            .filter(|state| state.config.enabled)
            .filter_map(|state| state.status.next_fetch)
            .min()
    }

    /// Refreshes every due feed, then publishes a new index if any changed.
    pub async fn refresh_due_feeds(&self, now: DateTime<Utc>) -> Vec<(String, RefreshOutcome)> {
        let mut outcomes = Vec::new();
        for name in self.refresh_due(now) {
            let outcome = self.refresh_feed(&name, now).await;
            outcomes.push((name, outcome));
        }
        outcomes
    }

    /// Fetches and reads one feed now, unless its minimum interval has not passed since
    /// the last attempt. Publishes a new index when the copy in use changed.
    pub async fn refresh_feed(&self, name: &str, now: DateTime<Utc>) -> RefreshOutcome {
        let prepared = {
            let mut feeds = self.lock_feeds();
            let Some(state) = feeds.iter_mut().find(|state| state.config.name == name) else {
                return RefreshOutcome::Failed {
                    error: format!("no feed named {name:?}"),
                };
            };
            if !state.config.enabled {
                return RefreshOutcome::Disabled;
            }
            let min = chrono::Duration::from_std(state.config.min_refresh).unwrap_or_default();
            let last = [state.status.last_attempt, state.status.fetched_at]
                .into_iter()
                .flatten()
                .max();
            if let Some(last) = last
                && now < last + min
            {
                return RefreshOutcome::TooSoon {
                    next_allowed: last + min,
                };
            }
            if state.busy {
                return RefreshOutcome::TooSoon { next_allowed: now };
            }
            state.busy = true;
            (
                state.config.clone(),
                state.etag.clone(),
                state.last_modified.clone(),
            )
        };
        let (config, etag, last_modified) = prepared;
        let result = self.fetch_and_read(&config, etag, last_modified, now).await;

        let outcome = {
            let mut feeds = self.lock_feeds();
            let Some(state) = feeds.iter_mut().find(|state| state.config.name == name) else {
                return RefreshOutcome::Failed {
                    error: format!("no feed named {name:?}"),
                };
            };
            state.busy = false;
            state.status.last_attempt = Some(now);
            let outcome = match result {
                Ok(Fetched::NotModified) => {
                    state.status.last_success = Some(now);
                    state.status.fetched_at = Some(now);
                    state.status.last_error = None;
                    RefreshOutcome::NotModified
                }
                Ok(Fetched::New {
                    parse,
                    etag,
                    last_modified,
                }) => {
                    apply_parse(state, parse, now);
                    state.etag = etag;
                    state.last_modified = last_modified;
                    state.status.last_success = Some(now);
                    state.status.last_error = None;
                    RefreshOutcome::Updated {
                        indicators: state.indicators.len(),
                    }
                }
                Err(error) => {
                    let error = error.to_string();
                    tracing::warn!(feed = %name, %error, "threat feed refresh failed; keeping the last good copy");
                    state.status.last_error = Some(error.clone());
                    RefreshOutcome::Failed { error }
                }
            };
            state.status.next_fetch = Some(next_fetch(&state.config, now, &outcome));
            outcome
        };
        if matches!(outcome, RefreshOutcome::Updated { .. }) {
            self.rebuild_index(now);
        }
        outcome
    }

    /// Refreshes due feeds until `shutdown` completes, sleeping until the next one is due
    /// (at most a minute, so configuration-free clock changes are noticed).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let now = Utc::now();
            self.refresh_due_feeds(now).await;
            let wait = self
                .next_due()
                .and_then(|next| (next - Utc::now()).to_std().ok())
                .unwrap_or(Duration::from_secs(60))
                .clamp(Duration::from_millis(100), Duration::from_secs(60));
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn lock_feeds(&self) -> std::sync::MutexGuard<'_, Vec<FeedState>> {
        self.feeds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn rebuild_index(&self, now: DateTime<Utc>) {
        let all: Vec<Arc<Vec<Indicator>>> = self
            .lock_feeds()
            .iter()
            .map(|state| Arc::clone(&state.indicators))
            .collect();
        let indicators: Vec<Indicator> = all.iter().flat_map(|list| list.iter().cloned()).collect();
        let index = Arc::new(ThreatIndex::new(indicators));
        *self.index.write().unwrap_or_else(PoisonError::into_inner) = index;
        *self
            .index_built_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(now);
    }

    async fn fetch_and_read(
        &self,
        config: &FeedConfig,
        etag: Option<String>,
        last_modified: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Fetched> {
        let (body, etag, last_modified, fetch_errors) = if config.format == FeedFormat::MispFeed {
            match fetch::fetch_misp_feed(&self.client, config, etag, last_modified).await? {
                Some(fetched) => fetched,
                None => return Ok(Fetched::NotModified),
            }
        } else {
            match &config.location {
                FeedLocation::File(path) => {
                    let body = read_file(path, config.max_bytes).await.map_err(|message| {
                        Error::Fetch {
                            feed: config.name.clone(),
                            message,
                        }
                    })?;
                    (body, None, None, Vec::new())
                }
                FeedLocation::Url(url) => {
                    match fetch::fetch(&self.client, config, url, etag, last_modified).await? {
                        Some((body, etag, last_modified)) => {
                            (body, etag, last_modified, Vec::new())
                        }
                        None => return Ok(Fetched::NotModified),
                    }
                }
            }
        };
        let dir = self.dir.clone();
        let config = config.clone();
        let task = tokio::task::spawn_blocking(move || {
            let context = context_of(&config, now);
            let mut parse = read::read(&context, config.format, &body)?;
            parse.errors.splice(0..0, fetch_errors);
            if stores_copy(&config) {
                let meta = Meta {
                    version: META_VERSION,
                    feed: config.name.clone(),
                    location: location_text(&config.location),
                    fetched_at: now,
                    etag: etag.clone(),
                    last_modified: last_modified.clone(),
                };
                save(&dir, &config.name, &body, &meta)?;
            }
            Ok(Fetched::New {
                parse,
                etag,
                last_modified,
            })
        });
        task.await.map_err(|error| Error::Fetch {
            feed: String::new(),
            message: format!("reader task failed: {error}"),
        })?
    }
}

enum Fetched {
    NotModified,
    New {
        parse: FeedParse,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

fn context_of(config: &FeedConfig, fetched_at: DateTime<Utc>) -> ReadContext {
    let mut context = ReadContext::new(&config.name, fetched_at);
    context.default_confidence = config.confidence;
    context.threat_type = config.threat_type.clone();
    context
}

fn location_text(location: &FeedLocation) -> String {
    match location {
        FeedLocation::Url(url) => url.clone(),
        FeedLocation::File(path) => path.display().to_string(),
    }
}

fn initial_status(config: &FeedConfig) -> FeedStatus {
    FeedStatus {
        name: config.name.clone(),
        location: location_text(&config.location),
        format: config.format.as_str().to_owned(),
        enabled: config.enabled,
        fetched_at: None,
        last_attempt: None,
        last_success: None,
        last_error: None,
        indicators: 0,
        line_errors: 0,
        skipped: 0,
        sample_errors: Vec::new(),
        next_fetch: None,
        refresh_seconds: config.refresh.as_secs(),
        min_refresh_seconds: config.min_refresh.as_secs(),
    }
}

fn apply_parse(state: &mut FeedState, parse: FeedParse, fetched_at: DateTime<Utc>) {
    state.status.indicators = parse.indicators.len();
    state.status.line_errors = parse.errors.len();
    state.status.skipped = parse.skipped.len();
    state.status.sample_errors = parse.errors.iter().take(5).map(|e| e.to_string()).collect();
    state.status.fetched_at = Some(fetched_at);
    state.indicators = Arc::new(parse.indicators);
}

/// After a success the feed's refresh interval; after a failure a shorter retry (ten
/// minutes at most), never below the publisher's minimum.
fn next_fetch(config: &FeedConfig, now: DateTime<Utc>, outcome: &RefreshOutcome) -> DateTime<Utc> {
    let wait = match outcome {
        RefreshOutcome::Failed { .. } => config
            .refresh
            .min(Duration::from_secs(600))
            .max(config.min_refresh),
        _ => config.refresh,
    };
    now + chrono::Duration::from_std(wait).unwrap_or_else(|_| chrono::Duration::hours(1))
}
