//! Each injected fault shows up when switched on, in the shape described, and the same
//! request repeated then succeeds.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use mailscope_record::Format;
use mailscope_simulator::http::{Audience, FaultKind, Faults, Simulator, SimulatorConfig};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::support::{
    graph_window_url, next_link, read_page, rws_window_url, settled_tenant, start, token,
};

async fn simulator(faults: &str) -> Simulator {
    let mut config = SimulatorConfig::new(settled_tenant(41, 600));
    config.faults = faults.parse().unwrap();
    config.graph_page_size = 100;
    config.rws_page_size = 100;
    start(config).await
}

struct Answer {
    status: StatusCode,
    content_type: String,
    retry_after: Option<String>,
    body: Vec<u8>,
}

async fn fetch(url: &Url, token: &str) -> Result<Answer, reqwest::Error> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let response = client
        .get(url.clone())
        .bearer_auth(token)
        .header("Accept", "application/json")
        .send()
        .await?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (status, content_type, retry_after) = (
        response.status(),
        header("content-type").unwrap_or_default(),
        header("retry-after"),
    );
    Ok(Answer {
        status,
        content_type,
        retry_after,
        body: response.bytes().await?.to_vec(),
    })
}

/// The first page of the tenant's window on one API, and the format its pages have.
fn first_page(simulator: &Simulator, graph: bool) -> (Url, Format, Audience) {
    let now = Utc::now();
    let (from, to) = (now - TimeDelta::days(9), now - TimeDelta::days(1));
    if graph {
        (
            graph_window_url(simulator, from, to, None),
            Format::GraphJson,
            Audience::Graph,
        )
    } else {
        (
            rws_window_url(simulator, from, to),
            Format::ReportingJson,
            Audience::Exchange,
        )
    }
}

fn assert_good_page(answer: &Answer, format: Format) -> Value {
    assert_eq!(answer.status, StatusCode::OK);
    let records = read_page(format, &answer.body).unwrap();
    assert_eq!(records.len(), 100);
    serde_json::from_slice(&answer.body).unwrap()
}

fn error_message(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap();
    let message = &value["error"]["message"];
    message
        .get("value")
        .unwrap_or(message)
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn every_fault_appears_when_switched_on_and_a_retry_succeeds() {
    for kind in FaultKind::ALL {
        for graph in [true, false] {
            let spec = format!("{}=1,max-run=1,retry-after=1s,stall=3s", kind.name());
            let simulator = simulator(&spec).await;
            let (first, format, audience) = first_page(&simulator, graph);
            let token = token(&simulator, audience).await;
            let what = format!("{} on {}", kind.name(), if graph { "Graph" } else { "RWS" });
            // An expired link needs a link: the first page is served clean, the next faults.
            let url = if kind == FaultKind::ExpiredLink {
                let page = assert_good_page(&fetch(&first, &token).await.unwrap(), format);
                first.join(&next_link(&page).unwrap()).unwrap()
            } else {
                first
            };
            match fetch(&url, &token).await {
                Err(error) => {
                    assert_eq!(kind, FaultKind::Timeout, "{what}: {error}");
                    assert!(error.is_timeout(), "{what}: {error}");
                }
                Ok(answer) => check_fault(kind, graph, format, &answer, &what),
            }
            let retried = fetch(&url, &token).await.unwrap();
            assert_good_page(&retried, format);
            assert_eq!(simulator.stats().fault(kind), 1, "{what}");
            simulator.shutdown().await.unwrap();
        }
    }
}

fn check_fault(kind: FaultKind, graph: bool, format: Format, answer: &Answer, what: &str) {
    match kind {
        FaultKind::Throttle | FaultKind::Unavailable => {
            let expected = if kind == FaultKind::Throttle {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            assert_eq!(answer.status, expected, "{what}");
            assert_eq!(answer.retry_after.as_deref(), Some("1"), "{what}");
            assert!(!error_message(&answer.body).is_empty());
        }
        FaultKind::InternalError => {
            assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR, "{what}");
            assert!(!error_message(&answer.body).is_empty());
        }
        FaultKind::Truncate => {
            assert_eq!(answer.status, StatusCode::OK, "{what}");
            assert!(answer.content_type.starts_with("application/json"));
            assert!(
                serde_json::from_slice::<Value>(&answer.body).is_err(),
                "{what}"
            );
            let error = read_page(format, &answer.body).unwrap_err();
            assert!(error.contains("truncated"), "{what}: {error}");
        }
        FaultKind::Html => {
            assert_eq!(answer.status, StatusCode::OK, "{what}");
            assert!(answer.content_type.starts_with("text/html"));
            assert!(
                String::from_utf8_lossy(&answer.body)
                    .contains("<title>Sign in to your account</title>")
            );
            assert!(read_page(format, &answer.body).is_err());
        }
        FaultKind::ExpiredLink => {
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{what}");
            assert!(error_message(&answer.body).contains("skip token"), "{what}");
            if graph {
                let value: Value = serde_json::from_slice(&answer.body).unwrap();
                assert_eq!(value["error"]["code"], "BadRequest");
            }
        }
        FaultKind::Timeout => panic!("{what}: a stalled request answered {}", answer.status),
    }
}

#[tokio::test]
async fn storms_are_consecutive_429s_and_end() {
    let simulator = simulator("429=1,storm=3,max-run=3,retry-after=1s").await;
    let (url, format, audience) = first_page(&simulator, true);
    let token = token(&simulator, audience).await;
    let mut throttled = 0;
    loop {
        let answer = fetch(&url, &token).await.unwrap();
        if answer.status == StatusCode::OK {
            assert_good_page(&answer, format);
            break;
        }
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        throttled += 1;
        assert!(throttled <= 3, "storms end after max-run");
    }
    assert!(throttled >= 1);
    assert_eq!(simulator.stats().fault_throttled, throttled);
}

#[tokio::test]
async fn tokens_die_early_under_token_expiry() {
    let simulator = simulator("token-expiry=300ms").await;
    let (url, format, audience) = first_page(&simulator, true);
    let response = reqwest::Client::new()
        .post(simulator.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", simulator.client_id()),
            ("client_secret", simulator.client_secret()),
            ("scope", &audience.scope()),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    // The token claims an hour, as real ones do...
    assert_eq!(body["expires_in"], 3599);
    let stale = body["access_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // ...but dies mid-run.
    let answer = fetch(&url, &stale).await.unwrap();
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let value: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(value["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(
        value["error"]["message"],
        "Lifetime validation failed, the token is expired."
    );
    let fresh = token(&simulator, audience).await;
    assert_good_page(&fetch(&url, &fresh).await.unwrap(), format);
    assert_eq!(simulator.stats().expired_tokens, 1);
}

#[test]
fn fault_specs_round_trip() {
    let spec = "429=0.2,500=0.05,503=0.05,timeout=0.02,truncate=0.02,html=0.02,expired-link=0.05,token-expiry=30s";
    let faults: Faults = spec.parse().unwrap();
    assert_eq!(faults.to_string(), spec);
    assert!("429=0.9,500=0.9".parse::<Faults>().is_err());
}

#[tokio::test]
async fn a_stalled_request_ends_with_a_dropped_connection() {
    let simulator = simulator("timeout=1,max-run=1,stall=200ms").await;
    let (url, format, audience) = first_page(&simulator, true);
    let token = token(&simulator, audience).await;
    let patient = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    match patient.get(url.clone()).bearer_auth(&token).send().await {
        Err(_) => {}
        Ok(response) => assert!(
            response.bytes().await.is_err(),
            "the body must not complete"
        ),
    }
    assert_good_page(&fetch(&url, &token).await.unwrap(), format);
    assert_eq!(simulator.stats().fault_timeout, 1);
}
