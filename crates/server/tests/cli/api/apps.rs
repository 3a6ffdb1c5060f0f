//! Apps: install, edit, upgrade, uninstall over HTTP and from the command line; the demo.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::*;

/// The result columns a panel's visualization options name.
fn columns_named(options: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for key in ["x", "label", "value", "latitude", "longitude", "color_by"] {
        names.extend(options[key].as_str().map(str::to_owned));
    }
    for key in ["series", "columns"] {
        for name in options[key].as_array().into_iter().flatten() {
            names.extend(name.as_str().map(str::to_owned));
        }
    }
    if let Some(outlier) = options["outlier"].as_object() {
        names.extend(
            outlier
                .values()
                .filter_map(|v| v.as_str().map(str::to_owned)),
        );
    }
    names
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
                for (index, query) in queries.into_iter().enumerate() {
                    let reply = server
                        .query(json!({"query": query, "from": FROM, "to": TO,
                            "variables": all_at_star()}))
                        .await;
                    assert_eq!(reply.status, 200, "{}: {}", panel["id"], reply.text);
                    let columns = reply.json()["columns"].clone();
                    let named = if index == 0 {
                        columns_named(options)
                    } else {
                        vec!["_timeslice".to_owned()]
                    };
                    for column in named {
                        assert!(
                            columns
                                .as_array()
                                .is_some_and(|c| c.contains(&json!(column))),
                            "{}: option column {column} is not in {columns}",
                            panel["id"]
                        );
                    }
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

#[test]
fn api_app_list_of_a_missing_directory_creates_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("typo");
    let listed = run(&["app", "list", "--data-dir", &path(&data)]);
    assert!(listed.status.success(), "{listed:?}");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("not installed"));
    assert!(!data.exists());
}
