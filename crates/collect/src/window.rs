//! Window arithmetic, kept pure so it can be tested without a network: where a poll starts
//! and ends, and how large the next window should be.
//!
//! A poll covers `[start, target)`: `target = now - settle` (Microsoft needs minutes to hours
//! to report a message), `start = checkpoint - lookback` (re-reading catches late rows and
//! status changes), or the oldest time the API serves on the first run. The range is cut into
//! windows of at most the configured size; the size shrinks when a window holds more records
//! than the memory bound allows and grows back as density falls.

use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use crate::config::TenantConfig;

/// Kept between the oldest allowed start and the one used, so a request sent a little after
/// the window was planned is still inside the API's range.
pub const BACKFILL_MARGIN: Duration = Duration::from_secs(15 * 60);

/// Windows never shrink below this; a denser minute is read whole.
pub const MIN_WINDOW: Duration = Duration::from_secs(60);

/// `time` rounded down to a whole second.
pub fn whole_seconds(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(TimeDelta::seconds(1)).unwrap_or(time)
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// The oldest start the API accepts now (minus the safety margin).
pub fn earliest(now: DateTime<Utc>, config: &TenantConfig) -> DateTime<Utc> {
    let backfill = config.backfill.min(config.api.max_backfill());
    let back = backfill.saturating_sub(BACKFILL_MARGIN);
    whole_seconds(now - delta(back)) + TimeDelta::seconds(1)
}

/// The range a poll at `now` covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub start: DateTime<Utc>,
    pub target: DateTime<Utc>,
    /// The look-back wanted to start before what the API still serves: rows in between
    /// can no longer be collected.
    pub gap: bool,
}

/// `deep` re-reads `deep_lookback` before the checkpoint instead of `lookback`.
pub fn plan(
    now: DateTime<Utc>,
    config: &TenantConfig,
    checkpoint: Option<DateTime<Utc>>,
    deep: bool,
) -> Plan {
    let target = whole_seconds(now - delta(config.settle));
    let earliest = earliest(now, config);
    let lookback = if deep {
        config.deep_lookback
    } else {
        config.lookback
    };
    let (start, gap) = match checkpoint {
        None => (earliest, false),
        Some(until) => {
            let wanted = whole_seconds(until - delta(lookback));
            if wanted < earliest {
                (earliest, until < earliest)
            } else {
                (wanted, false)
            }
        }
    };
    Plan { start, target, gap }
}

/// The window after one of `size` held `records` records: aim at half the bound, never
/// above the configured size nor below [`MIN_WINDOW`].
pub fn size_after_complete(size: Duration, records: usize, config: &TenantConfig) -> Duration {
    if records == 0 {
        return config.window;
    }
    let aim = (config.max_window_records / 2).max(1) as f64;
    let scaled = size.as_secs_f64() * aim / records as f64;
    clamp(Duration::from_secs_f64(scaled.min(1e9)), config)
}

/// The window after one of `size` overflowed with `fetched` records whose `Received` times
/// spanned `spread`: at most half, less if the records were dense.
pub fn size_after_overflow(
    size: Duration,
    fetched: usize,
    spread: Option<Duration>,
    config: &TenantConfig,
) -> Duration {
    let aim = (config.max_window_records / 2).max(1) as f64;
    let observed = spread.unwrap_or(size).min(size).max(Duration::from_secs(1));
    let dense = observed.as_secs_f64() * aim / fetched.max(1) as f64;
    clamp(
        Duration::from_secs_f64(dense.min(size.as_secs_f64() / 2.0)),
        config,
    )
}

/// The window after its next links kept expiring: half the size (fewer pages to read before
/// a link expires), never below [`MIN_WINDOW`].
pub fn size_after_expiries(size: Duration, config: &TenantConfig) -> Duration {
    clamp(size / 2, config)
}

fn clamp(size: Duration, config: &TenantConfig) -> Duration {
    let whole = Duration::from_secs(size.as_secs());
    whole.max(MIN_WINDOW).min(config.window.max(MIN_WINDOW))
}

/// The end of the window starting at `start`.
pub fn window_end(start: DateTime<Utc>, size: Duration, target: DateTime<Utc>) -> DateTime<Utc> {
    (start + delta(size)).min(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Api;
    use crate::secret::Secret;
    use chrono::TimeZone;

    fn config(api: Api) -> TenantConfig {
        TenantConfig::new("t", api, "tid", "cid", Secret::new("s"))
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + TimeDelta::milliseconds(250)
    }

    #[test]
    fn a_window_whose_links_keep_expiring_halves_down_to_the_minimum() {
        let config = config(Api::Graph);
        let mut size = config.window;
        let mut steps = 0;
        while size > MIN_WINDOW {
            let smaller = size_after_expiries(size, &config);
            assert!(
                smaller < size && smaller >= MIN_WINDOW,
                "{size:?} -> {smaller:?}"
            );
            size = smaller;
            steps += 1;
        }
        assert!(steps > 0);
        assert_eq!(size_after_expiries(MIN_WINDOW, &config), MIN_WINDOW);
    }

    #[test]
    fn first_run_backfills_what_the_api_serves() {
        let graph = plan(now(), &config(Api::Graph), None, false);
        assert_eq!(
            graph.start,
            Utc.with_ymd_and_hms(2025, 12, 1, 12, 15, 1).unwrap()
        );
        assert_eq!(
            graph.target,
            Utc.with_ymd_and_hms(2026, 3, 1, 11, 50, 0).unwrap()
        );
        let reporting = plan(now(), &config(Api::Reporting), None, false);
        assert_eq!(
            reporting.start,
            Utc.with_ymd_and_hms(2026, 2, 19, 12, 15, 1).unwrap()
        );
    }

    #[test]
    fn later_runs_reread_the_lookback() {
        let until = Utc.with_ymd_and_hms(2026, 3, 1, 11, 40, 0).unwrap();
        let plan = plan(now(), &config(Api::Graph), Some(until), false);
        assert_eq!(
            plan.start,
            Utc.with_ymd_and_hms(2026, 3, 1, 7, 40, 0).unwrap()
        );
        assert!(!plan.gap);
    }

    #[test]
    fn a_deep_poll_rereads_the_deep_lookback_within_what_the_api_keeps() {
        let until = Utc.with_ymd_and_hms(2026, 3, 1, 11, 40, 0).unwrap();
        let deep = plan(now(), &config(Api::Graph), Some(until), true);
        assert_eq!(
            deep.start,
            Utc.with_ymd_and_hms(2026, 2, 27, 23, 40, 0).unwrap()
        );
        let mut short = config(Api::Reporting);
        short.deep_lookback = Duration::from_secs(30 * 86_400);
        let limited = plan(now(), &short, Some(until), true);
        assert_eq!(limited.start, earliest(now(), &short));
        assert!(!limited.gap, "the checkpoint itself is within reach");
    }

    #[test]
    fn a_checkpoint_older_than_retention_reports_a_gap() {
        let until = Utc.with_ymd_and_hms(2025, 10, 1, 0, 0, 0).unwrap();
        let plan = plan(now(), &config(Api::Graph), Some(until), false);
        assert!(plan.gap);
        assert_eq!(plan.start, earliest(now(), &config(Api::Graph)));
    }

    #[test]
    fn window_size_follows_density() {
        let mut config = config(Api::Graph);
        config.window = Duration::from_secs(86_400);
        config.max_window_records = 1000;
        // 2000 records in a day: aim at 500 -> 6 hours.
        assert_eq!(
            size_after_complete(Duration::from_secs(86_400), 2000, &config),
            Duration::from_secs(21_600)
        );
        // Sparse: back to the configured size.
        assert_eq!(
            size_after_complete(Duration::from_secs(3600), 10, &config),
            config.window
        );
        assert_eq!(
            size_after_complete(Duration::from_secs(3600), 0, &config),
            config.window
        );
        // Overflow without a usable spread halves at most.
        assert_eq!(
            size_after_overflow(Duration::from_secs(86_400), 1001, None, &config),
            Duration::from_secs(43_156)
        );
        // Overflow whose records spanned one hour: dense, aim from that.
        assert_eq!(
            size_after_overflow(
                Duration::from_secs(86_400),
                1000,
                Some(Duration::from_secs(3600)),
                &config
            ),
            Duration::from_secs(1800)
        );
        assert_eq!(
            size_after_overflow(Duration::from_secs(60), 100_000, None, &config),
            MIN_WINDOW
        );
    }
}
