//! Threat intelligence for mailscope: free feeds (Spamhaus DROP, FireHOL, Emerging Threats,
//! abuse.ch Feodo Tracker and SSLBL, STIX 2.1 bundles, MISP events) read into one indicator
//! shape, indexed for address, e-mail and domain lookups, and kept fresh by a store that
//! honours each publisher's fetch limits and survives bad downloads.
//!
//! Data flow: bytes -> [`read`] (one reader per format) -> [`Indicator`]s ->
//! [`ThreatIndex`] (longest-prefix tables, hash maps) -> lookups by the query engine.
//! [`ThreatStore`] owns the download directory and swaps in a new index after each change;
//! [`demo`] writes small feeds in every format for the simulator.

pub mod config;
pub mod demo;
mod error;
mod index;
mod indicator;
mod ip_table;
pub mod net;
pub mod read;
mod store;

pub use config::{ConfigError, FeedConfig, FeedLocation, ThreatConfig};
pub use error::{Error, Result};
pub use index::{IndexStats, Matches, ThreatIndex, parse_value};
pub use indicator::{ConfidenceLevel, Indicator, IndicatorType, IndicatorValue};
pub use read::{FeedFormat, FeedParse, LineError, ReadContext};
pub use store::{
    FeedStatus, META_VERSION, MISP_EVENT_LIMIT, RefreshOutcome, StoreStatus, ThreatStore,
};
