//! Where collected records go: the [`Sink`] trait, implemented by the server on the store,
//! and [`MemorySink`], an in-memory store with the same identity rule for tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use mailscope_record::Record;

use crate::error::SinkError;

/// What one commit changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Records handed to the commit.
    pub received: u64,
    /// Identities seen for the first time.
    pub inserted: u64,
    /// Identities whose row was replaced (a more final or equally final newer status).
    pub updated: u64,
    /// Observations identical to the stored row.
    pub unchanged: u64,
    /// Observations less final than the stored row, ignored.
    pub stale: u64,
}

impl std::ops::AddAssign for CommitStats {
    fn add_assign(&mut self, other: CommitStats) {
        self.received += other.received;
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.stale += other.stale;
    }
}

/// The store side of a collector. Blocking: the collector calls it from
/// `tokio::task::spawn_blocking`.
pub trait Sink: Send + 'static {
    /// The checkpoint last committed under `key` (`None` on the first run).
    fn checkpoint(&mut self, key: &str) -> Result<Option<serde_json::Value>, SinkError>;

    /// Publishes `records` and sets the checkpoint under `key` atomically: after a crash
    /// either both are visible or neither. Ingest is idempotent: the same identity with the
    /// same status changes nothing, and a less final status never overwrites a more final
    /// one (`mailscope_record::Status::finality`).
    fn commit(
        &mut self,
        key: &str,
        records: Vec<Record>,
        checkpoint: serde_json::Value,
    ) -> Result<CommitStats, SinkError>;
}

/// An in-memory [`Sink`]. Clones share one store, so a test can hand a clone to a collector
/// and inspect the original. It applies the store's identity rule
/// (`mailscope_record::identity_key`; the more final status wins, the later of two equally
/// final ones) and can simulate a crash: see [`MemorySink::crash_on_commit`].
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    records: HashMap<u128, Record>,
    checkpoints: HashMap<String, serde_json::Value>,
    commits: u64,
    /// Commits left before the simulated crash.
    crash_after: Option<u64>,
    crashed: bool,
}

impl MemorySink {
    pub fn new() -> MemorySink {
        MemorySink::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves consistent data: every
        // mutation below completes before the guard is dropped.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every stored record, ordered by `Received`, then trace id and recipient.
    pub fn records(&self) -> Vec<Record> {
        let mut records: Vec<Record> = self.lock().records.values().cloned().collect();
        records.sort_by(|a, b| {
            (a.received, &a.message_trace_id, &a.recipient_address).cmp(&(
                b.received,
                &b.message_trace_id,
                &b.recipient_address,
            ))
        });
        records
    }

    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stored record of an identity (`mailscope_record::identity_key`).
    pub fn get(&self, identity: u128) -> Option<Record> {
        self.lock().records.get(&identity).cloned()
    }

    /// The committed checkpoint under `key`, as stored.
    pub fn stored_checkpoint(&self, key: &str) -> Option<serde_json::Value> {
        self.lock().checkpoints.get(key).cloned()
    }

    /// Stores a checkpoint directly (tests of malformed or foreign checkpoints).
    pub fn put_checkpoint(&self, key: &str, checkpoint: serde_json::Value) {
        self.lock().checkpoints.insert(key.to_owned(), checkpoint);
    }

    /// Successful commits so far.
    pub fn commits(&self) -> u64 {
        self.lock().commits
    }

    /// Makes the `n`-th commit from now (1 = the next) fail as if the process died before
    /// publishing it: nothing of it is applied, and every later call fails until
    /// [`MemorySink::restart`].
    pub fn crash_on_commit(&self, n: u64) {
        self.lock().crash_after = Some(n.saturating_sub(1));
    }

    /// The process came back: committed state is intact, uncommitted state is gone.
    pub fn restart(&self) {
        let mut state = self.lock();
        state.crashed = false;
        state.crash_after = None;
    }

    pub fn has_crashed(&self) -> bool {
        self.lock().crashed
    }
}

impl Sink for MemorySink {
    fn checkpoint(&mut self, key: &str) -> Result<Option<serde_json::Value>, SinkError> {
        let state = self.lock();
        if state.crashed {
            return Err(SinkError::new("memory sink has crashed"));
        }
        Ok(state.checkpoints.get(key).cloned())
    }

    fn commit(
        &mut self,
        key: &str,
        records: Vec<Record>,
        checkpoint: serde_json::Value,
    ) -> Result<CommitStats, SinkError> {
        let mut state = self.lock();
        if state.crashed {
            return Err(SinkError::new("memory sink has crashed"));
        }
        match state.crash_after {
            Some(0) => {
                state.crashed = true;
                return Err(SinkError::new("simulated crash before publishing"));
            }
            Some(left) => state.crash_after = Some(left - 1),
            None => {}
        }
        // Stage on a copy of the touched rows, then publish in one step.
        let mut staged: HashMap<u128, Record> = HashMap::new();
        let mut stats = CommitStats {
            received: records.len() as u64,
            ..CommitStats::default()
        };
        let mut inserted = std::collections::HashSet::new();
        for record in records {
            let identity = record.identity();
            let current = staged
                .get(&identity)
                .or_else(|| state.records.get(&identity));
            match current {
                None => {
                    inserted.insert(identity);
                    staged.insert(identity, record);
                }
                Some(current) if *current == record => stats.unchanged += 1,
                Some(current) if record.status.finality() < current.status.finality() => {
                    stats.stale += 1;
                }
                Some(current) if current.status == record.status => {
                    // Same status, other details (a re-read with a new window echo):
                    // nothing the store would change either.
                    stats.unchanged += 1;
                }
                Some(_) => {
                    staged.insert(identity, record);
                }
            }
        }
        for (identity, record) in staged {
            if !inserted.contains(&identity) {
                stats.updated += 1;
            }
            state.records.insert(identity, record);
        }
        stats.inserted = inserted.len() as u64;
        state.checkpoints.insert(key.to_owned(), checkpoint);
        state.commits += 1;
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use mailscope_record::Status;

    fn record(id: &str, recipient: &str, status: Status) -> Record {
        Record {
            organization: "contoso.com".to_owned(),
            message_id: Some("<m@contoso.com>".to_owned()),
            received: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            sender_address: "a@contoso.com".to_owned(),
            recipient_address: recipient.to_owned(),
            subject: "hello".to_owned(),
            status,
            to_ip: None,
            from_ip: Some("203.0.113.9".to_owned()),
            size: 100,
            message_trace_id: id.to_owned(),
            start_date: None,
            end_date: None,
            index: None,
        }
    }

    fn commit(sink: &mut MemorySink, records: Vec<Record>) -> CommitStats {
        sink.commit("k", records, serde_json::json!({"version": 1}))
            .unwrap()
    }

    #[test]
    fn pending_then_delivered_keeps_one_row() {
        let mut sink = MemorySink::new();
        let stats = commit(&mut sink, vec![record("t1", "b@x.com", Status::Pending)]);
        assert_eq!(stats.inserted, 1);
        let stats = commit(&mut sink, vec![record("T1", "B@x.com", Status::Delivered)]);
        assert_eq!(stats.updated, 1);
        assert_eq!(sink.len(), 1);
        assert_eq!(sink.records()[0].status, Status::Delivered);
    }

    #[test]
    fn less_final_status_never_overwrites() {
        let mut sink = MemorySink::new();
        commit(&mut sink, vec![record("t1", "b@x.com", Status::Failed)]);
        let stats = commit(
            &mut sink,
            vec![
                record("t1", "b@x.com", Status::Pending),
                record("t1", "b@x.com", Status::GettingStatus),
            ],
        );
        assert_eq!(stats.stale, 2);
        assert_eq!(sink.records()[0].status, Status::Failed);
    }

    #[test]
    fn equal_finality_later_wins_and_reingest_is_a_no_op() {
        let mut sink = MemorySink::new();
        let batch = vec![
            record("t1", "b@x.com", Status::Delivered),
            record("t1", "b@x.com", Status::Failed),
            record("t1", "c@x.com", Status::Pending),
        ];
        let stats = commit(&mut sink, batch.clone());
        assert_eq!((stats.inserted, stats.updated), (2, 0));
        assert_eq!(
            sink.get(mailscope_record::identity_key("t1", "b@x.com"))
                .map(|r| r.status),
            Some(Status::Failed)
        );
        let again = commit(&mut sink, batch[1..].to_vec());
        assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 2));
    }

    #[test]
    fn simulated_crash_publishes_nothing() {
        let mut sink = MemorySink::new();
        commit(&mut sink, vec![record("t1", "b@x.com", Status::Pending)]);
        sink.crash_on_commit(1);
        let result = sink.commit(
            "k",
            vec![record("t2", "b@x.com", Status::Delivered)],
            serde_json::json!({"version": 1, "n": 2}),
        );
        assert!(result.is_err());
        assert!(sink.checkpoint("k").is_err());
        sink.restart();
        assert_eq!(sink.len(), 1);
        assert_eq!(
            sink.checkpoint("k").unwrap(),
            Some(serde_json::json!({"version": 1}))
        );
    }
}
