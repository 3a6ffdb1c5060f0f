//! One record decoder for both namings: the Reporting Web Service's PascalCase and Graph's
//! camelCase (plus the CSV columns, which fill the same struct). Fields borrow from the input
//! where JSON has no escapes, so the NDJSON hot path allocates only the final `Record`.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};

use crate::record::{Record, Status};
use crate::time::{format_trace_time, parse_trace_time};

/// The wire shape of one record. Unknown keys (`__metadata`, `@odata.type`, `_provenance`) are
/// ignored; `null` and a missing key both become `None`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireRecord<'a> {
    #[serde(
        rename = "Organization",
        borrow,
        default,
        deserialize_with = "organization"
    )]
    pub(crate) organization: Option<Cow<'a, str>>,
    #[serde(
        rename = "MessageId",
        alias = "messageId",
        borrow,
        default,
        deserialize_with = "message_id"
    )]
    pub(crate) message_id: Option<Cow<'a, str>>,
    #[serde(
        rename = "Received",
        alias = "receivedDateTime",
        borrow,
        default,
        deserialize_with = "received"
    )]
    pub(crate) received: Option<Cow<'a, str>>,
    #[serde(
        rename = "SenderAddress",
        alias = "senderAddress",
        borrow,
        default,
        deserialize_with = "sender"
    )]
    pub(crate) sender_address: Option<Cow<'a, str>>,
    #[serde(
        rename = "RecipientAddress",
        alias = "recipientAddress",
        borrow,
        default,
        deserialize_with = "recipient"
    )]
    pub(crate) recipient_address: Option<Cow<'a, str>>,
    #[serde(
        rename = "Subject",
        alias = "subject",
        borrow,
        default,
        deserialize_with = "subject"
    )]
    pub(crate) subject: Option<Cow<'a, str>>,
    #[serde(
        rename = "Status",
        alias = "status",
        borrow,
        default,
        deserialize_with = "status"
    )]
    pub(crate) status: Option<Cow<'a, str>>,
    #[serde(
        rename = "ToIP",
        alias = "toIP",
        borrow,
        default,
        deserialize_with = "to_ip"
    )]
    pub(crate) to_ip: Option<Cow<'a, str>>,
    #[serde(
        rename = "FromIP",
        alias = "fromIP",
        borrow,
        default,
        deserialize_with = "from_ip"
    )]
    pub(crate) from_ip: Option<Cow<'a, str>>,
    #[serde(rename = "Size", alias = "size", default, deserialize_with = "size")]
    pub(crate) size: Option<i64>,
    #[serde(
        rename = "MessageTraceId",
        alias = "id",
        borrow,
        default,
        deserialize_with = "trace_id"
    )]
    pub(crate) message_trace_id: Option<Cow<'a, str>>,
    #[serde(rename = "StartDate", borrow, default, deserialize_with = "start_date")]
    pub(crate) start_date: Option<Cow<'a, str>>,
    #[serde(rename = "EndDate", borrow, default, deserialize_with = "end_date")]
    pub(crate) end_date: Option<Cow<'a, str>>,
    #[serde(rename = "Index", default, deserialize_with = "index")]
    pub(crate) index: Option<i64>,
    /// Present when the object is a whole page (an NDJSON line holding a page, say).
    #[serde(default)]
    pub(crate) value: Option<IgnoredAny>,
    #[serde(default)]
    pub(crate) d: Option<IgnoredAny>,
    /// Present when the object is an API error body (`{"error":{..}}` or `{"ErrorCode",..}`).
    #[serde(default)]
    pub(crate) error: Option<serde_json::Value>,
    #[serde(rename = "ErrorCode", default)]
    pub(crate) error_code: Option<IgnoredAny>,
    #[serde(rename = "Message", default)]
    pub(crate) error_message: Option<String>,
}

/// A field that made a record unusable, named as in the Reporting Web Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub(crate) field: &'static str,
    pub(crate) message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl WireRecord<'_> {
    pub(crate) fn is_page(&self) -> bool {
        self.value.is_some() || self.d.is_some()
    }

    /// The message of an API error body, if this object is one rather than a record.
    pub(crate) fn api_error(&self) -> Option<String> {
        if self.received.is_some() {
            return None;
        }
        if let Some(error) = &self.error {
            let message = error
                .get("message")
                .map(|m| m.get("value").unwrap_or(m))
                .and_then(serde_json::Value::as_str)
                .or_else(|| error.as_str())
                .unwrap_or("no message");
            return Some(message.to_owned());
        }
        self.error_code
            .as_ref()
            .map(|_| self.error_message.clone().unwrap_or_default())
    }

    /// Builds the canonical record. `organization` fills in where the source has none (Graph).
    pub(crate) fn into_record(self, organization: Option<&str>) -> Result<Record, FieldError> {
        let received_text = self.received.ok_or_else(|| FieldError {
            field: "Received",
            message: "\"Received\" is missing".to_owned(),
        })?;
        let received = parse_trace_time(&received_text).map_err(|error| FieldError {
            field: "Received",
            message: format!("\"Received\" is not a date: {:?}", error.text()),
        })?;
        let recipient_address = non_empty(self.recipient_address).ok_or_else(|| FieldError {
            field: "RecipientAddress",
            message: "\"RecipientAddress\" is missing".to_owned(),
        })?;
        let message_id = non_empty(self.message_id);
        let sender_address = self.sender_address.map(Cow::into_owned).unwrap_or_default();
        let subject = self.subject.map(Cow::into_owned).unwrap_or_default();
        let message_trace_id = match non_empty(self.message_trace_id) {
            Some(id) => id,
            None => synthesize_trace_id(message_id.as_deref(), &sender_address, &subject, received),
        };
        Ok(Record {
            organization: non_empty(self.organization)
                .or_else(|| organization.map(str::to_owned))
                .unwrap_or_default(),
            message_id,
            received,
            sender_address,
            recipient_address,
            subject,
            // A record without a status has not been settled yet: `GettingStatus` lets any
            // later observation replace it.
            status: self
                .status
                .map_or(Status::GettingStatus, |s| parse_status(&s)),
            to_ip: non_empty(self.to_ip),
            from_ip: non_empty(self.from_ip),
            size: self.size.unwrap_or(0),
            message_trace_id,
            start_date: non_empty(self.start_date).map(normalize_echo_date),
            end_date: non_empty(self.end_date).map(normalize_echo_date),
            index: self.index,
        })
    }
}

/// `Status::parse` folds case into a new string; the exact spellings skip that on the hot path.
fn parse_status(text: &str) -> Status {
    match text {
        "Delivered" | "delivered" => Status::Delivered,
        "Failed" | "failed" => Status::Failed,
        "Pending" | "pending" => Status::Pending,
        "GettingStatus" | "gettingStatus" => Status::GettingStatus,
        "Expanded" | "expanded" => Status::Expanded,
        "Quarantined" | "quarantined" => Status::Quarantined,
        "FilteredAsSpam" | "filteredAsSpam" => Status::FilteredAsSpam,
        "None" | "none" => Status::None,
        "Recalled" | "recalled" => Status::Recalled,
        _ => Status::parse(text),
    }
}

/// Empty strings mean "none" in every source (Graph's `"toIP": ""`, Export-Csv's `$null`).
fn non_empty(value: Option<Cow<'_, str>>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty()).map(Cow::into_owned)
}

/// StartDate/EndDate are kept as received, except that `/Date(ms)/` is rewritten to the ISO
/// form so stored echoes look the same whichever response shape carried them.
fn normalize_echo_date(text: String) -> String {
    if text.trim_start().starts_with(['/', '\\'])
        && let Ok(t) = parse_trace_time(&text)
    {
        return format_trace_time(t);
    }
    text
}

/// A deterministic `MessageTraceId` for sources without one (EAC CSVs, hand-made exports).
///
/// The 128-bit XXH3 hash covers the Message-ID (or, lacking one, sender and subject) and the
/// received instant, so every recipient row of one message gets the same id and re-importing
/// the same file yields the same identities. It is printed as a GUID whose version nibble is 8
/// ("custom", RFC 9562) so a synthesized id can be told from one Microsoft assigned.
pub fn synthesize_trace_id(
    message_id: Option<&str>,
    sender_address: &str,
    subject: &str,
    received: DateTime<Utc>,
) -> String {
    let mut key = String::with_capacity(128);
    match message_id.map(str::trim).filter(|id| !id.is_empty()) {
        Some(id) => {
            key.push_str("m\u{1f}");
            key.push_str(id);
        }
        None => {
            key.push_str("s\u{1f}");
            key.push_str(&sender_address.trim().to_ascii_lowercase());
            key.push('\u{1f}');
            key.push_str(subject);
        }
    }
    key.push('\u{1f}');
    key.push_str(&format_trace_time(received));
    let hash = xxhash_rust::xxh3::xxh3_128(key.as_bytes());
    let hash = (hash & !(0xF << 76) | (0x8 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{hash:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Whether `text` looks like a GUID (`8-4-4-4-12` hex digits, braces allowed).
/// A GUID as the trace's id: `8-4-4-4-12` hex digits, braces allowed, or the same 32 digits
/// without dashes (how some exports print a network message id), in lower case with dashes.
pub fn canonical_guid(text: &str) -> Option<String> {
    let text = text.trim();
    if is_guid(text) {
        return Some(text.trim_matches(['{', '}']).to_ascii_lowercase());
    }
    let bare = text.trim_start_matches('{').trim_end_matches('}');
    if bare.len() != 32 || !bare.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let lower = bare.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &lower[..8],
        &lower[8..12],
        &lower[12..16],
        &lower[16..20],
        &lower[20..]
    ))
}

pub(crate) fn is_guid(text: &str) -> bool {
    let text = text.trim().trim_start_matches('{').trim_end_matches('}');
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The JSON keys of a canonical field, used to point at a bad value in its record.
pub(crate) fn json_keys(field: &str) -> &'static [&'static str] {
    match field {
        "Received" => &["\"Received\"", "\"receivedDateTime\""],
        "RecipientAddress" => &["\"RecipientAddress\"", "\"recipientAddress\""],
        _ => &[],
    }
}

/// Byte offset of the value of the first of `keys` present in a JSON object, to give a column.
pub(crate) fn locate_value(json: &[u8], keys: &[&str]) -> Option<usize> {
    keys.iter().find_map(|key| {
        let at = memchr::memmem::find(json, key.as_bytes())? + key.len();
        let rest = &json[at..];
        let colon = rest.iter().position(|b| !b.is_ascii_whitespace())?;
        if rest[colon] != b':' {
            return None;
        }
        let value = rest[colon + 1..]
            .iter()
            .position(|b| !b.is_ascii_whitespace())?;
        Some(at + colon + 1 + value)
    })
}

/// Text fields: a string or `null`. Anything else names the field in the error.
struct TextVisitor(&'static str);

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "\"{}\" as a string", self.0)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

/// Integer fields: a JSON number, a numeric string (some exporters quote everything) or null.
struct IntegerVisitor(&'static str);

impl<'de> Visitor<'de> for IntegerVisitor {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "\"{}\" as a whole number", self.0)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(Some)
            .map_err(|_| E::custom(format!("\"{}\" is too large: {v}", self.0)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            #[allow(clippy::cast_possible_truncation)]
            return Ok(Some(v as i64));
        }
        Err(E::invalid_type(de::Unexpected::Float(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_integer(v).map_err(|()| E::invalid_value(de::Unexpected::Str(v), &self))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// A whole number written as text; empty means absent. Thousands separators are not accepted:
/// they are culture-dependent and no known exporter writes them.
pub(crate) fn parse_integer(text: &str) -> Result<Option<i64>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<i64>().map(Some).map_err(|_| ())
}

macro_rules! text_fields {
    ($($name:ident => $field:literal),* $(,)?) => {$(
        fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
            d.deserialize_option(TextVisitor($field))
        }
    )*};
}

text_fields! {
    organization => "Organization",
    message_id => "MessageId",
    received => "Received",
    sender => "SenderAddress",
    recipient => "RecipientAddress",
    subject => "Subject",
    status => "Status",
    to_ip => "ToIP",
    from_ip => "FromIP",
    trace_id => "MessageTraceId",
    start_date => "StartDate",
    end_date => "EndDate",
}

fn size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_option(IntegerVisitor("Size"))
}

fn index<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_option(IntegerVisitor("Index"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthesized_ids_are_stable_guids_shared_by_recipients() {
        let t = parse_trace_time("2026-11-24T15:10:12Z").unwrap();
        let a = synthesize_trace_id(Some("<a@b>"), "x@y", "hi", t);
        let b = synthesize_trace_id(Some("<a@b>"), "other@y", "other", t);
        assert_eq!(a, b);
        assert!(is_guid(&a), "{a}");
        assert_eq!(a.as_bytes()[14], b'8');
        assert!(matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        let c = synthesize_trace_id(None, "X@y", "hi", t);
        assert_eq!(c, synthesize_trace_id(None, "x@y", "hi", t));
        assert_ne!(a, c);
    }

    #[test]
    fn guids_are_recognised() {
        assert!(is_guid("cf7a249a-5edd-4350-130a-08da8f69e0f6"));
        assert!(is_guid("{CF7A249A-5EDD-4350-130A-08DA8F69E0F6}"));
        assert!(!is_guid("cf7a249a-5edd-4350-130a"));
        assert!(!is_guid("<x@y>"));
        for (text, canonical) in [
            (
                "CF7A249A5EDD4350130A08DA8F69E0F6",
                Some("cf7a249a-5edd-4350-130a-08da8f69e0f6"),
            ),
            (
                " {cf7a249a5edd4350130a08da8f69e0f6} ",
                Some("cf7a249a-5edd-4350-130a-08da8f69e0f6"),
            ),
            (
                "{CF7A249A-5EDD-4350-130A-08DA8F69E0F6}",
                Some("cf7a249a-5edd-4350-130a-08da8f69e0f6"),
            ),
            ("cf7a249a5edd4350130a08da8f69e0f", None),
            ("cf7a249a5edd4350130a08da8f69e0fg", None),
            ("<x@y>", None),
        ] {
            assert_eq!(canonical_guid(text).as_deref(), canonical, "{text}");
        }
    }

    #[test]
    fn value_is_located_after_its_key() {
        let json = br#"{"Size":1, "Received" :  "yesterday"}"#;
        assert_eq!(locate_value(json, json_keys("Received")), Some(25));
    }
}
