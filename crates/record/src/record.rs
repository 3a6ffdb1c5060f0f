//! The canonical message trace record: one recipient of one message, named as in the
//! Reporting Web Service so that the app's `json "Status"` queries work whatever the source.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One row of message trace: one message to one recipient, as last observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Tenant domain; for Graph data, the collector's configured tenant (may be empty).
    pub organization: String,
    /// Internet Message-ID with angle brackets.
    pub message_id: Option<String>,
    /// When Exchange Online received the message (UTC).
    pub received: DateTime<Utc>,
    pub sender_address: String,
    pub recipient_address: String,
    /// Attacker-controlled text; never interpret it.
    pub subject: String,
    pub status: Status,
    pub to_ip: Option<String>,
    pub from_ip: Option<String>,
    /// Whole message size in bytes.
    pub size: i64,
    /// GUID shared by every recipient row of one message copy (Graph `id`).
    pub message_trace_id: String,
    /// Echo of the query window that returned the row, kept as received.
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub index: Option<i64>,
}

/// Delivery status. Graph's camelCase values map to the same variants; a value Microsoft
/// adds later is kept verbatim in `Other` rather than rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Delivered,
    Failed,
    Pending,
    Expanded,
    Quarantined,
    FilteredAsSpam,
    GettingStatus,
    None,
    /// Recalled by its sender after delivery (Graph `recalled`, which Graph sends only to a
    /// client that asks with `Prefer: include-unknown-enum-members`; the EAC's `Recall`
    /// event). It replaces `Delivered` and nothing replaces it ([`Finality::Recalled`]).
    Recalled,
    Other(Box<str>),
}

/// How settled a status is: a newer observation may only move a record up this order or
/// stay on the same step (`GettingStatus` -> `Pending` -> final).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Finality {
    Unknown = 0,
    InProgress = 1,
    Final = 2,
    /// Recalled: after delivery, and for good — an older observation of the delivery read
    /// again never brings it back.
    Recalled = 3,
}

impl Status {
    /// The eight statuses of the Reporting Web Service, in the order Microsoft lists them.
    pub const KNOWN: [Status; 8] = [
        Status::None,
        Status::GettingStatus,
        Status::Failed,
        Status::Pending,
        Status::Delivered,
        Status::Expanded,
        Status::Quarantined,
        Status::FilteredAsSpam,
    ];

    /// Parses any spelling Microsoft uses (`Delivered`, `delivered`, `filteredAsSpam`,
    /// `Filtered as spam`); anything else is kept verbatim.
    pub fn parse(text: &str) -> Status {
        let folded: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        match folded.as_str() {
            "delivered" => Status::Delivered,
            "failed" => Status::Failed,
            "pending" => Status::Pending,
            "expanded" => Status::Expanded,
            "quarantined" => Status::Quarantined,
            "filteredasspam" => Status::FilteredAsSpam,
            "gettingstatus" => Status::GettingStatus,
            "none" => Status::None,
            "recalled" | "recall" => Status::Recalled,
            _ => Status::Other(text.into()),
        }
    }

    /// The Reporting Web Service spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Status::Delivered => "Delivered",
            Status::Failed => "Failed",
            Status::Pending => "Pending",
            Status::Expanded => "Expanded",
            Status::Quarantined => "Quarantined",
            Status::FilteredAsSpam => "FilteredAsSpam",
            Status::GettingStatus => "GettingStatus",
            Status::None => "None",
            Status::Recalled => "Recalled",
            Status::Other(text) => text,
        }
    }

    /// Graph's camelCase spelling.
    pub fn as_graph_str(&self) -> String {
        match self {
            Status::Other(text) => text.to_string(),
            known => {
                let text = known.as_str();
                let mut chars = text.chars();
                chars
                    .next()
                    .map(|first| first.to_lowercase().chain(chars).collect())
                    .unwrap_or_default()
            }
        }
    }

    pub fn finality(&self) -> Finality {
        match self {
            Status::GettingStatus | Status::Other(_) => Finality::Unknown,
            Status::Pending => Finality::InProgress,
            Status::Recalled => Finality::Recalled,
            _ => Finality::Final,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Ok(Status::parse(&text))
    }
}

/// The identity of a record: `(MessageTraceId, RecipientAddress)`. The GUID is compared
/// case-insensitively (Microsoft prints it in lower case, exports sometimes in upper case);
/// the address is compared case-insensitively because SMTP domains and Exchange mailboxes are.
///
/// XXH3-128 of the ASCII-lower-cased, trimmed parts with a separator: stable across releases
/// and platforms (the store recomputes keys from stored columns), and collisions are
/// negligible at 128 bits.
pub fn identity_key(message_trace_id: &str, recipient_address: &str) -> u128 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    write_folded(&mut hasher, message_trace_id);
    hasher.update(&[0xff]);
    write_folded(&mut hasher, recipient_address);
    hasher.digest128()
}

fn write_folded(hasher: &mut xxhash_rust::xxh3::Xxh3, text: &str) {
    let mut buffer = [0u8; 128];
    for chunk in text.trim().as_bytes().chunks(buffer.len()) {
        let folded = &mut buffer[..chunk.len()];
        folded.copy_from_slice(chunk);
        folded.make_ascii_lowercase();
        hasher.update(folded);
    }
}

impl Record {
    pub fn identity(&self) -> u128 {
        identity_key(&self.message_trace_id, &self.recipient_address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parses_every_spelling() {
        assert_eq!(Status::parse("filteredAsSpam"), Status::FilteredAsSpam);
        assert_eq!(Status::parse("FilteredAsSpam"), Status::FilteredAsSpam);
        assert_eq!(Status::parse("Filtered as spam"), Status::FilteredAsSpam);
        assert_eq!(Status::parse("gettingStatus"), Status::GettingStatus);
        assert_eq!(Status::parse("recalled"), Status::Recalled);
        assert_eq!(Status::parse("Recall"), Status::Recalled);
        assert_eq!(Status::Recalled.as_graph_str(), "recalled");
        // Graph's placeholder for a value the client did not ask to see is kept as it came.
        assert_eq!(
            Status::parse("unknownFutureValue"),
            Status::Other("unknownFutureValue".into())
        );
        assert!(Status::Recalled.finality() > Status::Delivered.finality());
        for status in Status::KNOWN.into_iter().chain([Status::Recalled]) {
            assert_eq!(Status::parse(status.as_str()), status);
            assert_eq!(Status::parse(&status.as_graph_str()), status);
        }
    }

    #[test]
    fn identity_ignores_case_of_guid_and_address() {
        assert_eq!(
            identity_key("AA1A3E28-8967-4BFB-06D3-08DAD1CB7A0E", "Bob@Contoso.com"),
            identity_key("aa1a3e28-8967-4bfb-06d3-08dad1cb7a0e", "bob@contoso.com")
        );
        assert_ne!(identity_key("a", "bc"), identity_key("ab", "c"));
    }

    #[test]
    fn finality_orders_statuses() {
        assert!(Status::GettingStatus.finality() < Status::Pending.finality());
        assert!(Status::Pending.finality() < Status::Delivered.finality());
        assert_eq!(Status::None.finality(), Finality::Final);
    }
}
