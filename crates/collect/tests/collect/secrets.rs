//! The client secret and access tokens never reach the logs or an error.

use mailscope_collect::{Api, MemorySink, Shutdown, collect_once};

use crate::capture::Capture;
use crate::mock::{Fault, Mock, SECRET, rows};

#[tokio::test]
async fn secret_and_tokens_never_appear_in_logs_or_errors() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let mock = Mock::start(rows(120), 20).await;
    mock.script([
        Fault::RevokeTokens,
        Fault::Status(429, Some("0")),
        Fault::Html,
        Fault::Truncate,
        Fault::Status(500, None),
    ]);
    let config = mock.tenant(Api::Graph);
    assert!(!format!("{config:?}").contains(SECRET));
    collect_once(config.clone(), MemorySink::new(), Shutdown::never())
        .await
        .unwrap();
    // And a refusal that echoes the secret.
    *mock.state.token_failure.lock().unwrap() = Some((
        401,
        format!(r#"{{"error":"invalid_client","error_description":"secret {SECRET} rejected"}}"#),
    ));
    let mut fresh = config;
    fresh.name = "fresh".to_owned();
    let error = collect_once(fresh, MemorySink::new(), Shutdown::never())
        .await
        .unwrap_err();
    let logs = capture.text();
    assert!(logs.contains("page failed; retrying"), "{logs}");
    for shown in [logs, error.to_string(), format!("{error:?}")] {
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains("token-1"), "{shown}");
        assert!(!shown.contains("token-2"), "{shown}");
    }
}
