//! Dates with Java `SimpleDateFormat` letters (`yyyy-MM-dd HH:mm:ss.SSS`), as Sumo's
//! `formatDate` and `parseDate` take them. Supported letters: `y M d H h k K m s S E a z Z X
//! D u`; text in single quotes is literal (`''` is a quote); other ASCII letters are
//! rejected (null).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike};
use chrono_tz::Tz;

/// `formatDate` and `parseDate` without a pattern.
pub const DEFAULT_PATTERN: &str = "MM/dd/yyyy HH:mm:ss";

/// A pattern cut into letter runs and literal text.
#[derive(Debug, PartialEq)]
enum Piece {
    Letters(char, usize),
    Text(String),
}

fn pieces(pattern: &str) -> Option<Vec<Piece>> {
    let mut out = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            let mut text = String::new();
            if chars.peek() == Some(&'\'') {
                chars.next();
                out.push(Piece::Text("'".into()));
                continue;
            }
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        text.push('\'');
                    }
                    Some('\'') | None => break,
                    Some(other) => text.push(other),
                }
            }
            out.push(Piece::Text(text));
        } else if c.is_ascii_alphabetic() {
            if !"yMdHhkKmsSEazZXDu".contains(c) {
                return None;
            }
            let mut count = 1;
            while chars.peek() == Some(&c) {
                chars.next();
                count += 1;
            }
            out.push(Piece::Letters(c, count));
        } else {
            out.push(Piece::Text(c.to_string()));
        }
    }
    Some(out)
}

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

fn padded(value: i64, width: usize) -> String {
    format!("{value:0width$}")
}

/// `ms` since the epoch in `tz`, formatted; `None` for an invalid pattern or time.
pub fn format(ms: i64, pattern: &str, tz: Tz) -> Option<String> {
    let time = tz.timestamp_millis_opt(ms).single()?;
    let mut out = String::new();
    for piece in pieces(pattern)? {
        let (letter, count) = match piece {
            Piece::Text(text) => {
                out.push_str(&text);
                continue;
            }
            Piece::Letters(letter, count) => (letter, count),
        };
        let offset_seconds = i64::from(time.offset().fix().local_minus_utc());
        let text = match letter {
            'y' if count == 2 => padded(i64::from(time.year()).rem_euclid(100), 2),
            'y' => padded(i64::from(time.year()), count),
            'M' if count >= 4 => MONTHS[time.month0() as usize].to_string(),
            'M' if count == 3 => MONTHS[time.month0() as usize][..3].to_string(),
            'M' => padded(i64::from(time.month()), count),
            'd' => padded(i64::from(time.day()), count),
            'D' => padded(i64::from(time.ordinal()), count),
            'H' => padded(i64::from(time.hour()), count),
            'k' => padded(
                i64::from(if time.hour() == 0 { 24 } else { time.hour() }),
                count,
            ),
            'K' => padded(i64::from(time.hour() % 12), count),
            'h' => padded(i64::from(time.hour12().1), count),
            'm' => padded(i64::from(time.minute()), count),
            's' => padded(i64::from(time.second()), count),
            // Java's `S` is the millisecond as a number, zero-padded on the left
            // (`SSSS` of 123 ms is `0123`), not a fraction.
            'S' => padded(i64::from(time.timestamp_subsec_millis()), count),
            'E' => {
                let day = DAYS[time.weekday().num_days_from_monday() as usize];
                if count >= 4 {
                    day.to_string()
                } else {
                    day[..3].to_string()
                }
            }
            'u' => time.weekday().number_from_monday().to_string(),
            'a' => if time.hour() < 12 { "AM" } else { "PM" }.to_string(),
            'z' => time.format("%Z").to_string(),
            'Z' => time.format("%z").to_string(),
            'X' if offset_seconds == 0 => "Z".to_string(),
            'X' if count == 1 => time.format("%z").to_string()[..3].to_string(),
            'X' if count == 2 => time.format("%z").to_string(),
            'X' => time.format("%:z").to_string(),
            _ => return None,
        };
        out.push_str(&text);
    }
    Some(out)
}

/// The pattern as a `chrono` parse format, and whether it has a zone and a time of day.
fn strftime(pattern: &str) -> Option<(String, bool, bool)> {
    let mut out = String::new();
    let (mut zoned, mut timed) = (false, false);
    for piece in pieces(pattern)? {
        match piece {
            Piece::Text(text) => out.push_str(&text.replace('%', "%%")),
            Piece::Letters(letter, count) => {
                timed |= "HhkKmsSa".contains(letter);
                zoned |= "ZXz".contains(letter);
                out.push_str(match (letter, count) {
                    ('y', 2) => "%y",
                    ('y', _) => "%Y",
                    ('M', 3) => "%b",
                    ('M', n) if n >= 4 => "%B",
                    ('M', _) => "%m",
                    ('d', _) => "%d",
                    ('D', _) => "%j",
                    ('H' | 'k', _) => "%H",
                    ('h' | 'K', _) => "%I",
                    ('m', _) => "%M",
                    ('s', _) => "%S",
                    ('S', _) => "%3f",
                    ('E', n) if n >= 4 => "%A",
                    ('E', _) => "%a",
                    ('a', _) => "%p",
                    ('Z', _) => "%z",
                    ('X', _) => "%#z",
                    _ => return None,
                });
            }
        }
    }
    Some((out, zoned, timed))
}

/// `text` read with `pattern`, in `tz` unless the pattern has a zone; milliseconds since the
/// epoch. A time skipped by a DST change is read one hour later; an ambiguous one is the
/// earlier instant.
pub fn parse(text: &str, pattern: &str, tz: Tz) -> Option<i64> {
    let (format, zoned, timed) = strftime(pattern)?;
    let text = text.trim();
    if zoned {
        let text = if pattern.contains('X') && text.ends_with('Z') {
            format!("{}+00:00", &text[..text.len() - 1])
        } else {
            text.to_string()
        };
        return DateTime::parse_from_str(&text, &format)
            .ok()
            .map(|t| t.timestamp_millis());
    }
    let local = if timed {
        NaiveDateTime::parse_from_str(text, &format).ok()?
    } else {
        NaiveDate::parse_from_str(text, &format)
            .ok()?
            .and_time(NaiveTime::MIN)
    };
    let resolved = tz.from_local_datetime(&local).earliest().or_else(|| {
        tz.from_local_datetime(&(local + chrono::Duration::hours(1)))
            .earliest()
    })?;
    Some(resolved.timestamp_millis())
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
            format(MS, "MM-dd-yy h:mm a 'at' EEE, MMM d", utc).as_deref(),
            Some("10-25-26 9:24 AM at Sun, Oct 25")
        );
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            format(MS, "HH:mm XXX ''z''", berlin).as_deref(),
            Some("10:24 +01:00 'CET'")
        );
        assert_eq!(format(MS, "yyyy-MM-ddTHH", utc), None, "T must be quoted");
    }

    #[test]
    fn parses_back() {
        let utc = Tz::UTC;
        assert_eq!(
            parse("2026-10-25 09:24:05.123", "yyyy-MM-dd HH:mm:ss.SSS", utc),
            Some(MS)
        );
        assert_eq!(
            parse("10/25/2026", "MM/dd/yyyy", utc),
            Some(1_792_886_400_000)
        );
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            parse("2026-10-25 10:24:05.123", "yyyy-MM-dd HH:mm:ss.SSS", berlin),
            Some(MS)
        );
        assert_eq!(
            parse(
                "2026-10-25T09:24:05.123Z",
                "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
                utc
            ),
            Some(MS)
        );
        assert_eq!(parse("not a date", "yyyy-MM-dd", utc), None);
    }
}
