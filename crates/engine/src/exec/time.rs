//! Clock-aligned time buckets in a time zone. A bucket of whole days starts at local
//! midnight, so the DST day is one bucket of 23 or 25 hours (Sumo gives two buckets there, a
//! known defect); weeks start on Monday; shorter spans are aligned on the local clock.

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

pub const SECOND: i64 = 1_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;
pub const WEEK: i64 = 7 * DAY;

/// More buckets than this are not enumerated (the UDF then uses fixed-width arithmetic).
pub const MAX_BUCKETS: usize = 2_000_000;

/// Spans `N buckets` may pick, smallest first.
const NICE_SPANS: [i64; 17] = [
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

/// The smallest clock-aligned span giving at most about `buckets` buckets over the range.
pub fn span_for_buckets(from_ms: i64, to_ms: i64, buckets: u32) -> i64 {
    let wanted = (to_ms - from_ms).max(1) / i64::from(buckets.max(1));
    NICE_SPANS
        .iter()
        .copied()
        .find(|span| *span >= wanted)
        .unwrap_or(WEEK)
}

fn local_to_utc_ms(tz: Tz, local: NaiveDateTime) -> Option<i64> {
    // A local time skipped by a DST jump starts its bucket at the first valid instant.
    (0..4).find_map(|shift| {
        let candidate = local + chrono::Duration::minutes(30 * shift);
        tz.from_local_datetime(&candidate)
            .earliest()
            .map(|t| t.timestamp_millis())
    })
}

/// The starts of every bucket overlapping `[from, to)`, ascending, in milliseconds; `None`
/// when there would be more than [`MAX_BUCKETS`].
pub fn bucket_starts(from_ms: i64, to_ms: i64, span: i64, tz: Tz) -> Option<Vec<i64>> {
    if span <= 0 || to_ms <= from_ms {
        return Some(vec![]);
    }
    if (to_ms - from_ms) / span > MAX_BUCKETS as i64 {
        return None;
    }
    let from = Utc
        .timestamp_millis_opt(from_ms)
        .single()?
        .with_timezone(&tz)
        .naive_local();
    let to = Utc
        .timestamp_millis_opt(to_ms)
        .single()?
        .with_timezone(&tz)
        .naive_local();
    let mut starts = Vec::new();
    if span % DAY == 0 {
        let days = u64::try_from(span / DAY).ok()?;
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
        let mut date = if span == WEEK {
            from.date() - Days::new(u64::from(from.date().weekday().num_days_from_monday()))
        } else {
            let offset =
                u64::try_from((from.date() - epoch).num_days().rem_euclid(days as i64)).ok()?;
            from.date() - Days::new(offset)
        };
        while date <= to.date() {
            if let Some(start) = local_to_utc_ms(tz, date.and_time(NaiveTime::MIN)) {
                starts.push(start);
            }
            date = date.checked_add_days(Days::new(days))?;
        }
    } else {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?.and_time(NaiveTime::MIN);
        let local_ms = (from - epoch).num_milliseconds();
        let mut wall = local_ms - local_ms.rem_euclid(span);
        let end = (to - epoch).num_milliseconds();
        while wall <= end {
            let local = epoch + chrono::Duration::milliseconds(wall);
            if let Some(start) = local_to_utc_ms(tz, local) {
                starts.push(start);
            }
            wall += span;
        }
    }
    starts.sort_unstable();
    starts.dedup();
    // Keep only buckets that overlap the range: the last start not after `from` onwards.
    let first = starts.iter().rposition(|s| *s <= from_ms).unwrap_or(0);
    starts.drain(..first);
    starts.retain(|s| *s < to_ms);
    Some(starts)
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
    fn utc_days_are_midnights() {
        let starts = bucket_starts(
            ms("2026-10-01T00:00:00Z"),
            ms("2026-10-04T00:00:00Z"),
            DAY,
            Tz::UTC,
        )
        .unwrap();
        assert_eq!(
            starts,
            vec![
                ms("2026-10-01T00:00:00Z"),
                ms("2026-10-02T00:00:00Z"),
                ms("2026-10-03T00:00:00Z")
            ]
        );
    }

    #[test]
    fn dst_day_is_one_bucket_in_berlin() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let starts = bucket_starts(
            ms("2026-10-24T22:00:00Z"),
            ms("2026-10-27T23:00:00Z"),
            DAY,
            tz,
        )
        .unwrap();
        // Oct 25 2026 is the fall-back day: 25 hours long, still one bucket.
        assert_eq!(
            starts,
            vec![
                ms("2026-10-24T22:00:00Z"),
                ms("2026-10-25T23:00:00Z"),
                ms("2026-10-26T23:00:00Z")
            ]
        );
    }

    #[test]
    fn a_range_starting_mid_day_includes_that_day() {
        let starts = bucket_starts(
            ms("2026-10-01T12:00:00Z"),
            ms("2026-10-02T12:00:00Z"),
            DAY,
            Tz::UTC,
        )
        .unwrap();
        assert_eq!(
            starts,
            vec![ms("2026-10-01T00:00:00Z"), ms("2026-10-02T00:00:00Z")]
        );
    }

    #[test]
    fn weeks_start_on_monday_and_hours_align_to_the_clock() {
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
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let hours = bucket_starts(
            ms("2026-10-01T00:00:00Z"),
            ms("2026-10-01T02:00:00Z"),
            HOUR,
            tz,
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
    fn bucket_counts_pick_nice_spans() {
        assert_eq!(span_for_buckets(0, 30 * DAY, 30), DAY);
        assert_eq!(span_for_buckets(0, DAY, 100), 15 * MINUTE);
    }
}
