//! The store's identity rule.

use mailscope_record::Status;
use mailscope_reference::settle;

use super::message;

fn observed(n: u32, status: Status, size: i64) -> mailscope_reference::StoredRow {
    let mut m = message(n, "2026-10-01T00:00:00Z");
    m.record.status = status;
    m.record.size = size;
    m
}

fn statuses(rows: &[mailscope_reference::StoredRow]) -> Vec<(String, i64)> {
    rows.iter()
        .map(|r| (r.record.status.as_str().to_string(), r.record.size))
        .collect()
}

#[test]
fn latest_most_final_status_wins() {
    let rows = settle(vec![
        observed(1, Status::GettingStatus, 1),
        observed(1, Status::Pending, 2),
        observed(2, Status::Delivered, 3),
        observed(1, Status::Pending, 4),
        observed(1, Status::Delivered, 5),
        observed(2, Status::Pending, 6),
        observed(2, Status::GettingStatus, 7),
        observed(1, Status::Failed, 8),
        observed(1, Status::Other("Recalled".into()), 9),
    ]);
    assert_eq!(
        statuses(&rows),
        vec![("Failed".to_string(), 8), ("Delivered".to_string(), 3)]
    );
}

#[test]
fn identity_ignores_case_and_surrounding_space() {
    let first = observed(1, Status::Pending, 1);
    let mut second = observed(1, Status::Delivered, 2);
    second.record.message_trace_id = format!(" {} ", first.record.message_trace_id.to_uppercase());
    second.record.recipient_address = "BOB@Contoso.com".into();
    let mut other = observed(1, Status::Delivered, 3);
    other.record.recipient_address = "alice@contoso.com".into();
    let rows = settle(vec![first, second, other]);
    assert_eq!(
        statuses(&rows),
        vec![("Delivered".to_string(), 2), ("Delivered".to_string(), 3)]
    );
}

#[test]
fn the_same_status_changes_nothing() {
    let rows = settle(vec![
        observed(1, Status::Delivered, 1),
        observed(1, Status::Delivered, 2),
    ]);
    assert_eq!(statuses(&rows), vec![("Delivered".to_string(), 1)]);
    assert!(settle(Vec::new()).is_empty());
}
