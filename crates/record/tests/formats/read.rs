//! Each format read from a realistic fixture.

use mailscope_record::Status;
use mailscope_record::formats::{Format, ReadOptions, open_reader_as};
use mailscope_record::time::parse_trace_time;

use super::{fixture, read_bytes, read_bytes_with, utf16le};

fn time(text: &str) -> chrono::DateTime<chrono::Utc> {
    parse_trace_time(text).unwrap()
}

#[test]
fn reporting_json_page_is_read_with_every_quirk() {
    let out = read_bytes("page.json", fixture("reporting_page.json"));
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.format, Some(Format::ReportingJson));
    let [first, second, third] = &out.records[..] else {
        panic!("expected 3 records, got {}", out.records.len())
    };
    // No `Z`, 7 digits: UTC.
    assert_eq!(first.received, time("2024-03-11T08:15:42.1234567Z"));
    assert_eq!(
        first.message_id.as_deref(),
        Some("<5b1c0f3e-7a42-4c1d-9e2b-0d4f6a8c1e77@az.westeurope.production.microsoft.com>")
    );
    assert_eq!(first.to_ip, None);
    assert_eq!(first.from_ip.as_deref(), Some("2603:10a6:20b:4ee::15"));
    assert_eq!(first.organization, "northwind.onmicrosoft.com");
    assert_eq!(
        first.start_date.as_deref(),
        Some("2024-03-10T00:00:00.0000000Z")
    );
    assert_eq!(first.index, Some(0));
    assert_eq!(second.status, Status::GettingStatus);
    assert_eq!(second.subject, "RE: PO 44817 \"urgent\"");
    // Size as a numeric string.
    assert_eq!(second.size, 1533);
    assert_eq!(third.message_id, None);
    assert_eq!(third.from_ip, None);
    assert_eq!(third.status, Status::Failed);
    assert_eq!(third.received, time("2024-03-11T08:17:00Z"));
}

#[test]
fn reporting_verbose_page_converts_odata_dates() {
    let out = read_bytes("verbose.json", fixture("reporting_verbose.json"));
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.format, Some(Format::ReportingVerbose));
    assert_eq!(out.records.len(), 2);
    let first = &out.records[0];
    assert_eq!(first.received.timestamp_millis(), 1_709_972_711_042);
    assert_eq!(first.status, Status::Quarantined);
    assert_eq!(
        first.start_date.as_deref(),
        Some("2024-03-08T00:00:00.0000000Z")
    );
    assert_eq!(
        first.end_date.as_deref(),
        Some("2024-03-10T00:00:00.0000000Z")
    );
    assert_eq!(
        out.records[1].received.timestamp_millis(),
        1_709_972_700_000
    );
    assert_eq!(out.records[1].status, Status::FilteredAsSpam);
}

#[test]
fn reporting_verbose_rows_directly_under_d_are_read() {
    let page = r#"{"d":[{"__metadata":{"type":"TenantReporting.MessageTrace"},"Organization":"x.example","Received":"/Date(1709972711042)/","SenderAddress":"a@x.example","RecipientAddress":"b@x.example","Subject":"s","Status":"Pending","Size":10,"MessageTraceId":"71a9c3e5-0b2d-4f68-9a14-08dc405e0a11","Index":0}]}"#;
    let out = read_bytes("flat.json", page);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.format, Some(Format::ReportingVerbose));
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0].status, Status::Pending);
}

#[test]
fn graph_page_maps_camel_case_and_fills_organization() {
    let options = ReadOptions {
        organization: Some("woodgrove.onmicrosoft.com".into()),
        ..ReadOptions::default()
    };
    let out = read_bytes_with("graph.json", fixture("graph_page.json"), options);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.format, Some(Format::GraphJson));
    let statuses: Vec<Status> = out.records.iter().map(|r| r.status.clone()).collect();
    assert_eq!(
        statuses,
        [
            Status::Delivered,
            Status::FilteredAsSpam,
            Status::Delivered,
            Status::GettingStatus
        ]
    );
    let first = &out.records[0];
    assert_eq!(
        first.message_trace_id,
        "d41f7b2a-6c3e-4e19-8f05-3a9b2c7d1e60"
    );
    assert_eq!(first.organization, "woodgrove.onmicrosoft.com");
    assert_eq!(first.recipient_address, "sam.o'brien@woodgrove.example");
    assert_eq!(first.received, time("2026-01-14T09:41:27.312Z"));
    assert_eq!(first.to_ip, None, "empty toIP means none");
    assert_eq!(first.from_ip.as_deref(), Some("2a01:111:f403:c201::7"));
    assert_eq!(first.size, 48211);
    assert_eq!(first.start_date, None);
    assert_eq!(
        out.records[1].subject,
        "You won!!! <img src=x onerror=alert(1)>"
    );
    assert_eq!(out.records[2].to_ip.as_deref(), Some("203.0.113.9"));
}

#[test]
fn graph_page_without_configured_tenant_has_empty_organization() {
    let out = read_bytes("graph.json", fixture("graph_page.json"));
    assert!(out.records.iter().all(|r| r.organization.is_empty()));
}

#[test]
fn ndjson_lines_and_page_lines_are_read() {
    let out = read_bytes("trace.ndjson", fixture("trace.ndjson"));
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.format, Some(Format::Ndjson));
    let recipients: Vec<&str> = out
        .records
        .iter()
        .map(|r| r.recipient_address.as_str())
        .collect();
    assert_eq!(
        recipients,
        [
            "lena@adatum.com",
            "team@adatum.com",
            "omar@adatum.com",
            "lena@adatum.com"
        ]
    );
    assert_eq!(
        out.records[0].received,
        time("2023-06-02T14:05:09.8811234Z")
    );
    assert_eq!(
        out.records[0].message_id.as_deref(),
        Some("<1f4e2d8a-33b0-4d0e-b7a1-6c9e0f2a4b58@az.northeurope.production.microsoft.com>")
    );
    assert_eq!(out.records[1].status, Status::Expanded);
    assert_eq!(out.records[3].subject, "Scan 0042");
}

#[test]
fn export_csv_from_windows_powershell_is_read_from_utf16() {
    let text = String::from_utf8(fixture("export_ps5.csv")).unwrap();
    let out = read_bytes("trace.csv", utf16le(&text, true));
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.format, Some(Format::ExportCsv));
    assert_eq!(out.records.len(), 2);
    let first = &out.records[0];
    assert_eq!(first.received, time("2026-11-24T15:10:12Z"));
    assert_eq!(first.subject, "Benefits enrolment, 2027");
    assert_eq!(first.to_ip, None);
    assert_eq!(first.size, 40219);
    assert_eq!(
        first.message_trace_id,
        "c6e8a0b2-4d6f-4a8c-b0d2-08dd0c1e2f3a"
    );
    assert_eq!(first.organization, "");
    let second = &out.records[1];
    assert_eq!(second.subject, "Quote \"final\" — München");
    assert_eq!(second.message_id, None);
    assert_eq!(second.from_ip, None);
    assert_eq!(second.status, Status::Failed);
}

#[test]
fn export_csv_with_utf8_bom_is_read() {
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend(fixture("export_ps5.csv"));
    let out = read_bytes("trace.csv", bytes);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.records.len(), 2);
}

#[test]
fn eac_summary_csv_gives_recipients_of_one_message_one_trace_id() {
    let out = read_bytes("summary.csv", fixture("eac_summary.csv"));
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.format, Some(Format::EacCsv));
    assert_eq!(out.records.len(), 4);
    let ids: Vec<&str> = out
        .records
        .iter()
        .map(|r| r.message_trace_id.as_str())
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[0], ids[2]);
    assert_ne!(ids[0], ids[3]);
    assert_eq!(out.records[1].status, Status::Expanded);
    assert_eq!(out.records[3].status, Status::FilteredAsSpam);
    assert_eq!(out.records[3].subject, "Re: invoice, overdue");
    assert_eq!(out.records[0].size, 0);
    // Deterministic: reading again gives the same ids.
    let again = read_bytes("summary.csv", fixture("eac_summary.csv"));
    assert_eq!(again.records[0].message_trace_id, ids[0]);
}

#[test]
fn eac_enhanced_summary_expands_recipients_with_their_status() {
    let out = read_bytes("enhanced.csv", fixture("eac_enhanced.csv"));
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.format, Some(Format::EacCsv));
    let summary: Vec<(&str, &Status)> = out
        .records
        .iter()
        .map(|r| (r.recipient_address.as_str(), &r.status))
        .collect();
    assert_eq!(
        summary,
        [
            ("kim@contoso.example", &Status::Delivered),
            ("lee@contoso.example", &Status::Failed),
            ("ext@partner.example", &Status::Delivered),
        ]
    );
    let first = &out.records[0];
    assert_eq!(
        first.message_trace_id,
        "5d1c3b2a-7e6f-4a8b-9c0d-08dd09aa1b2c"
    );
    assert_eq!(out.records[1].message_trace_id, first.message_trace_id);
    assert_eq!(first.size, 58213);
    assert_eq!(first.from_ip.as_deref(), Some("198.51.100.44"));
    assert_eq!(first.subject, "Quarterly update");
    // Not a GUID: an id is synthesized instead.
    assert_eq!(out.records[2].message_trace_id.len(), 36);
    assert_ne!(out.records[2].message_trace_id, "not-a-guid");
}

#[test]
fn a_network_message_id_of_32_hex_digits_is_the_trace_id() {
    let mut file = String::from_utf8(fixture("eac_enhanced.csv")).unwrap();
    file.push_str(
        "\"2026-11-20T10:25:00.0000000Z\",\"a@contoso.example\",\"b@contoso.example##Receive, Deliver\",\"s\",\"10\",\"<m@contoso.example>\",\"5D1C3B2A7E6F4A8B9C0D08DD09AA1B2D\",\"198.51.100.45\",\"1\",\"\",\"Normal\"\n",
    );
    let out = read_bytes("enhanced.csv", file);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        out.records[3].message_trace_id,
        "5d1c3b2a-7e6f-4a8b-9c0d-08dd09aa1b2d"
    );
}

#[test]
fn forced_format_reads_the_same_records() {
    let reader = open_reader_as(
        Format::GraphJson,
        "graph.json",
        Box::new(std::io::Cursor::new(fixture("graph_page.json"))),
        ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(reader.format(), Some(Format::GraphJson));
    assert_eq!(reader.filter(Result::is_ok).count(), 4);
    let csv = open_reader_as(
        Format::ExportCsv,
        "x.csv",
        Box::new(std::io::Cursor::new(fixture("export_ps5.csv"))),
        ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(csv.filter(Result::is_ok).count(), 2);
}

#[test]
fn format_names_parse_and_print() {
    for format in Format::ALL {
        assert_eq!(format.name().parse::<Format>().unwrap(), format);
    }
    let error = "xml".parse::<Format>().unwrap_err().to_string();
    assert!(error.starts_with("unknown format \"xml\""), "{error}");
}

#[test]
fn concatenated_pretty_pages_are_all_read() {
    let mut bytes = fixture("reporting_page.json");
    bytes.extend(fixture("graph_page.json"));
    let out = read_bytes("both.json", bytes);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.records.len(), 7);
}

#[test]
fn top_level_array_and_bare_record_documents_are_read() {
    let array = "[\n {\"Received\": \"2024-01-01T00:00:00Z\", \"RecipientAddress\": \"a@x\"},\n \
                 {\"Received\": \"2024-01-01T00:00:01Z\", \"RecipientAddress\": \"b@x\"}\n]";
    assert_eq!(read_bytes("a.json", array).records.len(), 2);
    let bare = "{\n  \"_provenance\": \"hand-written\",\n  \"receivedDateTime\": \"2025-11-29T14:22:31.109Z\",\n  \"recipientAddress\": \"dan@x.example\",\n  \"status\": \"delivered\",\n  \"toIP\": \"\"\n}\n";
    let out = read_bytes("one.json", bare);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.format, Some(Format::GraphJson));
    assert_eq!(out.records[0].status, Status::Delivered);
}
