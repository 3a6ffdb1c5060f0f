//! The store against a loopback HTTP server: a good feed, then a 500, then garbage (the last
//! good copy stays in use and the status shows the error), conditional requests, minimum
//! intervals, restarts without the network, the size cap and the run loop.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use mailscope_threat::{FeedConfig, FeedFormat, FeedLocation, RefreshOutcome, ThreatStore};

use crate::fixture;

/// What the test server answers, and what it saw.
#[derive(Debug, Default)]
struct Plan {
    status: u16,
    body: Vec<u8>,
    etag: Option<String>,
    hits: usize,
    if_none_match: Option<String>,
}

type Shared = Arc<Mutex<Plan>>;

async fn serve_feed(State(plan): State<Shared>, request_headers: HeaderMap) -> Response {
    let mut plan = plan.lock().unwrap();
    plan.hits += 1;
    plan.if_none_match = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let status = StatusCode::from_u16(plan.status).unwrap();
    if status.is_success() && plan.etag.is_some() && plan.if_none_match == plan.etag {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mut headers = HeaderMap::new();
    if let Some(etag) = &plan.etag {
        headers.insert(header::ETAG, etag.parse().unwrap());
    }
    (status, headers, plan.body.clone()).into_response()
}

async fn start_server(plan: Shared) -> SocketAddr {
    let app = Router::new()
        .route("/drop.txt", get(serve_feed))
        .with_state(plan);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    address
}

fn set(plan: &Shared, status: u16, body: &[u8], etag: Option<&str>) {
    let mut plan = plan.lock().unwrap();
    plan.status = status;
    plan.body = body.to_vec();
    plan.etag = etag.map(str::to_owned);
}

fn hits(plan: &Shared) -> usize {
    plan.lock().unwrap().hits
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
}

fn drop_feed(address: SocketAddr) -> FeedConfig {
    let mut config = FeedConfig::new(
        "drop",
        FeedLocation::Url(format!("http://{address}/drop.txt")),
        FeedFormat::SpamhausDrop,
    );
    config.timeout = Duration::from_secs(5);
    config.confidence = Some(80);
    config
}

fn listed(store: &ThreatStore) -> bool {
    let ip: IpAddr = "1.10.16.1".parse().unwrap();
    store.index().lookup_ip(ip, t0()).is_some()
}

#[tokio::test]
async fn the_last_good_copy_survives_errors_and_restarts() {
    let plan: Shared = Arc::default();
    set(&plan, 200, &fixture("drop.txt"), Some("\"v1\""));
    let address = start_server(Arc::clone(&plan)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = drop_feed(address);

    let store = ThreatStore::open(dir.path(), vec![config.clone()]).unwrap();
    assert!(store.index().is_empty());
    assert_eq!(store.refresh_due(t0()), ["drop"]);

    // A good feed.
    let outcome = store.refresh_feed("drop", t0()).await;
    assert_eq!(outcome, RefreshOutcome::Updated { indicators: 7 });
    assert!(listed(&store));
    let matches = store
        .index()
        .lookup_text("1.10.16.1", t0())
        .map(|m| m.best().confidence);
    assert_eq!(matches, Some(Some(80)), "the configured confidence applies");
    let stored = std::fs::read(dir.path().join("drop.feed")).unwrap();
    assert_eq!(stored, fixture("drop.txt"));
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("drop.meta.json")).unwrap()).unwrap();
    assert_eq!(meta["etag"], "\"v1\"");
    assert_eq!(meta["version"], 1);
    let status = &store.status().feeds[0];
    assert_eq!(status.indicators, 7);
    assert_eq!(status.line_errors, 1);
    assert_eq!(
        status.sample_errors,
        ["drop:9: \"300.1.1.1\" is not an IP address"]
    );
    assert_eq!(status.last_success, Some(t0()));
    assert_eq!(status.next_fetch, Some(t0() + Span::hours(6)));

    // The minimum interval (an hour for Spamhaus data) holds even when asked directly.
    assert_eq!(hits(&plan), 1);
    let outcome = store.refresh_feed("drop", t0() + Span::minutes(10)).await;
    assert_eq!(
        outcome,
        RefreshOutcome::TooSoon {
            next_allowed: t0() + Span::hours(1)
        }
    );
    assert_eq!(hits(&plan), 1, "no request before the minimum interval");

    // A server error.
    set(&plan, 500, b"internal error", None);
    let t1 = t0() + Span::hours(1);
    let outcome = store.refresh_feed("drop", t1).await;
    assert_eq!(
        outcome,
        RefreshOutcome::Failed {
            error: "drop: HTTP 500".to_owned()
        }
    );
    assert!(listed(&store), "the last good copy is still in use");
    let status = &store.status().feeds[0];
    assert_eq!(status.last_error.as_deref(), Some("drop: HTTP 500"));
    assert_eq!(status.last_success, Some(t0()));
    assert_eq!(status.indicators, 7);
    assert_eq!(status.last_attempt, Some(t1));
    assert_eq!(
        status.next_fetch,
        Some(t1 + Span::hours(1)),
        "retry after the minimum"
    );

    // An HTML page with status 200.
    set(&plan, 200, &fixture("error.html"), None);
    let t2 = t0() + Span::hours(2);
    let outcome = store.refresh_feed("drop", t2).await;
    assert_eq!(
        outcome,
        RefreshOutcome::Failed {
            error: "drop: the body is an HTML or XML page, not a feed (an error or login page?)"
                .to_owned()
        }
    );
    assert!(listed(&store));

    // Garbage text with status 200.
    set(&plan, 200, b"lorem ipsum dolor\nsit amet\n", None);
    let t3 = t0() + Span::hours(3);
    let outcome = store.refresh_feed("drop", t3).await;
    assert_eq!(
        outcome,
        RefreshOutcome::Failed {
            error: "drop: no valid indicator in the feed; first error on line 1: expected one \
                    address or network per line, found \"lorem ipsum dolor\""
                .to_owned()
        }
    );
    assert!(listed(&store));
    assert_eq!(
        std::fs::read(dir.path().join("drop.feed")).unwrap(),
        fixture("drop.txt"),
        "the stored copy is the last good one"
    );
    assert!(
        store.status().feeds[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("no valid indicator")
    );

    // Unchanged on the server: a conditional request answered 304.
    set(&plan, 200, &fixture("drop.txt"), Some("\"v1\""));
    let t4 = t0() + Span::hours(4);
    assert_eq!(
        store.refresh_feed("drop", t4).await,
        RefreshOutcome::NotModified
    );
    assert_eq!(
        plan.lock().unwrap().if_none_match.as_deref(),
        Some("\"v1\"")
    );
    let status = &store.status().feeds[0];
    assert_eq!(status.last_error, None);
    assert_eq!(status.last_success, Some(t4));
    let served_before_restart = hits(&plan);
    drop(store);

    // A restart loads the stored copy without the network, and waits for the schedule.
    let store = ThreatStore::open(dir.path(), vec![config]).unwrap();
    assert!(listed(&store));
    assert_eq!(store.status().feeds[0].indicators, 7);
    assert_eq!(store.status().feeds[0].last_success, Some(t0()));
    assert!(store.refresh_due(t0() + Span::minutes(30)).is_empty());
    assert_eq!(store.refresh_due(t0() + Span::hours(6)), ["drop"]);
    assert_eq!(hits(&plan), served_before_restart, "opening never fetches");
    let status = serde_json::to_value(store.status()).unwrap();
    assert_eq!(status["feeds"][0]["name"], "drop");
    assert_eq!(status["index"]["networks_v4"], 7);
}

#[tokio::test]
async fn a_body_over_the_size_cap_is_refused() {
    let plan: Shared = Arc::default();
    set(&plan, 200, &fixture("drop.txt"), None);
    let address = start_server(Arc::clone(&plan)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = drop_feed(address);
    config.max_bytes = 100;
    let store = ThreatStore::open(dir.path(), vec![config]).unwrap();
    let outcome = store.refresh_feed("drop", t0()).await;
    let RefreshOutcome::Failed { error } = outcome else {
        panic!("expected a failure, got {outcome:?}");
    };
    assert!(error.contains("over the 100-byte limit"), "{error}");
    assert!(!dir.path().join("drop.feed").exists());
}

#[tokio::test]
async fn an_unreachable_server_is_recorded_as_the_feeds_error() {
    // Bind and drop a listener so that the port is closed.
    let address = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let store = ThreatStore::open(dir.path(), vec![drop_feed(address)]).unwrap();
    let outcome = store.refresh_feed("drop", t0()).await;
    let RefreshOutcome::Failed { error } = outcome else {
        panic!("expected a failure, got {outcome:?}");
    };
    assert!(error.starts_with("drop: request failed"), "{error}");
    assert!(store.index().is_empty());
}

#[tokio::test]
async fn file_feeds_load_at_open_and_reload_on_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundle.json");
    std::fs::write(&path, fixture("bundle.json")).unwrap();
    let config = FeedConfig::new("cert", FeedLocation::File(path.clone()), FeedFormat::Auto);
    let store = ThreatStore::open(&dir.path().join("store"), vec![config]).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    let index = store.index();
    let found = index.lookup_text("billing@NORTHWIND-invoices.example", now);
    assert_eq!(
        found.unwrap().best().source_detail.as_deref(),
        Some("Northwind CERT")
    );
    // A broken replacement keeps the loaded copy.
    std::fs::write(&path, b"{\"type\": \"bundle\", \"objects\": [").unwrap();
    let later = Utc::now() + Span::minutes(1);
    let outcome = store.refresh_feed("cert", later).await;
    assert!(
        matches!(outcome, RefreshOutcome::Failed { .. }),
        "{outcome:?}"
    );
    assert_eq!(store.index().stats().indicators, 5);
}

#[tokio::test]
async fn the_run_loop_fetches_due_feeds_and_stops_on_shutdown() {
    let plan: Shared = Arc::default();
    set(&plan, 200, &fixture("drop.txt"), None);
    let address = start_server(Arc::clone(&plan)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ThreatStore::open(dir.path(), vec![drop_feed(address)]).unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn({
        let store = Arc::clone(&store);
        async move {
            store
                .run(async {
                    let _ = stopped.await;
                })
                .await;
        }
    });
    for _ in 0..100 {
        if listed(&store) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(listed(&store), "the run loop fetched the due feed");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run stops on shutdown")
        .unwrap();
    assert_eq!(hits(&plan), 1, "not fetched again before its interval");
}

async fn serve_misp(
    State(files): State<Arc<std::collections::HashMap<String, Vec<u8>>>>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    match files.get(&name) {
        Some(body) => (StatusCode::OK, body.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[tokio::test]
async fn a_misp_feed_directory_is_read_through_its_manifest() {
    let mut files = std::collections::HashMap::new();
    files.insert("manifest.json".to_owned(), fixture("misp_manifest.json"));
    files.insert(
        "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f.json".to_owned(),
        fixture("misp_event.json"),
    );
    // The older event listed in the manifest is missing on the server (404).
    let app = Router::new()
        .route("/feed/{name}", get(serve_misp))
        .with_state(Arc::new(files));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let config = FeedConfig::new(
        "circl",
        FeedLocation::Url(format!("http://{address}/feed/")),
        FeedFormat::MispFeed,
    );
    let store = ThreatStore::open(dir.path(), vec![config.clone()]).unwrap();
    let outcome = store.refresh_feed("circl", t0()).await;
    assert_eq!(outcome, RefreshOutcome::Updated { indicators: 6 });
    let status = &store.status().feeds[0];
    assert_eq!(
        status.sample_errors[0],
        "circl:11: manifest.json: event 0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d: circl: HTTP 404"
    );
    let index = store.index();
    let found = index
        .lookup_text("x@mail.invoice-portal.example", t0())
        .unwrap();
    assert_eq!(found.best().actors, ["TA577"]);
    drop(index);
    drop(store);
    // The assembled events are the stored copy, loaded again without the network.
    let store = ThreatStore::open(dir.path(), vec![config]).unwrap();
    assert_eq!(store.status().feeds[0].indicators, 6);
}

#[tokio::test]
async fn a_version_1_store_directory_loads() {
    // A checked-in copy of a store directory as version 1 writes it.
    let dir = tempfile::tempdir().unwrap();
    for name in ["drop.feed", "drop.meta.json"] {
        std::fs::copy(
            crate::fixture_path(&format!("store-v1/{name}")),
            dir.path().join(name),
        )
        .unwrap();
    }
    let config = FeedConfig::new(
        "drop",
        FeedLocation::Url("http://127.0.0.1:9/drop_v4.json".to_owned()),
        FeedFormat::SpamhausDropJson,
    );
    let store = ThreatStore::open(dir.path(), vec![config]).unwrap();
    let status = &store.status().feeds[0];
    let fetched = Utc.with_ymd_and_hms(2026, 11, 20, 8, 15, 2).unwrap();
    assert_eq!(status.fetched_at, Some(fetched));
    assert_eq!(status.indicators, 5);
    assert_eq!(status.line_errors, 2);
    assert_eq!(status.next_fetch, Some(fetched + Span::hours(6)));
    assert!(listed(&store));
    // A copy fetched from another URL is not used for this feed.
    let moved = FeedConfig::new(
        "drop",
        FeedLocation::Url("http://127.0.0.1:9/elsewhere.json".to_owned()),
        FeedFormat::SpamhausDropJson,
    );
    let store = ThreatStore::open(dir.path(), vec![moved]).unwrap();
    assert_eq!(store.status().feeds[0].indicators, 0);
}
