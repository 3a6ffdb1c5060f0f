//! The client-side request budget. Graph allows 100 message trace requests per 5 minutes per
//! tenant; a collector that sends faster only collects 429s. The limiter keeps the send
//! times of the last `requests` requests and lets a new one go only when the oldest of them
//! is more than a period (plus a 2% margin for network jitter) old: a sliding window, which
//! also never exceeds a fixed-window server's count. A 429's `Retry-After` pauses every
//! request of the tenant, not just the one that was refused.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Quota;

/// Shared by every request of one tenant (clones share the budget).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    quota: Option<Quota>,
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
    stats: RateStats,
}

/// What the limiter did: enough to compare the achieved rate with the allowed one.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RateStats {
    pub quota: Option<Quota>,
    /// Requests let through.
    pub requests: u64,
    /// Times a request had to wait for the budget or a pause.
    pub waits: u64,
    /// Total time requests waited.
    pub waited: Duration,
    pub first: Option<Instant>,
    pub last: Option<Instant>,
}

impl RateStats {
    /// Time from the first to the last request.
    pub fn span(&self) -> Duration {
        match (self.first, self.last) {
            (Some(first), Some(last)) => last.saturating_duration_since(first),
            _ => Duration::ZERO,
        }
    }

    /// The shortest span in which a quota-bound client could send [`RateStats::requests`]
    /// requests: a full budget at once, then one budget per period
    /// (`period × floor((requests − 1) / quota)`). `None` without a quota or when the
    /// requests fit in one budget (the quota did not bind).
    pub fn fastest_span(&self) -> Option<Duration> {
        let quota = self.quota?;
        let budgets = self.requests.checked_sub(1)? / u64::from(quota.requests.max(1));
        if budgets == 0 {
            return None;
        }
        Some(
            quota
                .period
                .saturating_mul(u32::try_from(budgets).unwrap_or(u32::MAX)),
        )
    }

    /// How close the run came to the quota: [`RateStats::fastest_span`] divided by the
    /// actual span (1.0 = as fast as the quota allows; the limiter's 2% margin makes about
    /// 0.98 the best it achieves).
    pub fn utilization(&self) -> Option<f64> {
        let fastest = self.fastest_span()?.as_secs_f64();
        let span = self.span().as_secs_f64();
        (span > 0.0).then(|| fastest / span)
    }
}

/// Margin on the period, in parts per thousand: absorbs latency differences between the
/// client's send times and the server's arrival times.
const MARGIN_PER_MILLE: u32 = 20;

impl RateLimiter {
    pub fn new(quota: Option<Quota>) -> RateLimiter {
        RateLimiter {
            inner: Arc::new(Mutex::new(Inner {
                quota,
                sent: VecDeque::new(),
                paused_until: None,
                stats: RateStats {
                    quota,
                    ..RateStats::default()
                },
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until a request may be sent and counts it as sent.
    pub async fn acquire(&self) {
        let mut waited = false;
        let started = Instant::now();
        loop {
            let wake = {
                let mut inner = self.lock();
                let now = Instant::now();
                match inner.next_slot(now) {
                    None => {
                        inner.record(now, waited, now.saturating_duration_since(started));
                        return;
                    }
                    Some(wake) => wake,
                }
            };
            waited = true;
            tokio::time::sleep_until(wake).await;
        }
    }

    /// Holds every request until `until` (a 429's `Retry-After`).
    pub fn pause_until(&self, until: Instant) {
        let mut inner = self.lock();
        if inner.paused_until.is_none_or(|current| current < until) {
            inner.paused_until = Some(until);
        }
    }

    pub fn stats(&self) -> RateStats {
        self.lock().stats
    }
}

impl Inner {
    /// `None` when a request may go now, else when to look again.
    fn next_slot(&mut self, now: Instant) -> Option<Instant> {
        if let Some(until) = self.paused_until {
            if until > now {
                return Some(until);
            }
            self.paused_until = None;
        }
        let quota = self.quota?;
        let period = quota.period + quota.period * MARGIN_PER_MILLE / 1000;
        while self
            .sent
            .front()
            .is_some_and(|sent| now.saturating_duration_since(*sent) >= period)
        {
            self.sent.pop_front();
        }
        if self.sent.len() < quota.requests as usize {
            return None;
        }
        self.sent.front().map(|oldest| *oldest + period)
    }

    fn record(&mut self, now: Instant, waited: bool, wait: Duration) {
        if self.quota.is_some() {
            self.sent.push_back(now);
        }
        let stats = &mut self.stats;
        stats.requests += 1;
        if waited {
            stats.waits += 1;
            stats.waited += wait;
        }
        stats.first.get_or_insert(now);
        stats.last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_exceeds_the_quota_in_any_window() {
        let quota = Quota {
            requests: 10,
            period: Duration::from_secs(60),
        };
        let limiter = RateLimiter::new(Some(quota));
        let mut times = Vec::new();
        for _ in 0..35 {
            limiter.acquire().await;
            times.push(Instant::now());
        }
        for (i, time) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|later| later.duration_since(*time) < quota.period)
                .count();
            assert!(in_window <= 10, "{in_window} requests within a period");
        }
        let stats = limiter.stats();
        assert_eq!(stats.requests, 35);
        assert_eq!(stats.fastest_span(), Some(Duration::from_secs(180)));
        let utilization = stats.utilization().unwrap();
        assert!(utilization > 0.9, "utilization {utilization}");
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_requests() {
        let limiter = RateLimiter::new(None);
        let start = Instant::now();
        limiter.pause_until(start + Duration::from_secs(7));
        limiter.acquire().await;
        assert!(Instant::now() >= start + Duration::from_secs(7));
        assert_eq!(limiter.stats().waits, 1);
        assert_eq!(limiter.stats().utilization(), None);
    }
}
