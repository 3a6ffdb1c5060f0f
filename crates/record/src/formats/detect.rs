//! Format detection from the first bytes of an input: the text encoding (BOMs, UTF-16 without
//! BOM), then the shape: a JSON page or document, NDJSON, one of the CSV dialects, or something
//! that is not message trace data at all (an HTML sign-in or IIS error page served with status
//! 200, an Atom feed, a ZIP or gzip file), which is a fatal error with a clear message.

use std::io::{Cursor, Read};

use serde::de::IgnoredAny;

use super::Format;
use super::csv::dialect_of_header;
use super::encoding::{TextEncoding, Utf16ToUtf8, read_prefix, sniff_encoding};
use super::error::ReadError;

/// Bytes inspected for detection; enough for a CSV header, a `#TYPE` line and a first record.
const SNIFF_BYTES: usize = 16 * 1024;

/// An input decoded to UTF-8, with its first bytes already read and available for a look.
pub(crate) struct Prepared {
    pub(crate) prefix: Vec<u8>,
    /// The input after `prefix`.
    pub(crate) rest: Box<dyn Read + Send>,
    /// Whether `prefix` is the whole input.
    pub(crate) complete: bool,
}

impl Prepared {
    /// The text from `skip` bytes into the prefix to the end of the input.
    pub(crate) fn into_reader(self, skip: usize) -> Box<dyn Read + Send> {
        let mut prefix = self.prefix;
        prefix.drain(..skip.min(prefix.len()));
        Box::new(Cursor::new(prefix).chain(self.rest))
    }
}

/// What the first bytes say the input is.
pub(crate) enum Shape {
    Empty,
    /// JSON lines; each may also be a page.
    Ndjson,
    /// One or more JSON documents, labelled by their naming.
    Document(Format),
    /// A CSV with its dialect and the number of leading lines to drop (`#TYPE`).
    Csv(Format, usize),
}

/// Reads the first bytes, settles the encoding and refuses inputs that are plainly not text.
pub(crate) fn prepare(
    source_name: &str,
    mut input: Box<dyn Read + Send>,
) -> Result<Prepared, ReadError> {
    let io_error = |error: std::io::Error| ReadError::io(source_name, &error);
    let raw = read_prefix(&mut input, SNIFF_BYTES).map_err(io_error)?;
    if raw.starts_with(b"\x1f\x8b") {
        return Err(ReadError::fatal(
            source_name,
            "input is gzip-compressed; decompress it first",
        ));
    }
    if raw.starts_with(b"PK\x03\x04") {
        return Err(ReadError::fatal(
            source_name,
            "input is a ZIP archive (an Excel workbook?); export it as CSV",
        ));
    }
    let (encoding, bom) = sniff_encoding(&raw);
    let raw_complete = raw.len() < SNIFF_BYTES;
    let prepared = if encoding == TextEncoding::Utf8 {
        Prepared {
            prefix: raw[bom..].to_vec(),
            rest: input,
            complete: raw_complete,
        }
    } else {
        let head = Cursor::new(raw[bom..].to_vec());
        let mut decoded = Utf16ToUtf8::new(head.chain(input), encoding);
        let prefix = read_prefix(&mut decoded, SNIFF_BYTES).map_err(io_error)?;
        Prepared {
            complete: prefix.len() < SNIFF_BYTES,
            prefix,
            rest: Box::new(decoded),
        }
    };
    check_text(source_name, &prepared.prefix)?;
    Ok(prepared)
}

/// Rejects binary data and text in a legacy 8-bit encoding, naming where it goes wrong.
fn check_text(source_name: &str, prefix: &[u8]) -> Result<(), ReadError> {
    let bad_at = match std::str::from_utf8(prefix) {
        Ok(_) => prefix.iter().position(|&b| b == 0),
        // An incomplete character at the end of the window is just the window's edge.
        Err(error) if error.error_len().is_none() => None,
        Err(error) => Some(error.valid_up_to()),
    };
    let Some(offset) = bad_at else {
        return Ok(());
    };
    let line = 1 + memchr::memchr_iter(b'\n', &prefix[..offset]).count() as u64;
    Err(ReadError::fatal(
        source_name,
        format!(
            "input is not UTF-8 or UTF-16 text (byte 0x{:02x}); save it as UTF-8",
            prefix[offset]
        ),
    )
    .at(line, None))
}

/// Decides the shape from the decoded prefix.
pub(crate) fn detect(source_name: &str, prepared: &Prepared) -> Result<Shape, ReadError> {
    let text = trim_start(&prepared.prefix);
    let Some(&first) = text.first() else {
        return Ok(Shape::Empty);
    };
    match first {
        b'<' => Err(markup_error(source_name, text)),
        b'{' | b'[' => Ok(detect_json(text, prepared.complete)),
        _ => detect_csv(&prepared.prefix).ok_or_else(|| {
            let line = first_line(text);
            let shown: String = String::from_utf8_lossy(line).chars().take(60).collect();
            ReadError::fatal(
                source_name,
                format!("input is not message trace data: it starts with {shown:?}"),
            )
            .at(1, None)
        }),
    }
}

/// The reason an input starting with `<` is refused: usually a sign-in page or an IIS error
/// page that a proxy or an expired session returned with status 200.
pub(crate) fn markup_error(source_name: &str, text: &[u8]) -> ReadError {
    let head = String::from_utf8_lossy(&text[..text.len().min(256)]).to_ascii_lowercase();
    let message = if head.starts_with("<?xml") || head.starts_with("<feed") {
        "input is XML (an OData Atom feed?), not message trace data; request JSON"
    } else {
        "input is an HTML page, not message trace data"
    };
    ReadError::fatal(source_name, message).at(1, Some(1))
}

/// Whether a detected shape must be refused whatever format was asked for.
pub(crate) fn starts_with_markup(prefix: &[u8]) -> bool {
    trim_start(prefix).first() == Some(&b'<')
}

fn trim_start(text: &[u8]) -> &[u8] {
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    &text[start..]
}

fn first_line(text: &[u8]) -> &[u8] {
    let end = memchr::memchr(b'\n', text).unwrap_or(text.len());
    let line = &text[..end];
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One complete JSON value on the first line, and more to come, is NDJSON. Anything else
/// (pretty-printed, a single long line, a lone page) goes to the streaming document reader,
/// which also copes with a lone record or a lone page line.
fn detect_json(text: &[u8], complete: bool) -> Shape {
    let line = first_line(text);
    let first_line_complete = serde_json::from_slice::<IgnoredAny>(line).is_ok();
    let lone_line = complete && trim_start(&text[line.len()..]).is_empty();
    let format = document_format(text);
    // A lone line holding a page is a page document; a lone record line is still NDJSON.
    if first_line_complete && !(lone_line && format.is_some()) {
        return Shape::Ndjson;
    }
    Shape::Document(format.unwrap_or_else(|| naming_format(text)))
}

/// Labels a JSON document by its envelope key; `None` when it does not start with one.
fn document_format(text: &[u8]) -> Option<Format> {
    let first_key = text
        .strip_prefix(b"{")
        .map(trim_start)
        .and_then(|rest| rest.strip_prefix(b"\""))
        .and_then(|rest| memchr::memchr(b'"', rest).map(|end| &rest[..end]));
    match first_key? {
        b"odata.metadata" | b"odata.nextLink" | b"odata.count" => Some(Format::ReportingJson),
        b"@odata.context" | b"@odata.nextLink" | b"@odata.count" => Some(Format::GraphJson),
        b"d" => Some(Format::ReportingVerbose),
        b"value" | b"error" => Some(naming_format(text)),
        _ => None,
    }
}

/// Labels JSON without a telling envelope key by its field names.
fn naming_format(text: &[u8]) -> Format {
    if memchr::memmem::find(text, b"\"receivedDateTime\"").is_some() {
        Format::GraphJson
    } else if memchr::memmem::find(text, b"/Date(").is_some() {
        Format::ReportingVerbose
    } else {
        Format::ReportingJson
    }
}

/// A CSV header (after an optional `#TYPE` line) naming message trace columns.
fn detect_csv(prefix: &[u8]) -> Option<Shape> {
    let (header, skip) = csv_header(prefix);
    let header = std::str::from_utf8(header).ok()?;
    dialect_of_header(header).map(|format| Shape::Csv(format, skip))
}

/// The header line and how many bytes precede it (a PowerShell 5 `#TYPE ...` line).
pub(crate) fn csv_header(prefix: &[u8]) -> (&[u8], usize) {
    let line = first_line(prefix);
    if line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"#type") {
        let skip = memchr::memchr(b'\n', prefix).map_or(prefix.len(), |end| end + 1);
        return (first_line(&prefix[skip..]), skip);
    }
    (line, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(text: &str) -> Result<Shape, ReadError> {
        let prepared = prepare("t", Box::new(Cursor::new(text.as_bytes().to_vec())))?;
        detect("t", &prepared)
    }

    #[test]
    fn json_shapes() {
        assert!(matches!(shape("{\"a\":1}\n{\"a\":2}\n"), Ok(Shape::Ndjson)));
        assert!(matches!(
            shape("{\"odata.metadata\":\"x\",\"value\":[]}\n"),
            Ok(Shape::Document(Format::ReportingJson))
        ));
        assert!(matches!(
            shape("{\n \"@odata.context\": \"x\",\n \"value\": []\n}"),
            Ok(Shape::Document(Format::GraphJson))
        ));
        assert!(matches!(
            shape("{\"d\":{\"results\":[\n"),
            Ok(Shape::Document(Format::ReportingVerbose))
        ));
        assert!(matches!(shape("  \n"), Ok(Shape::Empty)));
    }

    #[test]
    fn csv_shapes() {
        assert!(matches!(
            shape("#TYPE Deserialized.Foo\n\"Received\",\"RecipientAddress\"\n"),
            Ok(Shape::Csv(Format::ExportCsv, 23))
        ));
        assert!(matches!(
            shape("Date (UTC),Sender,Recipient,Subject,Status\r\n"),
            Ok(Shape::Csv(Format::EacCsv, 0))
        ));
        assert!(matches!(
            shape("origin_timestamp_utc,sender_address,recipient_status\n"),
            Ok(Shape::Csv(Format::EacCsv, 0))
        ));
    }

    #[test]
    fn non_trace_inputs_are_refused() {
        let message = |text: &str| shape(text).err().unwrap().to_string();
        assert_eq!(
            message("<!DOCTYPE html><html><title>Sign in</title>"),
            "t:1:1: input is an HTML page, not message trace data"
        );
        assert!(message("<?xml version=\"1.0\"?><feed>").contains("XML"));
        assert!(message("hello,world\n").contains("not message trace data"));
        let latin1 = prepare(
            "t",
            Box::new(Cursor::new(b"Date,Recipient\ncaf\xe9\n".to_vec())),
        );
        assert!(latin1.err().unwrap().to_string().contains("0xe9"));
    }
}
