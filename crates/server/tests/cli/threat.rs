//! Threat intelligence in the server: feeds named in a `[threat]` configuration answer
//! `threatip`, the original app's e-mail lookup and `threatlookup`; a broken feed is reported in
//! the health answer while the others keep working.

use std::process::Command;

use serde_json::{Value, json};

use super::http::serve_with;

const BINARY: &str = env!("CARGO_BIN_EXE_mailscope");

fn record(n: u32, sender: &str, from_ip: &str, status: &str) -> String {
    json!({
        "Organization": "contoso.com",
        "MessageId": format!("<{n}@x>"),
        "Received": format!("2026-10-01T1{n}:00:00Z"),
        "SenderAddress": sender,
        "RecipientAddress": format!("user{n}@contoso.com"),
        "Subject": "invoice",
        "Status": status,
        "ToIP": null,
        "FromIP": from_ip,
        "Size": 1000,
        "MessageTraceId": format!("11111111-1111-1111-1111-11111111111{n}"),
        "StartDate": null,
        "EndDate": null,
        "Index": n,
    })
    .to_string()
}

const STIX: &str = r#"{"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
  "objects": [
    {"type": "indicator", "spec_version": "2.1",
     "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
     "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
     "name": "Invoice phishing sender", "indicator_types": ["malicious-activity"],
     "pattern": "[email-addr:value = 'billing@fabrikam-invoices.example']",
     "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z", "confidence": 90,
     "labels": ["phishing"]}
  ]}"#;

#[test]
fn configured_feeds_answer_the_threat_lookups_and_report_a_broken_feed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let feed_dir = dir.path().join("feeds");
    std::fs::create_dir_all(&feed_dir).unwrap();
    std::fs::write(
        feed_dir.join("drop.txt"),
        "; Spamhaus DROP List 2026/10/01 - (c) 2026 The Spamhaus Project\n\
         ; Last-Modified: Thu, 01 Oct 2026 08:00:00 GMT\n\
         81.2.69.0/24 ; SBL123456\n\
         203.0.113.0/24 ; SBL654321\n",
    )
    .unwrap();
    std::fs::write(feed_dir.join("bundle.json"), STIX).unwrap();
    std::fs::write(feed_dir.join("broken.json"), "<html>sign in</html>").unwrap();
    let config = dir.path().join("mailscope.toml");
    std::fs::write(
        &config,
        "[[threat.feed]]\nname = \"drop\"\nfile = \"feeds/drop.txt\"\nformat = \"spamhaus-drop\"\n\n\
         [[threat.feed]]\nname = \"phishing\"\nfile = \"feeds/bundle.json\"\nformat = \"stix\"\n\n\
         [[threat.feed]]\nname = \"broken\"\nfile = \"feeds/broken.json\"\nformat = \"stix\"\n",
    )
    .unwrap();

    let input = dir.path().join("trace.ndjson");
    let lines = [
        record(
            1,
            "billing@fabrikam-invoices.example",
            "81.2.69.144",
            "FilteredAsSpam",
        ),
        record(
            2,
            "billing@fabrikam-invoices.example",
            "81.2.69.145",
            "Quarantined",
        ),
        record(3, "colleague@contoso.com", "10.0.0.1", "Delivered"),
        record(4, "partner@northwind.example", "198.51.100.7", "Delivered"),
    ];
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let ingested = Command::new(BINARY)
        .args(["ingest", "--data-dir"])
        .arg(&data)
        .args(["--source-category", "Labs/MessageExchangeTraceLogs"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(ingested.status.success(), "{ingested:?}");

    let server = serve_with(
        &data,
        None,
        &["--threat-config".as_ref(), config.as_os_str()],
    );
    let client = reqwest::Client::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let health = || -> Value {
        runtime.block_on(async {
            client
                .get(format!("{}/api/v1/health", server.base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        })
    };
    // Feeds load in the background after the server starts.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while health()["threat"]["index"]["indicators"] != 3 {
        assert!(std::time::Instant::now() < deadline, "{}", health());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let query = |text: &str| {
        let body = json!({
            "query": text,
            "from": "2026-10-01T00:00:00Z",
            "to": "2026-10-02T00:00:00Z",
            "variables": {"status": "*", "sender_address": "*", "organization": "*", "country": "*"},
        });
        runtime.block_on(async {
            let response = client
                .post(format!("{}/api/v1/query", server.base))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        })
    };

    // Longest prefix over the DROP networks: both spam IPs are in 81.2.69.0/24.
    let by_ip = query(
        "_sourceCategory=* | json \"FromIP\" as ip | threatip ip \
         | where !isNull(malicious_confidence) | count by ip, threat_source, type | sort by ip asc",
    );
    assert_eq!(
        by_ip["rows"],
        json!([
            ["81.2.69.144", "drop", "ip_address", 1],
            ["81.2.69.145", "drop", "ip_address", 1]
        ]),
        "{by_ip}"
    );
    assert_eq!(by_ip["warnings"], json!([]));

    // The original app's panel, text unmodified: the e-mail indicator of the STIX feed.
    let panel = query(include_str!(
        "../../../query/tests/queries/monitoring_sender_threat_intel.sumo"
    ));
    assert_eq!(
        panel["rows"],
        json!([[
            "billing@fabrikam-invoices.example",
            "high",
            "Unassigned",
            input.to_string_lossy(),
            "[ phishing ]",
            2
        ]]),
        "{panel}"
    );

    let lookup = query(
        "_sourceCategory=* | json \"SenderAddress\" as sender | threatlookup singleIndicator sender \
         | count by sender, %\"_threatlookup.source\", %\"_threatlookup.confidence\" | sort by sender asc",
    );
    assert_eq!(
        lookup["rows"],
        json!([
            ["billing@fabrikam-invoices.example", "phishing", 90, 2],
            ["colleague@contoso.com", null, null, 1],
            ["partner@northwind.example", null, null, 1]
        ]),
        "{lookup}"
    );

    let health = health();
    let feeds = health["threat"]["feeds"]["feeds"]
        .as_array()
        .expect("feeds");
    assert_eq!(feeds.len(), 3, "{health}");
    let broken = feeds.iter().find(|f| f["name"] == "broken").unwrap();
    assert!(
        broken["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{broken}"
    );
    assert_eq!(health["threat"]["index"]["indicators"], 3, "{health}");

    // The command line answers from the same feeds (files read as they are; a URL feed's
    // copy saved by the server), without downloading.
    drop(server);
    let output = Command::new(BINARY)
        .args(["query", "--format", "json", "--data-dir"])
        .arg(&data)
        .args([
            "--from",
            "2026-10-01T00:00:00Z",
            "--to",
            "2026-10-02T00:00:00Z",
        ])
        .arg("--threat-config")
        .arg(&config)
        .arg(
            "_sourceCategory=* | json \"FromIP\" as ip | threatip ip \
             | where !isNull(malicious_confidence) | count by ip, threat_source | sort by ip asc",
        )
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        answer["rows"],
        json!([["81.2.69.144", "drop", 1], ["81.2.69.145", "drop", 1]]),
        "{answer}"
    );
}
