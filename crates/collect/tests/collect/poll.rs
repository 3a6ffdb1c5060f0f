//! The poll loop: checkpoints, crashes, look-back, shutdown and window splitting.

use std::time::Duration;

use mailscope_collect::{Api, Checkpoint, Error, MemorySink, Shutdown, collect_once, run};
use mailscope_record::Status;

use crate::assert_sink_matches;
use crate::mock::{Fault, Mock, rows};

#[tokio::test]
async fn crash_mid_backfill_resumes_to_the_same_result() {
    let mock = Mock::start(rows(400), 25).await;
    let mut config = mock.tenant(Api::Graph);
    config.window = Duration::from_secs(6 * 3600);
    let sink = MemorySink::new();
    sink.crash_on_commit(3);
    let error = collect_once(config.clone(), sink.clone(), Shutdown::never())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Sink(_)), "{error}");
    assert_eq!(sink.commits(), 2);
    let before = sink.stored_checkpoint("collect/mock").unwrap();
    sink.restart();
    let report = collect_once(config, sink.clone(), Shutdown::never())
        .await
        .unwrap();
    assert_sink_matches(&sink, &mock.state.rows.lock().unwrap());
    let after = sink.stored_checkpoint("collect/mock").unwrap();
    let before = Checkpoint::from_json(&before).unwrap().collected_until;
    let after = Checkpoint::from_json(&after).unwrap().collected_until;
    assert!(after > before);
    assert!(report.windows >= 4, "{report:?}");
}

#[tokio::test]
async fn second_run_rereads_the_lookback_and_takes_status_changes() {
    let mock = Mock::start(rows(90), 20).await;
    let sink = MemorySink::new();
    let mut config = mock.tenant(Api::Graph);
    // Deep polls off: the short look-back alone (the deep one is tested against the
    // simulator).
    config.deep_lookback = config.lookback;
    collect_once(config.clone(), sink.clone(), Shutdown::never())
        .await
        .unwrap();
    // The newest row (an hour old) was pending and is now delivered.
    {
        let mut rows = mock.state.rows.lock().unwrap();
        rows[0].status = Status::Delivered;
    }
    let requests_before = mock.state.requests.lock().unwrap().len();
    let report = collect_once(config, sink.clone(), Shutdown::never())
        .await
        .unwrap();
    assert_sink_matches(&sink, &mock.state.rows.lock().unwrap());
    assert_eq!(report.committed.updated, 1, "{report:?}");
    assert_eq!(report.committed.inserted, 0, "{report:?}");
    // One short window: from the checkpoint minus the look-back to now.
    let requests = mock.state.requests.lock().unwrap();
    assert_eq!(requests.len() - requests_before, 1, "{requests:?}");
}

#[tokio::test]
async fn unknown_checkpoint_version_is_an_error() {
    let mock = Mock::start(rows(10), 10).await;
    let sink = MemorySink::new();
    sink.put_checkpoint("collect/mock", serde_json::json!({"version": 7}));
    let error = collect_once(mock.tenant(Api::Graph), sink.clone(), Shutdown::never())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Checkpoint { .. }), "{error}");
    assert!(
        error.to_string().contains("unsupported version 7"),
        "{error}"
    );
    assert_eq!(mock.data_requests(), 0);
    // A checkpoint of another tenant is refused too.
    let foreign = Checkpoint::new(Api::Graph, "another-tenant", chrono::Utc::now());
    sink.put_checkpoint("collect/mock", foreign.to_json());
    let error = collect_once(mock.tenant(Api::Graph), sink, Shutdown::never())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("another-tenant"), "{error}");
}

#[tokio::test]
async fn dense_windows_are_split_to_the_record_bound() {
    let mock = Mock::start(rows(600), 20).await;
    let mut config = mock.tenant(Api::Graph);
    config.max_window_records = 100;
    let sink = MemorySink::new();
    let report = collect_once(config, sink.clone(), Shutdown::never())
        .await
        .unwrap();
    assert_sink_matches(&sink, &mock.state.rows.lock().unwrap());
    assert!(report.window_splits >= 1, "{report:?}");
    assert!(report.windows >= 6, "{report:?}");
}

#[tokio::test]
async fn shutdown_abandons_the_window_in_flight() {
    let mock = Mock::start(rows(100), 10).await;
    // The first page is throttled for a minute: the collector sits in its wait.
    mock.script([Fault::Status(429, Some("60"))]);
    let sink = MemorySink::new();
    let (trigger, shutdown) = Shutdown::channel();
    let task = tokio::spawn(collect_once(
        mock.tenant(Api::Graph),
        sink.clone(),
        shutdown,
    ));
    while mock.data_requests() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    trigger.shutdown();
    let report = task.await.unwrap().unwrap();
    assert!(report.interrupted);
    assert_eq!(sink.commits(), 0);
    assert_eq!(mock.data_requests(), 1);
}

#[tokio::test]
async fn run_polls_until_shutdown() {
    let mock = Mock::start(rows(60), 20).await;
    let mut config = mock.tenant(Api::Graph);
    config.interval = Duration::from_millis(20);
    let sink = MemorySink::new();
    let (trigger, shutdown) = Shutdown::channel();
    let task = tokio::spawn(run(config, sink.clone(), shutdown));
    while sink.commits() < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    trigger.shutdown();
    let report = task.await.unwrap().unwrap();
    assert!(report.polls >= 2, "{report:?}");
    assert!(report.interrupted);
    assert_sink_matches(&sink, &mock.state.rows.lock().unwrap());
}

#[tokio::test]
async fn run_keeps_going_after_a_failed_poll() {
    let mock = Mock::start(rows(30), 20).await;
    let mut config = mock.tenant(Api::Graph);
    config.interval = Duration::from_millis(10);
    config.retry.attempts = 2;
    mock.script([Fault::Status(500, None), Fault::Status(500, None)]);
    let sink = MemorySink::new();
    let (trigger, shutdown) = Shutdown::channel();
    let task = tokio::spawn(run(config, sink.clone(), shutdown));
    while sink.len() < 30 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    trigger.shutdown();
    let report = task.await.unwrap().unwrap();
    assert_eq!(report.failed_polls, 1, "{report:?}");
    assert!(report.last_error.unwrap().contains("HTTP 500"));
}
