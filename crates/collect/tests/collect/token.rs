//! The token client, seen through a collection.

use mailscope_collect::{Api, Error, MemorySink, Shutdown, TokenVersion, collect_once};

use crate::mock::{Mock, SECRET, rows};

#[tokio::test]
async fn v2_asks_for_a_scope_and_v1_for_a_resource() {
    let mock = Mock::start(rows(5), 10).await;
    collect_once(
        mock.tenant(Api::Graph),
        MemorySink::new(),
        Shutdown::never(),
    )
    .await
    .unwrap();
    let mut config = mock.tenant(Api::Reporting);
    config.token_version = TokenVersion::V1;
    collect_once(config, MemorySink::new(), Shutdown::never())
        .await
        .unwrap();
    let forms = mock.state.token_forms.lock().unwrap();
    assert_eq!(forms[0]["grant_type"], "client_credentials");
    assert_eq!(forms[0]["client_id"], "client-1");
    assert_eq!(forms[0]["scope"], "https://graph.microsoft.com/.default");
    assert!(!forms[0].contains_key("resource"));
    assert_eq!(forms[1]["resource"], "https://outlook.office365.com");
    assert!(!forms[1].contains_key("scope"));
}

#[tokio::test]
async fn refused_credentials_are_reported_without_the_secret() {
    let mock = Mock::start(rows(5), 10).await;
    // An endpoint that echoes the request in its description.
    *mock.state.token_failure.lock().unwrap() = Some((
        400,
        format!(
            r#"{{"error":"invalid_request","error_description":"AADSTS900144: bad request client_secret={SECRET}&scope=x\r\nTrace ID: 1234"}}"#
        ),
    ));
    let error = collect_once(
        mock.tenant(Api::Graph),
        MemorySink::new(),
        Shutdown::never(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, Error::Auth { .. }), "{error}");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("HTTP 400"), "{shown}");
    assert!(!shown.contains("Trace ID"), "{shown}");
}

#[tokio::test]
async fn wrong_secret_names_the_aad_error() {
    let mock = Mock::start(rows(5), 10).await;
    let mut config = mock.tenant(Api::Graph);
    config.client_secret = mailscope_collect::Secret::new("not-the-secret");
    let error = collect_once(config, MemorySink::new(), Shutdown::never())
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("invalid_client: AADSTS7000215"), "{text}");
    assert_eq!(mock.data_requests(), 0);
}

#[tokio::test]
async fn throttled_token_endpoint_is_retried() {
    let mock = Mock::start(rows(5), 10).await;
    *mock.state.token_failure.lock().unwrap() = Some((503, "busy".to_owned()));
    let state = std::sync::Arc::clone(&mock.state);
    let task = tokio::spawn(collect_once(
        mock.tenant(Api::Graph),
        MemorySink::new(),
        Shutdown::never(),
    ));
    while mock.token_requests() < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    *state.token_failure.lock().unwrap() = None;
    let report = task.await.unwrap().unwrap();
    assert!(report.fetch.retries >= 1, "{report:?}");
}
