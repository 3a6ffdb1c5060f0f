//! Number literals with Sumo's suffixes: sizes (`K M G B T P` ×10^3n, `Ki Mi Gi Ti Pi`
//! ×1024^n, case-sensitive) and durations (`ns us ms s m h d w`, in milliseconds).

use crate::diagnostic::{Diagnostic, codes, suggest};
use crate::ir::Literal;
use crate::span::Span;

const SIZES: &[(&str, i64)] = &[
    ("K", 1_000),
    ("k", 1_000),
    ("M", 1_000_000),
    ("G", 1_000_000_000),
    ("B", 1_000_000_000),
    ("T", 1_000_000_000_000),
    ("P", 1_000_000_000_000_000),
    ("Ki", 1 << 10),
    ("Mi", 1 << 20),
    ("Gi", 1 << 30),
    ("Ti", 1 << 40),
    ("Pi", 1 << 50),
];

/// Duration units in milliseconds; `ns` and `us` are fractions of a millisecond.
const DURATIONS: &[(&str, f64)] = &[
    ("ns", 1e-6),
    ("us", 1e-3),
    ("ms", 1.0),
    ("s", 1_000.0),
    ("m", 60_000.0),
    ("h", 3_600_000.0),
    ("d", 86_400_000.0),
    ("w", 604_800_000.0),
];

fn parse_float(digits: &str, span: Span) -> Result<f64, Diagnostic> {
    match digits.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        _ => Err(Diagnostic::error(
            codes::INVALID_NUMBER,
            format!("number '{digits}' is out of range"),
            span,
        )),
    }
}

fn unknown_suffix(digits: &str, suffix: &str, span: Span, expected: &str) -> Diagnostic {
    let candidates = SIZES
        .iter()
        .map(|(s, _)| *s)
        .chain(DURATIONS.iter().map(|(s, _)| *s));
    let diagnostic = Diagnostic::error(
        codes::INVALID_NUMBER,
        format!("invalid number '{digits}{suffix}': unknown suffix '{suffix}'"),
        span,
    );
    match suggest(suffix, candidates) {
        Some(best) if best != suffix => {
            diagnostic.with_hint(format!("did you mean '{digits}{best}'? {expected}"))
        }
        _ => diagnostic.with_hint(expected.to_string()),
    }
}

/// A number in an expression: plain, with a size suffix, or with a duration suffix (ms).
pub(crate) fn number_literal(
    digits: &str,
    suffix: &str,
    span: Span,
) -> Result<Literal, Diagnostic> {
    let integral = !digits.contains(['.', 'e', 'E']);
    let out_of_range = || {
        Diagnostic::error(
            codes::INVALID_NUMBER,
            format!("number '{digits}{suffix}' is out of range"),
            span,
        )
    };
    if suffix.is_empty() {
        if integral && let Ok(value) = digits.parse::<i64>() {
            return Ok(Literal::Int(value));
        }
        return parse_float(digits, span).map(Literal::Float);
    }
    let multiplier = SIZES
        .iter()
        .find(|(s, _)| *s == suffix)
        .map(|(_, m)| *m as f64)
        .or_else(|| {
            DURATIONS
                .iter()
                .find(|(s, _)| *s == suffix)
                .map(|(_, m)| *m)
        });
    let Some(multiplier) = multiplier else {
        return Err(unknown_suffix(
            digits,
            suffix,
            span,
            "sizes: K M G T P Ki Mi Gi Ti Pi; durations: ms s m h d w",
        ));
    };
    if integral && multiplier.fract() == 0.0 && multiplier >= 1.0 {
        let exact = digits
            .parse::<i64>()
            .ok()
            .and_then(|v| v.checked_mul(multiplier as i64));
        if let Some(value) = exact {
            return Ok(Literal::Int(value));
        }
    }
    let value = parse_float(digits, span)? * multiplier;
    if value.is_finite() {
        Ok(Literal::Float(value))
    } else {
        Err(out_of_range())
    }
}

/// A duration (`15m`, `1d`, `1.5h`) in whole milliseconds.
pub(crate) fn duration_millis(digits: &str, suffix: &str, span: Span) -> Result<i64, Diagnostic> {
    if suffix.is_empty() {
        return Err(Diagnostic::error(
            codes::INVALID_DURATION,
            format!("duration '{digits}' has no unit"),
            span,
        )
        .with_hint(format!(
            "add a unit, e.g. '{digits}m', '{digits}h' or '{digits}d'"
        )));
    }
    let Some((_, unit)) = DURATIONS.iter().find(|(s, _)| *s == suffix) else {
        return Err(unknown_suffix(
            digits,
            suffix,
            span,
            "durations use ms, s, m, h, d or w",
        ));
    };
    let millis = parse_float(digits, span)? * unit;
    if millis.fract() != 0.0 || !(0.0..9.0e15).contains(&millis) {
        return Err(Diagnostic::error(
            codes::INVALID_DURATION,
            format!("duration '{digits}{suffix}' is not a whole number of milliseconds in range"),
            span,
        ));
    }
    Ok(millis as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_suffixes() {
        let span = Span::default();
        assert_eq!(
            number_literal("1", "Gi", span),
            Ok(Literal::Int(1_073_741_824))
        );
        assert_eq!(number_literal("2", "K", span), Ok(Literal::Int(2000)));
        assert_eq!(number_literal("1.5", "K", span), Ok(Literal::Float(1500.0)));
        assert_eq!(number_literal("1e3", "", span), Ok(Literal::Float(1000.0)));
        assert_eq!(number_literal("5", "m", span), Ok(Literal::Int(300_000)));
        assert!(number_literal("5", "x", span).is_err());
        assert!(number_literal("1e999", "", span).is_err());
    }

    #[test]
    fn durations() {
        let span = Span::default();
        assert_eq!(duration_millis("1", "d", span), Ok(86_400_000));
        assert_eq!(duration_millis("15", "m", span), Ok(900_000));
        assert!(duration_millis("15", "", span).is_err());
        assert!(duration_millis("15", "M", span).is_err());
    }
}
