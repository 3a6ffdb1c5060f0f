//! Where "now" comes from. The system clock in production; tests and the simulator can run
//! the collector on a fixed or shifted clock so windows line up with synthetic data.

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The system clock moved by a fixed offset: `now() = system now + offset`.
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock {
    pub offset: chrono::Duration,
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
}
