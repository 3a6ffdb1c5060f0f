//! Helpers shared by the HTTP tests: starting a simulator on loopback, getting tokens, and a
//! patient client that retries every transient failure the way a correct collector must.

use std::collections::HashMap;
use std::io::Cursor;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use mailscope_record::{Format, ReadOptions, Record, open_reader_as};
use mailscope_simulator::TenantConfig;
use mailscope_simulator::http::{Audience, Simulator, SimulatorConfig, serve};
use reqwest::{StatusCode, Url};
use serde_json::Value;

/// A tenant of `messages` records over `days` days starting `days_ago` days before now.
pub fn tenant(seed: u64, messages: u64, days_ago: i64, days: u32) -> TenantConfig {
    TenantConfig {
        seed,
        messages,
        start: Utc::now() - TimeDelta::days(days_ago),
        days,
    }
}

/// A tenant whose every observation is visible: received 8 to 2 days ago.
pub fn settled_tenant(seed: u64, messages: u64) -> TenantConfig {
    tenant(seed, messages, 8, 6)
}

pub async fn start(config: SimulatorConfig) -> Simulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve(listener, config).await.unwrap()
}

/// A client as the collector is one: it asks Graph for the enum members added after v1.0
/// (`recalled`), which the Reporting Web Service ignores.
pub fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "prefer",
        reqwest::header::HeaderValue::from_static("include-unknown-enum-members"),
    );
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .default_headers(headers)
        .build()
        .unwrap()
}

pub async fn token(simulator: &Simulator, audience: Audience) -> String {
    let response = client()
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
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// `datetime'…'` text for the Reporting Web Service.
pub fn odata_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub fn rws_window_url(simulator: &Simulator, from: DateTime<Utc>, to: DateTime<Utc>) -> Url {
    let filter = format!(
        "StartDate eq datetime'{}' and EndDate eq datetime'{}'",
        odata_time(from),
        odata_time(to)
    );
    Url::parse_with_params(&simulator.rws_url(), &[("$filter", filter)]).unwrap()
}

pub fn graph_window_url(
    simulator: &Simulator,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    top: Option<usize>,
) -> Url {
    let filter = format!(
        "receivedDateTime ge {} and receivedDateTime le {}",
        odata_time(from),
        odata_time(to)
    );
    let mut params = vec![("$filter".to_owned(), filter)];
    if let Some(top) = top {
        params.push(("$top".to_owned(), top.to_string()));
    }
    Url::parse_with_params(&simulator.graph_url(), &params).unwrap()
}

/// Parses a page with the record crate's reader; any reader error fails.
pub fn read_page(format: Format, body: &[u8]) -> Result<Vec<Record>, String> {
    let reader = open_reader_as(
        format,
        "page",
        Box::new(Cursor::new(body.to_vec())),
        ReadOptions::default(),
    )
    .map_err(|error| error.to_string())?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| error.to_string())
}

/// The page's next link, in whichever key its shape uses.
pub fn next_link(page: &Value) -> Option<String> {
    page.get("odata.nextLink")
        .or_else(|| page.get("@odata.nextLink"))
        .or_else(|| page.get("d").and_then(|d| d.get("__next")))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Follows a window's pages once, without any retry; panics on anything but 200.
pub async fn read_all_plain(
    token: &str,
    first: Url,
    format: Format,
    accept: &str,
) -> (Vec<Record>, Vec<Value>) {
    let client = client();
    let mut url = first;
    let mut records = Vec::new();
    let mut pages = Vec::new();
    loop {
        let response = client
            .get(url.clone())
            .bearer_auth(token)
            .header("Accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let body = response.bytes().await.unwrap();
        records.extend(read_page(format, &body).unwrap());
        let page: Value = serde_json::from_slice(&body).unwrap();
        let next = next_link(&page);
        pages.push(page);
        match next {
            Some(link) => url = url.join(&link).unwrap(),
            None => return (records, pages),
        }
    }
}

/// What a failed attempt means to the patient client.
enum Attempt {
    Page(Vec<Record>, Option<String>),
    Retry(Duration),
    NewToken,
    Restart,
}

/// A client that does what a correct collector does: refreshes tokens on 401, honours
/// `Retry-After`, retries 5xx, time-outs, HTML and truncated bodies, and re-runs the window
/// when a next link has expired.
pub struct Patient {
    client: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: String,
    audience: Audience,
    format: Format,
    token: Option<String>,
    /// What went wrong along the way, by kind.
    pub trouble: HashMap<&'static str, u32>,
}

impl Patient {
    pub fn new(simulator: &Simulator, audience: Audience, format: Format) -> Patient {
        Patient {
            client: reqwest::Client::builder()
                .timeout(Duration::from_millis(1500))
                .default_headers(reqwest::header::HeaderMap::from_iter([(
                    reqwest::header::HeaderName::from_static("prefer"),
                    reqwest::header::HeaderValue::from_static("include-unknown-enum-members"),
                )]))
                .build()
                .unwrap(),
            token_url: simulator.token_url(),
            client_id: simulator.client_id().to_owned(),
            client_secret: simulator.client_secret().to_owned(),
            audience,
            format,
            token: None,
            trouble: HashMap::new(),
        }
    }

    fn note(&mut self, what: &'static str) {
        *self.trouble.entry(what).or_default() += 1;
    }

    async fn token(&mut self) -> String {
        if let Some(token) = &self.token {
            return token.clone();
        }
        let response = self
            .client
            .post(&self.token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("client_secret", &self.client_secret),
                ("scope", &self.audience.scope()),
            ])
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        let token = body["access_token"].as_str().unwrap().to_owned();
        self.token = Some(token.clone());
        token
    }

    async fn attempt(&mut self, url: &Url) -> Attempt {
        let token = self.token().await;
        let sent = self
            .client
            .get(url.clone())
            .bearer_auth(token)
            .header("Accept", "application/json")
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(_) => {
                self.note("transport");
                return Attempt::Retry(Duration::ZERO);
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let html = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        let Ok(body) = response.bytes().await else {
            self.note("body");
            return Attempt::Retry(Duration::ZERO);
        };
        match status {
            StatusCode::OK if html => {
                self.note("html");
                Attempt::Retry(Duration::ZERO)
            }
            StatusCode::OK => {
                let page: Value = match serde_json::from_slice(&body) {
                    Ok(page) => page,
                    Err(_) => {
                        self.note("invalid json");
                        return Attempt::Retry(Duration::ZERO);
                    }
                };
                match read_page(self.format, &body) {
                    Ok(records) => Attempt::Page(records, next_link(&page)),
                    Err(error) => panic!("a complete page failed to read: {error}"),
                }
            }
            StatusCode::UNAUTHORIZED => {
                self.note("401");
                Attempt::NewToken
            }
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                self.note("429/503");
                let seconds = retry_after.expect("throttling answers carry Retry-After");
                Attempt::Retry(Duration::from_secs(seconds))
            }
            StatusCode::INTERNAL_SERVER_ERROR => {
                self.note("500");
                Attempt::Retry(Duration::from_millis(50))
            }
            StatusCode::BAD_REQUEST if String::from_utf8_lossy(&body).contains("skip token") => {
                self.note("expired link");
                Attempt::Restart
            }
            other => panic!(
                "unexpected {other} for {url}: {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }

    /// Reads every page of the window starting at `first`, retrying as needed.
    pub async fn read_window(&mut self, first: Url) -> Vec<Record> {
        'run: for _ in 0..20 {
            let mut url = first.clone();
            let mut records = Vec::new();
            let mut attempts = 0;
            loop {
                attempts += 1;
                assert!(attempts < 200, "the simulator never answered {url}");
                match self.attempt(&url).await {
                    Attempt::Page(page, next) => {
                        records.extend(page);
                        attempts = 0;
                        match next {
                            Some(link) => url = url.join(&link).unwrap(),
                            None => return records,
                        }
                    }
                    Attempt::Retry(wait) => tokio::time::sleep(wait).await,
                    Attempt::NewToken => self.token = None,
                    Attempt::Restart => continue 'run,
                }
            }
        }
        panic!("the window never completed");
    }
}

/// Identity → status, failing on a duplicate identity.
pub fn by_identity(records: &[Record]) -> HashMap<u128, Record> {
    let mut map = HashMap::new();
    for record in records {
        let mut plain = record.clone();
        plain.start_date = None;
        plain.end_date = None;
        plain.index = None;
        let previous = map.insert(record.identity(), plain);
        assert!(previous.is_none(), "identity returned twice: {record:?}");
    }
    map
}
