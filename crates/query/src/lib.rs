//! The mailscope query language: Sumo Logic's pipeline language as far as message trace
//! analytics needs it. Pure: text in, `ir::Query` or diagnostics out; no I/O, no engine.
//!
//! Stages (see `ARCHITECTURE.md`): [`variables`] (`{{var}}` substitution) → [`lexer`] →
//! [`parser`] ([`ast::Query`] with spans) → [`semantic`] ([`ir::Query`]); [`regex`] translates
//! the Java regexes of the queries for the `regex` crate. Every problem is a
//! [`Diagnostic`] with a code, a span and usually a hint; nothing here panics on any input.

pub mod ast;
pub mod diagnostic;
mod filters;
pub mod ir;
pub mod lexer;
pub mod parser;
pub mod regex;
pub mod semantic;
pub mod span;
pub mod variables;

pub use diagnostic::{Diagnostic, Severity};
pub use parser::MAX_SOURCE_LEN;
pub use span::Span;
pub use variables::{Substitution, substitute_mapped, substitute_variables};

use std::collections::BTreeMap;

/// Parses a query into its syntax tree.
pub fn parse(source: &str) -> Result<ast::Query, Vec<Diagnostic>> {
    parser::parse(source)
}

/// Parses and checks a query. All diagnostics are returned: those of every stage that
/// failed to parse, and the semantic ones of every stage that parsed.
pub fn compile(source: &str) -> Result<ir::Query, Vec<Diagnostic>> {
    check(source, parser::parse_partial(source))
}

/// Substitutes dashboard variables, then compiles, with diagnostics pointing at the
/// original text. Values are inserted verbatim, except that a `matches` whose pattern is a
/// string literal holding exactly one placeholder set to `*` (`where country_name matches
/// "{{country}}"` with the filter at "all") is always true, so a filter left at `*` never
/// drops a row, not even one where the field is null. `x matches "*"` written in the query
/// keeps its meaning (x is not null).
pub fn compile_with_variables(
    source: &str,
    variables: &BTreeMap<String, String>,
) -> Result<ir::Query, Vec<Diagnostic>> {
    let substitution = substitute_mapped(source, variables)?;
    let text = substitution.text.as_str();
    let mut parsed = parser::parse_partial(text);
    let literals: Vec<Span> = substitution
        .replacements
        .iter()
        .filter(|r| r.wildcard_literal)
        .map(|r| Span::new(r.output.start.saturating_sub(1), r.output.end + 1))
        .collect();
    if !literals.is_empty() {
        filters::neutralise(&mut parsed.query, text, &literals);
    }
    check(text, parsed).map_err(|diagnostics| {
        diagnostics
            .into_iter()
            .map(|mut diagnostic| {
                diagnostic.span = substitution.original_span(diagnostic.span);
                for (span, _) in &mut diagnostic.labels {
                    *span = substitution.original_span(*span);
                }
                diagnostic
            })
            .collect()
    })
}

fn check(source: &str, parsed: parser::Parsed) -> Result<ir::Query, Vec<Diagnostic>> {
    let (query, mut semantic) = semantic::analyze_partial(&parsed.query, parsed.complete);
    if parsed.diagnostics.is_empty() && semantic.is_empty() {
        return Ok(query);
    }
    // Semantic analysis sees unescaped literals, not the text; a span it maps back into a
    // literal (a regex error's construct) is widened to char boundaries should the mapping
    // be off (an unterminated literal).
    for diagnostic in &mut semantic {
        diagnostic.span = on_char_boundaries(source, diagnostic.span);
    }
    let mut diagnostics = parsed.diagnostics;
    diagnostics.append(&mut semantic);
    diagnostics.sort_by_key(|d| (d.span.start, d.span.end));
    diagnostics.truncate(parser::MAX_DIAGNOSTICS + 1);
    Err(diagnostics)
}

/// The smallest span on char boundaries inside `source` that covers `span`.
fn on_char_boundaries(source: &str, span: Span) -> Span {
    let mut start = span.start.min(source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = span.end.clamp(start, source.len());
    while !source.is_char_boundary(end) {
        end += 1;
    }
    Span::new(start, end)
}
