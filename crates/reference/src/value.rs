//! Cells and their kinds. A value is dynamically typed, but every column has one kind (as a
//! column of the engine has one Arrow type): text, integer, float, boolean or time. Values
//! are converted between kinds by the rules of the language (text used as a number is
//! parsed, a non-number becoming null; a time used as a number is epoch milliseconds).

use std::cmp::Ordering;

use chrono::{DateTime, SecondsFormat, Utc};

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// A time, milliseconds since the epoch.
    Time(i64),
}

/// The type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Float,
    Bool,
    Time,
}

impl Kind {
    /// Integers and floats (not times, not booleans): these make a comparison numeric.
    pub fn is_numeric(self) -> bool {
        matches!(self, Kind::Int | Kind::Float)
    }

    /// The kind of a value used as a number: integers, times and booleans stay integers,
    /// floats and text (parsed) are floats.
    pub fn numeric(self) -> Kind {
        match self {
            Kind::Int | Kind::Time | Kind::Bool => Kind::Int,
            Kind::Float | Kind::Text => Kind::Float,
        }
    }
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn kind(&self) -> Option<Kind> {
        match self {
            Value::Null => None,
            Value::Bool(_) => Some(Kind::Bool),
            Value::Int(_) => Some(Kind::Int),
            Value::Float(_) => Some(Kind::Float),
            Value::Text(_) => Some(Kind::Text),
            Value::Time(_) => Some(Kind::Time),
        }
    }

    /// The value as text: integers in decimal, floats in their shortest form (`1.0`,
    /// `1e20`), times in RFC 3339 (`2026-10-01T00:00:00Z`), booleans `true`/`false`.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(float_text(*f)),
            Value::Text(s) => Some(s.clone()),
            Value::Time(ms) => Some(time_text(*ms)),
        }
    }

    /// The value as a number: text parsed (null when it is not a number), times in epoch
    /// milliseconds, booleans 1 or 0. Integers stay integers.
    pub fn number(&self) -> Value {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Int(i64::from(*b)),
            Value::Int(i) => Value::Int(*i),
            Value::Float(f) => Value::Float(*f),
            Value::Time(ms) => Value::Int(*ms),
            Value::Text(s) => parse_float(s).map_or(Value::Null, Value::Float),
        }
    }

    /// The value as a float (see [`Value::number`]).
    pub fn float(&self) -> Option<f64> {
        match self.number() {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The value converted to `kind` (null when it cannot be).
    pub fn cast(&self, kind: Kind) -> Value {
        if self.kind() == Some(kind) || self.is_null() {
            return self.clone();
        }
        match kind {
            Kind::Text => self.text().map_or(Value::Null, Value::Text),
            Kind::Float => self.float().map_or(Value::Null, Value::Float),
            Kind::Int => match self {
                Value::Text(s) => s.trim().parse::<i64>().map_or(Value::Null, Value::Int),
                Value::Float(f) => float_to_int(*f).map_or(Value::Null, Value::Int),
                other => other.number(),
            },
            Kind::Time => match self.number() {
                Value::Int(ms) => Value::Time(ms),
                Value::Float(f) => float_to_int(f).map_or(Value::Null, Value::Time),
                _ => Value::Null,
            },
            Kind::Bool => match self {
                Value::Text(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
                Value::Text(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
                Value::Int(i) => Value::Bool(*i != 0),
                Value::Float(f) => Value::Bool(*f != 0.0),
                _ => Value::Null,
            },
        }
    }
}

/// 2^63: the floats that truncate into an `i64` lie in `[-2^63, 2^63)`.
const I64_BOUND: f64 = 9_223_372_036_854_775_808.0;

/// A float truncated toward zero, `None` when out of range (or NaN).
pub fn float_to_int(f: f64) -> Option<i64> {
    (f.is_finite() && (-I64_BOUND..I64_BOUND).contains(&f)).then_some(f as i64)
}

/// Text as a number: as written, else with surrounding whitespace removed.
pub fn parse_float(text: &str) -> Option<f64> {
    text.parse::<f64>()
        .ok()
        .or_else(|| text.trim().parse::<f64>().ok())
}

/// A time as RFC 3339 in UTC with `Z`, with 3 fraction digits only when there is a fraction.
pub fn time_text(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => ms.to_string(),
    }
}

/// The shortest text that reads back as `f`, laid out as `1.0`, `0.001`, `1e20`, `1.5e-7`:
/// plain decimal for magnitudes from 1e-5 up to 1e16, scientific beyond.
pub fn float_text(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let sign = if f < 0.0 { "-" } else { "" };
    // `{:e}` gives the shortest round-trip digits: "1.2345e3".
    let scientific = format!("{:e}", f.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let length = digits.len() as i32;
    // The value is digits × 10^k; 10^(kk-1) <= value < 10^kk.
    let k = exponent - (length - 1);
    let kk = length + k;
    let body = if (0..=16).contains(&kk) && k >= 0 {
        format!("{digits}{}.0", "0".repeat(k as usize))
    } else if 0 < kk && kk <= 16 {
        let (whole, fraction) = digits.split_at(kk as usize);
        format!("{whole}.{fraction}")
    } else if -5 < kk && kk <= 0 {
        format!("0.{}{digits}", "0".repeat((-kk) as usize))
    } else if length == 1 {
        format!("{digits}e{}", kk - 1)
    } else {
        format!("{}.{}e{}", &digits[..1], &digits[1..], kk - 1)
    };
    format!("{sign}{body}")
}

/// Ascending order of two values of one column; nulls last. Values of different kinds
/// (which one column never holds) are ordered by kind.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.total_cmp(y),
        (Value::Int(x), Value::Float(y)) => (*x as f64).total_cmp(y),
        (Value::Float(x), Value::Int(y)) => x.total_cmp(&(*y as f64)),
        (Value::Text(x), Value::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Time(x), Value::Time(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn rank(value: &Value) -> u8 {
    match value {
        Value::Bool(_) => 0,
        Value::Int(_) | Value::Float(_) => 1,
        Value::Time(_) => 2,
        Value::Text(_) => 3,
        Value::Null => 4,
    }
}

/// A value usable as a map key (floats by their bits): for grouping and distinct counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    Text(String),
    Time(i64),
}

impl Key {
    pub fn of(value: &Value) -> Key {
        match value {
            Value::Null => Key::Null,
            Value::Bool(b) => Key::Bool(*b),
            Value::Int(i) => Key::Int(*i),
            // -0.0 and 0.0 are one value.
            Value::Float(f) => Key::Float(if *f == 0.0 { 0 } else { f.to_bits() }),
            Value::Text(s) => Key::Text(s.clone()),
            Value::Time(t) => Key::Time(*t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_shortest() {
        assert_eq!(float_text(1.0), "1.0");
        assert_eq!(float_text(-2.5), "-2.5");
        assert_eq!(float_text(0.001), "0.001");
        assert_eq!(float_text(0.00001), "0.00001");
        assert_eq!(float_text(0.000001), "1e-6");
        assert_eq!(float_text(1.5e-7), "1.5e-7");
        assert_eq!(float_text(1234567.0), "1234567.0");
        assert_eq!(float_text(1e16), "1e16");
        assert_eq!(float_text(1.25e20), "1.25e20");
        assert_eq!(float_text(123.456), "123.456");
    }

    #[test]
    fn times_print_rfc3339() {
        assert_eq!(time_text(0), "1970-01-01T00:00:00Z");
        assert_eq!(time_text(1_500), "1970-01-01T00:00:01.500Z");
    }

    #[test]
    fn casts_follow_the_language() {
        assert_eq!(Value::Text(" 42 ".into()).number(), Value::Float(42.0));
        assert_eq!(Value::Text("x".into()).number(), Value::Null);
        assert_eq!(Value::Float(2.9).cast(Kind::Int), Value::Int(2));
        assert_eq!(Value::Int(3).cast(Kind::Text), Value::Text("3".into()));
        assert_eq!(Value::Time(5).number(), Value::Int(5));
    }
}
