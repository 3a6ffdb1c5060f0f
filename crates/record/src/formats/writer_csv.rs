//! CSV writers: the EAC summary columns (plus the fields the summary lacks, so a file we write
//! reads back whole) and PowerShell's `Export-Csv` shape (every value quoted, `Received` in the
//! en-US culture form, CRLF, optionally UTF-16LE with BOM).
//!
//! Subjects are written verbatim. Spreadsheet formula neutralisation (prefixing `=`/`+`/`@`)
//! would change the data and break round trips, so it is left to whoever opens the file.

use std::io::{self, Write};

use crate::record::Record;
use crate::time::{format_culture_time, format_trace_time};

use super::Format;
use super::encoding::Utf8ToUtf16Le;

const EAC_HEADER: [&str; 11] = [
    "Date (UTC)",
    "Sender",
    "Recipient",
    "Subject",
    "Status",
    "Message ID",
    "Message trace ID",
    "Size",
    "From IP",
    "To IP",
    "Organization",
];

const EXPORT_HEADER: [&str; 14] = [
    "Received",
    "SenderAddress",
    "RecipientAddress",
    "Subject",
    "Status",
    "ToIP",
    "FromIP",
    "Size",
    "MessageId",
    "MessageTraceId",
    "Organization",
    "StartDate",
    "EndDate",
    "Index",
];

/// The byte sink under the CSV writer: as is, or transcoded to UTF-16LE.
enum Target<W: Write> {
    Plain(W),
    Utf16(Utf8ToUtf16Le<W>),
}

impl<W: Write> Write for Target<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Target::Plain(out) => out.write(buf),
            Target::Utf16(out) => out.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Target::Plain(out) => out.flush(),
            Target::Utf16(out) => out.flush(),
        }
    }
}

pub(crate) struct CsvSink<W: Write> {
    format: Format,
    writer: csv::Writer<Target<W>>,
}

impl<W: Write> CsvSink<W> {
    pub(crate) fn new(format: Format, out: W, utf16le: bool) -> io::Result<Self> {
        let target = if utf16le {
            let mut out = Utf8ToUtf16Le::new(out);
            out.write_bom()?;
            Target::Utf16(out)
        } else {
            Target::Plain(out)
        };
        let quote_style = if format == Format::ExportCsv {
            csv::QuoteStyle::Always
        } else {
            csv::QuoteStyle::Necessary
        };
        let mut writer = csv::WriterBuilder::new()
            .quote_style(quote_style)
            .terminator(csv::Terminator::CRLF)
            .buffer_capacity(256 * 1024)
            .from_writer(target);
        if format == Format::ExportCsv {
            writer.write_record(EXPORT_HEADER)?;
        } else {
            writer.write_record(EAC_HEADER)?;
        }
        Ok(CsvSink { format, writer })
    }

    pub(crate) fn write(&mut self, record: &Record) -> io::Result<()> {
        let size = record.size.to_string();
        let optional = |value: &Option<String>| value.clone().unwrap_or_default();
        if self.format == Format::ExportCsv {
            let index = record.index.map(|i| i.to_string()).unwrap_or_default();
            self.writer.write_record([
                format_culture_time(record.received).as_str(),
                &record.sender_address,
                &record.recipient_address,
                &record.subject,
                record.status.as_str(),
                &optional(&record.to_ip),
                &optional(&record.from_ip),
                &size,
                &optional(&record.message_id),
                &record.message_trace_id,
                &record.organization,
                &optional(&record.start_date),
                &optional(&record.end_date),
                &index,
            ])?;
        } else {
            self.writer.write_record([
                format_trace_time(record.received).as_str(),
                &record.sender_address,
                &record.recipient_address,
                &record.subject,
                record.status.as_str(),
                &optional(&record.message_id),
                &record.message_trace_id,
                &size,
                &optional(&record.from_ip),
                &optional(&record.to_ip),
                &record.organization,
            ])?;
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> io::Result<W> {
        let target = self
            .writer
            .into_inner()
            .map_err(|error| io::Error::other(error.error().to_string()))?;
        match target {
            Target::Plain(mut out) => {
                out.flush()?;
                Ok(out)
            }
            Target::Utf16(out) => out.into_inner(),
        }
    }
}
