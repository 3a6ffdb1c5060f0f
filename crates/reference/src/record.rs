//! The stored row as a query sees it: the 14 canonical fields (as `json "Status"` reads
//! them) and `_raw`, the canonical JSON text.

use mailscope_record::time::format_trace_time;

use crate::StoredRow;
use crate::value::{Kind, Value};

/// The canonical JSON keys, in the Reporting Web Service's order.
pub const KEYS: [&str; 14] = [
    "Organization",
    "MessageId",
    "Received",
    "SenderAddress",
    "RecipientAddress",
    "Subject",
    "Status",
    "ToIP",
    "FromIP",
    "Size",
    "MessageTraceId",
    "StartDate",
    "EndDate",
    "Index",
];

/// The kind of a canonical field read from the stored row: `Received` a time, `Size` and
/// `Index` integers, the rest text.
pub fn kind(key: &str) -> Kind {
    match key {
        "Received" => Kind::Time,
        "Size" | "Index" => Kind::Int,
        _ => Kind::Text,
    }
}

fn text(value: &Option<String>) -> Value {
    value.clone().map_or(Value::Null, Value::Text)
}

/// A canonical field of the stored row (`key` spelled exactly as in [`KEYS`]).
pub fn field(row: &StoredRow, key: &str) -> Value {
    let r = &row.record;
    match key {
        "Organization" => Value::Text(r.organization.clone()),
        "MessageId" => text(&r.message_id),
        "Received" => Value::Time(r.received.timestamp_millis()),
        "SenderAddress" => Value::Text(r.sender_address.clone()),
        "RecipientAddress" => Value::Text(r.recipient_address.clone()),
        "Subject" => Value::Text(r.subject.clone()),
        "Status" => Value::Text(r.status.as_str().to_string()),
        "ToIP" => text(&r.to_ip),
        "FromIP" => text(&r.from_ip),
        "Size" => Value::Int(r.size),
        "MessageTraceId" => Value::Text(r.message_trace_id.clone()),
        "StartDate" => text(&r.start_date),
        "EndDate" => text(&r.end_date),
        "Index" => r.index.map_or(Value::Null, Value::Int),
        _ => Value::Null,
    }
}

/// The text of a canonical field as `_raw` shows it (`Received` as Microsoft writes it,
/// numbers in decimal); `None` for null.
pub fn raw_text(row: &StoredRow, key: &str) -> Option<String> {
    match key {
        "Received" => Some(format_trace_time(row.record.received)),
        _ => field(row, key).text(),
    }
}

/// `_raw`: the canonical JSON object, keys in [`KEYS`] order, numbers as numbers.
pub fn raw_json(row: &StoredRow) -> String {
    let mut out = String::from("{");
    for (i, key) in KEYS.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::Value::String(key.to_string()).to_string());
        out.push(':');
        let value = match (key, raw_text(row, key)) {
            (_, None) => serde_json::Value::Null,
            (&"Size" | &"Index", Some(number)) => {
                serde_json::Value::from(number.parse::<i64>().unwrap_or_default())
            }
            (_, Some(text)) => serde_json::Value::String(text),
        };
        out.push_str(&value.to_string());
    }
    out.push('}');
    out
}
