//! The operators beyond the app's panels (IR snapshots) and dashboard variables compiled
//! with `compile_with_variables`: filters at `*` keep every row, diagnostics point at the
//! original text.

use std::collections::BTreeMap;

use mailscope_query::ir::{Expr, Literal, Pattern, StageKind};
use mailscope_query::{compile, compile_with_variables};

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn new_operators_compile_to_their_ir() {
    let queries = [
        ("topk", "| count by a, b | topk(2, _count) by a"),
        (
            "accum",
            "| count by _timeslice | accum _count as running by b",
        ),
        ("total", "| count by a | total _count"),
        (
            "split",
            "| split _raw delim=';' quote=\"'\" escape=\"^\" extract 1 as a, 3 as c",
        ),
        ("split_positional", "| csv line extract a, _, c"),
        (
            "threatlookup",
            "| threatlookup singleIndicator source=\"i471\" include=\"all\" fromIP",
        ),
        (
            "replace_regex",
            "| replace(subject, /(\\w+)@(?<d>\\S+)/, \"${d}:$1\") as r",
        ),
        (
            "take_last",
            "| timeslice 1h | count by _timeslice, s | fillmissing timeslice, values all in s takeLast",
        ),
    ];
    for (name, source) in queries {
        let query = compile(source).unwrap_or_else(|d| panic!("{source}: {d:?}"));
        insta::assert_yaml_snapshot!(name, query.stages);
    }
}

#[test]
fn a_filter_at_star_keeps_null_rows() {
    let source = "| lookup country_name from geo://location on ip=fromIP\n| where country_name matches \"{{country}}\"";
    let query = compile_with_variables(source, &vars(&[("country", "*")])).expect("compiles");
    assert_eq!(
        query.stages[1].kind,
        StageKind::Where(Expr::Literal(Literal::Bool(true)))
    );
    // A real value filters as written.
    let query = compile_with_variables(source, &vars(&[("country", "Germany")])).expect("ok");
    let StageKind::Where(Expr::Matches { pattern, .. }) = &query.stages[1].kind else {
        panic!("{query:?}")
    };
    assert_eq!(*pattern, Pattern::Wildcard("Germany".into()));
}

#[test]
fn only_a_whole_literal_placeholder_at_star_is_neutral() {
    let cases = [
        // Written literally: still "not null".
        ("| where c matches \"*\"", true),
        // A placeholder with other text in the literal.
        ("| where c matches \"*{{v}}\"", true),
        // Inside parentheses and nested expressions it is neutral too.
        ("| where c matches (\"{{v}}\")", false),
        ("| where a = 1 or !(c matches \"{{ v }}\")", false),
        ("| if(c matches \"{{v}}\", 1, 0) as n", false),
    ];
    for (source, keeps_matches) in cases {
        let query = compile_with_variables(source, &vars(&[("v", "*")])).expect(source);
        let text = format!("{:?}", query.stages);
        assert_eq!(text.contains("Matches"), keeps_matches, "{source}: {text}");
    }
}

#[test]
fn diagnostics_point_at_the_original_text() {
    let source = "| where status matches \"{{status}}\" and {{org}} = x | countt";
    let variables = vars(&[("status", "*"), ("org", "a very long organisation value")]);
    let errors = compile_with_variables(source, &variables).expect_err("invalid");
    let countt = errors.iter().find(|d| d.code == "E0101").expect("E0101");
    assert_eq!(&source[countt.span.start..countt.span.end], "countt");
    // An error inside a value points at its placeholder.
    let errors =
        compile_with_variables("| where a = {{v}}", &vars(&[("v", "(1 +")])).expect_err("bad");
    assert_eq!(errors[0].span.end, "| where a = {{v}}".len());
    assert!(errors[0].span.start >= "| where a = ".len());
    // A variable without a value.
    let errors =
        compile_with_variables("| where a matches \"{{x}}\"", &vars(&[])).expect_err("no value");
    assert_eq!(errors[0].code, "E0007");
    assert_eq!(errors[0].span.start, 19);
}
