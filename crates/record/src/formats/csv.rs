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
//!
//! Slash dates are in the exporting machine's culture: `03/04/2026` is 4 March in en-US and
//! 3 April in en-GB. The order is decided once per file — given (`--date-format`), or shown by
//! the first date whose day is above 12 — and every row is read in it; a row that cannot be
//! read in it is reported. Rows are held from the first ambiguous date until a date decides;
//! a file that never decides is an error naming the column and both readings, never a guess.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};

use crate::record::Record;
use crate::time::{DateOrder, format_trace_time, parse_trace_time_in, slash_date_numbers};

use super::eac::recipient_statuses;
use super::error::ReadError;
use super::fields::{WireRecord, canonical_guid, parse_integer};
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

/// Rows held, at most, while the file's slash-date order is unknown; more is an error.
pub const UNDECIDED_ROWS: usize = 100_000;

/// How the file's slash dates are read.
#[derive(Debug, Clone)]
enum Order {
    /// Given by the caller.
    Given(DateOrder),
    /// Shown by the date at this line (its text kept for messages).
    Shown(DateOrder, u64, String),
    /// Not known yet; the first ambiguous date seen, if any (line, text).
    Unknown(Option<(u64, String)>),
}

impl Order {
    fn known(&self) -> Option<DateOrder> {
        match self {
            Order::Given(order) | Order::Shown(order, ..) => Some(*order),
            Order::Unknown(_) => None,
        }
    }
}

/// Where lines start, for the rows' line numbers. The csv crate's positions are not lines a
/// user can find: with CRLF endings, as every Windows export has, it reports the line of the
/// row before (rust-csv#395), and a row's start position comes before the blank lines it
/// skipped. So lines are counted here from the bytes it reads: the offsets of the newlines
/// read ahead of the row being decoded (at most a read buffer's worth), and how many came
/// before.
#[derive(Debug, Default)]
struct Lines {
    before: u64,
    /// The last newline counted in `before`.
    last: Option<u64>,
    ahead: VecDeque<u64>,
    read: u64,
}

impl Lines {
    /// Counts the newlines before `offset` (offsets must not decrease).
    fn pass(&mut self, offset: u64, inclusive: bool) {
        while let Some(&newline) = self.ahead.front() {
            if newline > offset || (newline == offset && !inclusive) {
                break;
            }
            self.ahead.pop_front();
            self.before += 1;
            self.last = Some(newline);
        }
    }

    /// The line of the last byte of a row whose reading ended at `end`: the csv crate has
    /// consumed its terminator's first byte (`\n`, or the `\r` of a CRLF) or the input ended.
    fn last_line_of_row_ending_at(&mut self, end: u64) -> u64 {
        self.pass(end, false);
        let ended_by_newline = end > 0 && self.last == Some(end - 1);
        self.before + 1 - u64::from(ended_by_newline)
    }

    /// The line a csv position points into, counting a newline right at it as passed (after a
    /// CRLF the crate points at the `\n` it has not consumed yet).
    fn line_at(&mut self, offset: u64) -> u64 {
        self.pass(offset, true);
        self.before + 1
    }
}

/// The input, with its newlines noted in [`Lines`].
struct Counting<R> {
    inner: R,
    lines: Arc<Mutex<Lines>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let count = self.inner.read(buffer)?;
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let start = lines.read;
        lines.ahead.extend(
            buffer[..count]
                .iter()
                .enumerate()
                .filter(|(_, byte)| **byte == b'\n')
                .map(|(at, _)| start + at as u64),
        );
        lines.read += count as u64;
        Ok(count)
    }
}

pub(crate) struct CsvReader<R> {
    reader: csv::Reader<Counting<R>>,
    lines: Arc<Mutex<Lines>>,
    columns: [Option<usize>; COLUMN_COUNT],
    /// The header's name of the time column, as messages quote it.
    received_header: String,
    order: Order,
    /// Rows read after an ambiguous date while the order is unknown: line, index, row.
    held: VecDeque<(u64, u64, csv::StringRecord)>,
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
        let lines = Arc::new(Mutex::new(Lines::default()));
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(Counting {
                inner: input,
                lines: Arc::clone(&lines),
            });
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
        let received_header = columns[Column::Received as usize]
            .and_then(|i| header.get(i))
            .map_or_else(
                || "Received".to_owned(),
                |h| h.trim_start_matches('\u{feff}').to_owned(),
            );
        let order = options
            .date_order
            .map_or(Order::Unknown(None), Order::Given);
        Ok(CsvReader {
            reader,
            lines,
            columns,
            received_header,
            order,
            held: VecDeque::new(),
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

    /// The file's line of a position the csv crate gives (of an error).
    fn line_of(&self, position: &csv::Position) -> u64 {
        let offset = position.byte();
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines.line_at(offset) + self.line_offset
    }

    /// The file's line where the row just read starts: the line of its end, less the newlines
    /// inside its quoted cells.
    fn first_line_of_row(&self) -> u64 {
        let end = self.reader.position().byte();
        let inside: u64 = self
            .row
            .iter()
            .map(|cell| cell.bytes().filter(|b| *b == b'\n').count() as u64)
            .sum();
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let last = lines.last_line_of_row_ending_at(end);
        last.saturating_sub(inside).max(1) + self.line_offset
    }

    fn field(&self, column: Column) -> Option<&str> {
        self.columns[column as usize].and_then(|i| self.row.get(i))
    }

    fn text(&self, column: Column) -> Option<Cow<'_, str>> {
        self.field(column).map(Cow::Borrowed)
    }

    /// The time cell, a slash date rewritten in ISO form as the file's order reads it.
    fn received(&self) -> Result<Option<Cow<'_, str>>, String> {
        let Some(text) = self.field(Column::Received) else {
            return Ok(None);
        };
        if slash_date_numbers(text).is_none() {
            return Ok(Some(Cow::Borrowed(text)));
        }
        let order = self.order.known();
        match parse_trace_time_in(text, order) {
            Ok(time) => Ok(Some(Cow::Owned(format_trace_time(time)))),
            Err(_) => Err(match (&self.order, order) {
                (Order::Shown(_, line, shown), Some(order)) => format!(
                    "\"{}\" {text:?} is not a {order} date, the order line {line} ({shown:?}) \
                     shows this file uses; skipped",
                    self.received_header
                ),
                (_, Some(order)) => format!(
                    "\"{}\" {text:?} is not a {order} date, the date format given; skipped",
                    self.received_header
                ),
                (_, None) => format!("\"{}\" is not a date: {text:?}", self.received_header),
            }),
        }
    }

    /// Learns the file's order from the current row's time; true when the row must be held
    /// because its date is ambiguous and the order is still unknown.
    fn learn_order(&mut self, line: u64) -> bool {
        let Order::Unknown(seen) = &self.order else {
            return false;
        };
        let seen = seen.is_some();
        let columns = self.columns;
        let Some(text) = columns[Column::Received as usize].and_then(|i| self.row.get(i)) else {
            return seen;
        };
        let Some((first, second)) = slash_date_numbers(text) else {
            return seen;
        };
        let shown = match (first > 12, second > 12) {
            (true, false) => Some(DateOrder::DayFirst),
            (false, true) => Some(DateOrder::MonthFirst),
            // Both above 12 is no date; the row is reported when it is decoded.
            _ => None,
        };
        if let Some(order) = shown {
            self.order = Order::Shown(order, line, text.trim().to_owned());
            return false;
        }
        if first != second && first <= 12 && second <= 12 && !seen {
            self.order = Order::Unknown(Some((line, text.trim().to_owned())));
            return true;
        }
        seen
    }

    /// The error for a file whose slash dates never show their order.
    fn ambiguous_error(&self, line: u64, text: &str, held: usize) -> ReadError {
        let reading = |order: DateOrder| {
            parse_trace_time_in(text, Some(order)).map_or_else(
                |_| "no date".to_owned(),
                |t| t.format("%-d %B %Y").to_string(),
            )
        };
        let scope = if held >= UNDECIDED_ROWS {
            format!("none of the {UNDECIDED_ROWS} rows after it")
        } else {
            "no date in the file".to_owned()
        };
        ReadError::fatal(
            &self.source_name,
            format!(
                "column \"{}\": {text:?} is {} as {} or {} as {}, and {scope} tells which; \
                 nothing of this file was read: give the date format (--date-format MM/dd/yyyy \
                 or dd/MM/yyyy; date_format= over HTTP)",
                self.received_header,
                reading(DateOrder::MonthFirst),
                DateOrder::MonthFirst,
                reading(DateOrder::DayFirst),
                DateOrder::DayFirst,
            ),
        )
        .at(line, None)
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
        let received = match self.received() {
            Ok(received) => received,
            Err(message) => return vec![Err(error(message))],
        };
        let trace_id = self.text(Column::MessageTraceId).or_else(|| {
            self.field(Column::NetworkMessageId)
                .and_then(canonical_guid)
                .map(Cow::Owned)
        });
        let wire = WireRecord {
            organization: self.text(Column::Organization),
            message_id: self.text(Column::MessageId),
            received,
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
                if let Order::Unknown(Some((line, text))) = &self.order
                    && !self.held.is_empty()
                {
                    let error = self.ambiguous_error(*line, text, self.held.len());
                    self.held.clear();
                    return Some(Err(error));
                }
                return None;
            }
            let mut row = std::mem::take(&mut self.row);
            let read = self.reader.read_record(&mut row);
            self.row = row;
            let index = self.row_index;
            match read {
                Ok(false) => self.done = true,
                Ok(true) => {
                    let line = self.first_line_of_row();
                    self.row_index += 1;
                    if self.learn_order(line) {
                        self.held.push_back((line, index, self.row.clone()));
                        if self.held.len() > UNDECIDED_ROWS
                            && let Order::Unknown(Some((line, text))) = &self.order
                        {
                            let error = self.ambiguous_error(*line, text, UNDECIDED_ROWS);
                            self.held.clear();
                            self.done = true;
                            return Some(Err(error));
                        }
                        continue;
                    }
                    // The order is known (or no date needed it): the rows held wait no longer.
                    let current = std::mem::take(&mut self.row);
                    while let Some((line, index, held)) = self.held.pop_front() {
                        self.row = held;
                        let items = self.decode_row(line, index);
                        self.pending.extend(items);
                    }
                    self.row = current;
                    let items = self.decode_row(line, index);
                    self.pending.extend(items);
                }
                Err(error) => {
                    let fatal = matches!(error.kind(), csv::ErrorKind::Io(_));
                    self.done = fatal;
                    let line = match error.position() {
                        Some(position) => self.line_of(position),
                        None => self.first_line_of_row(),
                    };
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
