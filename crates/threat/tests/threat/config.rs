//! The `[[threat.feed]]` configuration: validation, publisher minimums, error positions.

use std::path::Path;
use std::time::Duration;

use mailscope_threat::{FeedFormat, FeedLocation, ThreatConfig};

const PATH: &str = "/etc/mailscope/mailscope.toml";

fn parse(text: &str) -> Result<ThreatConfig, String> {
    ThreatConfig::parse(text, Path::new(PATH)).map_err(|error| error.to_string())
}

#[test]
fn feeds_are_read_beside_other_sections() {
    let config = parse(
        r#"
data_dir = "/var/lib/mailscope"

[[tenant]]
name = "contoso"

[[threat.feed]]
name = "spamhaus-drop"
url = "https://www.spamhaus.org/drop/drop_v4.json"
format = "spamhaus-drop-json"
refresh = "12h"
confidence = 80
threat_type = "malicious-activity"

[[threat.feed]]
name = "local-stix"
file = "feeds/bundle.json"
format = "stix"

[[threat.feed]]
name = "feodo"
url = "https://feodotracker.abuse.ch/downloads/ipblocklist.csv"
enabled = false
"#,
    )
    .unwrap();
    assert!(config.warnings.is_empty());
    let [drop, stix, feodo] = config.feeds.as_slice() else {
        panic!("three feeds expected");
    };
    assert_eq!(drop.name, "spamhaus-drop");
    assert_eq!(drop.format, FeedFormat::SpamhausDropJson);
    assert_eq!(drop.refresh, Duration::from_secs(12 * 3600));
    assert_eq!(drop.min_refresh, Duration::from_secs(3600));
    assert_eq!(drop.confidence, Some(80));
    assert_eq!(drop.threat_type.as_deref(), Some("malicious-activity"));
    assert_eq!(drop.max_bytes, 64 * 1024 * 1024);
    assert_eq!(
        stix.location,
        FeedLocation::File(Path::new("/etc/mailscope/feeds/bundle.json").to_owned())
    );
    assert_eq!(stix.refresh, Duration::from_secs(60));
    assert_eq!(feodo.format, FeedFormat::Auto);
    assert_eq!(feodo.min_refresh, Duration::from_secs(300));
    assert_eq!(feodo.refresh, Duration::from_secs(900));
    assert!(!feodo.enabled);
}

#[test]
fn a_refresh_below_the_publisher_minimum_is_raised_with_a_warning() {
    let config = parse(
        "[[threat.feed]]\nname = \"drop\"\nurl = \"https://www.spamhaus.org/drop/drop.txt\"\n\
         refresh = \"5m\"\n\n[[threat.feed]]\nname = \"sslbl\"\n\
         url = \"https://sslbl.abuse.ch/blacklist/sslipblacklist.csv\"\nrefresh = \"1m\"\n",
    )
    .unwrap();
    assert_eq!(config.feeds[0].refresh, Duration::from_secs(3600));
    assert_eq!(config.feeds[1].refresh, Duration::from_secs(300));
    let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            format!("{PATH}:4:11: refresh 5m is below this feed's minimum of 3600s; using 3600s"),
            format!("{PATH}:9:11: refresh 1m is below this feed's minimum of 300s; using 300s"),
        ]
    );
}

#[test]
fn mirrors_of_a_publisher_format_keep_its_minimum() {
    let config = parse(
        "[[threat.feed]]\nname = \"mirror\"\nurl = \"http://127.0.0.1:8080/drop.txt\"\n\
         format = \"spamhaus-drop\"\nrefresh = \"10m\"\n",
    )
    .unwrap();
    assert_eq!(config.feeds[0].min_refresh, Duration::from_secs(3600));
}

#[test]
fn errors_name_file_line_and_column() {
    let cases = [
        (
            "[[threat.feed]]\nname = \"a\"\nurl = \"https://x.example/a\"\nformat = \"csv\"\n",
            format!(
                "{PATH}:4:10: unknown format \"csv\"; expected one of auto, spamhaus-drop, \
                 spamhaus-drop-json, firehol-netset, ip-list, feodo-csv, sslbl-csv, stix, misp-event, misp-feed"
            ),
        ),
        (
            "[[threat.feed]]\nname = \"a\"\nurl = \"https://x.example/a\"\nconfidence = 101\n",
            format!("{PATH}:4:14: confidence must be from 0 to 100"),
        ),
        (
            "[[threat.feed]]\nname = \"a\"\nurl = \"https://x.example/a\"\nfile = \"a.txt\"\n",
            format!("{PATH}:4:8: give either url or file, not both"),
        ),
        (
            "[[threat.feed]]\nname = \"a\"\nurl = \"ftp://x.example/a\"\n",
            format!("{PATH}:3:7: url scheme \"ftp\" is not http or https"),
        ),
        (
            "[[threat.feed]]\nname = \"a\"\nfile = \"a\"\n[[threat.feed]]\nname = \"A\"\nfile = \"b\"\n",
            format!(
                "{PATH}:5:8: a feed with this name is already configured; names must be unique"
            ),
        ),
        (
            "[[threat.feed]]\nname = \"a b\"\nfile = \"a\"\n",
            format!(
                "{PATH}:2:8: feed name must be non-empty and use only letters, digits, '-', '_' and '.'"
            ),
        ),
        (
            "[[threat.feed]]\nname = \"a\"\nfile = \"a\"\nrefresh = \"300\"\n",
            format!(
                "{PATH}:4:11: \"300\" is not a duration; expected e.g. \"90s\", \"5m\", \"1h30m\""
            ),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(parse(text).unwrap_err(), expected, "{text}");
    }
    let unknown =
        parse("[[threat.feed]]\nname = \"a\"\nfile = \"a\"\nfrequency = \"1h\"\n").unwrap_err();
    assert!(
        unknown.starts_with(&format!("{PATH}:4:1: unknown field `frequency`")),
        "{unknown}"
    );
    let missing = parse("[[threat.feed]]\nname = \"a\"\n").unwrap_err();
    assert_eq!(
        missing,
        format!("{PATH}:1:1: feed \"a\" needs a url or a file")
    );
}

#[test]
fn a_file_without_a_threat_section_has_no_feeds() {
    let config = parse("[[tenant]]\nname = \"x\"\n").unwrap();
    assert!(config.feeds.is_empty());
}
