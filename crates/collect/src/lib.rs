//! Collectors of Exchange Online message trace: the Microsoft Graph `messageTraces` API and
//! the legacy Reporting Web Service `MessageTrace` report, behind one poll loop.
//!
//! ```text
//! Config (TOML) ─► TenantConfig ─► Collector ─► Fetcher ─► token + rate limit + retries ─► API
//!                                     │             └─ pages ─► mailscope_record readers
//!                                     └─ one Sink::commit per window: records + checkpoint
//! ```
//!
//! * [`config`]: the configuration file and its validation.
//! * [`window`]: where a poll starts and ends; window sizing.
//! * `poll`: the loop; `fetch`: one window, page by page, with retries; `api`: what differs
//!   between the two APIs; `token`: OAuth2 client credentials; `rate`: the request budget.
//! * [`Sink`]: the store side, implemented by the server; [`MemorySink`] for tests.
//!
//! The crate knows nothing of Arrow or the query engine: records leave it through [`Sink`].
//! See the crate README for how windows, look-back, checkpoints, retries and throttling work.

mod api;
mod checkpoint;
mod clock;
pub mod config;
mod error;
mod fetch;
mod http;
mod poll;
mod rate;
mod retry;
mod secret;
mod shutdown;
mod sink;
mod status;
mod token;
pub mod window;

pub use api::Window;
pub use checkpoint::{CHECKPOINT_VERSION, Checkpoint};
pub use clock::{Clock, OffsetClock, SystemClock};
pub use config::{
    Api, Config, ConfigError, Quota, ReportingFormat, RetryPolicy, TenantConfig, TokenVersion,
};
pub use error::{Error, Result, SinkError};
pub use fetch::FetchCounters;
pub use poll::{Collector, RunReport};
pub use rate::{RateLimiter, RateStats};
pub use secret::Secret;
pub use shutdown::{Shutdown, ShutdownTrigger};
pub use sink::{CommitStats, MemorySink, Sink};
pub use status::{CollectorState, OrganizationSource, StatusHandle, TenantStatus};

/// Collects `config`'s tenant into `sink` every `config.interval` until `shutdown`.
pub async fn run<S: Sink>(config: TenantConfig, sink: S, shutdown: Shutdown) -> Result<RunReport> {
    Collector::new(config, sink)?.run(shutdown).await
}

/// Collects until the checkpoint has reached `now - settle`, then returns (tests, the demo,
/// a one-off backfill). Every error ends it.
pub async fn collect_once<S: Sink>(
    config: TenantConfig,
    sink: S,
    shutdown: Shutdown,
) -> Result<RunReport> {
    Collector::new(config, sink)?
        .collect_until_caught_up(shutdown)
        .await
}
