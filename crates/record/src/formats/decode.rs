//! Turns the bytes of one JSON object into a record, or says precisely why not: serde's type
//! errors keep their position inside the object, and a bad field value is pointed at by
//! locating its key, so every message can carry a file line and column.

use crate::record::Record;

use super::error::{Position, ReadError};
use super::fast::parse_flat;
use super::fields::{WireRecord, json_keys, locate_value};

/// What one JSON object turned out to be.
// Boxing the record would cost an allocation per record on the hot path; the rare variants
// being small does not matter for a value that is matched once and dropped.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Decoded {
    Record(Record),
    /// A whole page (`value`/`d`); the caller expands it.
    Page,
    /// An API error body; the message is the service's.
    ApiError(String),
}

/// A decoding failure, positioned relative to the start of the object's bytes.
pub(crate) struct DecodeError {
    pub(crate) message: String,
    pub(crate) position: Option<Position>,
}

impl DecodeError {
    /// The same error as a reader error, for an object that starts at `start` in the file.
    pub(crate) fn into_read_error(self, source_name: &str, start: Position) -> ReadError {
        let at = start.offset_by(self.position.unwrap_or(Position::START));
        ReadError::skipped(source_name, self.message).at(at.line, Some(at.column))
    }
}

pub(crate) fn decode_json_record(
    bytes: &[u8],
    organization: Option<&str>,
) -> Result<Decoded, DecodeError> {
    let wire: WireRecord = match parse_flat(bytes) {
        Some(wire) => wire,
        None => serde_json::from_slice(bytes).map_err(|error| serde_error(bytes, &error))?,
    };
    if let Some(message) = wire.api_error() {
        return Ok(Decoded::ApiError(message));
    }
    if wire.is_page() {
        return Ok(Decoded::Page);
    }
    wire.into_record(organization)
        .map(Decoded::Record)
        .map_err(|error| DecodeError {
            position: locate_value(bytes, json_keys(error.field))
                .map(|offset| Position::START.advanced(bytes, offset)),
            message: error.message,
        })
}

fn serde_error(bytes: &[u8], error: &serde_json::Error) -> DecodeError {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if error.is_data() && first != Some(&b'{') {
        return DecodeError {
            message: "record is not a JSON object".to_owned(),
            position: Some(Position::START),
        };
    }
    let mut message = error.to_string();
    // serde appends " at line L column C"; the position is reported separately, in file terms.
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    if error.is_eof() {
        message = format!("record is incomplete: {message}");
    } else if error.is_syntax() {
        message = format!("record is not valid JSON: {message}");
    }
    DecodeError {
        message,
        position: (error.line() > 0).then(|| Position {
            line: error.line() as u64,
            column: error.column().max(1) as u64,
        }),
    }
}
