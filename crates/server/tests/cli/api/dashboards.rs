//! Dashboards: CRUD, validation, ids, variable values, files on disk.

use reqwest::Method;
use serde_json::{Value, json};

use super::*;

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
