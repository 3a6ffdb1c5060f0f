//! The HTTP API of API.md against a running `mailscope serve`: query paging and its cache,
//! cancel and timeout, dashboards (CRUD, validation, variable values, files on disk), apps
//! (install, edit, upgrade, uninstall, also from the command line), the embedded web app
//! with its headers, the token, and metrics.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_mailscope");
const TOKEN: &str = "api-test-token";
const CATEGORY: &str = "o365/trace";
const FROM: &str = "2026-10-01T00:00:00Z";
const TO: &str = "2026-10-15T00:00:00Z";
const APP: &str = "microsoft-exchange-trace-logs";
/// Runs for seconds on the test store: every pair of characters of every subject.
const SLOW_QUERY: &str = r#"_sourceCategory=o365/trace | json "Subject" as subject | parse regex field=subject "(?<c>.)" multi | parse regex field=subject "(?<d>.)" multi | count by c, d | count"#;

/// A dashboard file of format version 1, as a server of that version writes it.
const DASHBOARD_V1: &str = r#"{
  "format": "mailscope-dashboard",
  "version": 1,
  "dashboard": {
    "id": "saved-v1",
    "title": "Saved by version 1",
    "description": "",
    "app": null,
    "source_category": "o365/trace",
    "time_range": {"relative": "-24h"},
    "variables": [{"name": "status", "label": "Status", "field": "status", "default": "*"}],
    "panels": [{
      "id": "by-status",
      "title": "By status",
      "description": "",
      "query": "_sourceCategory=o365/trace | json \"Status\" as status | where status matches \"{{status}}\" | count by status",
      "visualization": {"type": "table", "options": {}},
      "layout": {"x": 0, "y": 0, "w": 12, "h": 4}
    }],
    "modified": "2026-11-25T08:00:00Z"
  }
}"#;

struct Store {
    dir: tempfile::TempDir,
}

impl Store {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BINARY)
        .args(args)
        .env_remove("MAILSCOPE_TOKEN")
        .output()
        .expect("run mailscope")
}

fn path(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_owned()
}

/// Two weeks of a small synthetic tenant.
fn store() -> Store {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = path(&dir.path().join("t.ndjson"));
    let data = path(&dir.path().join("data"));
    let generated = run(&[
        "generate",
        "--seed",
        "11",
        "--messages",
        "20000",
        "--start",
        FROM,
        "--days",
        "14",
        "--out",
        &file,
    ]);
    assert!(generated.status.success(), "{generated:?}");
    let ingested = run(&[
        "ingest",
        "--data-dir",
        &data,
        "--source-category",
        CATEGORY,
        &file,
    ]);
    assert!(ingested.status.success(), "{ingested:?}");
    Store { dir }
}

struct Server {
    child: Child,
    api: Api,
}

impl std::ops::Deref for Server {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// A client of one server, with or without the token.
struct Api {
    base: String,
    token: Option<&'static str>,
    client: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &Path, token: Option<&'static str>, timeout_ms: Option<u64>) -> Server {
    let mut command = Command::new(BINARY);
    command
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("MAILSCOPE_TOKEN")
        .env_remove("MAILSCOPE_TOKEN_FILE")
        .env_remove("MAILSCOPE_QUERY_TIMEOUT_MS")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(token) = token {
        command.env("MAILSCOPE_TOKEN", token);
    }
    if let Some(ms) = timeout_ms {
        command.env("MAILSCOPE_QUERY_TIMEOUT_MS", ms.to_string());
    }
    let mut child = command.spawn().expect("start mailscope serve");
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
    Server {
        child,
        api: Api {
            base,
            token,
            client: reqwest::Client::new(),
        },
    }
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

impl Api {
    async fn send(&self, method: Method, path: &str, body: Option<Body>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = self.token {
            request = request.bearer_auth(token);
        }
        match body {
            Some(Body::Json(value)) => request = request.json(&value),
            Some(Body::Raw(text)) => {
                request = request
                    .header("content-type", "application/json")
                    .body(text)
            }
            None => {}
        }
        let response = request.send().await.expect("request");
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.expect("body"),
        }
    }

    /// A body over the limit is answered 413 as soon as the limit is passed; the server then
    /// closes the connection, so the client may see the reset before the answer.
    async fn assert_refused_as_too_large(&self, path: &str, body: String) {
        // A client of its own: the connection does not survive.
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = self.token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(response) => assert_eq!(response.status(), 413, "{path}"),
            Err(e) => assert!(
                e.is_request() || e.is_body() || e.is_connect(),
                "{path}: {e:?}"
            ),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(Body::Json(body))).await
    }

    async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(Body::Json(body))).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    async fn query(&self, body: Value) -> Reply {
        self.post("/api/v1/query", body).await
    }
}

enum Body {
    Json(Value),
    Raw(String),
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn all_at_star() -> Value {
    json!({"status": "*", "sender_address": "*", "organization": "*", "country": "*"})
}

#[test]
fn api_query_pages_concatenate_to_the_whole_result_and_later_pages_come_from_the_cache() {
    let store = store();
    let server = serve(&store.data(), None, None);
    runtime().block_on(async {
        let query = "_sourceCategory=o365/trace | json \"SenderAddress\" as sender | count by sender | sort by sender asc";
        let whole = server
            .query(json!({"query": query, "from": FROM, "to": TO, "limit": 10000}))
            .await;
        assert_eq!(whole.status, 200, "{}", whole.text);
        let whole = whole.json();
        assert_eq!(whole["columns"], json!(["sender", "_count"]));
        assert_eq!(whole["types"], json!(["text", "int"]));
        let total = whole["total_rows"].as_u64().expect("total_rows") as usize;
        assert!(total > 20, "{whole}");
        assert_eq!(whole["rows"].as_array().map(Vec::len), Some(total));

        // Another time zone is another result: paged from scratch, then from the cache.
        let mut rows = Vec::new();
        let mut offset = 0;
        while offset < total {
            let page = server
                .query(json!({"query": query, "from": FROM, "to": TO, "tz": "Europe/Berlin",
                    "offset": offset, "limit": 7}))
                .await;
            assert_eq!(page.status, 200, "{}", page.text);
            let page = page.json();
            assert_eq!(page["offset"], offset);
            assert_eq!(page["total_rows"], total);
            assert_eq!(page["cached"], offset > 0, "page at {offset}");
            assert!(page["elapsed_ms"].is_u64());
            let got = page["rows"].as_array().expect("rows").clone();
            assert!(!got.is_empty() && got.len() <= 7);
            offset += got.len();
            rows.extend(got);
        }
        assert_eq!(Value::Array(rows), whole["rows"]);
        // Past the end: an empty page, not an error.
        let past = server
            .query(json!({"query": query, "from": FROM, "to": TO, "offset": total + 5}))
            .await
            .json();
        assert_eq!(past["rows"], json!([]));
        assert_eq!(past["cached"], true);

        // Bad requests.
        for (body, status) in [
            (json!({"query": query, "from": FROM, "to": TO, "limit": 0}), 400),
            (json!({"query": query, "from": FROM, "to": TO, "limit": 10001}), 400),
            (json!({"query": query, "from": TO, "to": FROM}), 400),
            (json!({"query": query, "from": FROM, "to": FROM}), 400),
            (json!({"query": query, "from": "last week", "to": TO}), 400),
            (json!({"query": query, "from": FROM, "to": TO, "tz": "Mars/Olympus"}), 400),
            (json!({"query": query, "from": FROM, "to": TO, "id": "../x"}), 400),
            (json!({"query": query, "from": FROM, "to": TO, "page": 2}), 400),
        ] {
            let reply = server.query(body.clone()).await;
            assert_eq!(reply.status, status, "{body}: {}", reply.text);
            assert!(reply.json()["error"].is_string(), "{}", reply.text);
        }
        let malformed = server
            .send(Method::POST, "/api/v1/query", Some(Body::Raw("{\"query\": ".into())))
            .await;
        assert_eq!(malformed.status, 400);
        let huge = format!(
            "{{\"query\": \"{}\", \"from\": \"{FROM}\", \"to\": \"{TO}\"}}",
            "x".repeat(3 << 20)
        );
        server.assert_refused_as_too_large("/api/v1/query", huge).await;

        // A query that does not compile: diagnostics with line and column.
        let bad = server
            .query(json!({"query": "_sourceCategory=x\n| countt by status", "from": FROM, "to": TO}))
            .await;
        assert_eq!(bad.status, 400);
        let bad = bad.json();
        assert_eq!(bad["errors"][0]["code"], "E0101", "{bad}");
        assert_eq!(bad["errors"][0]["line"], 2, "{bad}");
        assert_eq!(bad["errors"][0]["column"], 3, "{bad}");
        assert_eq!(bad["errors"][0]["span"]["start"], 20, "{bad}");
    });
}

#[test]
fn api_cancel_stops_a_running_query_and_the_time_limit_stops_a_long_one() {
    let store = store();
    let server = serve(&store.data(), None, None);
    runtime().block_on(async {
        let running = server.query(json!({"query": SLOW_QUERY, "from": FROM, "to": TO,
            "id": "slow-1"}));
        let cancel = async {
            // The query claims its id before it runs; retry until it does.
            for _ in 0..100 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let reply = server
                    .send(Method::POST, "/api/v1/query/slow-1/cancel", None)
                    .await;
                if reply.status == 204 {
                    return true;
                }
                assert_eq!(reply.status, 404, "{}", reply.text);
            }
            false
        };
        let started = std::time::Instant::now();
        let (reply, cancelled) = tokio::join!(running, cancel);
        assert!(cancelled, "the cancel never found the query");
        assert_eq!(reply.status.as_u16(), 499, "{}", reply.text);
        assert_eq!(reply.json()["error"], "the query was cancelled");
        assert!(started.elapsed().as_secs() < 8, "{:?}", started.elapsed());
        let again = server
            .send(Method::POST, "/api/v1/query/slow-1/cancel", None)
            .await;
        assert_eq!(again.status, 404);
        let metrics = server.get("/api/v1/metrics").await.text;
        assert!(
            metrics
                .lines()
                .any(|l| l == "mailscope_queries_cancelled_total 1"),
            "{metrics}"
        );
        assert!(
            metrics.lines().any(|l| l == "mailscope_queries_running 0"),
            "{metrics}"
        );
    });
    drop(server);

    let server = serve(&store.data(), None, Some(300));
    runtime().block_on(async {
        let reply = server
            .query(json!({"query": SLOW_QUERY, "from": FROM, "to": TO}))
            .await;
        assert_eq!(reply.status, 503, "{}", reply.text);
        assert_eq!(
            reply.json()["error"],
            "the query ran longer than 0.3 s and was cancelled; narrow the time range"
        );
        let metrics = server.get("/api/v1/metrics").await.text;
        assert!(
            metrics
                .lines()
                .any(|l| l == "mailscope_queries_timed_out_total 1"),
            "{metrics}"
        );
    });
}

fn own_dashboard() -> Value {
    json!({
        "title": "Failures <b>by</b> sender",
        "description": "mine",
        "source_category": CATEGORY,
        "time_range": {"relative": "-7d"},
        "variables": [{"name": "status", "label": "Status", "field": "status", "default": "*"}],
        "panels": [{
            "id": "by-sender",
            "title": "By sender",
            "query": "_sourceCategory=o365/trace | json \"Status\", \"SenderAddress\" as status, sender | where status matches \"{{status}}\" | count by sender",
            "visualization": {"type": "bar", "options": {"label": "sender", "value": "_count"}},
            "layout": {"x": 0, "y": 0, "w": 6, "h": 4}
        }]
    })
}

#[test]
fn api_dashboards_are_created_validated_edited_duplicated_and_deleted() {
    let store = store();
    let library = store.data().join("library/dashboards");
    std::fs::create_dir_all(&library).expect("library dir");
    std::fs::write(library.join("saved-v1.json"), DASHBOARD_V1).expect("write example");
    std::fs::write(
        library.join("broken.json"),
        "{\"format\": \"mailscope-dashboard\"",
    )
    .expect("write broken");
    let server = serve(&store.data(), None, None);
    runtime().block_on(async {
        // A file of format version 1 loads; a broken file is named, the others still list.
        let saved = server.get("/api/v1/dashboards/saved-v1").await;
        assert_eq!(saved.status, 200, "{}", saved.text);
        assert_eq!(saved.json()["panels"][0]["id"], "by-status");
        let broken = server.get("/api/v1/dashboards/broken").await;
        assert_eq!(broken.status, 500);
        assert!(
            broken.json()["error"]
                .as_str()
                .is_some_and(|e| e.contains("library/dashboards/broken.json")),
            "{}",
            broken.text
        );
        std::fs::remove_file(library.join("broken.json")).expect("remove");

        let created = server.post("/api/v1/dashboards", own_dashboard()).await;
        assert_eq!(created.status, 201, "{}", created.text);
        let created = created.json();
        let id = created["id"].as_str().expect("id").to_owned();
        assert!(id.starts_with("failures-b-by-b-sender-"), "{id}");
        assert_eq!(created["app"], Value::Null);
        assert!(created["modified"].is_string());
        assert_eq!(created["title"], "Failures <b>by</b> sender");

        let list = server.get("/api/v1/dashboards").await.json();
        let ids: Vec<&str> = list
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|d| d["id"].as_str())
            .collect();
        assert_eq!(ids.len(), 2, "{list}");
        assert!(ids.contains(&id.as_str()) && ids.contains(&"saved-v1"));
        assert_eq!(list[0]["edited"], false);

        // Replace it: a valid edit, then invalid ones.
        let mut edited = created.clone();
        edited["title"] = json!("Renamed");
        let put = server
            .put(&format!("/api/v1/dashboards/{id}"), edited.clone())
            .await;
        assert_eq!(put.status, 200, "{}", put.text);
        assert_eq!(put.json()["title"], "Renamed");
        assert_eq!(
            server.get(&format!("/api/v1/dashboards/{id}")).await.json()["title"],
            "Renamed"
        );

        let mut broken_query = edited.clone();
        broken_query["panels"][0]["query"] = json!("_sourceCategory=x | countt by y");
        let reply = server
            .put(&format!("/api/v1/dashboards/{id}"), broken_query)
            .await;
        assert_eq!(reply.status, 400, "{}", reply.text);
        let body = reply.json();
        assert_eq!(body["panel"], "by-sender");
        assert_eq!(body["errors"][0]["code"], "E0101", "{body}");
        assert_eq!(body["errors"][0]["column"], 21, "{body}");

        let mut undeclared = own_dashboard();
        undeclared["panels"][0]["query"] = json!(
            "_sourceCategory=x | json \"Status\" as status | where status matches \"{{nope}}\""
        );
        let reply = server.post("/api/v1/dashboards", undeclared).await;
        assert_eq!(reply.status, 400, "{}", reply.text);
        assert!(reply.json()["errors"].is_array());

        let mut invalid = Vec::new();
        let mut with = |change: &dyn Fn(&mut Value)| {
            let mut d = own_dashboard();
            change(&mut d);
            invalid.push(d);
        };
        with(&|d| d["extra"] = json!(1));
        with(&|d| d["panels"][0]["layout"]["w"] = json!(13));
        with(&|d| d["panels"][0]["layout"]["x"] = json!(8));
        with(&|d| d["panels"][0]["visualization"]["type"] = json!("radar"));
        with(&|d| d["panels"][0]["id"] = json!("../x"));
        with(&|d| d["time_range"] = json!({"relative": "7d"}));
        with(&|d| d["time_range"] = json!({"from": TO, "to": FROM}));
        with(&|d| d["time_range"] = json!({"relative": "-7d", "from": FROM}));
        with(&|d| d["source_category"] = json!("x | count"));
        with(&|d| d["title"] = json!(""));
        with(&|d| d["variables"][0]["field"] = json!("a b"));
        with(&|d| d["panels"][0]["visualization"]["options"]["sparkline_query"] = json!(5));
        for body in invalid {
            let reply = server.post("/api/v1/dashboards", body.clone()).await;
            assert_eq!(reply.status, 400, "{body}: {}", reply.text);
            assert!(reply.json()["error"].is_string(), "{}", reply.text);
        }
        let malformed = server
            .send(
                Method::POST,
                "/api/v1/dashboards",
                Some(Body::Raw("{\"title\": [".into())),
            )
            .await;
        assert_eq!(malformed.status, 400);
        let mut huge = own_dashboard();
        huge["description"] = json!("x".repeat(3 << 20));
        server
            .assert_refused_as_too_large("/api/v1/dashboards", huge.to_string())
            .await;

        // Ids that are not ids never reach the disk.
        for bad in ["..%2Fx", "%2E%2E%2Fapps", "UPPER", "a.json", "%00"] {
            let reply = server.get(&format!("/api/v1/dashboards/{bad}")).await;
            assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
            let reply = server.delete(&format!("/api/v1/dashboards/{bad}")).await;
            assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
        }
        assert_eq!(server.get("/api/v1/dashboards/no-such").await.status, 404);
        assert_eq!(
            server
                .put("/api/v1/dashboards/no-such", own_dashboard())
                .await
                .status,
            404
        );

        // Variable values: most frequent first, in the range asked for.
        let values = server
            .get(&format!(
                "/api/v1/dashboards/{id}/variables/status/values?from={FROM}&to={TO}&limit=3"
            ))
            .await;
        assert_eq!(values.status, 200, "{}", values.text);
        let values = values.json()["values"].as_array().expect("values").clone();
        assert_eq!(values.len(), 3, "{values:?}");
        assert_eq!(values[0]["value"], "Delivered", "{values:?}");
        let counts: Vec<u64> = values.iter().filter_map(|v| v["count"].as_u64()).collect();
        assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
        for (path, status) in [
            (
                format!("/api/v1/dashboards/{id}/variables/nope/values"),
                404,
            ),
            (
                format!("/api/v1/dashboards/{id}/variables/status/values?from=yesterday"),
                400,
            ),
            (
                format!("/api/v1/dashboards/{id}/variables/status/values?from={TO}&to={FROM}"),
                400,
            ),
            (
                format!("/api/v1/dashboards/{id}/variables/status/values?limit=0"),
                400,
            ),
            (
                format!("/api/v1/dashboards/{id}/variables/status/values?limit=1001"),
                400,
            ),
            (
                "/api/v1/dashboards/no-such/variables/status/values".to_owned(),
                404,
            ),
        ] {
            let reply = server.get(&path).await;
            assert_eq!(reply.status, status, "{path}: {}", reply.text);
        }

        // Duplicate, delete.
        let copy = server
            .send(
                Method::POST,
                &format!("/api/v1/dashboards/{id}/duplicate"),
                None,
            )
            .await;
        assert_eq!(copy.status, 201, "{}", copy.text);
        let copy = copy.json();
        assert_eq!(copy["title"], "Copy of Renamed");
        assert_eq!(copy["app"], Value::Null);
        assert_ne!(copy["id"], json!(id));
        assert_eq!(copy["panels"], edited["panels"]);
        let reply = server.delete(&format!("/api/v1/dashboards/{id}")).await;
        assert_eq!(reply.status, 204);
        assert_eq!(
            server.get(&format!("/api/v1/dashboards/{id}")).await.status,
            404
        );
        assert_eq!(
            server
                .delete(&format!("/api/v1/dashboards/{id}"))
                .await
                .status,
            404
        );
        // Written atomically: no temporary files are left behind.
        let leftovers: Vec<_> = std::fs::read_dir(&library)
            .expect("library")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    });
}

fn dashboards_of(list: &Value) -> Vec<Value> {
    list.as_array().expect("list").clone()
}

#[test]
fn api_app_install_edit_upgrade_keeps_the_edit_as_a_copy_and_uninstall_keeps_it() {
    let store = store();
    let server = serve(&store.data(), None, None);
    runtime().block_on(async {
        let apps = server.get("/api/v1/apps").await.json();
        assert_eq!(apps[0]["id"], APP);
        assert_eq!(apps[0]["versions"], json!(["1.0.0", "1.1.0"]));
        assert_eq!(apps[0]["latest"], "1.1.0");
        assert_eq!(apps[0]["installed"], Value::Null);

        for (path, body, status) in [
            (
                "/api/v1/apps/no-such-app/install",
                json!({"source_category": CATEGORY}),
                404,
            ),
            (
                "/api/v1/apps/microsoft-exchange-trace-logs/install",
                json!({"source_category": CATEGORY, "version": "9.9.9"}),
                400,
            ),
            (
                "/api/v1/apps/microsoft-exchange-trace-logs/install",
                json!({"source_category": "a\" | count"}),
                400,
            ),
            (
                "/api/v1/apps/microsoft-exchange-trace-logs/install",
                json!({"source_category": CATEGORY, "extra": true}),
                400,
            ),
            (
                "/api/v1/apps/microsoft-exchange-trace-logs/upgrade",
                json!({}),
                404,
            ),
        ] {
            let reply = server.post(path, body.clone()).await;
            assert_eq!(reply.status, status, "{path} {body}: {}", reply.text);
        }
        assert_eq!(
            server
                .delete("/api/v1/apps/microsoft-exchange-trace-logs")
                .await
                .status,
            404
        );

        let installed = server
            .post(
                "/api/v1/apps/microsoft-exchange-trace-logs/install",
                json!({"source_category": CATEGORY, "version": "1.0.0"}),
            )
            .await;
        assert_eq!(installed.status, 201, "{}", installed.text);
        let installed = installed.json();
        assert_eq!(installed["installed"]["version"], "1.0.0");
        assert_eq!(installed["installed"]["source_category"], CATEGORY);
        let ids: Vec<String> = installed["installed"]["dashboards"]
            .as_array()
            .expect("ids")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        assert_eq!(ids.len(), 2);
        let again = server
            .post(
                "/api/v1/apps/microsoft-exchange-trace-logs/install",
                json!({"source_category": CATEGORY}),
            )
            .await;
        assert_eq!(again.status, 409);

        // The panels read the chosen source category and run.
        let mut overview = Value::Null;
        let mut monitoring_id = String::new();
        for id in &ids {
            let dashboard = server.get(&format!("/api/v1/dashboards/{id}")).await.json();
            assert_eq!(dashboard["source_category"], CATEGORY);
            assert_eq!(dashboard["time_range"], json!({"relative": "-7d"}));
            assert_eq!(dashboard["variables"].as_array().map(Vec::len), Some(4));
            assert_eq!(dashboard["panels"].as_array().map(Vec::len), Some(9));
            for panel in dashboard["panels"].as_array().expect("panels") {
                let query = panel["query"].as_str().expect("query");
                assert!(query.contains("\n_sourceCategory=o365/trace\n"), "{query}");
                let reply = server
                    .query(json!({"query": query, "from": FROM, "to": TO,
                        "variables": all_at_star()}))
                    .await;
                assert_eq!(reply.status, 200, "{}: {}", panel["id"], reply.text);
            }
            match dashboard["app"]["key"].as_str() {
                Some("overview") => overview = dashboard,
                Some("message-monitoring") => monitoring_id = id.clone(),
                other => panic!("unexpected key {other:?}"),
            }
        }
        let overview_id = overview["id"].as_str().expect("id").to_owned();

        // The user edits the Overview.
        let mut edited = overview.clone();
        edited["panels"][0]["title"] = json!("Delivered (mine)");
        edited["app"] = Value::Null;
        let put = server
            .put(&format!("/api/v1/dashboards/{overview_id}"), edited)
            .await;
        assert_eq!(put.status, 200, "{}", put.text);
        assert_eq!(put.json()["app"]["key"], "overview", "the binding is kept");
        let list = server.get("/api/v1/dashboards").await.json();
        for summary in dashboards_of(&list) {
            assert_eq!(
                summary["edited"],
                summary["id"] == json!(overview_id),
                "{summary}"
            );
        }

        let upgraded = server
            .post(
                "/api/v1/apps/microsoft-exchange-trace-logs/upgrade",
                json!({}),
            )
            .await;
        assert_eq!(upgraded.status, 200, "{}", upgraded.text);
        let upgraded = upgraded.json();
        assert_eq!(upgraded["app"]["installed"]["version"], "1.1.0");
        assert_eq!(upgraded["replaced"], json!([monitoring_id]));
        let copies = upgraded["kept_copies"].as_array().expect("copies").clone();
        assert_eq!(copies.len(), 1, "{upgraded}");
        let copy = server
            .get(&format!(
                "/api/v1/dashboards/{}",
                copies[0].as_str().expect("id")
            ))
            .await
            .json();
        assert_eq!(copy["app"], Value::Null);
        assert_eq!(
            copy["title"],
            "Microsoft Exchange Trace Logs - Overview (edited, from 1.0.0)"
        );
        assert_eq!(copy["panels"][0]["title"], "Delivered (mine)");
        let new_overview = server
            .get(&format!("/api/v1/dashboards/{overview_id}"))
            .await
            .json();
        assert_eq!(new_overview["app"]["version"], "1.1.0");
        assert_eq!(new_overview["panels"][0]["title"], "Delivered Messages");
        assert_eq!(new_overview["panels"].as_array().map(Vec::len), Some(11));

        // Every 1.1.0 query runs: panels, sparklines, outliers, the IP threat table.
        let monitoring = server
            .get(&format!("/api/v1/dashboards/{monitoring_id}"))
            .await
            .json();
        let mut outlier_columns = None;
        for dashboard in [&new_overview, &monitoring] {
            for panel in dashboard["panels"].as_array().expect("panels") {
                let options = &panel["visualization"]["options"];
                let mut queries = vec![panel["query"].clone()];
                queries.extend(options.get("sparkline_query").cloned());
                for query in queries {
                    let reply = server
                        .query(json!({"query": query, "from": FROM, "to": TO,
                            "variables": all_at_star()}))
                        .await;
                    assert_eq!(reply.status, 200, "{}: {}", panel["id"], reply.text);
                    if panel["id"] == "delivery-volume-outliers" {
                        outlier_columns = Some(reply.json()["columns"].clone());
                    }
                }
            }
        }
        assert_eq!(
            outlier_columns,
            Some(json!([
                "_timeslice",
                "delivered",
                "delivered_error",
                "delivered_lower",
                "delivered_upper",
                "delivered_indicator",
                "delivered_violation"
            ]))
        );
        let again = server
            .post(
                "/api/v1/apps/microsoft-exchange-trace-logs/upgrade",
                json!({"version": "1.1.0"}),
            )
            .await;
        assert_eq!(again.status, 409);

        // Uninstall: the app's dashboards go, the user's copy stays.
        let reply = server
            .delete("/api/v1/apps/microsoft-exchange-trace-logs")
            .await;
        assert_eq!(reply.status, 204, "{}", reply.text);
        let list = server.get("/api/v1/dashboards").await.json();
        let left: Vec<&Value> = list
            .as_array()
            .expect("list")
            .iter()
            .map(|d| &d["id"])
            .collect();
        assert_eq!(left, [&copies[0]]);
        let apps = server.get("/api/v1/apps").await.json();
        assert_eq!(apps[0]["installed"], Value::Null);
    });
}

#[test]
fn api_app_command_line_installs_upgrades_and_uninstalls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = path(&dir.path().join("data"));
    let listed = run(&["app", "list", "--data-dir", &data]);
    assert!(listed.status.success(), "{listed:?}");
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("microsoft-exchange-trace-logs (Microsoft Exchange Trace Logs)"),
        "{text}"
    );
    assert!(text.contains("not installed"), "{text}");

    let installed = run(&[
        "app",
        "install",
        "--data-dir",
        &data,
        "--source-category",
        "Labs/Trace",
        "--version",
        "1.0.0",
    ]);
    assert!(installed.status.success(), "{installed:?}");
    let text = String::from_utf8_lossy(&installed.stdout);
    assert!(
        text.starts_with(
            "installed microsoft-exchange-trace-logs 1.0.0 for source category Labs/Trace"
        ),
        "{text}"
    );
    let twice = run(&["app", "install", "--data-dir", &data]);
    assert!(!twice.status.success());
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("installed already"),
        "{twice:?}"
    );
    let unknown = run(&["app", "upgrade", "--data-dir", &data, "--version", "0.1"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("versions: 1.0.0, 1.1.0"),
        "{unknown:?}"
    );

    let listed = run(&["app", "list", "--data-dir", &data]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("installed: version 1.0.0, source category Labs/Trace"),
        "{text}"
    );
    assert!(
        text.contains("[microsoft-exchange-trace-logs 1.0.0]"),
        "{text}"
    );

    let upgraded = run(&["app", "upgrade", "--data-dir", &data]);
    assert!(upgraded.status.success(), "{upgraded:?}");
    let text = String::from_utf8_lossy(&upgraded.stdout);
    assert!(
        text.starts_with("upgraded microsoft-exchange-trace-logs to 1.1.0"),
        "{text}"
    );
    assert!(text.contains("replaced: "), "{text}");

    let removed = run(&["app", "uninstall", "--data-dir", &data]);
    assert!(removed.status.success(), "{removed:?}");
    let text = String::from_utf8_lossy(&removed.stdout);
    assert!(
        text.starts_with("uninstalled microsoft-exchange-trace-logs"),
        "{text}"
    );
    let files = std::fs::read_dir(dir.path().join("data/library/dashboards"))
        .expect("dashboards dir")
        .count();
    assert_eq!(files, 0);
}

/// The first `/assets/…` file the page loads.
fn asset_of(index: &str) -> Option<String> {
    let start = index.find("/assets/")?;
    let rest = &index[start..];
    let end = rest.find(['"', '\''])?;
    Some(rest[..end].to_owned())
}

fn assert_security_headers(reply: &Reply, what: &str) {
    let csp = reply
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        csp.contains("default-src 'self'")
            && csp.contains("script-src 'self';")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    assert_eq!(
        reply
            .headers
            .get("x-content-type-options")
            .map(|v| v.as_bytes()),
        Some(&b"nosniff"[..]),
        "{what}"
    );
    assert_eq!(
        reply.headers.get("referrer-policy").map(|v| v.as_bytes()),
        Some(&b"no-referrer"[..]),
        "{what}"
    );
}

#[test]
fn api_web_app_and_every_response_carry_the_security_headers_and_the_token_guards_the_api() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path(), Some(TOKEN), None);
    let anonymous = Api {
        base: server.base.clone(),
        token: None,
        client: reqwest::Client::new(),
    };
    runtime().block_on(async {
        let index = anonymous.get("/").await;
        assert_eq!(index.status, 200);
        assert_security_headers(&index, "/");
        assert_eq!(
            index.headers.get("content-type").map(|v| v.as_bytes()),
            Some(&b"text/html; charset=utf-8"[..])
        );
        assert_eq!(
            index.headers.get("cache-control").map(|v| v.as_bytes()),
            Some(&b"no-cache"[..])
        );
        // A client-side route gets the app.
        let route = anonymous.get("/dashboards/overview-1234").await;
        assert_eq!(route.status, 200);
        assert_eq!(route.text, index.text);

        let asset = asset_of(&index.text).expect("index.html loads an asset");
        let file = anonymous.get(&asset).await;
        assert_eq!(file.status, 200, "{asset}");
        assert_security_headers(&file, &asset);
        assert!(
            file.headers
                .get("cache-control")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("max-age=31536000") && v.contains("immutable")),
            "{asset}"
        );
        let expected_type = if asset.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(
            file.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with(expected_type)),
            "{asset}: {:?}",
            file.headers.get("content-type")
        );
        let missing = anonymous.get("/assets/missing-0000.js").await;
        assert_eq!(missing.status, 404);
        let unknown_api = anonymous.get("/api/v1/nope").await;
        assert_eq!(unknown_api.status, 404);
        assert!(unknown_api.json()["error"].is_string());
        assert_security_headers(&unknown_api, "/api/v1/nope");

        // The token: health is open, everything else under /api/v1 needs it.
        let health = anonymous.get("/api/v1/health").await;
        assert_eq!(health.status, 200);
        assert_security_headers(&health, "health");
        let health = health.json();
        assert_eq!(health["status"], "ok");
        assert_eq!(health["rows"], 0);
        assert!(
            health.get("geo").is_some() && health.get("threat").is_some(),
            "{health}"
        );
        for (method, path) in [
            (Method::GET, "/api/v1/dashboards"),
            (Method::POST, "/api/v1/dashboards"),
            (Method::GET, "/api/v1/dashboards/x"),
            (Method::PUT, "/api/v1/dashboards/x"),
            (Method::DELETE, "/api/v1/dashboards/x"),
            (Method::POST, "/api/v1/dashboards/x/duplicate"),
            (Method::GET, "/api/v1/dashboards/x/variables/status/values"),
            (Method::GET, "/api/v1/apps"),
            (
                Method::POST,
                "/api/v1/apps/microsoft-exchange-trace-logs/install",
            ),
            (
                Method::POST,
                "/api/v1/apps/microsoft-exchange-trace-logs/upgrade",
            ),
            (Method::DELETE, "/api/v1/apps/microsoft-exchange-trace-logs"),
            (Method::POST, "/api/v1/query"),
            (Method::POST, "/api/v1/query/x/cancel"),
            (Method::GET, "/api/v1/metrics"),
        ] {
            let reply = anonymous.send(method.clone(), path, None).await;
            assert_eq!(reply.status, 401, "{method} {path}");
            assert_security_headers(&reply, path);
        }
        let with_token = server.get("/api/v1/apps").await;
        assert_eq!(with_token.status, 200);
        assert_security_headers(&with_token, "/api/v1/apps");

        let metrics = server.get("/api/v1/metrics").await;
        assert_eq!(metrics.status, 200);
        assert!(
            metrics
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/plain; version=0.0.4")),
        );
        let text = metrics.text;
        for line in [
            "mailscope_http_requests_total{route=\"/api/v1/apps\",status=\"401\"} 1",
            "mailscope_http_requests_total{route=\"/api/v1/apps\",status=\"200\"} 1",
            "mailscope_http_requests_total{route=\"/api/v1/health\",status=\"200\"} 1",
            "mailscope_http_requests_total{route=\"static\",status=\"200\"} 3",
            "mailscope_query_duration_seconds_count 0",
            "mailscope_queries_running 0",
            "mailscope_queries_cancelled_total 0",
            "mailscope_queries_timed_out_total 0",
            "mailscope_store_rows 0",
            "mailscope_store_generation 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
        assert!(text.contains("# TYPE mailscope_query_duration_seconds histogram"));
        assert!(text.contains("# TYPE mailscope_ingest_records_total counter"));
    });
}

#[test]
fn api_demo_installs_the_app_and_prints_a_browser_ready_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("demo");
    let mut child = Command::new(BINARY)
        .args([
            "demo",
            "--messages",
            "2000",
            "--days",
            "2",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mailscope demo");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("http://") => break line,
            Some(Ok(_)) => {}
            _ => {
                let _ = child.kill();
                panic!("the demo printed no URL");
            }
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let server = Server {
        child,
        api: Api {
            base: url.trim_end_matches('/').to_owned(),
            token: None,
            client: reqwest::Client::new(),
        },
    };
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with('/'),
        "{url}"
    );
    runtime().block_on(async {
        let page = server.get("/").await;
        assert_eq!(page.status, 200);
        assert!(page.text.contains("<html"), "{}", page.text);
        let apps = server.get("/api/v1/apps").await.json();
        assert_eq!(apps[0]["installed"]["version"], "1.1.0", "{apps}");
        assert_eq!(
            apps[0]["installed"]["source_category"],
            "Labs/MessageExchangeTraceLogs"
        );
        let list = server.get("/api/v1/dashboards").await.json();
        let ids: Vec<&str> = list
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|d| d["id"].as_str())
            .collect();
        assert_eq!(ids.len(), 2, "{list}");
        assert!(
            ids.iter().any(|id| id.starts_with("overview-"))
                && ids.iter().any(|id| id.starts_with("message-monitoring-")),
            "{ids:?}"
        );
    });
}
