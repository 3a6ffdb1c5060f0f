//! Fault injection: what goes wrong, how often, decided by a seeded generator so a run is
//! reproducible for a given order of requests.
//!
//! A spec is a comma-separated list of `name=value`:
//!
//! ```text
//! 429=0.2,500=0.05,503=0.05,timeout=0.02,truncate=0.02,html=0.02,expired-link=0.05,token-expiry=30s
//! ```
//!
//! Probabilities are per data request and exclusive (one draw picks at most one fault), so
//! they may add up to at most 1. Faults never change data: every faulted request, repeated,
//! is eventually answered correctly, because after `max-run` consecutive faulted requests the
//! next one is always served clean.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The faults of a run; `Faults::default()` injects nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Seeds the fault draws (independent of the tenant's seed).
    pub seed: u64,
    /// Chance that a request starts a storm of `429 Too Many Requests` with `Retry-After`.
    pub throttle: f64,
    /// Chance of `500 Internal Server Error`.
    pub internal_error: f64,
    /// Chance of `503 Service Unavailable` (with `Retry-After`).
    pub unavailable: f64,
    /// Chance that the response is held for `stall`, then the connection is dropped.
    pub timeout: f64,
    /// Chance that a `200` page is cut in the middle of a row (headers agree with the cut body).
    pub truncate: f64,
    /// Chance of a `200 text/html` "Sign in to your account" page instead of JSON.
    pub html: f64,
    /// Chance that a request carrying a skip token is told the link has expired.
    pub expired_link: f64,
    /// Access tokens stop working this long after issue, whatever `expires_in` said.
    pub token_expiry: Option<Duration>,
    /// Longest storm: a throttled request is followed by up to `storm - 1` more 429s.
    pub storm: u32,
    /// `Retry-After` of injected 429 and 503 answers (whole seconds, at least 1).
    pub retry_after: Duration,
    /// How long a `timeout` fault holds the request before dropping it.
    pub stall: Duration,
    /// After this many consecutive faulted requests the next is served clean.
    pub max_run: u32,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            seed: 0,
            throttle: 0.0,
            internal_error: 0.0,
            unavailable: 0.0,
            timeout: 0.0,
            truncate: 0.0,
            html: 0.0,
            expired_link: 0.0,
            token_expiry: None,
            storm: 3,
            retry_after: Duration::from_secs(1),
            stall: Duration::from_secs(120),
            max_run: 5,
        }
    }
}

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    Throttle,
    InternalError,
    Unavailable,
    Timeout,
    Truncate,
    Html,
    ExpiredLink,
}

impl FaultKind {
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Throttle,
        FaultKind::InternalError,
        FaultKind::Unavailable,
        FaultKind::Timeout,
        FaultKind::Truncate,
        FaultKind::Html,
        FaultKind::ExpiredLink,
    ];

    /// The name in a fault spec.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Throttle => "429",
            FaultKind::InternalError => "500",
            FaultKind::Unavailable => "503",
            FaultKind::Timeout => "timeout",
            FaultKind::Truncate => "truncate",
            FaultKind::Html => "html",
            FaultKind::ExpiredLink => "expired-link",
        }
    }
}

impl Faults {
    fn probability(&self, kind: FaultKind) -> f64 {
        match kind {
            FaultKind::Throttle => self.throttle,
            FaultKind::InternalError => self.internal_error,
            FaultKind::Unavailable => self.unavailable,
            FaultKind::Timeout => self.timeout,
            FaultKind::Truncate => self.truncate,
            FaultKind::Html => self.html,
            FaultKind::ExpiredLink => self.expired_link,
        }
    }

    fn probability_mut(&mut self, kind: FaultKind) -> &mut f64 {
        match kind {
            FaultKind::Throttle => &mut self.throttle,
            FaultKind::InternalError => &mut self.internal_error,
            FaultKind::Unavailable => &mut self.unavailable,
            FaultKind::Timeout => &mut self.timeout,
            FaultKind::Truncate => &mut self.truncate,
            FaultKind::Html => &mut self.html,
            FaultKind::ExpiredLink => &mut self.expired_link,
        }
    }

    /// True when no request fault can happen (token expiry aside).
    pub fn is_quiet(&self) -> bool {
        FaultKind::ALL
            .iter()
            .all(|kind| self.probability(*kind) == 0.0)
    }

    /// Checks the invariants the parser enforces, for configs built in code.
    pub fn validate(&self) -> Result<(), FaultSpecError> {
        let mut total = 0.0;
        for kind in FaultKind::ALL {
            let p = self.probability(kind);
            if !(0.0..=1.0).contains(&p) {
                return Err(FaultSpecError::Probability(kind.name().to_owned(), p));
            }
            total += p;
        }
        if total > 1.0 + 1e-9 {
            return Err(FaultSpecError::Total(total));
        }
        if self.storm == 0 {
            return Err(FaultSpecError::Value("storm".into(), "0".into()));
        }
        if self.max_run == 0 {
            return Err(FaultSpecError::Value("max-run".into(), "0".into()));
        }
        Ok(())
    }
}

/// A fault spec that could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultSpecError {
    #[error(
        "unknown fault {0:?}; expected one of 429, 500, 503, timeout, truncate, html, \
         expired-link, token-expiry, storm, retry-after, stall, max-run, seed"
    )]
    Unknown(String),
    #[error("fault {0:?} needs a value (name=value)")]
    MissingValue(String),
    #[error("invalid value {1:?} for fault {0:?}")]
    Value(String, String),
    #[error("probability of {0} must be between 0 and 1, got {1}")]
    Probability(String, f64),
    #[error("fault probabilities add up to {0}, more than 1")]
    Total(f64),
}

impl FromStr for Faults {
    type Err = FaultSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let mut faults = Faults::default();
        let spec = spec.trim();
        if spec.is_empty() || spec.eq_ignore_ascii_case("none") {
            return Ok(faults);
        }
        for item in spec
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| FaultSpecError::MissingValue(item.to_owned()))?;
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            let bad = || FaultSpecError::Value(name.clone(), value.to_owned());
            if let Some(kind) = FaultKind::ALL.into_iter().find(|k| k.name() == name) {
                let p: f64 = value.parse().map_err(|_| bad())?;
                if !(0.0..=1.0).contains(&p) {
                    return Err(FaultSpecError::Probability(name, p));
                }
                *faults.probability_mut(kind) = p;
                continue;
            }
            match name.as_str() {
                "token-expiry" => {
                    faults.token_expiry = Some(parse_duration(value).ok_or_else(bad)?)
                }
                "retry-after" => faults.retry_after = parse_duration(value).ok_or_else(bad)?,
                "stall" => faults.stall = parse_duration(value).ok_or_else(bad)?,
                "storm" => faults.storm = value.parse().map_err(|_| bad())?,
                "max-run" => faults.max_run = value.parse().map_err(|_| bad())?,
                "seed" => faults.seed = value.parse().map_err(|_| bad())?,
                _ => return Err(FaultSpecError::Unknown(name)),
            }
        }
        faults.validate()?;
        Ok(faults)
    }
}

/// Writes the spec back: only the settings that differ from the defaults.
impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let defaults = Faults::default();
        let mut items: Vec<String> = FaultKind::ALL
            .into_iter()
            .filter(|kind| self.probability(*kind) > 0.0)
            .map(|kind| format!("{}={}", kind.name(), self.probability(kind)))
            .collect();
        if let Some(expiry) = self.token_expiry {
            items.push(format!("token-expiry={}", format_duration(expiry)));
        }
        if self.storm != defaults.storm {
            items.push(format!("storm={}", self.storm));
        }
        if self.retry_after != defaults.retry_after {
            items.push(format!("retry-after={}", format_duration(self.retry_after)));
        }
        if self.stall != defaults.stall {
            items.push(format!("stall={}", format_duration(self.stall)));
        }
        if self.max_run != defaults.max_run {
            items.push(format!("max-run={}", self.max_run));
        }
        if self.seed != defaults.seed {
            items.push(format!("seed={}", self.seed));
        }
        if items.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&items.join(","))
        }
    }
}

/// `500ms`, `30s`, `1.5s`, `2m`, `1h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

fn format_duration(duration: Duration) -> String {
    if duration.subsec_millis() != 0 || duration.as_secs() == 0 {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{}s", duration.as_secs())
    }
}

/// The running state of the draws.
#[derive(Debug)]
pub(crate) struct Injector {
    faults: Faults,
    state: Mutex<InjectorState>,
}

#[derive(Debug)]
struct InjectorState {
    rng: ChaCha8Rng,
    /// 429s still owed by the current storm.
    storm_left: u32,
    /// Consecutive faulted requests so far.
    run: u32,
}

impl Injector {
    pub(crate) fn new(faults: Faults) -> Injector {
        let rng = ChaCha8Rng::seed_from_u64(faults.seed);
        Injector {
            faults,
            state: Mutex::new(InjectorState {
                rng,
                storm_left: 0,
                run: 0,
            }),
        }
    }

    pub(crate) fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Decides the fault of the next data request, if any. `has_skip_token` says whether an
    /// expired-link fault can apply.
    pub(crate) fn draw(&self, has_skip_token: bool) -> Option<FaultKind> {
        if self.faults.is_quiet() {
            return None;
        }
        // A poisoned lock only means another request panicked mid-draw; the state is still
        // a valid generator.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.run >= self.faults.max_run {
            state.run = 0;
            state.storm_left = 0;
            return None;
        }
        let fault = if state.storm_left > 0 {
            state.storm_left -= 1;
            Some(FaultKind::Throttle)
        } else {
            let draw: f64 = state.rng.random();
            let mut edge = 0.0;
            let mut picked = None;
            for kind in FaultKind::ALL {
                edge += self.faults.probability(kind);
                if draw < edge {
                    picked = Some(kind);
                    break;
                }
            }
            match picked {
                Some(FaultKind::Throttle) => {
                    state.storm_left = state.rng.random_range(0..self.faults.storm);
                    picked
                }
                Some(FaultKind::ExpiredLink) if !has_skip_token => None,
                other => other,
            }
        };
        if fault.is_some() {
            state.run += 1;
        } else {
            state.run = 0;
        }
        fault
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example_and_prints_it_back() {
        let faults: Faults = "429=0.2,500=0.05,503=0.05,timeout=0.02,truncate=0.02,html=0.02,\
                              expired-link=0.05,token-expiry=30s"
            .parse()
            .unwrap();
        assert_eq!(faults.throttle, 0.2);
        assert_eq!(faults.expired_link, 0.05);
        assert_eq!(faults.token_expiry, Some(Duration::from_secs(30)));
        let again: Faults = faults.to_string().parse().unwrap();
        assert_eq!(again, faults);
        assert_eq!("none".parse::<Faults>().unwrap(), Faults::default());
        assert_eq!(Faults::default().to_string(), "none");
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("1y"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn bad_specs_are_errors() {
        for spec in [
            "429",
            "429=2",
            "429=x",
            "fire=0.1",
            "429=0.6,500=0.6",
            "token-expiry=soon",
            "storm=0",
            "max-run=-1",
        ] {
            assert!(spec.parse::<Faults>().is_err(), "{spec}");
        }
    }

    #[test]
    fn draws_are_seeded_and_runs_are_bounded() {
        let faults: Faults = "500=1,max-run=2".parse().unwrap();
        let injector = Injector::new(faults.clone());
        let drawn: Vec<_> = (0..6).map(|_| injector.draw(false)).collect();
        let fault = Some(FaultKind::InternalError);
        assert_eq!(drawn, vec![fault, fault, None, fault, fault, None]);

        let mixed: Faults = "429=0.3,html=0.3,expired-link=0.3,seed=9".parse().unwrap();
        let a = Injector::new(mixed.clone());
        let b = Injector::new(mixed);
        let first: Vec<_> = (0..200).map(|i| a.draw(i % 2 == 0)).collect();
        let second: Vec<_> = (0..200).map(|i| b.draw(i % 2 == 0)).collect();
        assert_eq!(first, second);
        assert!(first.contains(&Some(FaultKind::Throttle)));
        assert!(first.contains(&Some(FaultKind::Html)));
        // Expired links only hit requests that carry a skip token.
        for (i, fault) in first.iter().enumerate() {
            if *fault == Some(FaultKind::ExpiredLink) {
                assert_eq!(i % 2, 0);
            }
        }
    }
}
