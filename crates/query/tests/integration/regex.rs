//! Regexes in queries are Java's: the IR carries their `regex`-crate translation, and an
//! unsupported or invalid construct is E0206 at the construct inside the literal.

use mailscope_query::ir::{Expr, Pattern, StageKind};
use mailscope_query::{Diagnostic, compile};

/// The E0206 diagnostic of a query and the text its span covers.
fn invalid_regex(source: &str) -> (Diagnostic, &str) {
    let diagnostics = compile(source).expect_err(source);
    let diagnostic = diagnostics
        .into_iter()
        .find(|d| d.code == "E0206")
        .unwrap_or_else(|| panic!("{source}: no E0206"));
    let text = &source[diagnostic.span.start..diagnostic.span.end];
    (diagnostic, text)
}

#[test]
fn possessive_quantifier_points_at_the_quantifier() {
    let (diagnostic, text) = invalid_regex(r#"* | parse regex field=subject "(?<a>\w++)""#);
    assert_eq!(text, "++");
    assert_eq!(
        diagnostic.message,
        "invalid regex: possessive quantifiers are not supported"
    );
    // The whole literal is a label.
    assert_eq!(diagnostic.labels[0].0.start, 30);
}

#[test]
fn spans_follow_the_escapes_of_strings_and_regex_literals() {
    let cases = [
        // `\\w` in a string is `\w` for the regex.
        (r#"* | parse regex "(?<a>\\w++)""#, "++"),
        (r#"* | extract "\"(?<a>[^\"]++)\"""#, "++"),
        (r#"* | extract field=f "é(?<a>x)(?=ü)""#, "(?="),
        (r#"* | where subject matches /a(?=b)/"#, "(?="),
        (r#"* | where subject matches /\/(?<=x)/"#, "(?<="),
        (r#"* | where subject matches /é\/ü\1/"#, r"\1"),
        (r#"* | replace(subject, /x\k<n>/, "y") as r"#, r"\k"),
        (r#"* | where subject matches /\p{InGreek}/"#, r"\p{InGreek}"),
        (r#"* | where subject matches /[z-a]/"#, "z-a"),
    ];
    for (source, expected) in cases {
        assert_eq!(invalid_regex(source).1, expected, "{source}");
    }
}

#[test]
fn a_parenthesised_matches_reports_the_whole_expression() {
    // The parentheses widen the expression's span, so the literal's place is not known.
    let source = r#"* | where (subject matches /a(?=b)/)"#;
    assert_eq!(invalid_regex(source).1, "(subject matches /a(?=b)/)");
}

#[test]
fn mixed_backslash_escaping_falls_back_to_the_whole_literal() {
    // `\w` and `\\d` in one string: where `++` is in the text cannot be told from the value.
    let source = r#"* | parse regex "(?<a>\w\\d++)""#;
    assert_eq!(invalid_regex(source).1, r#""(?<a>\w\\d++)""#);
}

#[test]
fn an_unterminated_regex_keeps_spans_on_char_boundaries() {
    for source in [
        "* | where a matches /é(?=ü",
        "* | where a matches /ü\\/é(?=x",
        "* | parse regex \"é(?<a>ü++",
    ] {
        let diagnostics = compile(source).expect_err(source);
        for d in diagnostics {
            assert!(d.span.end <= source.len(), "{source}: {d:?}");
            assert!(
                source.is_char_boundary(d.span.start) && source.is_char_boundary(d.span.end),
                "{source}: {d:?}"
            );
        }
    }
}

#[test]
fn the_ir_carries_the_translation() {
    let query = compile(
        r#"* | where subject matches /\w+é/ | replace(subject, /(?i)é\d/, "x") as r | extract field=sender "(?<user>[^@]+)@(?<domain_name>\S+)""#,
    )
    .expect("compiles");
    let StageKind::Where(Expr::Matches { pattern, .. }) = &query.stages[0].kind else {
        panic!("{:?}", query.stages[0]);
    };
    assert_eq!(pattern, &Pattern::Regex("[0-9A-Za-z_]+é".to_string()));
    let StageKind::Assign {
        expr: Expr::Call { args, .. },
        ..
    } = &query.stages[1].kind
    else {
        panic!("{:?}", query.stages[1]);
    };
    assert_eq!(args[1], Expr::Regex("é[0-9]".to_string()));
    let StageKind::ParseRegex { regex, groups, .. } = &query.stages[2].kind else {
        panic!("{:?}", query.stages[2]);
    };
    assert_eq!(regex, r"(?<user>[^@]+)@(?<domain_name>[^\t\n\x0B\f\r ]+)");
    assert_eq!(groups, &["user", "domain_name"]);
}

#[test]
fn the_keyword_panel_word_regex_translates_to_a_plain_ascii_run() {
    let translate = |java| mailscope_query::regex::translate(java).expect("ok").pattern;
    assert_eq!(translate(r"(?<word>\w+)"), r"(?<word>[0-9A-Za-z_]+)");
    assert_eq!(translate(r"(?U)(?<word>\w+)"), r"(?<word>\w+)");
}

#[test]
fn group_rules_use_the_java_pattern() {
    let unnamed = compile(r#"* | extract "(\w+)@(?<d>.*)""#).expect_err("unnamed");
    assert!(unnamed.iter().any(|d| d.code == "E0208"));
    // `\(` is not a group in Java.
    let none = compile(r#"* | extract "\(x\)""#).expect_err("no group");
    assert!(none.iter().any(|d| d.code == "E0207"));
}
