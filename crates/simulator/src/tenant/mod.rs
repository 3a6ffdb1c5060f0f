//! Synthetic Exchange Online tenant: a deterministic, streaming source of message trace
//! observations that look like a real organisation's.
//!
//! * [`TenantConfig`] says which tenant (seed), how many final records, and when.
//! * [`generate`] validates it and returns a [`Generator`], an iterator of [`Observation`]s in
//!   the order the API would report them. Most records are observed once with their final
//!   status; about 4% are first seen as `GettingStatus` or `Pending` and again later with the
//!   final status (same identity and fields). Folding the stream by identity, last observation
//!   wins, gives exactly `messages` final records.
//!
//! Module map: `org` builds the organisation and its correspondents, `calendar` the rhythm and
//! special days, `traffic` the content of each message, `ip` the verified address table,
//! `subjects` and `names` the text, `ids` the identifiers, `stream` the ordering.

mod calendar;
mod correspondents;
pub(crate) mod ids;
pub mod ip;
mod names;
mod org;
mod stream;
mod subjects;
mod traffic;

use chrono::{DateTime, TimeDelta, Utc};
use mailscope_record::Record;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use calendar::SpecialDays;
pub use org::TenantInfo;
pub use stream::Generator;

/// Most days a range may span: message trace keeps 90 days, the demo may want a year or two.
pub const MAX_DAYS: u32 = 1_000;
/// Most final records one run may produce. Far beyond any test or demo, low enough that
/// per-hour arithmetic in `f64` stays exact to the record.
pub const MAX_MESSAGES: u64 = 10_000_000_000;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantConfig {
    /// Selects the tenant (names, domains, partners, special days) and all randomness.
    pub seed: u64,
    /// Final records (message × recipient rows, distinct identities) to produce.
    pub messages: u64,
    /// Start of the range; every `received` lies in `[start, start + days)`.
    pub start: DateTime<Utc>,
    pub days: u32,
}

/// One row as the API reports it at a point in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub record: Record,
    /// When the row was reported with this status (never before `record.received`).
    pub observed_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("days must be between 1 and {MAX_DAYS}, got {0}")]
    Days(u32),
    #[error("messages must be at most {MAX_MESSAGES}, got {0}")]
    Messages(u64),
    #[error("the range starting at {0} ends beyond the representable dates")]
    Range(DateTime<Utc>),
}

impl TenantConfig {
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=MAX_DAYS).contains(&self.days) {
            return Err(Error::Days(self.days));
        }
        if self.messages > MAX_MESSAGES {
            return Err(Error::Messages(self.messages));
        }
        // Observations may trail the range by up to half a day.
        self.start
            .checked_add_signed(TimeDelta::days(i64::from(self.days) + 1))
            .ok_or(Error::Range(self.start))?;
        Ok(())
    }
}

/// Validates `config` and returns the stream of observations.
pub fn generate(config: &TenantConfig) -> Result<Generator, Error> {
    config.validate()?;
    // Separate streams for the organisation and the traffic, so that tuning traffic never
    // renames the tenant's people for a given seed.
    let mut org_rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut traffic_rng = ChaCha8Rng::seed_from_u64(config.seed);
    traffic_rng.set_stream(1);
    let zone = calendar::ZONES[org_rng.random_range(0..calendar::ZONES.len())];
    let org = org::Org::build(zone, config.messages, config.days, &mut org_rng);
    let (plans, special) = calendar::plan(
        &zone,
        config.start,
        config.days,
        config.messages,
        org.bad_ip_groups.len(),
        &mut org_rng,
    );
    let end_ns = i64::from(config.days) * 24 * 3_600_000_000_000;
    Ok(Generator::new(
        org,
        plans,
        special,
        config.start,
        end_ns,
        traffic_rng,
    ))
}
