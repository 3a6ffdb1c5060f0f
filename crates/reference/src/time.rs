//! Timeslice buckets: clock-aligned in the query's time zone. Spans of whole days start at
//! local midnight (a DST day is one bucket of 23 or 25 hours), weeks on Monday, shorter
//! spans on the local clock. A local start that a DST jump skips moves to the first valid
//! half hour after it; an ambiguous one is its earlier instant.
//!
//! The buckets of a query are those overlapping its range; a time's bucket is the latest
//! bucket start at or before it.

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

pub const SECOND: i64 = 1_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;
pub const WEEK: i64 = 7 * DAY;

/// A range with more buckets than this gets none enumerated (times are then put in
/// clock-aligned buckets one by one, and `fillmissing` adds nothing).
pub const MAX_BUCKETS: i64 = 2_000_000;

/// The spans `timeslice N buckets` picks from.
const SPANS: [i64; 17] = [
    SECOND,
    5 * SECOND,
    10 * SECOND,
    15 * SECOND,
    30 * SECOND,
    MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    WEEK,
];

/// `timeslice N buckets`: the smallest span of the table that is at least the range divided
/// by N (a week when none is).
pub fn span_for_buckets(from_ms: i64, to_ms: i64, buckets: u32) -> i64 {
    let wanted = (to_ms - from_ms).max(1) / i64::from(buckets.max(1));
    SPANS
        .iter()
        .copied()
        .find(|span| *span >= wanted)
        .unwrap_or(WEEK)
}

fn local(ms: i64, tz: Tz) -> Option<NaiveDateTime> {
    Some(
        Utc.timestamp_millis_opt(ms)
            .single()?
            .with_timezone(&tz)
            .naive_local(),
    )
}

fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .unwrap_or_default()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
}

/// The instant of a local start (see the module documentation).
fn instant(wall: NaiveDateTime, tz: Tz) -> Option<i64> {
    (0..4).find_map(|half_hours| {
        tz.from_local_datetime(&(wall + chrono::Duration::minutes(30 * half_hours)))
            .earliest()
            .map(|t| t.timestamp_millis())
    })
}

/// The local start of the clock-aligned bucket holding the local time `wall`.
fn aligned(wall: NaiveDateTime, span: i64) -> Option<NaiveDateTime> {
    if span % DAY == 0 {
        let date = wall.date();
        let back = if span == WEEK {
            i64::from(date.weekday().num_days_from_monday())
        } else {
            (date - epoch().date()).num_days().rem_euclid(span / DAY)
        };
        let start = date.checked_sub_days(Days::new(u64::try_from(back).ok()?))?;
        start.and_hms_opt(0, 0, 0)
    } else {
        let millis = (wall - epoch()).num_milliseconds();
        Some(epoch() + chrono::Duration::milliseconds(millis - millis.rem_euclid(span)))
    }
}

/// The local start after `wall` (one span later; whole days by the calendar).
fn next(wall: NaiveDateTime, span: i64) -> Option<NaiveDateTime> {
    if span % DAY == 0 {
        wall.checked_add_days(Days::new(u64::try_from(span / DAY).ok()?))
    } else {
        Some(wall + chrono::Duration::milliseconds(span))
    }
}

/// Every bucket start overlapping `[from, to)`, ascending; `None` when there are more than
/// [`MAX_BUCKETS`].
pub fn bucket_starts(from_ms: i64, to_ms: i64, span: i64, tz: Tz) -> Option<Vec<i64>> {
    if span <= 0 || to_ms <= from_ms {
        return Some(Vec::new());
    }
    if (to_ms - from_ms) / span > MAX_BUCKETS {
        return None;
    }
    let last_wall = local(to_ms, tz)?;
    let mut wall = aligned(local(from_ms, tz)?, span)?;
    let mut starts = Vec::new();
    while wall <= last_wall {
        if let Some(start) = instant(wall, tz) {
            starts.push(start);
        }
        wall = next(wall, span)?;
    }
    starts.sort_unstable();
    starts.dedup();
    let first = starts.iter().rposition(|s| *s <= from_ms).unwrap_or(0);
    Some(
        starts
            .into_iter()
            .skip(first)
            .filter(|s| *s < to_ms)
            .collect(),
    )
}

/// The bucket of `ms`: the latest of `starts` at or before it while it is inside the range;
/// outside, its own clock-aligned bucket.
pub fn bucket_of(ms: i64, starts: &[i64], to_ms: i64, span: i64, tz: Tz) -> Option<i64> {
    let before = starts.partition_point(|s| *s <= ms);
    if before > 0 && ms < to_ms {
        return Some(starts[before - 1]);
    }
    instant(aligned(local(ms, tz)?, span)?, tz)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn days_start_at_local_midnight_and_a_dst_day_is_one_bucket() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let starts = bucket_starts(
            ms("2026-10-24T22:00:00Z"),
            ms("2026-10-26T23:00:00Z"),
            DAY,
            berlin,
        )
        .unwrap();
        assert_eq!(
            starts,
            vec![ms("2026-10-24T22:00:00Z"), ms("2026-10-25T23:00:00Z")]
        );
        // The last hour of the 25-hour day is still in that day.
        let to = ms("2026-10-25T23:00:00Z");
        let starts = bucket_starts(ms("2026-10-24T22:00:00Z"), to, DAY, berlin).unwrap();
        assert_eq!(
            bucket_of(ms("2026-10-25T22:30:00Z"), &starts, to, DAY, berlin),
            Some(ms("2026-10-24T22:00:00Z"))
        );
    }

    #[test]
    fn weeks_start_monday_and_hours_follow_the_local_clock() {
        let weeks = bucket_starts(
            ms("2026-10-01T00:00:00Z"),
            ms("2026-10-10T00:00:00Z"),
            WEEK,
            Tz::UTC,
        )
        .unwrap();
        assert_eq!(
            weeks,
            vec![ms("2026-09-28T00:00:00Z"), ms("2026-10-05T00:00:00Z")]
        );
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        let hours = bucket_starts(
            ms("2026-10-01T00:00:00Z"),
            ms("2026-10-01T02:00:00Z"),
            HOUR,
            kolkata,
        )
        .unwrap();
        assert_eq!(
            hours,
            vec![
                ms("2026-09-30T23:30:00Z"),
                ms("2026-10-01T00:30:00Z"),
                ms("2026-10-01T01:30:00Z")
            ]
        );
    }

    #[test]
    fn bucket_counts_pick_spans_from_the_table() {
        assert_eq!(span_for_buckets(0, 30 * DAY, 30), DAY);
        assert_eq!(span_for_buckets(0, DAY, 100), 15 * MINUTE);
        assert_eq!(span_for_buckets(0, 1000 * WEEK, 2), WEEK);
    }
}
