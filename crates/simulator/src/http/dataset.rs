//! The tenant's observations, indexed for the endpoints: one entry per identity, sorted by
//! `received`, each holding every observation of that identity in `observed_at` order. A
//! query binary-searches its `received` range and asks each entry what was visible at the
//! query's instant.

use std::collections::HashMap;
use std::ops::Range;

use chrono::{DateTime, Utc};
use mailscope_record::Record;

use crate::tenant::{Generator, TenantInfo};

/// One observation of an identity.
#[derive(Debug)]
struct Version {
    observed_at: DateTime<Utc>,
    record: Record,
}

/// Every observation of one identity (never empty).
#[derive(Debug)]
pub(crate) struct Entry {
    received: DateTime<Utc>,
    versions: Box<[Version]>,
}

impl Entry {
    /// The latest observation at or before `at`, if the identity was visible then.
    pub(crate) fn visible(&self, at: DateTime<Utc>) -> Option<&Record> {
        let seen = self.versions.partition_point(|v| v.observed_at <= at);
        seen.checked_sub(1).map(|last| &self.versions[last].record)
    }
}

#[derive(Debug)]
pub(crate) struct Dataset {
    pub(crate) tenant: TenantInfo,
    entries: Vec<Entry>,
    settled_at: Option<DateTime<Utc>>,
}

impl Dataset {
    /// Consumes the whole stream (this is where a tenant's memory goes).
    pub(crate) fn build(generator: Generator) -> Dataset {
        let tenant = generator.tenant().clone();
        let mut index: HashMap<u128, usize> = HashMap::new();
        let mut grouped: Vec<(DateTime<Utc>, Vec<Version>)> = Vec::new();
        let mut settled_at = None;
        for observation in generator {
            settled_at = Some(observation.observed_at);
            let mut record = observation.record;
            // The service keeps 100 ns ticks; a tenant started at an arbitrary instant would
            // otherwise carry digits no page can show, and ground truth would not compare.
            record.received = to_tick(record.received);
            let version = Version {
                observed_at: observation.observed_at,
                record,
            };
            match index.entry(version.record.identity()) {
                std::collections::hash_map::Entry::Occupied(slot) => {
                    grouped[*slot.get()].1.push(version);
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(grouped.len());
                    grouped.push((version.record.received, vec![version]));
                }
            }
        }
        drop(index);
        let mut entries: Vec<Entry> = grouped
            .into_iter()
            .map(|(received, mut versions)| {
                // The stream is in observation order already; sorting keeps that a local fact.
                versions.sort_by_key(|v| v.observed_at);
                Entry {
                    received,
                    versions: versions.into_boxed_slice(),
                }
            })
            .collect();
        entries.sort_by(|a, b| {
            let (ra, rb) = (&a.versions[0].record, &b.versions[0].record);
            (a.received, &ra.message_trace_id, &ra.recipient_address).cmp(&(
                b.received,
                &rb.message_trace_id,
                &rb.recipient_address,
            ))
        });
        Dataset {
            tenant,
            entries,
            settled_at,
        }
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Indexes of the entries with `from <= received <= to`.
    pub(crate) fn range(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Range<usize> {
        let start = self.entries.partition_point(|e| e.received < from);
        let end = self.entries.partition_point(|e| e.received <= to);
        start..end.max(start)
    }

    /// When the last observation becomes visible: from then on the API no longer changes.
    pub(crate) fn settled_at(&self) -> Option<DateTime<Utc>> {
        self.settled_at
    }

    /// Every identity visible at `at` with `received` in `received` (half-open), as the
    /// latest observation at or before `at`.
    pub(crate) fn ground_truth(
        &self,
        at: DateTime<Utc>,
        received: Range<DateTime<Utc>>,
    ) -> Vec<Record> {
        let start = self
            .entries
            .partition_point(|e| e.received < received.start);
        let end = self.entries.partition_point(|e| e.received < received.end);
        self.entries[start..end.max(start)]
            .iter()
            .filter_map(|entry| entry.visible(at).cloned())
            .collect()
    }

    pub(crate) fn identities(&self) -> usize {
        self.entries.len()
    }
}

/// Drops precision below 100 ns.
fn to_tick(t: DateTime<Utc>) -> DateTime<Utc> {
    let extra = i64::from(t.timestamp_subsec_nanos() % 100);
    t - chrono::TimeDelta::nanoseconds(extra)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;
    use crate::tenant::{TenantConfig, generate};

    #[test]
    fn entries_are_sorted_and_fold_to_final_records() {
        let start = Utc.with_ymd_and_hms(2025, 3, 3, 0, 0, 0).unwrap();
        let config = TenantConfig {
            seed: 5,
            messages: 3_000,
            start,
            days: 2,
        };
        let dataset = Dataset::build(generate(&config).unwrap());
        assert_eq!(dataset.identities(), 3_000);
        assert!(
            dataset
                .entries()
                .windows(2)
                .all(|w| w[0].received <= w[1].received)
        );
        let settled = dataset.settled_at().unwrap();
        let everything = start..start + TimeDelta::days(3);
        assert_eq!(
            dataset.ground_truth(settled, everything.clone()).len(),
            3_000
        );
        // Before anything was observed nothing is visible.
        assert!(dataset.ground_truth(start, everything.clone()).is_empty());
        // Some identities change status while the tenant runs.
        let changed = dataset
            .entries()
            .iter()
            .filter(|e| e.versions.len() > 1)
            .count();
        assert!(changed > 0);
        let range = dataset.range(start + TimeDelta::hours(12), start + TimeDelta::hours(13));
        for entry in &dataset.entries()[range] {
            assert!(entry.received >= start + TimeDelta::hours(12));
            assert!(entry.received <= start + TimeDelta::hours(13));
        }
    }
}
