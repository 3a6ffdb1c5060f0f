//! The query front end on arbitrary text: `compile`, `compile_with_variables` (with
//! variables taken from the input) and printing then re-parsing. Nothing may panic, and
//! every diagnostic span must lie inside the text it points at, on char boundaries.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use mailscope_query::{Diagnostic, compile, compile_with_variables, parse};

fn check(source: &str, diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        let spans = std::iter::once(diagnostic.span).chain(diagnostic.labels.iter().map(|l| l.0));
        for span in spans {
            assert!(
                span.start <= span.end && span.end <= source.len(),
                "{span:?}"
            );
            assert!(source.is_char_boundary(span.start) && source.is_char_boundary(span.end));
        }
        let _ = diagnostic.render(source);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(diagnostics) = compile(source) {
        check(source, &diagnostics);
    }
    if let Ok(ast) = parse(source) {
        let printed = ast.to_string();
        let reparsed = parse(&printed).unwrap_or_else(|d| panic!("{printed:?}: {d:?}"));
        assert!(ast.same_as(&reparsed), "{source:?} printed as {printed:?}");
    }
    // Variables: the first line, if it looks like `name=value;name=value`, gives values.
    let (header, query) = source.split_once('\n').unwrap_or(("", source));
    let variables: BTreeMap<String, String> = header
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .collect();
    if let Err(diagnostics) = compile_with_variables(query, &variables) {
        check(query, &diagnostics);
    }
});
