//! Matching rules of the index: longest prefix, e-mail and domain matching, expiry,
//! several feeds per key, confidence labels, the `raw` rendering.

use std::net::IpAddr;

use chrono::{DateTime, Duration, TimeZone, Utc};
use mailscope_threat::{ConfidenceLevel, Indicator, IndicatorValue, ThreatIndex, parse_value};
use proptest::prelude::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

fn indicator(source: &str, value: &str) -> Indicator {
    Indicator::new(
        source,
        parse_value(value).unwrap(),
        now() - Duration::days(10),
    )
}

fn index(entries: &[(&str, &str)]) -> ThreatIndex {
    ThreatIndex::new(
        entries
            .iter()
            .map(|(source, value)| indicator(source, value))
            .collect(),
    )
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// The matched key of an address lookup, or "-".
fn matched_ip(index: &ThreatIndex, address: &str) -> String {
    index
        .lookup_ip(ip(address), now())
        .map_or("-".to_owned(), |matches| matches.matched().to_string())
}

#[test]
fn longest_prefix_wins_among_nested_networks() {
    let index = index(&[
        ("a", "10.0.0.0/8"),
        ("b", "10.1.0.0/16"),
        ("a", "10.1.1.0/24"),
        ("c", "10.1.1.7"),
        ("c", "10.1.1.7/32"),
        ("d", "11.0.0.0/31"),
    ]);
    assert_eq!(matched_ip(&index, "10.1.1.7"), "10.1.1.7");
    assert_eq!(
        index
            .lookup_ip(ip("10.1.1.7"), now())
            .unwrap()
            .num_matches(),
        2
    );
    assert_eq!(matched_ip(&index, "10.1.1.8"), "10.1.1.0/24");
    assert_eq!(matched_ip(&index, "10.1.1.255"), "10.1.1.0/24");
    assert_eq!(matched_ip(&index, "10.1.2.0"), "10.1.0.0/16");
    assert_eq!(matched_ip(&index, "10.9.9.9"), "10.0.0.0/8");
    assert_eq!(matched_ip(&index, "10.255.255.255"), "10.0.0.0/8");
    assert_eq!(matched_ip(&index, "9.255.255.255"), "-");
    assert_eq!(matched_ip(&index, "11.0.0.1"), "11.0.0.0/31");
    assert_eq!(matched_ip(&index, "11.0.0.2"), "-");
}

#[test]
fn the_whole_address_space_is_an_edge_that_still_yields_to_specific_networks() {
    let index = index(&[
        ("all", "0.0.0.0/0"),
        ("top", "255.255.255.255"),
        ("v6", "::/0"),
    ]);
    assert_eq!(matched_ip(&index, "0.0.0.0"), "0.0.0.0/0");
    assert_eq!(matched_ip(&index, "203.0.113.5"), "0.0.0.0/0");
    assert_eq!(matched_ip(&index, "255.255.255.254"), "0.0.0.0/0");
    assert_eq!(matched_ip(&index, "255.255.255.255"), "255.255.255.255");
    assert_eq!(
        matched_ip(&index, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        "::/0"
    );
}

#[test]
fn ipv6_networks_match_by_longest_prefix() {
    let index = index(&[
        ("a", "2001:db8::/32"),
        ("b", "2001:db8:1::/48"),
        ("c", "2001:db8:1::25"),
        ("d", "2a06:e480::/29"),
    ]);
    assert_eq!(matched_ip(&index, "2001:db8:1::25"), "2001:db8:1::25");
    assert_eq!(matched_ip(&index, "2001:db8:1::26"), "2001:db8:1::/48");
    assert_eq!(matched_ip(&index, "2001:db8:2::1"), "2001:db8::/32");
    assert_eq!(matched_ip(&index, "2a06:e487:ffff::1"), "2a06:e480::/29");
    assert_eq!(matched_ip(&index, "2a06:e488::1"), "-");
    assert_eq!(matched_ip(&index, "::1"), "-");
}

#[test]
fn ipv4_mapped_addresses_are_looked_up_as_ipv4() {
    let index = index(&[("a", "192.0.2.0/24"), ("b", "::ffff:198.51.100.0/120")]);
    assert_eq!(matched_ip(&index, "::ffff:192.0.2.9"), "192.0.2.0/24");
    assert_eq!(matched_ip(&index, "198.51.100.200"), "198.51.100.0/24");
    assert_eq!(
        index
            .lookup_text("::ffff:198.51.100.1", now())
            .unwrap()
            .matched()
            .to_string(),
        "198.51.100.0/24"
    );
}

#[test]
fn all_feeds_listing_a_key_are_returned_best_first() {
    let mut old_high = indicator("feed-a", "192.0.2.1");
    old_high.confidence = Some(95);
    old_high.last_seen = Some(now() - Duration::days(5));
    let mut recent_low = indicator("feed-b", "192.0.2.1");
    recent_low.confidence = Some(20);
    recent_low.last_seen = Some(now() - Duration::days(1));
    let mut recent_high = indicator("feed-c", "192.0.2.1");
    recent_high.confidence = Some(70);
    recent_high.last_seen = Some(now() - Duration::days(1));
    let index = ThreatIndex::new(vec![old_high, recent_low, recent_high]);
    let matches = index.lookup_ip(ip("192.0.2.1"), now()).unwrap();
    assert_eq!(matches.num_matches(), 3);
    let sources: Vec<&str> = matches.indicators().map(|i| i.source.as_str()).collect();
    assert_eq!(sources, ["feed-c", "feed-b", "feed-a"]);
    assert_eq!(matches.best().source, "feed-c");
    assert_eq!(matches.from_source("feed-a").len(), 1);
    assert!(matches.from_source("feed-z").is_empty());
}

#[test]
fn expired_indicators_do_not_match_and_the_enclosing_network_takes_over() {
    let mut expired_host = indicator("a", "10.1.1.7");
    expired_host.valid_until = Some(now());
    let mut live_range = indicator("b", "10.1.1.0/24");
    live_range.valid_until = Some(now() + Duration::seconds(1));
    let mut expired_range = indicator("c", "10.2.0.0/16");
    expired_range.valid_until = Some(now() - Duration::days(1));
    let mut expired_domain = indicator("d", "evil.example");
    expired_domain.valid_until = Some(now() - Duration::days(1));
    let index = ThreatIndex::new(vec![
        expired_host,
        live_range,
        expired_range,
        expired_domain,
        indicator("e", "example"),
    ]);
    assert_eq!(matched_ip(&index, "10.1.1.7"), "10.1.1.0/24");
    assert_eq!(matched_ip(&index, "10.2.3.4"), "-");
    assert_eq!(
        index
            .lookup_domain("www.evil.example", now())
            .unwrap()
            .matched()
            .to_string(),
        "example",
        "an expired domain yields to its live parent"
    );
    // Before the expiry, the host itself matched.
    let earlier = now() - Duration::days(2);
    assert_eq!(
        index
            .lookup_ip(ip("10.1.1.7"), earlier)
            .unwrap()
            .matched()
            .to_string(),
        "10.1.1.7"
    );
}

#[test]
fn email_addresses_match_case_insensitively_after_trimming() {
    let index = index(&[("a", "Billing@Invoice-Portal.example")]);
    for text in [
        "billing@invoice-portal.example",
        "  BILLING@invoice-portal.EXAMPLE ",
        "<billing@invoice-portal.example>",
    ] {
        assert!(index.lookup_email(text, now()).is_some(), "{text}");
    }
    assert!(
        index
            .lookup_email("billing2@invoice-portal.example", now())
            .is_none()
    );
    assert!(
        index
            .lookup_email("invoice-portal.example", now())
            .is_none()
    );
}

#[test]
fn domains_match_themselves_and_their_subdomains_closest_first() {
    let index = index(&[("a", "evil.com"), ("b", "mail.evil.com")]);
    let matched = |text: &str| {
        index
            .lookup_domain(text, now())
            .map_or("-".to_owned(), |m| m.matched().to_string())
    };
    assert_eq!(matched("evil.com"), "evil.com");
    assert_eq!(matched("EVIL.COM."), "evil.com");
    assert_eq!(matched("a.b.evil.com"), "evil.com");
    assert_eq!(matched("mail.evil.com"), "mail.evil.com");
    assert_eq!(matched("smtp.mail.evil.com"), "mail.evil.com");
    assert_eq!(matched("notevil.com"), "-");
    assert_eq!(matched("com"), "-");
    assert_eq!(matched(""), "-");
}

#[test]
fn text_lookups_decide_by_shape_most_specific_key_first() {
    let index = index(&[
        ("ip", "203.0.113.0/24"),
        ("ip6", "2001:db8::/32"),
        ("mail", "ceo@spoofed.example"),
        ("dom", "spoofed.example"),
        ("dom", "bad.example"),
    ]);
    let matched = |text: &str| {
        index.lookup_text(text, now()).map_or("-".to_owned(), |m| {
            format!("{}:{}", m.best().source, m.matched())
        })
    };
    assert_eq!(matched("203.0.113.9"), "ip:203.0.113.0/24");
    assert_eq!(matched(" [2001:db8::25] "), "ip6:2001:db8::/32");
    assert_eq!(matched("CEO@spoofed.example"), "mail:ceo@spoofed.example");
    assert_eq!(matched("cfo@spoofed.example"), "dom:spoofed.example");
    assert_eq!(matched("noreply@mx.bad.example"), "dom:bad.example");
    assert_eq!(matched("mx.bad.example"), "dom:bad.example");
    assert_eq!(matched("good.example"), "-");
    assert_eq!(matched("not an address"), "-");
    assert_eq!(matched("198.51.100.1"), "-");
}

#[test]
fn batch_lookups_agree_with_single_lookups_for_every_shape() {
    let mut expired = indicator("old", "203.0.113.7");
    expired.valid_until = Some(now() - Duration::days(1));
    let index = ThreatIndex::new(vec![
        indicator("ip", "203.0.113.0/24"),
        expired,
        indicator("ip6", "2001:db8::/32"),
        indicator("mail", "ceo@spoofed.example"),
        indicator("dom", "bad.example"),
    ]);
    let texts = [
        "203.0.113.7",
        " 203.0.113.8 ",
        "198.51.100.1",
        "[2001:db8::25]",
        "2001:db8::1",
        "::ffff:203.0.113.9",
        "CEO@spoofed.example",
        "x@mx.bad.example",
        "www.bad.example",
        "not an address",
        "",
    ];
    let texts: Vec<&str> = texts.iter().copied().cycle().take(40).collect();
    let mut batch = Vec::new();
    index.lookup_texts(&texts, now(), &mut batch);
    assert_eq!(batch.len(), texts.len());
    for (text, batched) in texts.iter().zip(&batch) {
        let single = index.lookup_text(text, now());
        assert_eq!(
            batched.map(|m| (m.matched().clone(), m.best().id.clone(), m.num_matches())),
            single.map(|m| (m.matched().clone(), m.best().id.clone(), m.num_matches())),
            "{text:?}"
        );
    }
    assert_eq!(batch[0].unwrap().matched().to_string(), "203.0.113.0/24");
}

#[test]
fn confidence_maps_to_sumo_labels() {
    let level = |confidence| ConfidenceLevel::from_confidence(confidence).as_str();
    assert_eq!(level(Some(100)), "high");
    assert_eq!(level(Some(85)), "high");
    assert_eq!(level(Some(84)), "medium");
    assert_eq!(level(Some(50)), "medium");
    assert_eq!(level(Some(49)), "low");
    assert_eq!(level(Some(15)), "low");
    assert_eq!(level(Some(14)), "unverified");
    assert_eq!(level(Some(0)), "unverified");
    assert_eq!(level(None), "unknown");
}

#[test]
fn raw_json_carries_labels_as_named_objects_and_the_legacy_type() {
    let mut spam = indicator("drop", "192.0.2.0/24");
    spam.labels = vec!["spam".to_owned(), "botnet-c2".to_owned()];
    spam.actors = vec!["SpamCrew".to_owned()];
    spam.confidence = Some(90);
    let raw: serde_json::Value = serde_json::from_str(&spam.raw()).unwrap();
    assert_eq!(raw["labels"][0]["name"], "spam");
    assert_eq!(raw["labels"][1]["name"], "botnet-c2");
    assert_eq!(raw["type"], "ipv4-addr");
    assert_eq!(raw["indicator"], "192.0.2.0/24");
    assert_eq!(raw["malicious_confidence"], "high");
    assert_eq!(spam.legacy_type(), "ip_address");
    assert_eq!(spam.actor(), Some("SpamCrew"));
    assert_eq!(indicator("x", "a@b.example").legacy_type(), "email_address");
    assert_eq!(indicator("x", "b.example").legacy_type(), "domain");
    assert_eq!(indicator("x", "2001:db8::1").legacy_type(), "ip_address");
    let serialized = serde_json::to_value(&spam).unwrap();
    assert_eq!(serialized["indicator"], "192.0.2.0/24");
}

#[test]
fn stats_count_keys_by_kind() {
    let index = index(&[
        ("a", "10.0.0.0/8"),
        ("b", "10.0.0.0/8"),
        ("a", "2001:db8::/32"),
        ("a", "x@y.example"),
        ("a", "y.example"),
    ]);
    let stats = index.stats();
    assert_eq!(
        (
            stats.indicators,
            stats.networks_v4,
            stats.networks_v6,
            stats.emails,
            stats.domains
        ),
        (5, 1, 1, 1, 1)
    );
}

/// The naive answer: the longest of the networks containing the address.
fn oracle(networks: &[ipnet::Ipv4Net], address: std::net::Ipv4Addr) -> Option<ipnet::Ipv4Net> {
    networks
        .iter()
        .filter(|net| net.contains(&address))
        .max_by_key(|net| net.prefix_len())
        .copied()
}

proptest! {
    #[test]
    fn longest_prefix_agrees_with_a_linear_scan(
        networks in proptest::collection::vec((any::<u32>(), 0u8..=32), 1..60),
        probes in proptest::collection::vec(any::<u32>(), 1..60),
    ) {
        let networks: Vec<ipnet::Ipv4Net> = networks
            .into_iter()
            .map(|(bits, prefix)| ipnet::Ipv4Net::new(bits.into(), prefix).unwrap().trunc())
            .collect();
        let indicators = networks
            .iter()
            .map(|net| Indicator::new("p", IndicatorValue::Ip((*net).into()), now()))
            .collect();
        let index = ThreatIndex::new(indicators);
        // Probe random addresses and the edges of every network.
        let mut addresses: Vec<u32> = probes;
        for net in &networks {
            let (low, high) = (u32::from(net.network()), u32::from(net.broadcast()));
            addresses.extend([low, high, low.wrapping_sub(1), high.wrapping_add(1)]);
        }
        let texts: Vec<String> = addresses
            .iter()
            .map(|&bits| std::net::Ipv4Addr::from(bits).to_string())
            .collect();
        let text_refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut batch = Vec::new();
        index.lookup_texts(&text_refs, now(), &mut batch);
        prop_assert_eq!(batch.len(), addresses.len());
        for (&bits, batched) in addresses.iter().zip(&batch) {
            let address = std::net::Ipv4Addr::from(bits);
            let expected = oracle(&networks, address).map(|net| IndicatorValue::Ip(net.into()));
            prop_assert_eq!(batched.map(|m| m.matched().clone()), expected, "batch {}", address);
        }
        for bits in addresses {
            let address = std::net::Ipv4Addr::from(bits);
            let expected = oracle(&networks, address).map(|net| IndicatorValue::Ip(net.into()));
            let found = index
                .lookup_ip(IpAddr::V4(address), now())
                .map(|matches| matches.matched().clone());
            prop_assert_eq!(found, expected, "address {}", address);
        }
    }
}
