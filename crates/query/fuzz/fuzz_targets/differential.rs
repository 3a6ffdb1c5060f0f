//! The engine against the reference evaluator on a random small tenant and a random query:
//! the fuzzer's bytes choose the records (from pools with the simulator's quirks: nulls,
//! IPv6, private and invalid IPs, non-ASCII subjects, repeated identities with status
//! changes) and then drive the query generator of the differential tests. The records go
//! through the store's ingest (identity, latest status) and the engine's one-shot path; the
//! reference settles the same observations itself. A query that does not compile, an engine
//! error or any difference from the reference is a finding.
#![no_main]

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use libfuzzer_sys::fuzz_target;
use mailscope_engine::exec::{self, QueryOptions};
use mailscope_engine::schema::SourceMeta;
use mailscope_engine::store::Store;
use mailscope_record::{Record, Status};
use mailscope_reference::compare::{Answer, Cell, difference};
use mailscope_reference::corpus::{Bytes, CATEGORY, Choices, QueryGenerator};
use mailscope_reference::{NoData, Options, StoredRow, evaluate, settle};

const SUBJECTS: [&str; 10] = [
    "RE: Invoice 4711 for June",
    "Grüße aus München",
    "",
    " \t ",
    "🎉 Team event",
    "monthly report\nsecond line",
    "<img src=x onerror=alert(1)>",
    "Встреча в пятницу",
    "İstanbul ofisi",
    "FW: 50% off!!!",
];
const ADDRESSES: [&str; 6] = [
    "alice@contoso.com",
    "bob@fabrikam.com",
    "no-reply@zoom.us",
    "jsmith@mail.example.com",
    "ümlaut@bücher.de",
    "x@y",
];
const IPS: [Option<&str>; 7] = [
    Some("40.92.1.2"),
    Some("10.1.2.3"),
    Some("2a01:111:f400::1"),
    Some(""),
    Some("not an ip"),
    Some("192.168.0.1"),
    None,
];
const STATUSES: [Status; 8] = [
    Status::Delivered,
    Status::Failed,
    Status::Pending,
    Status::Expanded,
    Status::Quarantined,
    Status::FilteredAsSpam,
    Status::GettingStatus,
    Status::None,
];

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Up to 40 observations; identities repeat (8 trace ids × the recipients), and a repeated
/// identity keeps its `Received` (as Microsoft reports it).
fn observations(choices: &mut Bytes<'_>) -> Vec<Record> {
    let count = 1 + choices.below(40);
    (0..count)
        .map(|_| {
            let trace = choices.below(8);
            let recipient = ADDRESSES[choices.below(ADDRESSES.len())];
            let minutes = (trace as i64) * 397 + (recipient.len() as i64) * 13;
            Record {
                organization: ["contoso.com", "", "fabrikam.onmicrosoft.com"][choices.below(3)]
                    .to_owned(),
                message_id: [Some(format!("<m{trace}@mail.test>")), None][choices.below(2)].clone(),
                received: start() + Duration::minutes(minutes % 2880),
                sender_address: ADDRESSES[choices.below(ADDRESSES.len())].to_owned(),
                recipient_address: recipient.to_owned(),
                subject: SUBJECTS[choices.below(SUBJECTS.len())].to_owned(),
                status: STATUSES[choices.below(STATUSES.len())].clone(),
                to_ip: IPS[choices.below(IPS.len())].map(str::to_owned),
                from_ip: IPS[choices.below(IPS.len())].map(str::to_owned),
                size: [0, 1, 1024, 55_000, 9_999_999][choices.below(5)],
                message_trace_id: format!("00000000-0000-0000-0000-00000000000{trace}"),
                start_date: None,
                end_date: None,
                index: [None, Some(0), Some(7)][choices.below(3)],
            }
        })
        .collect()
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let mut choices = Bytes(data);
    let records = observations(&mut choices);
    let vocabulary: Vec<String> = ["invoice", "münchen", "contoso", "report", "team"]
        .map(String::from)
        .to_vec();
    let query = QueryGenerator::new(choices, &vocabulary).query();
    let compiled = mailscope_query::compile(&query)
        .unwrap_or_else(|d| panic!("a generated query does not compile: {d:?}\n{query}"));

    let dir = tempfile::tempdir().expect("temp dir");
    let meta = SourceMeta {
        source_category: CATEGORY.into(),
        source: "fuzz".into(),
        collector: "fuzz".into(),
    };
    {
        let mut store = Store::open(dir.path()).expect("store");
        let mut ingest = store.ingest(None, meta);
        for record in &records {
            ingest.push(record.clone()).expect("push");
        }
        ingest.commit().expect("commit");
    }
    let from = start();
    let to = start() + Duration::days(2);
    let options = QueryOptions {
        from,
        to,
        time_zone: chrono_tz::UTC,
        geo: None,
        asn: None,
        threat: None,
        max_raw_rows: 10_000,
    };
    let result = runtime()
        .block_on(exec::execute(dir.path(), &compiled, &options))
        .unwrap_or_else(|e| panic!("the engine failed: {e}\n{query}"));
    let actual = Answer {
        columns: result.columns.clone(),
        rows: result
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|v| match v {
                        exec::Value::Null => Cell::Null,
                        exec::Value::Bool(b) => Cell::Bool(*b),
                        exec::Value::Int(i) | exec::Value::Time(i) => Cell::Num(*i as f64),
                        exec::Value::Float(f) => Cell::Num(*f),
                        exec::Value::Text(t) => Cell::Text(t.clone()),
                    })
                    .collect()
            })
            .collect(),
    };
    let rows = settle(records.into_iter().map(|record| StoredRow {
        record,
        source_category: CATEGORY.into(),
        source: "fuzz".into(),
        collector: "fuzz".into(),
        receipt_time_ms: 0,
    }));
    let reference_options = Options {
        from_ms: from.timestamp_millis(),
        to_ms: to.timestamp_millis(),
        time_zone: chrono_tz::UTC,
        now_ms: 0,
        max_raw_rows: 10_000,
    };
    let table = evaluate(&compiled, &rows, &reference_options, &NoData)
        .unwrap_or_else(|e| panic!("the reference failed: {e:?}\n{query}"));
    if let Some(found) = difference(&Answer::from(&table), &actual, table.ordered) {
        panic!("the engine differs from the reference: {found}\n{query}");
    }
});
