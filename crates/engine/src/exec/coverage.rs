//! Type coverage of the engine's own functions: every scalar, aggregate and window function
//! implemented in this crate is listed here with sample arguments and called with text in
//! every representation a scan or a plan can produce (`Utf8`, `Utf8View`, `LargeUtf8`, a
//! dictionary) and with nulls. Each representation must give the answer plain `Utf8` gives,
//! and a null input row a null (or false) answer. The list is checked against the source: a
//! new `impl ScalarUDFImpl` (or aggregate / window implementation) without an entry here
//! fails the test.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};

use super::{format, functions, keyword, threat, udf};

/// A sample argument column of three rows, the last one null.
enum Arg {
    Text([&'static str; 2]),
    Int([i64; 2]),
    /// Nanoseconds since the epoch.
    Time([i64; 2]),
    /// A list of text values per row (the `values` aggregate's input).
    TextList,
}

struct Case {
    /// The implementing type, as the source names it.
    implementation: &'static str,
    udf: ScalarUDF,
    args: Vec<Arg>,
    /// A null in any argument need not give null (functions of several rows' text).
    null_propagates: bool,
}

fn case(implementation: &'static str, udf: ScalarUDF, args: Vec<Arg>) -> Case {
    Case {
        implementation,
        udf,
        args,
        null_propagates: true,
    }
}

fn cases() -> Vec<Case> {
    use Arg::{Int, Text, Time};
    let ip = || Text(["10.1.2.3", "2001:db8::1"]);
    let now = chrono::DateTime::from_timestamp(1_790_000_000, 0).expect("time");
    let path = mailscope_query::ir::JsonPath {
        text: "a".into(),
        steps: vec![mailscope_query::ir::JsonStep::Key("a".into())],
    };
    let index = Arc::new(mailscope_threat::ThreatIndex::new(Vec::new()));
    let record_fields = crate::schema::RECORD_FIELDS;
    vec![
        case(
            "FormatDate",
            functions::FormatDate::udf(chrono_tz::UTC),
            vec![
                Int([1_790_000_000_000, 0]),
                Text(["yyyy-MM-dd HH:mm", "EEE"]),
            ],
        ),
        case(
            "ParseDate",
            functions::ParseDate::udf(chrono_tz::UTC),
            vec![Text(["2026-10-01", "bad"]), Text(["yyyy-MM-dd", "yyyy"])],
        ),
        case(
            "CompareCidrPrefix",
            functions::CompareCidrPrefix::udf(),
            vec![ip(), Text(["10.1.9.9", "2001:db8::2"]), Int([16, 64])],
        ),
        case(
            "RegexReplace",
            functions::RegexReplace::udf("([a-z]+)").expect("regex"),
            vec![Text(["abc 12", "Grüße"]), Text(["<$1>", "x"])],
        ),
        case(
            "SplitColumn",
            functions::SplitColumn::udf(',', '"', '\\', 2),
            vec![Text(["a,b,c", "\"x,y\",z"])],
        ),
        case(
            "JsonKeys",
            functions::JsonKeys::udf(),
            vec![Text([r#"{"a":1,"b":2}"#, "not json"])],
        ),
        case(
            "RegexMatchesAll",
            functions::RegexMatchesAll::udf("(?<w>[a-z]+)", &["w".to_owned()]).expect("regex"),
            vec![Text(["ab cd", "Grüße"])],
        ),
        case(
            "SortedLines",
            functions::SortedLines::udf(),
            vec![Arg::TextList],
        ),
        case(
            "Format",
            format::Format::udf(),
            vec![Text(["%s-%s", "%S"]), Text(["a", "b"]), Text(["c", "d"])],
        ),
        case(
            "KeywordIn",
            keyword::filter_udf_for_tests("invoice"),
            vec![Text(["RE: Invoice", "Grüße"])],
        ),
        Case {
            null_propagates: false,
            ..case(
                "KeywordRecord",
                keyword::record_udf_for_tests("subject invoice"),
                record_fields
                    .iter()
                    .map(|_| Text(["RE: Invoice", "subject invoice"]))
                    .collect(),
            )
        },
        case(
            "ThreatMatch",
            threat::ThreatMatch::udf(
                Some(index),
                now,
                vec![threat::ThreatField::Actor, threat::ThreatField::Type],
                threat::Selection::best(),
                1,
            ),
            vec![ip()],
        ),
        case(
            "IpPredicate",
            udf::IpPredicate::udf(udf::IpPredicateKind::Public),
            vec![ip()],
        ),
        case(
            "GeoLookup",
            udf::GeoLookup::udf(None, vec!["country_name".to_owned(), "latitude".to_owned()]),
            vec![ip()],
        ),
        case(
            "Timeslice",
            udf::Timeslice::udf(vec![0, 3_600_000], 3_600_000),
            vec![Time([1_790_000_000_000_000_000, 0])],
        ),
        case(
            "RegexCapture",
            udf::RegexCapture::udf("(?<w>[a-z]+)", "w", false).expect("regex"),
            vec![Text(["ab cd", "Grüße"])],
        ),
        case(
            "RegexMatches",
            udf::RegexMatches::udf("[0-9]+").expect("regex"),
            vec![Text(["a1", "b"])],
        ),
        case(
            "WildcardMatch",
            udf::WildcardMatch::udf(),
            vec![Text(["Failed", "x"]), Text(["*ail*", "y*"])],
        ),
        case(
            "JsonPath",
            udf::JsonPath::udf(&path),
            vec![Text([r#"{"a":"b"}"#, "[]"])],
        ),
        Case {
            null_propagates: false,
            ..case(
                "RawJson",
                udf::RawJson::udf(vec!["A".into(), "B".into(), "C".into()]),
                vec![Text(["x", "ü"]), Int([1, 2]), Time([0, 1])],
            )
        },
        case(
            "AsnLookup",
            crate::geo::AsnLookup::udf(None, "asn"),
            vec![ip()],
        ),
    ]
}

const REPRESENTATIONS: [fn() -> DataType; 4] = [
    || DataType::Utf8,
    || DataType::Utf8View,
    || DataType::LargeUtf8,
    || DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
];

fn column(arg: &Arg, text_type: &DataType) -> ArrayRef {
    match arg {
        Arg::Text([a, b]) => {
            let plain: ArrayRef = Arc::new(StringArray::from(vec![Some(*a), Some(*b), None]));
            arrow::compute::cast(&plain, text_type).expect("cast")
        }
        Arg::Int([a, b]) => Arc::new(Int64Array::from(vec![Some(*a), Some(*b), None])),
        Arg::Time([a, b]) => Arc::new(
            TimestampNanosecondArray::from(vec![Some(*a), Some(*b), None]).with_timezone("UTC"),
        ),
        Arg::TextList => {
            let mut builder = arrow::array::ListBuilder::new(arrow::array::StringBuilder::new());
            builder.append_value([Some("b"), Some("a"), None]);
            builder.append_value([Some("ü")]);
            builder.append_null();
            let list: ArrayRef = Arc::new(builder.finish());
            let item = Field::new("item", text_type.clone(), true);
            arrow::compute::cast(&list, &DataType::List(Arc::new(item))).expect("cast list")
        }
    }
}

fn call(case: &Case, text_type: &DataType) -> Vec<String> {
    let args: Vec<ArrayRef> = case.args.iter().map(|a| column(a, text_type)).collect();
    let arg_fields = args
        .iter()
        .map(|a| Arc::new(Field::new("arg", a.data_type().clone(), true)))
        .collect();
    let types: Vec<DataType> = args.iter().map(|a| a.data_type().clone()).collect();
    let return_type = case
        .udf
        .return_type(&types)
        .unwrap_or_else(|e| panic!("{} return type for {text_type}: {e}", case.implementation));
    let output = case
        .udf
        .invoke_with_args(ScalarFunctionArgs {
            args: args.into_iter().map(ColumnarValue::Array).collect(),
            arg_fields,
            number_rows: 3,
            return_field: Arc::new(Field::new("out", return_type.clone(), true)),
            config_options: Arc::new(Default::default()),
        })
        .unwrap_or_else(|e| panic!("{} with {text_type}: {e}", case.implementation))
        .to_array(3)
        .expect("array");
    assert_eq!(output.len(), 3, "{} with {text_type}", case.implementation);
    assert_eq!(
        output.data_type(),
        &return_type,
        "{} with {text_type}: the declared return type",
        case.implementation
    );
    let options = FormatOptions::default().with_null("<null>");
    let formatter = ArrayFormatter::try_new(output.as_ref(), &options).expect("formatter");
    let cells: Vec<String> = (0..3).map(|i| formatter.value(i).to_string()).collect();
    if case.null_propagates {
        let last = &cells[2];
        let struct_of_nulls = output
            .as_struct_opt()
            .is_some_and(|s| s.columns().iter().all(|c| c.is_null(2)));
        assert!(
            output.is_null(2) || struct_of_nulls || last == "false" || last == "[]",
            "{} with {text_type}: a null input gave {last}",
            case.implementation
        );
    }
    cells
}

#[test]
fn every_function_answers_alike_for_every_string_representation_and_nulls() {
    for case in cases() {
        let expected = call(&case, &DataType::Utf8);
        for representation in REPRESENTATIONS {
            let text_type = representation();
            assert_eq!(
                call(&case, &text_type),
                expected,
                "{} with {text_type}",
                case.implementation
            );
        }
    }
}

#[test]
fn every_function_of_the_crate_has_a_coverage_case() {
    let implemented =
        implementations(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let covered: BTreeSet<String> = cases()
        .iter()
        .map(|c| c.implementation.to_owned())
        .collect();
    let missing: Vec<&String> = implemented.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "functions without a type-coverage case in exec/coverage.rs: {missing:?}"
    );
    let stale: Vec<&String> = covered.difference(&implemented).collect();
    assert!(stale.is_empty(), "coverage cases of no function: {stale:?}");
}

/// The types with an `impl ScalarUDFImpl`, `AggregateUDFImpl` or `WindowUDFImpl` in the
/// crate's source.
fn implementations(dir: &std::path::Path) -> BTreeSet<String> {
    let pattern =
        regex::Regex::new(r"impl\s+(?:ScalarUDFImpl|AggregateUDFImpl|WindowUDFImpl)\s+for\s+(\w+)")
            .expect("regex");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found.extend(implementations(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source file");
            found.extend(pattern.captures_iter(&text).map(|c| c[1].to_owned()));
        }
    }
    found
}
