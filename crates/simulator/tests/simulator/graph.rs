//! Microsoft Graph `messageTraces`: paging, limits, `$top`, filters and the quota.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use mailscope_record::{Format, Status};
use mailscope_simulator::http::{Audience, Quota, Simulator, SimulatorConfig};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::support::{
    by_identity, client, graph_window_url, odata_time, read_all_plain, settled_tenant, start, token,
};

const JSON: &str = "application/json";

fn span(simulator: &Simulator) -> (DateTime<Utc>, DateTime<Utc>) {
    let truth = simulator.ground_truth(Utc::now());
    let first = truth.first().unwrap().received;
    let last = truth.last().unwrap().received;
    (first - TimeDelta::minutes(1), last + TimeDelta::minutes(1))
}

async fn get(url: &str, token: &str) -> (StatusCode, Option<String>, Value) {
    let response = client().get(url).bearer_auth(token).send().await.unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, response.json().await.unwrap())
}

#[tokio::test]
async fn pages_come_newest_first_through_absolute_next_links() {
    let simulator = start(SimulatorConfig::new(settled_tenant(21, 3_000))).await;
    let token = token(&simulator, Audience::Graph).await;
    let (from, to) = span(&simulator);
    let (records, pages) = read_all_plain(
        &token,
        graph_window_url(&simulator, from, to, Some(700)),
        Format::GraphJson,
        JSON,
    )
    .await;
    assert_eq!(pages.len(), 5);
    for page in &pages[..4] {
        assert_eq!(page["value"].as_array().unwrap().len(), 700);
        let link = page["@odata.nextLink"].as_str().unwrap();
        assert!(link.starts_with(&simulator.graph_url()), "{link}");
        assert!(
            link.contains("$top=700") && link.contains("$skiptoken="),
            "{link}"
        );
        assert!(
            page["@odata.context"]
                .as_str()
                .unwrap()
                .contains("messageTraces")
        );
    }
    let row = &pages[0]["value"][0];
    assert!(
        row["status"]
            .as_str()
            .unwrap()
            .starts_with(char::is_lowercase)
    );
    assert!(row["receivedDateTime"].as_str().unwrap().ends_with('Z'));
    assert!(records.windows(2).all(|w| w[0].received >= w[1].received));
    let truth = by_identity(&simulator.ground_truth(Utc::now()));
    let read = by_identity(&records);
    assert_eq!(read.len(), 3_000);
    for (identity, record) in &read {
        let expected = &truth[identity];
        assert_eq!(record.status, expected.status);
        assert_eq!(record.subject, expected.subject);
        assert_eq!(
            record.received.timestamp_millis(),
            expected.received.timestamp_millis()
        );
    }
    // Default page size is 1000; the beta path answers too.
    let beta = graph_window_url(&simulator, from, to, None)
        .as_str()
        .replace("/v1.0/", "/beta/");
    let (status, _, page) = get(&beta, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["value"].as_array().unwrap().len(), 1000);
    assert!(page["@odata.nextLink"].as_str().unwrap().contains("/beta/"));
}

#[tokio::test]
async fn windows_history_and_top_are_validated() {
    let simulator = start(SimulatorConfig::new(settled_tenant(22, 500))).await;
    let token = token(&simulator, Audience::Graph).await;
    let now = Utc::now();
    let day = TimeDelta::days(1);
    let window = |from: DateTime<Utc>, to: DateTime<Utc>| {
        format!(
            "receivedDateTime ge {} and receivedDateTime le {}",
            odata_time(from),
            odata_time(to)
        )
    };
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![("$filter", window(now - day * 12, now - day))],
            "cannot exceed 10 days",
        ),
        (
            vec![("$filter", window(now - day * 95, now - day * 91))],
            "90 days",
        ),
        (
            vec![("$filter", window(now - day, now + day))],
            "later than the current time",
        ),
        (
            vec![(
                "$filter",
                format!("receivedDateTime ge {}", odata_time(now - day)),
            )],
            "Both a start",
        ),
        (
            vec![("$filter", window(now - day, now).replace(" le ", " lt "))],
            "Unsupported operator 'lt'",
        ),
        (
            vec![("$filter", "colour eq 'red'".to_owned())],
            "Could not find a property named 'colour'",
        ),
        (
            vec![("$filter", "status eq 'sunny'".to_owned())],
            "not a valid exchangeMessageTraceStatus",
        ),
        (
            vec![(
                "$filter",
                "senderAddress eq 'a' or senderAddress eq 'b'".to_owned(),
            )],
            "'or'",
        ),
        (
            vec![("$filter", "contains(subject, 'unterminated)".to_owned())],
            "unterminated",
        ),
        (
            vec![("$expand", "x".to_owned())],
            "Query option '$expand' is not allowed",
        ),
        (vec![("$skiptoken", "not-ours".to_owned())], "skip token"),
    ];
    let mut expected_bad = 0;
    for (params, needle) in cases {
        let url = Url::parse_with_params(&simulator.graph_url(), &params).unwrap();
        let (status, _, body) = get(url.as_str(), &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}");
        assert_eq!(body["error"]["code"], "BadRequest");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{url}: {message}");
        assert!(body["error"]["innerError"]["date"].is_string());
        expected_bad += 1;
    }
    for top in ["0", "5001", "-1", "ten", "", "1.5"] {
        let url = Url::parse_with_params(&simulator.graph_url(), &[("$top", top)]).unwrap();
        let (status, _, body) = get(url.as_str(), &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "$top={top}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("between 1 and 5000")
        );
        expected_bad += 1;
    }
    for top in ["1", "5000"] {
        let url = Url::parse_with_params(&simulator.graph_url(), &[("$top", top)]).unwrap();
        assert_eq!(
            get(url.as_str(), &token).await.0,
            StatusCode::OK,
            "$top={top}"
        );
    }
    // Ignored options, as observed on the real service.
    let url = Url::parse_with_params(
        &simulator.graph_url(),
        &[
            ("$select", "id"),
            ("$orderby", "subject"),
            ("$count", "true"),
        ],
    )
    .unwrap();
    assert_eq!(get(url.as_str(), &token).await.0, StatusCode::OK);
    let unknown = format!(
        "{}/v1.0/admin/exchange/tracing/messageTrace",
        simulator.base_url()
    );
    assert_eq!(get(&unknown, &token).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(simulator.stats().bad_requests, expected_bad);
}

type Predicate = Box<dyn Fn(&mailscope_record::Record) -> bool>;

#[tokio::test]
async fn property_filters_narrow_the_rows() {
    let simulator = start(SimulatorConfig::new(settled_tenant(23, 2_000))).await;
    let token = token(&simulator, Audience::Graph).await;
    let truth = simulator.ground_truth(Utc::now());
    let (from, to) = span(&simulator);
    let base = format!(
        "receivedDateTime ge {} and receivedDateTime le {}",
        odata_time(from),
        odata_time(to)
    );
    let sample = &truth[truth.len() / 3];
    let domain = sample.sender_address.rsplit_once('@').unwrap().1.to_owned();
    let word = sample
        .subject
        .split_whitespace()
        .next()
        .unwrap_or("a")
        .to_owned();
    let checks: Vec<(String, Predicate)> = vec![
        (
            format!("recipientAddress eq '{}'", sample.recipient_address),
            Box::new({
                let r = sample.recipient_address.clone();
                move |x| x.recipient_address.eq_ignore_ascii_case(&r)
            }),
        ),
        (
            format!("senderAddress eq '*@{domain}'"),
            Box::new({
                let d = domain.clone();
                move |x| {
                    x.sender_address
                        .to_lowercase()
                        .ends_with(&format!("@{}", d.to_lowercase()))
                }
            }),
        ),
        (
            "status eq 'failed'".to_owned(),
            Box::new(|x| x.status == Status::Failed),
        ),
        (
            format!("id eq '{}'", sample.message_trace_id),
            Box::new({
                let id = sample.message_trace_id.clone();
                move |x| x.message_trace_id == id
            }),
        ),
        (
            format!("contains(subject, '{}')", word.replace('\'', "''")),
            Box::new({
                let w = word.to_lowercase();
                move |x| x.subject.to_lowercase().contains(&w)
            }),
        ),
    ];
    for (condition, predicate) in checks {
        let filter = format!("{base} and {condition}");
        let url = Url::parse_with_params(&simulator.graph_url(), &[("$filter", &filter)]).unwrap();
        let (records, _) = read_all_plain(&token, url, Format::GraphJson, JSON).await;
        let expected = truth.iter().filter(|r| predicate(r)).count();
        assert!(expected > 0, "{condition}");
        assert_eq!(records.len(), expected, "{condition}");
    }
}

#[tokio::test]
async fn quota_answers_429_with_retry_after_then_recovers() {
    let mut config = SimulatorConfig::new(settled_tenant(24, 100));
    config.graph_quota = Quota {
        requests: 3,
        window: Duration::from_secs(2),
    };
    let simulator = start(config).await;
    let token = token(&simulator, Audience::Graph).await;
    let url = simulator.graph_url();
    let mut throttled = None;
    for _ in 0..100 {
        let (status, retry_after, body) = get(&url, &token).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some((retry_after, body));
            break;
        }
        assert_eq!(status, StatusCode::OK);
    }
    let (retry_after, body) = throttled.expect("a burst of requests is throttled");
    let seconds: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&seconds), "Retry-After {seconds}");
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert_eq!(
        body["error"]["message"],
        "Your recent queries have surpassed the permitted limit, please try again later."
    );
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    assert_eq!(get(&url, &token).await.0, StatusCode::OK);
    let stats = simulator.stats();
    assert_eq!(stats.quota_throttled, 1);
    assert_eq!(stats.throttled(), 1);
}
