//! Readers, the pattern parser, lookups and the configuration never panic on arbitrary input.

use std::path::Path;

use mailscope_threat::read::{FeedFormat, parse_pattern, read_manifest};
use mailscope_threat::{ThreatConfig, ThreatIndex};
use proptest::prelude::*;

use crate::{fixture, read_as};

const FIXTURES: [&str; 9] = [
    "drop.txt",
    "drop_v4.json",
    "firehol_level1.netset",
    "compromised-ips.txt",
    "feodo_ipblocklist.csv",
    "sslipblacklist.csv",
    "bundle.json",
    "misp_event.json",
    "misp_manifest.json",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn readers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for format in FeedFormat::ALL {
            let _ = read_as("fuzz", format, &bytes);
        }
        let _ = read_manifest("fuzz", &bytes);
    }

    #[test]
    fn readers_never_panic_on_damaged_fixtures(
        which in 0..FIXTURES.len(),
        cut in any::<proptest::sample::Index>(),
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..6),
    ) {
        let mut bytes = fixture(FIXTURES[which]);
        let length = cut.index(bytes.len() + 1);
        bytes.truncate(length);
        for (at, byte) in flips {
            if !bytes.is_empty() {
                let at = at.index(bytes.len());
                bytes[at] = byte;
            }
        }
        for format in FeedFormat::ALL {
            let _ = read_as("fuzz", format, &bytes);
        }
    }

    #[test]
    fn the_pattern_parser_never_panics(pattern in "\\PC{0,80}") {
        let _ = parse_pattern(&pattern);
    }

    #[test]
    fn the_pattern_parser_never_panics_on_pattern_like_text(
        pattern in "[\\[\\]() ='a-z0-9:.,\\\\*-]{0,60}( (OR|AND|IN|NOT|WITHIN|FOLLOWEDBY) [\\[\\]() ='a-z0-9:.-]{0,30}){0,3}"
    ) {
        let _ = parse_pattern(&pattern);
    }

    #[test]
    fn text_lookups_never_panic(text in "\\PC{0,60}") {
        let index = ThreatIndex::new(Vec::new());
        let _ = index.lookup_text(&text, chrono::Utc::now());
    }

    #[test]
    fn the_configuration_never_panics(text in "\\PC{0,200}") {
        let _ = ThreatConfig::parse(&text, Path::new("fuzz.toml"));
    }
}
