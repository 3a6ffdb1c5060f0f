//! NDJSON reader: one record object per line, the shape collectors and log shippers store.
//! A line may also hold a whole page (`{"odata.metadata":..,"value":[..]}`) or an array of
//! records; both are expanded in place.
//!
//! Lines are decoded straight out of the read buffer when they fit in it (the common case, no
//! copy). A line longer than `max_record_bytes` is skipped up to the next newline without
//! being buffered, so one runaway line cannot exhaust memory or cost the lines after it.

use std::collections::VecDeque;
use std::io::{self, BufRead};

use crate::record::Record;

use super::ReadOptions;
use super::decode::{Decoded, decode_json_record};
use super::error::{Position, ReadError};
use super::json_page::{expand_page, too_long};

type Item = Result<Record, ReadError>;

pub(crate) struct NdjsonReader<R> {
    reader: R,
    source_name: String,
    options: ReadOptions,
    line_number: u64,
    record_index: u64,
    /// Holds a line that spans read buffers.
    spill: Vec<u8>,
    pending: VecDeque<Item>,
    done: bool,
}

impl<R: BufRead> NdjsonReader<R> {
    pub(crate) fn new(reader: R, source_name: &str, options: ReadOptions) -> Self {
        NdjsonReader {
            reader,
            source_name: source_name.to_owned(),
            options,
            line_number: 0,
            record_index: 0,
            spill: Vec::new(),
            pending: VecDeque::new(),
            done: false,
        }
    }

    /// Reads and decodes one line. `Ok(None)` at end of input; `Ok(Some(None))` when the line
    /// produced nothing directly (blank, or expanded into `pending`).
    fn next_line(&mut self) -> io::Result<Option<Option<Item>>> {
        let buf = fill(&mut self.reader)?;
        if buf.is_empty() {
            return Ok(None);
        }
        self.line_number += 1;
        let mut line = LineContext {
            source_name: &self.source_name,
            options: &self.options,
            pending: &mut self.pending,
            record_index: &mut self.record_index,
            line_number: self.line_number,
        };
        if let Some(end) = memchr::memchr(b'\n', buf) {
            let item = line.decode(&buf[..end]);
            self.reader.consume(end + 1);
            return Ok(Some(item));
        }
        // The line continues past this buffer: gather it, unless it is over the limit.
        self.spill.clear();
        let limit = self.options.max_record_bytes;
        let mut oversized = false;
        loop {
            let buf = fill(&mut self.reader)?;
            if buf.is_empty() {
                break;
            }
            let (part, used) = match memchr::memchr(b'\n', buf) {
                Some(end) => (&buf[..end], end + 1),
                None => (buf, buf.len()),
            };
            if !oversized {
                if self.spill.len() + part.len() > limit {
                    oversized = true;
                    self.spill = Vec::new();
                } else {
                    self.spill.extend_from_slice(part);
                }
            }
            let at_end = used > part.len();
            self.reader.consume(used);
            if at_end {
                break;
            }
        }
        if oversized {
            let index = *line.record_index;
            *line.record_index += 1;
            return Ok(Some(Some(Err(too_long(&self.source_name, limit)
                .at(self.line_number, None)
                .record(index)))));
        }
        Ok(Some(line.decode(&self.spill)))
    }
}

/// Retries reads interrupted by signals, which a pipe on stdin can see.
fn fill<R: BufRead>(reader: &mut R) -> io::Result<&[u8]> {
    loop {
        match reader.fill_buf() {
            Ok(_) => break,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    reader.fill_buf()
}

/// What decoding one line needs, borrowed apart from the reader so the line can be decoded
/// while it still sits in the reader's buffer.
struct LineContext<'a> {
    source_name: &'a str,
    options: &'a ReadOptions,
    pending: &'a mut VecDeque<Item>,
    record_index: &'a mut u64,
    line_number: u64,
}

impl LineContext<'_> {
    fn decode(&mut self, line: &[u8]) -> Option<Item> {
        let first = line.iter().position(|b| !b.is_ascii_whitespace())?;
        let index = *self.record_index;
        *self.record_index += 1;
        let start = Position {
            line: self.line_number,
            column: 1,
        };
        if line[first] == b'[' {
            self.pending
                .extend(expand_page(line, self.source_name, self.options, start));
            return None;
        }
        match decode_json_record(line, self.options.organization.as_deref()) {
            Ok(Decoded::Record(record)) => Some(Ok(record)),
            Ok(Decoded::Page) => {
                self.pending
                    .extend(expand_page(line, self.source_name, self.options, start));
                None
            }
            Ok(Decoded::ApiError(message)) => Some(Err(ReadError::skipped(
                self.source_name,
                format!("line is an API error response, not a record: {message}"),
            )
            .at(self.line_number, Some(1 + first as u64))
            .record(index))),
            Err(error) => Some(Err(error
                .into_read_error(self.source_name, start)
                .record(index))),
        }
    }
}

impl<R: BufRead> Iterator for NdjsonReader<R> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            match self.next_line() {
                Ok(Some(Some(item))) => return Some(item),
                Ok(Some(None)) => {}
                Ok(None) => self.done = true,
                Err(error) => {
                    self.done = true;
                    return Some(Err(ReadError::io(&self.source_name, &error)));
                }
            }
        }
    }
}
