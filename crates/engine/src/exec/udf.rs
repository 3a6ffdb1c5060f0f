//! Scalar functions DataFusion does not have, with Sumo's semantics: IP predicates, geo
//! lookups at query time, clock-aligned timeslices, regex captures, dynamic wildcard
//! matches, JSON paths and the canonical `_raw` text. Each is vectorised over Arrow arrays;
//! null input gives null (or `false` for predicates, which are two-valued).

use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListBuilder, StringArray, StringBuilder,
    StructArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use regex::Regex;

use crate::geo::{GeoDatabase, Location};

/// Turns the arguments into arrays of the batch's length (scalars are broadcast).
pub(super) fn arrays(args: &ScalarFunctionArgs) -> Result<Vec<ArrayRef>> {
    args.args
        .iter()
        .map(|a| a.to_array(args.number_rows))
        .collect()
}

/// Text view of an argument; non-text arrays are cast first.
pub(super) fn text(array: &ArrayRef) -> Result<StringArray> {
    let cast = arrow::compute::cast(array, &DataType::Utf8)?;
    Ok(cast.as_string::<i32>().clone())
}

macro_rules! impl_udf_eq {
    ($ty:ty, $($field:ident),*) => {
        impl PartialEq for $ty {
            fn eq(&self, other: &Self) -> bool {
                true $(&& self.$field == other.$field)*
            }
        }
        impl Eq for $ty {}
        impl std::hash::Hash for $ty {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                std::hash::Hash::hash(stringify!($ty), state);
                $(std::hash::Hash::hash(&self.$field, state);)*
            }
        }
    };
}
pub(super) use impl_udf_eq;

/// `isValidIP`, `isValidIPv4`, `isValidIPv6`, `isPrivateIP`, `isPublicIP`.
#[derive(Debug)]
pub struct IpPredicate {
    kind: IpPredicateKind,
    signature: Signature,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpPredicateKind {
    Valid,
    ValidV4,
    ValidV6,
    /// RFC 1918 IPv4 ranges. IPv6 and invalid input are not private (Sumo drops such rows
    /// with a warning; keeping them lets IPv6 senders reach the maps).
    Private,
    /// A valid address that is not private, loopback, link-local or otherwise reserved.
    Public,
}

impl_udf_eq!(IpPredicate, kind);

impl IpPredicate {
    pub fn udf(kind: IpPredicateKind) -> ScalarUDF {
        ScalarUDF::from(IpPredicate {
            kind,
            signature: Signature::any(1, Volatility::Immutable),
        })
    }

    fn test(&self, text: &str) -> bool {
        let Ok(address) = text.trim().parse::<IpAddr>() else {
            return false;
        };
        match (self.kind, address) {
            (IpPredicateKind::Valid, _) => true,
            (IpPredicateKind::ValidV4, IpAddr::V4(_)) => true,
            (IpPredicateKind::ValidV6, IpAddr::V6(_)) => true,
            (IpPredicateKind::Private, IpAddr::V4(v4)) => v4.is_private(),
            (IpPredicateKind::Public, address) => crate::geo::is_routable(address),
            _ => false,
        }
    }
}

impl ScalarUDFImpl for IpPredicate {
    fn name(&self) -> &str {
        match self.kind {
            IpPredicateKind::Valid => "isvalidip",
            IpPredicateKind::ValidV4 => "isvalidipv4",
            IpPredicateKind::ValidV6 => "isvalidipv6",
            IpPredicateKind::Private => "isprivateip",
            IpPredicateKind::Public => "ispublicip",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = text(&arrays(&args)?[0])?;
        let result: BooleanArray = input
            .iter()
            .map(|value| Some(value.is_some_and(|v| self.test(v))))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

/// `geo_lookup(ip)` at query time, for rows stored without geo columns and for IPs a query
/// computes: one struct per row with the columns a `lookup` asks for, so an address is
/// looked up once however many of its columns are read.
#[derive(Debug)]
pub struct GeoLookup {
    geo: Option<Arc<GeoDatabase>>,
    /// Lower-case names of [`crate::geo::GEO_COLUMNS`], each once.
    columns: Vec<String>,
    signature: Signature,
}

impl PartialEq for GeoLookup {
    fn eq(&self, other: &Self) -> bool {
        self.columns == other.columns
            && match (&self.geo, &other.geo) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}
impl Eq for GeoLookup {}
impl Hash for GeoLookup {
    fn hash<H: Hasher>(&self, state: &mut H) {
        "GeoLookup".hash(state);
        self.columns.hash(state);
    }
}

impl GeoLookup {
    pub fn udf(geo: Option<Arc<GeoDatabase>>, columns: Vec<String>) -> ScalarUDF {
        ScalarUDF::from(GeoLookup {
            geo,
            columns,
            signature: Signature::any(1, Volatility::Immutable),
        })
    }

    pub fn is_coordinate(column: &str) -> bool {
        matches!(column, "latitude" | "longitude")
    }

    fn fields(&self) -> Fields {
        self.columns
            .iter()
            .map(|column| {
                let kind = if GeoLookup::is_coordinate(column) {
                    DataType::Float64
                } else {
                    DataType::Utf8
                };
                Field::new(column, kind, true)
            })
            .collect()
    }
}

impl ScalarUDFImpl for GeoLookup {
    fn name(&self) -> &str {
        "geo_lookup"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(self.fields()))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = text(&arrays(&args)?[0])?;
        let locations: Vec<Option<Arc<Location>>> = input
            .iter()
            .map(|ip| {
                self.geo
                    .as_ref()
                    .zip(ip)
                    .and_then(|(g, ip)| g.lookup_text(ip))
            })
            .collect();
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|column| -> ArrayRef {
                if GeoLookup::is_coordinate(column) {
                    let latitude = column == "latitude";
                    Arc::new(
                        locations
                            .iter()
                            .map(|l| {
                                l.as_deref()
                                    .and_then(|l| if latitude { l.latitude } else { l.longitude })
                            })
                            .collect::<Float64Array>(),
                    )
                } else {
                    Arc::new(
                        locations
                            .iter()
                            .map(|l| l.as_deref().and_then(|l| l.text_column(column)))
                            .collect::<StringArray>(),
                    )
                }
            })
            .collect();
        let rows = StructArray::try_new(self.fields(), arrays, None)?;
        Ok(ColumnarValue::Array(Arc::new(rows)))
    }
}

/// `timeslice(t)`: the start of the clock-aligned bucket holding each time, from a table of
/// bucket starts computed once for the query range and time zone (which handles DST: a
/// calendar day is one bucket whatever its length). Rows arrive sorted by time within a
/// segment, so the bucket of the previous row is tried first and the search is rare.
#[derive(Debug)]
pub struct Timeslice {
    /// Sorted bucket starts, milliseconds.
    starts: Arc<Vec<i64>>,
    /// Fallback for times outside the table: fixed-width buckets from the first start.
    span: i64,
    signature: Signature,
}

impl_udf_eq!(Timeslice, starts, span);

impl Timeslice {
    pub fn udf(starts: Vec<i64>, span: i64) -> ScalarUDF {
        ScalarUDF::from(Timeslice {
            starts: Arc::new(starts),
            span: span.max(1),
            signature: Signature::any(1, Volatility::Immutable),
        })
    }

    /// The bucket of `millis`: its start and the index of that start in the table (or
    /// `usize::MAX` outside the table).
    fn bucket(&self, millis: i64, hint: usize) -> (i64, usize) {
        let starts = &self.starts;
        if let (Some(start), Some(next)) = (starts.get(hint), starts.get(hint + 1))
            && (*start..*next).contains(&millis)
        {
            return (*start, hint);
        }
        let (Some(first), Some(last)) = (starts.first(), starts.last()) else {
            return (millis.div_euclid(self.span) * self.span, usize::MAX);
        };
        if millis < *first || millis >= last.saturating_add(self.span) {
            return (
                first + (millis - first).div_euclid(self.span) * self.span,
                usize::MAX,
            );
        }
        let index = match starts.binary_search(&millis) {
            Ok(index) => index,
            Err(index) => index.saturating_sub(1),
        };
        (starts[index], index)
    }
}

impl ScalarUDFImpl for Timeslice {
    fn name(&self) -> &str {
        "timeslice"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(
            TimeUnit::Millisecond,
            Some("UTC".into()),
        ))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = &arrays(&args)?[0];
        let nanos = match input.data_type() {
            DataType::Timestamp(TimeUnit::Nanosecond, _) => Arc::clone(input),
            _ => arrow::compute::cast(input, &DataType::Timestamp(TimeUnit::Nanosecond, None))?,
        };
        let nanos = nanos.as_primitive::<arrow::datatypes::TimestampNanosecondType>();
        let mut hint = 0;
        let values: Vec<i64> = nanos
            .values()
            .iter()
            .map(|ns| {
                let (start, index) = self.bucket(ns.div_euclid(1_000_000), hint);
                hint = index.min(usize::MAX - 1);
                start
            })
            .collect();
        let result = TimestampMillisecondArray::new(values.into(), nanos.nulls().cloned());
        Ok(ColumnarValue::Array(Arc::new(result.with_timezone("UTC"))))
    }
}

/// A compiled regex for captures: `regex_capture(text)` gives the named group of the first
/// match; with `all`, a list of the group in every match (`parse regex … multi`).
#[derive(Debug)]
pub struct RegexCapture {
    pattern: String,
    group: String,
    all: bool,
    regex: Regex,
    signature: Signature,
}

impl_udf_eq!(RegexCapture, pattern, group, all);

impl RegexCapture {
    pub fn udf(pattern: &str, group: &str, all: bool) -> Result<ScalarUDF> {
        let regex = Regex::new(pattern).map_err(|e| DataFusionError::Plan(e.to_string()))?;
        Ok(ScalarUDF::from(RegexCapture {
            pattern: pattern.to_owned(),
            group: group.to_owned(),
            all,
            regex,
            signature: Signature::any(1, Volatility::Immutable),
        }))
    }
}

impl ScalarUDFImpl for RegexCapture {
    fn name(&self) -> &str {
        if self.all {
            "regex_capture_all"
        } else {
            "regex_capture"
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.all {
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
        } else {
            DataType::Utf8
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = text(&arrays(&args)?[0])?;
        if self.all {
            let mut builder = ListBuilder::new(StringBuilder::new());
            for value in input.iter() {
                if let Some(value) = value {
                    for captures in self.regex.captures_iter(value) {
                        if let Some(m) = captures.name(&self.group) {
                            builder.values().append_value(m.as_str());
                        }
                    }
                }
                builder.append(true);
            }
            return Ok(ColumnarValue::Array(Arc::new(builder.finish())));
        }
        let result: StringArray = input
            .iter()
            .map(|value| {
                value
                    .and_then(|v| self.regex.captures(v))
                    .and_then(|c| c.name(&self.group).map(|m| m.as_str().to_owned()))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

/// `regex_matches(text)`: whether the compiled regex finds a match (null input: false).
#[derive(Debug)]
pub struct RegexMatches {
    pattern: String,
    regex: Regex,
    signature: Signature,
}

impl_udf_eq!(RegexMatches, pattern);

impl RegexMatches {
    pub fn udf(pattern: &str) -> Result<ScalarUDF> {
        let regex = Regex::new(pattern).map_err(|e| DataFusionError::Plan(e.to_string()))?;
        Ok(ScalarUDF::from(RegexMatches {
            pattern: pattern.to_owned(),
            regex,
            signature: Signature::any(1, Volatility::Immutable),
        }))
    }
}

impl ScalarUDFImpl for RegexMatches {
    fn name(&self) -> &str {
        "regex_matches"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = text(&arrays(&args)?[0])?;
        let result: BooleanArray = input
            .iter()
            .map(|v| Some(v.is_some_and(|v| self.regex.is_match(v))))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

/// `x matches <field>`: the pattern is data, a Sumo wildcard (`*` only, whole string).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WildcardMatch {
    signature: Signature,
}

impl WildcardMatch {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::from(WildcardMatch {
            signature: Signature::any(2, Volatility::Immutable),
        })
    }
}

/// Whole-string match of a `*` wildcard pattern, without building a regex.
pub fn wildcard_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = parts.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl ScalarUDFImpl for WildcardMatch {
    fn name(&self) -> &str {
        "wildcard_match"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = arrays(&args)?;
        let (values, patterns) = (text(&arrays[0])?, text(&arrays[1])?);
        let result: BooleanArray = values
            .iter()
            .zip(patterns.iter())
            .map(|(v, p)| Some(matches!((v, p), (Some(v), Some(p)) if wildcard_matches(p, v))))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

/// `json_path(text)`: the value at a JSONPath-subset path; objects and arrays as JSON text,
/// a `[*]` step collects into a JSON array. Missing, null or non-JSON input gives null.
#[derive(Debug)]
pub struct JsonPath {
    path: mailscope_query::ir::JsonPath,
    text: String,
    signature: Signature,
}

impl_udf_eq!(JsonPath, text);

impl JsonPath {
    pub fn udf(path: &mailscope_query::ir::JsonPath) -> ScalarUDF {
        ScalarUDF::from(JsonPath {
            path: path.clone(),
            text: path.text.clone(),
            signature: Signature::any(1, Volatility::Immutable),
        })
    }
}

fn walk<'v>(
    value: &'v serde_json::Value,
    steps: &[mailscope_query::ir::JsonStep],
    out: &mut Vec<&'v serde_json::Value>,
) {
    use mailscope_query::ir::JsonStep;
    let Some((step, rest)) = steps.split_first() else {
        out.push(value);
        return;
    };
    match step {
        JsonStep::Key(key) => {
            if let Some(next) = value.get(key.as_str()) {
                walk(next, rest, out);
            }
        }
        JsonStep::Index(index) => {
            if let Some(next) = value.get(*index) {
                walk(next, rest, out);
            }
        }
        JsonStep::Wildcard => match value {
            serde_json::Value::Array(items) => items.iter().for_each(|item| walk(item, rest, out)),
            serde_json::Value::Object(map) => map.values().for_each(|item| walk(item, rest, out)),
            _ => {}
        },
    }
}

pub fn json_path_value(text: &str, path: &mailscope_query::ir::JsonPath) -> Option<String> {
    use mailscope_query::ir::JsonStep;
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let mut found = Vec::new();
    walk(&value, &path.steps, &mut found);
    let render = |v: &serde_json::Value| match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    if path.steps.iter().any(|s| matches!(s, JsonStep::Wildcard)) {
        if found.is_empty() {
            return None;
        }
        return Some(serde_json::Value::Array(found.into_iter().cloned().collect()).to_string());
    }
    found.first().and_then(|v| render(v))
}

impl ScalarUDFImpl for JsonPath {
    fn name(&self) -> &str {
        "json_path"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = text(&arrays(&args)?[0])?;
        let result: StringArray = input
            .iter()
            .map(|v| v.and_then(|v| json_path_value(v, &self.path)))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

/// `raw(fields…)`: the canonical JSON of a stored row (`_raw`), built only when a query
/// reads it (keyword search, `json` of a non-canonical key), never stored.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RawJson {
    names: Vec<String>,
    signature: Signature,
}

impl RawJson {
    pub fn udf(names: Vec<String>) -> ScalarUDF {
        let arity = names.len();
        ScalarUDF::from(RawJson {
            names,
            signature: Signature::any(arity, Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for RawJson {
    fn name(&self) -> &str {
        "raw_json"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Each cell as JSON text: numbers as their digits, text quoted and escaped, null.
        let values = arrays(&args)?
            .iter()
            .map(|column| {
                let numeric = column.data_type() == &DataType::Int64;
                let texts = super::keyword::texts(column)?;
                Ok(texts
                    .into_iter()
                    .map(|text| match text {
                        None => "null".to_owned(),
                        Some(text) if numeric => text,
                        Some(text) => serde_json::Value::String(text).to_string(),
                    })
                    .collect::<Vec<_>>())
            })
            .collect::<Result<Vec<_>>>()?;
        // Written by hand: a JSON map would sort the keys, and `_raw` keeps the record's order.
        let keys: Vec<String> = self
            .names
            .iter()
            .map(|name| serde_json::Value::from(name.as_str()).to_string())
            .collect();
        let mut builder = StringBuilder::new();
        let mut text = String::new();
        for row in 0..args.number_rows {
            text.clear();
            text.push('{');
            for (i, (key, column)) in keys.iter().zip(&values).enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(key);
                text.push(':');
                text.push_str(&column[row]);
            }
            text.push('}');
            builder.append_value(&text);
        }
        Ok(ColumnarValue::Array(Arc::new(builder.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_json_holds_every_field_whatever_the_string_type() {
        use arrow::array::{Int64Array, TimestampNanosecondArray};
        let names: Vec<String> = ["Subject", "Status", "Size", "Received", "ToIP"]
            .map(String::from)
            .to_vec();
        let udf = RawJson::udf(names);
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("Grüße \"x\""), None]));
        let received: ArrayRef = Arc::new(
            TimestampNanosecondArray::from(vec![1_700_000_000_123_456_700, 0]).with_timezone("UTC"),
        );
        let size: ArrayRef = Arc::new(Int64Array::from(vec![Some(42), None]));
        for string_type in [
            DataType::Utf8,
            DataType::Utf8View,
            DataType::LargeUtf8,
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        ] {
            let cast = arrow::compute::cast(&text, &string_type).expect("cast");
            let args = vec![
                cast.clone(),
                cast.clone(),
                size.clone(),
                received.clone(),
                cast,
            ];
            let fields = args
                .iter()
                .map(|a| Arc::new(Field::new("a", a.data_type().clone(), true)))
                .collect();
            let out = udf
                .invoke_with_args(ScalarFunctionArgs {
                    args: args.into_iter().map(ColumnarValue::Array).collect(),
                    arg_fields: fields,
                    number_rows: 2,
                    return_field: Arc::new(Field::new("raw", DataType::Utf8, true)),
                    config_options: Arc::new(Default::default()),
                })
                .expect("raw")
                .to_array(2)
                .expect("array");
            let out = out.as_string::<i32>();
            assert_eq!(
                out.value(0),
                r#"{"Subject":"Grüße \"x\"","Status":"Grüße \"x\"","Size":42,"Received":"2023-11-14T22:13:20.1234567Z","ToIP":"Grüße \"x\""}"#,
                "{string_type}"
            );
            assert_eq!(
                out.value(1),
                r#"{"Subject":null,"Status":null,"Size":null,"Received":"1970-01-01T00:00:00.0000000Z","ToIP":null}"#
            );
        }
    }

    #[test]
    fn wildcards_match_whole_strings() {
        assert!(wildcard_matches("*", ""));
        assert!(wildcard_matches("*Failed*", "Failed"));
        assert!(wildcard_matches("fail*", "failure"));
        assert!(!wildcard_matches("fail*", "Failure"));
        assert!(wildcard_matches("a*b*c", "a-b-b-c"));
        assert!(!wildcard_matches("a*b*c", "a-c"));
        assert!(wildcard_matches("abc", "abc"));
        assert!(!wildcard_matches("abc", "abcd"));
        assert!(!wildcard_matches("ab*ba", "aba"));
    }

    #[test]
    fn ip_predicates_follow_sumo() {
        let private = IpPredicate {
            kind: IpPredicateKind::Private,
            signature: Signature::any(1, Volatility::Immutable),
        };
        assert!(private.test("10.255.255.255"));
        assert!(private.test("192.168.0.1"));
        assert!(!private.test("127.0.0.1"));
        assert!(!private.test("fd00::1"));
        assert!(!private.test("not an ip"));
    }

    #[test]
    fn json_paths_extract_values_and_arrays() {
        let path = mailscope_query::ir::JsonPath {
            text: "labels[*].name".into(),
            steps: vec![
                mailscope_query::ir::JsonStep::Key("labels".into()),
                mailscope_query::ir::JsonStep::Wildcard,
                mailscope_query::ir::JsonStep::Key("name".into()),
            ],
        };
        let text = r#"{"labels":[{"name":"a/b"},{"name":"c"}]}"#;
        assert_eq!(
            json_path_value(text, &path).as_deref(),
            Some(r#"["a/b","c"]"#)
        );
        assert_eq!(json_path_value("not json", &path), None);
    }
}
