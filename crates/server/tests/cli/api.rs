//! The HTTP API of API.md against a running `mailscope serve`: query paging and its cache,
//! cancel and timeout, dashboards (CRUD, validation, variable values, files on disk), apps
//! (install, edit, upgrade, uninstall, also from the command line), the embedded web app
//! with its headers, the token, and metrics. This module is the harness: a store, a server
//! and a client.

mod apps;
mod dashboards;
mod queries;
mod web;

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

pub(crate) struct Server {
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
pub(crate) struct Api {
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

pub(crate) fn serve(data: &Path, token: Option<&'static str>, timeout_ms: Option<u64>) -> Server {
    let mut command = Command::new(BINARY);
    command
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("MAILSCOPE_TOKEN")
        .env_remove("MAILSCOPE_TOKEN_FILE")
        .env_remove("MAILSCOPE_QUERY_TIMEOUT_MS")
        // Stores under test stay as built unless a test asks for compaction.
        .env("MAILSCOPE_COMPACT_INTERVAL_SECS", "0")
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

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) text: String,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
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

    pub(crate) async fn get(&self, path: &str) -> Reply {
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

    pub(crate) async fn query(&self, body: Value) -> Reply {
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
