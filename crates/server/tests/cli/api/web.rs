//! The embedded web app, the security headers, the token and metrics.

use reqwest::Method;

use super::*;

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

        // The token: health is open but says only that the server is up (its details name
        // files and feed URLs); everything else under /api/v1 needs it.
        let health = anonymous.get("/api/v1/health").await;
        assert_eq!(health.status, 200);
        assert_security_headers(&health, "health");
        assert_eq!(health.json(), serde_json::json!({ "status": "ok" }));
        let health = server.get("/api/v1/health").await.json();
        assert_eq!(health["status"], "ok");
        assert_eq!(health["rows"], 0);
        assert!(
            health.get("geo").is_some()
                && health.get("threat").is_some()
                && health.get("queries").is_some(),
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
            "mailscope_http_requests_total{route=\"/api/v1/health\",status=\"200\"} 2",
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
