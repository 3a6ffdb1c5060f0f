//! The NDJSON hot path: a direct parser for the flat objects that make up nearly all trace
//! data (string, integer and null values), about twice as fast as the serde derive. Anything
//! it does not expect (nesting, floats, a wrong type, invalid JSON) returns `None` and the
//! record goes through serde, which then produces the precise error message.

use std::borrow::Cow;

use super::fields::{WireRecord, parse_integer};

/// A scalar JSON value.
enum Scalar<'a> {
    Text(Cow<'a, str>),
    Integer(i64),
    Null,
}

pub(crate) fn parse_flat(bytes: &[u8]) -> Option<WireRecord<'_>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if *b.get(i)? != b'{' {
        return None;
    }
    i = skip_ws(b, i + 1);
    let mut wire = WireRecord::default();
    if *b.get(i)? == b'}' {
        return (skip_ws(b, i + 1) == b.len()).then_some(wire);
    }
    loop {
        let (key, after_key) = string(text, i)?;
        i = skip_ws(b, after_key);
        if *b.get(i)? != b':' {
            return None;
        }
        i = skip_ws(b, i + 1);
        let (value, after_value) = scalar(text, i)?;
        assign(&mut wire, &key, value)?;
        i = skip_ws(b, after_value);
        match *b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => break,
            _ => return None,
        }
    }
    (skip_ws(b, i + 1) == b.len()).then_some(wire)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// The JSON string starting at `i` (its opening quote) and the index after its closing quote.
/// Strings without escapes are borrowed; escaped ones are decoded by serde_json.
fn string(text: &str, i: usize) -> Option<(Cow<'_, str>, usize)> {
    let b = text.as_bytes();
    if *b.get(i)? != b'"' {
        return None;
    }
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        j += memchr::memchr2(b'"', b'\\', &b[j..])?;
        if b[j] == b'"' {
            break;
        }
        escaped = true;
        // Skip the escaped character; a backslash at the very end is invalid JSON.
        j += 2;
        if j > b.len() {
            return None;
        }
    }
    let raw = &text[i + 1..j];
    // Raw control characters are invalid JSON; let serde say so.
    if raw.bytes().any(|c| c < 0x20) {
        return None;
    }
    let value = if escaped {
        Cow::Owned(serde_json::from_str::<String>(&text[i..=j]).ok()?)
    } else {
        Cow::Borrowed(raw)
    };
    Some((value, j + 1))
}

fn scalar(text: &str, i: usize) -> Option<(Scalar<'_>, usize)> {
    let b = text.as_bytes();
    match *b.get(i)? {
        b'"' => string(text, i).map(|(value, end)| (Scalar::Text(value), end)),
        b'n' => (b.get(i..i + 4)? == b"null").then_some((Scalar::Null, i + 4)),
        b'-' | b'0'..=b'9' => {
            let len = b[i..]
                .iter()
                .position(|c| !matches!(c, b'-' | b'0'..=b'9'))
                .unwrap_or(b.len() - i);
            let value = text[i..i + len].parse().ok()?;
            Some((Scalar::Integer(value), i + len))
        }
        _ => None,
    }
}

fn text_value(value: Scalar<'_>) -> Option<Option<Cow<'_, str>>> {
    match value {
        Scalar::Text(text) => Some(Some(text)),
        Scalar::Null => Some(None),
        Scalar::Integer(_) => None,
    }
}

fn integer_value(value: Scalar<'_>) -> Option<Option<i64>> {
    match value {
        Scalar::Integer(n) => Some(Some(n)),
        Scalar::Null => Some(None),
        Scalar::Text(text) => parse_integer(&text).ok(),
    }
}

/// Stores `value` under `key`; `None` (fall back to serde) for a wrong type or a key that
/// makes the object something other than a plain record.
fn assign<'a>(wire: &mut WireRecord<'a>, key: &str, value: Scalar<'a>) -> Option<()> {
    match key {
        "Organization" => wire.organization = text_value(value)?,
        "MessageId" | "messageId" => wire.message_id = text_value(value)?,
        "Received" | "receivedDateTime" => wire.received = text_value(value)?,
        "SenderAddress" | "senderAddress" => wire.sender_address = text_value(value)?,
        "RecipientAddress" | "recipientAddress" => wire.recipient_address = text_value(value)?,
        "Subject" | "subject" => wire.subject = text_value(value)?,
        "Status" | "status" => wire.status = text_value(value)?,
        "ToIP" | "toIP" => wire.to_ip = text_value(value)?,
        "FromIP" | "fromIP" => wire.from_ip = text_value(value)?,
        "Size" | "size" => wire.size = integer_value(value)?,
        "MessageTraceId" | "id" => wire.message_trace_id = text_value(value)?,
        "StartDate" => wire.start_date = text_value(value)?,
        "EndDate" => wire.end_date = text_value(value)?,
        "Index" => wire.index = integer_value(value)?,
        "value" | "d" | "error" | "ErrorCode" | "Message" => return None,
        _ => {}
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_records_are_parsed_and_odd_ones_refused() {
        let wire = parse_flat(
            br##" {"MessageId":"\u003cx@y\u003e", "Size":"12","ToIP":null,"@odata.type":"#t","Index":-1} "##,
        )
        .unwrap();
        assert_eq!(wire.message_id.as_deref(), Some("<x@y>"));
        assert_eq!(
            (wire.size, wire.index, wire.to_ip),
            (Some(12), Some(-1), None)
        );
        for refused in [
            &br#"{"Size":{}}"#[..],
            br#"{"Size":1.5}"#,
            br#"{"Received":12}"#,
            br#"{"value":[]}"#,
            br#"{"a":1,}"#,
            br#"{"a":1} x"#,
            b"{\"a\":\"x\ny\"}",
            br#"{"a":"x"#,
            br#"{"a":"x\"#,
            br#"{"a":"\"#,
            br#"{"__metadata":{"id":"x"}}"#,
        ] {
            assert!(
                parse_flat(refused).is_none(),
                "{}",
                String::from_utf8_lossy(refused)
            );
        }
        assert!(parse_flat(b"{}").is_some());
    }
}
