//! CSV reader for the two families of CSV users download:
//!
//! * `Get-MessageTraceV2 | Export-Csv`: columns named like the record (`Received`,
//!   `SenderAddress`, ...), all values quoted, `Received` in the machine's culture format,
//!   optionally preceded by PowerShell 5's `#TYPE` line (removed before this reader runs) and
//!   followed by `PSComputerName`-style columns (ignored).
//! * Exchange admin center downloads: the summary export (`Date`/`Date (UTC)`, `Sender`,
//!   `Recipient`, `Subject`, `Status`) and the enhanced summary report (`origin_timestamp_utc`,
//!   `sender_address`, `recipient_status`, ...), which lists every recipient of a message in
//!   one cell and so becomes one record per recipient.
//!
//! Headers are matched case-insensitively ignoring spaces, underscores and punctuation, so
//! `Date (UTC)`, `date_utc` and `DateUtc` are one column. Each bad row is reported with its
//! line and skipped.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::Read;

use crate::record::Record;

use super::eac::recipient_statuses;
use super::error::ReadError;
use super::fields::{WireRecord, is_guid, parse_integer};
use super::{Format, ReadOptions};

type Item = Result<Record, ReadError>;

/// The columns the reader understands, whichever dialect named them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Received,
    Sender,
    Recipient,
    RecipientStatus,
    Subject,
    Status,
    ToIp,
    FromIp,
    Size,
    MessageId,
    MessageTraceId,
    NetworkMessageId,
    Organization,
    StartDate,
    EndDate,
    Index,
}

const COLUMN_COUNT: usize = 16;

fn column_of(header: &str) -> Option<Column> {
    let name: String = header
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Some(match name.as_str() {
        "received" | "receiveddatetime" | "date" | "dateutc" | "origintimestamp"
        | "origintimestamputc" => Column::Received,
        "senderaddress" | "sender" => Column::Sender,
        "recipientaddress" | "recipient" => Column::Recipient,
        "recipientstatus" => Column::RecipientStatus,
        "subject" | "messagesubject" => Column::Subject,
        "status" => Column::Status,
        "toip" => Column::ToIp,
        "fromip" | "originalclientip" => Column::FromIp,
        "size" | "totalbytes" => Column::Size,
        "messageid" => Column::MessageId,
        "messagetraceid" => Column::MessageTraceId,
        "networkmessageid" => Column::NetworkMessageId,
        "organization" => Column::Organization,
        "startdate" => Column::StartDate,
        "enddate" => Column::EndDate,
        "index" => Column::Index,
        _ => return None,
    })
}

/// Recognizes a CSV header line: the dialect, if it names a time and a recipient column.
pub(crate) fn dialect_of_header(line: &str) -> Option<Format> {
    let columns: Vec<Column> = line.split([',', ';', '\t']).filter_map(column_of).collect();
    let has = |c: Column| columns.contains(&c);
    if !has(Column::Received) || !(has(Column::Recipient) || has(Column::RecipientStatus)) {
        return None;
    }
    let export_names = line.to_ascii_lowercase();
    if export_names.contains("recipientaddress") && export_names.contains("received") {
        Some(Format::ExportCsv)
    } else {
        Some(Format::EacCsv)
    }
}

pub(crate) struct CsvReader<R> {
    reader: csv::Reader<R>,
    columns: [Option<usize>; COLUMN_COUNT],
    header_len: usize,
    source_name: String,
    options: ReadOptions,
    /// Lines removed before the CSV reader saw the input (`#TYPE`).
    line_offset: u64,
    row_index: u64,
    row: csv::StringRecord,
    pending: VecDeque<Item>,
    done: bool,
}

impl<R: Read> CsvReader<R> {
    pub(crate) fn new(
        input: R,
        source_name: &str,
        options: ReadOptions,
        line_offset: u64,
    ) -> Result<Self, ReadError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut header = csv::StringRecord::new();
        let has_header = reader.read_record(&mut header).map_err(|error| {
            ReadError::fatal(source_name, format!("cannot read the CSV header: {error}"))
        })?;
        let mut columns = [None; COLUMN_COUNT];
        for (position, name) in header.iter().enumerate() {
            let name = name.trim_start_matches('\u{feff}');
            if let Some(column) = column_of(name) {
                columns[column as usize].get_or_insert(position);
            }
        }
        let have = |c: Column| columns[c as usize].is_some();
        if has_header
            && (!have(Column::Received)
                || !(have(Column::Recipient) || have(Column::RecipientStatus)))
        {
            let names: Vec<&str> = header.iter().take(20).collect();
            return Err(ReadError::fatal(
                source_name,
                format!(
                    "CSV header has no time and recipient columns (expected e.g. Received and \
                     RecipientAddress, or Date and Recipient): {}",
                    names.join(",")
                ),
            )
            .at(1 + line_offset, None));
        }
        Ok(CsvReader {
            reader,
            columns,
            header_len: header.len(),
            source_name: source_name.to_owned(),
            options,
            line_offset,
            row_index: 0,
            row: csv::StringRecord::new(),
            pending: VecDeque::new(),
            done: !has_header,
        })
    }

    fn field(&self, column: Column) -> Option<&str> {
        self.columns[column as usize].and_then(|i| self.row.get(i))
    }

    fn text(&self, column: Column) -> Option<Cow<'_, str>> {
        self.field(column).map(Cow::Borrowed)
    }

    fn integer(&self, column: Column, name: &str) -> Result<Option<i64>, String> {
        match self.field(column) {
            None => Ok(None),
            Some(text) => parse_integer(text)
                .map_err(|()| format!("\"{name}\" is not a whole number: {text:?}")),
        }
    }

    /// Decodes the current row: one item, or one per recipient of an enhanced summary row.
    fn decode_row(&self, line: u64, index: u64) -> Vec<Item> {
        let error = |message: String| {
            ReadError::skipped(&self.source_name, message)
                .at(line, None)
                .record(index)
        };
        if self.row.len() != self.header_len {
            let message = format!(
                "row has {} fields but the header has {}; skipped",
                self.row.len(),
                self.header_len
            );
            return vec![Err(error(message))];
        }
        let numbers = self
            .integer(Column::Size, "Size")
            .and_then(|size| Ok((size, self.integer(Column::Index, "Index")?)));
        let (size, record_index) = match numbers {
            Ok(numbers) => numbers,
            Err(message) => {
                return vec![Err(error(message))];
            }
        };
        let trace_id = self.text(Column::MessageTraceId).or_else(|| {
            self.field(Column::NetworkMessageId)
                .filter(|id| is_guid(id))
                .map(|id| Cow::Owned(id.trim().trim_matches(['{', '}']).to_ascii_lowercase()))
        });
        let wire = WireRecord {
            organization: self.text(Column::Organization),
            message_id: self.text(Column::MessageId),
            received: self.text(Column::Received),
            sender_address: self.text(Column::Sender),
            recipient_address: self.text(Column::Recipient),
            subject: self.text(Column::Subject),
            status: self.text(Column::Status),
            to_ip: self.text(Column::ToIp),
            from_ip: self.text(Column::FromIp),
            size,
            message_trace_id: trace_id,
            start_date: self.text(Column::StartDate),
            end_date: self.text(Column::EndDate),
            index: record_index,
            ..WireRecord::default()
        };
        let organization = self.options.organization.as_deref();
        let recipients_cell = self
            .field(Column::RecipientStatus)
            .filter(|_| wire.recipient_address.as_deref().is_none_or(str::is_empty));
        let Some(cell) = recipients_cell else {
            return vec![wire.into_record(organization).map_err(|e| error(e.message))];
        };
        let recipients = recipient_statuses(cell);
        if recipients.is_empty() {
            let message = "\"recipient_status\" names no recipient".to_owned();
            return vec![Err(error(message))];
        }
        let mut items = Vec::with_capacity(recipients.len());
        for (address, status) in recipients {
            let one = WireRecord {
                recipient_address: Some(Cow::Borrowed(address)),
                // The recipient's own events say more than any row-level status column.
                status: Some(Cow::Owned(status.as_str().to_owned())),
                organization: wire.organization.clone(),
                message_id: wire.message_id.clone(),
                received: wire.received.clone(),
                sender_address: wire.sender_address.clone(),
                subject: wire.subject.clone(),
                to_ip: wire.to_ip.clone(),
                from_ip: wire.from_ip.clone(),
                size: wire.size,
                message_trace_id: wire.message_trace_id.clone(),
                ..WireRecord::default()
            };
            items.push(one.into_record(organization).map_err(|e| error(e.message)));
        }
        items
    }
}

impl<R: Read> Iterator for CsvReader<R> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            let mut row = std::mem::take(&mut self.row);
            let read = self.reader.read_record(&mut row);
            self.row = row;
            let line = self.row.position().map_or(0, csv::Position::line) + self.line_offset;
            let index = self.row_index;
            match read {
                Ok(false) => self.done = true,
                Ok(true) => {
                    self.row_index += 1;
                    let items = self.decode_row(line, index);
                    self.pending.extend(items);
                }
                Err(error) => {
                    let fatal = matches!(error.kind(), csv::ErrorKind::Io(_));
                    self.done = fatal;
                    let line = error
                        .position()
                        .map_or(line, |p| p.line() + self.line_offset);
                    self.row_index += 1;
                    let mut report = ReadError::skipped(&self.source_name, csv_message(&error))
                        .at(line, None)
                        .record(index);
                    report.fatal = fatal;
                    return Some(Err(report));
                }
            }
        }
    }
}

fn csv_message(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Utf8 { err, .. } => {
            format!("field {} is not valid UTF-8; row skipped", err.field() + 1)
        }
        csv::ErrorKind::Io(error) => format!("cannot read input: {error}"),
        _ => format!("bad CSV row: {error}"),
    }
}
