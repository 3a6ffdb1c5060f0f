//! Write → read round trips for every writer format, on fixed records and on arbitrary ones
//! (subjects with quotes, newlines, markup, unicode).

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use proptest::prelude::*;

use mailscope_record::formats::{
    Format, ReadOptions, RecordWriter, WriteOptions, write_records_with,
};
use mailscope_record::time::DateOrder;
use mailscope_record::{Record, Status};

use super::read_bytes_with;

const ORGANIZATION: &str = "contoso.onmicrosoft.com";

/// A realistic record, varied by `i` (also used by the throughput test).
pub fn sample_record(i: usize) -> Record {
    let received = DateTime::from_timestamp(1_760_000_000 + i as i64 * 7, 0).unwrap()
        + TimeDelta::nanoseconds((i as i64 * 7_654_321 % 10_000_000) * 100);
    Record {
        organization: ORGANIZATION.to_owned(),
        message_id: (!i.is_multiple_of(5)).then(|| {
            format!("<{i:08x}-5cda-4454-0962-08dab38940d6@AM0PR02MB5531.eurprd02.prod.outlook.com>")
        }),
        received,
        sender_address: format!("sender{}@fabrikam.example", i % 97),
        recipient_address: format!("user{}@contoso.example", i % 1013),
        subject: format!("Quarterly results {i} \"draft\", please review <b>now</b> — ünïcode 📈"),
        status: Status::KNOWN[i % Status::KNOWN.len()].clone(),
        to_ip: (i.is_multiple_of(3)).then(|| "203.0.113.45".to_owned()),
        from_ip: Some(if i.is_multiple_of(2) {
            "2a01:111:f403:c201::7".to_owned()
        } else {
            "198.51.100.7".to_owned()
        }),
        size: (i as i64 * 7919) % 30_000_000,
        message_trace_id: format!("{:08x}-5edd-4350-130a-08da8f69e0f6", i * 31),
        start_date: Some("2025-10-09T00:00:00.0000000Z".to_owned()),
        end_date: Some("2025-10-11T00:00:00.0000000Z".to_owned()),
        index: Some(i as i64),
    }
}

fn truncate_to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap()
}

/// What a format can carry: the record as it should read back.
fn expected_after(format: Format, record: &Record) -> Record {
    let mut expected = record.clone();
    match format {
        Format::Ndjson | Format::ReportingJson => {}
        Format::ReportingVerbose => expected.received = truncate_to_millis(record.received),
        Format::GraphJson => {
            expected.received = truncate_to_millis(record.received);
            expected.start_date = None;
            expected.end_date = None;
            expected.index = None;
        }
        Format::EacCsv => {
            expected.start_date = None;
            expected.end_date = None;
            expected.index = None;
        }
        Format::ExportCsv => {
            expected.received = record.received.with_nanosecond(0).unwrap();
        }
    }
    expected
}

fn round_trip(format: Format, options: &WriteOptions, records: &[Record]) -> Vec<Record> {
    let mut bytes = Vec::new();
    let written = write_records_with(format, options, records.iter(), &mut bytes).unwrap();
    assert_eq!(written, records.len() as u64);
    let read_options = ReadOptions {
        organization: Some(ORGANIZATION.to_owned()),
        // The Export-Csv writer writes en-US dates; a file of them alone may never show it.
        date_order: Some(DateOrder::MonthFirst),
        ..ReadOptions::default()
    };
    let out = read_bytes_with(format.name(), bytes, read_options);
    assert!(out.errors.is_empty(), "{format}: {:?}", out.errors);
    if !records.is_empty() {
        assert_eq!(out.format, Some(format));
    }
    out.records
}

#[test]
fn every_writer_round_trips_sample_records() {
    let mut records: Vec<Record> = (0..50).map(sample_record).collect();
    records[3].subject = "<img src=x onerror=alert(1)>\",\r\n\"'; DROP TABLE--\t".to_owned();
    records[4].subject = String::new();
    records[5].status = Status::Recalled;
    records[6].status = Status::Other("unknownFutureValue".into());
    for format in Format::ALL {
        let expected: Vec<Record> = records.iter().map(|r| expected_after(format, r)).collect();
        assert_eq!(
            round_trip(format, &WriteOptions::default(), &records),
            expected,
            "{format}"
        );
    }
}

#[test]
fn export_csv_round_trips_as_utf16le_with_bom() {
    let records: Vec<Record> = (0..20).map(sample_record).collect();
    let options = WriteOptions { utf16le: true };
    let mut bytes = Vec::new();
    write_records_with(Format::ExportCsv, &options, records.iter(), &mut bytes).unwrap();
    assert_eq!(&bytes[..4], b"\xFF\xFE\"\0");
    let expected: Vec<Record> = records
        .iter()
        .map(|r| expected_after(Format::ExportCsv, r))
        .collect();
    assert_eq!(round_trip(Format::ExportCsv, &options, &records), expected);
}

#[test]
fn empty_outputs_read_back_empty() {
    for format in Format::ALL {
        assert!(
            round_trip(format, &WriteOptions::default(), &[]).is_empty(),
            "{format}"
        );
    }
}

#[test]
fn writer_shapes_match_the_services() {
    let record = sample_record(1);
    let write = |format| {
        let mut writer = RecordWriter::new(format, Vec::new()).unwrap();
        writer.write(&record).unwrap();
        String::from_utf8(writer.finish().unwrap()).unwrap()
    };
    let ndjson = write(Format::Ndjson);
    assert!(ndjson.starts_with("{\"Organization\":\"contoso.onmicrosoft.com\",\"MessageId\""));
    assert!(
        ndjson.contains("\"Received\":\"2025-10-09T08:53:27.7654321Z\""),
        "{ndjson}"
    );
    let verbose = write(Format::ReportingVerbose);
    assert!(verbose.starts_with("{\"d\":{\"results\":[\n{\"__metadata\":{\"id\":"));
    assert!(
        verbose.contains("\"Received\":\"/Date(1760000007765)/\""),
        "{verbose}"
    );
    let graph = write(Format::GraphJson);
    assert!(
        graph.contains("\"receivedDateTime\":\"2025-10-09T08:53:27.765Z\""),
        "{graph}"
    );
    assert!(graph.contains("\"status\":\"gettingStatus\""), "{graph}");
    assert!(graph.contains("\"toIP\":\"\""), "{graph}");
    let export = write(Format::ExportCsv);
    assert!(export.starts_with("\"Received\",\"SenderAddress\""));
    assert!(export.contains("\r\n\"10/9/2025 8:53:27 AM\","), "{export}");
    let eac = write(Format::EacCsv);
    assert!(eac.starts_with("Date (UTC),Sender,Recipient,Subject,Status,"));
}

fn subject() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "\\PC{0,12}",
        Just("\"".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just(",".to_owned()),
        Just(";".to_owned()),
        Just("\t".to_owned()),
        Just("<img src=x onerror=alert(1)>".to_owned()),
        Just("\\u003c".to_owned()),
        Just("#TYPE".to_owned()),
        Just("🦀 مرحبا 你好".to_owned()),
    ];
    prop::collection::vec(piece, 0..6).prop_map(|pieces| pieces.concat())
}

fn record() -> impl Strategy<Value = Record> {
    (
        subject(),
        1_500_000_000i64..2_000_000_000,
        0u32..10_000_000,
        prop::option::of("<[a-z0-9.]{1,12}@[a-z]{1,8}\\.example>"),
        "[a-z.']{1,10}@[a-z]{1,8}\\.example",
        0usize..10,
        prop::option::of(prop_oneof![
            "(25[0-5]|1?[0-9]?[0-9])(\\.(25[0-5]|1?[0-9]?[0-9])){3}",
            "2a01:[0-9a-f]{1,4}::[0-9a-f]{1,4}"
        ]),
        0i64..2_000_000_000,
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    )
        .prop_map(
            |(subject, seconds, ticks, message_id, recipient, status, ip, size, id)| {
                let mut record = sample_record(0);
                record.subject = subject;
                record.received = DateTime::from_timestamp(seconds, ticks * 100).unwrap();
                record.message_id = message_id;
                record.recipient_address = recipient;
                record.status = Status::KNOWN.get(status).cloned().unwrap_or_else(|| {
                    if status % 2 == 0 {
                        Status::Recalled
                    } else {
                        Status::Other("unknownFutureValue".into())
                    }
                });
                record.from_ip = ip.clone();
                record.to_ip = ip;
                record.size = size;
                record.message_trace_id = id;
                record
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_records_round_trip_through_every_format(
        records in prop::collection::vec(record(), 1..6)
    ) {
        for format in Format::ALL {
            let expected: Vec<Record> = records.iter().map(|r| expected_after(format, r)).collect();
            prop_assert_eq!(round_trip(format, &WriteOptions::default(), &records), expected);
        }
    }
}
