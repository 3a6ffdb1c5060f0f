//! The new rows an ingest holds before writing them: encoded one after another in one byte
//! buffer per day, not as a boxed record with a dozen strings each. A row then costs its
//! bytes (about a third of a record's heap, allocator overhead included), a flush hands the
//! writer one buffer, and the writer decodes each row into one reused record — no
//! allocation per row on either thread, which made the allocator's locks and its
//! fragmentation the largest cost of an append.
//!
//! Encoding of a row (little-endian): `Received` as seconds i64 and nanoseconds u32, size
//! i64, index (flag u8 and i64), a status code u8 (followed by its text when the status is
//! not one of the known ones), then ten strings, each a u32 length and its UTF-8 bytes, an
//! absent optional one with length `u32::MAX`.

use chrono::DateTime;
use mailscope_record::{Record, Status};

use crate::error::{Error, Result};

const ABSENT: u32 = u32::MAX;
const OTHER_STATUS: u8 = u8::MAX;

/// Rows of one day, in arrival order; a superseded row stays in the bytes but is dead.
#[derive(Default)]
pub(super) struct RowBuffer {
    bytes: Vec<u8>,
    /// Where each row starts in `bytes`.
    starts: Vec<usize>,
    /// Each row's `Received` in nanoseconds, for sorting without decoding.
    received: Vec<i64>,
    alive: Vec<bool>,
}

impl RowBuffer {
    /// Encodes `record` and returns its index.
    pub(super) fn push(&mut self, record: &Record) -> u32 {
        let index = u32::try_from(self.starts.len()).unwrap_or(u32::MAX);
        self.starts.push(self.bytes.len());
        self.received
            .push(record.received.timestamp_nanos_opt().unwrap_or(i64::MAX));
        self.alive.push(true);
        let out = &mut self.bytes;
        out.extend_from_slice(&record.received.timestamp().to_le_bytes());
        out.extend_from_slice(&record.received.timestamp_subsec_nanos().to_le_bytes());
        out.extend_from_slice(&record.size.to_le_bytes());
        out.push(u8::from(record.index.is_some()));
        out.extend_from_slice(&record.index.unwrap_or(0).to_le_bytes());
        match status_code(&record.status) {
            Some(code) => out.push(code),
            None => {
                out.push(OTHER_STATUS);
                text(out, Some(record.status.as_str()));
            }
        }
        text(out, Some(&record.organization));
        text(out, record.message_id.as_deref());
        text(out, Some(&record.sender_address));
        text(out, Some(&record.recipient_address));
        text(out, Some(&record.subject));
        text(out, record.to_ip.as_deref());
        text(out, record.from_ip.as_deref());
        text(out, Some(&record.message_trace_id));
        text(out, record.start_date.as_deref());
        text(out, record.end_date.as_deref());
        index
    }

    /// Marks row `index` superseded.
    pub(super) fn remove(&mut self, index: u32) {
        if let Some(alive) = self.alive.get_mut(index as usize) {
            *alive = false;
        }
    }

    /// Bytes held.
    pub(super) fn len_bytes(&self) -> usize {
        self.bytes.len()
            + self.starts.len() * (std::mem::size_of::<usize>() + std::mem::size_of::<i64>() + 1)
    }

    /// Indices of the live rows, sorted by `Received` (stably: rows received at the same
    /// instant keep their arrival order).
    pub(super) fn live_in_received_order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.starts.len())
            .filter(|i| self.alive[*i])
            .filter_map(|i| u32::try_from(i).ok())
            .collect();
        order.sort_by_key(|i| self.received[*i as usize]);
        order
    }

    /// Decodes row `index` into `into`, reusing its strings.
    pub(super) fn decode(&self, index: u32, into: &mut Record) -> Result<()> {
        let start = *self
            .starts
            .get(index as usize)
            .ok_or_else(|| Error::Query(format!("buffered row {index} does not exist")))?;
        let mut reader = Reader {
            bytes: &self.bytes,
            at: start,
        };
        let seconds = reader.i64()?;
        let nanos = reader.u32()?;
        into.received = DateTime::from_timestamp(seconds, nanos)
            .ok_or_else(|| Error::Query("buffered row with an impossible time".into()))?;
        into.size = reader.i64()?;
        let has_index = reader.u8()? != 0;
        let index_value = reader.i64()?;
        into.index = has_index.then_some(index_value);
        let code = reader.u8()?;
        into.status = if code == OTHER_STATUS {
            Status::parse(reader.text()?.unwrap_or_default())
        } else {
            status_of(code)
        };
        reader.string(&mut into.organization)?;
        reader.optional(&mut into.message_id)?;
        reader.string(&mut into.sender_address)?;
        reader.string(&mut into.recipient_address)?;
        reader.string(&mut into.subject)?;
        reader.optional(&mut into.to_ip)?;
        reader.optional(&mut into.from_ip)?;
        reader.string(&mut into.message_trace_id)?;
        reader.optional(&mut into.start_date)?;
        reader.optional(&mut into.end_date)?;
        Ok(())
    }
}

/// A record to decode buffered rows into.
pub(super) fn empty_record() -> Record {
    Record {
        organization: String::new(),
        message_id: None,
        received: DateTime::UNIX_EPOCH,
        sender_address: String::new(),
        recipient_address: String::new(),
        subject: String::new(),
        status: Status::None,
        to_ip: None,
        from_ip: None,
        size: 0,
        message_trace_id: String::new(),
        start_date: None,
        end_date: None,
        index: None,
    }
}

const KNOWN: [Status; 8] = [
    Status::Delivered,
    Status::Failed,
    Status::Pending,
    Status::Expanded,
    Status::Quarantined,
    Status::FilteredAsSpam,
    Status::GettingStatus,
    Status::None,
];

fn status_code(status: &Status) -> Option<u8> {
    KNOWN
        .iter()
        .position(|known| known == status)
        .and_then(|code| u8::try_from(code).ok())
}

fn status_of(code: u8) -> Status {
    KNOWN
        .get(usize::from(code))
        .cloned()
        .unwrap_or(Status::None)
}

fn text(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(value) => {
            // A string longer than 4 GiB cannot come out of a bounded reader; cut, never wrap.
            let bytes = &value.as_bytes()[..value.len().min(ABSENT as usize - 1)];
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        None => out.extend_from_slice(&ABSENT.to_le_bytes()),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let bytes = self
            .bytes
            .get(self.at..self.at + n)
            .ok_or_else(|| Error::Query("buffered row cut short".into()))?;
        self.at += n;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(bytes))
    }

    fn i64(&mut self) -> Result<i64> {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(self.take(8)?);
        Ok(i64::from_le_bytes(bytes))
    }

    fn text(&mut self) -> Result<Option<&'a str>> {
        let len = self.u32()?;
        if len == ABSENT {
            return Ok(None);
        }
        let bytes = self.take(len as usize)?;
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| Error::Query("buffered row with a string that is not UTF-8".into()))
    }

    fn string(&mut self, into: &mut String) -> Result<()> {
        into.clear();
        into.push_str(self.text()?.unwrap_or_default());
        Ok(())
    }

    fn optional(&mut self, into: &mut Option<String>) -> Result<()> {
        match self.text()? {
            Some(value) => {
                let slot = into.get_or_insert_with(String::new);
                slot.clear();
                slot.push_str(value);
            }
            None => *into = None,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: Status, optional: bool) -> Record {
        let text = |s: &str| optional.then(|| s.to_owned());
        Record {
            organization: "contoso.com".into(),
            message_id: text("<a@b>"),
            received: DateTime::from_timestamp(1_790_000_000, 123_456_700).unwrap_or_default(),
            sender_address: "ä@contoso.com".into(),
            recipient_address: String::new(),
            subject: "Ünïcode ✓ \u{0} and \"quotes\"".into(),
            status,
            to_ip: text("2001:db8::1"),
            from_ip: text("192.0.2.1"),
            size: -5,
            message_trace_id: "6c4a1b0e-0000-0000-0000-000000000001".into(),
            start_date: text("2026-09-01T00:00:00Z"),
            end_date: None,
            index: optional.then_some(i64::MIN),
        }
    }

    #[test]
    fn rows_decode_to_the_records_pushed_into_a_reused_record() {
        let mut buffer = RowBuffer::default();
        let pushed = [
            record(Status::Delivered, true),
            record(Status::Other("Resolved".into()), false),
            record(Status::None, true),
            record(Status::GettingStatus, false),
        ];
        for r in &pushed {
            buffer.push(r);
        }
        let mut scratch = record(Status::Failed, true);
        for (i, expected) in pushed.iter().enumerate() {
            buffer.decode(i as u32, &mut scratch).unwrap();
            assert_eq!(&scratch, expected);
        }
        assert!(buffer.decode(9, &mut scratch).is_err());
    }

    #[test]
    fn live_rows_come_sorted_by_received_and_stably() {
        let mut buffer = RowBuffer::default();
        let at = |s: i64| {
            let mut r = record(Status::Delivered, true);
            r.received = DateTime::from_timestamp(s, 0).unwrap_or_default();
            r
        };
        for s in [5, 1, 5, 3, 1] {
            buffer.push(&at(s));
        }
        buffer.remove(3);
        assert_eq!(buffer.live_in_received_order(), vec![1, 4, 0, 2]);
    }

    #[test]
    fn a_cut_buffer_is_an_error_not_a_panic() {
        let mut buffer = RowBuffer::default();
        buffer.push(&record(Status::Delivered, true));
        buffer.bytes.truncate(buffer.bytes.len() - 3);
        let mut scratch = record(Status::Failed, true);
        assert!(buffer.decode(0, &mut scratch).is_err());
    }
}
