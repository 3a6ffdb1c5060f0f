//! Paging and its cache, diagnostics, bad requests, cancel and the time limit.

use reqwest::Method;
use serde_json::{Value, json};

use super::*;

/// Runs for seconds on the test store: every pair of characters of every subject.
/// Slow on rows, and it reads rows: the message id is in no level of partial aggregates.
const SLOW_QUERY: &str = r#"_sourceCategory=o365/trace | json "MessageId" as subject | parse regex field=subject "(?<c>.)" multi | parse regex field=subject "(?<d>.)" multi | count by c, d | count"#;

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
        // Counted by sender over whole days: answered from partial aggregates; the messages
        // themselves from rows. The metrics count both.
        assert_eq!(whole["input"], "partial_aggregates", "{whole}");
        let messages = server
            .query(json!({"query": "_sourceCategory=o365/trace | json \"Status\" as status",
                "from": FROM, "to": TO, "limit": 5}))
            .await
            .json();
        assert_eq!(messages["input"], "rows", "{messages}");
        let metrics = server.get("/api/v1/metrics").await.text;
        for input in ["rows", "partial_aggregates"] {
            let line = format!("mailscope_query_inputs_total{{input=\"{input}\"}} ");
            let count: u64 = metrics
                .lines()
                .find_map(|l| l.strip_prefix(line.as_str()))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {line} in\n{metrics}"));
            assert!(count >= 1, "{line}{count}");
        }

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
        assert_eq!(reply.json()["code"], "timed_out");
        let metrics = server.get("/api/v1/metrics").await.text;
        assert!(
            metrics
                .lines()
                .any(|l| l == "mailscope_queries_timed_out_total 1"),
            "{metrics}"
        );
    });
}
