//! Properties: `compile` never panics on arbitrary text or token soup, and printing a parsed
//! query gives text that parses back to the same tree (up to spans).

use mailscope_query::{compile, parse};
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;

fn field() -> BoxedStrategy<String> {
    prop_oneof![
        Just("status".to_string()),
        Just("_count".to_string()),
        Just("fromIP".to_string()),
        Just("%\"odd name\"".to_string()),
        Just("%\"and\"".to_string()),
        "[a-z_][a-z0-9_]{0,6}".prop_filter("not a keyword", |s| {
            !matches!(
                s.as_str(),
                "and"
                    | "or"
                    | "not"
                    | "in"
                    | "matches"
                    | "contains"
                    | "true"
                    | "false"
                    | "null"
                    | "as"
                    | "by"
            )
        }),
    ]
    .boxed()
}

fn string_literal() -> BoxedStrategy<String> {
    "[a-zA-Z0-9 *.\\\\\"-]{0,8}"
        .prop_map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
        .boxed()
}

fn expr() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        field(),
        string_literal(),
        (0u32..100_000).prop_map(|n| n.to_string()),
        Just("1.5".to_string()),
        Just("2.5e3".to_string()),
        Just("1Gi".to_string()),
        Just("15m".to_string()),
        Just("true".to_string()),
        Just("null".to_string()),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        let op = prop_oneof![
            Just("+"),
            Just("-"),
            Just("*"),
            Just("/"),
            Just("%"),
            Just("="),
            Just("=="),
            Just("!="),
            Just("<>"),
            Just("<"),
            Just("<="),
            Just(">"),
            Just(">="),
            Just("and"),
            Just("or"),
            Just("&&"),
            Just("||"),
        ];
        let function = prop_oneof![
            Just("if"),
            Just("isNull"),
            Just("concat"),
            Just("replace"),
            Just("toLowerCase")
        ];
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            inner.clone().prop_map(|a| format!("!{a}")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.clone().prop_map(|a| format!("(not {a})")),
            (inner.clone(), string_literal()).prop_map(|(a, p)| format!("{a} matches {p}")),
            (inner.clone(), string_literal()).prop_map(|(a, p)| format!("{a} matches ({p})")),
            (inner.clone(), "[a-z.*/]{1,6}")
                .prop_map(|(a, r)| format!("{a} matches /{}/", r.replace('/', "\\/"))),
            (inner.clone(), field()).prop_map(|(a, f)| format!("{a} matches {f}")),
            (inner.clone(), prop::collection::vec(inner.clone(), 1..3))
                .prop_map(|(a, list)| format!("{a} in ({})", list.join(", "))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} not in ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} contains {b}")),
            (function, prop::collection::vec(inner.clone(), 0..3))
                .prop_map(|(f, args)| format!("{f}({})", args.join(", "))),
            (inner.clone(), inner.clone(), inner)
                .prop_map(|(c, a, b)| format!("({c} ? {a} : {b})")),
        ]
    })
    .boxed()
}

fn fields(max: usize) -> BoxedStrategy<String> {
    prop::collection::vec(field(), 1..=max)
        .prop_map(|list| list.join(", "))
        .boxed()
}

fn stage() -> BoxedStrategy<String> {
    let duration = prop_oneof![
        Just("1d"),
        Just("15m"),
        Just("1h"),
        Just("30s"),
        Just("1w"),
        Just("90m")
    ];
    prop_oneof![
        expr().prop_map(|e| format!("where {e}")),
        (expr(), field()).prop_map(|(e, f)| format!("({e}) as {f}")),
        (field(), field()).prop_map(|(a, b)| format!("{a} as {b}")),
        (string_literal(), field()).prop_map(|(s, f)| format!("{s} as {f}")),
        (prop::collection::vec(string_literal(), 1..4), any::<bool>(), any::<bool>()).prop_map(|(keys, alias, nodrop)| {
            let aliases: Vec<String> = (0..keys.len()).map(|i| format!("f{i}")).collect();
            let alias = if alias { format!(" as {}", aliases.join(", ")) } else { String::new() };
            format!("json field=raw {}{alias}{}", keys.join(", "), if nodrop { " nodrop" } else { "" })
        }),
        Just("json auto".to_string()),
        (string_literal(), fields(3)).prop_map(|(p, f)| format!("parse {p} as {f} nodrop")),
        (field(), any::<bool>()).prop_map(|(f, m)| format!(
            "extract field={f} \"(?<x>\\\\w+)\"{}",
            if m { " multi nodrop" } else { "" }
        )),
        (fields(3), field()).prop_map(|(c, f)| format!("lookup {c}, threatlevel as level from geo://location on ip = {f}")),
        (field(), field()).prop_map(|(a, f)| format!("lookup a as {a} from path://\"/x y/z\" on key={f}")),
        field().prop_map(|f| format!("geoip {f} region")),
        field().prop_map(|f| format!("threatip {f}")),
        (duration.clone(), any::<bool>()).prop_map(|(d, by)| format!("timeslice {}{d} as t", if by { "by " } else { "" })),
        (1u32..500).prop_map(|n| format!("timeslice {n} buckets")),
        (fields(2), field()).prop_map(|(by, f)| format!("count, sum({f}) as s, pct({f}, 95, 99.5) by {by}")),
        fields(2).prop_map(|by| format!("count_distinct ({}) group by {by}", "status")),
        fields(3).prop_map(|f| format!("count_frequent {f}")),
        (field(), field()).prop_map(|(a, b)| format!("order by {a}, +{b}, c asc, d desc")),
        (1u32..100, fields(2)).prop_map(|(n, f)| format!("top {n} {f} by _count")),
        (0u32..20_000).prop_map(|n| format!("limit {n}")),
        (any::<bool>(), fields(3)).prop_map(|(d, f)| format!("fields {}{f}", if d { "- " } else { "" })),
        (duration, field()).prop_map(|(d, f)| format!(
            "fillmissing timeslice({d}) in t, values (\"a\", \"b\") in {f}, values all in x with -1 for _count, \"n\" for y takeLast"
        )),
        Just("fillmissing timeslice".to_string()),
        (fields(2), field()).prop_map(|(r, c)| format!("transpose row {r} column {c} as Delivered, None, *")),
        (field(), field()).prop_map(|(f, b)| format!("outlier {f} by {b} window=5, threshold=2.5 consecutive=2 direction=+-")),
        (0u32..5, fields(2)).prop_map(|(n, f)| format!("dedup {n} by {f}")),
        (1u32..50, fields(2), fields(2)).prop_map(|(n, f, b)| format!("topk({n}, {f}) by {b}")),
        (field(), field(), any::<bool>()).prop_map(|(f, a, t)| format!("{} {f} as {a} by grp", if t { "total" } else { "accum" })),
        (field(), any::<bool>()).prop_map(|(f, csv)| format!(
            "{} {f} delim=';' quote=\"~\" escape='\\' extract 1 as a, 3 as b",
            if csv { "csv" } else { "split" }
        )),
        field().prop_map(|f| format!("split {f} extract a, _, c")),
        (field(), any::<bool>()).prop_map(|(f, s)| format!(
            "threatlookup{} source=\"x\" include=\"all\" {f}, b",
            if s { " singleIndicator" } else { "" }
        )),
        field().prop_map(|f| format!("replace({f}, /a\\/b/, \"$1\") as r")),
        Just("fillmissing timeslice(1h), values all in s takeLast".to_string()),
    ]
    .boxed()
}

fn scope() -> BoxedStrategy<String> {
    let term = prop_oneof![
        Just("_sourceCategory=Labs/Exchange*".to_string()),
        Just("_source!=\"x y\"".to_string()),
        Just("error".to_string()),
        Just("\"a phrase\"".to_string()),
        Just("*".to_string()),
    ];
    term.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} AND {b}")),
            inner.prop_map(|a| format!("NOT {a}")),
        ]
    })
    .boxed()
}

fn query() -> impl Strategy<Value = String> {
    (
        prop::option::of(scope()),
        prop::collection::vec(stage(), 0..5),
    )
        .prop_map(|(scope, stages)| {
            let mut text = scope.unwrap_or_default();
            for stage in stages {
                text.push_str("\n| ");
                text.push_str(&stage);
            }
            text
        })
}

const TOKENS: &[&str] = &[
    "|",
    "(",
    ")",
    ",",
    "\"",
    "\"a\"",
    "/",
    "/x/",
    "%\"",
    "{{",
    "}}",
    "=",
    "!=",
    "!",
    "?",
    ":",
    "+",
    "-",
    "*",
    "where",
    "json",
    "parse",
    "regex",
    "as",
    "by",
    "count",
    "count_distinct",
    "timeslice",
    "1d",
    "10",
    "buckets",
    "fillmissing",
    "values",
    "all",
    "in",
    "not",
    "matches",
    "transpose",
    "row",
    "column",
    "lookup",
    "from",
    "on",
    "geo://location",
    "outlier",
    "window",
    "sort",
    "top",
    "limit",
    "fields",
    "dedup",
    "if",
    "concat",
    "and",
    "or",
    "NOT",
    "AND",
    "_sourceCategory",
    "x",
    "é",
    "\0",
    "//",
    "\n",
    "1e999",
    "5Gi",
    "with",
    "for",
    "takeLast",
    "nodrop",
    "multi",
    "field",
    "topk",
    "accum",
    "total",
    "split",
    "csv",
    "extract",
    "delim",
    "','",
    "threatlookup",
    "singleIndicator",
    "replace",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn compile_never_panics_on_arbitrary_text(source in any::<String>()) {
        let _ = compile(&source);
    }

    #[test]
    fn compile_never_panics_on_token_soup(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..60)) {
        let source = tokens.join(" ");
        if let Err(diagnostics) = compile(&source) {
            for diagnostic in diagnostics {
                prop_assert!(diagnostic.span.end <= source.len());
                prop_assert!(source.is_char_boundary(diagnostic.span.start));
                prop_assert!(source.is_char_boundary(diagnostic.span.end));
                let _ = diagnostic.render(&source);
            }
        }
    }

    #[test]
    fn printing_then_parsing_gives_the_same_tree(text in query()) {
        let ast = parse(&text).map_err(|d| TestCaseError::fail(format!("{text}\n{d:?}")))?;
        let printed = ast.to_string();
        let reparsed = parse(&printed).map_err(|d| TestCaseError::fail(format!("{printed}\n{d:?}")))?;
        prop_assert!(ast.same_as(&reparsed), "{}\n---\n{}", text, printed);
        prop_assert_eq!(reparsed.to_string(), printed);
    }
}

/// The fuzz target's checks (`fuzz/fuzz_targets/compile.rs`) on one input.
fn fuzz_checks(source: &str) {
    if let Err(diagnostics) = compile(source) {
        for diagnostic in diagnostics {
            assert!(diagnostic.span.end <= source.len());
            assert!(source.is_char_boundary(diagnostic.span.start));
            assert!(source.is_char_boundary(diagnostic.span.end));
        }
    }
    if let Ok(ast) = parse(source) {
        let printed = ast.to_string();
        let reparsed = parse(&printed).unwrap_or_else(|d| panic!("{printed:.200}: {d:?}"));
        assert!(ast.same_as(&reparsed), "{source:.200}");
    }
}

#[test]
fn inputs_the_fuzzer_found_stay_fixed() {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/compile");
    let mut count = 0;
    for entry in std::fs::read_dir(directory).expect("tests/fuzz/compile exists") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("readable");
        if let Ok(source) = std::str::from_utf8(&bytes) {
            fuzz_checks(source);
            count += 1;
        }
    }
    assert!(count > 0);
}

#[test]
fn long_left_associative_chains_print_without_nesting() {
    // Found by fuzzing: `a AND b AND …` printed as `((a AND b) AND …)` nested deeper than
    // the parser accepts.
    fuzz_checks(&format!("{} x | count", "a AND ".repeat(200)));
    fuzz_checks(&format!("| where a{}", " + a".repeat(200)));
    fuzz_checks(&format!("| where a{}", " and b = 1".repeat(120)));
    fuzz_checks(&format!("| where a{} or c", " * b - 1".repeat(60)));
}
