//! The Reporting Web Service `MessageTrace` report: paging, shapes, options and errors.

use chrono::{TimeDelta, Utc};
use mailscope_record::{Format, Status};
use mailscope_simulator::http::{Audience, Simulator, SimulatorConfig};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::support::{
    by_identity, client, odata_time, read_all_plain, read_page, rws_window_url, settled_tenant,
    start, token,
};

const LIGHT: &str = "application/json";

async fn simulator(page_size: usize) -> Simulator {
    let mut config = SimulatorConfig::new(settled_tenant(11, 3_000));
    config.rws_page_size = page_size;
    start(config).await
}

/// The whole tenant, as one Reporting Web Service window.
fn everything(simulator: &Simulator) -> Url {
    let (from, to) = tenant_span(simulator);
    rws_window_url(simulator, from, to)
}

fn tenant_span(simulator: &Simulator) -> (chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
    let truth = simulator.ground_truth_reporting(Utc::now());
    let first = truth.first().unwrap().received;
    let last = truth.last().unwrap().received;
    (first - TimeDelta::minutes(1), last + TimeDelta::minutes(1))
}

async fn get(url: &str, token: &str) -> (StatusCode, String, Vec<u8>) {
    let response = client()
        .get(url)
        .bearer_auth(token)
        .header("Accept", LIGHT)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

fn odata_message(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(value["error"]["code"], "", "{value}");
    assert_eq!(value["error"]["message"]["lang"], "en-US");
    value["error"]["message"]["value"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn pages_chain_through_relative_links_and_return_every_identity_once() {
    let simulator = simulator(400).await;
    let token = token(&simulator, Audience::Exchange).await;
    let (records, pages) =
        read_all_plain(&token, everything(&simulator), Format::ReportingJson, LIGHT).await;
    assert!(pages.len() >= 7, "{} pages", pages.len());
    for page in &pages[..pages.len() - 1] {
        let link = page["odata.nextLink"].as_str().unwrap();
        assert!(
            link.starts_with("../../ReportingWebService/Reporting.svc/MessageTrace?"),
            "{link}"
        );
        assert!(link.contains("$skiptoken="));
        assert_eq!(page["value"].as_array().unwrap().len(), 400);
        assert!(
            page["odata.metadata"]
                .as_str()
                .unwrap()
                .ends_with("$metadata#MessageTrace")
        );
    }
    assert!(pages.last().unwrap().get("odata.nextLink").is_none());
    // Oldest first, Index counts the whole result, the window is echoed on every row.
    assert!(records.windows(2).all(|w| w[0].received <= w[1].received));
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record.index, Some(i as i64));
        assert!(record.start_date.as_deref().unwrap().ends_with('Z'));
        assert_eq!(record.start_date, records[0].start_date);
        assert_eq!(record.end_date, records[0].end_date);
    }
    let read = by_identity(&records);
    let truth = by_identity(&simulator.ground_truth_reporting(Utc::now()));
    assert_eq!(read.len(), 3_000);
    assert_eq!(read, truth);
}

#[tokio::test]
async fn verbose_odata_has_results_dates_and_absolute_next() {
    let simulator = simulator(1_000).await;
    let token = token(&simulator, Audience::Exchange).await;
    let mut url = everything(&simulator);
    url.query_pairs_mut().append_pair("$format", "json");
    let (verbose, pages) = read_all_plain(&token, url, Format::ReportingVerbose, LIGHT).await;
    let first_row = &pages[0]["d"]["results"][0];
    assert_eq!(
        first_row["__metadata"]["type"],
        "TenantReporting.MessageTrace"
    );
    assert!(
        first_row["Received"]
            .as_str()
            .unwrap()
            .starts_with("/Date(")
    );
    let next = pages[0]["d"]["__next"].as_str().unwrap();
    assert!(
        next.starts_with(&format!(
            "{}/ecp/ReportingWebService/",
            simulator.base_url()
        )),
        "{next}"
    );
    // The same through the Accept header.
    let (by_accept, _) = read_all_plain(
        &token,
        everything(&simulator),
        Format::ReportingVerbose,
        "application/json;odata=verbose",
    )
    .await;
    assert_eq!(by_accept.len(), 3_000);
    let truth = by_identity(&simulator.ground_truth_reporting(Utc::now()));
    let read = by_identity(&verbose);
    assert_eq!(read.len(), truth.len());
    for (identity, record) in &read {
        let expected = &truth[identity];
        assert_eq!(record.status, expected.status);
        assert_eq!(
            record.received.timestamp_millis(),
            expected.received.timestamp_millis()
        );
    }
}

#[tokio::test]
async fn top_is_a_total_and_numeric_skiptokens_are_offsets() {
    let simulator = simulator(2_000).await;
    let token = token(&simulator, Audience::Exchange).await;
    let mut url = everything(&simulator);
    url.query_pairs_mut().append_pair("$top", "7");
    let (status, _, body) = get(url.as_str(), &token).await;
    assert_eq!(status, StatusCode::OK);
    let page: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(page["value"].as_array().unwrap().len(), 7);
    assert!(page.get("odata.nextLink").is_none());

    // Client-driven offsets, stopping at the first short page.
    let mut records = Vec::new();
    let mut offset = 0;
    loop {
        let mut url = everything(&simulator);
        url.query_pairs_mut()
            .append_pair("$top", "700")
            .append_pair("$skiptoken", &offset.to_string());
        let (status, _, body) = get(url.as_str(), &token).await;
        assert_eq!(status, StatusCode::OK);
        let page = read_page(Format::ReportingJson, &body).unwrap();
        if let Some(first) = page.first() {
            assert_eq!(first.index, Some(offset as i64));
        }
        let short = page.len() < 700;
        offset += page.len();
        records.extend(page);
        if short {
            break;
        }
    }
    assert_eq!(
        by_identity(&records),
        by_identity(&simulator.ground_truth_reporting(Utc::now()))
    );

    // `$top` larger than a page: pages of the page size, the link carrying what is left.
    let simulator = self::simulator(500).await;
    let token = crate::support::token(&simulator, Audience::Exchange).await;
    let mut url = everything(&simulator);
    url.query_pairs_mut().append_pair("$top", "1200");
    let (records, pages) = read_all_plain(&token, url, Format::ReportingJson, LIGHT).await;
    assert_eq!(records.len(), 1200);
    assert_eq!(pages.len(), 3);
}

#[tokio::test]
async fn select_orderby_and_property_filters() {
    let simulator = simulator(800).await;
    let token = token(&simulator, Audience::Exchange).await;
    let truth = simulator.ground_truth_reporting(Utc::now());

    let mut url = everything(&simulator);
    url.query_pairs_mut()
        .append_pair("$select", "RecipientAddress,Status")
        .append_pair("$top", "3");
    let (_, _, body) = get(url.as_str(), &token).await;
    let page: Value = serde_json::from_slice(&body).unwrap();
    for row in page["value"].as_array().unwrap() {
        let mut keys: Vec<_> = row.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["RecipientAddress", "Status"]);
    }

    let mut url = everything(&simulator);
    url.query_pairs_mut().append_pair("$orderby", "Size desc");
    let (records, pages) = read_all_plain(&token, url, Format::ReportingJson, LIGHT).await;
    assert!(pages.len() > 1);
    assert!(records.windows(2).all(|w| w[0].size >= w[1].size));
    assert_eq!(records.len(), truth.len());

    let mut url = everything(&simulator);
    url.query_pairs_mut()
        .append_pair("$orderby", "Received desc");
    let (records, _) = read_all_plain(&token, url, Format::ReportingJson, LIGHT).await;
    assert!(records.windows(2).all(|w| w[0].received >= w[1].received));
    assert_eq!(records.len(), truth.len());

    let recipient = truth[truth.len() / 2].recipient_address.clone();
    let (from, to) = tenant_span(&simulator);
    let filter = format!(
        "StartDate eq datetime'{}' and EndDate eq datetime'{}' and RecipientAddress eq '{}' and Status eq 'Delivered'",
        odata_time(from),
        odata_time(to),
        recipient.to_uppercase()
    );
    let url = Url::parse_with_params(&simulator.rws_url(), &[("$filter", filter)]).unwrap();
    let (records, _) = read_all_plain(&token, url, Format::ReportingJson, LIGHT).await;
    let expected = truth
        .iter()
        .filter(|r| r.recipient_address == recipient && r.status == Status::Delivered)
        .count();
    assert_eq!(records.len(), expected);
    assert!(records.iter().all(|r| r.recipient_address == recipient));
}

type Params = Vec<(&'static str, String)>;

#[tokio::test]
async fn bad_queries_get_odata_errors() {
    let simulator = simulator(500).await;
    let token = token(&simulator, Audience::Exchange).await;
    let now = Utc::now();
    let day = TimeDelta::days(1);
    let window = |from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>| {
        format!(
            "StartDate eq datetime'{}' and EndDate eq datetime'{}'",
            odata_time(from),
            odata_time(to)
        )
    };
    let cases: Vec<(Params, StatusCode, &str)> = vec![
        (
            vec![("$filter", window(now - day * 11, now - day * 10))],
            StatusCode::BAD_REQUEST,
            "can't be older than 10 days",
        ),
        (
            vec![(
                "$filter",
                format!("StartDate eq datetime'{}'", odata_time(now - day)),
            )],
            StatusCode::BAD_REQUEST,
            "together",
        ),
        (
            vec![("$filter", "Recipient eq 'a@b.c'".to_owned())],
            StatusCode::BAD_REQUEST,
            "does not have a property named 'Recipient'",
        ),
        (
            vec![(
                "$filter",
                "StartDate eq datetime'2026-01-01T00:00:00Z' or".to_owned(),
            )],
            StatusCode::BAD_REQUEST,
            "position",
        ),
        (
            vec![(
                "$filter",
                "StartDate eq datetime'tomorrow' and EndDate eq datetime'x'".to_owned(),
            )],
            StatusCode::BAD_REQUEST,
            "Unrecognized 'Edm.DateTime' literal",
        ),
        (
            vec![("$expand", "x".to_owned())],
            StatusCode::BAD_REQUEST,
            "system-reserved '$' character",
        ),
        (
            vec![("$skiptoken", "v1.garbage".to_owned())],
            StatusCode::BAD_REQUEST,
            "skip token",
        ),
        (
            vec![("$top", "lots".to_owned())],
            StatusCode::BAD_REQUEST,
            "$top",
        ),
        (
            vec![("$format", "atom".to_owned())],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
        ),
        (
            vec![("$filter", format!("({}", "(".repeat(100)))],
            StatusCode::BAD_REQUEST,
            "deeper",
        ),
    ];
    for (params, status, needle) in cases {
        let url = Url::parse_with_params(&simulator.rws_url(), &params).unwrap();
        let (got, content_type, body) = get(url.as_str(), &token).await;
        assert_eq!(got, status, "{url}");
        assert!(content_type.starts_with("application/json"));
        let message = odata_message(&body);
        assert!(message.contains(needle), "{url}: {message}");
    }
    assert_eq!(simulator.stats().bad_requests, 10);

    // A long query is refused before parsing.
    let long = format!("{}?$filter={}", simulator.rws_url(), "a".repeat(20_000));
    let (status, _, _) = get(&long, &token).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG);
    // Paths are case-insensitive, as on the real service; other paths are 404.
    let shouted = format!(
        "{}/ecp/ReportingWebService/Reporting.svc/MessageTrace",
        simulator.base_url()
    );
    assert_eq!(get(&shouted, &token).await.0, StatusCode::OK);
    let other = format!(
        "{}/ecp/ReportingWebService/Reporting.svc/MailTraffic",
        simulator.base_url()
    );
    assert_eq!(get(&other, &token).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn default_window_is_the_last_48_hours() {
    // A tenant whose traffic runs from three days ago into tomorrow.
    let simulator = start(SimulatorConfig::new(crate::support::tenant(
        12, 2_000, 3, 4,
    )))
    .await;
    let token = token(&simulator, Audience::Exchange).await;
    let before = Utc::now();
    let (records, _) = read_all_plain(
        &token,
        Url::parse(&simulator.rws_url()).unwrap(),
        Format::ReportingJson,
        LIGHT,
    )
    .await;
    assert!(!records.is_empty());
    for record in &records {
        assert!(record.received >= before - TimeDelta::hours(48) - TimeDelta::seconds(5));
        assert!(record.received <= Utc::now());
    }
}

#[tokio::test]
async fn next_links_expire_after_their_lifetime() {
    let mut config = SimulatorConfig::new(settled_tenant(13, 500));
    config.rws_page_size = 100;
    config.link_lifetime = Some(std::time::Duration::ZERO);
    let simulator = start(config).await;
    let token = token(&simulator, Audience::Exchange).await;
    let first = everything(&simulator);
    let (status, _, body) = get(first.as_str(), &token).await;
    assert_eq!(status, StatusCode::OK);
    let page: Value = serde_json::from_slice(&body).unwrap();
    let next = first
        .join(page["odata.nextLink"].as_str().unwrap())
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (status, _, body) = get(next.as_str(), &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(odata_message(&body).contains("skip token"));
}
