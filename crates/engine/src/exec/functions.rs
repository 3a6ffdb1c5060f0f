//! Scalar functions of the language that DataFusion does not have (`format` is in
//! `format`): `formatDate`/`parseDate` (Java date letters, see `dates`), `compareCIDRPrefix`,
//! `replace` with a regex, `split` columns, `json auto` keys and the captures of
//! `parse regex … multi`. Null input gives null (or false for predicates).

use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListBuilder, StringArray, StringBuilder,
    StructBuilder,
};
use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use chrono_tz::Tz;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use regex::Regex;

use super::dates;
use super::udf::{arrays, impl_udf_eq, text};

/// Milliseconds since the epoch of a time or number argument.
fn millis(array: &ArrayRef) -> Result<Int64Array> {
    let cast = match array.data_type() {
        DataType::Timestamp(_, _) => arrow::compute::cast(
            &arrow::compute::cast(array, &DataType::Timestamp(TimeUnit::Millisecond, None))?,
            &DataType::Int64,
        )?,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
            let floats = arrow::compute::cast_with_options(
                array,
                &DataType::Float64,
                &arrow::compute::CastOptions {
                    safe: true,
                    ..Default::default()
                },
            )?;
            arrow::compute::cast(&floats, &DataType::Int64)?
        }
        _ => arrow::compute::cast(array, &DataType::Int64)?,
    };
    Ok(cast.as_primitive::<arrow::datatypes::Int64Type>().clone())
}

/// The zone of row `row` of an optional zone argument, or the query's zone. An unknown zone
/// name gives `None` (null output).
fn zone(zones: Option<&StringArray>, row: usize, default: Tz) -> Option<Tz> {
    match zones {
        None => Some(default),
        Some(zones) if zones.is_null(row) => Some(default),
        Some(zones) => zones.value(row).trim().parse().ok(),
    }
}

/// `formatDate(time, pattern [, zone])` with Java `SimpleDateFormat` letters.
#[derive(Debug)]
pub struct FormatDate {
    zone: Tz,
    signature: Signature,
}

impl_udf_eq!(FormatDate, zone);

impl FormatDate {
    pub fn udf(zone: Tz) -> ScalarUDF {
        ScalarUDF::from(FormatDate {
            zone,
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for FormatDate {
    fn name(&self) -> &str {
        "formatdate"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = arrays(&args)?;
        let times = millis(&arrays[0])?;
        let patterns = arrays.get(1).map(text).transpose()?;
        let zones = arrays.get(2).map(text).transpose()?;
        let mut builder = StringBuilder::new();
        for row in 0..args.number_rows {
            let pattern = match &patterns {
                Some(p) if p.is_null(row) => None,
                Some(p) => Some(p.value(row)),
                None => Some(dates::DEFAULT_PATTERN),
            };
            let value = (!times.is_null(row))
                .then(|| times.value(row))
                .zip(pattern)
                .zip(zone(zones.as_ref(), row, self.zone))
                .and_then(|((ms, pattern), tz)| dates::format(ms, pattern, tz));
            builder.append_option(value);
        }
        Ok(ColumnarValue::Array(Arc::new(builder.finish())))
    }
}

/// `parseDate(text, pattern [, zone])`: milliseconds since the epoch.
#[derive(Debug)]
pub struct ParseDate {
    zone: Tz,
    signature: Signature,
}

impl_udf_eq!(ParseDate, zone);

impl ParseDate {
    pub fn udf(zone: Tz) -> ScalarUDF {
        ScalarUDF::from(ParseDate {
            zone,
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for ParseDate {
    fn name(&self) -> &str {
        "parsedate"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = arrays(&args)?;
        let texts = text(&arrays[0])?;
        let patterns = arrays.get(1).map(text).transpose()?;
        let zones = arrays.get(2).map(text).transpose()?;
        let result: Int64Array = (0..args.number_rows)
            .map(|row| {
                let pattern = match &patterns {
                    Some(p) if p.is_null(row) => return None,
                    Some(p) => p.value(row),
                    None => dates::DEFAULT_PATTERN,
                };
                if texts.is_null(row) {
                    return None;
                }
                let tz = zone(zones.as_ref(), row, self.zone)?;
                dates::parse(texts.value(row), pattern, tz)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

/// Whether two addresses of one family share their first `bits` bits.
pub fn same_prefix(a: &str, b: &str, bits: i64) -> bool {
    let (Ok(a), Ok(b)) = (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>()) else {
        return false;
    };
    let (a, b, width) = match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let Ok(bits) = u32::try_from(bits) else {
        return false;
    };
    if bits > width {
        return false;
    }
    let shift = width - bits;
    shift >= 128 || (a >> shift) == (b >> shift)
}

/// `compareCIDRPrefix(ip1, ip2, bits)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CompareCidrPrefix {
    signature: Signature,
}

impl CompareCidrPrefix {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::from(CompareCidrPrefix {
            signature: Signature::any(3, Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for CompareCidrPrefix {
    fn name(&self) -> &str {
        "comparecidrprefix"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = arrays(&args)?;
        let (a, b, bits) = (text(&arrays[0])?, text(&arrays[1])?, millis(&arrays[2])?);
        let result: BooleanArray = (0..args.number_rows)
            .map(|row| {
                let valid = !(a.is_null(row) || b.is_null(row) || bits.is_null(row));
                Some(valid && same_prefix(a.value(row), b.value(row), bits.value(row)))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

/// Sumo's replacement text in the `regex` crate's syntax: `$1` → `${1}` (so `$1a` is group 1
/// then `a`), `${name}` kept, `\$` a literal `$`, `\\` a literal `\`, any other `$` literal.
pub fn replacement_template(sumo: &str) -> String {
    let mut out = String::new();
    let mut chars = sumo.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('$' | '\\')) => match chars.next() {
                Some('$') => out.push_str("$$"),
                _ => out.push('\\'),
            },
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push_str("${");
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    out.push(d);
                    chars.next();
                }
                out.push('}');
            }
            '$' if chars.peek() == Some(&'{') => out.push('$'),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

/// `replace(text, /re/, "repl")`: every match replaced; `$1`, `${name}` in the replacement.
#[derive(Debug)]
pub struct RegexReplace {
    pattern: String,
    regex: Regex,
    signature: Signature,
}

impl_udf_eq!(RegexReplace, pattern);

impl RegexReplace {
    pub fn udf(pattern: &str) -> Result<ScalarUDF> {
        let regex = Regex::new(pattern).map_err(|e| DataFusionError::Plan(e.to_string()))?;
        Ok(ScalarUDF::from(RegexReplace {
            pattern: pattern.to_owned(),
            regex,
            signature: Signature::any(2, Volatility::Immutable),
        }))
    }
}

impl ScalarUDFImpl for RegexReplace {
    fn name(&self) -> &str {
        "regex_replace_all"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = arrays(&args)?;
        let (values, replacements) = (text(&arrays[0])?, text(&arrays[1])?);
        let result: StringArray = values
            .iter()
            .zip(replacements.iter())
            .map(|(value, replacement)| {
                let template = replacement_template(replacement?);
                Some(
                    self.regex
                        .replace_all(value?, template.as_str())
                        .into_owned(),
                )
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

/// The columns of one delimited line: `quote` encloses text that may hold the delimiter (the
/// quotes are removed, a doubled quote inside is one quote), `escape` makes the next
/// character literal.
pub fn split_line(line: &str, delimiter: char, quote: char, escape: char) -> Vec<String> {
    let mut columns = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        let current = columns.last_mut();
        let Some(current) = current else { break };
        if c == escape {
            if let Some(next) = chars.next() {
                current.push(next);
            }
        } else if c == quote {
            if quoted && chars.peek() == Some(&quote) {
                current.push(quote);
                chars.next();
            } else {
                quoted = !quoted;
            }
        } else if c == delimiter && !quoted {
            columns.push(String::new());
        } else {
            current.push(c);
        }
    }
    columns
}

/// `split f … extract N as a`: column `index` (1-based) of each value, null when absent.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SplitColumn {
    delimiter: char,
    quote: char,
    escape: char,
    index: usize,
    signature: Signature,
}

impl SplitColumn {
    pub fn udf(delimiter: char, quote: char, escape: char, index: usize) -> ScalarUDF {
        ScalarUDF::from(SplitColumn {
            delimiter,
            quote,
            escape,
            index,
            signature: Signature::any(1, Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for SplitColumn {
    fn name(&self) -> &str {
        "split_column"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let values = text(&arrays(&args)?[0])?;
        let result: StringArray = values
            .iter()
            .map(|value| {
                let columns = split_line(value?, self.delimiter, self.quote, self.escape);
                columns.into_iter().nth(self.index.checked_sub(1)?)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

/// `json_keys(text)`: the top-level keys of a JSON object, in document order (null when the
/// text is not a JSON object).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct JsonKeys {
    signature: Signature,
}

impl JsonKeys {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::from(JsonKeys {
            signature: Signature::any(1, Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for JsonKeys {
    fn name(&self) -> &str {
        "json_keys"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new(
            "item",
            DataType::Utf8,
            true,
        ))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let values = text(&arrays(&args)?[0])?;
        let mut builder = ListBuilder::new(StringBuilder::new());
        for value in values.iter() {
            let object = value.and_then(|v| {
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(v).ok()
            });
            match object {
                Some(object) => {
                    for key in object.keys() {
                        builder.values().append_value(key);
                    }
                    builder.append(true);
                }
                None => builder.append(false),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(builder.finish())))
    }
}

/// Whether `pattern` is one named group around everything (`(?<word>\w+)`), so that each
/// match is the group's value.
pub fn whole_match(pattern: &str, groups: &[String]) -> bool {
    match (groups, regex_syntax::parse(pattern)) {
        ([group], Ok(hir)) => matches!(
            hir.kind(),
            regex_syntax::hir::HirKind::Capture(capture)
                if capture.name.as_deref() == Some(group.as_str())
        ),
        _ => false,
    }
}

/// `parse regex "…" multi` with named groups: every match as a struct of the groups, or null
/// when nothing matches (so that `nodrop` keeps the row once).
#[derive(Debug)]
pub struct RegexMatchesAll {
    pattern: String,
    groups: Vec<String>,
    regex: Regex,
    /// The pattern is one named group around everything (`(?<word>\w+)`): each match is the
    /// group, so matches are found without capture positions (several times faster).
    whole_match: bool,
    signature: Signature,
}

impl_udf_eq!(RegexMatchesAll, pattern, groups);

impl RegexMatchesAll {
    pub fn udf(pattern: &str, groups: &[String]) -> Result<ScalarUDF> {
        let regex = Regex::new(pattern).map_err(|e| DataFusionError::Plan(e.to_string()))?;
        Ok(ScalarUDF::from(RegexMatchesAll {
            pattern: pattern.to_owned(),
            groups: groups.to_vec(),
            regex,
            whole_match: whole_match(pattern, groups),
            signature: Signature::any(1, Volatility::Immutable),
        }))
    }

    fn fields(&self) -> Fields {
        self.groups
            .iter()
            .map(|g| Field::new(g, DataType::Utf8, true))
            .collect()
    }
}

impl ScalarUDFImpl for RegexMatchesAll {
    fn name(&self) -> &str {
        "regex_matches_all"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(self.fields()),
            true,
        ))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let values = text(&arrays(&args)?[0])?;
        let fields = self.fields();
        let builders: Vec<Box<dyn arrow::array::ArrayBuilder>> = self
            .groups
            .iter()
            .map(|_| Box::new(StringBuilder::new()) as Box<dyn arrow::array::ArrayBuilder>)
            .collect();
        let mut list = ListBuilder::new(StructBuilder::new(fields, builders));
        for value in values.iter() {
            let mut any = false;
            if let (Some(value), true) = (value, self.whole_match) {
                for found in self.regex.find_iter(value) {
                    any = true;
                    let entry = list.values();
                    entry
                        .field_builder::<StringBuilder>(0)
                        .ok_or_else(|| DataFusionError::Internal("group builder".into()))?
                        .append_value(found.as_str());
                    entry.append(true);
                }
            } else if let Some(value) = value {
                for captures in self.regex.captures_iter(value) {
                    any = true;
                    let entry = list.values();
                    for (index, group) in self.groups.iter().enumerate() {
                        let builder = entry
                            .field_builder::<StringBuilder>(index)
                            .ok_or_else(|| DataFusionError::Internal("group builder".into()))?;
                        builder.append_option(captures.name(group).map(|m| m.as_str()));
                    }
                    entry.append(true);
                }
            }
            list.append(any);
        }
        Ok(ColumnarValue::Array(Arc::new(list.finish())))
    }
}

/// `values`: a list of distinct texts as one text, sorted (byte order: digits, then upper
/// case, then lower case, as Sumo lists them), one value per line; an empty list is null.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SortedLines {
    signature: Signature,
}

impl SortedLines {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::from(SortedLines {
            signature: Signature::any(1, Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for SortedLines {
    fn name(&self) -> &str {
        "sorted_lines"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let lists = &arrays(&args)?[0];
        let lists = lists
            .as_list_opt::<i32>()
            .ok_or_else(|| DataFusionError::Internal("values: not a list".into()))?;
        let mut builder = StringBuilder::new();
        for list in lists.iter() {
            let mut values: Vec<String> = match list {
                Some(values) => text(&values)?.iter().flatten().map(str::to_owned).collect(),
                None => Vec::new(),
            };
            values.sort();
            values.dedup();
            if values.is_empty() {
                builder.append_null();
            } else {
                builder.append_value(values.join("\n"));
            }
        }
        Ok(ColumnarValue::Array(Arc::new(builder.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacement_uses_sumo_syntax() {
        assert_eq!(replacement_template("$1a"), "${1}a");
        assert_eq!(replacement_template("${name}-$0"), "${name}-${0}");
        assert_eq!(replacement_template("\\$5 \\\\ $"), "$$5 \\ $$");
    }

    #[test]
    fn split_handles_quotes_and_escapes() {
        assert_eq!(split_line("a,\"b,c\",d", ',', '"', '\\'), ["a", "b,c", "d"]);
        assert_eq!(split_line("a\\,b,,c", ',', '"', '\\'), ["a,b", "", "c"]);
        assert_eq!(
            split_line("x;\"say \"\"hi\"\"\"", ';', '"', '\\'),
            ["x", "say \"hi\""]
        );
    }

    #[test]
    fn cidr_prefixes() {
        assert!(same_prefix("10.1.2.3", "10.1.200.1", 16));
        assert!(!same_prefix("10.1.2.3", "10.2.2.3", 16));
        assert!(same_prefix("10.1.2.3", "192.168.0.1", 0));
        assert!(!same_prefix("10.1.2.3", "10.1.2.3", 33));
        assert!(same_prefix("2001:db8::1", "2001:db8::ffff", 64));
        assert!(!same_prefix("10.1.2.3", "::1", 8));
        assert!(!same_prefix("x", "10.1.2.3", 8));
    }
}
