//! Message trace timestamps: ISO 8601 with 0-9 fraction digits, with or without `Z` or an
//! offset, the OData verbose `/Date(ms)/` form, and the culture forms that PowerShell and the
//! Exchange admin center write into CSV exports. Parsing is hand-written rather than going
//! through chrono's format strings because it sits on the NDJSON hot path (one call per record).

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc};

/// Why a timestamp could not be read. The offending text is kept (shortened) so the message
/// can name it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("not a date: {0:?}")]
    Unrecognized(String),
    #[error("date out of range: {0:?}")]
    OutOfRange(String),
}

impl TimeError {
    /// The text that failed to parse, as quoted in the message.
    pub fn text(&self) -> &str {
        match self {
            TimeError::Unrecognized(text) | TimeError::OutOfRange(text) => text,
        }
    }
}

/// What went wrong inside the parsers, before the text is attached.
enum Problem {
    Shape,
    Range,
}

/// Error messages quote the input; an attacker-sized value must not become a megabyte message.
const QUOTED_MAX_CHARS: usize = 64;

/// Which number of a slash date (`03/04/2026`) is the month. A CSV export writes the
/// exporting machine's culture: en-US puts the month first, en-GB, fr-FR and most others the
/// day. Dotted dates (`24.11.2026`) are always day first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOrder {
    /// `MM/dd/yyyy` (en-US, PowerShell's default culture).
    MonthFirst,
    /// `dd/MM/yyyy`.
    DayFirst,
}

impl DateOrder {
    /// The pattern as users know it from their culture settings.
    pub fn pattern(self) -> &'static str {
        match self {
            DateOrder::MonthFirst => "MM/dd/yyyy",
            DateOrder::DayFirst => "dd/MM/yyyy",
        }
    }
}

impl std::fmt::Display for DateOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.pattern())
    }
}

impl std::str::FromStr for DateOrder {
    type Err = String;

    /// `MM/dd/yyyy` or `dd/MM/yyyy` (single letters and any case accepted), or `month-first`
    /// / `day-first`.
    fn from_str(text: &str) -> Result<Self, String> {
        let lower = text.trim().to_ascii_lowercase();
        match lower.as_str() {
            "mm/dd/yyyy" | "m/d/yyyy" | "month-first" => Ok(DateOrder::MonthFirst),
            "dd/mm/yyyy" | "d/m/yyyy" | "day-first" => Ok(DateOrder::DayFirst),
            _ => Err(format!(
                "unknown date format {:?}: expected MM/dd/yyyy (month first) or dd/MM/yyyy \
                 (day first)",
                text.chars().take(QUOTED_MAX_CHARS).collect::<String>()
            )),
        }
    }
}

/// The first two numbers of a slash date (`11/24/2026 3:10 PM` gives `(11, 24)`), or none for
/// any other form. Which is the month is what [`DateOrder`] decides.
pub fn slash_date_numbers(text: &str) -> Option<(u32, u32)> {
    let mut c = Cursor::new(text.trim().as_bytes());
    let first = c.number(1, 2).ok()?;
    if !c.eat(b'/') {
        return None;
    }
    let second = c.number(1, 2).ok()?;
    c.eat(b'/').then_some((first, second))
}

/// Parses every timestamp form seen in message trace data. Text without a zone is UTC (the
/// Reporting Web Service omits the `Z` on some rows; exports are documented as UTC).
///
/// Slash dates are read month first (`11/24/2026`, en-US, PowerShell's default culture) unless
/// the first number cannot be a month, then day first (`24/11/2026`). A reader that knows the
/// file's order passes it to [`parse_trace_time_in`] instead (the CSV reader decides it once
/// per file).
pub fn parse_trace_time(text: &str) -> Result<DateTime<Utc>, TimeError> {
    parse_trace_time_in(text, None)
}

/// [`parse_trace_time`] with slash dates read in the given order: a date that cannot be read
/// in it (`11/24/2026` day first) is out of range.
pub fn parse_trace_time_in(
    text: &str,
    order: Option<DateOrder>,
) -> Result<DateTime<Utc>, TimeError> {
    let trimmed = text.trim();
    let bytes = trimmed.as_bytes();
    let result = match bytes.first() {
        Some(b'/' | b'\\') => parse_odata(bytes),
        _ if bytes.len() >= 10 && bytes[4] == b'-' => parse_iso(bytes),
        _ => parse_culture(bytes, order),
    };
    result.map_err(|problem| {
        let quoted: String = trimmed.chars().take(QUOTED_MAX_CHARS).collect();
        match problem {
            Problem::Shape => TimeError::Unrecognized(quoted),
            Problem::Range => TimeError::OutOfRange(quoted),
        }
    })
}

/// The Reporting Web Service form: 7 fraction digits (100 ns ticks) and `Z`, e.g.
/// `2022-09-05T18:10:13.4907658Z`. Precision below 100 ns is dropped, as the service has none.
pub fn format_trace_time(t: DateTime<Utc>) -> String {
    // A leap second is stored as nanos >= 1e9; clamp so the fraction stays 7 digits.
    let ticks = (t.nanosecond() / 100).min(9_999_999);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        ticks
    )
}

/// The OData verbose form `/Date(1658751973240)/` (milliseconds since the epoch, UTC).
pub fn format_odata_date(t: DateTime<Utc>) -> String {
    format!("/Date({})/", t.timestamp_millis())
}

/// Graph's `receivedDateTime` form: milliseconds and `Z`, e.g. `2025-11-29T14:22:31.109Z`.
pub fn format_graph_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// PowerShell's en-US `DateTime.ToString()`: `11/24/2026 3:10:12 PM` (whole seconds).
pub fn format_culture_time(t: DateTime<Utc>) -> String {
    let (pm, hour12) = t.hour12();
    format!(
        "{}/{}/{:04} {}:{:02}:{:02} {}",
        t.month(),
        t.day(),
        t.year(),
        hour12,
        t.minute(),
        t.second(),
        if pm { "PM" } else { "AM" }
    )
}

/// A byte cursor with the few primitives the three grammars need.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_any(&mut self, options: &[u8]) -> Option<u8> {
        let byte = self.peek().filter(|b| options.contains(b))?;
        self.pos += 1;
        Some(byte)
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// Reads `min..=max` ASCII digits; returns the value and how many were read.
    fn digits(&mut self, min: usize, max: usize) -> Result<(u64, usize), Problem> {
        let start = self.pos;
        let mut value: u64 = 0;
        while self.pos - start < max {
            match self.peek() {
                Some(byte @ b'0'..=b'9') => {
                    value = value * 10 + u64::from(byte - b'0');
                    self.pos += 1;
                }
                _ => break,
            }
        }
        let count = self.pos - start;
        if count < min {
            return Err(Problem::Shape);
        }
        Ok((value, count))
    }

    fn number(&mut self, min: usize, max: usize) -> Result<u32, Problem> {
        let (value, _) = self.digits(min, max)?;
        u32::try_from(value).map_err(|_| Problem::Range)
    }

    fn done(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

/// `.` or `,` followed by 1-9 digits, as nanoseconds.
fn fraction(cursor: &mut Cursor) -> Result<u32, Problem> {
    if cursor.eat_any(b".,").is_none() {
        return Ok(0);
    }
    let (value, count) = cursor.digits(1, 9)?;
    let scale = 10u64.pow(u32::try_from(9 - count).map_err(|_| Problem::Shape)?);
    u32::try_from(value * scale).map_err(|_| Problem::Range)
}

fn build(
    (year, month, day): (u32, u32, u32),
    (hour, minute, second, nanos): (u32, u32, u32, u32),
    offset_seconds: i64,
) -> Result<DateTime<Utc>, Problem> {
    let year = i32::try_from(year).map_err(|_| Problem::Range)?;
    let naive = NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|date| date.and_hms_nano_opt(hour, minute, second, nanos))
        .ok_or(Problem::Range)?;
    let utc = naive
        .checked_sub_signed(TimeDelta::seconds(offset_seconds))
        .ok_or(Problem::Range)?;
    Ok(utc.and_utc())
}

/// `2022-09-05T18:10:13.4907658`, optional `Z` or `±hh:mm`/`±hhmm`; a space may replace `T`
/// and seconds may be missing.
fn parse_iso(bytes: &[u8]) -> Result<DateTime<Utc>, Problem> {
    let mut c = Cursor::new(bytes);
    let year = c.number(4, 4)?;
    let date = |c: &mut Cursor| -> Result<(u32, u32), Problem> {
        if !c.eat(b'-') {
            return Err(Problem::Shape);
        }
        let month = c.number(2, 2)?;
        if !c.eat(b'-') {
            return Err(Problem::Shape);
        }
        Ok((month, c.number(2, 2)?))
    };
    let (month, day) = date(&mut c)?;
    if c.eat_any(b"Tt ").is_none() {
        return Err(Problem::Shape);
    }
    let (hour, minute, second, nanos) = clock(&mut c)?;
    c.skip_spaces();
    let offset = match c.peek() {
        None => 0,
        Some(b'Z' | b'z') => {
            c.pos += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            c.pos += 1;
            let hours = c.number(2, 2)?;
            c.eat(b':');
            let minutes = c.number(2, 2)?;
            if hours > 23 || minutes > 59 {
                return Err(Problem::Range);
            }
            let seconds = i64::from(hours * 3600 + minutes * 60);
            if sign == b'-' { -seconds } else { seconds }
        }
        Some(_) => return Err(Problem::Shape),
    };
    if !c.done() {
        return Err(Problem::Shape);
    }
    build((year, month, day), (hour, minute, second, nanos), offset)
}

/// `h:mm[:ss[.fffffff]]`, one or two hour digits.
fn clock(c: &mut Cursor) -> Result<(u32, u32, u32, u32), Problem> {
    let hour = c.number(1, 2)?;
    if !c.eat(b':') {
        return Err(Problem::Shape);
    }
    let minute = c.number(2, 2)?;
    let (second, nanos) = if c.eat(b':') {
        (c.number(2, 2)?, fraction(c)?)
    } else {
        (0, 0)
    };
    Ok((hour, minute, second, nanos))
}

/// `/Date(1658751973240)/`, `/Date(1658751973240+0000)/`, and the JSON-escaped `\/Date(..)\/`
/// when a CSV or a double-encoded string carries it verbatim. The milliseconds are UTC; the
/// offset only says which zone the server displayed, so it does not move the instant.
fn parse_odata(bytes: &[u8]) -> Result<DateTime<Utc>, Problem> {
    let mut c = Cursor::new(bytes);
    c.eat(b'\\');
    for &expected in b"/Date(" {
        if !c.eat(expected) {
            return Err(Problem::Shape);
        }
    }
    let negative = c.eat(b'-');
    let (millis, _) = c.digits(1, 18)?;
    if c.eat_any(b"+-").is_some() {
        c.digits(4, 4)?;
    }
    if !c.eat(b')') {
        return Err(Problem::Shape);
    }
    c.eat(b'\\');
    if !c.eat(b'/') || !c.done() {
        return Err(Problem::Shape);
    }
    let millis = i64::try_from(millis).map_err(|_| Problem::Range)?;
    DateTime::from_timestamp_millis(if negative { -millis } else { millis }).ok_or(Problem::Range)
}

/// `11/24/2026 3:10:12 PM`, `11/24/2026 15:10:12` (en-US) and `24.11.2026 15:10:12` (de-DE and
/// other dotted cultures).
fn parse_culture(bytes: &[u8], order: Option<DateOrder>) -> Result<DateTime<Utc>, Problem> {
    let mut c = Cursor::new(bytes);
    let first = c.number(1, 2)?;
    let separator = c.eat_any(b"/.").ok_or(Problem::Shape)?;
    let second = c.number(1, 2)?;
    if !c.eat(separator) {
        return Err(Problem::Shape);
    }
    let year = c.number(4, 4)?;
    let day_first = match (separator, order) {
        (b'.', _) => true,
        (_, Some(order)) => order == DateOrder::DayFirst,
        (_, None) => first > 12,
    };
    let (month, day) = if day_first {
        (second, first)
    } else {
        (first, second)
    };
    c.skip_spaces();
    if c.done() {
        return Err(Problem::Shape);
    }
    let (mut hour, minute, sec, nanos) = clock(&mut c)?;
    c.skip_spaces();
    if let Some(marker) = c.eat_any(b"AaPp") {
        if c.eat_any(b"Mm").is_none() || hour == 0 || hour > 12 {
            return Err(Problem::Shape);
        }
        let pm = marker.eq_ignore_ascii_case(&b'p');
        hour = match (pm, hour) {
            (false, 12) => 0,
            (true, 12) => 12,
            (true, h) => h + 12,
            (false, h) => h,
        };
    }
    c.skip_spaces();
    if c.eat_any(b"Zz").is_none() {
        // "UTC" is sometimes appended by scripts that convert before exporting.
        if c.eat(b'U') && !(c.eat(b'T') && c.eat(b'C')) {
            return Err(Problem::Shape);
        }
    }
    if !c.done() {
        return Err(Problem::Shape);
    }
    build((year, month, day), (hour, minute, sec, nanos), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> String {
        format_trace_time(parse_trace_time(text).unwrap())
    }

    #[test]
    fn iso_with_any_fraction_and_zone() {
        assert_eq!(
            at("2022-09-05T18:10:13.4907658"),
            "2022-09-05T18:10:13.4907658Z"
        );
        assert_eq!(
            at("2022-09-05T18:10:13.4907658Z"),
            "2022-09-05T18:10:13.4907658Z"
        );
        assert_eq!(
            at("2022-10-21T17:25:36.969376Z"),
            "2022-10-21T17:25:36.9693760Z"
        );
        assert_eq!(
            at("2025-11-29T14:22:31.109Z"),
            "2025-11-29T14:22:31.1090000Z"
        );
        assert_eq!(at("2022-10-21T09:40:10Z"), "2022-10-21T09:40:10.0000000Z");
        assert_eq!(
            at("2022-10-21T09:40:10.123456789Z"),
            "2022-10-21T09:40:10.1234567Z"
        );
        assert_eq!(at("2022-10-21t09:40:10.5z"), "2022-10-21T09:40:10.5000000Z");
        assert_eq!(at(" 2022-10-21T09:40Z "), "2022-10-21T09:40:00.0000000Z");
    }

    #[test]
    fn iso_offsets_are_converted_to_utc() {
        assert_eq!(
            at("2022-10-21T11:40:10+02:00"),
            "2022-10-21T09:40:10.0000000Z"
        );
        assert_eq!(
            at("2022-10-21T04:40:10-0500"),
            "2022-10-21T09:40:10.0000000Z"
        );
        assert_eq!(
            at("2022-10-21T09:40:10.1+00:00"),
            "2022-10-21T09:40:10.1000000Z"
        );
    }

    #[test]
    fn odata_dates_with_and_without_offset() {
        assert_eq!(at("/Date(1658751973240)/"), "2022-07-25T12:26:13.2400000Z");
        assert_eq!(
            at("/Date(1658751973240+0000)/"),
            "2022-07-25T12:26:13.2400000Z"
        );
        assert_eq!(
            at("/Date(1658751973240+0200)/"),
            "2022-07-25T12:26:13.2400000Z"
        );
        assert_eq!(
            at("\\/Date(1658751973240)\\/"),
            "2022-07-25T12:26:13.2400000Z"
        );
        assert_eq!(at("/Date(-1000)/"), "1969-12-31T23:59:59.0000000Z");
    }

    #[test]
    fn culture_forms_from_csv_exports() {
        assert_eq!(at("11/24/2026 3:10:12 PM"), "2026-11-24T15:10:12.0000000Z");
        assert_eq!(at("11/24/2026 12:10:12 AM"), "2026-11-24T00:10:12.0000000Z");
        assert_eq!(at("11/24/2026 12:10:12 pm"), "2026-11-24T12:10:12.0000000Z");
        assert_eq!(at("11/24/2026 15:10:12"), "2026-11-24T15:10:12.0000000Z");
        assert_eq!(at("2026-11-24 15:10:12"), "2026-11-24T15:10:12.0000000Z");
        assert_eq!(at("24.11.2026 15:10:12"), "2026-11-24T15:10:12.0000000Z");
        assert_eq!(at("24/11/2026 15:10"), "2026-11-24T15:10:00.0000000Z");
        assert_eq!(at("1/2/2026 9:05:00 AM"), "2026-01-02T09:05:00.0000000Z");
    }

    #[test]
    fn garbage_is_rejected_with_the_text() {
        for text in [
            "",
            "yesterday",
            "2022-09-05",
            "2022-09-05T18",
            "2022-09-05T18:10:13.",
            "2022-09-05T18:10:13Zjunk",
            "2022-09-05T18:10:13.1234567890Z",
            "/Date(abc)/",
            "/Date(123",
            "11/24/2026",
            "11/24/2026 13:10:12 PM",
            "11-24-2026 3:10:12",
            "99999999999999999999",
        ] {
            let error = parse_trace_time(text).unwrap_err();
            assert!(
                matches!(error, TimeError::Unrecognized(_)),
                "{text}: {error}"
            );
        }
        assert_eq!(
            parse_trace_time("yesterday").unwrap_err().to_string(),
            "not a date: \"yesterday\""
        );
    }

    #[test]
    fn impossible_dates_are_out_of_range() {
        for text in [
            "2022-13-05T18:10:13Z",
            "2022-02-30T18:10:13Z",
            "2022-02-10T25:10:13Z",
            "2022-02-10T10:10:13+24:00",
            "13/13/2026 10:00:00",
            "/Date(999999999999999999)/",
        ] {
            let error = parse_trace_time(text).unwrap_err();
            assert!(matches!(error, TimeError::OutOfRange(_)), "{text}: {error}");
        }
    }

    #[test]
    fn long_garbage_is_quoted_shortened() {
        let text = "x".repeat(10_000);
        assert_eq!(parse_trace_time(&text).unwrap_err().text().len(), 64);
    }

    #[test]
    fn other_output_forms() {
        let t = parse_trace_time("2026-11-24T15:10:12.3456789Z").unwrap();
        assert_eq!(format_odata_date(t), "/Date(1795533012345)/");
        assert_eq!(format_graph_time(t), "2026-11-24T15:10:12.345Z");
        assert_eq!(format_culture_time(t), "11/24/2026 3:10:12 PM");
        assert_eq!(at(&format_culture_time(t)), "2026-11-24T15:10:12.0000000Z");
        assert_eq!(at(&format_odata_date(t)), "2026-11-24T15:10:12.3450000Z");
    }
}
