//! Keyword search in the scope over a store ingested through the command line: Sumo's term
//! semantics (whole terms, case-insensitive, `*` and `?` inside a term, phrases of adjacent
//! terms, AND / OR / NOT), in every field of the record, and `_raw` with every field. The
//! expected rows are written out by hand for the fixture below.

use std::path::Path;
use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_mailscope");

/// Six messages; ids end in their number. Each line: organization, sender, recipient,
/// subject, status, from IP.
const MESSAGES: [(&str, &str, &str, &str, &str, &str); 6] = [
    (
        "contoso.com",
        "alice@contoso.com",
        "bob@fabrikam.com",
        "RE: Invoice 4711 for June",
        "Delivered",
        "81.2.69.144",
    ),
    (
        "contoso.com",
        "carol@contoso.com",
        "dave@contoso.com",
        "Monthly Report",
        "Delivered",
        "81.2.69.145",
    ),
    (
        "contoso.com",
        "erin@partner.example",
        "alice@contoso.com",
        "monthly sales report",
        "Failed",
        "81.2.69.146",
    ),
    (
        "fabrikam.onmicrosoft.com",
        "frank@fabrikam.com",
        "gina@contoso.com",
        "Grüße aus München",
        "FilteredAsSpam",
        "81.2.69.147",
    ),
    (
        "contoso.com",
        "spam@bulk.example",
        "hank@contoso.com",
        "Invoice overdue!!",
        "FilteredAsSpam",
        "2001:db8::1",
    ),
    (
        "contoso.com",
        "jsmith@mail.example.com",
        "ivan@contoso.com",
        "Received your note",
        "Pending",
        "81.2.69.148",
    ),
];

fn id(n: usize) -> String {
    format!("aaaaaaaa-bbbb-cccc-dddd-00000000000{n}")
}

fn store(dir: &Path) -> String {
    let mut lines = String::new();
    for (i, (organization, sender, recipient, subject, status, from_ip)) in
        MESSAGES.iter().enumerate()
    {
        let record = serde_json::json!({
            "Organization": organization,
            "MessageId": format!("<m{}@mail.test>", i + 1),
            "Received": format!("2026-10-01T1{i}:00:00.0000000"),
            "SenderAddress": sender,
            "RecipientAddress": recipient,
            "Subject": subject,
            "Status": status,
            "ToIP": "10.0.0.1",
            "FromIP": from_ip,
            "Size": 3000 + i,
            "MessageTraceId": id(i + 1),
            "StartDate": null,
            "EndDate": null,
            "Index": i,
        });
        lines.push_str(&record.to_string());
        lines.push('\n');
    }
    let file = dir.join("messages.ndjson");
    std::fs::write(&file, lines).expect("write fixture");
    let data = dir.join("data").to_str().expect("utf-8 path").to_owned();
    let output = Command::new(BINARY)
        .args([
            "ingest",
            "--data-dir",
            &data,
            "--source-category",
            "Labs/MessageExchangeTraceLogs",
        ])
        .arg(&file)
        .output()
        .expect("run mailscope");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    data
}

fn query(data: &str, format: &str, text: &str) -> String {
    let output = Command::new(BINARY)
        .args([
            "query",
            "--data-dir",
            data,
            "--from",
            "2026-10-01T00:00:00Z",
            "--to",
            "2026-10-02T00:00:00Z",
            "--format",
            format,
            text,
        ])
        .output()
        .expect("run mailscope");
    assert!(
        output.status.success(),
        "{text}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// The numbers of the messages the scope finds.
fn found(data: &str, scope: &str) -> Vec<usize> {
    let csv = query(
        data,
        "csv",
        &format!(r#"{scope} | json "MessageTraceId" as id | count by id | sort by id asc"#),
    );
    csv.lines()
        .skip(1)
        .map(|line| {
            let id = line.split(',').next().expect("id column");
            id.chars()
                .last()
                .and_then(|c| c.to_digit(10))
                .expect("numbered id") as usize
        })
        .collect()
}

#[test]
fn keywords_find_exactly_the_messages_holding_the_term() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = store(dir.path());
    let cases: &[(&str, &[usize])] = &[
        // single terms, any case, in the subject
        ("invoice", &[1, 5]),
        ("INVOICE", &[1, 5]),
        (
            "_sourceCategory=Labs/MessageExchangeTraceLogs invoice",
            &[1, 5],
        ),
        ("_sourceCategory=Other/Category invoice", &[]),
        // a keyword is a whole term, not a substring: "re" is not in "Received" or "Report"
        ("invoi", &[]),
        ("re", &[1]),
        // wildcards inside a term
        ("invoi*", &[1, 5]),
        ("*voice", &[1, 5]),
        ("inv?ice", &[1, 5]),
        ("*471*", &[1]),
        // phrases: adjacent terms; a lone * is one whole term
        (r#""monthly report""#, &[2]),
        ("monthly report", &[2, 3]),
        ("alice@contoso.com", &[1, 3]),
        ("jsmith@*.com", &[]),
        ("jsmith@*.example.com", &[6]),
        ("2001:db8::1", &[5]),
        // boolean structure
        ("invoice NOT overdue", &[1]),
        ("invoice OR münchen", &[1, 4, 5]),
        ("(invoice OR report) NOT spam", &[1, 2, 3]),
        ("NOT invoice", &[2, 3, 4, 6]),
        // non-ASCII text, case-insensitively
        ("münchen", &[4]),
        ("MÜNCHEN", &[4]),
        ("grüße", &[4]),
        ("gr", &[]),
        // organization, addresses, status, message id
        ("fabrikam", &[1, 4]),
        ("onmicrosoft", &[4]),
        ("partner.example", &[3]),
        ("filteredasspam", &[4, 5]),
        ("m3@mail.test", &[3]),
        // key names are terms of the record too (Sumo indexes the whole raw message)
        ("received", &[1, 2, 3, 4, 5, 6]),
        ("senderaddress", &[1, 2, 3, 4, 5, 6]),
        // a phrase running from a key into its value
        (r#""Subject RE""#, &[1]),
        (r#""Status Pending""#, &[6]),
    ];
    let mut wrong = Vec::new();
    for (scope, expected) in cases {
        let actual = found(&data, scope);
        if actual != *expected {
            wrong.push(format!("{scope}: expected {expected:?}, found {actual:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn raw_holds_every_field_of_the_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = store(dir.path());
    let output = query(&data, "json", "münchen | fields _raw");
    let answer: serde_json::Value = serde_json::from_str(&output).expect("json output");
    let text = answer.to_string();
    let raw_text = find_raw(&answer).unwrap_or_else(|| panic!("no _raw in {text}"));
    let raw: serde_json::Value = serde_json::from_str(&raw_text).expect("_raw is JSON");
    assert_eq!(
        raw,
        serde_json::json!({
            "Organization": "fabrikam.onmicrosoft.com",
            "MessageId": "<m4@mail.test>",
            "Received": "2026-10-01T13:00:00.0000000Z",
            "SenderAddress": "frank@fabrikam.com",
            "RecipientAddress": "gina@contoso.com",
            "Subject": "Grüße aus München",
            "Status": "FilteredAsSpam",
            "ToIP": "10.0.0.1",
            "FromIP": "81.2.69.147",
            "Size": 3003,
            "MessageTraceId": id(4),
            "StartDate": null,
            "EndDate": null,
            "Index": 3,
        })
    );
}

/// The one `_raw` cell of a `--format json` answer, whatever its layout (rows as objects or
/// arrays).
fn find_raw(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Object(map) => map
            .get("_raw")
            .and_then(|v| v.as_str().map(str::to_owned))
            .or_else(|| map.values().find_map(find_raw)),
        serde_json::Value::Array(items) => items.iter().find_map(find_raw),
        serde_json::Value::String(s) if s.starts_with("{\"Organization\"") => Some(s.clone()),
        _ => None,
    }
}
