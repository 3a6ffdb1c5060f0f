//! The collector configuration: the TOML file of `mailscope collect --config FILE`, read into
//! raw serde structs (`deny_unknown_fields`, every value with its span) and then validated
//! into [`Config`] and one [`TenantConfig`] per tenant. Every error names the file, line and
//! column. See the crate README for the format.

mod duration;
mod raw;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::secret::Secret;

pub use duration::{format_duration, parse_duration};

/// The whole file.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the store lives; `None` leaves the choice to the server.
    pub data_dir: Option<PathBuf>,
    pub tenants: Vec<TenantConfig>,
}

/// Which Microsoft API a tenant is collected from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// Microsoft Graph `admin/exchange/tracing/messageTraces`.
    Graph,
    /// The legacy Reporting Web Service `MessageTrace` report.
    Reporting,
}

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::Graph => "graph",
            Api::Reporting => "reporting",
        }
    }

    /// How far back the API serves data: Graph 90 days; the Reporting Web Service documents
    /// 30 days but refuses start dates older than 10 days in practice.
    pub fn max_backfill(self) -> Duration {
        match self {
            Api::Graph => Duration::from_secs(90 * 86_400),
            Api::Reporting => Duration::from_secs(10 * 86_400),
        }
    }

    /// The longest window one query may span (Graph: 10 days).
    pub fn max_window(self) -> Duration {
        Duration::from_secs(10 * 86_400)
    }

    fn default_api_url(self) -> &'static str {
        match self {
            Api::Graph => "https://graph.microsoft.com",
            Api::Reporting => "https://reports.office365.com",
        }
    }

    fn default_audience(self) -> &'static str {
        match self {
            Api::Graph => "https://graph.microsoft.com",
            Api::Reporting => "https://outlook.office365.com",
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The two JSON shapes of the Reporting Web Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportingFormat {
    /// `Accept: application/json`: `{"odata.metadata", "value", "odata.nextLink"}`.
    Light,
    /// `$format=json`: `{"d": {"results": [..], "__next": ..}}` with `/Date(ms)/` dates.
    Verbose,
}

/// Which token endpoint: v2.0 (`scope=<audience>/.default`) or v1 (`resource=<audience>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenVersion {
    V2,
    V1,
}

/// A client-side request budget: at most `requests` in any `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub requests: u32,
    pub period: Duration,
}

impl Quota {
    /// Graph message trace: 100 requests per 5 minutes per tenant.
    pub const GRAPH: Quota = Quota {
        requests: 100,
        period: Duration::from_secs(300),
    };
}

/// Retries of one request: exponential backoff from `initial`, doubling, capped at `max`,
/// with jitter; `attempts` tries in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            attempts: 8,
        }
    }
}

/// One tenant's collector, validated.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    /// Unique name; also the key of the tenant's checkpoint in the store.
    pub name: String,
    pub api: Api,
    /// Directory (tenant) id or verified domain, as used in the token endpoint path.
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// `_sourceCategory` of the records (used by the store side).
    pub source_category: String,
    /// Fills `Organization` on Graph records, which have none.
    pub organization: Option<String>,
    /// Time between polls.
    pub interval: Duration,
    /// How far behind now windows end, so Microsoft has the rows.
    pub settle: Duration,
    /// How much before the checkpoint every poll re-reads, for late rows and status changes.
    pub lookback: Duration,
    /// How much a deep poll re-reads before the checkpoint: the hours in which late rows and
    /// status changes still arrive. The same as `lookback` turns deep polls off.
    pub deep_lookback: Duration,
    /// How often a poll is a deep one (and the first poll of every run is).
    pub deep_every: Duration,
    /// How far back the first run starts (at most [`Api::max_backfill`]).
    pub backfill: Duration,
    /// Largest window per query (at most [`Api::max_window`]); shrunk when windows are dense.
    pub window: Duration,
    /// Graph `$top` (1 to 5000). The Reporting Web Service pages by itself.
    pub page_size: Option<u32>,
    pub reporting_format: ReportingFormat,
    pub quota: Option<Quota>,
    /// Base of the token endpoint (`https://login.microsoftonline.com`).
    pub login_url: Url,
    /// Base of the API (`https://graph.microsoft.com`, `https://reports.office365.com`).
    pub api_url: Url,
    pub token_version: TokenVersion,
    /// The resource the token is for (`https://graph.microsoft.com`).
    pub audience: String,
    /// Whole-request timeout, body included.
    pub request_timeout: Duration,
    /// Largest page body read.
    pub max_page_bytes: usize,
    /// Records of one window held before it is split (the memory bound).
    pub max_window_records: usize,
    pub retry: RetryPolicy,
}

impl TenantConfig {
    /// A tenant with every optional setting at its default.
    pub fn new(
        name: impl Into<String>,
        api: Api,
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> TenantConfig {
        TenantConfig {
            name: name.into(),
            api,
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            client_secret,
            source_category: "o365/messagetrace".to_owned(),
            organization: None,
            interval: Duration::from_secs(300),
            settle: Duration::from_secs(600),
            lookback: Duration::from_secs(4 * 3600),
            deep_lookback: Duration::from_secs(36 * 3600),
            deep_every: Duration::from_secs(6 * 3600),
            backfill: api.max_backfill(),
            window: Duration::from_secs(86_400),
            page_size: match api {
                Api::Graph => Some(5000),
                Api::Reporting => None,
            },
            reporting_format: ReportingFormat::Light,
            quota: match api {
                Api::Graph => Some(Quota::GRAPH),
                Api::Reporting => None,
            },
            login_url: constant_url("https://login.microsoftonline.com"),
            api_url: constant_url(api.default_api_url()),
            token_version: TokenVersion::V2,
            audience: api.default_audience().to_owned(),
            request_timeout: Duration::from_secs(120),
            max_page_bytes: 64 * 1024 * 1024,
            max_window_records: 200_000,
            retry: RetryPolicy::default(),
        }
    }

    /// The store key of this tenant's checkpoint.
    pub fn checkpoint_key(&self) -> String {
        format!("collect/{}", self.name)
    }
}

/// A URL written in this file; not input-dependent.
fn constant_url(text: &str) -> Url {
    Url::parse(text).expect("constant URL parses")
}

/// A configuration problem with its place in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
            path: path.to_owned(),
            line: None,
            column: None,
            message: format!("cannot read: {error}"),
        })?;
        Config::parse(&text, path)
    }

    /// Validates `text`, the contents of `path` (used in messages and to resolve a relative
    /// `client_secret_file`). Secrets given by file or environment are read now.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        raw::parse(text, path, &|name| std::env::var(name).ok())
    }
}
