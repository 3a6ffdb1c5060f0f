//! Every operator over the table of `main.rs`: in the range, newest first, m4 (Pending,
//! c@example.org, 400, no FromIP, no Index), m3 (Delivered, a@, 300, 192.168.1.1, German
//! subject), m2 (Failed, b@, 200, IPv6), m1 (Delivered, a@, 100, 8.8.8.8).

use mailscope_record::Status;
use mailscope_reference::{Error, NoData, ReferenceData, Value};

use super::{JSON, column, message, ms, options, run, run_with, single, text, try_run_with};

fn ints(values: &[i64]) -> Vec<Value> {
    values.iter().map(|v| Value::Int(*v)).collect()
}

fn texts(values: &[&str]) -> Vec<Value> {
    values.iter().map(|v| text(v)).collect()
}

fn day(d: u32) -> Value {
    Value::Time(ms(&format!("2026-10-{d:02}T00:00:00Z")))
}

#[test]
fn messages_come_newest_first_with_raw() {
    let table = run("*");
    assert_eq!(table.columns, ["_messagetime", "_raw"]);
    assert!(!table.ordered);
    assert_eq!(
        column(&table, "_messagetime"),
        vec![
            Value::Time(ms("2026-10-03T23:59:59.999Z")),
            Value::Time(ms("2026-10-02T10:00:00Z")),
            Value::Time(ms("2026-10-01T02:30:00Z")),
            Value::Time(ms("2026-10-01T01:15:00Z")),
        ]
    );
    assert_eq!(
        table.rows[3][1],
        text(
            r#"{"Organization":"contoso.com","MessageId":"<1@example.com>","Received":"2026-10-01T01:15:00.0000000Z","SenderAddress":"a@example.com","RecipientAddress":"bob@contoso.com","Subject":"Subject 1","Status":"Delivered","ToIP":"10.0.0.1","FromIP":"8.8.8.8","Size":100,"MessageTraceId":"00000000-0000-0000-0000-000000000001","StartDate":null,"EndDate":null,"Index":1}"#
        )
    );
}

#[test]
fn messages_show_the_fields_made_and_are_capped() {
    let table = run(r#"* | json "Status", "Size" as status, size"#);
    assert_eq!(table.columns, ["_messagetime", "status", "size"]);
    assert_eq!(column(&table, "size"), ints(&[400, 300, 200, 100]));
    let mut capped = options();
    capped.max_raw_rows = 2;
    let table = run_with("*", &rows(), &capped);
    assert_eq!(table.rows.len(), 2);
    assert_eq!(
        table.rows[0][0],
        Value::Time(ms("2026-10-03T23:59:59.999Z"))
    );
}

fn rows() -> Vec<mailscope_reference::StoredRow> {
    super::table()
}

#[test]
fn a_field_never_made_is_null_and_names_ignore_case() {
    assert_eq!(run(r#"* | where Status = "Failed""#).rows.len(), 0);
    let table = run(r#"* | json "Status" as status | where STATUS = "Failed" | fields sTaTuS"#);
    assert_eq!(table.columns, ["_messagetime", "status"]);
    assert_eq!(column(&table, "status"), texts(&["Failed"]));
}

#[test]
fn json_reads_paths_and_drops_rows_without_nodrop() {
    // A key that is not canonical (case matters in JSON) is read from `_raw`: missing.
    assert_eq!(run(r#"* | json "status""#).rows.len(), 0);
    let table = run(r#"* | json "status" nodrop"#);
    assert_eq!(column(&table, "status"), vec![Value::Null; 4]);
    let table = run(&format!(
        r#"* | {JSON} | concat("{{\"a\":[{{\"b\":", size, "}},{{\"b\":\"x\"}}]}}") as j | json field=j "a[*].b", "a[1].b" as all, second | fields all, second"#
    ));
    assert_eq!(column(&table, "all")[3], text(r#"[100,"x"]"#));
    assert_eq!(column(&table, "second")[3], text("x"));
    // A canonical null (m4's FromIP) does not drop the row.
    assert_eq!(run(r#"* | json "FromIP" as ip"#).rows.len(), 4);
}

#[test]
fn json_auto_exposes_the_canonical_fields() {
    let table = run("* | json auto | fields Status, Size, Received");
    assert_eq!(
        table.columns,
        ["_messagetime", "Received", "Status", "Size"]
    );
    assert_eq!(column(&table, "Size"), ints(&[400, 300, 200, 100]));
    let table = run(&format!(
        r#"* | {JSON} | concat("{{\"k y\":", size, ",\"b\":{{\"c\":1}}}}") as j | json auto field=j | fields k_y, b"#
    ));
    assert_eq!(column(&table, "k_y"), texts(&["400", "300", "200", "100"]));
    assert_eq!(column(&table, "b")[0], text(r#"{"c":1}"#));
}

#[test]
fn parse_with_anchors() {
    let table = run(&format!(
        r#"* | {JSON} | parse field=sender_address "*@*." as user, host | fields user, host"#
    ));
    assert_eq!(column(&table, "user"), texts(&["c", "a", "b", "a"]));
    assert_eq!(
        column(&table, "host"),
        texts(&["example", "example", "example", "example"])
    );
    // No match drops the row, or keeps it with nulls under nodrop.
    assert_eq!(run(r#"* | parse "Subject\":\"Gr*e" as x"#).rows.len(), 1);
    let table = run(r#"* | parse "Subject\":\"Gr*e" as x nodrop"#);
    assert_eq!(
        column(&table, "x"),
        vec![Value::Null, text("üß"), Value::Null, Value::Null]
    );
}

#[test]
fn parse_regex_single_multi_and_nodrop() {
    let table = run(&format!(
        r#"* | {JSON} | extract field=sender_address "(?<user>\w+)@(?<tld>org)?" | fields user, tld"#
    ));
    assert_eq!(column(&table, "user"), texts(&["c", "a", "b", "a"]));
    assert_eq!(column(&table, "tld"), vec![Value::Null; 4]);
    let table = run(&format!(
        r#"* | {JSON} | parse regex field=subject "(?<word>\w+)" multi | count by word"#
    ));
    // Java's `\w` (the query crate translates the pattern) is ASCII only.
    assert_eq!(
        column(&table, "word"),
        texts(&["1", "2", "4", "Gr", "M", "Subject", "aus", "e", "nchen"])
    );
    assert_eq!(column(&table, "_count"), ints(&[1, 1, 1, 1, 1, 3, 1, 1, 1]));
    let table = run(&format!(
        r#"* | {JSON} | parse regex field=subject "(?<digit>\d)" multi nodrop | count by digit"#
    ));
    assert_eq!(
        column(&table, "digit"),
        vec![text("1"), text("2"), text("4"), Value::Null]
    );
    assert_eq!(column(&table, "_count"), ints(&[1, 1, 1, 1]));
}

#[test]
fn split_cuts_columns() {
    let table = run(&format!(
        r#"* | {JSON} | where index = 1 | concat("a,\"b,c\",", size) as line | split line extract 1 as x, 2 as y, 3 as z, 4 as w | fields x, y, z, w"#
    ));
    assert_eq!(
        table.rows[0][1..],
        [text("a"), text("b,c"), text("100"), Value::Null]
    );
}

#[test]
fn where_and_assignments() {
    let table = run(&format!(
        r#"* | {JSON} | where size >= 200 and status != "Pending" | size * 2 as double | fields double"#
    ));
    assert_eq!(column(&table, "double"), ints(&[600, 400]));
    // An assignment over an existing name moves it to the end.
    let table = run(r#"* | json "Status", "Size" as a, b | "x" as A"#);
    assert_eq!(table.columns, ["_messagetime", "b", "A"]);
}

#[test]
fn timeslices_are_clock_aligned() {
    let table = run("* | timeslice 1d | count by _timeslice");
    assert_eq!(column(&table, "_timeslice"), vec![day(1), day(2), day(3)]);
    assert_eq!(column(&table, "_count"), ints(&[2, 1, 1]));
    let table = run("* | timeslice 3 buckets as t | count by t");
    assert_eq!(column(&table, "t"), vec![day(1), day(2), day(3)]);
    let table = run("* | timeslice 1h | count by _timeslice");
    assert_eq!(
        column(&table, "_timeslice")[..2],
        [
            Value::Time(ms("2026-10-01T01:00:00Z")),
            Value::Time(ms("2026-10-01T02:00:00Z"))
        ]
    );
    // In Berlin, day buckets start at local midnight.
    let mut berlin = options();
    berlin.time_zone = "Europe/Berlin".parse().expect("zone");
    let table = run_with("* | timeslice 1d | count by _timeslice", &rows(), &berlin);
    assert_eq!(
        column(&table, "_timeslice"),
        vec![
            Value::Time(ms("2026-09-30T22:00:00Z")),
            Value::Time(ms("2026-10-01T22:00:00Z")),
            Value::Time(ms("2026-10-03T22:00:00Z")),
        ]
    );
    assert_eq!(column(&table, "_count"), ints(&[2, 1, 1]));
}

#[test]
fn aggregates_over_the_table() {
    let q = format!(
        "* | {JSON} | count as n, count(index) as with_index, count_distinct(sender_address) as senders, sum(size) as total, avg(size) as mean, min(size) as smallest, max(size) as largest, pct(size, 50) as p50, pct(size, 90) as p90, median(size) as mid, stddev(size) as sd, first(sender_address) as newest, last(sender_address) as oldest, values(status) as statuses"
    );
    let table = run(&q);
    assert_eq!(table.rows.len(), 1);
    let row = &table.rows[0];
    assert_eq!(
        row[..8],
        [
            Value::Int(4),
            Value::Int(3),
            Value::Int(3),
            Value::Int(1000),
            Value::Float(250.0),
            Value::Int(100),
            Value::Int(400),
            Value::Float(250.0)
        ]
    );
    assert_eq!(row[8], Value::Float(370.0));
    assert_eq!(row[9], Value::Float(250.0));
    let Value::Float(sd) = row[10] else {
        panic!("{row:?}")
    };
    assert!((sd - (50_000.0f64 / 3.0).sqrt()).abs() < 1e-9);
    assert_eq!(
        row[11..],
        [
            text("c@example.org"),
            text("a@example.com"),
            text("Delivered\nFailed\nPending")
        ]
    );
}

#[test]
fn aggregates_by_fields_come_first() {
    let table = run(&format!("* | {JSON} | sum(size) as bytes, count by status"));
    assert_eq!(table.columns, ["status", "bytes", "_count"]);
    assert_eq!(
        column(&table, "status"),
        texts(&["Delivered", "Failed", "Pending"])
    );
    assert_eq!(column(&table, "bytes"), ints(&[400, 200, 400]));
    // A missing `by` field groups everything under null.
    let table = run("* | count by nosuchfield");
    assert_eq!(table.rows, vec![vec![Value::Null, Value::Int(4)]]);
}

#[test]
fn odd_input_to_aggregates() {
    // Text that is not a number sums to nothing: 0 (a float, as text is read as floats).
    assert_eq!(
        single(&format!("* | {JSON} | sum(subject) as s"), "s"),
        Value::Float(0.0)
    );
    assert_eq!(
        single(&format!("* | {JSON} | avg(subject) as a"), "a"),
        Value::Null
    );
    assert_eq!(
        single(&format!("* | {JSON} | sum(message_traceId) as s"), "s"),
        Value::Float(0.0)
    );
    assert_eq!(single("* | sum(nosuchfield) as s", "s"), Value::Float(0.0));
    assert_eq!(
        single(&format!("* | {JSON} | max(start_date) as m"), "m"),
        Value::Null
    );
    assert_eq!(
        single(&format!("* | {JSON} | values(start_date) as v"), "v"),
        Value::Null
    );
    assert_eq!(
        single(
            &format!("* | {JSON} | where size = 100 | stddev(size) as s"),
            "s"
        ),
        Value::Null
    );
}

#[test]
fn empty_ranges() {
    let mut empty = options();
    empty.from_ms = ms("2027-01-01T00:00:00Z");
    empty.to_ms = ms("2027-01-02T00:00:00Z");
    let table = run_with("* | count", &rows(), &empty);
    assert_eq!(table.rows, vec![vec![Value::Int(0)]]);
    let table = run_with("* | count by _sourceCategory", &rows(), &empty);
    assert!(table.rows.is_empty());
    assert_eq!(table.columns, ["_sourceCategory", "_count"]);
    let table = run_with("* | sum(size) as s, avg(size) as a", &rows(), &empty);
    assert_eq!(table.rows, vec![vec![Value::Float(0.0), Value::Null]]);
    let mut inverted = options();
    inverted.to_ms = inverted.from_ms;
    assert!(matches!(
        try_run_with("*", &rows(), &inverted, &NoData),
        Err(Error::Query(_))
    ));
}

#[test]
fn count_frequent_sort_top_limit() {
    let table = run(&format!("* | {JSON} | count_frequent sender_address"));
    assert_eq!(table.columns, ["sender_address", "_approxcount"]);
    assert!(table.ordered);
    assert_eq!(table.rows[0], vec![text("a@example.com"), Value::Int(2)]);
    let table = run(&format!(
        "* | {JSON} | count by sender_address | sort by _count, sender_address asc"
    ));
    assert_eq!(
        column(&table, "sender_address"),
        texts(&["a@example.com", "b@example.com", "c@example.org"])
    );
    let table = run(&format!("* | {JSON} | sort by +size | fields size"));
    assert!(table.ordered);
    assert_eq!(column(&table, "size"), ints(&[100, 200, 300, 400]));
    let table = run(&format!("* | {JSON} | top 1 sender_address"));
    assert_eq!(table.columns, ["sender_address", "_count"]);
    assert_eq!(table.rows, vec![vec![text("a@example.com"), Value::Int(2)]]);
    let table = run(&format!(
        "* | {JSON} | count by status | top 2 status by _count"
    ));
    assert_eq!(column(&table, "_count")[0], Value::Int(2));
    assert_eq!(table.rows.len(), 2);
    let table = run(&format!(
        "* | {JSON} | sort by index | limit 2 | fields index"
    ));
    assert_eq!(column(&table, "index"), ints(&[3, 2]));
    // Nulls sort last in either direction.
    let table = run(&format!("* | {JSON} | sort by index asc | fields index"));
    assert_eq!(
        column(&table, "index"),
        vec![Value::Int(1), Value::Int(2), Value::Int(3), Value::Null]
    );
}

#[test]
fn fields_keep_and_drop() {
    let table = run(&format!(
        "* | {JSON} | count by status, sender_address | fields - sender_address"
    ));
    assert_eq!(table.columns, ["status", "_count"]);
    let table = run(&format!(
        "* | {JSON} | count by status, sender_address | fields sender_address"
    ));
    assert_eq!(table.columns, ["sender_address", "_count"]);
    let table = run(&format!("* | {JSON} | fields size, status"));
    assert_eq!(table.columns, ["_messagetime", "status", "size"]);
}

#[test]
fn fillmissing_generators_defaults_and_take_last() {
    let q = format!(
        r#"* | {JSON} | where status = "Failed" | timeslice 1d | count by _timeslice | fillmissing timeslice | sort by _timeslice asc"#
    );
    let table = run(&q);
    assert_eq!(column(&table, "_timeslice"), vec![day(1), day(2), day(3)]);
    assert_eq!(column(&table, "_count"), ints(&[1, 0, 0]));
    let table = run(&format!(
        r#"* | {JSON} | count by status | fillmissing values ("Delivered", "Expanded") in status"#
    ));
    assert_eq!(
        column(&table, "status"),
        texts(&["Delivered", "Failed", "Pending", "Expanded"])
    );
    assert_eq!(column(&table, "_count"), ints(&[2, 1, 1, 0]));
    let table = run(&format!(
        "* | {JSON} | timeslice 1d | count by _timeslice, status | fillmissing timeslice, values all in status"
    ));
    assert_eq!(table.rows.len(), 9);
    let table = run(&format!(
        r#"* | {JSON} | where status = "Failed" | timeslice 1d | count by _timeslice | fillmissing timeslice with -1 for _count | sort by _timeslice asc"#
    ));
    assert_eq!(column(&table, "_count"), ints(&[1, -1, -1]));
    let table = run(&format!(
        r#"* | {JSON} | where status = "Failed" | timeslice 1d | count by _timeslice | fillmissing timeslice takeLast | sort by _timeslice asc"#
    ));
    assert_eq!(column(&table, "_count"), ints(&[1, 1, 1]));
}

#[test]
fn transpose_pivots() {
    let table = run(&format!(
        "* | {JSON} | timeslice 1d | count by _timeslice, status | transpose row _timeslice column status"
    ));
    assert_eq!(
        table.columns,
        ["_timeslice", "Delivered", "Failed", "Pending"]
    );
    assert!(table.ordered);
    assert_eq!(
        table.rows,
        vec![
            vec![day(1), Value::Int(1), Value::Int(1), Value::Null],
            vec![day(2), Value::Int(1), Value::Null, Value::Null],
            vec![day(3), Value::Null, Value::Null, Value::Int(1)],
        ]
    );
    let table = run(&format!(
        "* | {JSON} | count by sender_address, status | transpose row sender_address column status as Pending, Expanded"
    ));
    assert_eq!(table.columns, ["sender_address", "Pending", "Expanded"]);
    let table = run(&format!(
        "* | {JSON} | count by sender_address, status | transpose row sender_address column status as Pending, *"
    ));
    assert_eq!(
        table.columns,
        ["sender_address", "Pending", "Delivered", "Failed"]
    );
}

/// One message per day for six days: counts 2, 2, 2, 2, 2, 10.
fn daily() -> Vec<mailscope_reference::StoredRow> {
    let counts = [2, 2, 2, 2, 2, 10];
    let mut rows = Vec::new();
    let mut n = 0;
    for (d, count) in counts.iter().enumerate() {
        for _ in 0..*count {
            n += 1;
            rows.push(message(n, &format!("2026-10-{:02}T12:00:00Z", d + 1)));
        }
    }
    rows
}

#[test]
fn outlier_flags_values_beyond_the_band() {
    let mut range = options();
    range.to_ms = ms("2026-10-07T00:00:00Z");
    let table = run_with(
        "* | timeslice 1d | count as n by _timeslice | outlier n window=3 threshold=1",
        &daily(),
        &range,
    );
    assert_eq!(
        table.columns,
        [
            "_timeslice",
            "n",
            "n_error",
            "n_lower",
            "n_upper",
            "n_indicator",
            "n_violation"
        ]
    );
    let f = Value::Float;
    assert_eq!(
        column(&table, "n_error"),
        vec![
            Value::Null,
            Value::Null,
            Value::Null,
            f(0.0),
            f(0.0),
            f(8.0)
        ]
    );
    assert_eq!(column(&table, "n_upper")[5], f(2.0));
    assert_eq!(column(&table, "n_indicator"), ints(&[0, 0, 0, 0, 0, 1]));
    assert_eq!(column(&table, "n_violation"), ints(&[0, 0, 0, 0, 0, 1]));
    let table = run_with(
        "* | timeslice 1d | count as n by _timeslice | outlier n window=3 threshold=1 consecutive=2 direction=-",
        &daily(),
        &range,
    );
    assert_eq!(column(&table, "n_indicator"), ints(&[0, 0, 0, 0, 0, 0]));
}

#[test]
fn dedup_keeps_the_newest_per_key() {
    let table = run(&format!(
        "* | {JSON} | dedup by sender_address | fields sender_address, index"
    ));
    assert_eq!(
        column(&table, "index"),
        vec![Value::Null, Value::Int(3), Value::Int(2)]
    );
    let table = run(&format!(
        "* | {JSON} | dedup 2 by recipient_address | fields index"
    ));
    assert_eq!(
        column(&table, "index"),
        vec![Value::Null, Value::Int(3), Value::Int(2), Value::Int(1)]
    );
    let table = run(&format!("* | {JSON} | count by status | dedup"));
    assert_eq!(table.rows.len(), 3);
}

#[test]
fn topk_ranks_per_group() {
    let table = run(&format!(
        "* | {JSON} | count by status, sender_address | topk(1, _count) by status"
    ));
    assert_eq!(
        table.columns,
        ["status", "sender_address", "_count", "_rank"]
    );
    assert_eq!(
        table.rows,
        vec![
            vec![
                text("Delivered"),
                text("a@example.com"),
                Value::Int(2),
                Value::Int(1)
            ],
            vec![
                text("Failed"),
                text("b@example.com"),
                Value::Int(1),
                Value::Int(1)
            ],
            vec![
                text("Pending"),
                text("c@example.org"),
                Value::Int(1),
                Value::Int(1)
            ],
        ]
    );
}

#[test]
fn accum_and_total() {
    let table = run("* | timeslice 1d | count by _timeslice | accum _count as running");
    assert_eq!(column(&table, "running"), ints(&[2, 3, 4]));
    assert!(table.ordered);
    let table = run(&format!(
        "* | {JSON} | count by status, sender_address | total _count by status"
    ));
    assert_eq!(column(&table, "_total"), ints(&[2, 1, 1]));
    let table = run(&format!(
        "* | {JSON} | accum index by sender_address | fields sender_address, index, _accum"
    ));
    // Forward in time: m1 (a, 1), m2 (b, 2), m3 (a, 3), m4 (c, null).
    assert_eq!(
        column(&table, "_accum"),
        vec![Value::Int(1), Value::Int(2), Value::Int(4), Value::Null]
    );
}

struct Geo;

impl ReferenceData for Geo {
    fn geo(&self, ip: &str, column: &str) -> Value {
        match (ip, column) {
            ("8.8.8.8", "country_name") => text("United States"),
            ("8.8.8.8", "latitude") => Value::Float(37.75),
            ("2001:4860:4860::8888", "country_name") => text("Deutschland"),
            ("192.168.1.1", _) => text("private answers are ignored"),
            _ => Value::Null,
        }
    }
}

#[test]
fn lookups() {
    let q = format!(
        "* | {JSON} | lookup latitude, country_name as country from geo://location on ip = fromIP | fields index, latitude, country"
    );
    let table = try_run_with(&q, &rows(), &options(), &Geo).expect("runs");
    assert_eq!(
        column(&table, "country"),
        vec![
            Value::Null,
            Value::Null,
            text("Deutschland"),
            text("United States")
        ]
    );
    assert_eq!(column(&table, "latitude")[3], Value::Float(37.75));
    let table = try_run_with(
        &format!("* | {JSON} | geoip fromIP | count by country_name"),
        &rows(),
        &options(),
        &Geo,
    )
    .expect("runs");
    assert_eq!(column(&table, "_count"), ints(&[1, 1, 2]));
    let q = format!(
        "* | {JSON} | lookup asn, as_org from asn://default on ip = fromIP | fields asn, as_org"
    );
    let table = run(&q);
    assert_eq!(column(&table, "asn"), vec![Value::Null; 4]);
    let q = format!("* | {JSON} | threatip fromIP | fields malicious_confidence, actor");
    assert_eq!(column(&run(&q), "actor"), vec![Value::Null; 4]);
    let q = format!(
        "* | {JSON} | threatlookup singleIndicator fromIP | count by %\"_threatlookup.indicator\""
    );
    assert_eq!(run(&q).rows, vec![vec![Value::Null, Value::Int(4)]]);
    let q = format!("* | {JSON} | lookup x from path://nowhere.csv on ip = fromIP");
    assert!(matches!(
        try_run_with(&q, &rows(), &options(), &NoData),
        Err(Error::Query(_))
    ));
}

#[test]
fn statuses_of_every_kind_survive() {
    let mut rows = rows();
    rows[0].record.status = Status::Other("Recalled".into());
    let table = run_with(
        &format!("* | {JSON} | where index = 1 | fields status"),
        &rows,
        &options(),
    );
    assert_eq!(column(&table, "status"), texts(&["Recalled"]));
}
