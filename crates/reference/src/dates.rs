//! `formatDate` and `parseDate` with Java `SimpleDateFormat` letters: `y M d H h k K m s S
//! E a z Z X D u`, text in single quotes (`''` is a quote). Any other ASCII letter makes
//! the pattern invalid (null). Numbers are zero-padded on the left to the letter count, as
//! Java does (`SSSS` of 123 ms is `0123`).
//!
//! Parsing is strict: the whole (trimmed) text must match, fields must be in range; a field
//! the pattern lacks takes its value from 1970-01-01 00:00:00.000. Without a zone in the
//! pattern the text is a local time of the zone: a time skipped by a DST change is read one
//! hour later, an ambiguous one as the earlier instant.

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone, Timelike};
use chrono_tz::Tz;

pub const DEFAULT_PATTERN: &str = "MM/dd/yyyy HH:mm:ss";

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Field(char, usize),
    Literal(String),
}

const LETTERS: &str = "yMdHhkKmsSEazZXDu";

fn tokens(pattern: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                out.push(Token::Literal("'".into()));
                i += 2;
                continue;
            }
            let mut text = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        text.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                text.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(Token::Literal(text));
        } else if c.is_ascii_alphabetic() {
            if !LETTERS.contains(c) {
                return None;
            }
            let mut count = 0;
            while chars.get(i) == Some(&c) {
                count += 1;
                i += 1;
            }
            out.push(Token::Field(c, count));
        } else {
            out.push(Token::Literal(c.to_string()));
            i += 1;
        }
    }
    Some(out)
}

fn padded(value: i64, count: usize) -> String {
    if value < 0 {
        format!("-{:0count$}", -value)
    } else {
        format!("{value:0count$}")
    }
}

/// An offset as `+hhmm`, or `+hh:mm` with `colon`, or `+hh` with `hours_only`.
fn offset_text(seconds: i32, colon: bool, hours_only: bool) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.abs() / 60;
    let (h, m) = (minutes / 60, minutes % 60);
    if hours_only {
        format!("{sign}{h:02}")
    } else if colon {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}")
    }
}

/// `ms` since the epoch shown in `tz` with a Java pattern; `None` for an invalid pattern.
pub fn format(ms: i64, pattern: &str, tz: Tz) -> Option<String> {
    let time: DateTime<Tz> = tz.timestamp_millis_opt(ms).single()?;
    let offset = time.offset().fix().local_minus_utc();
    let mut out = String::new();
    for token in tokens(pattern)? {
        let (letter, count) = match token {
            Token::Literal(text) => {
                out.push_str(&text);
                continue;
            }
            Token::Field(letter, count) => (letter, count),
        };
        let number = |v: u32| padded(i64::from(v), count);
        let text = match letter {
            'y' if count == 2 => padded(i64::from(time.year()).rem_euclid(100), 2),
            'y' => padded(i64::from(time.year()), count),
            'M' if count >= 4 => MONTHS[time.month0() as usize].to_string(),
            'M' if count == 3 => MONTHS[time.month0() as usize][..3].to_string(),
            'M' => number(time.month()),
            'd' => number(time.day()),
            'D' => number(time.ordinal()),
            'H' => number(time.hour()),
            'k' => number(if time.hour() == 0 { 24 } else { time.hour() }),
            'K' => number(time.hour() % 12),
            'h' => number(if time.hour().is_multiple_of(12) {
                12
            } else {
                time.hour() % 12
            }),
            'm' => number(time.minute()),
            's' => number(time.second()),
            'S' => number(time.timestamp_subsec_millis()),
            'E' if count >= 4 => DAYS[time.weekday().num_days_from_monday() as usize].to_string(),
            'E' => DAYS[time.weekday().num_days_from_monday() as usize][..3].to_string(),
            'u' => number(time.weekday().number_from_monday()),
            'a' => if time.hour() < 12 { "AM" } else { "PM" }.to_string(),
            'z' => time.format("%Z").to_string(),
            'Z' => offset_text(offset, false, false),
            'X' if offset == 0 => "Z".to_string(),
            'X' => offset_text(offset, count >= 3, count == 1),
            _ => return None,
        };
        out.push_str(&text);
    }
    Some(out)
}

/// The fields read from a text.
#[derive(Default)]
struct Parsed {
    year: Option<i32>,
    two_digit_year: bool,
    month: Option<u32>,
    day: Option<u32>,
    day_of_year: Option<u32>,
    hour: Option<u32>,
    /// `h`/`K` (12-hour clock) and the AM/PM marker.
    hour12: Option<u32>,
    pm: Option<bool>,
    minute: Option<u32>,
    second: Option<u32>,
    millis: Option<u32>,
    offset: Option<i32>,
}

/// Reads a run of digits: exactly `count` when the next token is a field too (adjacent
/// numbers), else all of them.
fn digits(text: &[char], at: &mut usize, exact: Option<usize>) -> Option<i64> {
    let start = *at;
    let limit = exact.map_or(text.len(), |n| (start + n).min(text.len()));
    let mut end = start;
    if end < limit && (text[end] == '-' || text[end] == '+') && exact.is_none() {
        end += 1;
    }
    while end < limit && text[end].is_ascii_digit() {
        end += 1;
    }
    let run: String = text[start..end].iter().collect();
    if exact.is_some_and(|n| run.len() != n) {
        return None;
    }
    *at = end;
    run.parse().ok()
}

/// One of `names` (or its first three letters) at `at`, case-insensitively; its index.
fn name(text: &[char], at: &mut usize, names: &[&str]) -> Option<usize> {
    let rest: String = text[*at..].iter().collect::<String>().to_lowercase();
    let mut best: Option<(usize, usize)> = None;
    for (index, full) in names.iter().enumerate() {
        for candidate in [full.to_lowercase(), full[..3].to_lowercase()] {
            if rest.starts_with(&candidate) && best.is_none_or(|(_, len)| candidate.len() > len) {
                best = Some((index, candidate.chars().count()));
            }
        }
    }
    let (index, length) = best?;
    *at += length;
    Some(index)
}

/// A zone offset: `Z`, `±hh`, `±hhmm`, `±hh:mm`, or (for `z`) `UTC`/`GMT` optionally
/// followed by an offset.
fn zone_offset(text: &[char], at: &mut usize) -> Option<i32> {
    let rest: String = text[*at..].iter().collect();
    for prefix in ["UTC", "GMT", "Z"] {
        if rest.starts_with(prefix) {
            *at += prefix.len();
            if prefix != "Z" && matches!(text.get(*at), Some('+' | '-')) {
                return zone_offset(text, at);
            }
            return Some(0);
        }
    }
    let sign = match text.get(*at) {
        Some('+') => 1,
        Some('-') => -1,
        _ => return None,
    };
    *at += 1;
    let hours = digits(text, at, Some(2))?;
    if text.get(*at) == Some(&':') {
        *at += 1;
    }
    let minutes = if text.get(*at).is_some_and(char::is_ascii_digit) {
        digits(text, at, Some(2))?
    } else {
        0
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours as i32 * 3600 + minutes as i32 * 60))
}

/// `text` read with a Java pattern: milliseconds since the epoch.
pub fn parse(text: &str, pattern: &str, tz: Tz, now_year: i32) -> Option<i64> {
    let tokens = tokens(pattern)?;
    let text: Vec<char> = text.trim().chars().collect();
    let mut at = 0;
    let mut parsed = Parsed::default();
    for (index, token) in tokens.iter().enumerate() {
        let (letter, count) = match token {
            Token::Literal(literal) => {
                for c in literal.chars() {
                    if text.get(at) != Some(&c) {
                        return None;
                    }
                    at += 1;
                }
                continue;
            }
            Token::Field(letter, count) => (*letter, *count),
        };
        let adjacent = matches!(tokens.get(index + 1), Some(Token::Field(..)));
        let exact = adjacent.then_some(count);
        let small = |v: i64| u32::try_from(v).ok();
        match letter {
            'y' => {
                let start = at;
                let year = digits(&text, &mut at, exact)?;
                parsed.two_digit_year = count <= 2 && at - start == 2;
                parsed.year = Some(i32::try_from(year).ok()?);
            }
            'M' if count >= 3 => parsed.month = Some(name(&text, &mut at, &MONTHS)? as u32 + 1),
            'M' => parsed.month = small(digits(&text, &mut at, exact)?),
            'd' => parsed.day = small(digits(&text, &mut at, exact)?),
            'D' => parsed.day_of_year = small(digits(&text, &mut at, exact)?),
            'H' => parsed.hour = small(digits(&text, &mut at, exact)?),
            'k' => {
                parsed.hour =
                    small(digits(&text, &mut at, exact)?).map(|h| if h == 24 { 0 } else { h })
            }
            'h' => {
                parsed.hour12 =
                    small(digits(&text, &mut at, exact)?).map(|h| if h == 12 { 0 } else { h })
            }
            'K' => parsed.hour12 = small(digits(&text, &mut at, exact)?),
            'm' => parsed.minute = small(digits(&text, &mut at, exact)?),
            's' => parsed.second = small(digits(&text, &mut at, exact)?),
            'S' => parsed.millis = small(digits(&text, &mut at, exact)?),
            'E' => {
                name(&text, &mut at, &DAYS)?;
            }
            'u' => {
                digits(&text, &mut at, exact)?;
            }
            'a' => {
                let marker: String = text.get(at..at + 2)?.iter().collect();
                parsed.pm = Some(match marker.to_ascii_uppercase().as_str() {
                    "AM" => false,
                    "PM" => true,
                    _ => return None,
                });
                at += 2;
            }
            'z' | 'Z' | 'X' => parsed.offset = Some(zone_offset(&text, &mut at)?),
            _ => return None,
        }
    }
    if at != text.len() {
        return None;
    }
    resolve(&parsed, tz, now_year)
}

fn resolve(parsed: &Parsed, tz: Tz, now_year: i32) -> Option<i64> {
    let mut year = parsed.year.unwrap_or(1970);
    if parsed.two_digit_year {
        // Java: within 80 years before and 20 years after now.
        let century = (now_year - 80).div_euclid(100) * 100;
        year += century;
        if year < now_year - 80 {
            year += 100;
        }
    }
    let date = match (parsed.day_of_year, parsed.month, parsed.day) {
        (Some(ordinal), None, None) => NaiveDate::from_yo_opt(year, ordinal)?,
        _ => NaiveDate::from_ymd_opt(year, parsed.month.unwrap_or(1), parsed.day.unwrap_or(1))?,
    };
    let hour = match (parsed.hour, parsed.hour12, parsed.pm) {
        (Some(h), _, _) => h,
        (None, Some(h), pm) if h < 12 => h + if pm == Some(true) { 12 } else { 0 },
        (None, Some(_), _) => return None,
        (None, None, Some(true)) => 12,
        (None, None, _) => 0,
    };
    let time = date.and_hms_milli_opt(
        hour,
        parsed.minute.unwrap_or(0),
        parsed.second.unwrap_or(0),
        parsed.millis.unwrap_or(0),
    )?;
    if let Some(offset) = parsed.offset {
        return Some(time.and_utc().timestamp_millis() - i64::from(offset) * 1000);
    }
    let local = tz.from_local_datetime(&time).earliest().or_else(|| {
        tz.from_local_datetime(&(time + chrono::Duration::hours(1)))
            .earliest()
    })?;
    Some(local.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_792_920_245_123; // 2026-10-25T09:24:05.123Z

    #[test]
    fn formats_java_letters() {
        let utc = Tz::UTC;
        assert_eq!(
            format(MS, "yyyy-MM-dd HH:mm:ss.SSS", utc).as_deref(),
            Some("2026-10-25 09:24:05.123")
        );
        assert_eq!(
            format(MS, "MM-dd-yy h:mm a 'at' EEE, MMM d, EEEE MMMM", utc).as_deref(),
            Some("10-25-26 9:24 AM at Sun, Oct 25, Sunday October")
        );
        assert_eq!(
            format(MS, "SSSS D u k K", utc).as_deref(),
            Some("0123 298 7 9 9")
        );
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            format(MS, "HH:mm XXX X Z ''z''", berlin).as_deref(),
            Some("10:24 +01:00 +01 +0100 'CET'")
        );
        assert_eq!(format(MS, "XXX", utc).as_deref(), Some("Z"));
        assert_eq!(format(MS, "yyyy-MM-ddTHH", utc), None);
    }

    #[test]
    fn parses_java_letters() {
        let utc = Tz::UTC;
        assert_eq!(
            parse(
                "2026-10-25 09:24:05.123",
                "yyyy-MM-dd HH:mm:ss.SSS",
                utc,
                2026
            ),
            Some(MS)
        );
        assert_eq!(
            parse("10/25/2026", "MM/dd/yyyy", utc, 2026),
            Some(1_792_886_400_000)
        );
        assert_eq!(
            parse("20261025", "yyyyMMdd", utc, 2026),
            Some(1_792_886_400_000)
        );
        assert_eq!(
            parse(
                "2026-10-25T09:24:05.123Z",
                "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
                utc,
                2026
            ),
            Some(MS)
        );
        assert_eq!(
            parse(
                "2026-10-25T11:24:05.123+02:00",
                "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
                utc,
                2026
            ),
            Some(MS)
        );
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            parse(
                "2026-10-25 10:24:05.123",
                "yyyy-MM-dd HH:mm:ss.SSS",
                berlin,
                2026
            ),
            Some(MS)
        );
        assert_eq!(
            parse(
                "Oct 25, 2026 9:24:05 AM",
                "MMM d, yyyy h:mm:ss a",
                utc,
                2026
            ),
            Some(MS - 123)
        );
        assert_eq!(parse("not a date", "yyyy-MM-dd", utc, 2026), None);
        assert_eq!(parse("2026-02-30", "yyyy-MM-dd", utc, 2026), None);
        assert_eq!(
            parse("25-10-26", "yy-MM-dd", utc, 2026),
            Some(1_761_436_800_000)
        );
    }
}
