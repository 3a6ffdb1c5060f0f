//! `mailscope serve`: the ingest endpoint (token-protected, any reader format, bad records
//! reported with their line, good ones kept) and the query API, over loopback.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_mailscope");
const TOKEN: &str = "s3cret-token-for-tests";

pub struct Server {
    child: Child,
    pub base: String,
    /// The lines the server printed to standard error.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `within` for a line of the server's log holding `text`.
    pub fn wait_for_log(&self, text: &str, within: std::time::Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            let found = self
                .log
                .lock()
                .expect("log")
                .iter()
                .find(|line| line.contains(text))
                .cloned();
            if found.is_some() {
                return found;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &std::path::Path, token: Option<&str>) -> Server {
    serve_with(data, token, &[])
}

/// `mailscope serve` on a free loopback port with `extra` arguments; killed on drop.
pub fn serve_with(
    data: &std::path::Path,
    token: Option<&str>,
    extra: &[&std::ffi::OsStr],
) -> Server {
    let mut command = Command::new(BINARY);
    command
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .env_remove("MAILSCOPE_TOKEN")
        .env_remove("MAILSCOPE_TOKEN_FILE")
        // Stores under test stay as built unless a test asks for compaction.
        .env("MAILSCOPE_COMPACT_INTERVAL_SECS", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(token) = token {
        command.env("MAILSCOPE_TOKEN", token);
    }
    let mut child = command.spawn().expect("start mailscope serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut before = Vec::new();
    let base = loop {
        let line = lines
            .next()
            .expect("server printed its address")
            .expect("read stderr");
        // A line of text, or with `--log-format json` an object whose message is that text.
        let text = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|event| event["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| line.clone());
        before.push(line);
        if let Some((_, url)) = text.split_once(" on http://") {
            break format!("http://{}", url.trim_end_matches('/'));
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    let log = std::sync::Arc::new(std::sync::Mutex::new(before));
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().expect("log").push(line);
        }
    });
    Server { child, base, log }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

const GOOD: &str = concat!(
    r#"{"Organization":"contoso.com","MessageId":"<a@x>","Received":"2026-10-01T10:00:00Z","SenderAddress":"a@contoso.com","RecipientAddress":"b@contoso.com","Subject":"<img src=x onerror=alert(1)>","Status":"Delivered","ToIP":null,"FromIP":"81.2.69.144","Size":1000,"MessageTraceId":"11111111-1111-1111-1111-111111111111","StartDate":null,"EndDate":null,"Index":0}"#,
    "\n",
    "{not json\n",
    r#"{"Organization":"contoso.com","MessageId":"<b@x>","Received":"2026-10-01T11:00:00Z","SenderAddress":"c@contoso.com","RecipientAddress":"d@contoso.com","Subject":"second","Status":"Failed","ToIP":null,"FromIP":"10.0.0.1","Size":5,"MessageTraceId":"22222222-2222-2222-2222-222222222222","StartDate":null,"EndDate":null,"Index":1}"#,
    "\n",
);

#[test]
fn ingest_endpoint_needs_the_token_keeps_good_records_and_names_bad_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path(), Some(TOKEN));
    let client = reqwest::Client::new();
    runtime().block_on(async {
        let url = format!("{}/api/v1/ingest?source_category=posted/trace", server.base);
        let refused = client.post(&url).body(GOOD).send().await.expect("request");
        assert_eq!(refused.status(), 401);
        let body: Value = refused.json().await.expect("json error");
        assert_eq!(body["code"], "unauthorized", "{body}");
        let wrong = client
            .post(&url)
            .bearer_auth("s3cret-token-for-test")
            .body(GOOD)
            .send()
            .await
            .expect("request");
        assert_eq!(wrong.status(), 401);

        let response = client
            .post(&url)
            .bearer_auth(TOKEN)
            .body(GOOD)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        let report: Value = response.json().await.expect("json report");
        assert_eq!(report["read"], 2, "{report}");
        assert_eq!(report["bad"], 1, "{report}");
        assert_eq!(report["added"], 2, "{report}");
        assert_eq!(report["errors"][0]["line"], 2, "{report}");

        // The same body again changes nothing.
        let again: Value = client
            .post(&url)
            .bearer_auth(TOKEN)
            .body(GOOD)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert_eq!(
            (again["added"].clone(), again["updated"].clone()),
            (json!(0), json!(0))
        );

        // Nothing readable at all is a 422 with the reason.
        let garbage = client
            .post(format!("{url}&format=graph-json"))
            .bearer_auth(TOKEN)
            .body("<html>sign in</html>")
            .send()
            .await
            .expect("request");
        assert_eq!(garbage.status(), 422);
        let unknown = client
            .post(format!("{url}&format=xml"))
            .bearer_auth(TOKEN)
            .body(GOOD)
            .send()
            .await
            .expect("request");
        assert_eq!(unknown.status(), 400);

        // The rows are queryable, with their source category, through the query API.
        let query = json!({
            "query": "_sourceCategory=posted/* | json \"Status\" as status | count by status | sort by status asc",
            "from": "2026-10-01T00:00:00Z",
            "to": "2026-10-02T00:00:00Z",
        });
        let result: Value = client
            .post(format!("{}/api/v1/query", server.base))
            .bearer_auth(TOKEN)
            .json(&query)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert_eq!(result["columns"], json!(["status", "_count"]), "{result}");
        assert_eq!(result["rows"], json!([["Delivered", 1], ["Failed", 1]]));

        // With a token configured, health without it says only whether the server is up.
        let health: Value = client
            .get(format!("{}/api/v1/health", server.base))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert_eq!(health, json!({ "status": "ok" }));
        let health: Value = client
            .get(format!("{}/api/v1/health", server.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert_eq!(health["rows"], 2, "{health}");
        assert_eq!(health["queries"]["backend"], "local", "{health}");
        assert_eq!(health["queries"]["queued"], 0, "{health}");
        assert!(
            health["queries"]["memory"]["limit_bytes"].as_u64() > Some(0),
            "{health}"
        );
    });
}

#[test]
fn query_api_returns_diagnostics_and_rejects_malformed_requests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path(), None);
    let client = reqwest::Client::new();
    runtime().block_on(async {
        let url = format!("{}/api/v1/query", server.base);
        let bad_query = client
            .post(&url)
            .json(&json!({
                "query": "* | countt by status",
                "from": "2026-10-01T00:00:00Z",
                "to": "2026-10-02T00:00:00Z",
            }))
            .send()
            .await
            .expect("request");
        assert_eq!(bad_query.status(), 400);
        let body: Value = bad_query.json().await.expect("json");
        assert_eq!(body["errors"][0]["code"], "E0101", "{body}");
        assert_eq!(body["errors"][0]["span"]["start"], 4, "{body}");
        assert_eq!(body["code"], "query_invalid", "{body}");

        for malformed in [
            "not json",
            r#"{"query": "*"}"#,
            r#"{"query": "*", "from": "yesterday", "to": "2026-10-02T00:00:00Z"}"#,
            r#"{"query": "*", "from": "2026-10-01T00:00:00Z", "to": "2026-10-02T00:00:00Z", "extra": 1}"#,
        ] {
            let response = client
                .post(&url)
                .header("content-type", "application/json")
                .body(malformed)
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), 400, "{malformed}");
            let body: Value = response.json().await.expect("json error");
            assert!(body["error"].is_string(), "{body}");
            assert_eq!(body["code"], "bad_request", "{body}");
        }
        let bad_zone = client
            .post(&url)
            .json(&json!({
                "query": "* | count",
                "from": "2026-10-01T00:00:00Z",
                "to": "2026-10-02T00:00:00Z",
                "tz": "Mars/Olympus",
            }))
            .send()
            .await
            .expect("request");
        assert_eq!(bad_zone.status(), 400);

        // Without a token the ingest endpoint is off.
        let ingest = client
            .post(format!("{}/api/v1/ingest", server.base))
            .body(GOOD)
            .send()
            .await
            .expect("request");
        assert_eq!(ingest.status(), 403);
        let body: Value = ingest.json().await.expect("json error");
        assert_eq!(body["code"], "forbidden", "{body}");

        let unknown = client
            .get(format!("{}/api/v1/no-such-thing", server.base))
            .send()
            .await
            .expect("request");
        assert_eq!(unknown.status(), 404);
        let body: Value = unknown.json().await.expect("json error");
        assert_eq!(body["code"], "not_found", "{body}");
    });
}

#[test]
fn listening_beyond_loopback_needs_a_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(BINARY)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", "0.0.0.0:0"])
        .env_remove("MAILSCOPE_TOKEN")
        .env_remove("MAILSCOPE_TOKEN_FILE")
        .output()
        .expect("run mailscope serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("without an access token"), "{stderr}");
}

/// Every answer names its request: the client's plain id is kept, anything else replaced;
/// a failure of ours (5xx) carries the id in its body and in the server's log line.
#[test]
fn every_answer_carries_a_request_id_and_a_failure_is_logged_with_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path(), None);
    let client = reqwest::Client::new();
    let health = format!("{}/api/v1/health", server.base);
    runtime().block_on(async {
        let plain = client.get(&health).send().await.expect("health");
        assert_eq!(plain.status(), 200);
        let made = plain.headers()["x-request-id"]
            .to_str()
            .expect("id")
            .to_owned();
        assert!(!made.is_empty());
        let kept = client
            .get(&health)
            .header("x-request-id", "client-42.a_b")
            .send()
            .await
            .expect("health");
        assert_eq!(kept.headers()["x-request-id"], "client-42.a_b");
        let replaced = client
            .get(&health)
            .header("x-request-id", "<script>alert(1)</script>")
            .send()
            .await
            .expect("health");
        let id = replaced.headers()["x-request-id"].to_str().expect("id");
        assert!(!id.contains('<') && id != made, "{id}");

        // A catalog that cannot be read: the health endpoint fails (500).
        std::fs::write(dir.path().join("CATALOG"), b"{ damaged").expect("damage");
        let failed = client
            .get(&health)
            .header("x-request-id", "report-7")
            .send()
            .await
            .expect("health");
        assert_eq!(failed.status(), 500);
        assert_eq!(failed.headers()["x-request-id"], "report-7");
        let body: Value = failed.json().await.expect("json");
        assert_eq!(body["request_id"], "report-7", "{body}");
        assert_eq!(body["error"], "the store's catalog is unreadable", "{body}");
    });
    let logged = server
        .wait_for_log("report-7", std::time::Duration::from_secs(10))
        .expect("the failure is in the log with its id");
    assert!(logged.contains("request failed"), "{logged}");
    assert!(logged.contains("500"), "{logged}");
}

/// `--log-format json`: every line the server writes is one JSON object, its own messages
/// included, and a failed request's event carries the request's id in its span.
#[test]
fn json_logs_are_one_object_a_line_and_a_failure_carries_its_request_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve_with(
        dir.path(),
        None,
        &["--log-format".as_ref(), "json".as_ref()],
    );
    let client = reqwest::Client::new();
    let health = format!("{}/api/v1/health", server.base);
    runtime().block_on(async {
        std::fs::write(dir.path().join("CATALOG"), b"{ damaged").expect("damage");
        let failed = client
            .get(&health)
            .header("x-request-id", "json-7")
            .send()
            .await
            .expect("health");
        assert_eq!(failed.status(), 500);
    });
    let logged = server
        .wait_for_log("request failed", std::time::Duration::from_secs(10))
        .expect("the failure is in the log");
    let event: Value = serde_json::from_str(&logged).expect("a JSON object");
    assert_eq!(event["level"], "ERROR", "{event}");
    assert_eq!(event["message"], "request failed", "{event}");
    assert_eq!(event["status"], 500, "{event}");
    assert_eq!(event["span"]["request_id"], "json-7", "{event}");
    let lines = server.log.lock().expect("log").clone();
    assert!(
        lines.iter().any(|line| line.contains("memory budget")),
        "the server's own messages are logged: {lines:?}"
    );
    for line in &lines {
        let event: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}"));
        assert!(
            event["timestamp"].is_string() && event["level"].is_string(),
            "{line}"
        );
    }
}

/// An ingest holds its memory in the queries' pool, at most half of it: under a small budget
/// an ingest is still admitted when no query runs.
#[test]
fn an_ingest_under_a_small_memory_budget_is_admitted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve_with(
        dir.path(),
        Some(TOKEN),
        &["--memory".as_ref(), "128MiB".as_ref()],
    );
    let client = reqwest::Client::new();
    runtime().block_on(async {
        let url = format!("{}/api/v1/ingest?source_category=posted/trace", server.base);
        let response = client
            .post(&url)
            .bearer_auth(TOKEN)
            .body(GOOD)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        let report: Value = response.json().await.expect("json report");
        assert_eq!(report["added"], 2, "{report}");
    });
}

/// `GET /api/v1/trace?id=…`: the story `mailscope trace --json` tells, over the store's whole
/// range by default; an unknown id is a 404, a malformed request a 400, each with its code.
#[test]
fn trace_endpoint_tells_a_message_s_story() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("good.ndjson");
    let lines: Vec<&str> = GOOD.lines().filter(|l| l.starts_with("{\"")).collect();
    std::fs::write(&file, lines.join("\n")).expect("write");
    let ingested = Command::new(BINARY)
        .args(["ingest", "--data-dir"])
        .arg(dir.path())
        .arg(&file)
        .output()
        .expect("ingest");
    assert!(ingested.status.success(), "{ingested:?}");
    let server = serve(dir.path(), None);
    let client = reqwest::Client::new();
    runtime().block_on(async {
        let get = |query: &'static [(&'static str, &'static str)]| {
            client
                .get(format!("{}/api/v1/trace", server.base))
                .query(query)
                .send()
        };
        let found = get(&[("id", "a@x")]).await.expect("request");
        assert_eq!(found.status(), 200);
        let story: Value = found.json().await.expect("json");
        assert_eq!(story["message_id"], "<a@x>", "{story}");
        assert_eq!(story["subject"], "<img src=x onerror=alert(1)>", "{story}");
        assert_eq!(
            story["recipients"][0]["recipient"], "b@contoso.com",
            "{story}"
        );
        assert_eq!(story["statuses"]["Delivered"], 1, "{story}");
        assert_eq!(story["from_ip"], "81.2.69.144", "{story}");

        let by_trace = get(&[("id", "22222222-2222-2222-2222-222222222222")])
            .await
            .expect("request");
        let story: Value = by_trace.json().await.expect("json");
        assert_eq!(story["message_id"], "<b@x>", "{story}");

        let missing = get(&[("id", "<nobody@x>")]).await.expect("request");
        assert_eq!(missing.status(), 404);
        let body: Value = missing.json().await.expect("json");
        assert_eq!(body["code"], "not_found", "{body}");

        for bad in [
            &[("id", " ")][..],
            &[("nothing", "x")][..],
            &[("id", "<a@x>"), ("from", "yesterday")][..],
            &[
                ("id", "<a@x>"),
                ("from", "2026-10-02T00:00:00Z"),
                ("to", "2026-10-01T00:00:00Z"),
            ][..],
        ] {
            let refused = get(bad).await.expect("request");
            assert_eq!(refused.status(), 400, "{bad:?}");
            let body: Value = refused.json().await.expect("json");
            assert_eq!(body["code"], "bad_request", "{bad:?}: {body}");
        }
    });
}

/// CSV slash dates over HTTP: a file whose dates never tell their order is refused with both
/// readings, `date_format` reads it, and an unknown date format is a bad request.
#[test]
fn an_ingested_csv_s_date_order_is_given_or_the_file_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path(), Some(TOKEN));
    let client = reqwest::Client::new();
    let csv = "\"Received\",\"SenderAddress\",\"RecipientAddress\",\"Subject\",\"Status\"\r\n\
               \"03/04/2026 10:00:00\",\"a@x.example\",\"b@y.example\",\"s\",\"Delivered\"\r\n";
    runtime().block_on(async {
        let post = |query: &'static str| {
            client
                .post(format!("{}/api/v1/ingest{query}", server.base))
                .bearer_auth(TOKEN)
                .body(csv)
                .send()
        };
        let refused = post("").await.expect("request");
        assert_eq!(refused.status(), 422);
        let report: Value = refused.json().await.expect("json");
        let message = report["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("4 March 2026 as MM/dd/yyyy")
                && message.contains("3 April 2026 as dd/MM/yyyy"),
            "{report}"
        );
        assert_eq!(report["errors"][0]["line"], 2, "{report}");

        let read = post("?date_format=dd/MM/yyyy").await.expect("request");
        assert_eq!(read.status(), 200);
        let report: Value = read.json().await.expect("json");
        assert_eq!(report["added"], 1, "{report}");

        let bad = post("?date_format=yyyy").await.expect("request");
        assert_eq!(bad.status(), 400);
        let body: Value = bad.json().await.expect("json");
        assert_eq!(body["code"], "bad_request", "{body}");
    });
    // Stored as 3 April.
    let output = Command::new(BINARY)
        .args(["query", "--data-dir"])
        .arg(dir.path())
        .args([
            "--from",
            "2026-04-03T00:00:00Z",
            "--to",
            "2026-04-04T00:00:00Z",
            "--format",
            "csv",
            "* | count",
        ])
        .output()
        .expect("query");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    assert_eq!(lines, ["_count", "1"], "{stdout}");
}
