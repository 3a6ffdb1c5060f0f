//! Human durations in the configuration: `90s`, `5m`, `1h30m`, `2d`, `250ms`.

use std::time::Duration;

/// Parses a duration made of one or more `<number><unit>` parts (units `ms`, `s`, `m`, `h`,
/// `d`, `w`). A bare number is refused: `300` could mean seconds or milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration; expected e.g. \"90s\", \"5m\", \"1h30m\"".to_owned());
    }
    let mut total = Duration::ZERO;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "{trimmed:?} is not a duration; expected e.g. \"90s\", \"5m\", \"1h30m\""
            ));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{trimmed:?}: number too large"))?;
        rest = rest[digits..].trim_start();
        let unit_length = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_length];
        rest = rest[unit_length..].trim_start();
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "" => {
                return Err(format!(
                    "{trimmed:?} has no unit; write e.g. \"{number}s\" or \"{number}m\""
                ));
            }
            other => {
                return Err(format!(
                    "{trimmed:?}: unknown unit {other:?}; use ms, s, m, h, d or w"
                ));
            }
        };
        let millis = number
            .checked_mul(millis_per_unit)
            .ok_or_else(|| format!("{trimmed:?}: duration too large"))?;
        total = total
            .checked_add(Duration::from_millis(millis))
            .ok_or_else(|| format!("{trimmed:?}: duration too large"))?;
    }
    Ok(total)
}

/// The shortest text [`parse_duration`] reads back as `duration` (whole milliseconds).
pub fn format_duration(duration: Duration) -> String {
    let mut millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    let mut text = String::new();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if millis >= size {
            text.push_str(&format!("{}{unit}", millis / size));
            millis %= size;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn refuses_bare_numbers_and_unknown_units() {
        assert!(parse_duration("300").unwrap_err().contains("no unit"));
        assert!(
            parse_duration("5 minutes")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("m5").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn format_round_trips() {
        for text in ["90s", "5m", "1h30m", "2d", "250ms", "1d2h3m4s5ms"] {
            let duration = parse_duration(text).unwrap_or_default();
            assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
    }
}
