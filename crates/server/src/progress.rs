//! Progress bars on a terminal for long commands (drawn on standard error, nothing when it is
//! not a terminal).

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over the simulated time a generator walks through, `start` to `start + days`:
/// observations come in time order, so the time of the latest is how far it has got.
pub struct Generation {
    bar: ProgressBar,
    start: DateTime<Utc>,
    seen: u64,
}

impl Generation {
    pub fn new(start: DateTime<Utc>, days: u32, what: &str) -> Generation {
        let bar = ProgressBar::with_draw_target(
            Some(u64::from(days) * 86_400),
            ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            ProgressStyle::with_template("{msg} {wide_bar} {percent} % of the days ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(what.to_owned());
        Generation {
            bar,
            start,
            seen: 0,
        }
    }

    /// An observation received at `received` was written.
    pub fn observed(&mut self, received: DateTime<Utc>) {
        self.seen += 1;
        if self.seen.is_multiple_of(4096) {
            let seconds = (received - self.start).num_seconds().max(0);
            self.bar.set_position(seconds.unsigned_abs());
        }
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
