//! `format(pattern, a, b, …)`: Java's `String.format` for `%s %S %d %f %e %E %x %X %b %B %%
//! %n` with the flags `- 0 , + space`, width and precision. A null, missing or unsuitable
//! argument gives null (Sumo raises an error).
//!
//! Java rounds `%f` and `%e` half up on the shortest decimal form of the double (so
//! `%.2f` of 1.005 is `1.01`, and of 0.125 is `0.13`), and prints a double for `%s` as
//! `Double.toString` does (`1.0`, `1.0E10`).

use crate::value::Value;

pub fn format(values: &[Value]) -> Value {
    let Some(pattern) = values.first().and_then(Value::text) else {
        return Value::Null;
    };
    format_text(&pattern, &values[1..]).map_or(Value::Null, Value::Text)
}

/// One conversion specification.
struct Spec {
    flags: String,
    width: usize,
    precision: Option<usize>,
    conversion: char,
}

pub fn format_text(pattern: &str, arguments: &[Value]) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut next_argument = 0;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        let mut flags = String::new();
        while i < chars.len() && "-0,+ #".contains(chars[i]) {
            flags.push(chars[i]);
            i += 1;
        }
        let mut width = String::new();
        while i < chars.len() && chars[i].is_ascii_digit() {
            width.push(chars[i]);
            i += 1;
        }
        let mut precision = None;
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            let mut digits = String::new();
            while i < chars.len() && chars[i].is_ascii_digit() {
                digits.push(chars[i]);
                i += 1;
            }
            precision = Some(digits.parse().ok()?);
        }
        let conversion = *chars.get(i)?;
        i += 1;
        let spec = Spec {
            flags,
            width: if width.is_empty() {
                0
            } else {
                width.parse().ok()?
            },
            precision,
            conversion,
        };
        let body = match conversion {
            '%' => "%".to_string(),
            'n' => "\n".to_string(),
            _ => {
                let argument = arguments.get(next_argument)?;
                next_argument += 1;
                convert(&spec, argument)?
            }
        };
        out.push_str(&pad(&spec, body));
    }
    Some(out)
}

fn convert(spec: &Spec, argument: &Value) -> Option<String> {
    if argument.is_null() {
        return None;
    }
    let text = match spec.conversion {
        's' | 'S' => {
            let mut text = java_text(argument);
            if let Some(p) = spec.precision {
                text = text.chars().take(p).collect();
            }
            text
        }
        'b' | 'B' => match argument {
            Value::Bool(b) => b.to_string(),
            _ => "true".to_string(),
        },
        'd' => {
            let v = integer(argument)?;
            let digits = v.unsigned_abs().to_string();
            let digits = if spec.flags.contains(',') {
                group(&digits)
            } else {
                digits
            };
            signed(spec, digits, v < 0)
        }
        'x' | 'X' => format!("{:x}", integer(argument)?),
        'f' => {
            let v = argument.float()?;
            let digits = fixed(v.abs(), spec.precision.unwrap_or(6));
            let digits = if spec.flags.contains(',') {
                let (whole, fraction) = digits.split_at(digits.find('.').unwrap_or(digits.len()));
                format!("{}{fraction}", group(whole))
            } else {
                digits
            };
            signed(spec, digits, v.is_sign_negative() && v != 0.0)
        }
        'e' | 'E' => {
            let v = argument.float()?;
            let text = scientific(v.abs(), spec.precision.unwrap_or(6));
            signed(spec, text, v.is_sign_negative() && v != 0.0)
        }
        _ => return None,
    };
    Some(if spec.conversion.is_ascii_uppercase() {
        text.to_uppercase()
    } else {
        text
    })
}

/// `%d` and `%x` take integers: integral numbers, or text of one.
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Int(i) | Value::Time(i) => Some(*i),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Some(*f as i64),
        Value::Text(t) => t.trim().parse().ok(),
        _ => None,
    }
}

/// A value as `%s` shows it: a double as Java's `Double.toString`.
fn java_text(value: &Value) -> String {
    match value {
        Value::Float(f) => java_double(*f),
        Value::Time(ms) => ms.to_string(),
        other => other.text().unwrap_or_default(),
    }
}

/// The shortest decimal digits of a positive finite `f` and the exponent of the first
/// digit: `f = 0.d1d2d3… × 10^(exponent + 1)`.
fn shortest(f: f64) -> (Vec<u8>, i32) {
    let scientific = format!("{f:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|d| d - b'0')
        .collect();
    (digits, exponent.parse().unwrap_or(0))
}

/// Java's `Double.toString`: plain between 10^-3 and 10^7, else `d.dddE±n`.
fn java_double(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let sign = if f < 0.0 { "-" } else { "" };
    let (digits, exponent) = shortest(f.abs());
    let text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
    if (1e-3..1e7).contains(&f.abs()) {
        let plain = fixed_digits(&digits, exponent);
        let plain = if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        };
        return format!("{sign}{plain}");
    }
    let fraction = if text.len() > 1 { &text[1..] } else { "0" };
    format!("{sign}{}.{fraction}E{exponent}", &text[..1])
}

/// Digits with the exponent of the first digit, as plain decimal text.
fn fixed_digits(digits: &[u8], exponent: i32) -> String {
    let text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
    let point = exponent + 1;
    if point <= 0 {
        format!("0.{}{text}", "0".repeat((-point) as usize))
    } else if point as usize >= text.len() {
        format!("{text}{}", "0".repeat(point as usize - text.len()))
    } else {
        format!("{}.{}", &text[..point as usize], &text[point as usize..])
    }
}

/// Decimal digits rounded half up at `keep` digits after the decimal point, where the
/// first digit has exponent `exponent`. Returns the digits and the (possibly raised)
/// exponent.
fn round_half_up(digits: &[u8], exponent: i32, keep: i64) -> (Vec<u8>, i32) {
    // Number of digits to keep counted from the first digit.
    let count = i64::from(exponent) + 1 + keep;
    if count < 0 {
        return (vec![0], exponent);
    }
    let count = count as usize;
    if count >= digits.len() {
        return (digits.to_vec(), exponent);
    }
    let mut kept: Vec<u8> = digits[..count].to_vec();
    if digits[count] >= 5 {
        let mut at = kept.len();
        loop {
            if at == 0 {
                kept.insert(0, 1);
                return (kept, exponent + 1);
            }
            at -= 1;
            if kept[at] == 9 {
                kept[at] = 0;
            } else {
                kept[at] += 1;
                break;
            }
        }
    }
    if kept.is_empty() {
        kept.push(0);
    }
    (kept, exponent)
}

/// `%.Nf` of a non-negative value.
fn fixed(f: f64, precision: usize) -> String {
    if !f.is_finite() {
        return if f.is_nan() { "NaN" } else { "Infinity" }.into();
    }
    if f == 0.0 {
        return zero(precision);
    }
    let (digits, exponent) = shortest(f);
    let (digits, exponent) = round_half_up(&digits, exponent, precision as i64);
    if digits.iter().all(|d| *d == 0) {
        return zero(precision);
    }
    let plain = fixed_digits(&digits, exponent);
    let (whole, fraction) = plain.split_once('.').unwrap_or((&plain, ""));
    let mut fraction: String = fraction.chars().take(precision).collect();
    while fraction.len() < precision {
        fraction.push('0');
    }
    if precision == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{fraction}")
    }
}

fn zero(precision: usize) -> String {
    if precision == 0 {
        "0".into()
    } else {
        format!("0.{}", "0".repeat(precision))
    }
}

/// `%.Ne` of a non-negative value: `d.ddddde+NN`.
fn scientific(f: f64, precision: usize) -> String {
    if !f.is_finite() {
        return if f.is_nan() { "NaN" } else { "Infinity" }.into();
    }
    let (digits, exponent) = if f == 0.0 {
        (vec![0], 0)
    } else {
        let (digits, exponent) = shortest(f);
        // Keep 1 + precision significant digits.
        round_half_up(&digits, exponent, precision as i64 - i64::from(exponent))
    };
    let mut text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
    while text.len() < precision + 1 {
        text.push('0');
    }
    let mantissa = if precision == 0 {
        text[..1].to_string()
    } else {
        format!("{}.{}", &text[..1], &text[1..=precision])
    };
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

/// `,` every three digits of an integer's digits.
fn group(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn signed(spec: &Spec, digits: String, negative: bool) -> String {
    if negative {
        format!("-{digits}")
    } else if spec.flags.contains('+') {
        format!("+{digits}")
    } else if spec.flags.contains(' ') {
        format!(" {digits}")
    } else {
        digits
    }
}

/// Width: spaces on the left, or on the right with `-`, or zeros after the sign with `0`
/// (numbers only).
fn pad(spec: &Spec, body: String) -> String {
    let length = body.chars().count();
    if length >= spec.width {
        return body;
    }
    let fill = spec.width - length;
    if spec.flags.contains('-') {
        format!("{body}{}", " ".repeat(fill))
    } else if spec.flags.contains('0') && "dfxXeE".contains(spec.conversion) {
        let (sign, rest) = match body.chars().next() {
            Some(c @ ('-' | '+' | ' ')) => (c.to_string(), body[1..].to_string()),
            _ => (String::new(), body),
        };
        format!("{sign}{}{rest}", "0".repeat(fill))
    } else {
        format!("{}{body}", " ".repeat(fill))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pattern: &str, values: &[Value]) -> Option<String> {
        format_text(pattern, values)
    }

    #[test]
    fn java_rounding_and_layout() {
        use Value::{Float, Int, Text};
        assert_eq!(f("%.2f", &[Float(1.23456)]).as_deref(), Some("1.23"));
        assert_eq!(f("%.2f", &[Float(1.005)]).as_deref(), Some("1.01"));
        assert_eq!(f("%.2f", &[Float(0.125)]).as_deref(), Some("0.13"));
        assert_eq!(f("%.0f", &[Float(2.5)]).as_deref(), Some("3"));
        assert_eq!(f("%.1f", &[Float(0.04)]).as_deref(), Some("0.0"));
        assert_eq!(f("%.1f", &[Float(-0.04)]).as_deref(), Some("-0.0"));
        assert_eq!(f("%f", &[Int(3)]).as_deref(), Some("3.000000"));
        assert_eq!(f("%.2f", &[Float(99.999)]).as_deref(), Some("100.00"));
        assert_eq!(
            f("$%,.2f", &[Float(1234567.891)]).as_deref(),
            Some("$1,234,567.89")
        );
        assert_eq!(f("%,d", &[Int(-1234567)]).as_deref(), Some("-1,234,567"));
        assert_eq!(
            f("%05d|%-4d|%4d|%+d", &[Int(42), Int(7), Int(7), Int(5)]).as_deref(),
            Some("00042|7   |   7|+5")
        );
        assert_eq!(f("%e", &[Float(1234.5)]).as_deref(), Some("1.234500e+03"));
        assert_eq!(f("%.2E", &[Float(0.000999)]).as_deref(), Some("9.99E-04"));
        assert_eq!(f("%.1e", &[Float(9.96)]).as_deref(), Some("1.0e+01"));
        assert_eq!(
            f("%x %X %%%n", &[Int(255), Int(255)]).as_deref(),
            Some("ff FF %\n")
        );
        assert_eq!(
            f("%s|%s|%s", &[Float(1.0), Float(1e10), Float(0.0001)]).as_deref(),
            Some("1.0|1.0E10|1.0E-4")
        );
        assert_eq!(
            f("%S %.2s", &[Text("ab".into()), Text("xyz".into())]).as_deref(),
            Some("AB xy")
        );
        assert_eq!(f("%d", &[Text("x".into())]), None);
        assert_eq!(f("%s %s", &[Int(1)]), None);
        assert_eq!(f("%s", &[Value::Null]), None);
        assert_eq!(
            f("%b %b", &[Value::Bool(false), Int(0)]).as_deref(),
            Some("false true")
        );
    }
}
