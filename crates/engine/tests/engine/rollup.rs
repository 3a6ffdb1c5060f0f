//! Partial aggregates: random aggregate queries over a store built by many small appends,
//! status updates and compactions give exactly the rows' answer, whichever time range and
//! time zone they run in; the store's rollups are what `verify` recomputes from the rows.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration, TimeZone, Utc};
use mailscope_engine::exec::{Engine, QueryOptions, QueryResult, Snapshot};
use mailscope_engine::geo::GeoDatabase;
use mailscope_engine::store::Store;
use mailscope_record::Record;
use mailscope_simulator::{TenantConfig, generate};
use proptest::prelude::*;

use super::query::{installed_geo, meta};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 5, 0, 0, 0).unwrap()
}

struct Fixture {
    dir: tempfile::TempDir,
    geo: Option<Arc<GeoDatabase>>,
    runtime: tokio::runtime::Runtime,
}

/// A store of a simulated tenant (4 days) ingested in 14 appends — the observations in
/// their order, so later appends update statuses of stored rows and crowded days are
/// compacted — one of them without geolocation (its rows are looked up at query time).
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let geo = installed_geo();
        let records: Vec<Record> = generate(&TenantConfig {
            seed: 17,
            messages: 12_000,
            start: start(),
            days: 4,
        })
        .unwrap()
        .map(|o| o.record)
        .collect();
        let records = with_odd_addresses(records);
        let mut store = Store::open(dir.path()).unwrap();
        let chunk = records.len().div_ceil(14);
        for (n, part) in records.chunks(chunk).enumerate() {
            let geo = if n == 3 { None } else { geo.clone() };
            let mut ingest = store.ingest(geo, meta());
            for record in part {
                ingest.push(record.clone()).unwrap();
            }
            ingest.commit().unwrap();
        }
        drop(store);
        let verified = mailscope_engine::store::verify(dir.path()).unwrap();
        assert!(verified.problems.is_empty(), "{:?}", verified.problems);
        Fixture {
            dir,
            geo,
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
        }
    })
}

/// Addresses whose domain is unusual, or that have none, as senders and recipients of copies
/// of some generated rows: the domain levels must keep exactly what `extract` finds in them.
const ODD_ADDRESSES: [&str; 12] = [
    "",
    "no-at-sign",
    "@lead@contoso.com",
    "a@",
    "x@@y.org",
    "line\n@break.com",
    "ok@MiXeD.Example",
    "ok@mixed.example",
    "two@at@signs.net",
    "üñí@コード.jp",
    "a@b\nc.com",
    "\u{2028}@sep.com",
];

fn with_odd_addresses(mut records: Vec<Record>) -> Vec<Record> {
    let odd: Vec<Record> = records
        .iter()
        .step_by(97)
        .take(120)
        .enumerate()
        .map(|(i, record)| {
            let mut copy = record.clone();
            copy.message_trace_id = format!("00000000-0000-4000-8000-{i:012}");
            let pick = |n: usize| ODD_ADDRESSES[n % ODD_ADDRESSES.len()].to_string();
            if i % 3 != 1 {
                copy.sender_address = pick(i);
            }
            if i % 3 != 0 {
                copy.recipient_address = pick(i / 2 + 5);
            }
            copy
        })
        .collect();
    records.extend(odd);
    records
}

const PRELUDE: &str = r#"| json "Organization", "Status", "SenderAddress", "Size", "FromIP", "ToIP", "Received", "Subject" as organization, status, sender, size, from_ip, to_ip, received, subject"#;

const FILTERS: [&str; 18] = [
    r#"city matches "*""#,
    r#"!isNull(country_code)"#,
    r#"status matches "*Deliver*""#,
    r#"status = "Failed""#,
    r#"status in ("Pending", "Expanded", "Quarantined")"#,
    r#"!(status matches "F*")"#,
    r#"sender matches "*""#,
    r#"country_name matches "*""#,
    r#"country_name matches "United*""#,
    r#"organization matches "*""#,
    r#"toLowerCase(status) = "delivered" or status = "None""#,
    r#"isNull(country_code)"#,
    r#"size > 20000"#,
    r#"subject matches "*""#,
    r#"from_ip matches "*""#,
    r#"received matches "*""#,
    r#"sender matches "*@*""#,
    r#"to_country matches "*""#,
];

const SPANS: [&str; 9] = [
    "15m",
    "30m",
    "1h",
    "2h",
    "1d",
    "5m",
    "20 buckets",
    "45m",
    "2d",
];

const AGGREGATES: [&str; 15] = [
    "count_distinct(domain)",
    "count_distinct(to_ip)",
    "count(from_ip)",
    "count",
    "count(status)",
    "count(country_name)",
    "count(to_country)",
    "count_distinct(status)",
    "count_distinct(country_code)",
    "sum(size)",
    "sum(kb)",
    "min(status)",
    "max(organization)",
    "avg(size)",
    "count_distinct(sender)",
];

const KEYS: [&str; 10] = [
    "status",
    "organization",
    "country_name",
    "outcome",
    "_sourceCategory",
    "to_country",
    "sender",
    "from_ip",
    "domain",
    "to_ip",
];

const EXTRACTIONS: [&str; 7] = [
    "",
    r#"| parse field=sender "*@*" as user, domain"#,
    r#"| parse regex field=sender "@(?<domain>[^.]+)" nodrop"#,
    r#"| parse regex field=subject "(?<domain>\w+)" multi"#,
    // The domains the domain levels keep, dropping or keeping rows without one.
    r#"| extract field=sender ".@(?<domain>.*)""#,
    "| json \"RecipientAddress\" as rcpt\n| extract field=rcpt \".@(?<domain>.*)\" nodrop",
    "| json \"RecipientAddress\" as rcpt\n| parse regex field=rcpt \".@(?<domain>.*)\"",
];

const ZONES: [&str; 5] = [
    "UTC",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Adelaide",
];

prop_compose! {
    fn query()(
        scope in prop::sample::select(vec!["*", "_sourceCategory=Labs/MessageExchangeTraceLogs", "_sourceCategory=other*", "_source=test"]),
        nodrop in any::<bool>(),
        lookup in any::<bool>(),
        filters in prop::collection::vec(prop::sample::select(FILTERS.to_vec()), 0..3),
        span in prop::option::of(prop::sample::select(SPANS.to_vec())),
        aggregates in prop::collection::vec(prop::sample::select(AGGREGATES.to_vec()), 1..3),
        keys in prop::collection::vec(prop::sample::select(KEYS.to_vec()), 0..3),
        tail in prop::sample::select(vec!["", "| sort by _count", "| top 3 status by _count", "| fillmissing timeslice"]),
        extraction in prop::sample::select(EXTRACTIONS.to_vec()),
    ) -> String {
        let mut text = format!("{scope}\n{PRELUDE}{}", if nodrop { " nodrop" } else { "" });
        if lookup {
            text.push_str("\n| lookup country_code, country_name, city from geo://location on ip=from_ip");
            text.push_str("\n| lookup country_name as to_country from geo://location on ip=to_ip");
        }
        for filter in filters {
            text.push_str(&format!("\n| where {filter}"));
        }
        text.push_str("\n| if(status = \"Delivered\", \"ok\", \"not ok\") as outcome\n| size/1Ki as kb");
        if !extraction.is_empty() {
            text.push_str(&format!("\n{extraction}"));
        }
        let mut keys: Vec<&str> = keys;
        if let Some(span) = span {
            text.push_str(&format!("\n| timeslice {span}"));
            keys.push("_timeslice");
        }
        keys.sort_unstable();
        keys.dedup();
        let aggregates: Vec<String> = aggregates
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{a} as a{i}"))
            .collect();
        text.push_str(&format!("\n| {}", aggregates.join(", ")));
        if !keys.is_empty() {
            text.push_str(&format!(" by {}", keys.join(", ")));
        }
        let fixed_span = span.is_some_and(|s| !s.contains("buckets"));
        if !tail.is_empty() && (tail != "| fillmissing timeslice" || fixed_span) {
            text.push_str(&format!("\n{}", tail.replace("_count", "a0")));
        }
        text
    }
}

/// Rows in a canonical order, so answers without a defined order compare.
fn canonical(result: &QueryResult) -> (Vec<String>, Vec<String>) {
    let mut rows: Vec<String> = result.rows.iter().map(|r| format!("{r:?}")).collect();
    rows.sort_unstable();
    (result.columns.clone(), rows)
}

struct Outcome {
    from_rollups: bool,
    explained: String,
}

fn compare(text: &str, from: DateTime<Utc>, to: DateTime<Utc>, zone: &str) -> Outcome {
    let fixture = fixture();
    let query = mailscope_query::compile(text).unwrap_or_else(|d| panic!("{text}\n{d:?}"));
    let options = QueryOptions {
        from,
        to,
        time_zone: zone.parse().unwrap(),
        geo: fixture.geo.clone(),
        asn: None,
        threat: None,
        max_raw_rows: 1_000,
    };
    let snapshot = Snapshot::load(fixture.dir.path()).unwrap();
    let fast = Engine::default();
    let simple = Engine::default().without_partial_aggregates();
    let run = |engine: &Engine| {
        fixture
            .runtime
            .block_on(engine.execute(&snapshot, &query, &options))
            .unwrap_or_else(|e| panic!("{text}\n{e}"))
    };
    // Aggregations by timeslice computed a part of the range at a time (about ten parts of
    // this store's rows, or of the rollup rows that answer).
    let in_parts = Engine::default().with_rows_per_part(Some(2_000));
    let (answer, expected) = (run(&fast), run(&simple));
    assert_eq!(
        canonical(&answer),
        canonical(&expected),
        "{text}\nfrom {from} to {to} in {zone}"
    );
    assert_eq!(answer.warnings, expected.warnings, "{text}");
    let parted = run(&in_parts);
    assert_eq!(
        canonical(&parted),
        canonical(&expected),
        "in parts: {text}\nfrom {from} to {to} in {zone}"
    );
    assert_eq!(parted.warnings, expected.warnings, "in parts: {text}");
    let explained = fixture
        .runtime
        .block_on(fast.explain(&snapshot, &query, &options))
        .unwrap();
    Outcome {
        from_rollups: explained.contains("answered from partial aggregates"),
        explained,
    }
}

proptest! {
    // `MAILSCOPE_ROLLUP_CASES=5000` for a longer run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("MAILSCOPE_ROLLUP_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(160),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_aggregations_answer_the_same_from_partial_aggregates(
        text in query(),
        from_minutes in 0i64..(2 * 24 * 60),
        length_minutes in 1i64..(3 * 24 * 60),
        zone in prop::sample::select(ZONES.to_vec()),
    ) {
        let from = start() - Duration::hours(6) + Duration::minutes(from_minutes);
        compare(&text, from, from + Duration::minutes(length_minutes), zone);
    }
}

/// The generator is not vacuous: a good share of its queries take the partial-aggregate
/// path, at both levels, over ranges with and without partial buckets.
#[test]
fn panel_shaped_queries_are_answered_from_partial_aggregates() {
    let whole = (start(), start() + Duration::days(4));
    let cut = (
        start() + Duration::minutes(7),
        start() + Duration::hours(50) + Duration::seconds(13),
    );
    let covered = [
        format!(
            "_sourceCategory=Labs/MessageExchangeTraceLogs\n{PRELUDE} nodrop\n| where status matches \"*Delivered*\"\n| where sender matches \"*\"\n| count(status)"
        ),
        format!(
            "*\n{PRELUDE}\n| lookup country_name from geo://location on ip=from_ip\n| where country_name matches \"*\"\n| timeslice 1d\n| count by _timeslice, status"
        ),
        format!(
            "*\n{PRELUDE}\n| size/1Gi as gbytes\n| timeslice 1h\n| sum(gbytes) as total by _timeslice"
        ),
        format!(
            "*\n{PRELUDE}\n| lookup country_code, country_name from geo://location on ip=from_ip\n| where country_name matches \"United*\"\n| count by country_code, organization"
        ),
        format!("*\n{PRELUDE}\n| count by organization\n| top 10 organization by _count"),
        // By UTC day: the sender, the recipient's domain, the IPs, the subject's words.
        format!(
            "*\n{PRELUDE}\n| where sender matches \"*\"\n| parse regex field=subject \"(?<word>\\w+)\" multi\n| count_frequent word\n| limit 10"
        ),
        format!(
            "*\n{PRELUDE}\n| where status = \"Failed\"\n| parse regex field=subject \"(?<word>\\w+)\" multi\n| sum(size) as s, count_distinct(word) as d by organization"
        ),
        format!(
            "*\n{PRELUDE}\n| where sender matches \"*\"\n| count by sender, status\n| sort by _count\n| limit 10"
        ),
        format!(
            "*\n{PRELUDE}\n| json \"RecipientAddress\" as rcpt\n| extract field=rcpt \".@(?<domain>.*)\"\n| count_distinct(domain)"
        ),
        format!(
            "*\n{PRELUDE}\n| where isValidIP(from_ip) and !isPrivateIP(from_ip)\n| count as n by from_ip\n| lookup country_name from geo://location on ip=from_ip"
        ),
        format!("*\n{PRELUDE}\n| where !isNull(to_ip)\n| count by to_ip"),
    ];
    for text in &covered {
        for (from, to) in [whole, cut] {
            // Quarter-hour levels in every zone; the day levels have no timeslice here.
            for zone in ZONES {
                assert!(
                    compare(text, from, to, zone).from_rollups,
                    "{text} in {zone} should be answered from partial aggregates"
                );
            }
        }
    }
    // By hour: distinct sender and recipient domains (the sparklines), from the domain
    // levels — in zones whose hours are UTC's.
    for (hourly, level) in [
        (
            format!(
                "*\n{PRELUDE}\n| extract field=sender \".@(?<domain>.*)\"\n| timeslice 1h\n| count_distinct(domain) by _timeslice"
            ),
            "level 8",
        ),
        (
            format!(
                "*\n{PRELUDE}\n| json \"RecipientAddress\" as rcpt\n| where status matches \"*\"\n| extract field=rcpt \".@(?<d>.*)\"\n| timeslice 1h\n| count_distinct(d) by _timeslice"
            ),
            "level 9",
        ),
    ] {
        for (zone, expected) in [
            ("UTC", true),
            ("America/New_York", true),
            ("Asia/Kolkata", false),
            ("Australia/Adelaide", false),
        ] {
            for (from, to) in [whole, cut] {
                let outcome = compare(&hourly, from, to, zone);
                assert_eq!(outcome.from_rollups, expected, "{hourly} in {zone}");
                if expected {
                    assert!(
                        outcome.explained.contains(level),
                        "{hourly}: {}",
                        outcome.explained
                    );
                }
            }
        }
    }
    // By sender IP and its country (the sender IPs' threat table), from their level.
    let by_ip_and_country = format!(
        "*\n{PRELUDE}\n| lookup country_name from geo://location on ip=from_ip\n| where country_name matches \"*\"\n| where isValidIP(from_ip) and !isPrivateIP(from_ip)\n| count as n by from_ip, country_name"
    );
    for (from, to) in [whole, cut] {
        let outcome = compare(&by_ip_and_country, from, to, "UTC");
        assert!(
            outcome.explained.contains("(level 10,"),
            "{}",
            outcome.explained
        );
    }
    let rows = [
        // A value a rollup does not keep: the exact time, the size, the message id, the
        // subject (but its words), the words by another definition.
        format!("*\n{PRELUDE}\n| count by received"),
        format!("*\n{PRELUDE}\n| where size > 1000\n| count"),
        format!("*\n{PRELUDE}\n| json \"MessageId\" as id\n| count_distinct(id)"),
        format!("*\n{PRELUDE}\n| count by subject"),
        // Whether a city is known: the finer geolocation's null-ness is not kept.
        format!(
            "*\n{PRELUDE}\n| lookup city from geo://location on ip=from_ip\n| where city matches \"*\"\n| count"
        ),
        format!(
            "*\n{PRELUDE}\n| parse regex field=subject \"(?<word>[a-z]+)\" multi\n| count by word"
        ),
        format!(
            "*\n{PRELUDE}\n| parse regex field=subject \"(?<word>\\w+)\" multi nodrop\n| count by word"
        ),
        // The sender by quarter hour: its levels are by hour and by day.
        format!("*\n{PRELUDE}\n| timeslice 15m\n| count_distinct(sender) by _timeslice"),
        // The recipient by hour: its level is by day (the hourly one keeps its domain only).
        format!(
            "*\n{PRELUDE}\n| json \"RecipientAddress\" as rcpt\n| timeslice 1h\n| count_distinct(rcpt) by _timeslice"
        ),
        // The recipient's domain by hour and its user: the user is not kept by hour.
        format!(
            "*\n{PRELUDE}\n| json \"RecipientAddress\" as rcpt\n| extract field=rcpt \".@(?<d>.*)\"\n| where rcpt matches \"a*\"\n| timeslice 1h\n| count_distinct(d) by _timeslice"
        ),
        // Another regex than the domain levels': the domain by another definition.
        format!(
            "*\n{PRELUDE}\n| json \"RecipientAddress\" as rcpt\n| extract field=rcpt \"@(?<d>.*)\"\n| timeslice 1h\n| count_distinct(d) by _timeslice"
        ),
        // Aggregations that are not sums of parts.
        format!("*\n{PRELUDE}\n| avg(size)"),
        format!("*\n{PRELUDE}\n| first(status)"),
        // A keyword scope reads the record's terms.
        format!("delivered\n{PRELUDE}\n| count"),
        // Messages, not an aggregation.
        format!("*\n{PRELUDE}\n| where status = \"Failed\""),
        // A limit before the aggregation.
        format!("*\n{PRELUDE}\n| limit 5\n| count"),
    ];
    for text in &rows {
        assert!(
            !compare(text, whole.0, whole.1, "UTC").from_rollups,
            "{text} must read rows"
        );
    }
    // A 5-minute timeslice does not fall on the rollups' quarter hours.
    let fine = format!("*\n{PRELUDE}\n| timeslice 5m\n| count by _timeslice");
    assert!(!compare(&fine, whole.0, whole.1, "UTC").from_rollups);
}

/// The first two days of `start()` in UTC, without geolocation.
fn two_days_in_utc() -> QueryOptions {
    QueryOptions {
        from: start(),
        to: start() + Duration::days(2),
        time_zone: chrono_tz::UTC,
        geo: None,
        asn: None,
        threat: None,
        max_raw_rows: 1_000,
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A rollup built with another definition of the levels is never read: its segment answers
/// from rows, and `verify` says why.
#[test]
fn a_rollup_of_another_format_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Record> = generate(&TenantConfig {
        seed: 3,
        messages: 500,
        start: start(),
        days: 2,
    })
    .unwrap()
    .map(|o| o.record)
    .collect();
    super::query::store_with(dir.path(), records, None);
    let catalog_path = dir.path().join("CATALOG");
    let text = std::fs::read_to_string(&catalog_path).unwrap();
    assert!(text.contains("\"format\": 3,"), "{text}");
    std::fs::write(
        &catalog_path,
        text.replace("\"format\": 3,", "\"format\": 0,"),
    )
    .unwrap();

    let query = mailscope_query::compile(&format!("*\n{PRELUDE}\n| count by status")).unwrap();
    let options = two_days_in_utc();
    let runtime = current_thread();
    let snapshot = Snapshot::load(dir.path()).unwrap();
    let explained = runtime
        .block_on(Engine::default().explain(&snapshot, &query, &options))
        .unwrap();
    assert!(
        explained.contains("== input: answered from rows =="),
        "{explained}"
    );
    let problems = mailscope_engine::store::verify(dir.path())
        .unwrap()
        .problems;
    assert!(!problems.is_empty());
    assert!(
        problems.iter().all(|p| p.message.contains("format 0")),
        "{problems:?}"
    );
}

/// A rollup written by the version before the domain levels (format 1, levels 0–7) is still
/// read for those levels and verifies; a query that only a domain level answers takes the
/// next best path, with the same answer.
#[test]
fn a_rollup_of_the_format_before_the_domain_levels_is_read_for_its_levels() {
    use mailscope_engine::store::rollup::{self, RollupBuilder};
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Record> = generate(&TenantConfig {
        seed: 5,
        messages: 800,
        start: start(),
        days: 2,
    })
    .unwrap()
    .map(|o| o.record)
    .collect();
    super::query::store_with(dir.path(), records, None);
    // Every rollup rewritten as the earlier version wrote it, and the catalog with it.
    let catalog_path = dir.path().join("CATALOG");
    let mut catalog: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&catalog_path).unwrap()).unwrap();
    for segment in catalog["segments"].as_array_mut().unwrap() {
        let path = dir.path().join(segment["file"].as_str().unwrap());
        let mut builder = RollupBuilder::of_format(1).unwrap();
        for batch in mailscope_engine::store::segment::batches(&path, 4096).unwrap() {
            builder.add(&batch.unwrap()).unwrap();
        }
        let meta = builder.write(&path).unwrap();
        assert_eq!((meta.format, meta.rows.len()), (1, 8));
        segment["rollup"] = serde_json::to_value(&meta).unwrap();
    }
    std::fs::write(
        &catalog_path,
        serde_json::to_string_pretty(&catalog).unwrap(),
    )
    .unwrap();
    let problems = mailscope_engine::store::verify(dir.path())
        .unwrap()
        .problems;
    assert!(problems.is_empty(), "{problems:?}");

    let runtime = current_thread();
    let snapshot = Snapshot::load(dir.path()).unwrap();
    let options = two_days_in_utc();
    for (text, path) in [
        (
            format!("*\n{PRELUDE}\n| timeslice 1h\n| count by _timeslice, status"),
            Some("level 0"),
        ),
        (
            format!(
                "*\n{PRELUDE}\n| extract field=sender \".@(?<d>.*)\"\n| timeslice 1h\n| count_distinct(d) by _timeslice"
            ),
            Some("level 7"),
        ),
        (
            format!(
                "*\n{PRELUDE}\n| json \"RecipientAddress\" as rcpt\n| extract field=rcpt \".@(?<d>.*)\"\n| timeslice 1h\n| count_distinct(d) by _timeslice"
            ),
            None,
        ),
    ] {
        let query = mailscope_query::compile(&text).unwrap();
        let explained = runtime
            .block_on(Engine::default().explain(&snapshot, &query, &options))
            .unwrap();
        match path {
            Some(level) => assert!(
                explained.contains(&format!("answered from partial aggregates ({level},")),
                "{text}\n{explained}"
            ),
            None => assert!(
                explained.contains("== input: answered from rows =="),
                "{text}\n{explained}"
            ),
        }
        let run = |engine: Engine| {
            runtime
                .block_on(engine.execute(&snapshot, &query, &options))
                .unwrap()
        };
        assert_eq!(
            canonical(&run(Engine::default())),
            canonical(&run(Engine::default().without_partial_aggregates())),
            "{text}"
        );
    }
    assert_eq!(
        rollup::levels_of_format(rollup::ROLLUP_FORMAT),
        rollup::LEVELS.len()
    );
    drop(snapshot);

    // Compaction rewrites the days whose rollups are outdated, oldest first, one segment or
    // many alike; then every level is read.
    let mut store = mailscope_engine::store::Store::open(dir.path()).unwrap();
    let later = (start() + Duration::days(10)).date_naive();
    let first_day = start().format("%Y-%m-%d").to_string();
    assert_eq!(store.compaction_candidate(later, 4), Some(first_day));
    let done = store.compact().unwrap();
    assert_eq!(done.days, 2);
    assert_eq!(store.compaction_candidate(later, 4), None);
    drop(store);
    let catalog = mailscope_engine::store::Catalog::load(dir.path()).unwrap();
    assert!(
        catalog
            .segments
            .iter()
            .all(|s| s.rollup.as_ref().map(|r| r.format) == Some(rollup::ROLLUP_FORMAT))
    );
    let problems = mailscope_engine::store::verify(dir.path())
        .unwrap()
        .problems;
    assert!(problems.is_empty(), "{problems:?}");
    let snapshot = Snapshot::load(dir.path()).unwrap();
    let text = format!(
        "*\n{PRELUDE}\n| json \"RecipientAddress\" as rcpt\n| extract field=rcpt \".@(?<d>.*)\"\n| timeslice 1h\n| count_distinct(d) by _timeslice"
    );
    let query = mailscope_query::compile(&text).unwrap();
    let explained = runtime
        .block_on(Engine::default().explain(&snapshot, &query, &options))
        .unwrap();
    assert!(explained.contains("(level 9,"), "{explained}");
}
