//! Every reader on a realistic sample and on broken input.

use chrono::{TimeZone, Utc};
use mailscope_threat::read::{FeedFormat, detect, read_manifest};
use mailscope_threat::{ConfidenceLevel, Error, IndicatorType};

use crate::{errors, fetched_at, fixture, read_as, values};

fn malformed(result: Result<mailscope_threat::FeedParse, Error>) -> String {
    match result {
        Err(error @ Error::Malformed { .. }) => error.to_string(),
        other => panic!("expected a malformed-feed error, got {other:?}"),
    }
}

#[test]
fn drop_text_keeps_good_lines_and_names_the_bad_one() {
    let parse = read_as("drop", FeedFormat::SpamhausDrop, &fixture("drop.txt")).unwrap();
    assert_eq!(
        values(&parse),
        [
            "1.10.16.0/20",
            "1.19.0.0/16",
            "2.57.122.0/24",
            "5.134.128.0/19",
            "31.24.81.0/24",
            "45.9.148.0/24",
            "103.77.192.0/22"
        ]
    );
    assert_eq!(
        errors(&parse),
        ["drop:9: \"300.1.1.1\" is not an IP address"]
    );
    let first = &parse.indicators[0];
    assert_eq!(first.fields["sblid"], "SBL256894");
    assert_eq!(first.source, "drop");
    assert_eq!(first.valid_from, fetched_at());
    assert_eq!(first.indicator_type(), IndicatorType::Ipv4Addr);
    assert_eq!(first.threat_type, ["malicious-activity"]);
    let auto = read_as("drop", FeedFormat::Auto, &fixture("drop.txt")).unwrap();
    assert_eq!(auto, parse);
}

#[test]
fn drop_json_reads_records_and_dates_them_by_the_metadata_line() {
    let parse = read_as(
        "drop4",
        FeedFormat::SpamhausDropJson,
        &fixture("drop_v4.json"),
    )
    .unwrap();
    assert_eq!(
        values(&parse),
        [
            "1.10.16.0/20",
            "1.19.0.0/16",
            "2.57.122.0/24",
            "5.134.128.0/19",
            "103.77.192.0/22"
        ]
    );
    assert_eq!(
        errors(&parse),
        [
            "drop4:5:59: not a JSON object: EOF while parsing an object at line 1 column 59",
            "drop4:6: prefix length 33 is longer than 32",
        ]
    );
    let first = &parse.indicators[0];
    assert_eq!(first.fields["sblid"], "SBL256894");
    assert_eq!(first.fields["rir"], "apnic");
    assert_eq!(first.id, "drop4:SBL256894:1.10.16.0/20");
    assert_eq!(
        first.valid_from,
        Utc.timestamp_opt(1_795_680_720, 0).unwrap()
    );

    let v6 = read_as("drop6", FeedFormat::Auto, &fixture("drop_v6.json")).unwrap();
    assert_eq!(
        values(&v6),
        ["2a06:e480::/29", "2a0d:4d00::/29", "2406:a140::/32"]
    );
    assert!(v6.errors.is_empty());
    assert_eq!(v6.indicators[0].indicator_type(), IndicatorType::Ipv6Addr);
}

#[test]
fn drop_json_without_its_metadata_line_is_a_truncated_download() {
    let body = fixture("drop_v4.json");
    let text = String::from_utf8(body).unwrap();
    let truncated: String = text
        .lines()
        .take(3)
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        malformed(read_as(
            "drop4",
            FeedFormat::SpamhausDropJson,
            truncated.as_bytes()
        )),
        "drop4: no metadata line at the end; the download is truncated or not DROP JSON"
    );
    // Cut inside a line: the last record is unreadable and the metadata line is gone.
    let cut = &text[..text.len() / 2];
    assert!(
        malformed(read_as(
            "drop4",
            FeedFormat::SpamhausDropJson,
            cut.as_bytes()
        ))
        .contains("no metadata line")
    );
}

#[test]
fn drop_json_metadata_count_mismatch_is_reported() {
    let body = "{\"cidr\":\"192.0.2.0/24\",\"sblid\":\"SBL1\",\"rir\":\"arin\"}\n\
                {\"type\":\"metadata\",\"timestamp\":1795680720,\"size\":90,\"records\":2}\n";
    let parse = read_as("d", FeedFormat::SpamhausDropJson, body.as_bytes()).unwrap();
    assert_eq!(values(&parse), ["192.0.2.0/24"]);
    assert_eq!(
        errors(&parse),
        ["d:2: metadata counts 2 records but the file has 1"]
    );
}

#[test]
fn firehol_netset_skips_comments_and_reports_a_bad_entry() {
    let parse = read_as(
        "l1",
        FeedFormat::FireholNetset,
        &fixture("firehol_level1.netset"),
    )
    .unwrap();
    assert_eq!(parse.indicators.len(), 10);
    assert_eq!(values(&parse)[0], "0.0.0.0/8");
    assert_eq!(values(&parse)[4], "5.188.10.76");
    assert_eq!(
        errors(&parse),
        ["l1:30: \"not-an-address\" is not an IP address"]
    );
}

#[test]
fn et_list_reads_one_address_per_line() {
    let parse = read_as("et", FeedFormat::IpList, &fixture("compromised-ips.txt")).unwrap();
    assert_eq!(parse.indicators.len(), 7);
    assert_eq!(
        errors(&parse),
        ["et:7: \"999.12.1.1\" is not an IP address"]
    );
}

#[test]
fn ip_lists_refuse_extra_columns_and_bad_prefixes() {
    let body = "192.0.2.1\n192.0.2.2 extra words\n10.0.0.0/33\n10.0.0.0/x\n2001:db8::/129\n";
    let parse = read_as("list", FeedFormat::IpList, body.as_bytes()).unwrap();
    assert_eq!(values(&parse), ["192.0.2.1"]);
    assert_eq!(
        errors(&parse),
        [
            "list:2: expected one address or network per line, found \"192.0.2.2 extra words\"",
            "list:3: prefix length 33 is longer than 32",
            "list:4: \"x\" is not a prefix length",
            "list:5: prefix length 129 is longer than 128",
        ]
    );
}

#[test]
fn a_list_with_no_valid_line_is_not_a_feed() {
    let body = "{\"objects\": []}\nhello world\n";
    assert_eq!(
        malformed(read_as("list", FeedFormat::IpList, body.as_bytes())),
        r#"list: no valid indicator in the feed; first error on line 1: expected one address or network per line, found "{\"objects\": []}""#
    );
    // Comments only: a valid, empty list (Feodo Tracker is often empty).
    let parse = read_as("list", FeedFormat::IpList, b"# nothing listed today\n").unwrap();
    assert!(parse.indicators.is_empty() && parse.errors.is_empty());
}

#[test]
fn feodo_csv_reads_quoted_rows_and_reports_wrong_columns() {
    let parse = read_as(
        "feodo",
        FeedFormat::FeodoCsv,
        &fixture("feodo_ipblocklist.csv"),
    )
    .unwrap();
    assert_eq!(
        values(&parse),
        [
            "50.16.16.211",
            "34.204.119.63",
            "162.243.103.246",
            "147.45.47.90"
        ]
    );
    assert_eq!(
        errors(&parse),
        [
            "feodo:13: expected 6 columns (first_seen_utc,dst_ip,dst_port,c2_status,last_online,malware), found 5",
            "feodo:14: \"203.0.113.300\" is not an IP address",
        ]
    );
    let qakbot = &parse.indicators[0];
    assert_eq!(
        qakbot.first_seen,
        Some(Utc.with_ymd_and_hms(2025, 12, 30, 13, 56, 31).unwrap())
    );
    assert_eq!(
        qakbot.valid_from,
        Utc.with_ymd_and_hms(2025, 12, 30, 13, 56, 31).unwrap()
    );
    assert_eq!(
        qakbot.last_seen,
        Some(Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap())
    );
    assert_eq!(qakbot.fields["port"], "443");
    assert_eq!(qakbot.fields["c2_status"], "online");
    assert_eq!(qakbot.fields["malware"], "QakBot");
    assert_eq!(qakbot.labels, ["botnet-c2", "QakBot"]);
    assert_eq!(qakbot.id, "feodo:50.16.16.211:443");
}

#[test]
fn feodo_csv_reads_the_older_commented_header_layout() {
    let body = "# Firstseen,DstIP,DstPort,LastOnline,Malware\n\
                2020-10-29 19:16:38,181.120.29.49,80,2020-11-02,Heodo\n\
                2020-10-29 19:16:35,190.45.24.210,80\n";
    let parse = read_as("feodo", FeedFormat::FeodoCsv, body.as_bytes()).unwrap();
    assert_eq!(values(&parse), ["181.120.29.49"]);
    assert_eq!(parse.indicators[0].fields["malware"], "Heodo");
    assert!(!parse.indicators[0].fields.contains_key("c2_status"));
    assert_eq!(
        errors(&parse),
        [
            "feodo:3: expected 5 columns (first_seen_utc,dst_ip,dst_port,last_online,malware), found 3"
        ]
    );
}

#[test]
fn a_csv_of_other_columns_is_refused_whole() {
    let body = "# URLhaus\n\"id\",\"dateadded\",\"url\",\"url_status\"\n\
                \"1\",\"2026-11-20 08:00:00\",\"http://x.example/a\",\"online\"\n";
    assert_eq!(
        malformed(read_as("feodo", FeedFormat::FeodoCsv, body.as_bytes())),
        "feodo: no valid indicator in the feed; first error on line 2: expected 6 columns \
         (first_seen_utc,dst_ip,dst_port,c2_status,last_online,malware), found 4"
    );
}

#[test]
fn sslbl_csv_reads_rows_after_the_commented_header() {
    let parse = read_as(
        "sslbl",
        FeedFormat::SslblCsv,
        &fixture("sslipblacklist.csv"),
    )
    .unwrap();
    assert_eq!(
        values(&parse),
        [
            "91.215.85.142",
            "193.149.176.12",
            "80.66.88.211",
            "194.26.29.113"
        ]
    );
    assert_eq!(
        errors(&parse),
        ["sslbl:12: expected 3 columns (first_seen_utc,dst_ip,dst_port), found 2"]
    );
    assert_eq!(parse.indicators[1].fields["port"], "8443");
    assert_eq!(
        parse.indicators[0].first_seen,
        Some(Utc.with_ymd_and_hms(2026, 11, 19, 22, 14, 3).unwrap())
    );
}

#[test]
fn stix_bundle_reads_supported_patterns_and_skips_the_rest() {
    let parse = read_as("cert", FeedFormat::Stix, &fixture("bundle.json")).unwrap();
    assert_eq!(
        values(&parse),
        [
            "198.51.100.0/24",
            "billing@northwind-invoices.example",
            "2001:db8:4f::25",
            "invoice-portal.example",
            "192.0.2.77"
        ]
    );
    assert_eq!(
        errors(&parse),
        [
            "cert:97:55: indicator--a1b2c3d4-0005-4a5b-9c8d-555555555555: pattern: expected an \
             object path such as ipv4-addr:value at column 37",
            "cert:108: indicator--a1b2c3d4-0006-4a5b-9c8d-666666666666: \"300.1.1.1\" is not an \
             IP address",
        ]
    );
    let skipped: Vec<String> = parse.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        skipped,
        [
            "cert:86:20: indicator--a1b2c3d4-0004-4a5b-9c8d-444444444444: pattern: object type \
             \"url\" is not an address or domain at column 2",
            "cert:128: indicator--a1b2c3d4-0008-4a5b-9c8d-888888888888: pattern_type \"snort\" \
             is not \"stix\"",
        ]
    );
    let range = &parse.indicators[0];
    assert_eq!(range.id, "indicator--a1b2c3d4-0001-4a5b-9c8d-111111111111");
    assert_eq!(range.confidence, Some(88));
    assert_eq!(range.confidence_level(), ConfidenceLevel::High);
    assert_eq!(range.actors, ["TA-Invoice Swarm"]);
    assert_eq!(range.labels, ["spam", "invoice-fraud", "Pikabot"]);
    assert_eq!(
        range.kill_chain,
        ["lockheed-martin-cyber-kill-chain:delivery"]
    );
    assert_eq!(range.source_detail.as_deref(), Some("Northwind CERT"));
    assert_eq!(
        range.valid_until,
        Some(Utc.with_ymd_and_hms(2027, 5, 1, 0, 0, 0).unwrap())
    );
    let email = &parse.indicators[1];
    assert_eq!(email.threat_type, ["malicious-activity", "attribution"]);
    assert_eq!(email.indicator_type(), IndicatorType::EmailAddr);
    assert_eq!(
        parse.indicators[2].id, email.id,
        "both values of one OR pattern"
    );
    assert_eq!(parse.indicators[3].threat_type, ["compromised"]);
    assert_eq!(parse.indicators[3].confidence_level(), ConfidenceLevel::Low);
}

#[test]
fn stix_that_is_not_json_or_not_a_bundle_is_refused() {
    let text = String::from_utf8(fixture("bundle.json")).unwrap();
    let cut = &text[..600];
    let message = malformed(read_as("cert", FeedFormat::Stix, cut.as_bytes()));
    assert_eq!(
        message,
        "cert: not a STIX bundle: invalid JSON at line 19 column 39: EOF while parsing a string \
         at line 19 column 39"
    );
    assert_eq!(
        malformed(read_as(
            "cert",
            FeedFormat::Stix,
            b"{\"type\": \"report\", \"id\": \"x\"}"
        )),
        "cert: not a STIX bundle: no \"type\": \"bundle\""
    );
    assert_eq!(
        malformed(read_as("cert", FeedFormat::Stix, b"1.2.3.4\n")),
        "cert: not a STIX bundle: invalid JSON at line 1 column 4: trailing characters at line 1 column 4"
    );
}

#[test]
fn misp_event_reads_attributes_of_the_event_and_its_objects() {
    let parse = read_as("misp", FeedFormat::MispEvent, &fixture("misp_event.json")).unwrap();
    assert_eq!(
        values(&parse),
        [
            "185.234.216.59",
            "147.45.47.90",
            "accounts@invoice-portal.example",
            "invoice-portal.example",
            "mail.invoice-portal.example",
            "2001:db8:beef::/48"
        ]
    );
    assert_eq!(
        errors(&parse),
        [
            "misp:57: attribute a0e1b2c3-0007-4d5e-8f90-0a1b2c3d4e07 (ip-src): \"185.234.216.999\" is not an IP address"
        ]
    );
    let skipped: Vec<String> = parse.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        skipped,
        [
            "misp:52: attribute a0e1b2c3-0006-4d5e-8f90-0a1b2c3d4e06 (ip-src 8.8.8.8): not flagged to_ids",
            "misp:46: 1 attribute(s) of type \"sha256\" (not an address, e-mail or domain)",
        ]
    );
    let sender = &parse.indicators[0];
    assert_eq!(sender.id, "a0e1b2c3-0001-4d5e-8f90-0a1b2c3d4e01");
    assert_eq!(sender.confidence, Some(85), "threat level 1 is high");
    assert_eq!(sender.actors, ["TA577"]);
    assert_eq!(
        sender.labels,
        [
            "tlp:clear",
            "misp-galaxy:threat-actor=\"TA577\"",
            "type:OSINT",
            "kill-chain:Delivery"
        ]
    );
    assert_eq!(sender.source_detail.as_deref(), Some("CIRCL"));
    assert_eq!(
        sender.valid_from,
        Utc.with_ymd_and_hms(2026, 11, 12, 0, 0, 0).unwrap()
    );
    assert_eq!(
        sender.last_seen,
        Some(Utc.timestamp_opt(1_794_990_000, 0).unwrap())
    );
    assert_eq!(parse.indicators[1].fields["port"], "2222");
    assert_eq!(
        parse.indicators[4].indicator_type(),
        IndicatorType::DomainName
    );
}

#[test]
fn misp_that_is_not_an_event_is_refused() {
    assert_eq!(
        malformed(read_as(
            "misp",
            FeedFormat::MispEvent,
            b"{\"response\": []}"
        )),
        "misp: not a MISP event: no \"Event\" object"
    );
    assert!(
        malformed(read_as("misp", FeedFormat::MispEvent, b"{\"Event\": {"))
            .starts_with("misp: not a MISP event: invalid JSON at line 1 column 11")
    );
}

#[test]
fn misp_manifest_lists_events_newest_first() {
    let entries = read_manifest("misp", &fixture("misp_manifest.json")).unwrap();
    let uuids: Vec<&str> = entries.iter().map(|entry| entry.uuid.as_str()).collect();
    assert_eq!(
        uuids,
        [
            "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
            "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
        ]
    );
    assert_eq!(entries[1].info, "Older campaign");
    let error = read_manifest("misp", b"{\"../../etc/passwd\": {}}").unwrap_err();
    assert_eq!(
        error.to_string(),
        "misp: not a MISP manifest: key \"../../etc/passwd\" is not an event UUID"
    );
}

#[test]
fn an_html_error_page_is_refused_by_every_format() {
    for format in FeedFormat::ALL {
        assert_eq!(
            malformed(read_as("feed", format, &fixture("error.html"))),
            "feed: the body is an HTML or XML page, not a feed (an error or login page?)",
            "{format}"
        );
    }
}

#[test]
fn an_empty_body_is_refused_by_every_format() {
    for format in FeedFormat::ALL {
        for body in [&b""[..], b"  \n\n", b"\xef\xbb\xbf"] {
            assert_eq!(
                malformed(read_as("feed", format, body)),
                "feed: empty feed",
                "{format}"
            );
        }
    }
}

#[test]
fn a_body_that_is_not_utf8_is_refused() {
    assert_eq!(
        malformed(read_as(
            "feed",
            FeedFormat::IpList,
            b"192.0.2.1\n\xff\xfe\n"
        )),
        "feed: not UTF-8 text (invalid byte on line 2)"
    );
}

#[test]
fn formats_are_detected_from_the_body() {
    for (name, format) in [
        ("drop.txt", FeedFormat::SpamhausDrop),
        ("drop_v4.json", FeedFormat::SpamhausDropJson),
        ("drop_v6.json", FeedFormat::SpamhausDropJson),
        ("firehol_level1.netset", FeedFormat::FireholNetset),
        ("compromised-ips.txt", FeedFormat::IpList),
        ("feodo_ipblocklist.csv", FeedFormat::FeodoCsv),
        ("sslipblacklist.csv", FeedFormat::SslblCsv),
        ("bundle.json", FeedFormat::Stix),
        ("misp_event.json", FeedFormat::MispEvent),
    ] {
        let text = String::from_utf8(fixture(name)).unwrap();
        assert_eq!(detect(&text), Some(format), "{name}");
    }
    assert_eq!("stix".parse::<FeedFormat>(), Ok(FeedFormat::Stix));
    assert!(
        "csv"
            .parse::<FeedFormat>()
            .unwrap_err()
            .starts_with("unknown format \"csv\"")
    );
}
