//! `format("%.2f", x)`: Java's `String.format` for the conversions Sumo's examples use.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::udf::{arrays, text};

/// A cell as a format argument.
#[derive(Debug, Clone)]
pub enum Argument {
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
}

fn argument(array: &ArrayRef, row: usize) -> Result<Option<Argument>> {
    let value = ScalarValue::try_from_array(array, row)?;
    if value.is_null() {
        return Ok(None);
    }
    Ok(Some(match value {
        ScalarValue::Int8(Some(v)) => Argument::Int(v.into()),
        ScalarValue::Int16(Some(v)) => Argument::Int(v.into()),
        ScalarValue::Int32(Some(v)) => Argument::Int(v.into()),
        ScalarValue::Int64(Some(v)) => Argument::Int(v),
        ScalarValue::UInt32(Some(v)) => Argument::Int(v.into()),
        ScalarValue::UInt64(Some(v)) => Argument::Int(i64::try_from(v).unwrap_or(i64::MAX)),
        ScalarValue::Float32(Some(v)) => Argument::Float(v.into()),
        ScalarValue::Float64(Some(v)) => Argument::Float(v),
        ScalarValue::Boolean(Some(v)) => Argument::Bool(v),
        ScalarValue::TimestampMillisecond(Some(v), _) => Argument::Int(v),
        ScalarValue::TimestampNanosecond(Some(v), _) => Argument::Int(v.div_euclid(1_000_000)),
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => Argument::Text(s),
        other => Argument::Text(other.to_string()),
    }))
}

impl Argument {
    fn as_f64(&self) -> Option<f64> {
        match self {
            Argument::Int(v) => Some(*v as f64),
            Argument::Float(v) => Some(*v),
            Argument::Text(s) => s.trim().parse().ok(),
            Argument::Bool(_) => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match self {
            Argument::Int(v) => Some(*v),
            Argument::Float(v) if v.fract() == 0.0 && v.abs() < 9.2e18 => Some(*v as i64),
            Argument::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn as_text(&self) -> String {
        match self {
            Argument::Int(v) => v.to_string(),
            Argument::Float(v) => java_double(*v),
            Argument::Text(s) => s.clone(),
            Argument::Bool(b) => b.to_string(),
        }
    }
}

/// Java's `Double.toString`: the shortest digits that read back as the value, plain
/// between 10⁻³ and 10⁷ (always with a fraction: `1.0`), else as `d.dddE±n` (`1.0E10`).
pub fn java_double(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let magnitude = value.abs();
    if magnitude == 0.0 || (1e-3..1e7).contains(&magnitude) {
        let text = value.to_string();
        return if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        };
    }
    let text = format!("{value:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_owned()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exponent}")
}

/// Java's `%.pf`: the shortest decimal digits of the value (as `Double.toString` has them)
/// rounded half up to `p` places, so `0.125` gives `0.13` and `1.005` gives `1.01`.
fn java_fixed(value: f64, precision: usize) -> String {
    if !value.is_finite() {
        return java_double(value);
    }
    let text = value.abs().to_string();
    let (integer, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let mut digits: Vec<u8> = integer
        .bytes()
        .chain(
            fraction
                .bytes()
                .chain(std::iter::repeat(b'0'))
                .take(precision),
        )
        .map(|b| b - b'0')
        .collect();
    if fraction
        .as_bytes()
        .get(precision)
        .is_some_and(|d| *d >= b'5')
    {
        let mut i = digits.len();
        loop {
            if i == 0 {
                digits.insert(0, 1);
                break;
            }
            i -= 1;
            if digits[i] == 9 {
                digits[i] = 0;
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    let split = digits.len() - precision;
    let mut out = String::new();
    if value.is_sign_negative() {
        out.push('-');
    }
    out.extend(digits[..split].iter().map(|d| char::from(b'0' + d)));
    if precision > 0 {
        out.push('.');
        out.extend(digits[split..].iter().map(|d| char::from(b'0' + d)));
    }
    out
}

/// Inserts `,` every three digits of the integer part of `digits` (which may start with `-`).
fn group_thousands(digits: &str) -> String {
    let (sign, rest) = digits
        .strip_prefix('-')
        .map_or(("", digits), |rest| ("-", rest));
    let (integer, fraction) = rest.split_at(rest.find('.').unwrap_or(rest.len()));
    let mut grouped = String::new();
    for (i, c) in integer.chars().enumerate() {
        if i > 0 && (integer.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}{fraction}")
}

/// Java's `%e`: one digit, the fraction, `e+NN`.
fn scientific(value: f64, precision: usize) -> String {
    let text = format!("{value:.precision$e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) => {
            let (sign, digits) = exponent
                .strip_prefix('-')
                .map_or(("+", exponent), |d| ("-", d));
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => text,
    }
}

/// `format("%.2f", x)`: Java's `String.format` for the conversions `s S d f e E x X b %
/// n` with the flags `- 0 , + space`, width and precision. `None` when an argument is
/// missing, null or of the wrong kind.
pub fn format_text(pattern: &str, arguments: &[Option<Argument>]) -> Option<String> {
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if "-0,+ #".contains(f) {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut digits = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(d);
                chars.next();
            }
            precision = Some(digits.parse().ok()?);
        }
        let conversion = chars.next()?;
        let body = match conversion {
            '%' => "%".to_string(),
            'n' => "\n".to_string(),
            _ => {
                let value = arguments.get(next)?.as_ref()?;
                next += 1;
                let signed = |text: String, negative: bool| {
                    if negative {
                        text
                    } else if flags.contains('+') {
                        format!("+{text}")
                    } else if flags.contains(' ') {
                        format!(" {text}")
                    } else {
                        text
                    }
                };
                match conversion {
                    's' | 'S' => {
                        let mut text = value.as_text();
                        if let Some(p) = precision {
                            text = text.chars().take(p).collect();
                        }
                        if conversion == 'S' {
                            text.to_uppercase()
                        } else {
                            text
                        }
                    }
                    'b' | 'B' => match value {
                        Argument::Bool(b) => b.to_string(),
                        _ => "true".to_string(),
                    },
                    'd' => {
                        let v = value.as_i64()?;
                        let digits = v.to_string();
                        let digits = if flags.contains(',') {
                            group_thousands(&digits)
                        } else {
                            digits
                        };
                        signed(digits, v < 0)
                    }
                    'x' | 'X' => {
                        let v = value.as_i64()?;
                        let hex = format!("{v:x}");
                        if conversion == 'X' {
                            hex.to_uppercase()
                        } else {
                            hex
                        }
                    }
                    'f' => {
                        let v = value.as_f64()?;
                        let p = precision.unwrap_or(6);
                        let digits = java_fixed(v, p);
                        let digits = if flags.contains(',') {
                            group_thousands(&digits)
                        } else {
                            digits
                        };
                        signed(digits, v.is_sign_negative())
                    }
                    'e' | 'E' => {
                        let v = value.as_f64()?;
                        let text = scientific(v, precision.unwrap_or(6));
                        let text = if conversion == 'E' {
                            text.to_uppercase()
                        } else {
                            text
                        };
                        signed(text, v.is_sign_negative())
                    }
                    _ => return None,
                }
            }
        };
        let width: usize = if width.is_empty() {
            0
        } else {
            width.parse().ok()?
        };
        let length = body.chars().count();
        if length >= width {
            out.push_str(&body);
        } else if flags.contains('-') {
            out.push_str(&body);
            out.extend(std::iter::repeat_n(' ', width - length));
        } else if flags.contains('0') && "dfxXeE".contains(conversion) {
            let (sign, digits) = match body.chars().next() {
                Some(s @ ('-' | '+' | ' ')) => (s.to_string(), body[1..].to_string()),
                _ => (String::new(), body.clone()),
            };
            out.push_str(&sign);
            out.extend(std::iter::repeat_n('0', width - length));
            out.push_str(&digits);
        } else {
            out.extend(std::iter::repeat_n(' ', width - length));
            out.push_str(&body);
        }
    }
    Some(out)
}

/// `format(pattern, a, b, …)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Format {
    signature: Signature,
}

impl Format {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::from(Format {
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for Format {
    fn name(&self) -> &str {
        "format"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = arrays(&args)?;
        let Some((patterns, values)) = arrays.split_first() else {
            return Err(DataFusionError::Plan("format needs a pattern".into()));
        };
        let patterns = text(patterns)?;
        let mut builder = StringBuilder::new();
        for row in 0..args.number_rows {
            let arguments = values
                .iter()
                .map(|a| argument(a, row))
                .collect::<Result<Vec<_>>>()?;
            let formatted = if patterns.is_null(row) {
                None
            } else {
                format_text(patterns.value(row), &arguments)
            };
            builder.append_option(formatted);
        }
        Ok(ColumnarValue::Array(Arc::new(builder.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(pattern: &str, values: &[Argument]) -> Option<String> {
        let values: Vec<Option<Argument>> = values.iter().cloned().map(Some).collect();
        format_text(pattern, &values)
    }

    #[test]
    fn floats_round_and_print_as_java_does() {
        assert_eq!(java_fixed(0.125, 2), "0.13");
        assert_eq!(java_fixed(1.005, 2), "1.01");
        assert_eq!(java_fixed(2.5, 0), "3");
        assert_eq!(java_fixed(-0.001, 2), "-0.00");
        assert_eq!(java_fixed(9.999, 2), "10.00");
        assert_eq!(java_fixed(1234.5, 3), "1234.500");
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(1e10), "1.0E10");
        assert_eq!(java_double(1.5e-4), "1.5E-4");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(-2.25), "-2.25");
        assert_eq!(
            format_text(
                "%s|%.2f",
                &[Some(Argument::Float(1.0)), Some(Argument::Float(0.125))]
            )
            .as_deref(),
            Some("1.0|0.13")
        );
    }

    #[test]
    fn format_follows_java() {
        use Argument::{Float, Int, Text};
        assert_eq!(format("%.2f", &[Float(1.23456)]).as_deref(), Some("1.23"));
        assert_eq!(
            format("$%,.2f", &[Float(1234567.891)]).as_deref(),
            Some("$1,234,567.89")
        );
        assert_eq!(
            format("%,d", &[Int(-1234567)]).as_deref(),
            Some("-1,234,567")
        );
        assert_eq!(
            format("%05d|%-4d|%4d", &[Int(42), Int(7), Int(7)]).as_deref(),
            Some("00042|7   |   7")
        );
        assert_eq!(
            format("%S and %s", &[Text("ab".into()), Text("cd".into())]).as_deref(),
            Some("AB and cd")
        );
        assert_eq!(
            format("%x %X %%", &[Int(255), Int(255)]).as_deref(),
            Some("ff FF %")
        );
        assert_eq!(
            format("%e", &[Float(1234.5)]).as_deref(),
            Some("1.234500e+03")
        );
        assert_eq!(format("%d", &[Text("12".into())]).as_deref(), Some("12"));
        assert_eq!(format("%d", &[Text("x".into())]), None);
        assert_eq!(format("%s %s", &[Int(1)]), None);
        assert_eq!(format_text("%s", &[None]), None);
    }
}
