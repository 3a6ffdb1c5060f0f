//! Wire formats of the canonical record.
//!
//! Reading: [`open_reader`] detects the format from the first bytes (after any BOM, UTF-16
//! included) and returns a streaming iterator of records; [`open_reader_as`] forces one.
//! Readers never hold more than one record (or one NDJSON line) in memory, report each bad
//! record with its position and go on, and stop only on a fatal error.
//!
//! Writing: [`RecordWriter`] streams records in any [`Format`]; [`write_records`] is the
//! one-call form.

mod csv;
mod decode;
mod detect;
mod eac;
mod encoding;
mod error;
mod fast;
mod fields;
mod json_page;
mod json_scan;
mod ndjson;
mod writer;
mod writer_csv;

use std::fmt;
use std::io::{BufReader, Read};
use std::str::FromStr;

use crate::record::Record;

pub use csv::UNDECIDED_ROWS;
pub use error::ReadError;
pub use fields::{canonical_guid, synthesize_trace_id};
pub use writer::{RecordWriter, WriteOptions, write_records, write_records_with};

use detect::{Shape, csv_header, detect, markup_error, prepare, starts_with_markup};

/// Every shape message trace data comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// One record object per line (a line may also hold a whole page).
    Ndjson,
    /// Reporting Web Service JSON light page: `{"odata.metadata": .., "value": [..]}`.
    ReportingJson,
    /// Reporting Web Service verbose OData: `{"d": {"results": [..]}}` or `{"d": [..]}`,
    /// with `/Date(ms)/` timestamps.
    ReportingVerbose,
    /// Microsoft Graph page: `{"@odata.context": .., "value": [..]}`, camelCase fields.
    GraphJson,
    /// Exchange admin center downloads (summary export, enhanced summary report).
    EacCsv,
    /// `Get-MessageTraceV2 | Export-Csv`.
    ExportCsv,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Ndjson,
        Format::ReportingJson,
        Format::ReportingVerbose,
        Format::GraphJson,
        Format::EacCsv,
        Format::ExportCsv,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::ReportingJson => "reporting-json",
            Format::ReportingVerbose => "reporting-verbose",
            Format::GraphJson => "graph-json",
            Format::EacCsv => "eac-csv",
            Format::ExportCsv => "export-csv",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is not one of [`Format::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown format {0:?}; expected one of ndjson, reporting-json, reporting-verbose, \
     graph-json, eac-csv, export-csv"
)]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|format| format.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| UnknownFormat(name.to_owned()))
    }
}

/// How to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// Fills `Organization` for records that have none (Graph has no such field).
    pub organization: Option<String>,
    /// Longest single record (an NDJSON line or one JSON object) accepted; a longer one is
    /// reported and skipped without being buffered.
    pub max_record_bytes: usize,
    /// How CSV slash dates are read; none decides per file from its dates.
    pub date_order: Option<crate::time::DateOrder>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            organization: None,
            max_record_bytes: 16 * 1024 * 1024,
            date_order: None,
        }
    }
}

/// Read buffer: large enough that nearly every NDJSON line is decoded in place.
const READ_BUFFER: usize = 1024 * 1024;

type Items = Box<dyn Iterator<Item = Result<Record, ReadError>> + Send>;

/// A streaming reader of records. Bad records come out as non-fatal errors between the good
/// ones; a fatal error is the last item.
pub struct RecordReader {
    format: Option<Format>,
    items: Items,
    finished: bool,
}

impl fmt::Debug for RecordReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordReader")
            .field("format", &self.format)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl RecordReader {
    /// The detected (or forced) format; `None` for an empty input.
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    fn empty(format: Option<Format>) -> Self {
        RecordReader {
            format,
            items: Box::new(std::iter::empty()),
            finished: true,
        }
    }
}

impl Iterator for RecordReader {
    type Item = Result<Record, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let item = self.items.next();
        match &item {
            None => self.finished = true,
            Some(Err(error)) if error.fatal => self.finished = true,
            Some(_) => {}
        }
        item
    }
}

/// Opens `input`, detecting its encoding and format. `source_name` (a file name, `-`, a URL)
/// prefixes every error. Fails at once for inputs that are not message trace data (HTML, XML,
/// binary, an unknown CSV header); an empty input gives an empty reader.
pub fn open_reader(
    source_name: &str,
    input: Box<dyn Read + Send>,
    options: ReadOptions,
) -> Result<RecordReader, ReadError> {
    let prepared = prepare(source_name, input)?;
    let shape = detect(source_name, &prepared)?;
    let (format, skip) = match shape {
        Shape::Empty => return Ok(RecordReader::empty(None)),
        Shape::Ndjson => (Format::Ndjson, 0),
        Shape::Document(format) => (format, 0),
        Shape::Csv(format, skip) => (format, skip),
    };
    build(format, source_name, prepared, skip, options)
}

/// Opens `input` as `format`, still handling BOMs and UTF-16 and still refusing HTML.
pub fn open_reader_as(
    format: Format,
    source_name: &str,
    input: Box<dyn Read + Send>,
    options: ReadOptions,
) -> Result<RecordReader, ReadError> {
    let prepared = prepare(source_name, input)?;
    if starts_with_markup(&prepared.prefix) {
        return Err(markup_error(
            source_name,
            prepared.prefix.trim_ascii_start(),
        ));
    }
    if prepared.prefix.trim_ascii().is_empty() && prepared.complete {
        return Ok(RecordReader::empty(Some(format)));
    }
    let skip = match format {
        Format::EacCsv | Format::ExportCsv => csv_header(&prepared.prefix).1,
        _ => 0,
    };
    build(format, source_name, prepared, skip, options)
}

fn build(
    format: Format,
    source_name: &str,
    prepared: detect::Prepared,
    skip: usize,
    options: ReadOptions,
) -> Result<RecordReader, ReadError> {
    let skipped_lines = u64::from(skip > 0);
    let text = prepared.into_reader(skip);
    let items: Items = match format {
        Format::Ndjson => Box::new(ndjson::NdjsonReader::new(
            BufReader::with_capacity(READ_BUFFER, text),
            source_name,
            options,
        )),
        Format::ReportingJson | Format::ReportingVerbose | Format::GraphJson => {
            Box::new(json_page::DocumentReader::new(
                BufReader::with_capacity(READ_BUFFER, text),
                source_name,
                options,
            ))
        }
        Format::EacCsv | Format::ExportCsv => Box::new(csv::CsvReader::new(
            text,
            source_name,
            options,
            skipped_lines,
        )?),
    };
    Ok(RecordReader {
        format: Some(format),
        items,
        finished: false,
    })
}
