//! The collector's checkpoint: how far a tenant has been collected. It is stored by the
//! [`crate::Sink`] in the same commit as the records it covers, as versioned JSON
//! (`{"version": 1, ...}`). A checkpoint this build cannot read is an error, never a silent
//! restart from scratch (which would re-read 90 days against the API quota).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Api, TenantConfig};

/// The version this build writes and reads.
pub const CHECKPOINT_VERSION: u64 = 1;

/// Version 1: every row received before `collected_until` has been read at least once.
/// Polls still re-read the look-back before it for late rows and status changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub version: u64,
    /// The api that wrote it. A tenant moved from the Reporting Web Service to Graph keeps
    /// its checkpoint: both report the same messages on the same time axis.
    pub api: String,
    /// Guards against a checkpoint of another tenant under the same name.
    pub tenant_id: String,
    pub collected_until: DateTime<Utc>,
}

impl Checkpoint {
    pub fn new(api: Api, tenant_id: &str, collected_until: DateTime<Utc>) -> Checkpoint {
        Checkpoint {
            version: CHECKPOINT_VERSION,
            api: api.name().to_owned(),
            tenant_id: tenant_id.to_owned(),
            collected_until,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "version": self.version,
            "api": self.api,
            "tenant_id": self.tenant_id,
            "collected_until": self.collected_until.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        })
    }

    /// Reads a stored checkpoint; the message says what is wrong with it.
    pub fn from_json(value: &serde_json::Value) -> Result<Checkpoint, String> {
        let object = value
            .as_object()
            .ok_or_else(|| format!("expected a JSON object, found {}", kind(value)))?;
        let version = object
            .get("version")
            .ok_or("no \"version\" field")?
            .as_u64()
            .ok_or("\"version\" is not a non-negative integer")?;
        if version != CHECKPOINT_VERSION {
            return Err(format!(
                "unsupported version {version}; this build reads version {CHECKPOINT_VERSION} \
                 (was the store written by a newer mailscope?)"
            ));
        }
        let checkpoint: Checkpoint =
            serde_json::from_value(value.clone()).map_err(|error| error.to_string())?;
        if checkpoint.api != Api::Graph.name() && checkpoint.api != Api::Reporting.name() {
            return Err(format!("unknown api {:?}", checkpoint.api));
        }
        Ok(checkpoint)
    }

    /// Checks that the checkpoint belongs to `config`'s tenant.
    pub fn validate_for(&self, config: &TenantConfig) -> Result<(), String> {
        if !self.tenant_id.eq_ignore_ascii_case(&config.tenant_id) {
            return Err(format!(
                "it was written for tenant {:?}, but {:?} is configured with tenant_id {:?}; \
                 use another tenant name or remove the checkpoint",
                self.tenant_id, config.name, config.tenant_id
            ));
        }
        Ok(())
    }
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use chrono::TimeZone;

    const V1: &str = include_str!("../testdata/checkpoint-v1.json");

    #[test]
    fn reads_the_checked_in_version_1() {
        let value: serde_json::Value = serde_json::from_str(V1).unwrap();
        let checkpoint = Checkpoint::from_json(&value).unwrap();
        assert_eq!(checkpoint.version, 1);
        assert_eq!(checkpoint.api, "graph");
        assert_eq!(
            checkpoint.collected_until,
            Utc.with_ymd_and_hms(2026, 2, 1, 12, 30, 0).unwrap()
        );
        assert_eq!(Checkpoint::from_json(&checkpoint.to_json()), Ok(checkpoint));
    }

    #[test]
    fn unknown_version_is_an_error() {
        let message = Checkpoint::from_json(&serde_json::json!({"version": 2})).unwrap_err();
        assert!(message.contains("unsupported version 2"), "{message}");
        let message = Checkpoint::from_json(&serde_json::json!({"api": "graph"})).unwrap_err();
        assert!(message.contains("no \"version\""), "{message}");
    }

    #[test]
    fn malformed_checkpoint_is_an_error() {
        for value in [
            serde_json::json!([1]),
            serde_json::json!({"version": 1, "api": "graph", "tenant_id": "t"}),
            serde_json::json!({"version": 1, "api": "graph", "tenant_id": "t", "collected_until": "yesterday"}),
            serde_json::json!({"version": 1, "api": "ews", "tenant_id": "t", "collected_until": "2026-01-01T00:00:00Z"}),
            serde_json::json!({"version": 1, "api": "graph", "tenant_id": "t", "collected_until": "2026-01-01T00:00:00Z", "extra": 1}),
        ] {
            assert!(Checkpoint::from_json(&value).is_err(), "{value}");
        }
    }

    #[test]
    fn checkpoint_of_another_tenant_is_refused() {
        let config = TenantConfig::new("a", Api::Graph, "tenant-b", "c", Secret::new("s"));
        let checkpoint = Checkpoint::new(Api::Graph, "tenant-a", Utc::now());
        assert!(checkpoint.validate_for(&config).is_err());
        let checkpoint = Checkpoint::new(Api::Reporting, "TENANT-B", Utc::now());
        assert!(checkpoint.validate_for(&config).is_ok());
    }
}
