//! Integration tests of the collectors: against small mock servers (`mock`), pinning each
//! client behaviour, and against the API simulator (`simulator`), comparing whole
//! collections under every fault with the simulator's ground truth.

mod capture;
mod mock;
mod paging;
mod poll;
mod secrets;
mod simulator;
mod token;

use mailscope_collect::MemorySink;
use mailscope_record::identity_key;

/// Asserts that the sink holds exactly `rows`, each once, with its status.
fn assert_sink_matches(sink: &MemorySink, rows: &[mock::Row]) {
    assert_eq!(sink.len(), rows.len(), "identities in the sink");
    for row in rows {
        let stored = sink
            .get(identity_key(&row.id, &row.recipient))
            .unwrap_or_else(|| panic!("{} {} missing", row.id, row.recipient));
        assert_eq!(stored.status, row.status, "{} {}", row.id, row.recipient);
    }
}
