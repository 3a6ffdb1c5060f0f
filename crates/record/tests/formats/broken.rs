//! Broken inputs: each gives a clear error with its position, and the good records survive.

use mailscope_record::formats::{Format, ReadOptions};

use super::{fixture, read_bytes, read_bytes_with, refused, utf16le};

const GOOD: &str = r#"{"Organization":"x.example","Received":"2024-01-01T00:00:00Z","SenderAddress":"a@x.example","RecipientAddress":"b@x.example","Subject":"ok","Status":"Delivered","Size":1,"MessageTraceId":"11111111-2222-3333-4444-555555555555"}"#;

#[test]
fn truncated_page_keeps_complete_records() {
    let page = fixture("reporting_page.json");
    let cut = String::from_utf8(page).unwrap();
    let cut = &cut[..cut.find("Undeliverable").unwrap()];
    let out = read_bytes("page.json", cut);
    assert_eq!(out.records.len(), 2);
    let [error] = &out.errors[..] else {
        panic!("{:?}", out.errors)
    };
    assert!(error.fatal);
    assert_eq!(error.line, Some(42));
    assert!(error.column.is_some());
    assert_eq!(
        error.to_string(),
        format!(
            "page.json:42:{}: input ends inside a JSON document (truncated download?)",
            error.column.unwrap()
        )
    );
}

#[test]
fn wrong_types_skip_only_that_element() {
    let page = format!(
        "{{\"odata.metadata\":\"m\",\"value\":[\n{GOOD},\n{{\"Received\":\"2024-01-01T00:00:00Z\",\"RecipientAddress\":\"c@x\",\"Size\": {{}}}},\n{{\"Received\": 12, \"RecipientAddress\":\"d@x\"}},\n{GOOD}\n]}}"
    );
    let out = read_bytes("types.json", page);
    assert_eq!(out.records.len(), 2);
    let messages: Vec<String> = out.errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].starts_with("types.json:3:")
            && messages[0].contains("record 1: invalid type: map, expected \"Size\""),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].starts_with("types.json:4:")
            && messages[1].contains("record 2: invalid type: integer `12`, expected \"Received\""),
        "{}",
        messages[1]
    );
    assert!(out.errors.iter().all(|e| !e.fatal));
}

#[test]
fn unparseable_date_is_reported_with_line_column_and_record() {
    let text = format!(
        "{GOOD}\n{GOOD}\n{{\"Received\":    \"yesterday\", \"RecipientAddress\": \"z@x\"}}\n{GOOD}\n"
    );
    let out = read_bytes("t.ndjson", text);
    assert_eq!(out.records.len(), 3);
    assert_eq!(
        out.errors[0].to_string(),
        "t.ndjson:3:17: record 2: \"Received\" is not a date: \"yesterday\""
    );
}

#[test]
fn missing_recipient_and_invalid_lines_are_skipped() {
    let text = format!(
        "{GOOD}\n{{\"Received\":\"2024-01-01T00:00:00Z\"}}\n{{\"Received\": \"2024-01-01T00:00:00Z\",\n{GOOD}\n"
    );
    let out = read_bytes("t.ndjson", text);
    assert_eq!(out.records.len(), 2);
    assert_eq!(
        out.errors[0].to_string(),
        "t.ndjson:2:1: record 1: \"RecipientAddress\" is missing"
    );
    assert!(
        out.errors[1].message.starts_with("record is incomplete"),
        "{}",
        out.errors[1]
    );
    assert_eq!(out.errors[1].line, Some(3));
}

#[test]
fn oversized_ndjson_line_is_skipped_and_following_lines_kept() {
    let huge = format!(
        "{{\"Received\":\"2024-01-01T00:00:00Z\",\"RecipientAddress\":\"x@y\",\"Subject\":\"{}\"}}",
        "A".repeat(50 * 1024 * 1024)
    );
    let text = format!("{GOOD}\n{huge}\n{GOOD}\n{GOOD}");
    let out = read_bytes("big.ndjson", text);
    assert_eq!(out.records.len(), 3);
    let [error] = &out.errors[..] else {
        panic!("{:?}", out.errors)
    };
    assert_eq!(
        error.to_string(),
        "big.ndjson:2: record 1: record is longer than the limit of 16777216 bytes; skipped"
    );
    assert!(!error.fatal);
}

#[test]
fn oversized_page_element_is_skipped() {
    let options = ReadOptions {
        max_record_bytes: 1024,
        ..ReadOptions::default()
    };
    let big = GOOD.replace("\"ok\"", &format!("\"{}\"", "b".repeat(2000)));
    let page = format!("{{\"value\":[{GOOD},{big},{GOOD}]}}");
    let out = read_bytes_with("p.json", page.into_bytes(), options);
    assert_eq!(out.records.len(), 2);
    assert_eq!(out.errors.len(), 1);
    assert!(
        out.errors[0]
            .to_string()
            .contains("record 1: record is longer")
    );
}

#[test]
fn empty_page_and_empty_file_give_no_records_and_no_error() {
    for input in [
        "{\"odata.metadata\":\"m\",\"value\":[]}",
        "{\n  \"@odata.context\": \"c\",\n  \"value\": []\n}\n",
        "{\"d\":{\"results\":[]}}",
        "",
        "\n \r\n",
        "\u{feff}",
    ] {
        let out = read_bytes("e", input);
        assert!(out.records.is_empty() && out.errors.is_empty(), "{input:?}");
    }
    assert_eq!(read_bytes("e", "").format, None);
}

#[test]
fn html_instead_of_json_is_fatal() {
    let sign_in = "\r\n<!DOCTYPE html>\n<html><head><title>Sign in to your account</title>";
    assert_eq!(
        refused(sign_in).to_string(),
        "in:1:1: input is an HTML page, not message trace data"
    );
    let iis =
        "<title>401 - Unauthorized: Access is denied due to invalid credentials.</title><body>";
    assert!(refused(iis).fatal);
    assert!(
        refused(utf16le("<html><body>", true))
            .message
            .contains("HTML")
    );
    assert!(refused("\u{feff}<HTML>").message.contains("HTML"));
}

#[test]
fn api_error_body_is_fatal_with_the_service_message() {
    let body = r#"{"error":{"code":"Unauthorized","message":"Service principal-less Authentication failed"}}"#;
    let out = read_bytes("resp.json", body);
    assert!(out.records.is_empty());
    assert_eq!(
        out.errors[0].to_string(),
        "resp.json:1:10: input is an API error response, not message trace data: Service principal-less Authentication failed"
    );
    assert!(out.errors[0].fatal);
}

#[test]
fn syntax_error_in_envelope_ends_the_stream_after_good_records() {
    let page = format!("{{\"value\":[{GOOD},{GOOD}] oops {GOOD}");
    let out = read_bytes("p.json", page);
    assert_eq!(out.records.len(), 2);
    assert_eq!(out.errors.len(), 1);
    assert!(out.errors[0].fatal);
    assert!(
        out.errors[0].message.contains("expected ','"),
        "{}",
        out.errors[0]
    );
}

#[test]
fn text_that_is_not_trace_data_is_refused() {
    assert!(
        refused("hello,world\n1,2\n")
            .message
            .contains("not message trace data")
    );
    assert!(
        refused(b"\x1f\x8b\x08\x00".to_vec())
            .message
            .contains("gzip")
    );
    assert!(
        refused(b"Date,Recipient\ncaf\xe9\n".to_vec())
            .message
            .contains("0xe9")
    );
}

#[test]
fn utf8_bom_before_json_is_skipped() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(fixture("graph_page.json"));
    let out = read_bytes("bom.json", bytes);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.records.len(), 4);
}

#[test]
fn utf16_with_and_without_bom_is_decoded() {
    let text = String::from_utf8(fixture("trace.ndjson")).unwrap();
    let no_bom = read_bytes("le.ndjson", utf16le(&text, false));
    assert!(no_bom.errors.is_empty(), "{:?}", no_bom.errors);
    assert_eq!(no_bom.format, Some(Format::Ndjson));
    assert_eq!(no_bom.records.len(), 4);
    let mut be = vec![0xFE, 0xFF];
    be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    assert_eq!(read_bytes("be.ndjson", be).records.len(), 4);
}

#[test]
fn csv_row_with_too_few_columns_is_reported_with_its_line() {
    let mut text = String::from_utf8(fixture("eac_summary.csv")).unwrap();
    text.insert_str(
        text.find("11/24/2026 2:58").unwrap(),
        "11/24/2026 3:11:00 PM,a@x.example,b@x.example\nsoon,a@x.example,c@x.example,s,Delivered\n",
    );
    let out = read_bytes("s.csv", text);
    assert_eq!(out.records.len(), 4);
    let messages: Vec<String> = out.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "s.csv:5: record 3: row has 3 fields but the header has 5; skipped",
            "s.csv:6: record 4: \"Received\" is not a date: \"soon\"",
        ]
    );
}

#[test]
fn csv_line_numbers_count_the_type_line() {
    let text = "#TYPE Deserialized.X\n\"Received\",\"RecipientAddress\"\n\"nope\",\"a@x\"\n";
    let out = read_bytes("t.csv", text);
    assert_eq!(out.errors[0].line, Some(3));
}

#[test]
fn unknown_csv_header_is_refused_when_forced() {
    let error = mailscope_record::formats::open_reader_as(
        Format::EacCsv,
        "x.csv",
        Box::new(std::io::Cursor::new(b"a,b,c\n1,2,3\n".to_vec())),
        ReadOptions::default(),
    )
    .unwrap_err();
    assert!(
        error
            .message
            .contains("CSV header has no time and recipient columns")
    );
}
