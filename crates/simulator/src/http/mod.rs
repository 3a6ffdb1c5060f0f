//! The emulated Microsoft endpoints, served over HTTP from a synthetic tenant: Entra ID's
//! client-credentials token endpoint, the Reporting Web Service `MessageTrace` report and
//! Microsoft Graph `messageTraces`, with their paths, query syntax, page shapes, limits and
//! error bodies, plus seeded fault injection. `crates/simulator/README.md` describes what is
//! emulated and what is not.
//!
//! Time is the wall clock: an observation of the tenant becomes visible once its
//! `observed_at` has passed, and an identity shows its latest visible observation. Place the
//! tenant in time with [`TenantConfig::start`] (e.g. three weeks ago). [`Simulator::ground_truth`]
//! says what a correct client can have read by a given instant.
//!
//! Module map: `server` (routing, auth, quota, faults), `auth` (tokens), `rws` and `graph`
//! (the two APIs), `query` (page selection and skip tokens), `filter` (the `$filter` parser),
//! `page` (parameters and page bodies), `dataset` (the indexed observations), `faults`,
//! `responses` (every error body).

mod auth;
mod dataset;
mod faults;
mod filter;
mod graph;
mod page;
mod query;
mod responses;
mod rws;
mod server;

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mailscope_record::Record;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::tenant::{self, TenantConfig, TenantInfo};

pub use auth::Audience;
pub use faults::{FaultKind, FaultSpecError, Faults, parse_duration};
pub use filter::{Condition, FilterError, Literal, Op, parse as parse_filter};
pub use graph::{GRAPH_HISTORY_DAYS, GRAPH_MAX_TOP, GRAPH_MAX_WINDOW_DAYS};
pub use rws::RWS_HISTORY_DAYS;

use dataset::Dataset;
use server::{Counters, Limiter, Settings, State};

/// A request quota: at most `requests` in any sliding `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub requests: u32,
    pub window: Duration,
}

impl Default for Quota {
    /// Graph's message trace quota: 100 requests per 5 minutes per tenant.
    fn default() -> Self {
        Quota {
            requests: 100,
            window: Duration::from_secs(300),
        }
    }
}

/// `100/5m`: requests per window (the window as in the fault spec: `300s`, `5m`, …).
impl std::str::FromStr for Quota {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid quota {text:?}; expected requests/window, e.g. 100/5m");
        let (requests, window) = text.split_once('/').ok_or_else(bad)?;
        let requests: u32 = requests.trim().parse().map_err(|_| bad())?;
        let window = parse_duration(window).ok_or_else(bad)?;
        if requests == 0 || window.is_zero() {
            return Err(bad());
        }
        Ok(Quota { requests, window })
    }
}

/// Everything about one simulated service. `Debug` leaves the secret out.
#[derive(Clone)]
pub struct SimulatorConfig {
    pub tenant: TenantConfig,
    /// Directory (tenant) id, the `{tenant}` of the token URL; the tenant's domains work too.
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// Access token lifetime (`expires_in`).
    pub token_lifetime: Duration,
    /// Graph's per-tenant request quota.
    pub graph_quota: Quota,
    /// Graph page size when the request has no `$top`.
    pub graph_page_size: usize,
    /// Largest Reporting Web Service page.
    pub rws_page_size: usize,
    /// How long a next link (skip token) stays usable; `None`: until the server stops.
    pub link_lifetime: Option<Duration>,
    pub faults: Faults,
    /// Files served as they are under `/feeds/<name>` (threat-intelligence feeds for the
    /// demo and tests), fetched without a token.
    pub files: Vec<ServedFile>,
    /// Whether the application may read `GET /v1.0/organization` (the `Organization.Read.All`
    /// application permission, consented); without it Graph answers 403.
    pub organization_readable: bool,
    /// A tenant set up wrong, as new users' tenants often are: every request fails the way
    /// Microsoft's services fail then.
    pub onboarding: Option<Onboarding>,
}

/// The set-up mistakes a new tenant meets, each answered as Microsoft answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Onboarding {
    /// The client secret has expired: the token endpoint refuses it (AADSTS7000222).
    ExpiredSecret,
    /// The message trace service's service principal (app `8bd644d1-…`) was never created
    /// in the tenant: Graph answers 401.
    NoServicePrincipal,
    /// The app lacks the `ExchangeMessageTrace.Read.All` application permission or its admin
    /// consent: Graph answers 403. The Reporting Web Service, without
    /// `ReportingWebService.Read.All` and a role such as Global Reader, answers its own 403.
    NoPermission,
}

impl Onboarding {
    pub const ALL: [Onboarding; 3] = [
        Onboarding::ExpiredSecret,
        Onboarding::NoServicePrincipal,
        Onboarding::NoPermission,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Onboarding::ExpiredSecret => "expired-secret",
            Onboarding::NoServicePrincipal => "no-service-principal",
            Onboarding::NoPermission => "no-permission",
        }
    }
}

impl std::str::FromStr for Onboarding {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Onboarding::ALL
            .into_iter()
            .find(|o| o.name() == text.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Onboarding::ALL.iter().map(|o| o.name()).collect();
                format!(
                    "unknown set-up failure {text:?}: one of {}",
                    names.join(", ")
                )
            })
    }
}

/// A file the simulator serves under `/feeds/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedFile {
    /// The last path segment, lower case (`drop.txt`).
    pub name: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for SimulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorConfig")
            .field("tenant", &self.tenant)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("token_lifetime", &self.token_lifetime)
            .field("graph_quota", &self.graph_quota)
            .field("graph_page_size", &self.graph_page_size)
            .field("rws_page_size", &self.rws_page_size)
            .field("link_lifetime", &self.link_lifetime)
            .field("faults", &self.faults.to_string())
            .field(
                "files",
                &self
                    .files
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl SimulatorConfig {
    /// Defaults as the real services behave, with fixed example credentials.
    pub fn new(tenant: TenantConfig) -> SimulatorConfig {
        SimulatorConfig {
            tenant,
            tenant_id: "6f0c1c52-2b1e-4c4b-9b1a-3f1e2d4c5b6a".to_owned(),
            client_id: "0d3c5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f".to_owned(),
            client_secret: "simulator-secret".to_owned(),
            token_lifetime: Duration::from_secs(3599),
            graph_quota: Quota::default(),
            graph_page_size: 1000,
            rws_page_size: 2000,
            link_lifetime: None,
            faults: Faults::default(),
            files: Vec::new(),
            organization_readable: true,
            onboarding: None,
        }
    }

    fn validate(&self) -> Result<(), Error> {
        self.tenant.validate()?;
        self.faults.validate()?;
        let invalid = |what: &str| Err(Error::Config(what.to_owned()));
        if self.tenant_id.trim().is_empty() || self.client_id.trim().is_empty() {
            return invalid("tenant id and client id must not be empty");
        }
        if self.graph_quota.requests == 0 || self.graph_quota.window.is_zero() {
            return invalid("the Graph quota must admit at least one request per window");
        }
        if !(1..=GRAPH_MAX_TOP).contains(&self.graph_page_size) || self.rws_page_size == 0 {
            return invalid(
                "the Graph page size must be 1 to 5000 and the RWS page size at least 1",
            );
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Tenant(#[from] tenant::Error),
    #[error(transparent)]
    Faults(#[from] FaultSpecError),
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    #[error("simulator task failed: {0}")]
    Task(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Counters since the server started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every HTTP request.
    pub requests: u64,
    pub token_requests: u64,
    pub tokens_issued: u64,
    pub rws_requests: u64,
    pub graph_requests: u64,
    /// Complete `200` pages and the rows in them (truncated pages not included).
    pub pages_served: u64,
    pub rows_served: u64,
    /// `401`s from the data endpoints (missing, unknown, expired or wrong-audience tokens).
    pub unauthorized: u64,
    /// Of those, tokens refused because they had expired.
    pub expired_tokens: u64,
    /// `429`s from the Graph quota.
    pub quota_throttled: u64,
    /// `4xx` answers to malformed or out-of-range queries.
    pub bad_requests: u64,
    pub fault_throttled: u64,
    pub fault_internal_error: u64,
    pub fault_unavailable: u64,
    pub fault_timeout: u64,
    pub fault_truncated: u64,
    pub fault_html: u64,
    pub fault_expired_link: u64,
}

impl Stats {
    /// Every `429` sent, from the quota or injected.
    pub fn throttled(&self) -> u64 {
        self.quota_throttled + self.fault_throttled
    }

    /// How many times `kind` was injected.
    pub fn fault(&self, kind: FaultKind) -> u64 {
        match kind {
            FaultKind::Throttle => self.fault_throttled,
            FaultKind::InternalError => self.fault_internal_error,
            FaultKind::Unavailable => self.fault_unavailable,
            FaultKind::Timeout => self.fault_timeout,
            FaultKind::Truncate => self.fault_truncated,
            FaultKind::Html => self.fault_html,
            FaultKind::ExpiredLink => self.fault_expired_link,
        }
    }
}

/// A running simulator. Dropping it stops the server (without waiting); [`Simulator::shutdown`]
/// stops it and waits.
#[derive(Debug)]
pub struct Simulator {
    state: Arc<State>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// Generates the tenant (on a blocking thread; a few seconds per million records), then
/// serves the endpoints on `listener` until shutdown.
pub async fn serve(listener: TcpListener, config: SimulatorConfig) -> Result<Simulator> {
    config.validate()?;
    let addr = listener.local_addr()?;
    let tenant_config = config.tenant.clone();
    let dataset =
        tokio::task::spawn_blocking(move || tenant::generate(&tenant_config).map(Dataset::build))
            .await
            .map_err(|error| Error::Task(error.to_string()))??;
    let mut tenant_names = dataset.tenant.accepted_domains.clone();
    tenant_names.push(dataset.tenant.organization.clone());
    // Derived from the seed so skip tokens and request ids repeat across identical runs.
    let secret = config.tenant.seed.rotate_left(17) ^ 0x5eed_5151_c0de_0001;
    let (stop, stopped) = watch::channel(false);
    let state = Arc::new(State {
        dataset,
        directory: auth::Directory {
            tenant_id: config.tenant_id.clone(),
            tenant_names,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
        },
        tokens: auth::Tokens::new(secret),
        injector: faults::Injector::new(config.faults.clone()),
        limiter: Limiter::new(config.graph_quota),
        settings: Settings {
            token_lifetime: config.token_lifetime,
            graph_page_size: config.graph_page_size,
            rws_page_size: config.rws_page_size,
            link_lifetime: config.link_lifetime,
        },
        counters: Counters::default(),
        files: config.files.clone(),
        organization_readable: config.organization_readable,
        onboarding: std::sync::RwLock::new(config.onboarding),
        secret,
        addr,
        shutdown: stopped.clone(),
        sequence: AtomicU64::new(0),
    });
    let app = axum::Router::new()
        .fallback(server::dispatch)
        .with_state(Arc::clone(&state));
    let mut stopped = stopped;
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await
    });
    tracing::info!(%addr, identities = state.dataset.identities(), "simulator listening");
    Ok(Simulator {
        state,
        addr,
        stop,
        task: Some(task),
    })
}

impl Simulator {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr`: stands for `https://login.microsoftonline.com`,
    /// `https://reports.office365.com` and `https://graph.microsoft.com` alike.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The v2.0 token endpoint (`{base}/{tenant}/oauth2/v2.0/token`).
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.base_url(),
            self.state.directory.tenant_id
        )
    }

    /// The v1 token endpoint (`{base}/{tenant}/oauth2/token`, with `resource`).
    pub fn token_url_v1(&self) -> String {
        format!(
            "{}/{}/oauth2/token",
            self.base_url(),
            self.state.directory.tenant_id
        )
    }

    /// The Reporting Web Service root (`…/ecp/reportingwebservice/reporting.svc`).
    pub fn rws_base(&self) -> String {
        format!("{}/ecp/reportingwebservice/reporting.svc", self.base_url())
    }

    /// The `MessageTrace` report URL.
    pub fn rws_url(&self) -> String {
        format!("{}/MessageTrace", self.rws_base())
    }

    /// Graph's `messageTraces` collection (v1.0).
    pub fn graph_url(&self) -> String {
        format!(
            "{}/v1.0/admin/exchange/tracing/messageTraces",
            self.base_url()
        )
    }

    pub fn tenant_id(&self) -> &str {
        &self.state.directory.tenant_id
    }

    pub fn client_id(&self) -> &str {
        &self.state.directory.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.state.directory.client_secret
    }

    /// From now on, the tenant fails as one set up wrong does (`None`: set up right again),
    /// as when an administrator revokes the app's permission while a collector runs.
    pub fn set_onboarding(&self, onboarding: Option<Onboarding>) {
        *self
            .state
            .onboarding
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = onboarding;
    }

    /// The generated organisation (its domain is every record's `Organization`).
    pub fn tenant(&self) -> &TenantInfo {
        &self.state.dataset.tenant
    }

    /// Distinct identities (message × recipient) in the whole run.
    pub fn identities(&self) -> usize {
        self.state.dataset.identities()
    }

    /// Every identity visible at `at`, as its latest observation at or before `at`, whatever
    /// its age (the APIs' history limits are not applied). Records carry no `StartDate`,
    /// `EndDate` or `Index`.
    pub fn ground_truth(&self, at: DateTime<Utc>) -> Vec<Record> {
        self.ground_truth_received(at, DateTime::<Utc>::MIN_UTC..DateTime::<Utc>::MAX_UTC)
    }

    /// [`Simulator::ground_truth`] as the Reporting Web Service shows it: a recalled message
    /// reads as delivered (it has no recalled status).
    pub fn ground_truth_reporting(&self, at: DateTime<Utc>) -> Vec<Record> {
        let mut truth = self.ground_truth(at);
        for record in &mut truth {
            record.status = rws::reporting_status(std::mem::replace(
                &mut record.status,
                mailscope_record::Status::None,
            ));
        }
        truth
    }

    /// Like [`Simulator::ground_truth`], only identities with `received` in the half-open
    /// range (sorted by `received`).
    pub fn ground_truth_received(
        &self,
        at: DateTime<Utc>,
        received: Range<DateTime<Utc>>,
    ) -> Vec<Record> {
        self.state.dataset.ground_truth(at, received)
    }

    /// When the last observation becomes visible; from then on nothing the APIs return
    /// changes (except rows ageing out of their history). `None` for an empty tenant.
    pub fn settled_at(&self) -> Option<DateTime<Utc>> {
        self.state.dataset.settled_at()
    }

    pub fn stats(&self) -> Stats {
        self.state.counters.snapshot()
    }

    /// Stops accepting, releases stalled requests, and waits for open requests to finish.
    pub async fn shutdown(mut self) -> Result<()> {
        let _ = self.stop.send(true);
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|error| Error::Task(error.to_string()))?
                .map_err(Error::Io),
            None => Ok(()),
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_from_text() {
        assert_eq!("100/5m".parse::<Quota>(), Ok(Quota::default()));
        assert_eq!(
            "100/5s".parse::<Quota>(),
            Ok(Quota {
                requests: 100,
                window: Duration::from_secs(5)
            })
        );
        for bad in ["", "100", "0/5m", "100/0s", "x/5m", "100/soon"] {
            assert!(bad.parse::<Quota>().is_err(), "{bad}");
        }
    }
}
