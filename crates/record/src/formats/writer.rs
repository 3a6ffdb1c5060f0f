//! Writers for every format. Each record is serialized and written as it comes (JSON through
//! serde_json, so attacker-chosen subjects are always escaped correctly; CSV through the csv
//! crate), so writing ten million records needs memory for one.
//!
//! Pages are written one record per line between the envelope's opening and closing lines,
//! which keeps large files greppable and diffable while remaining one valid JSON document.

use std::borrow::Cow;
use std::io::{self, BufWriter, Write};

use serde::Serialize;

use crate::record::Record;
use crate::time::{format_graph_time, format_odata_date, format_trace_time, parse_trace_time};

use super::Format;
use super::writer_csv::CsvSink;

const RWS_METADATA: &str =
    "https://reports.office365.com/ecp/ReportingWebService/Reporting.svc/$metadata#MessageTrace";
const RWS_ENTITY: &str =
    "https://reports.office365.com/ecp/ReportingWebService/Reporting.svc/MessageTrace";
const GRAPH_CONTEXT: &str =
    "https://graph.microsoft.com/v1.0/$metadata#admin/exchange/tracing/messageTraces";

/// How to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// CSV formats only: UTF-16LE with a BOM, as Windows PowerShell 5's `Export-Csv` writes.
    pub utf16le: bool,
}

/// A streaming writer: the envelope is opened by [`RecordWriter::new`], each
/// [`RecordWriter::write`] appends one record, and [`RecordWriter::finish`] closes it.
pub struct RecordWriter<W: Write> {
    format: Format,
    sink: Sink<W>,
    count: u64,
}

enum Sink<W: Write> {
    Json(BufWriter<W>),
    Csv(Box<CsvSink<W>>),
}

impl<W: Write> std::fmt::Debug for RecordWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter")
            .field("format", &self.format)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl<W: Write> RecordWriter<W> {
    pub fn new(format: Format, out: W) -> io::Result<Self> {
        Self::with_options(format, out, &WriteOptions::default())
    }

    pub fn with_options(format: Format, out: W, options: &WriteOptions) -> io::Result<Self> {
        let sink = match format {
            Format::EacCsv | Format::ExportCsv => {
                Sink::Csv(Box::new(CsvSink::new(format, out, options.utf16le)?))
            }
            _ => {
                let mut out = BufWriter::with_capacity(256 * 1024, out);
                match format {
                    Format::ReportingJson => write!(
                        out,
                        "{{\"odata.metadata\":{},\"value\":[",
                        json_string(RWS_METADATA)
                    )?,
                    Format::ReportingVerbose => out.write_all(b"{\"d\":{\"results\":[")?,
                    Format::GraphJson => write!(
                        out,
                        "{{\"@odata.context\":{},\"value\":[",
                        json_string(GRAPH_CONTEXT)
                    )?,
                    _ => {}
                }
                Sink::Json(out)
            }
        };
        Ok(RecordWriter {
            format,
            sink,
            count: 0,
        })
    }

    /// Records written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        match &mut self.sink {
            Sink::Csv(sink) => sink.write(record)?,
            Sink::Json(out) => {
                let paged = self.format != Format::Ndjson;
                if paged {
                    // Element separators go before each element so nothing trails the last.
                    out.write_all(if self.count == 0 { b"\n" } else { b",\n" })?;
                }
                match self.format {
                    Format::GraphJson => serde_json::to_writer(&mut *out, &graph(record))?,
                    Format::ReportingVerbose => {
                        serde_json::to_writer(&mut *out, &rws(record, Some(self.count)))?;
                    }
                    _ => serde_json::to_writer(&mut *out, &rws(record, None))?,
                }
                if !paged {
                    out.write_all(b"\n")?;
                }
            }
        }
        self.count += 1;
        Ok(())
    }

    /// Closes the envelope, flushes, and returns the output.
    pub fn finish(self) -> io::Result<W> {
        match self.sink {
            Sink::Csv(sink) => sink.finish(),
            Sink::Json(mut out) => {
                match self.format {
                    Format::ReportingJson | Format::GraphJson => out.write_all(b"\n]}\n")?,
                    Format::ReportingVerbose => out.write_all(b"\n]}}\n")?,
                    _ => {}
                }
                out.into_inner().map_err(io::IntoInnerError::into_error)
            }
        }
    }
}

/// Writes all `records` in `format`; returns how many.
pub fn write_records<'a>(
    format: Format,
    records: impl IntoIterator<Item = &'a Record>,
    out: &mut dyn Write,
) -> io::Result<u64> {
    write_records_with(format, &WriteOptions::default(), records, out)
}

pub fn write_records_with<'a>(
    format: Format,
    options: &WriteOptions,
    records: impl IntoIterator<Item = &'a Record>,
    out: &mut dyn Write,
) -> io::Result<u64> {
    let mut writer = RecordWriter::with_options(format, out, options)?;
    for record in records {
        writer.write(record)?;
    }
    let count = writer.count();
    writer.finish()?.flush()?;
    Ok(count)
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// `__metadata` of a verbose OData entry.
#[derive(Serialize)]
struct Metadata {
    id: String,
    uri: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// A record as the Reporting Web Service names it; `__metadata` only in verbose pages.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RwsRecord<'a> {
    #[serde(rename = "__metadata", skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata>,
    organization: &'a str,
    message_id: Option<&'a str>,
    received: String,
    sender_address: &'a str,
    recipient_address: &'a str,
    subject: &'a str,
    status: &'a str,
    #[serde(rename = "ToIP")]
    to_ip: Option<&'a str>,
    #[serde(rename = "FromIP")]
    from_ip: Option<&'a str>,
    size: i64,
    message_trace_id: &'a str,
    start_date: Option<Cow<'a, str>>,
    end_date: Option<Cow<'a, str>>,
    index: Option<i64>,
}

/// `verbose_index` is the entry's position, which verbose pages echo in `__metadata`; with it
/// dates are written in the `/Date(ms)/` form that shape uses.
fn rws(record: &Record, verbose_index: Option<u64>) -> RwsRecord<'_> {
    let verbose = verbose_index.is_some();
    RwsRecord {
        metadata: verbose_index.map(|index| Metadata {
            id: format!("{RWS_ENTITY}({index})"),
            uri: format!("{RWS_ENTITY}({index})"),
            kind: "TenantReporting.MessageTrace",
        }),
        organization: &record.organization,
        message_id: record.message_id.as_deref(),
        received: if verbose {
            format_odata_date(record.received)
        } else {
            format_trace_time(record.received)
        },
        sender_address: &record.sender_address,
        recipient_address: &record.recipient_address,
        subject: &record.subject,
        status: record.status.as_str(),
        to_ip: record.to_ip.as_deref(),
        from_ip: record.from_ip.as_deref(),
        size: record.size,
        message_trace_id: &record.message_trace_id,
        start_date: echo(record.start_date.as_deref(), verbose),
        end_date: echo(record.end_date.as_deref(), verbose),
        index: record.index,
    }
}

/// A query-window echo, in `/Date(ms)/` form for verbose pages when it is a readable time.
fn echo(date: Option<&str>, verbose: bool) -> Option<Cow<'_, str>> {
    let text = date?;
    if verbose && let Ok(t) = parse_trace_time(text) {
        return Some(Cow::Owned(format_odata_date(t)));
    }
    Some(Cow::Borrowed(text))
}

/// A record as Graph's `exchangeMessageTrace` names it. Graph writes blank IPs as `""`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GraphRecord<'a> {
    id: &'a str,
    sender_address: &'a str,
    recipient_address: &'a str,
    message_id: Option<&'a str>,
    received_date_time: String,
    subject: &'a str,
    size: i64,
    #[serde(rename = "fromIP")]
    from_ip: &'a str,
    #[serde(rename = "toIP")]
    to_ip: &'a str,
    status: String,
}

fn graph(record: &Record) -> GraphRecord<'_> {
    GraphRecord {
        id: &record.message_trace_id,
        sender_address: &record.sender_address,
        recipient_address: &record.recipient_address,
        message_id: record.message_id.as_deref(),
        received_date_time: format_graph_time(record.received),
        subject: &record.subject,
        size: record.size,
        from_ip: record.from_ip.as_deref().unwrap_or(""),
        to_ip: record.to_ip.as_deref().unwrap_or(""),
        status: record.status.as_graph_str(),
    }
}
