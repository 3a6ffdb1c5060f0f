use std::path::Path;
use std::time::Duration;

use super::super::{Api, Config, ConfigError, Quota, ReportingFormat, TokenVersion};

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/mailscope/collect.toml"))
}

fn error(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("expected an error"),
        Err(error) => error.to_string(),
    }
}

const MINIMAL: &str = r#"
[[tenant]]
name = "contoso"
api = "graph"
tenant_id = "11111111-2222-3333-4444-555555555555"
client_id = "66666666-7777-8888-9999-000000000000"
client_secret = "s3cr3t-value~xyz"
"#;

#[test]
fn minimal_tenant_gets_the_api_defaults() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.data_dir, None);
    let tenant = &config.tenants[0];
    assert_eq!(tenant.name, "contoso");
    assert_eq!(tenant.api, Api::Graph);
    assert_eq!(tenant.client_secret.expose(), "s3cr3t-value~xyz");
    assert_eq!(tenant.quota, Some(Quota::GRAPH));
    assert_eq!(tenant.page_size, Some(5000));
    assert_eq!(tenant.backfill, Duration::from_secs(90 * 86_400));
    assert_eq!(tenant.api_url.as_str(), "https://graph.microsoft.com/");
    assert_eq!(tenant.audience, "https://graph.microsoft.com");
    assert_eq!(tenant.checkpoint_key(), "collect/contoso");
    assert!(!format!("{tenant:?}").contains("s3cr3t"));
}

#[test]
fn full_tenant_reads_every_key() {
    let text = r#"
data_dir = "store"

[[tenant]]
name = "legacy"
api = "reporting"
tenant_id = "contoso.onmicrosoft.com"
client_id = "abc"
client_secret_env = "MAILSCOPE_TEST_SECRET_FULL"
source_category = "o365/trace"
organization = "contoso.com"
interval = "90s"
settle = "15m"
lookback = "1d"
backfill = "7d"
window = "6h"
format = "verbose"
quota = "30/1m"
login_url = "http://127.0.0.1:9999"
api_url = "http://127.0.0.1:9998/prefix/"
token_endpoint = "v1"
audience = "https://outlook.office365.us/.default"
request_timeout = "20s"
max_page_bytes = 1048576
max_window_records = 5000
retry_initial = "10ms"
retry_max = "1s"
retry_attempts = 3
"#;
    let env =
        |name: &str| (name == "MAILSCOPE_TEST_SECRET_FULL").then(|| "from-env-secret".to_owned());
    let config = super::parse(text, Path::new("/etc/mailscope/collect.toml"), &env).unwrap();
    assert_eq!(
        config.data_dir.as_deref(),
        Some(Path::new("/etc/mailscope/store"))
    );
    let tenant = &config.tenants[0];
    assert_eq!(tenant.api, Api::Reporting);
    assert_eq!(tenant.client_secret.expose(), "from-env-secret");
    assert_eq!(tenant.organization.as_deref(), Some("contoso.com"));
    assert_eq!(tenant.interval, Duration::from_secs(90));
    assert_eq!(tenant.settle, Duration::from_secs(900));
    assert_eq!(tenant.lookback, Duration::from_secs(86_400));
    assert_eq!(tenant.backfill, Duration::from_secs(7 * 86_400));
    assert_eq!(tenant.window, Duration::from_secs(6 * 3600));
    assert_eq!(tenant.page_size, None);
    assert_eq!(tenant.reporting_format, ReportingFormat::Verbose);
    assert_eq!(
        tenant.quota,
        Some(Quota {
            requests: 30,
            period: Duration::from_secs(60)
        })
    );
    assert_eq!(tenant.token_version, TokenVersion::V1);
    assert_eq!(tenant.audience, "https://outlook.office365.us");
    assert_eq!(tenant.api_url.as_str(), "http://127.0.0.1:9998/prefix/");
    assert_eq!(tenant.max_window_records, 5000);
    assert_eq!(tenant.retry.attempts, 3);
    assert_eq!(tenant.retry.initial, Duration::from_millis(10));
}

#[test]
fn secret_from_file_is_trimmed_and_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.txt"), "file-secret\n").unwrap();
    let text = MINIMAL.replace(
        "client_secret = \"s3cr3t-value~xyz\"",
        "client_secret_file = \"secret.txt\"",
    );
    let config = Config::parse(&text, &dir.path().join("collect.toml")).unwrap();
    assert_eq!(config.tenants[0].client_secret.expose(), "file-secret");
}

#[test]
fn malformed_toml_names_line_and_column() {
    let message = error("[[tenant]]\nname = \"a\"\napi = graph\n");
    assert!(
        message.starts_with("/etc/mailscope/collect.toml:3:7: "),
        "{message}"
    );
}

#[test]
fn unknown_key_is_refused_with_its_place() {
    let text = format!("{MINIMAL}intervall = \"5m\"\n");
    let message = error(&text);
    assert!(message.contains(":8:1: "), "{message}");
    assert!(message.contains("intervall"), "{message}");
}

#[test]
fn semantic_errors_point_at_the_value() {
    let text = format!("{MINIMAL}window = \"11d\"\n");
    let message = error(&text);
    assert!(message.contains(":8:10: "), "{message}");
    assert!(message.contains("window may be at most 10d"), "{message}");

    let text = format!("{MINIMAL}interval = \"300\"\n");
    assert!(error(&text).contains("no unit"));

    let text = MINIMAL.replace("\"graph\"", "\"grahp\"");
    let message = error(&text);
    assert!(message.contains(":4:7: unknown api \"grahp\""), "{message}");

    let text = format!("{MINIMAL}quota = \"100 per 5m\"\n");
    assert!(error(&text).contains("not a quota"));

    let text = format!("{MINIMAL}page_size = 9000\n");
    assert!(error(&text).contains("between 1 and 5000"));
}

#[test]
fn secret_must_be_given_exactly_once() {
    let text = format!("{MINIMAL}client_secret_env = \"X\"\n");
    let message = error(&text);
    assert!(message.contains("exactly once"), "{message}");
    assert!(!message.contains("s3cr3t"), "{message}");
    let text = MINIMAL.replace("client_secret = \"s3cr3t-value~xyz\"\n", "");
    assert!(error(&text).contains("exactly once"));
    let text = MINIMAL.replace(
        "client_secret = \"s3cr3t-value~xyz\"",
        "client_secret_env = \"MAILSCOPE_TEST_SURELY_UNSET\"",
    );
    assert!(error(&text).contains("MAILSCOPE_TEST_SURELY_UNSET is not set"));
}

#[test]
fn tenant_names_are_unique() {
    let text = format!("{MINIMAL}{MINIMAL}");
    assert!(error(&text).contains("names must be unique"));
    assert!(error("data_dir = \"x\"\n").contains("no [[tenant]]"));
}

#[test]
fn page_size_is_refused_for_reporting() {
    let text = MINIMAL.replace("\"graph\"", "\"reporting\"") + "page_size = 100\n";
    assert!(error(&text).contains("graph api only"));
}

#[test]
fn a_national_cloud_is_refused_for_graph_with_the_reason() {
    for (key, url) in [
        ("login_url", "https://login.microsoftonline.us"),
        ("api_url", "https://graph.microsoft.us"),
        ("api_url", "https://microsoftgraph.chinacloudapi.cn/"),
    ] {
        let text = format!("{MINIMAL}{key} = \"{url}\"\n");
        let message = error(&text);
        assert!(message.contains("collect.toml:8:"), "{message}");
        assert!(
            message.contains("Graph serves message trace in the global cloud only"),
            "{message}"
        );
    }
    // The global cloud, and a test server, are fine.
    let text = format!("{MINIMAL}api_url = \"https://graph.microsoft.com\"\n");
    assert!(parse(&text).is_ok());
    let text = format!("{MINIMAL}api_url = \"http://127.0.0.1:8765\"\n");
    assert!(parse(&text).is_ok());
}

#[test]
fn threat_feeds_in_the_same_file_are_left_to_their_reader() {
    let text = format!(
        "{MINIMAL}\n[[threat.feed]]\nname = \"drop\"\nurl = \"https://www.spamhaus.org/drop/drop.txt\"\nformat = \"spamhaus-drop\"\n"
    );
    let config = parse(&text).unwrap();
    assert_eq!(config.tenants.len(), 1);
    // Anything else unknown is still refused.
    let message = error(&format!("{MINIMAL}\n[monitor]\nname = \"x\"\n"));
    assert!(message.contains("unknown field `monitor`"), "{message}");
}

#[test]
fn deep_lookback_is_read_and_never_shorter_than_lookback() {
    let config = parse(&format!(
        "{MINIMAL}lookback = \"2h\"\ndeep_lookback = \"48h\"\ndeep_every = \"12h\"\n"
    ))
    .unwrap();
    let tenant = &config.tenants[0];
    assert_eq!(tenant.deep_lookback, Duration::from_secs(48 * 3600));
    assert_eq!(tenant.deep_every, Duration::from_secs(12 * 3600));
    let defaults = parse(MINIMAL).unwrap();
    assert_eq!(
        defaults.tenants[0].deep_lookback,
        Duration::from_secs(36 * 3600)
    );
    assert_eq!(
        defaults.tenants[0].deep_every,
        Duration::from_secs(6 * 3600)
    );
    let long = parse(&format!("{MINIMAL}lookback = \"3d\"\n")).unwrap();
    assert_eq!(
        long.tenants[0].deep_lookback,
        Duration::from_secs(3 * 86_400)
    );
    let message = error(&format!(
        "{MINIMAL}lookback = \"2d\"\ndeep_lookback = \"1d\"\n"
    ));
    assert!(message.contains("collect.toml:9:17"), "{message}");
    assert!(message.contains("at least lookback"), "{message}");
    assert!(error(&format!("{MINIMAL}deep_every = \"0s\"\n")).contains("greater than zero"));
}
