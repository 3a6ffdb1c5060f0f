//! The command line end to end: `generate` -> `ingest` -> `query`, checked against an
//! independent computation over the generated file (a fold written here with serde_json
//! values, sharing no code with the readers or the store).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Command, Output};

const BINARY: &str = env!("CARGO_BIN_EXE_mailscope");

const PRELUDE: &str = r#"_sourceCategory=Labs/MessageExchangeTraceLogs
| json "Organization", "MessageId", "Received","SenderAddress", "RecipientAddress", "Subject", "Status", "ToIP", "FromIP", "Size", "MessageTraceId", "StartDate", "EndDate", "Index" as organization, message_id, received, sender_address, recipient_address, subject, status, toIP, fromIP, size, message_traceId, start_date, end_Date, index nodrop
| where status matches "*"
| where sender_address matches "*"
| where organization matches "*"
| lookup latitude, longitude, country_code, country_name, region, city, postal_code from geo://location on ip = fromIP"#;

const SEED_TAIL: &str = "| timeslice 1d | count by _timeslice, status | fillmissing timeslice, values all in status | transpose row _timeslice column status";

fn run(args: &[&str]) -> Output {
    let output = Command::new(BINARY)
        .args(args)
        .output()
        .expect("run mailscope");
    assert!(
        output.status.success(),
        "mailscope {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Generates a tenant into `dir/t.ndjson` and ingests it into `dir/data`; returns both paths.
fn generated_store(dir: &Path, seed: &str, messages: &str, days: &str) -> (String, String) {
    let file = dir
        .join("t.ndjson")
        .to_str()
        .expect("utf-8 path")
        .to_owned();
    let data = dir.join("data").to_str().expect("utf-8 path").to_owned();
    run(&[
        "generate",
        "--seed",
        seed,
        "--messages",
        messages,
        "--start",
        "2026-10-01T00:00:00Z",
        "--days",
        days,
        "--format",
        "ndjson",
        "--out",
        &file,
    ]);
    run(&[
        "ingest",
        "--data-dir",
        &data,
        "--source-category",
        "Labs/MessageExchangeTraceLogs",
        &file,
    ]);
    (file, data)
}

fn rank(status: &str) -> u8 {
    match status {
        "Pending" => 1,
        "Delivered" | "Failed" | "Expanded" | "Quarantined" | "FilteredAsSpam" | "None" => 2,
        "Recalled" => 3,
        _ => 0,
    }
}

/// A folded row: its status, its day and its Message-ID.
type Folded = (String, String, String);

/// The store's rules, stated independently: one row per (trace id, recipient), a newer
/// observation wins unless it is less final; identical statuses change nothing.
fn fold(path: &Path) -> HashMap<(String, String), Folded> {
    let text = std::fs::read_to_string(path).expect("read generated file");
    let mut rows: HashMap<(String, String), Folded> = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value = serde_json::from_str(line).expect("generated line is JSON");
        let field = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
        let key = (
            field("MessageTraceId").to_lowercase(),
            field("RecipientAddress").to_lowercase(),
        );
        let status = field("Status");
        let day = field("Received")[..10].to_owned();
        match rows.get(&key) {
            Some((current, ..)) if *current == status || rank(&status) < rank(current) => {}
            _ => {
                rows.insert(key, (status, day, field("MessageId")));
            }
        }
    }
    rows
}

fn day_of_millis(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("valid time")
        .format("%Y-%m-%d")
        .to_string()
}

#[test]
fn seed_query_counts_equal_an_independent_fold_of_the_generated_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (file, data) = generated_store(dir.path(), "7", "200000", "30");
    let (file_arg, data_arg) = (file.as_str(), data.as_str());
    // Ingesting the same file again changes nothing.
    let again = run(&[
        "ingest",
        "--data-dir",
        data_arg,
        "--source-category",
        "Labs/MessageExchangeTraceLogs",
        file_arg,
    ]);
    let summary = String::from_utf8_lossy(&again.stderr);
    assert!(summary.contains(" 0 added, 0 updated"), "{summary}");

    let expected = fold(Path::new(&file));
    assert_eq!(expected.len(), 200_000);
    let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (status, day, _) in expected.values() {
        *counts.entry((day.clone(), status.clone())).or_default() += 1;
    }

    let query = format!("{PRELUDE}\n{SEED_TAIL}");
    let output = run(&[
        "query",
        "--data-dir",
        data_arg,
        "--from",
        "2026-10-01T00:00:00Z",
        "--to",
        "2026-10-31T00:00:00Z",
        "--format",
        "json",
        &query,
    ]);
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json output");
    let columns: Vec<String> = result["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c.as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(columns[0], "_timeslice");
    let statuses = &columns[1..];
    let mut sorted = statuses.to_vec();
    sorted.sort();
    assert_eq!(
        statuses,
        sorted.as_slice(),
        "dynamic columns come out alphabetically"
    );
    for status in [
        "Delivered",
        "Expanded",
        "Failed",
        "FilteredAsSpam",
        "None",
        "Pending",
        "Quarantined",
    ] {
        assert!(
            statuses.iter().any(|s| s == status),
            "{status} missing from {statuses:?}"
        );
    }
    let rows = result["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 30, "one row per day, days without data filled");
    let mut total = 0;
    for row in rows {
        let day = day_of_millis(row[0].as_i64().expect("_timeslice is epoch ms"));
        for (i, status) in statuses.iter().enumerate() {
            let got = row[i + 1]
                .as_i64()
                .expect("filled counts are numbers, never null");
            let want = counts
                .get(&(day.clone(), status.clone()))
                .copied()
                .unwrap_or(0);
            assert_eq!(got, want, "{day} {status}");
            total += got;
        }
    }
    assert_eq!(total, 200_000);
}

#[test]
fn query_errors_are_diagnostics_with_a_caret_and_exit_code_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_arg = dir.path().to_str().expect("utf-8 path");
    let output = Command::new(BINARY)
        .args([
            "query",
            "--data-dir",
            data_arg,
            "--from",
            "2026-10-01T00:00:00Z",
            "--to",
            "2026-10-02T00:00:00Z",
            "* | countt by status",
        ])
        .output()
        .expect("run mailscope");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown operator 'countt'"), "{stderr}");
    assert!(stderr.contains("did you mean 'count'?"), "{stderr}");
    assert!(stderr.contains("^^^^^^"), "{stderr}");
    let json = Command::new(BINARY)
        .args([
            "query",
            "--data-dir",
            data_arg,
            "--from",
            "2026-10-01T00:00:00Z",
            "--to",
            "2026-10-02T00:00:00Z",
            "--format",
            "json",
            "* | where (a",
        ])
        .output()
        .expect("run mailscope");
    let body: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("diagnostics as JSON");
    assert!(
        body["errors"][0]["code"]
            .as_str()
            .is_some_and(|c| c.starts_with('E')),
        "{body}"
    );
    assert!(body["errors"][0]["span"]["start"].is_u64(), "{body}");
}

#[test]
fn ingest_keeps_good_records_and_reports_bad_ones_with_their_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("mixed.ndjson");
    std::fs::write(
        &file,
        concat!(
            r#"{"Organization":"contoso.com","MessageId":"<a@x>","Received":"2026-10-01T10:00:00.1234567","SenderAddress":"a@contoso.com","RecipientAddress":"b@contoso.com","Subject":"ok","Status":"Delivered","ToIP":null,"FromIP":"81.2.69.144","Size":1000,"MessageTraceId":"11111111-1111-1111-1111-111111111111","StartDate":null,"EndDate":null,"Index":0}"#, "\n",
            r#"{"Organization":"contoso.com","Received":"yesterday","RecipientAddress":"c@contoso.com","MessageTraceId":"22222222-2222-2222-2222-222222222222","Status":"Delivered"}"#, "\n",
            "{not json\n",
            r#"{"organization":"contoso.com","receivedDateTime":"2026-10-01T11:00:00Z","senderAddress":"d@contoso.com","recipientAddress":"e@contoso.com","subject":"graph","status":"filteredAsSpam","size":5,"id":"33333333-3333-3333-3333-333333333333","fromIP":"2a01:111:f400::1","toIP":""}"#, "\n",
        ),
    )
    .expect("write fixture");
    let data = dir.path().join("data");
    let output = Command::new(BINARY)
        .args([
            "ingest",
            "--data-dir",
            data.to_str().expect("path"),
            file.to_str().expect("path"),
        ])
        .output()
        .expect("run mailscope");
    assert_eq!(
        output.status.code(),
        Some(1),
        "bad records make the exit code non-zero"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("mixed.ndjson:2:"), "{stderr}");
    assert!(stderr.contains("mixed.ndjson:3:"), "{stderr}");
    assert!(stderr.contains("2 added"), "{stderr}");
    let query = run(&[
        "query",
        "--data-dir",
        data.to_str().expect("path"),
        "--from",
        "2026-10-01T00:00:00Z",
        "--to",
        "2026-10-02T00:00:00Z",
        "--format",
        "csv",
        r#"* | json "Status", "Subject" as status, subject | count by status | sort by status asc"#,
    ]);
    assert_eq!(
        String::from_utf8_lossy(&query.stdout),
        "status,_count\nDelivered,1\nFilteredAsSpam,1\n"
    );
}

/// Every panel query of the original app (the query crate's fixtures, `{{var}}` at `*`)
/// runs on a generated tenant and answers something — all but the threat panel, which has no
/// feed configured in this version and must come back empty rather than fail.
#[test]
fn every_panel_query_of_the_original_app_runs_on_generated_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, data) = generated_store(dir.path(), "3", "20000", "7");
    let data_arg = data.as_str();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../query/tests/queries");
    let mut panels: Vec<_> = std::fs::read_dir(&fixtures)
        .expect("query fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sumo"))
        .collect();
    panels.sort();
    assert_eq!(panels.len(), 19, "18 panels and the seed query");
    for panel in panels {
        let query = std::fs::read_to_string(&panel).expect("read fixture");
        let output = run(&[
            "query",
            "--data-dir",
            data_arg,
            "--from",
            "2026-10-01T00:00:00Z",
            "--to",
            "2026-10-08T00:00:00Z",
            "--format",
            "json",
            "--var",
            "status=*",
            "--var",
            "sender_address=*",
            "--var",
            "organization=*",
            "--var",
            "country=*",
            &query,
        ]);
        let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        let rows = result["rows"].as_array().expect("rows").len();
        let name = panel
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name.contains("threat") {
            assert_eq!(rows, 0, "{name}: no threat feed is configured");
        } else {
            assert!(rows > 0, "{name} returned no rows: {result}");
        }
    }
}

/// `mailscope trace`: a message's recipients and statuses as an independent fold of the
/// generated file has them, found by its Message-ID (with or without brackets) or a trace id;
/// an id and a subject full of quotes, backslashes and line breaks are matched exactly and
/// never read as query text; a recall replaces a delivery; an unknown id exits 1.
#[test]
fn trace_tells_a_message_s_story_as_the_generated_file_has_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (file, data) = generated_store(dir.path(), "11", "3000", "2");
    let rows = fold(Path::new(&file));
    let mut by_message: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for ((_, recipient), (status, _, message_id)) in &rows {
        by_message
            .entry(message_id.clone())
            .or_default()
            .push((recipient.clone(), status.clone()));
    }
    let (message_id, mut expected) = by_message
        .into_iter()
        .max_by_key(|(id, recipients)| (recipients.len(), id.clone()))
        .expect("a message");
    expected.sort();
    assert!(expected.len() > 3, "{message_id}: {expected:?}");

    let story = |id: &str| -> serde_json::Value {
        let output = run(&["trace", "--data-dir", &data, "--json", id]);
        serde_json::from_slice(&output.stdout).expect("trace prints JSON")
    };
    let recipients = |story: &serde_json::Value| -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = story["recipients"]
            .as_array()
            .expect("recipients")
            .iter()
            .map(|r| {
                (
                    r["recipient"].as_str().unwrap_or_default().to_lowercase(),
                    r["status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        found.sort();
        found
    };
    let told = story(&message_id);
    assert_eq!(recipients(&told), expected, "{message_id}");
    assert_eq!(told["message_id"], message_id.as_str());
    let bare = message_id.trim_start_matches('<').trim_end_matches('>');
    assert_eq!(recipients(&story(bare)), expected, "without brackets");
    let trace_id = told["trace_ids"][0]
        .as_str()
        .expect("a trace id")
        .to_uppercase();
    let copy: Vec<(String, String)> = rows
        .iter()
        .filter(|((trace, _), _)| trace.eq_ignore_ascii_case(&trace_id))
        .map(|((_, recipient), (status, ..))| (recipient.clone(), status.clone()))
        .collect();
    let by_trace = recipients(&story(&trace_id));
    assert_eq!(
        by_trace.len(),
        copy.len(),
        "one copy by its trace id, any case"
    );

    // A hostile message: an id and a subject made to break out of a query.
    let odd_id = "<odd\"quote\\\" or true or \"@evil.example>";
    let subject = "x\" | count //\\ end\nline two";
    let hostile: Vec<String> = [
        ("ann@contoso.example", "Delivered"),
        ("bob@contoso.example", "Delivered"),
        ("bob@contoso.example", "Recalled"),
    ]
    .iter()
    .map(|(recipient, status)| {
        serde_json::json!({
            "Organization": "contoso.example", "MessageId": odd_id,
            "Received": "2026-10-01T10:00:00Z", "SenderAddress": "eve@evil.example",
            "RecipientAddress": recipient, "Subject": subject, "Status": status,
            "ToIP": null, "FromIP": "203.0.113.9", "Size": 1000,
            "MessageTraceId": "0000aaaa-0000-4000-8000-000000000001",
            "StartDate": null, "EndDate": null, "Index": null
        })
        .to_string()
    })
    .collect();
    let hostile_file = dir.path().join("hostile.ndjson");
    std::fs::write(&hostile_file, hostile.join("\n")).expect("write");
    run(&[
        "ingest",
        "--data-dir",
        &data,
        "--source-category",
        "Labs/MessageExchangeTraceLogs",
        hostile_file.to_str().expect("utf-8"),
    ]);
    let odd = story(odd_id);
    assert_eq!(
        recipients(&odd),
        vec![
            ("ann@contoso.example".to_owned(), "Delivered".to_owned()),
            ("bob@contoso.example".to_owned(), "Recalled".to_owned()),
        ]
    );
    assert_eq!(odd["subject"], subject);
    assert_eq!(odd["statuses"]["Recalled"], 1);
    let shown = run(&["trace", "--data-dir", &data, odd_id]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("x\" | count //\\ end\\nline two"), "{shown}");
    assert!(
        shown.contains("Recipients (2): 1 Delivered, 1 Recalled"),
        "{shown}"
    );

    let missing = Command::new(BINARY)
        .args(["trace", "--data-dir", &data, "<nobody@nowhere.example>"])
        .output()
        .expect("run mailscope");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stdout).contains("no message with id"));
    let empty = Command::new(BINARY)
        .args(["trace", "--data-dir", &data, " "])
        .output()
        .expect("run mailscope");
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("give a Message-ID"));
}

/// `mailscope export`: the whole store as NDJSON holds exactly what an independent fold of the
/// generated file holds, and ingests back into the same rows; a range keeps only its days;
/// bad arguments are refused and leave no file.
#[test]
fn export_writes_what_the_generated_file_holds_and_ingests_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (file, data) = generated_store(dir.path(), "8", "4000", "3");
    let expected = fold(Path::new(&file));
    let whole = dir.path().join("whole.ndjson");
    let whole_text = whole.to_str().expect("utf-8 path");
    run(&["export", "--data-dir", &data, "--out", whole_text]);
    assert_eq!(fold(&whole), expected);

    let again = dir.path().join("again").to_str().expect("utf-8").to_owned();
    run(&["ingest", "--data-dir", &again, whole_text]);
    let second = dir.path().join("second.ndjson");
    run(&[
        "export",
        "--data-dir",
        &again,
        "--out",
        second.to_str().expect("utf-8"),
    ]);
    assert_eq!(fold(&second), expected);

    let day = dir.path().join("day.ndjson");
    run(&[
        "export",
        "--data-dir",
        &data,
        "--from",
        "2026-10-02T00:00:00Z",
        "--to",
        "2026-10-03T00:00:00Z",
        "--out",
        day.to_str().expect("utf-8"),
    ]);
    let wanted: HashMap<_, _> = expected
        .iter()
        .filter(|(_, (_, day, _))| day == "2026-10-02")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(!wanted.is_empty());
    assert_eq!(fold(&day), wanted);

    let parquet = dir.path().join("day.parquet");
    run(&[
        "export",
        "--data-dir",
        &data,
        "--format",
        "parquet",
        "--from",
        "2026-10-02T00:00:00Z",
        "--to",
        "2026-10-03T00:00:00Z",
        "--out",
        parquet.to_str().expect("utf-8"),
    ]);
    let bytes = std::fs::read(&parquet).expect("parquet written");
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));

    let refused = dir.path().join("refused.ndjson");
    for args in [
        vec!["--format", "xml"],
        vec![
            "--from",
            "2026-10-03T00:00:00Z",
            "--to",
            "2026-10-02T00:00:00Z",
        ],
        vec!["--from", "yesterday"],
    ] {
        let output = Command::new(BINARY)
            .args(["export", "--data-dir", &data, "--out"])
            .arg(&refused)
            .args(&args)
            .output()
            .expect("run export");
        assert!(!output.status.success(), "{args:?} accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--format") || stderr.contains("--from"),
            "{args:?}: {stderr}"
        );
        assert!(!refused.exists());
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".partial")), "{names:?}");
}

/// `mailscope config check`: collector tenants and threat feeds in one file are read as
/// `serve` reads them, each problem named with its line and column, and nothing contacted.
#[test]
fn config_check_reads_tenants_and_feeds_of_one_file_and_names_each_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = "[[tenant]]\nname = \"contoso\"\napi = \"graph\"\n\
                tenant_id = \"11111111-2222-3333-4444-555555555555\"\n\
                client_id = \"66666666-7777-8888-9999-000000000000\"\n\
                client_secret = \"not-shown\"\n\n\
                [[threat.feed]]\nname = \"drop\"\nurl = \"https://feeds.example/drop.txt\"\n\
                format = \"spamhaus-drop\"\n";
    let check = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write config");
        let output = Command::new(BINARY)
            .args(["config", "check"])
            .arg(&path)
            .output()
            .expect("run config check");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = check("good.toml", good);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("tenant contoso: graph"), "{stdout}");
    assert!(
        stdout.contains("organization learned from the tenant"),
        "{stdout}"
    );
    assert!(
        stdout.contains("threat feed drop: spamhaus-drop"),
        "{stdout}"
    );
    assert!(stdout.contains("good.toml: valid"), "{stdout}");
    assert!(!stdout.contains("not-shown") && !stderr.contains("not-shown"));

    let (code, _, stderr) = check("api.toml", &good.replace("\"graph\"", "\"grpah\""));
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("api.toml:3:7: unknown api \"grpah\""),
        "{stderr}"
    );
    let (code, _, stderr) = check("feed.toml", &good.replace("spamhaus-drop", "nope"));
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("feed.toml:11:10: unknown format \"nope\""),
        "{stderr}"
    );
    let (code, _, stderr) = check("empty.toml", "x = 1\n");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("configures nothing"), "{stderr}");
    let (code, _, stderr) = check("broken.toml", "[[tenant]\nname = 1\n");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("broken.toml:1:"), "{stderr}");
}
