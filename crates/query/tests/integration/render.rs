//! `Diagnostic::render`: the line, the line:column and the caret under the right columns.

use mailscope_query::compile;

fn first_rendered(source: &str) -> String {
    let diagnostics = compile(source).expect_err("query is invalid");
    diagnostics[0].render(source)
}

#[test]
fn unknown_operator_renders_with_suggestion() {
    let text = first_rendered("_sourceCategory=x | countt by status");
    assert_eq!(
        text,
        "error[E0101]: unknown operator 'countt'\n --> 1:21\n  |\n1 | _sourceCategory=x | countt by status\n  |                     ^^^^^^\nhint: did you mean 'count'?\n"
    );
}

#[test]
fn caret_is_on_the_right_line_of_a_multi_line_query() {
    let source = "_sourceCategory=x\n| json \"a\" as a\n| where isValidIPP(a)";
    let text = first_rendered(source);
    assert!(
        text.starts_with("error[E0201]: unknown function 'isValidIPP'\n"),
        "{text}"
    );
    assert!(text.contains(" --> 3:9\n"), "{text}");
    assert!(
        text.contains("3 | | where isValidIPP(a)\n  |         ^^^^^^^^^^\n"),
        "{text}"
    );
    assert!(
        text.ends_with("hint: did you mean 'isvalidip'?\n"),
        "{text}"
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    let source = "| where \"größe\" = x and countt(x)";
    let text = first_rendered(source);
    assert!(text.contains(" --> 1:25\n"), "{text}");
    assert!(
        text.contains(&format!("  | {}^^^^^^\n", " ".repeat(24))),
        "{text}"
    );
}

#[test]
fn labels_are_rendered_below() {
    let source = "| fields a, b, a";
    let text = first_rendered(source);
    assert!(text.contains("  |                ^\n"), "{text}");
    assert!(
        text.contains("  |          - first listed here\n"),
        "{text}"
    );
}
