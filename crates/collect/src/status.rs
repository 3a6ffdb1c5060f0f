//! What each collector is doing, for the server's health answer and its Collectors page: a
//! [`StatusHandle`] per tenant that the collector updates as it polls and anyone may read.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Where a tenant's `Organization` comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationSource {
    /// The tenant's `organization` key.
    Configured,
    /// Learned: the tenant's initial domain, from Graph `GET /organization`.
    Tenant,
    /// The Reporting Web Service names it in every row.
    Records,
    /// Not known yet, or refused (the note says why and what to do).
    #[default]
    None,
}

/// One collector's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectorState {
    Starting,
    /// A poll is reading a range that ends more than a day behind now.
    Backfilling,
    /// Caught up, polling every interval.
    Collecting,
    /// The last poll failed; it is tried again.
    Failing,
    Stopped,
}

impl CollectorState {
    pub const ALL: [CollectorState; 5] = [
        CollectorState::Starting,
        CollectorState::Backfilling,
        CollectorState::Collecting,
        CollectorState::Failing,
        CollectorState::Stopped,
    ];

    /// The name it is serialized and labelled with.
    pub fn name(&self) -> &'static str {
        match self {
            CollectorState::Starting => "starting",
            CollectorState::Backfilling => "backfilling",
            CollectorState::Collecting => "collecting",
            CollectorState::Failing => "failing",
            CollectorState::Stopped => "stopped",
        }
    }
}

/// A snapshot of one tenant's collector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantStatus {
    pub tenant: String,
    pub api: &'static str,
    pub state: CollectorState,
    pub organization: Option<String>,
    pub organization_source: OrganizationSource,
    /// Why the organization is not known, or where it came from, in a sentence.
    pub organization_note: Option<String>,
    /// Everything received before it is collected.
    pub checkpoint: Option<DateTime<Utc>>,
    /// The range of the poll in progress (or the last one): a backfill's progress is where
    /// the checkpoint stands between them.
    pub poll_start: Option<DateTime<Utc>>,
    pub poll_target: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub polls: u64,
    pub failed_polls: u64,
    pub windows: u64,
    /// Records received from the API and committed (new, updated, unchanged).
    pub records: u64,
    pub inserted: u64,
    pub updated: u64,
}

impl TenantStatus {
    pub fn new(tenant: &str, api: &'static str) -> TenantStatus {
        TenantStatus {
            tenant: tenant.to_owned(),
            api,
            state: CollectorState::Starting,
            organization: None,
            organization_source: OrganizationSource::None,
            organization_note: None,
            checkpoint: None,
            poll_start: None,
            poll_target: None,
            last_success: None,
            last_error: None,
            last_error_at: None,
            polls: 0,
            failed_polls: 0,
            windows: 0,
            records: 0,
            inserted: 0,
            updated: 0,
        }
    }
}

/// A tenant's status, shared between its collector and readers.
#[derive(Debug, Clone)]
pub struct StatusHandle(Arc<Mutex<TenantStatus>>);

impl StatusHandle {
    pub fn new(status: TenantStatus) -> StatusHandle {
        StatusHandle(Arc::new(Mutex::new(status)))
    }

    pub fn snapshot(&self) -> TenantStatus {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut TenantStatus)) {
        change(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_serialized_by_its_name() {
        for state in CollectorState::ALL {
            assert_eq!(
                serde_json::to_value(&state).unwrap(),
                serde_json::json!(state.name())
            );
        }
    }
}
