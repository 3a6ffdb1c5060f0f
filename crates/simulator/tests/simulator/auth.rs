//! The token endpoints and bearer checks on both APIs.

use std::time::Duration;

use mailscope_simulator::http::{Audience, SimulatorConfig};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{client, start, tenant, token};

async fn post_form(url: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = client().post(url).form(form).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn assert_aadsts(body: &Value, error: &str, code: u64) {
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"][0], code, "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    assert!(description.contains("Trace ID: "));
    for key in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(body[key].is_string(), "{key} missing in {body}");
    }
}

#[tokio::test]
async fn client_credentials_issue_tokens_for_each_audience() {
    let mut config = SimulatorConfig::new(tenant(1, 200, 3, 2));
    config.token_lifetime = Duration::from_secs(1234);
    let simulator = start(config).await;
    for audience in [Audience::Graph, Audience::Exchange] {
        let (status, body) = post_form(
            &simulator.token_url(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", simulator.client_id()),
                ("client_secret", simulator.client_secret()),
                ("scope", &audience.scope()),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 1234);
        assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
    }
    // v1 takes `resource` and writes numbers as strings; the tenant may be named by domain.
    let by_domain = format!(
        "{}/{}/oauth2/token",
        simulator.base_url(),
        simulator.tenant().organization
    );
    let (status, body) = post_form(
        &by_domain,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", simulator.client_id()),
            ("client_secret", simulator.client_secret()),
            ("resource", "https://outlook.office365.com/"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], "1234");
    assert_eq!(body["resource"], "https://outlook.office365.com");
    assert!(body["expires_on"].as_str().unwrap().parse::<i64>().is_ok());
    simulator.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_credentials_get_aadsts_errors() {
    let simulator = start(SimulatorConfig::new(tenant(1, 100, 3, 2))).await;
    let scope = Audience::Graph.scope();
    let good = [
        ("grant_type", "client_credentials"),
        ("client_id", simulator.client_id()),
        ("client_secret", simulator.client_secret()),
        ("scope", scope.as_str()),
    ];
    let with = |name: &str, value: &'static str| {
        good.iter()
            .map(|(k, v)| if *k == name { (*k, value) } else { (*k, *v) })
            .collect::<Vec<_>>()
    };

    let (status, body) = post_form(&simulator.token_url(), &with("client_secret", "wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_aadsts(&body, "invalid_client", 7000215);

    let (status, body) = post_form(
        &simulator.token_url(),
        &with("client_id", "11111111-2222-3333-4444-555555555555"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_aadsts(&body, "unauthorized_client", 700016);

    let elsewhere = format!(
        "{}/contoso.onmicrosoft.com/oauth2/v2.0/token",
        simulator.base_url()
    );
    let (status, body) = post_form(&elsewhere, &good).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_aadsts(&body, "invalid_request", 90002);

    let (status, body) = post_form(
        &simulator.token_url(),
        &with("scope", "https://graph.microsoft.com/User.Read"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_aadsts(&body, "invalid_scope", 1002012);

    let (status, body) = post_form(
        &simulator.token_url(),
        &with("scope", "https://example.com/.default"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_aadsts(&body, "invalid_resource", 500011);

    let (status, body) = post_form(&simulator.token_url(), &good[1..]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_aadsts(&body, "invalid_request", 900144);

    let (status, body) = post_form(&simulator.token_url(), &with("grant_type", "password")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_aadsts(&body, "unsupported_grant_type", 70003);

    let response = client().get(simulator.token_url()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(simulator.stats().tokens_issued, 0);
}

#[tokio::test]
async fn tokens_work_only_for_their_audience() {
    let simulator = start(SimulatorConfig::new(tenant(1, 100, 3, 2))).await;
    let graph = token(&simulator, Audience::Graph).await;
    let exchange = token(&simulator, Audience::Exchange).await;
    let client = client();

    let ok = client
        .get(simulator.graph_url())
        .bearer_auth(&graph)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let ok = client
        .get(simulator.rws_url())
        .bearer_auth(&exchange)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    let refused = client
        .get(simulator.rws_url())
        .bearer_auth(&graph)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().contains_key("www-authenticate"));
    assert!(refused.text().await.unwrap().contains("401 - Unauthorized"));

    let refused = client
        .get(simulator.graph_url())
        .bearer_auth(&exchange)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().contains_key("www-authenticate"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid audience")
    );
    assert!(body["error"]["innerError"]["request-id"].is_string());

    let missing = client.get(simulator.graph_url()).send().await.unwrap();
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Access token is empty.");
    let forged = client
        .get(simulator.graph_url())
        .bearer_auth("eyJ0eXAiOiJKV1QifQ.e30.c2ln")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(simulator.stats().unauthorized, 4);
}

#[tokio::test]
async fn tokens_expire_after_their_lifetime() {
    let mut config = SimulatorConfig::new(tenant(1, 100, 3, 2));
    config.token_lifetime = Duration::from_millis(300);
    let simulator = start(config).await;
    let graph = token(&simulator, Audience::Graph).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let expired = client()
        .get(simulator.graph_url())
        .bearer_auth(&graph)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    let body: Value = expired.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(
        body["error"]["message"],
        "Lifetime validation failed, the token is expired."
    );
    assert_eq!(simulator.stats().expired_tokens, 1);
}
