//! When mail happens: the tenant's time zone, the daily and weekly rhythm, the special days
//! (outage, marketing blast, huge attachments, holiday, spam bursts), and the exact number of
//! records each hour of the range receives, so that the total equals the configured count.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc, Weekday};
use rand::Rng;
use rand::seq::SliceRandom;

/// Daylight-saving rule. Implemented here rather than pulling in a tz database because two
/// rules cover every zone the generator picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dst {
    None,
    /// Last Sunday of March to last Sunday of October, switching at 01:00 UTC.
    Eu,
    /// Second Sunday of March to first Sunday of November, 02:00 local.
    Us,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Region {
    Europe,
    America,
    Asia,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Zone {
    pub name: &'static str,
    std_offset_hours: i64,
    dst: Dst,
    pub region: Region,
    /// Country of the headquarters, for the vanity domain and partner mix.
    pub country: &'static str,
}

pub(crate) const ZONES: &[Zone] = &[
    Zone {
        name: "Europe/Berlin",
        std_offset_hours: 1,
        dst: Dst::Eu,
        region: Region::Europe,
        country: "DE",
    },
    Zone {
        name: "Europe/Paris",
        std_offset_hours: 1,
        dst: Dst::Eu,
        region: Region::Europe,
        country: "FR",
    },
    Zone {
        name: "Europe/London",
        std_offset_hours: 0,
        dst: Dst::Eu,
        region: Region::Europe,
        country: "GB",
    },
    Zone {
        name: "America/New_York",
        std_offset_hours: -5,
        dst: Dst::Us,
        region: Region::America,
        country: "US",
    },
    Zone {
        name: "America/Chicago",
        std_offset_hours: -6,
        dst: Dst::Us,
        region: Region::America,
        country: "US",
    },
    Zone {
        name: "Asia/Tokyo",
        std_offset_hours: 9,
        dst: Dst::None,
        region: Region::Asia,
        country: "JP",
    },
    Zone {
        name: "Asia/Singapore",
        std_offset_hours: 8,
        dst: Dst::None,
        region: Region::Asia,
        country: "SG",
    },
];

fn nth_sunday(year: i32, month: u32, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n)
}

fn last_sunday(year: i32, month: u32) -> Option<NaiveDate> {
    nth_sunday(year, month, 5).or_else(|| nth_sunday(year, month, 4))
}

impl Zone {
    /// Offset from UTC at an instant.
    pub(crate) fn offset(&self, utc: DateTime<Utc>) -> TimeDelta {
        let std = TimeDelta::hours(self.std_offset_hours);
        let year = utc.year();
        let naive = utc.naive_utc();
        let at = |date: Option<NaiveDate>, hour_utc: i64| -> Option<NaiveDateTime> {
            Some(date?.and_hms_opt(0, 0, 0)? + TimeDelta::hours(hour_utc))
        };
        let summer = match self.dst {
            Dst::None => false,
            Dst::Eu => match (at(last_sunday(year, 3), 1), at(last_sunday(year, 10), 1)) {
                (Some(from), Some(to)) => naive >= from && naive < to,
                _ => false,
            },
            Dst::Us => {
                let from = at(nth_sunday(year, 3, 2), 2 - self.std_offset_hours);
                let to = at(nth_sunday(year, 11, 1), 1 - self.std_offset_hours);
                match (from, to) {
                    (Some(from), Some(to)) => naive >= from && naive < to,
                    _ => false,
                }
            }
        };
        if summer {
            std + TimeDelta::hours(1)
        } else {
            std
        }
    }

    pub(crate) fn local(&self, utc: DateTime<Utc>) -> NaiveDateTime {
        utc.naive_utc() + self.offset(utc)
    }
}

/// Relative volume of person-to-person mail per local hour on a working day.
const WORKDAY: [f64; 24] = [
    0.04, 0.03, 0.03, 0.03, 0.04, 0.08, 0.20, 0.50, 0.90, 1.00, 1.00, 0.95, 0.70, 0.85, 0.95, 0.90,
    0.80, 0.55, 0.35, 0.25, 0.20, 0.15, 0.10, 0.06,
];
/// Weekends are flatter and much lower.
const WEEKEND_FACTOR: f64 = 0.12;
const HOLIDAY_FACTOR: f64 = 0.10;
/// Machine mail (newsletters, notifications, spam) arrives around the clock.
const AUTOMATED_PER_HOUR: f64 = 0.075;

/// Everything the traffic generator needs to know about one hour of the range.
#[derive(Debug, Clone)]
pub(crate) struct HourPlan {
    /// Offset of the hour's start from the range start, in nanoseconds.
    pub start_ns: i64,
    /// Length in nanoseconds (the last hour may be shorter when `days` ends mid-hour: never,
    /// but kept general).
    pub len_ns: i64,
    /// Final records received in this hour.
    pub rows: u64,
    pub human: f64,
    pub automated: f64,
    pub burst: f64,
    /// Which bad-IP group sends this hour's burst.
    pub burst_group: usize,
    pub blast: f64,
    pub outage: bool,
    pub huge_attachments: bool,
    /// Near the end of the range: statuses may still be unknown.
    pub tail: bool,
}

impl HourPlan {
    pub(crate) fn total_weight(&self) -> f64 {
        self.human + self.automated + self.burst + self.blast
    }
}

/// Special days, recorded so tests and the demo can point at them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialDays {
    pub outages: Vec<NaiveDate>,
    pub marketing_blast: Option<NaiveDate>,
    pub huge_attachments: Option<NaiveDate>,
    pub holiday: Option<NaiveDate>,
    /// Local start hours of spam bursts.
    pub spam_bursts: Vec<NaiveDateTime>,
}

const HOUR_NS: i64 = 3_600_000_000_000;
/// The tail (GettingStatus finals) covers at least this many records, so that every status
/// shows up even in small runs, but never more than two days.
const TAIL_MIN_ROWS: u64 = 60;
const TAIL_MAX_HOURS: usize = 48;

/// Builds the plan for every hour of `[start, start + days)`.
pub(crate) fn plan(
    zone: &Zone,
    start: DateTime<Utc>,
    days: u32,
    messages: u64,
    bad_groups: usize,
    rng: &mut impl Rng,
) -> (Vec<HourPlan>, SpecialDays) {
    let hours = days as usize * 24;
    let locals: Vec<NaiveDateTime> = (0..hours)
        .map(|h| zone.local(start + TimeDelta::hours(h as i64) + TimeDelta::minutes(30)))
        .collect();
    // Candidate days: local dates fully inside the range, working days first.
    let mut dates: Vec<NaiveDate> = Vec::new();
    for local in &locals {
        let date = local.date();
        if !dates.contains(&date) && locals.iter().filter(|l| l.date() == date).count() >= 20 {
            dates.push(date);
        }
    }
    let mut workdays: Vec<NaiveDate> = dates
        .iter()
        .copied()
        .filter(|d| d.weekday().num_days_from_monday() < 5)
        .collect();
    workdays.shuffle(rng);
    let mut special = SpecialDays::default();
    let mut pick = |min_days: u32| {
        if days >= min_days {
            workdays.pop()
        } else {
            None
        }
    };
    let outage_count = if days >= 14 { 2 } else { 1 };
    for _ in 0..outage_count {
        if let Some(day) = pick(3) {
            special.outages.push(day);
        }
    }
    special.marketing_blast = pick(3);
    special.huge_attachments = pick(4);
    special.holiday = pick(6);
    let outage_start: Vec<u32> = special
        .outages
        .iter()
        .map(|_| rng.random_range(8..13))
        .collect();
    let outage_len: Vec<u32> = special
        .outages
        .iter()
        .map(|_| rng.random_range(3..7))
        .collect();
    let blast_hour = rng.random_range(9..15);

    let burst_count = (1 + days / 6).min(12) as usize;
    let mut bursts: Vec<(usize, usize, usize)> = Vec::new(); // first hour, length, group
    for _ in 0..burst_count {
        let first = rng.random_range(0..hours);
        bursts.push((
            first,
            rng.random_range(1..4),
            rng.random_range(0..bad_groups.max(1)),
        ));
    }
    special.spam_bursts = bursts.iter().map(|&(first, _, _)| locals[first]).collect();

    let mut plans: Vec<HourPlan> = Vec::with_capacity(hours);
    for (h, local) in locals.iter().enumerate() {
        let date = local.date();
        let hour = local.hour();
        let weekend = date.weekday().num_days_from_monday() >= 5;
        let mut human = WORKDAY[hour as usize];
        if weekend {
            human = (human * 0.6 + 0.2) * WEEKEND_FACTOR;
        }
        if special.holiday == Some(date) {
            human *= HOLIDAY_FACTOR;
        }
        let outage = special.outages.iter().enumerate().any(|(i, day)| {
            *day == date && (outage_start[i]..outage_start[i] + outage_len[i]).contains(&hour)
        });
        let blast = if special.marketing_blast == Some(date)
            && (hour == blast_hour || hour == blast_hour + 1)
        {
            2.5
        } else {
            0.0
        };
        let burst_at = bursts
            .iter()
            .find(|&&(first, len, _)| h >= first && h < first + len);
        plans.push(HourPlan {
            start_ns: h as i64 * HOUR_NS,
            len_ns: HOUR_NS,
            rows: 0,
            human,
            automated: AUTOMATED_PER_HOUR,
            burst: if burst_at.is_some() { 0.45 } else { 0.0 },
            burst_group: burst_at.map_or(0, |&(_, _, group)| group),
            blast,
            outage,
            huge_attachments: special.huge_attachments == Some(date),
            tail: false,
        });
    }
    allocate(&mut plans, messages);
    let mut tail_rows = 0;
    for plan in plans.iter_mut().rev().take(TAIL_MAX_HOURS) {
        plan.tail = true;
        tail_rows += plan.rows;
        if tail_rows >= TAIL_MIN_ROWS {
            break;
        }
    }
    (plans, special)
}

/// Splits `messages` over the hours in proportion to their weight, exactly: hour `i` gets
/// `round(M * cum_i / W) - round(M * cum_{i-1} / W)`, and the last hour ends at exactly `M`.
fn allocate(plans: &mut [HourPlan], messages: u64) {
    let total: f64 = plans.iter().map(HourPlan::total_weight).sum();
    if total <= 0.0 {
        return;
    }
    let mut cumulative = 0.0;
    let mut given = 0u64;
    let last = plans.len().saturating_sub(1);
    for (i, plan) in plans.iter_mut().enumerate() {
        cumulative += plan.total_weight();
        let target = if i == last {
            messages
        } else {
            ((messages as f64) * cumulative / total).round() as u64
        };
        let target = target.clamp(given, messages);
        plan.rows = target - given;
        given = target;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn dst_switches_on_the_right_days() {
        let berlin = &ZONES[0];
        let winter = Utc.with_ymd_and_hms(2025, 1, 15, 12, 0, 0).unwrap();
        let summer = Utc.with_ymd_and_hms(2025, 7, 15, 12, 0, 0).unwrap();
        assert_eq!(berlin.offset(winter), TimeDelta::hours(1));
        assert_eq!(berlin.offset(summer), TimeDelta::hours(2));
        let new_york = &ZONES[3];
        assert_eq!(new_york.offset(winter), TimeDelta::hours(-5));
        assert_eq!(new_york.offset(summer), TimeDelta::hours(-4));
        // 2025-03-09 is the US switch day: 06:59 UTC is still standard time, 07:00 is not.
        let before = Utc.with_ymd_and_hms(2025, 3, 9, 6, 59, 0).unwrap();
        let after = Utc.with_ymd_and_hms(2025, 3, 9, 7, 0, 0).unwrap();
        assert_eq!(new_york.offset(before), TimeDelta::hours(-5));
        assert_eq!(new_york.offset(after), TimeDelta::hours(-4));
    }

    #[test]
    fn allocation_is_exact() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let start = Utc.with_ymd_and_hms(2025, 3, 3, 0, 0, 0).unwrap();
        for messages in [0, 1, 7, 999, 123_457] {
            let (plans, _) = plan(&ZONES[0], start, 9, messages, 2, &mut rng);
            assert_eq!(plans.iter().map(|p| p.rows).sum::<u64>(), messages);
            assert!(plans.last().is_some_and(|p| p.tail));
        }
    }
}
