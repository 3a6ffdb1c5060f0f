//! Integration tests of the wire formats: every reader on realistic fixtures, broken inputs,
//! and write→read round trips for every writer.

#[path = "formats/broken.rs"]
mod broken;
#[path = "formats/dates.rs"]
mod dates;
#[path = "formats/perf.rs"]
mod perf;
#[path = "formats/read.rs"]
mod read;
#[path = "formats/roundtrip.rs"]
mod roundtrip;

use std::io::Cursor;

use mailscope_record::Record;
use mailscope_record::formats::{Format, ReadError, ReadOptions, open_reader};

/// Everything a reader produced, split into records and errors.
pub struct Outcome {
    pub format: Option<Format>,
    pub records: Vec<Record>,
    pub errors: Vec<ReadError>,
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap()
}

pub fn read_bytes_with(name: &str, bytes: Vec<u8>, options: ReadOptions) -> Outcome {
    let reader = open_reader(name, Box::new(Cursor::new(bytes)), options).unwrap();
    let format = reader.format();
    let (mut records, mut errors) = (Vec::new(), Vec::new());
    for item in reader {
        match item {
            Ok(record) => records.push(record),
            Err(error) => errors.push(error),
        }
    }
    Outcome {
        format,
        records,
        errors,
    }
}

pub fn read_bytes(name: &str, bytes: impl Into<Vec<u8>>) -> Outcome {
    read_bytes_with(name, bytes.into(), ReadOptions::default())
}

/// The error `open_reader` refuses the input with.
pub fn refused(bytes: impl Into<Vec<u8>>) -> ReadError {
    open_reader(
        "in",
        Box::new(Cursor::new(bytes.into())),
        ReadOptions::default(),
    )
    .unwrap_err()
}

pub fn utf16le(text: &str, bom: bool) -> Vec<u8> {
    let mut out = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}
