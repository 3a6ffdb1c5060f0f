//! Whole collections from the API simulator, one per fault, compared with its ground truth:
//! every identity once, with its final status.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use mailscope_collect::{
    Api, Collector, CollectorState, MemorySink, OrganizationSource, RunReport, Secret, Shutdown,
    TenantConfig, collect_once,
};
use mailscope_record::Record;
use mailscope_simulator::http::{Faults, Onboarding, Quota, Simulator, SimulatorConfig, serve};

use crate::capture::Capture;

const SECRET: &str = "Qw7~simulated-client-secret-0042";

/// A tenant whose every observation is already visible: received 8 to 2 days ago.
fn simulator_config(seed: u64, messages: u64, faults: Faults) -> SimulatorConfig {
    let tenant = mailscope_simulator::TenantConfig {
        seed,
        messages,
        start: Utc::now() - TimeDelta::days(8),
        days: 6,
    };
    let mut config = SimulatorConfig::new(tenant);
    config.client_secret = SECRET.to_owned();
    // Faults, not the server's quota, are under test here.
    config.graph_quota = Quota {
        requests: 100_000,
        window: Duration::from_secs(300),
    };
    config.graph_page_size = 1000;
    config.rws_page_size = 400;
    config.faults = faults;
    config
}

async fn start(config: SimulatorConfig) -> Simulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve(listener, config).await.unwrap()
}

fn tenant(simulator: &Simulator, api: Api) -> TenantConfig {
    let mut config = TenantConfig::new(
        "simulated",
        api,
        simulator.tenant_id(),
        simulator.client_id(),
        Secret::new(simulator.client_secret()),
    );
    let base = url::Url::parse(&simulator.base_url()).unwrap();
    config.login_url = base.clone();
    config.api_url = base;
    config.settle = Duration::ZERO;
    config.backfill = Duration::from_secs(9 * 86_400);
    config.window = Duration::from_secs(3 * 86_400);
    config.quota = None;
    config.request_timeout = Duration::from_millis(1500);
    config.retry.initial = Duration::from_millis(10);
    config.retry.max = Duration::from_millis(100);
    config.retry.attempts = 10;
    if api == Api::Graph {
        config.page_size = Some(250);
    }
    config
}

/// The sink holds every identity of the ground truth once, with its final status as the API
/// shows it (the Reporting Web Service has no recalled status).
fn assert_matches_ground_truth(simulator: &Simulator, api: Api, sink: &MemorySink) {
    let truth: Vec<Record> = match api {
        Api::Graph => simulator.ground_truth(Utc::now()),
        Api::Reporting => simulator.ground_truth_reporting(Utc::now()),
    };
    assert!(!truth.is_empty());
    assert_eq!(sink.len(), truth.len(), "identities in the sink");
    for expected in &truth {
        let stored = sink.get(expected.identity()).unwrap_or_else(|| {
            panic!(
                "{} {} missing",
                expected.message_trace_id, expected.recipient_address
            )
        });
        assert_eq!(
            stored.status, expected.status,
            "{} {}",
            expected.message_trace_id, expected.recipient_address
        );
        assert_eq!(stored.sender_address, expected.sender_address);
        assert_eq!(stored.size, expected.size);
    }
}

async fn collect_with(api: Api, seed: u64, faults: Faults) -> (Simulator, RunReport) {
    let simulator = start(simulator_config(seed, 2500, faults)).await;
    let sink = MemorySink::new();
    let report = collect_once(tenant(&simulator, api), sink.clone(), Shutdown::never())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_matches_ground_truth(&simulator, api, &sink);
    (simulator, report)
}

fn faults(seed: u64, edit: impl FnOnce(&mut Faults)) -> Faults {
    let mut faults = Faults {
        seed,
        ..Faults::default()
    };
    edit(&mut faults);
    faults
}

#[tokio::test]
async fn graph_without_faults_matches_ground_truth() {
    let (simulator, report) = collect_with(Api::Graph, 1, Faults::default()).await;
    assert_eq!(report.fetch.retries, 0, "{report:?}");
    assert_eq!(simulator.stats().throttled(), 0);
}

#[tokio::test]
async fn reporting_without_faults_matches_ground_truth() {
    let (_, report) = collect_with(Api::Reporting, 2, Faults::default()).await;
    assert_eq!(report.fetch.retries, 0, "{report:?}");
}

#[tokio::test]
async fn graph_through_429_storms_matches_ground_truth() {
    let (simulator, report) = collect_with(Api::Graph, 3, faults(3, |f| f.throttle = 0.3)).await;
    assert!(simulator.stats().fault_throttled > 0);
    assert_eq!(report.fetch.throttled, simulator.stats().throttled());
}

#[tokio::test]
async fn graph_through_500_and_503_matches_ground_truth() {
    let (simulator, _) = collect_with(
        Api::Graph,
        4,
        faults(4, |f| {
            f.internal_error = 0.25;
            f.unavailable = 0.25;
        }),
    )
    .await;
    let stats = simulator.stats();
    assert!(stats.fault_internal_error + stats.fault_unavailable > 0);
}

#[tokio::test]
async fn graph_through_timeouts_matches_ground_truth() {
    let (simulator, _) = collect_with(
        Api::Graph,
        5,
        faults(5, |f| {
            f.timeout = 0.35;
            // Longer than the collector's request timeout: its own timer fires.
            f.stall = Duration::from_secs(20);
        }),
    )
    .await;
    assert!(simulator.stats().fault_timeout > 0);
}

#[tokio::test]
async fn graph_through_truncated_pages_matches_ground_truth() {
    let (simulator, _) = collect_with(Api::Graph, 6, faults(6, |f| f.truncate = 0.3)).await;
    assert!(simulator.stats().fault_truncated > 0);
}

#[tokio::test]
async fn graph_through_sign_in_pages_matches_ground_truth() {
    let (simulator, _) = collect_with(Api::Graph, 7, faults(7, |f| f.html = 0.3)).await;
    assert!(simulator.stats().fault_html > 0);
}

/// Links that expire on nine requests in ten: a window of many pages almost never reaches
/// its last page in one pass, so the collector resumes each window where its pages reached
/// (Graph lists newest first) and still collects everything exactly once.
#[tokio::test]
async fn graph_through_links_that_nearly_always_expire_resumes_windows_and_matches_ground_truth() {
    let (simulator, report) =
        collect_with(Api::Graph, 9, faults(9, |f| f.expired_link = 0.9)).await;
    assert!(simulator.stats().fault_expired_link > 0);
    assert!(report.fetch.window_resumes > 0, "{report:?}");
}

#[tokio::test]
async fn graph_through_expired_links_matches_ground_truth() {
    let (simulator, report) =
        collect_with(Api::Graph, 8, faults(8, |f| f.expired_link = 0.5)).await;
    assert!(simulator.stats().fault_expired_link > 0);
    assert_eq!(
        report.fetch.window_restarts,
        simulator.stats().fault_expired_link
    );
}

#[tokio::test]
async fn graph_through_token_expiry_mid_paging_matches_ground_truth() {
    let (simulator, report) = collect_with(
        Api::Graph,
        9,
        faults(9, |f| f.token_expiry = Some(Duration::from_millis(150))),
    )
    .await;
    assert!(simulator.stats().expired_tokens > 0 || report.token_requests == 1);
}

#[tokio::test]
async fn reporting_through_every_fault_matches_ground_truth() {
    let (simulator, _) = collect_with(
        Api::Reporting,
        10,
        faults(10, |f| {
            f.throttle = 0.08;
            f.internal_error = 0.08;
            f.unavailable = 0.08;
            f.timeout = 0.04;
            f.stall = Duration::from_secs(20);
            f.truncate = 0.08;
            f.html = 0.08;
            f.expired_link = 0.15;
            f.token_expiry = Some(Duration::from_millis(300));
        }),
    )
    .await;
    let stats = simulator.stats();
    let injected = stats.fault_throttled
        + stats.fault_internal_error
        + stats.fault_unavailable
        + stats.fault_timeout
        + stats.fault_truncated
        + stats.fault_html
        + stats.fault_expired_link;
    assert!(injected > 0, "{stats:?}");
}

/// The fault mix (throttling, 5xx, timeouts, truncated and HTML pages, links expiring
/// on one request in twenty, tokens expiring mid-paging) over windows of some 30 pages each:
/// a window rarely reaches its last page in one pass, so it resumes where its pages reached,
/// and the backfill ends equal to the ground truth, identity by identity.
#[tokio::test]
async fn graph_backfill_of_many_pages_through_every_fault_converges_to_ground_truth() {
    let simulator = start(simulator_config(
        12,
        2500,
        faults(12, |f| {
            f.throttle = 0.2;
            f.internal_error = 0.05;
            f.timeout = 0.02;
            f.stall = Duration::from_secs(20);
            f.truncate = 0.03;
            f.html = 0.03;
            f.expired_link = 0.05;
            f.token_expiry = Some(Duration::from_millis(400));
        }),
    ))
    .await;
    let sink = MemorySink::new();
    let mut config = tenant(&simulator, Api::Graph);
    config.page_size = Some(25);
    config.retry.attempts = 30;
    let report = collect_once(config, sink.clone(), Shutdown::never())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_matches_ground_truth(&simulator, Api::Graph, &sink);
    assert!(simulator.stats().fault_expired_link > 0);
    assert!(report.fetch.window_resumes > 0, "{report:?}");
}

/// A backfill against a quota shortened to 100 requests per 5 seconds: the client's limiter
/// keeps it just under the quota. The achieved rate is printed, not asserted (no timed
/// assertions); only the absence of a 429 storm is.
#[tokio::test]
async fn graph_backfill_uses_the_quota_without_a_429_storm() {
    let quota = Quota {
        requests: 100,
        window: Duration::from_secs(5),
    };
    let mut config = simulator_config(11, 12_000, Faults::default());
    config.graph_quota = quota;
    // The run lasts at least two quota periods: tokens must be renewed before they expire.
    config.token_lifetime = Duration::from_secs(4);
    let simulator = start(config).await;
    let sink = MemorySink::new();
    let mut tenant = tenant(&simulator, Api::Graph);
    tenant.page_size = Some(50);
    tenant.quota = Some(mailscope_collect::Quota {
        requests: quota.requests,
        period: quota.window,
    });
    let report = collect_once(tenant, sink.clone(), Shutdown::never())
        .await
        .unwrap();
    assert_matches_ground_truth(&simulator, Api::Graph, &sink);
    let rate = report.rate;
    let span = rate.span().as_secs_f64();
    println!(
        "throttling: {} requests in {span:.2} s at a quota of 100/5s; the quota allows them in \
         {:.2} s at the fastest; achieved/allowed rate = {:.3}; client waits {}; server 429s {}",
        rate.requests,
        rate.fastest_span().unwrap_or_default().as_secs_f64(),
        rate.utilization().unwrap_or_default(),
        rate.waits,
        simulator.stats().quota_throttled,
    );
    assert!(rate.requests > u64::from(quota.requests), "{rate:?}");
    assert!(
        simulator.stats().quota_throttled <= 2,
        "{:?}",
        simulator.stats()
    );
}

#[tokio::test]
async fn client_secret_never_appears_in_logs_or_errors() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let simulator = start(simulator_config(
        12,
        500,
        faults(12, |f| {
            f.throttle = 0.1;
            f.html = 0.1;
            f.truncate = 0.1;
            f.token_expiry = Some(Duration::from_millis(100));
        }),
    ))
    .await;
    let config = tenant(&simulator, Api::Graph);
    assert!(!format!("{config:?}").contains(SECRET));
    collect_once(config.clone(), MemorySink::new(), Shutdown::never())
        .await
        .unwrap();
    let mut wrong = config;
    wrong.name = "wrong".to_owned();
    wrong.client_secret = Secret::new(format!("{SECRET}-but-wrong"));
    let error = collect_once(wrong, MemorySink::new(), Shutdown::never())
        .await
        .unwrap_err();
    let logs = capture.text();
    assert!(logs.contains("window committed"), "{logs}");
    for shown in [logs, error.to_string(), format!("{error:?}")] {
        assert!(!shown.contains(SECRET), "{shown}");
    }
}

/// Graph rows carry no `Organization`: without one configured, the collector takes the
/// tenant's initial domain from `GET /organization`, the value the Reporting Web Service
/// writes, and its status says where it came from.
#[tokio::test]
async fn graph_rows_get_the_tenant_s_initial_domain_when_none_is_configured() {
    let simulator = start(simulator_config(11, 400, Faults::default())).await;
    let sink = MemorySink::new();
    let collector = Collector::new(tenant(&simulator, Api::Graph), sink.clone()).unwrap();
    let status = collector.status();
    assert_eq!(status.snapshot().state, CollectorState::Starting);
    let report = collector
        .collect_until_caught_up(Shutdown::never())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let initial = simulator.tenant().organization.clone();
    assert!(initial.ends_with(".onmicrosoft.com"), "{initial}");
    assert_eq!(report.organization.as_deref(), Some(initial.as_str()));
    assert_eq!(report.organization_source, OrganizationSource::Tenant);
    assert_matches_ground_truth(&simulator, Api::Graph, &sink);
    let records = sink.records();
    assert!(!records.is_empty());
    assert!(
        records.iter().all(|r| r.organization == initial),
        "every row names the tenant"
    );
    let seen = status.snapshot();
    assert_eq!(seen.state, CollectorState::Stopped);
    assert_eq!(seen.organization.as_deref(), Some(initial.as_str()));
    assert_eq!(seen.organization_source, OrganizationSource::Tenant);
    assert_eq!(seen.checkpoint, report.checkpoint);
    assert_eq!(seen.records, report.committed.received);
    assert!(seen.polls >= 1 && seen.last_success.is_some(), "{seen:?}");
    assert_eq!(seen.last_error, None);
}

/// Without the permission to read the organization, rows are still collected, without an
/// organization, and the status says what to do; a configured organization asks nothing.
#[tokio::test]
async fn a_refused_organization_is_explained_and_a_configured_one_is_used() {
    let mut config = simulator_config(12, 300, Faults::default());
    config.organization_readable = false;
    let simulator = start(config).await;
    let sink = MemorySink::new();
    let collector = Collector::new(tenant(&simulator, Api::Graph), sink.clone()).unwrap();
    let status = collector.status();
    let report = collector
        .collect_until_caught_up(Shutdown::never())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(report.organization, None);
    assert_eq!(report.organization_source, OrganizationSource::None);
    assert_matches_ground_truth(&simulator, Api::Graph, &sink);
    assert!(sink.records().iter().all(|r| r.organization.is_empty()));
    let note = status.snapshot().organization_note.unwrap_or_default();
    for part in [
        "HTTP 403",
        "Insufficient privileges",
        "Organization.Read.All",
    ] {
        assert!(note.contains(part), "{part:?} missing from {note}");
    }

    let sink = MemorySink::new();
    let mut configured = tenant(&simulator, Api::Graph);
    configured.organization = Some("fabrikam.example".to_owned());
    let report = collect_once(configured, sink.clone(), Shutdown::never())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(report.organization.as_deref(), Some("fabrikam.example"));
    assert_eq!(report.organization_source, OrganizationSource::Configured);
    assert!(
        sink.records()
            .iter()
            .all(|r| r.organization == "fabrikam.example")
    );
}

/// The set-up mistakes a new tenant meets: each refusal names the mistake and what to do,
/// and never the secret.
#[tokio::test]
async fn each_set_up_mistake_fails_with_what_to_do() {
    for (onboarding, api, expected) in [
        (
            Onboarding::ExpiredSecret,
            Api::Graph,
            [
                "AADSTS7000222",
                "create a new one under the app registration",
            ],
        ),
        (
            Onboarding::NoServicePrincipal,
            Api::Graph,
            ["HTTP 401", "New-MgServicePrincipal -AppId 8bd644d1"],
        ),
        (
            Onboarding::NoPermission,
            Api::Graph,
            [
                "HTTP 403",
                "ExchangeMessageTrace.Read.All with an administrator's consent",
            ],
        ),
        (
            Onboarding::NoPermission,
            Api::Reporting,
            ["HTTP 403", "ReportingWebService.Read.All"],
        ),
    ] {
        let mut config = simulator_config(21, 50, Faults::default());
        config.onboarding = Some(onboarding);
        let simulator = start(config).await;
        let error = collect_once(
            tenant(&simulator, api),
            MemorySink::new(),
            Shutdown::never(),
        )
        .await
        .expect_err("a tenant set up wrong cannot be collected")
        .to_string();
        for part in expected {
            assert!(
                error.contains(part),
                "{onboarding:?} {api:?}: {part:?} missing from {error}"
            );
        }
        assert!(!error.contains(SECRET), "{error}");
    }

    let simulator = start(simulator_config(22, 50, Faults::default())).await;
    let cases = [
        (
            "tenant_id",
            ["AADSTS90002", "tenant_id must be the directory (tenant) id"],
        ),
        (
            "client_id",
            [
                "AADSTS700016",
                "client_id must be the application (client) id",
            ],
        ),
        ("client_secret", ["AADSTS7000215", "not its secret id"]),
    ];
    for (wrong, expected) in cases {
        let mut config = tenant(&simulator, Api::Graph);
        match wrong {
            "tenant_id" => config.tenant_id = "nowhere.example".to_owned(),
            "client_id" => config.client_id = "11111111-2222-3333-4444-555555555555".to_owned(),
            _ => config.client_secret = Secret::new("not-the-secret"),
        }
        let error = collect_once(config, MemorySink::new(), Shutdown::never())
            .await
            .expect_err("refused")
            .to_string();
        for part in expected {
            assert!(error.contains(part), "{part:?} missing from {error}");
        }
    }
}

/// A long-running collector keeps trying a tenant set up wrong, and its status shows the
/// refusal with what to do until the set-up is mended.
#[tokio::test]
async fn a_failing_collector_shows_the_refusal_and_the_fix_in_its_status() {
    let mut config = simulator_config(23, 50, Faults::default());
    config.onboarding = Some(Onboarding::NoPermission);
    let simulator = start(config).await;
    let collector = Collector::new(tenant(&simulator, Api::Graph), MemorySink::new()).unwrap();
    let status = collector.status();
    let (trigger, shutdown) = Shutdown::channel();
    let running = tokio::spawn(collector.run(shutdown));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let seen = loop {
        let seen = status.snapshot();
        if seen.state == CollectorState::Failing {
            break seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never failing: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let error = seen.last_error.clone().unwrap_or_default();
    assert!(error.contains("ExchangeMessageTrace.Read.All"), "{error}");
    assert!(
        seen.failed_polls >= 1 && seen.last_error_at.is_some(),
        "{seen:?}"
    );
    trigger.shutdown();
    let report = running.await.unwrap().unwrap();
    assert!(report.failed_polls >= 1);
    assert_eq!(status.snapshot().state, CollectorState::Stopped);
}

/// The first poll of a run re-reads the deep look-back, so rows and statuses that arrived
/// late are collected: it reads exactly the identities received from `deep_lookback` before
/// the checkpoint on; later polls of the run read the short look-back.
#[tokio::test]
async fn the_first_poll_of_a_run_rereads_the_deep_lookback() {
    let simulator = start(simulator_config(24, 600, Faults::default())).await;
    let sink = MemorySink::new();
    let mut config = tenant(&simulator, Api::Graph);
    let first = collect_once(config.clone(), sink.clone(), Shutdown::never())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        first.deep_polls, 0,
        "a backfill has no checkpoint to look back from"
    );
    let checkpoint = sink
        .stored_checkpoint(&config.checkpoint_key())
        .and_then(|c| c["collected_until"].as_str().map(str::to_owned))
        .expect("a checkpoint");
    let checkpoint = chrono::DateTime::parse_from_rfc3339(&checkpoint)
        .unwrap()
        .to_utc();
    config.deep_lookback = Duration::from_secs(5 * 86_400);
    let second = collect_once(config, sink.clone(), Shutdown::never())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(second.deep_polls, 1, "{second:?}");
    let start = checkpoint - TimeDelta::days(5);
    let start = start - TimeDelta::nanoseconds(i64::from(start.timestamp_subsec_nanos()));
    let expected = simulator
        .ground_truth(Utc::now())
        .iter()
        .filter(|r| r.received >= start)
        .count() as u64;
    assert!(expected > 0);
    assert_eq!(second.fetch.records, expected, "{second:?}");
    assert_matches_ground_truth(&simulator, Api::Graph, &sink);
}
