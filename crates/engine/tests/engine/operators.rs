//! The operators beyond the app's panels, on small stores built here, with expected values
//! worked out by hand: `accum`, `total`, `topk`, `dedup`, `outlier`, `pct`, `first`/`last`,
//! `values`, `json auto`, `fillmissing … takeLast`, `parse regex … multi`, `split`, the
//! threat lookups, dashboard filters at `*`, and `explain`.

use std::collections::BTreeMap;

use mailscope_engine::exec::{QueryOptions, QueryResult, Value, execute, explain};
use mailscope_record::Status;

use super::query::{JSON, at, record, run, sample, store_with};

fn int(v: i64) -> Value {
    Value::Int(v)
}

fn text(v: &str) -> Value {
    Value::Text(v.into())
}

fn float(value: &Value) -> f64 {
    match value {
        Value::Int(v) => *v as f64,
        Value::Float(v) => *v,
        other => panic!("not a number: {other:?}"),
    }
}

fn options() -> QueryOptions {
    QueryOptions {
        from: at("2026-10-24T00:00:00Z"),
        to: at("2026-10-28T00:00:00Z"),
        time_zone: chrono_tz::Tz::UTC,
        geo: None,
        asn: None,
        threat: None,
        max_raw_rows: 1_000,
    }
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn accum_and_total_add_up_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    // Daily sums of Size: 1000, 2000+3000, 4000, 5000.
    let result = run(
        dir.path(),
        &format!("{JSON} | timeslice 1d | sum(size) as s by _timeslice | accum s | total s as all"),
        "UTC",
        None,
    );
    assert_eq!(result.columns, ["_timeslice", "s", "_accum", "all"]);
    let running: Vec<f64> = result.rows.iter().map(|r| float(&r[2])).collect();
    assert_eq!(running, [1000.0, 6000.0, 10000.0, 15000.0]);
    assert!(result.rows.iter().all(|r| float(&r[3]) == 15000.0));
    // Per group, after an explicit sort (descending time).
    let result = run(
        dir.path(),
        &format!(
            "{JSON} | count by _messagetime, status | sort by _messagetime | accum _count as n by status | fields status, n"
        ),
        "UTC",
        None,
    );
    let delivered: Vec<Value> = result
        .rows
        .iter()
        .filter(|r| r[0] == text("Delivered"))
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(delivered, [int(1), int(2), int(3)]);
}

#[test]
fn topk_ranks_within_each_group() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    // Delivered: sender0 once, sender1 twice; Failed: sender2; Pending: sender0.
    let result = run(
        dir.path(),
        &format!("{JSON} | count by status, sender_address | topk(1, _count) by status"),
        "UTC",
        None,
    );
    assert_eq!(
        result.columns,
        ["status", "sender_address", "_count", "_rank"]
    );
    assert_eq!(
        result.rows,
        vec![
            vec![
                text("Delivered"),
                text("sender1@fabrikam.example"),
                int(2),
                int(1)
            ],
            vec![
                text("Failed"),
                text("sender2@fabrikam.example"),
                int(1),
                int(1)
            ],
            vec![
                text("Pending"),
                text("sender0@fabrikam.example"),
                int(1),
                int(1)
            ],
        ]
    );
    // An empty input gives no rows, not an error.
    let empty = run(
        dir.path(),
        &format!("{JSON} | where status = \"Nope\" | count by status | topk(3, _count)"),
        "UTC",
        None,
    );
    assert!(empty.rows.is_empty());
}

#[test]
fn dedup_keeps_the_newest_rows_per_key() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    let result = run(
        dir.path(),
        &format!("{JSON} | dedup by status | fields status, subject"),
        "UTC",
        None,
    );
    let mut rows: Vec<(Value, Value)> = result
        .rows
        .iter()
        .map(|r| (r[1].clone(), r[2].clone()))
        .collect();
    rows.sort_by_key(|(s, _)| format!("{s:?}"));
    assert_eq!(
        rows,
        [
            (text("Delivered"), text("Report 4")),
            (text("Failed"), text("Report 2")),
            (text("Pending"), text("Report 3")),
        ]
    );
    let two = run(
        dir.path(),
        &format!("{JSON} | dedup 2 by status | count by status | sort by status asc"),
        "UTC",
        None,
    );
    assert_eq!(two.rows[0], vec![text("Delivered"), int(2)]);
    // Without `by`, only rows equal in every field are duplicates.
    let all = run(
        dir.path(),
        &format!("{JSON} | fields status | dedup | count"),
        "UTC",
        None,
    );
    assert_eq!(all.rows, vec![vec![int(5)]]);
}

/// Hourly counts 1,3,1,3,1,3,1,3,20,3 from 2026-10-24T00:00Z.
fn series() -> Vec<mailscope_record::Record> {
    let counts = [1, 3, 1, 3, 1, 3, 1, 3, 20, 3];
    let mut records = Vec::new();
    let mut n = 0;
    for (hour, count) in counts.iter().enumerate() {
        for minute in 0..*count {
            let received = format!("2026-10-24T{hour:02}:{minute:02}:00Z");
            records.push(record(n, Status::Delivered, &received, None));
            n += 1;
        }
    }
    records
}

#[test]
fn outlier_flags_values_beyond_the_band_of_the_previous_window() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), series(), None);
    let query = format!(
        "{JSON} | timeslice 1h | count by _timeslice | outlier _count window=4 threshold=2 consecutive=1 direction=+-"
    );
    let result = run(dir.path(), &query, "UTC", None);
    assert_eq!(
        result.columns,
        [
            "_timeslice",
            "_count",
            "_count_error",
            "_count_lower",
            "_count_upper",
            "_count_indicator",
            "_count_violation"
        ]
    );
    assert_eq!(result.rows.len(), 10);
    // Before a full window: no band, no flags.
    for row in &result.rows[..4] {
        assert_eq!(row[2..5], [Value::Null, Value::Null, Value::Null]);
        assert_eq!(row[5..], [int(0), int(0)]);
    }
    // Hour 4: previous 1,3,1,3: mean 2, sample sd sqrt(4/3).
    let sd = (4.0f64 / 3.0).sqrt();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    let hour4 = &result.rows[4];
    assert!(close(float(&hour4[2]), -1.0));
    assert!(close(float(&hour4[3]), 2.0 - 2.0 * sd));
    assert!(close(float(&hour4[4]), 2.0 + 2.0 * sd));
    assert_eq!(hour4[5..], [int(0), int(0)]);
    // Hour 8: 20 against mean 2: an outlier and, with consecutive=1, a violation.
    assert!(close(float(&result.rows[8][2]), 18.0));
    assert_eq!(result.rows[8][5..], [int(1), int(1)]);
    // Hour 9: previous 3,1,3,20: mean 6.75; 3 is inside the band.
    assert!(close(float(&result.rows[9][2]), 3.0 - 6.75));
    assert_eq!(result.rows[9][5..], [int(0), int(0)]);
    // Only values below the band count with direction=-; two in a row with consecutive=2.
    let below = run(
        dir.path(),
        &format!(
            "{JSON} | timeslice 1h | count by _timeslice | outlier _count window=4 threshold=2 direction=-"
        ),
        "UTC",
        None,
    );
    assert!(below.rows.iter().all(|r| r[5] == int(0)));
    let twice = run(
        dir.path(),
        &format!(
            "{JSON} | timeslice 1h | count by _timeslice | outlier _count window=4 threshold=2 consecutive=2"
        ),
        "UTC",
        None,
    );
    assert_eq!(twice.rows[8][5..], [int(1), int(0)]);
}

#[test]
fn outlier_runs_per_group_and_on_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), series(), None);
    let result = run(
        dir.path(),
        &format!(
            "{JSON} | timeslice 1h | count by _timeslice, status | outlier _count by status window=4 threshold=2"
        ),
        "UTC",
        None,
    );
    assert_eq!(result.rows.len(), 10);
    assert_eq!(result.rows.iter().filter(|r| r[6] == int(1)).count(), 1);
    let empty = run(
        dir.path(),
        &format!(
            "{JSON} | where status = \"Nope\" | timeslice 1h | count by _timeslice | outlier _count"
        ),
        "UTC",
        None,
    );
    assert!(empty.rows.is_empty());
}

#[test]
fn pct_first_last_and_values() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    // Sizes 1000..5000: the 25th, 50th and 90th percentiles interpolate linearly.
    let result = run(
        dir.path(),
        &format!(
            "{JSON} | pct(size, 25, 50, 90), median(size), first(subject), last(subject), values(status)"
        ),
        "UTC",
        None,
    );
    assert_eq!(
        result.columns,
        [
            "_size_pct_25",
            "_size_pct_50",
            "_size_pct_90",
            "_median",
            "_first",
            "_last",
            "_values"
        ]
    );
    let row = &result.rows[0];
    assert_eq!(float(&row[0]), 2000.0);
    assert_eq!(float(&row[1]), 3000.0);
    assert!((float(&row[2]) - 4600.0).abs() < 1e-6);
    assert_eq!(float(&row[3]), 3000.0);
    // Newest message first, as Sumo lists messages.
    assert_eq!(row[4], text("Report 4"));
    assert_eq!(row[5], text("<img src=x onerror=alert(1)>"));
    assert_eq!(row[6], text("Delivered\nFailed\nPending"));
    // Grouped, with nulls ignored; a group of only nulls gives null.
    let grouped = run(
        dir.path(),
        &format!(
            "{JSON} | values(fromIP) as ips, first(fromIP) as ip by status | sort by status asc"
        ),
        "UTC",
        None,
    );
    assert_eq!(
        grouped.rows,
        vec![
            vec![
                text("Delivered"),
                text("2003::1\n8.8.8.8\n81.2.69.144"),
                text("2003::1")
            ],
            vec![text("Failed"), text("10.0.0.1"), text("10.0.0.1")],
            vec![text("Pending"), Value::Null, Value::Null],
        ]
    );
    // Within a timeslice, still by message time; after a sort, in that order.
    let daily = run(
        dir.path(),
        &format!(
            "{JSON} | timeslice 1d | first(subject) as f, last(subject) as l by _timeslice | sort by _timeslice asc"
        ),
        "UTC",
        None,
    );
    assert_eq!(daily.rows[1][1..], [text("Report 2"), text("Report 1")]);
    let sorted = run(
        dir.path(),
        &format!("{JSON} | sort by size asc | first(size) as f, last(size) as l"),
        "UTC",
        None,
    );
    assert_eq!(sorted.rows, vec![vec![int(1000), int(5000)]]);
    // A percentile of text that is not a number is null.
    let bad = run(
        dir.path(),
        &format!("{JSON} | pct(status, 50)"),
        "UTC",
        None,
    );
    assert_eq!(bad.rows, vec![vec![Value::Null]]);
}

#[test]
fn json_auto_reads_canonical_fields_or_discovered_keys() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    let canonical = run(
        dir.path(),
        "_sourceCategory=labs/* | json auto | count by Status | sort by Status asc",
        "UTC",
        None,
    );
    assert_eq!(canonical.columns, ["Status", "_count"]);
    assert_eq!(canonical.rows[0], vec![text("Delivered"), int(3)]);
    let discovered = run(
        dir.path(),
        &format!(
            "{JSON} | concat(\"{{\\\"n\\\": \", size, \", \\\"odd key\\\": \\\"x\\\", \\\"o\\\": {{\\\"a\\\": 1}}}}\") as j | json auto field=j | sum(n) as total, values(odd_key) as v, values(o) as o"
        ),
        "UTC",
        None,
    );
    assert_eq!(
        discovered.rows,
        vec![vec![Value::Float(15000.0), text("x"), text("{\"a\":1}")]]
    );
}

#[test]
fn fillmissing_take_last_copies_the_previous_timeslice() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    let result = run(
        dir.path(),
        &format!(
            "{JSON} | timeslice 1d | count by _timeslice, status | fillmissing timeslice, values all in status takeLast | transpose row _timeslice column status"
        ),
        "UTC",
        None,
    );
    assert_eq!(
        result.columns,
        ["_timeslice", "Delivered", "Failed", "Pending"]
    );
    let counts: Vec<Vec<Value>> = result.rows.iter().map(|r| r[1..].to_vec()).collect();
    assert_eq!(
        counts,
        vec![
            vec![int(1), int(0), int(0)],
            vec![int(1), int(1), int(0)],
            vec![int(1), int(1), int(1)],
            vec![int(1), int(1), int(1)],
        ]
    );
}

#[test]
fn fillmissing_over_a_range_without_rows_adds_rows_with_null_keys() {
    // Status is never null in the store, so the aggregation's column was declared
    // non-nullable and the added rows (null status) were refused.
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    let query = mailscope_query::compile(&format!(
        "{JSON} | timeslice 6h | count by _timeslice, status | fillmissing timeslice"
    ))
    .unwrap();
    let options = QueryOptions {
        from: at("2026-10-20T00:00:00Z"),
        to: at("2026-10-21T00:00:00Z"),
        ..options()
    };
    let result = block_on(execute(dir.path(), &query, &options)).unwrap();
    assert_eq!(result.columns, ["_timeslice", "status", "_count"]);
    assert_eq!(result.rows.len(), 4);
    assert!(
        result
            .rows
            .iter()
            .all(|r| r[1] == Value::Null && r[2] == int(0)),
        "{:?}",
        result.rows
    );
}

#[test]
fn parse_regex_multi_gives_one_row_per_match_with_every_group() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample()[..2].to_vec(), None);
    let result = run(
        dir.path(),
        &format!(
            "{JSON} | \"k1=v1;k2=v2\" as s | parse regex field=s \"(?<k>\\\\w+)=(?<v>\\\\w+)\" multi | count by k, v | sort by k asc"
        ),
        "UTC",
        None,
    );
    assert_eq!(
        result.rows,
        vec![
            vec![text("k1"), text("v1"), int(2)],
            vec![text("k2"), text("v2"), int(2)]
        ]
    );
    // No match: dropped, or kept once with null groups under nodrop.
    let dropped = run(
        dir.path(),
        &format!("{JSON} | parse regex field=subject \"(?<a>zz)(?<b>q)\" multi | count"),
        "UTC",
        None,
    );
    assert_eq!(dropped.rows, vec![vec![int(0)]]);
    let kept = run(
        dir.path(),
        &format!(
            "{JSON} | parse regex field=subject \"(?<a>zz)(?<b>q)\" multi nodrop | count(a) as a, count"
        ),
        "UTC",
        None,
    );
    assert_eq!(kept.rows, vec![vec![int(0), int(2)]]);
}

#[test]
fn split_and_csv_take_columns() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample()[..1].to_vec(), None);
    let result = run(
        dir.path(),
        &format!(
            "{JSON} | \"a,\\\"b,c\\\",d\" as line | split line extract 1 as x, 2 as y, 9 as z | csv line extract p, _, r | count by x, y, z, p, r"
        ),
        "UTC",
        None,
    );
    assert_eq!(
        result.rows,
        vec![vec![
            text("a"),
            text("b,c"),
            Value::Null,
            text("a"),
            text("d"),
            int(1)
        ]]
    );
    let semicolons = run(
        dir.path(),
        &format!(
            "{JSON} | \"1;2\\\\;3\" as line | split line delim=';' extract 2 as b | count by b"
        ),
        "UTC",
        None,
    );
    assert_eq!(semicolons.rows[0][0], text("2;3"));
}

#[test]
fn threat_lookups_without_feeds_answer_null_columns_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    for stage in [
        "threatip fromIP | count by malicious_confidence, actor, raw_threat, type, threat_source",
        "lookup type, actor, raw, threatlevel as malicious_confidence from sumo://threat/cs on threat=sender_address | count by malicious_confidence",
        "threatlookup singleIndicator fromIP | count by %\"_threatlookup.confidence\", %\"_threatlookup.num_matches\"",
        "threatlookup fromIP | count by %\"_threatlookup.indicator\"",
    ] {
        let result = run(dir.path(), &format!("{JSON} | {stage}"), "UTC", None);
        assert_eq!(result.rows.len(), 1, "{stage}");
        assert!(
            result.rows[0][..result.columns.len() - 1]
                .iter()
                .all(|v| *v == Value::Null)
        );
        assert_eq!(*result.rows[0].last().unwrap(), int(5));
        assert!(
            result.warnings.iter().any(|w| w.contains("threat")),
            "{stage}: {:?}",
            result.warnings
        );
    }
}

/// Indicators for the sample's senders: a network and, inside it, the sender's own address
/// (longest prefix wins), a second feed's entry for the same address, and one e-mail address.
fn threat_index() -> std::sync::Arc<mailscope_threat::ThreatIndex> {
    use mailscope_threat::{Indicator, ThreatIndex, parse_value};
    let since = at("2026-01-01T00:00:00Z");
    let make = |source: &str, value: &str, confidence: u8, actor: Option<&str>| {
        let mut indicator = Indicator::new(source, parse_value(value).unwrap(), since);
        indicator.confidence = Some(confidence);
        indicator.actors = actor.map(str::to_owned).into_iter().collect();
        indicator.labels = vec!["Spam/Bulk".into()];
        indicator
    };
    let mut expired = make("old-feed", "8.8.8.8", 95, None);
    expired.valid_until = Some(at("2026-02-01T00:00:00Z"));
    std::sync::Arc::new(ThreatIndex::new(vec![
        make("drop", "81.2.69.0/24", 90, Some("Net Owner")),
        make("et", "81.2.69.144", 40, None),
        make("stix", "81.2.69.144", 60, Some("Spam Actor")),
        make("stix", "sender1@fabrikam.example", 85, Some("Mailer")),
        expired,
    ]))
}

fn run_with_threat(dir: &std::path::Path, query: &str) -> mailscope_engine::exec::QueryResult {
    let compiled = mailscope_query::compile(query).unwrap_or_else(|d| panic!("{d:?}"));
    let options = QueryOptions {
        threat: Some(threat_index()),
        ..options()
    };
    block_on(execute(dir, &compiled, &options)).unwrap()
}

#[test]
fn threatip_answers_the_longest_prefix_and_the_best_entry() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    let result = run_with_threat(
        dir.path(),
        &format!(
            "{JSON} | threatip fromIP | where !isNull(malicious_confidence) | count by fromIP, malicious_confidence, actor, type, threat_source, raw_threat"
        ),
    );
    assert!(result.warnings.is_empty(), "{:?}", result.warnings);
    // Only 81.2.69.144 matches: 8.8.8.8's entry expired, 10.0.0.1 and 2003::1 are unlisted.
    // Its /32 (two feeds) beats the /24; both /32 entries have the same time, so the higher
    // confidence (60, medium) is the best.
    assert_eq!(result.rows.len(), 1, "{:?}", result.rows);
    let row = &result.rows[0];
    assert_eq!(
        row[..6],
        [
            text("81.2.69.144"),
            text("medium"),
            text("Spam Actor"),
            text("ip_address"),
            text("stix"),
            row[5].clone(),
        ]
    );
    let Value::Text(raw) = &row[5] else {
        panic!("raw {row:?}")
    };
    let raw: serde_json::Value = serde_json::from_str(raw).unwrap();
    assert_eq!(raw["labels"][0]["name"], "Spam/Bulk");
    assert_eq!(raw["indicator"], "81.2.69.144");
    assert_eq!(*row.last().unwrap(), int(1));
}

#[test]
fn the_apps_email_lookup_finds_email_indicators() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    // The original panel's shape: count per sender, then the legacy lookup on the address.
    let result = run_with_threat(
        dir.path(),
        &format!(
            "{JSON} | count as email_count by sender_address | lookup type, actor, raw, threatlevel as malicious_confidence from sumo://threat/cs on threat=sender_address | json field=raw \"labels[*].name\" as label_name | where type=\"email_address\" and !isNull(malicious_confidence) | fields sender_address, email_count, malicious_confidence, actor, label_name"
        ),
    );
    assert_eq!(
        result.rows,
        vec![vec![
            text("sender1@fabrikam.example"),
            int(2),
            text("high"),
            text("Mailer"),
            text("[\"Spam/Bulk\"]"),
        ]],
        "{:?}",
        result.columns
    );
}

#[test]
fn threatlookup_gives_a_row_per_entry_or_the_single_best() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    let all = run_with_threat(
        dir.path(),
        &format!(
            "{JSON} | threatlookup fromIP | count by fromIP, %\"_threatlookup.source\", %\"_threatlookup.confidence\", %\"_threatlookup.num_matches\" | sort by fromIP asc, %\"_threatlookup.source\" asc"
        ),
    );
    let row = |ip: &str, source: Value, confidence: Value, matches: Value| {
        vec![text(ip), source, confidence, matches, int(1)]
    };
    assert_eq!(
        all.rows,
        vec![
            row("10.0.0.1", Value::Null, Value::Null, Value::Null),
            row("2003::1", Value::Null, Value::Null, Value::Null),
            row("8.8.8.8", Value::Null, Value::Null, Value::Null),
            row("81.2.69.144", text("et"), int(40), int(2)),
            row("81.2.69.144", text("stix"), int(60), int(2)),
            vec![Value::Null, Value::Null, Value::Null, Value::Null, int(1)],
        ],
        "one row per entry; rows without a match stay, the message without FromIP too: {:?}",
        all.rows
    );
    let single = run_with_threat(
        dir.path(),
        &format!(
            "{JSON} | threatlookup singleIndicator source=\"et\" fromIP | where !isNull(%\"_threatlookup.indicator\") | count by fromIP, %\"_threatlookup.confidence\", %\"_threatlookup.type\""
        ),
    );
    assert_eq!(
        single.rows,
        vec![vec![
            text("81.2.69.144"),
            int(40),
            text("ipv4-addr"),
            int(1)
        ]]
    );
    let expired = run_with_threat(
        dir.path(),
        &format!(
            "{JSON} | threatlookup singleIndicator include=\"expired\" fromIP | where !isNull(%\"_threatlookup.source\") | count by fromIP, %\"_threatlookup.source\""
        ),
    );
    assert_eq!(
        expired.rows,
        vec![vec![text("8.8.8.8"), text("old-feed"), int(1)]]
    );
}

#[test]
fn a_dashboard_filter_at_star_keeps_rows_with_null_fields() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    let source = format!("{JSON} | where fromIP matches \"{{{{ip}}}}\" | count");
    let count = |value: &str| {
        let variables = BTreeMap::from([("ip".to_string(), value.to_string())]);
        let query = mailscope_query::compile_with_variables(&source, &variables).unwrap();
        block_on(execute(dir.path(), &query, &options()))
            .unwrap()
            .rows[0][0]
            .clone()
    };
    assert_eq!(count("*"), int(5), "the message without FromIP is kept");
    assert_eq!(count("8.8.*"), int(1));
    let literal = run(
        dir.path(),
        &format!("{JSON} | where fromIP matches \"*\" | count"),
        "UTC",
        None,
    );
    assert_eq!(
        literal.rows,
        vec![vec![int(4)]],
        "written literally: not null"
    );
}

#[test]
fn explain_shows_every_plan_segment() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    let query = mailscope_query::compile(&format!(
        "{JSON} | timeslice 1d | count by _timeslice, status | fillmissing timeslice, values all in status | transpose row _timeslice column status"
    ))
    .unwrap();
    let text = block_on(explain(dir.path(), &query, &options())).unwrap();
    assert!(
        text.contains("== 1. segment before fillmissing =="),
        "{text}"
    );
    assert!(text.contains("== fillmissing (runs on the materialised result) =="));
    assert!(text.contains("== transpose (runs on the materialised result) =="));
    assert!(text.contains("== 3. final segment =="), "{text}");
    assert_eq!(text.matches("-- logical plan (optimized)").count(), 3);
    assert_eq!(text.matches("-- physical plan").count(), 3);
    assert!(text.contains("Aggregate"), "{text}");
}

/// Daily Delivered counts and sizes over the test range: 1 (1000 bytes), 1 (2000), none
/// (only a Pending message) and 1 (5000).
fn delivered_per_day(dir: &std::path::Path, aggregate: &str, after: &str) -> QueryResult {
    run(
        dir,
        &format!(
            "_sourceCategory=* | json \"Status\", \"Size\" as status, size | where status matches \"*Delivered*\" | timeslice 1d | {aggregate} by _timeslice | fillmissing timeslice | {after}"
        ),
        "UTC",
        None,
    )
}

#[test]
fn operators_after_fillmissing_and_transpose_read_the_filled_rows() {
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    let close = |a: &Value, b: f64| (float(a) - b).abs() < 1e-9;
    let day = |d: u32| Value::Time(at(&format!("2026-10-{d}T00:00:00Z")).timestamp_millis());

    // The app's panel with its one-week window: the range has four days, so no full window
    // yet; the 26th (no mail) is a 0 point.
    let weekly = delivered_per_day(
        dir.path(),
        "count as delivered",
        "outlier delivered window=7, threshold=3",
    );
    assert_eq!(
        weekly.columns,
        [
            "_timeslice",
            "delivered",
            "delivered_error",
            "delivered_lower",
            "delivered_upper",
            "delivered_indicator",
            "delivered_violation"
        ]
    );
    let days: Vec<Value> = (24..28).map(day).collect();
    assert_eq!(
        weekly.rows.iter().map(|r| r[0].clone()).collect::<Vec<_>>(),
        days
    );
    assert_eq!(
        weekly.rows.iter().map(|r| r[1].clone()).collect::<Vec<_>>(),
        [int(1), int(1), int(0), int(1)]
    );
    for row in &weekly.rows {
        assert_eq!(row[2..5], [Value::Null, Value::Null, Value::Null]);
        assert_eq!(row[5..], [int(0), int(0)]);
    }

    // Over two days the filled 0 is an outlier: previous 1, 1 (mean 1, sd 0).
    let counts = delivered_per_day(
        dir.path(),
        "count as delivered",
        "outlier delivered window=2 threshold=3",
    );
    assert_eq!(counts.rows.len(), 4);
    for row in &counts.rows[..2] {
        assert_eq!(
            row[2..],
            [Value::Null, Value::Null, Value::Null, int(0), int(0)]
        );
    }
    let filled = &counts.rows[2];
    assert_eq!(filled[..2], [day(26), int(0)]);
    assert!(close(&filled[2], -1.0) && close(&filled[3], 1.0) && close(&filled[4], 1.0));
    assert_eq!(filled[5..], [int(1), int(1)]);
    // The 27th: previous 1, 0: mean 0.5, sample sd sqrt(0.5).
    let sd = 0.5f64.sqrt();
    let last = &counts.rows[3];
    assert_eq!(last[..2], [day(27), int(1)]);
    assert!(close(&last[2], 0.5));
    assert!(close(&last[3], 0.5 - 3.0 * sd) && close(&last[4], 0.5 + 3.0 * sd));
    assert_eq!(last[5..], [int(0), int(0)]);

    // The size panel: sums 1000, 2000, 0 (filled), 5000.
    let bytes = delivered_per_day(
        dir.path(),
        "sum(size) as bytes",
        "outlier bytes window=2 threshold=3",
    );
    assert_eq!(bytes.columns[..3], ["_timeslice", "bytes", "bytes_error"]);
    let sums: Vec<f64> = bytes.rows.iter().map(|r| float(&r[1])).collect();
    assert_eq!(sums, [1000.0, 2000.0, 0.0, 5000.0]);
    // The 26th: previous 1000, 2000: mean 1500, sd sqrt(500000); 0 is inside 3 sd.
    let sd = 500_000f64.sqrt();
    let filled = &bytes.rows[2];
    assert!(close(&filled[2], -1500.0));
    assert!(close(&filled[3], 1500.0 - 3.0 * sd) && close(&filled[4], 1500.0 + 3.0 * sd));
    assert_eq!(filled[5..], [int(0), int(0)]);
    // The 27th: previous 2000, 0: mean 1000, sd sqrt(2000000).
    assert!(close(&bytes.rows[3][2], 4000.0));

    // The other window operators over the filled rows.
    let accumulated = delivered_per_day(
        dir.path(),
        "count as delivered",
        "accum delivered as running | total delivered as all",
    );
    assert_eq!(
        accumulated.columns,
        ["_timeslice", "delivered", "running", "all"]
    );
    assert_eq!(
        accumulated
            .rows
            .iter()
            .map(|r| r[2..].to_vec())
            .collect::<Vec<_>>(),
        vec![
            vec![int(1), int(3)],
            vec![int(2), int(3)],
            vec![int(2), int(3)],
            vec![int(3), int(3)],
        ]
    );
    let ranked = delivered_per_day(
        dir.path(),
        "count as delivered",
        "topk(1, delivered) | fields _timeslice, delivered, _rank",
    );
    assert_eq!(ranked.rows, vec![vec![day(27), int(1), int(1)]]);
    let deduplicated = delivered_per_day(
        dir.path(),
        "count as delivered",
        "dedup by delivered | sort by _timeslice asc",
    );
    assert_eq!(
        deduplicated.rows,
        vec![vec![day(26), int(0)], vec![day(27), int(1)]]
    );

    // After transpose: the pivoted columns, by status, with an outlier and a running sum.
    let pivoted = run(
        dir.path(),
        &format!(
            "{JSON} | timeslice 1d | count by _timeslice, status | fillmissing timeslice, values all in status | transpose row _timeslice column status | outlier Delivered window=2 threshold=3 | accum Failed as failures"
        ),
        "UTC",
        None,
    );
    assert_eq!(
        pivoted.columns,
        [
            "_timeslice",
            "Delivered",
            "Failed",
            "Pending",
            "Delivered_error",
            "Delivered_lower",
            "Delivered_upper",
            "Delivered_indicator",
            "Delivered_violation",
            "failures"
        ]
    );
    let delivered: Vec<Value> = pivoted.rows.iter().map(|r| r[1].clone()).collect();
    assert_eq!(delivered, [int(1), int(1), int(0), int(1)]);
    assert_eq!(pivoted.rows[2][7..9], [int(1), int(1)]);
    let failures: Vec<Value> = pivoted.rows.iter().map(|r| r[9].clone()).collect();
    assert_eq!(failures, [int(0), int(1), int(1), int(1)]);
}

#[test]
fn an_engine_with_a_result_cap_keeps_that_many_aggregated_rows_and_says_so() {
    use mailscope_engine::exec::{Engine, Snapshot};
    let dir = tempfile::tempdir().unwrap();
    store_with(dir.path(), sample(), None);
    let snapshot = Snapshot::load(dir.path()).unwrap();
    let query = |text: &str| mailscope_query::compile(text).unwrap();
    let uncapped = block_on(execute(
        dir.path(),
        &query(&format!("{JSON} | count by subject | sort by subject")),
        &options(),
    ))
    .unwrap();
    assert!(uncapped.rows.len() > 2, "{uncapped:?}");
    assert!(uncapped.warnings.is_empty());
    let engine = Engine::default().with_max_result_rows(2);
    let capped = block_on(engine.execute(
        &snapshot,
        &query(&format!("{JSON} | count by subject | sort by subject")),
        &options(),
    ))
    .unwrap();
    // The first rows of the same order, and a warning naming the cap.
    assert_eq!(capped.rows, uncapped.rows[..2]);
    assert!(
        capped.warnings.iter().any(|w| w.contains("first 2 rows")),
        "{:?}",
        capped.warnings
    );
    // A result within the cap is whole and warns of nothing; raw rows have their own cap.
    let small = block_on(engine.execute(&snapshot, &query(&format!("{JSON} | count")), &options()))
        .unwrap();
    assert_eq!(small.rows.len(), 1);
    assert!(small.warnings.is_empty(), "{:?}", small.warnings);
    let raw = block_on(engine.execute(&snapshot, &query(JSON), &options())).unwrap();
    assert_eq!(raw.rows.len(), sample().len());
}
