//! The demo feeds: every format is written, reads back cleanly, and matches the senders.

use chrono::{Duration, TimeZone, Utc};
use mailscope_threat::demo::{DemoIndicators, demo_feeds, write_demo_feeds};
use mailscope_threat::read::{ReadContext, read};
use mailscope_threat::{FeedFormat, ThreatIndex, ThreatStore};

/// Strings shaped like the simulator's spam senders: bad IPs, spam domains and addresses.
fn senders() -> Vec<&'static str> {
    vec![
        "95.24.17.203",
        "95.24.130.9",
        "116.231.4.77",
        "113.161.20.5",
        "2a02:8100:1:2::25",
        "::ffff:177.33.40.2",
        "secure-login3.top",
        "account-verify17.xyz",
        "anna@secure-login3.top",
        "Olga@Account-Verify17.xyz",
        "not a sender",
    ]
}

#[test]
fn classify_sorts_values_by_shape() {
    let (demo, rejected) = DemoIndicators::classify(senders());
    assert_eq!(demo.addresses.len(), 6);
    assert!(
        demo.addresses
            .iter()
            .any(|a| a.to_string() == "177.33.40.2")
    );
    assert_eq!(demo.domains, ["account-verify17.xyz", "secure-login3.top"]);
    assert_eq!(
        demo.emails,
        ["anna@secure-login3.top", "olga@account-verify17.xyz"]
    );
    assert!(demo.networks.is_empty());
    assert_eq!(rejected, ["not a sender"]);
}

#[test]
fn every_demo_feed_reads_back_without_errors_and_matches_the_senders() {
    let (mut demo, _) = DemoIndicators::classify(senders());
    demo.networks.push("45.9.148.0/24".parse().unwrap());
    let now = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    let feeds = demo_feeds(&demo, now);
    let formats: Vec<FeedFormat> = feeds.iter().map(|feed| feed.format).collect();
    assert_eq!(formats.len(), 8);
    let directory_formats = [FeedFormat::Auto, FeedFormat::MispFeed];
    for format in FeedFormat::ALL
        .into_iter()
        .filter(|f| !directory_formats.contains(f))
    {
        assert!(formats.contains(&format), "{format} missing");
    }
    let mut all = Vec::new();
    for feed in &feeds {
        let context = ReadContext::new(feed.name, now);
        let parse = read(&context, feed.format, &feed.body).unwrap();
        assert!(parse.errors.is_empty(), "{}: {:?}", feed.name, parse.errors);
        assert!(!parse.indicators.is_empty(), "{}", feed.name);
        let sniffed = read(&context, FeedFormat::Auto, &feed.body).unwrap();
        assert_eq!(
            sniffed, parse,
            "{} is detected as its own format",
            feed.name
        );
        all.extend(parse.indicators);
    }
    let index = ThreatIndex::new(all);
    let later = now + Duration::days(1);
    for sender in [
        "95.24.17.203",
        "95.24.130.9",
        "116.231.4.77",
        "2a02:8100:1:2::25",
        "177.33.40.2",
        "45.9.148.200",
        "secure-login3.top",
        "anna@secure-login3.top",
        "someone@account-verify17.xyz",
    ] {
        let matches = index.lookup_text(sender, later);
        assert!(matches.is_some(), "{sender} is not matched");
    }
    let best = index.lookup_text("95.24.17.203", later).unwrap();
    assert!(
        best.num_matches() >= 4,
        "listed by several feeds: {}",
        best.num_matches()
    );
    assert!(index.lookup_text("8.8.8.8", later).is_none());
}

#[test]
fn written_demo_feeds_load_into_a_store() {
    let (demo, _) = DemoIndicators::classify(senders());
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let configs = write_demo_feeds(&dir.path().join("feeds"), &demo, now).unwrap();
    assert_eq!(configs.len(), 8);
    let store = ThreatStore::open(&dir.path().join("store"), configs).unwrap();
    let status = store.status();
    for feed in &status.feeds {
        assert!(feed.indicators > 0, "{}", feed.name);
        assert_eq!(feed.line_errors, 0, "{}", feed.name);
        assert_eq!(feed.last_error, None, "{}", feed.name);
    }
    assert!(
        store
            .index()
            .lookup_text("olga@account-verify17.xyz", now)
            .is_some()
    );
}
