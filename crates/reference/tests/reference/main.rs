//! The reference evaluator over tiny hand-made tables, with hand-computed answers.

mod functions;
mod operators;
mod panels;
mod scope;
mod settle;

use chrono::{DateTime, Utc};
use mailscope_record::{Record, Status};
use mailscope_reference::{
    Error, NoData, Options, ReferenceData, StoredRow, Table, Value, evaluate,
};

pub fn ms(text: &str) -> i64 {
    time(text).timestamp_millis()
}

pub fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test time")
        .with_timezone(&Utc)
}

/// A message with defaults; `n` makes ids unique.
pub fn message(n: u32, received: &str) -> StoredRow {
    let received = time(received);
    StoredRow {
        record: Record {
            organization: "contoso.com".into(),
            message_id: Some(format!("<{n}@example.com>")),
            received,
            sender_address: format!("sender{n}@example.com"),
            recipient_address: "bob@contoso.com".into(),
            subject: format!("Subject {n}"),
            status: Status::Delivered,
            to_ip: Some("10.0.0.1".into()),
            from_ip: Some("8.8.8.8".into()),
            size: i64::from(n) * 100,
            message_trace_id: format!("00000000-0000-0000-0000-{n:012}"),
            start_date: None,
            end_date: None,
            index: Some(i64::from(n)),
        },
        source_category: "Labs/MessageExchangeTraceLogs".into(),
        source: "trace".into(),
        collector: "mailscope".into(),
        receipt_time_ms: received.timestamp_millis() + 60_000,
    }
}

/// Five messages: four in the range 2026-10-01 .. 2026-10-04, one after it.
pub fn table() -> Vec<StoredRow> {
    let mut rows = Vec::new();
    let mut m1 = message(1, "2026-10-01T01:15:00Z");
    m1.record.sender_address = "a@example.com".into();
    rows.push(m1);
    let mut m2 = message(2, "2026-10-01T02:30:00Z");
    m2.record.sender_address = "b@example.com".into();
    m2.record.recipient_address = "alice@contoso.com".into();
    m2.record.status = Status::Failed;
    m2.record.from_ip = Some("2001:4860:4860::8888".into());
    rows.push(m2);
    let mut m3 = message(3, "2026-10-02T10:00:00Z");
    m3.record.sender_address = "a@example.com".into();
    m3.record.recipient_address = "carol@fabrikam.com".into();
    m3.record.subject = "Grüße aus München".into();
    m3.record.from_ip = Some("192.168.1.1".into());
    rows.push(m3);
    let mut m4 = message(4, "2026-10-03T23:59:59.999Z");
    m4.record.sender_address = "c@example.org".into();
    m4.record.status = Status::Pending;
    m4.record.from_ip = None;
    m4.record.index = None;
    m4.source_category = "Labs/Other".into();
    rows.push(m4);
    rows.push(message(5, "2026-10-04T00:00:00Z"));
    rows
}

pub fn options() -> Options {
    Options {
        from_ms: ms("2026-10-01T00:00:00Z"),
        to_ms: ms("2026-10-04T00:00:00Z"),
        time_zone: chrono_tz::Tz::UTC,
        now_ms: ms("2026-10-05T12:00:00Z"),
        max_raw_rows: 100,
    }
}

pub fn try_run_with(
    query: &str,
    rows: &[StoredRow],
    options: &Options,
    data: &dyn ReferenceData,
) -> Result<Table, Error> {
    let compiled = mailscope_query::compile(query)
        .unwrap_or_else(|d| panic!("query does not compile: {query}\n{d:?}"));
    evaluate(&compiled, rows, options, data)
}

pub fn run_with(query: &str, rows: &[StoredRow], options: &Options) -> Table {
    try_run_with(query, rows, options, &NoData).unwrap_or_else(|e| panic!("{query}: {e}"))
}

pub fn run(query: &str) -> Table {
    run_with(query, &table(), &options())
}

pub fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// The values of one column, by name.
pub fn column(table: &Table, name: &str) -> Vec<Value> {
    let index = table
        .columns
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", table.columns));
    table.rows.iter().map(|r| r[index].clone()).collect()
}

/// The single value of a one-row, one-column-named result.
pub fn single(query: &str, name: &str) -> Value {
    let table = run(query);
    assert_eq!(table.rows.len(), 1, "{query}: {table:?}");
    column(&table, name).remove(0)
}

/// The app's extraction of every canonical field.
pub const JSON: &str = r#"json "Organization", "MessageId", "Received","SenderAddress", "RecipientAddress", "Subject", "Status", "ToIP", "FromIP", "Size", "MessageTraceId", "StartDate", "EndDate", "Index" as organization, message_id, received, sender_address, recipient_address, subject, status, toIP, fromIP, size, message_traceId, start_date, end_Date, index nodrop"#;

/// `expr as v` evaluated on the first message of the range (the newest: m4) — use a `where`
/// to pick another.
pub fn eval_on(filter: &str, expr: &str) -> Value {
    let query = format!("* | {JSON} | {filter} | {expr} as v | fields v");
    let table = run(&query);
    assert_eq!(table.rows.len(), 1, "{query}: {table:?}");
    column(&table, "v").remove(0)
}

/// `expr` on message 1 (`sender a@example.com`, `Subject 1`, size 100, from 8.8.8.8).
pub fn eval(expr: &str) -> Value {
    eval_on("where index = 1", expr)
}
