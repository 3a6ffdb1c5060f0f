//! Integration tests of the threat-intelligence crate: readers on realistic and broken
//! feeds, matching rules, configuration, the refreshing store against a loopback server,
//! the demo feeds, and readers on arbitrary bytes.

mod config;
mod demo;
mod fuzz;
mod index;
mod readers;
mod store;

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use mailscope_threat::read::{FeedFormat, ReadContext, read};
use mailscope_threat::{Error, FeedParse};

/// The fixed "fetch time" of every fixture read.
pub fn fetched_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
}

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap()
}

pub fn read_as(source: &str, format: FeedFormat, bytes: &[u8]) -> Result<FeedParse, Error> {
    read(&ReadContext::new(source, fetched_at()), format, bytes)
}

/// Each line error as `source:line[:column]: message`.
pub fn errors(parse: &FeedParse) -> Vec<String> {
    parse.errors.iter().map(ToString::to_string).collect()
}

pub fn values(parse: &FeedParse) -> Vec<String> {
    parse
        .indicators
        .iter()
        .map(|indicator| indicator.value.to_string())
        .collect()
}
