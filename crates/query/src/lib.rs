//! The mailscope query language: Sumo Logic's pipeline language as far as message trace
//! analytics needs it. Pure: text in, `ir::Query` or diagnostics out; no I/O, no engine.
//!
//! Stages (see `ARCHITECTURE.md`): [`variables`] (`{{var}}` substitution) → [`lexer`] →
//! [`parser`] ([`ast::Query`] with spans) → [`semantic`] ([`ir::Query`]). Every problem is a
//! [`Diagnostic`] with a code, a span and usually a hint; nothing here panics on any input.

pub mod ast;
pub mod diagnostic;
pub mod ir;
pub mod lexer;
pub mod parser;
pub mod semantic;
pub mod span;
pub mod variables;

pub use diagnostic::{Diagnostic, Severity};
pub use parser::MAX_SOURCE_LEN;
pub use span::Span;
pub use variables::substitute_variables;

/// Parses a query into its syntax tree.
pub fn parse(source: &str) -> Result<ast::Query, Vec<Diagnostic>> {
    parser::parse(source)
}

/// Parses and checks a query. All diagnostics are returned: those of every stage that
/// failed to parse, and the semantic ones of every stage that parsed.
pub fn compile(source: &str) -> Result<ir::Query, Vec<Diagnostic>> {
    let parsed = parser::parse_partial(source);
    let (query, mut semantic) = semantic::analyze_partial(&parsed.query, parsed.complete);
    if parsed.diagnostics.is_empty() && semantic.is_empty() {
        return Ok(query);
    }
    let mut diagnostics = parsed.diagnostics;
    diagnostics.append(&mut semantic);
    diagnostics.sort_by_key(|d| (d.span.start, d.span.end));
    diagnostics.truncate(parser::MAX_DIAGNOSTICS + 1);
    Err(diagnostics)
}
