//! Paging and per-page failures, against the mock.

use std::sync::atomic::Ordering;

use mailscope_collect::{Api, Error, MemorySink, ReportingFormat, Shutdown, collect_once};

use crate::assert_sink_matches;
use crate::mock::{Fault, Mock, rows};

#[tokio::test]
async fn graph_reads_every_page_with_one_token() {
    let mock = Mock::start(rows(250), 40).await;
    let sink = MemorySink::new();
    let report = collect_once(mock.tenant(Api::Graph), sink.clone(), Shutdown::never())
        .await
        .unwrap();
    assert_sink_matches(&sink, &mock.state.rows.lock().unwrap());
    assert_eq!(mock.token_requests(), 1);
    assert!(report.fetch.pages >= 7, "{report:?}");
    assert_eq!(report.fetch.retries, 0);
    let requests = mock.state.requests.lock().unwrap();
    let first = &requests[0];
    assert!(
        first.contains("$filter=receivedDateTime%20ge%20"),
        "{first}"
    );
    assert!(first.contains("$top=40"), "{first}");
    assert!(sink.stored_checkpoint("collect/mock").is_some());
}

/// Graph names a recalled message `recalled` only when asked (`Prefer:
/// include-unknown-enum-members`); the collector asks, so recalled mail is stored as such.
#[tokio::test]
async fn graph_asks_for_recalled_and_stores_it() {
    let mut rows = rows(90);
    for row in rows.iter_mut().step_by(7) {
        row.status = mailscope_record::Status::Recalled;
    }
    let mock = Mock::start(rows, 40).await;
    let sink = MemorySink::new();
    collect_once(mock.tenant(Api::Graph), sink.clone(), Shutdown::never())
        .await
        .unwrap();
    assert_sink_matches(&sink, &mock.state.rows.lock().unwrap());
    let recalled = sink
        .records()
        .iter()
        .filter(|r| r.status == mailscope_record::Status::Recalled)
        .count();
    assert_eq!(recalled, 13);
}

#[tokio::test]
async fn reporting_light_follows_relative_next_links() {
    let mock = Mock::start(rows(180), 50).await;
    let sink = MemorySink::new();
    collect_once(mock.tenant(Api::Reporting), sink.clone(), Shutdown::never())
        .await
        .unwrap();
    assert_sink_matches(&sink, &mock.state.rows.lock().unwrap());
    assert!(mock.state.relative_hits.load(Ordering::SeqCst) >= 2);
    let requests = mock.state.requests.lock().unwrap();
    assert!(
        requests[0].contains("StartDate%20eq%20datetime%27"),
        "{}",
        requests[0]
    );
    let record = sink.records().pop().unwrap();
    assert_eq!(record.organization, "contoso.com");
}

#[tokio::test]
async fn reporting_verbose_follows_next_links() {
    let mock = Mock::start(rows(120), 50).await;
    let sink = MemorySink::new();
    let mut config = mock.tenant(Api::Reporting);
    config.reporting_format = ReportingFormat::Verbose;
    collect_once(config, sink.clone(), Shutdown::never())
        .await
        .unwrap();
    assert_sink_matches(&sink, &mock.state.rows.lock().unwrap());
    assert!(mock.state.relative_hits.load(Ordering::SeqCst) >= 1);
    assert!(mock.state.requests.lock().unwrap()[0].contains("$format=json"));
}

/// Every kind of transient failure, in one run: nothing is lost, nothing is doubled.
fn every_fault() -> Vec<Fault> {
    vec![
        Fault::Status(429, Some("0")),
        Fault::Status(500, None),
        Fault::Status(502, None),
        Fault::Status(503, Some("0")),
        Fault::Status(504, None),
        Fault::Html,
        Fault::Truncate,
        // The first request of a window carries no skip token: served.
        Fault::ExpiredLink,
        Fault::ExpiredLink,
        Fault::RevokeTokens,
        Fault::ExpiredLink,
        Fault::ExpiredLink,
    ]
}

#[tokio::test]
async fn graph_retries_every_transient_failure_without_losing_rows() {
    let mock = Mock::start(rows(300), 30).await;
    mock.script(every_fault());
    let sink = MemorySink::new();
    let mut config = mock.tenant(Api::Graph);
    config.retry.attempts = 10;
    let report = collect_once(config, sink.clone(), Shutdown::never())
        .await
        .unwrap();
    assert_sink_matches(&sink, &mock.state.rows.lock().unwrap());
    assert_eq!(report.fetch.throttled, 1);
    assert!(report.fetch.retries >= 7, "{report:?}");
    assert!(report.fetch.window_restarts >= 1, "{report:?}");
    assert_eq!(mock.token_requests(), 2, "one refresh after the 401");
}

#[tokio::test]
async fn reporting_retries_every_transient_failure_without_losing_rows() {
    let mock = Mock::start(rows(300), 30).await;
    mock.script(every_fault());
    let sink = MemorySink::new();
    let mut config = mock.tenant(Api::Reporting);
    config.retry.attempts = 10;
    let report = collect_once(config, sink.clone(), Shutdown::never())
        .await
        .unwrap();
    assert_sink_matches(&sink, &mock.state.rows.lock().unwrap());
    assert!(report.fetch.window_restarts >= 1, "{report:?}");
}

#[tokio::test]
async fn persistent_failure_commits_nothing() {
    let mock = Mock::start(rows(50), 10).await;
    mock.script(std::iter::repeat_n(Fault::Status(503, None), 20));
    let sink = MemorySink::new();
    let error = collect_once(mock.tenant(Api::Graph), sink.clone(), Shutdown::never())
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::RetriesExhausted { attempts: 6, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("HTTP 503"), "{error}");
    assert_eq!(sink.commits(), 0);
    assert_eq!(sink.stored_checkpoint("collect/mock"), None);
}

#[tokio::test]
async fn forbidden_is_reported_without_retrying() {
    let mock = Mock::start(rows(50), 10).await;
    mock.script([Fault::Status(403, None)]);
    let error = collect_once(
        mock.tenant(Api::Graph),
        MemorySink::new(),
        Shutdown::never(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, Error::Api { status: 403, .. }), "{error}");
    assert_eq!(mock.data_requests(), 1);
}

/// Links that always expire within one second of rows: no page read narrows the window
/// (resuming needs the pages to pass a second), so windows are split while they can be and
/// once the smallest window still needs several pages the collector gives up rather than
/// loop.
#[tokio::test]
async fn expired_links_forever_give_up() {
    // 100 rows in one second: ten pages even in the smallest window, none narrowing it.
    let now = chrono::Utc::now();
    let second = now - chrono::TimeDelta::hours(1);
    let second =
        second - chrono::TimeDelta::nanoseconds(i64::from(second.timestamp_subsec_nanos()));
    let dense: Vec<_> = rows(100)
        .into_iter()
        .enumerate()
        .map(|(i, mut row)| {
            row.received = second + chrono::TimeDelta::milliseconds(i as i64 * 5);
            row
        })
        .collect();
    let mock = Mock::start(dense, 10).await;
    mock.script(std::iter::repeat_n(Fault::ExpiredLink, 10_000));
    let sink = MemorySink::new();
    let error = collect_once(mock.tenant(Api::Graph), sink.clone(), Shutdown::never())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("next link expired"), "{error}");
}

/// Every next link of a window of ten pages expires: each pass reads its first page and the
/// window is asked again for the part not yet read, so it converges a page at a time, never
/// reading a page twice but at the boundary second, without splitting; everything is
/// collected once.
#[tokio::test]
async fn a_window_whose_links_always_expire_resumes_a_page_at_a_time() {
    let mock = Mock::start(rows(100), 10).await;
    mock.script(std::iter::repeat_n(Fault::ExpiredLink, 40));
    let sink = MemorySink::new();
    let report = collect_once(mock.tenant(Api::Graph), sink.clone(), Shutdown::never())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(report.window_splits, 0, "{report:?}");
    assert!(report.fetch.window_resumes >= 9, "{report:?}");
    assert_eq!(
        report.fetch.window_resumes, report.fetch.window_restarts,
        "{report:?}"
    );
    // Each pass reads one new page (and at most the boundary second's rows again).
    assert!(report.fetch.pages <= 12, "{report:?}");
    assert_eq!(report.committed.inserted, 100, "{report:?}");
    assert_eq!(sink.len(), 100);
}
