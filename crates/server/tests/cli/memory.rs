//! The server under a memory budget: every panel of both installed dashboards fired at once,
//! several rounds (each missing the result cache), answered without an error and exactly as
//! the one-shot path answers them, with the server's peak resident size (from `/proc`) within
//! its `--memory` and a tenth.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use mailscope_engine::exec::{self, QueryOptions};
use mailscope_engine::geo::GeoDatabase;
use serde_json::{Value, json};

use crate::http::serve_with;

const BINARY: &str = env!("CARGO_BIN_EXE_mailscope");
const CATEGORY: &str = "budget/trace";
const MESSAGES: &str = "2000000";
const FROM: &str = "2026-09-01T00:00:00Z";
const DAYS: i64 = 10;
const BUDGET_MIB: u64 = 256;
const ROUNDS: i64 = 3;
/// Rows a request asks for (the API's largest page).
const PAGE: usize = 10_000;

fn cli(args: &[&std::ffi::OsStr]) {
    let output = Command::new(BINARY)
        .args(args)
        .output()
        .expect("run mailscope");
    assert!(
        output.status.success(),
        "mailscope {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Peak resident size of process `pid` (`VmHWM`), in bytes.
fn peak_resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .expect("VmHWM")
        * 1024
}

/// Numbers within a relative 1e-9 (sums of floats are added in any order in parallel).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        _ => a == b,
    }
}

fn one_shot(
    data: &Path,
    geo: &Option<Arc<GeoDatabase>>,
    text: &str,
    variables: &BTreeMap<String, String>,
    to: chrono::DateTime<chrono::Utc>,
) -> Value {
    let query = mailscope_query::compile_with_variables(text, variables).expect("compiles");
    let options = QueryOptions {
        from: FROM.parse().expect("time"),
        to,
        time_zone: chrono_tz::UTC,
        geo: geo.clone(),
        asn: None,
        threat: None,
        max_raw_rows: 10_000,
    };
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(exec::execute(data, &query, &options))
        .expect("one-shot answer");
    json!({
        "columns": result.columns,
        "rows": result.rows.iter().map(|row| row.iter().map(|v| v.to_json()).collect::<Vec<_>>()).collect::<Vec<_>>(),
    })
}

#[test]
fn a_server_under_a_memory_budget_answers_every_panel_at_once_within_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("tenant.ndjson");
    let data = dir.path().join("data");
    cli(&[
        "generate".as_ref(),
        "--seed".as_ref(),
        "17".as_ref(),
        "--messages".as_ref(),
        MESSAGES.as_ref(),
        "--start".as_ref(),
        FROM.as_ref(),
        "--days".as_ref(),
        DAYS.to_string().as_ref(),
        "--out".as_ref(),
        file.as_os_str(),
    ]);
    cli(&[
        "ingest".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--source-category".as_ref(),
        CATEGORY.as_ref(),
        file.as_os_str(),
    ]);
    cli(&[
        "app".as_ref(),
        "install".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--source-category".as_ref(),
        CATEGORY.as_ref(),
    ]);
    // The geolocation database the server finds by default is part of what the budget
    // covers; the one-shot answers use the same one.
    let geo = crate::differential::geo();
    let budget = format!("{BUDGET_MIB}MiB");
    let server = serve_with(&data, None, &["--memory".as_ref(), budget.as_ref()]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = reqwest::Client::new();
    let queries = crate::differential::dashboard_cases_from(|path| {
        runtime.block_on(async {
            client
                .get(format!("{}{path}", server.base))
                .send()
                .await
                .expect("request")
                .json::<Value>()
                .await
                .expect("json")
        })
    });
    assert!(
        queries.len() >= 25,
        "both dashboards' panels: {}",
        queries.len()
    );
    let from: chrono::DateTime<chrono::Utc> = FROM.parse().expect("time");
    for round in 0..ROUNDS {
        // A range a millisecond longer each round: every request misses the result cache.
        let to = from + chrono::Duration::days(DAYS) + chrono::Duration::milliseconds(round);
        let page = |case: &crate::differential::Case, offset: usize| {
            let request = client
                .post(format!("{}/api/v1/query", server.base))
                .json(&json!({
                    "query": case.text, "from": from, "to": to, "tz": "UTC",
                    "variables": case.variables, "limit": PAGE, "offset": offset,
                }))
                .send();
            async move {
                let reply = request.await.expect("request");
                let status = reply.status().as_u16();
                (status, reply.json::<Value>().await.expect("json"))
            }
        };
        let answers: Vec<(u16, Value)> = runtime.block_on(futures::future::join_all(
            queries.iter().map(|c| page(c, 0)),
        ));
        for (case, (status, answer)) in queries.iter().zip(&answers) {
            let (origin, text, variables) = (&case.origin, &case.text, &case.variables);
            assert_eq!(*status, 200, "{origin}: {answer}");
            assert_eq!(answer["cached"], false, "{origin}");
            // A result longer than a page is read a page at a time, as the web app does; it
            // is too large to be kept, so each page computes it again, and the pages must
            // still fit together (one order on every run).
            let mut answer = answer.clone();
            let total = answer["total_rows"].as_u64().expect("total_rows") as usize;
            let mut offset = PAGE;
            while offset < total {
                let (status, next) = runtime.block_on(page(case, offset));
                assert_eq!(status, 200, "{origin} at {offset}: {next}");
                let rows = next["rows"].as_array().expect("rows").clone();
                answer["rows"].as_array_mut().expect("rows").extend(rows);
                offset += PAGE;
            }
            let expected = one_shot(&data, &geo, text, variables, to);
            // Rows as a multiset: a panel without a sort has no order to keep.
            let rows = |value: &Value| {
                let mut rows = value.as_array().cloned().unwrap_or_default();
                rows.sort_by_key(|row| row.to_string());
                Value::Array(rows)
            };
            assert!(
                same(&answer["columns"], &expected["columns"])
                    && same(&rows(&answer["rows"]), &rows(&expected["rows"])),
                "{origin}, round {round}: the server answered\n{:.2000}\nthe one-shot path\n{:.2000}",
                answer.to_string(),
                expected.to_string()
            );
        }
    }
    let peak = peak_resident(server.pid());
    let limit = BUDGET_MIB * (1 << 20) * 11 / 10;
    eprintln!(
        "peak resident size {} MiB, budget {BUDGET_MIB} MiB",
        peak >> 20
    );
    assert!(
        peak <= limit,
        "peak resident size {} MiB is over the budget of {BUDGET_MIB} MiB + 10 %",
        peak >> 20
    );
}
