//! Reader for JSON documents: Reporting Web Service pages (`{"odata.metadata", "value": [..]}`,
//! verbose `{"d": {"results": [..]}}` and `{"d": [..]}`), Graph pages (`{"@odata.context",
//! "value": [..]}`), a top-level array of records (`ConvertTo-Json`), a bare record, and any
//! sequence of these (`cat page-*.json`).
//!
//! The record array is decoded element by element while the file streams, so a page of any
//! size needs memory for one record only, a truncated download keeps every complete record
//! before the cut, and an element with wrong types costs only that element.

use std::collections::VecDeque;
use std::io::BufRead;

use crate::record::Record;

use super::ReadOptions;
use super::decode::{Decoded, decode_json_record};
use super::error::{Position, ReadError};
use super::json_scan::{JsonScanner, ScanError, describe};

/// Keys that mark an object as a page envelope rather than a record when they come first.
const ENVELOPE_KEYS: &[&str] = &[
    "odata.metadata",
    "@odata.context",
    "odata.nextLink",
    "@odata.nextLink",
    "odata.count",
    "@odata.count",
    "value",
    "d",
    "results",
    "error",
];

/// Where the walk is inside the current document.
enum Frame {
    Object { first: bool },
    Array { first: bool, index: u64 },
}

type Item = Result<Record, ReadError>;

pub(crate) struct DocumentReader<R> {
    scanner: JsonScanner<R>,
    stack: Vec<Frame>,
    source_name: String,
    options: ReadOptions,
    pending: VecDeque<Item>,
    /// Objects at the top level are envelopes (used when re-reading a captured page).
    envelope_only: bool,
    /// Ordinal of top-level values that are records, for error messages.
    top_level_index: u64,
    done: bool,
}

impl<R: BufRead> DocumentReader<R> {
    pub(crate) fn new(reader: R, source_name: &str, options: ReadOptions) -> Self {
        Self::starting_at(reader, source_name, options, Position::START, false)
    }

    fn starting_at(
        reader: R,
        source_name: &str,
        options: ReadOptions,
        start: Position,
        envelope_only: bool,
    ) -> Self {
        let limit = options.max_record_bytes;
        DocumentReader {
            scanner: JsonScanner::new(reader, start, limit),
            stack: Vec::new(),
            source_name: source_name.to_owned(),
            options,
            pending: VecDeque::new(),
            envelope_only,
            top_level_index: 0,
            done: false,
        }
    }

    fn scan_error(&self, error: ScanError) -> ReadError {
        let at = self.scanner.position();
        let message = match error {
            ScanError::Io(error) => return ReadError::io(&self.source_name, &error),
            ScanError::Truncated => {
                "input ends inside a JSON document (truncated download?)".to_owned()
            }
            ScanError::Syntax(message) => format!("not valid JSON: {message}"),
        };
        ReadError::fatal(&self.source_name, message).at(at.line, Some(at.column))
    }

    /// One step of the walk: `Ok(Some)` yields an item, `Ok(None)` moved the walk on, `Err` is
    /// fatal.
    fn step(&mut self) -> Result<Option<Item>, ScanError> {
        let Some(frame) = self.stack.last_mut() else {
            return self.step_top_level();
        };
        match frame {
            Frame::Object { first } => {
                let was_first = std::mem::replace(first, false);
                let next = self
                    .scanner
                    .skip_whitespace()?
                    .ok_or(ScanError::Truncated)?;
                if next == b'}' {
                    self.scanner.bump()?;
                    self.stack.pop();
                    return Ok(None);
                }
                if !was_first {
                    self.scanner.expect(b',')?;
                }
                let key = self.scanner.read_key()?;
                self.scanner.expect(b':')?;
                self.member(&key)
            }
            Frame::Array { first, index } => {
                let was_first = std::mem::replace(first, false);
                let record_index = *index;
                let next = self
                    .scanner
                    .skip_whitespace()?
                    .ok_or(ScanError::Truncated)?;
                if next == b']' {
                    self.scanner.bump()?;
                    self.stack.pop();
                    return Ok(None);
                }
                if !was_first {
                    self.scanner.expect(b',')?;
                    self.scanner.skip_whitespace()?;
                }
                if let Some(Frame::Array { index, .. }) = self.stack.last_mut() {
                    *index += 1;
                }
                self.element(record_index)
            }
        }
    }

    fn step_top_level(&mut self) -> Result<Option<Item>, ScanError> {
        match self.scanner.skip_whitespace()? {
            None => {
                self.done = true;
                Ok(None)
            }
            Some(b'[') => {
                self.scanner.bump()?;
                self.stack.push(Frame::Array {
                    first: true,
                    index: 0,
                });
                Ok(None)
            }
            Some(b'{') if self.envelope_only => {
                self.scanner.bump()?;
                self.stack.push(Frame::Object { first: true });
                Ok(None)
            }
            Some(b'{') => self.top_level_object(),
            Some(byte) => Err(ScanError::Syntax(format!(
                "expected a JSON object or array, found {}",
                describe(byte)
            ))),
        }
    }

    /// A top-level object is a page if its first key says so; otherwise it is captured whole
    /// (bounded) and decoded as a record, or expanded if it turns out to be a page after all.
    fn top_level_object(&mut self) -> Result<Option<Item>, ScanError> {
        let start = self.scanner.position();
        self.scanner.start_capture();
        self.scanner.bump()?;
        if self.scanner.skip_whitespace()? == Some(b'}') {
            self.scanner.bump()?;
            self.scanner.take_capture();
            return Ok(None);
        }
        let key = self.scanner.read_key()?;
        if ENVELOPE_KEYS.contains(&key.as_str()) {
            self.scanner.take_capture();
            self.scanner.expect(b':')?;
            self.stack.push(Frame::Object { first: false });
            return self.member(&key);
        }
        self.scanner.scan_rest_of_container()?;
        let index = self.top_level_index;
        self.top_level_index += 1;
        Ok(self.decode_captured(start, index))
    }

    /// Handles the value of `key` in an envelope object.
    fn member(&mut self, key: &str) -> Result<Option<Item>, ScanError> {
        let next = self
            .scanner
            .skip_whitespace()?
            .ok_or(ScanError::Truncated)?;
        match (key, next) {
            ("value" | "results" | "d", b'[') => {
                self.scanner.bump()?;
                self.stack.push(Frame::Array {
                    first: true,
                    index: 0,
                });
            }
            ("d", b'{') => {
                self.scanner.bump()?;
                self.stack.push(Frame::Object { first: true });
            }
            ("error", _) => {
                let at = self.scanner.position();
                self.scanner.start_capture();
                self.scanner.scan_value()?;
                let body = self.scanner.take_capture().unwrap_or_default();
                let message = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|error| {
                        let message = error.get("message")?;
                        let text = message.get("value").unwrap_or(message).as_str()?;
                        Some(text.to_owned())
                    })
                    .unwrap_or_else(|| "no message".to_owned());
                self.done = true;
                return Ok(Some(Err(ReadError::fatal(
                    &self.source_name,
                    format!("input is an API error response, not message trace data: {message}"),
                )
                .at(at.line, Some(at.column)))));
            }
            _ => self.scanner.scan_value()?,
        }
        Ok(None)
    }

    fn element(&mut self, index: u64) -> Result<Option<Item>, ScanError> {
        let start = self.scanner.position();
        self.scanner.start_capture();
        self.scanner.scan_value()?;
        Ok(self.decode_captured(start, index))
    }

    /// `None` when the object was a page whose records went to `pending` (or an empty page).
    fn decode_captured(&mut self, start: Position, index: u64) -> Option<Item> {
        let Some(bytes) = self.scanner.take_capture() else {
            return Some(Err(too_long(
                &self.source_name,
                self.options.max_record_bytes,
            )
            .at(start.line, Some(start.column))
            .record(index)));
        };
        let organization = self.options.organization.as_deref();
        let item = match decode_json_record(&bytes, organization) {
            Ok(Decoded::Record(record)) => Ok(record),
            // Only one level: a page inside a page would let crafted input multiply buffers.
            Ok(Decoded::Page) if self.envelope_only => Err(ReadError::skipped(
                &self.source_name,
                "record is a page nested inside a page; skipped",
            )
            .at(start.line, Some(start.column))
            .record(index)),
            Ok(Decoded::Page) => {
                let nested = expand_page(&bytes, &self.source_name, &self.options, start);
                self.pending.extend(nested);
                return None;
            }
            Ok(Decoded::ApiError(message)) => {
                self.done = true;
                Err(ReadError::fatal(
                    &self.source_name,
                    format!("input is an API error response, not message trace data: {message}"),
                )
                .at(start.line, Some(start.column)))
            }
            Err(error) => Err(error
                .into_read_error(&self.source_name, start)
                .record(index)),
        };
        Some(item)
    }
}

/// Reads a page held in memory (an NDJSON line, a captured object) that starts at `start` in
/// the file, so positions in its errors are file positions.
pub(crate) fn expand_page(
    bytes: &[u8],
    source_name: &str,
    options: &ReadOptions,
    start: Position,
) -> Vec<Item> {
    DocumentReader::starting_at(bytes, source_name, options.clone(), start, true).collect()
}

pub(crate) fn too_long(source_name: &str, limit: usize) -> ReadError {
    ReadError::skipped(
        source_name,
        format!("record is longer than the limit of {limit} bytes; skipped"),
    )
}

impl<R: BufRead> Iterator for DocumentReader<R> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            match self.step() {
                Ok(Some(item)) => return Some(item),
                Ok(None) => {}
                Err(error) => {
                    self.done = true;
                    return Some(Err(self.scan_error(error)));
                }
            }
        }
    }
}
