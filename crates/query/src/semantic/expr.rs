//! Expressions: function names and arities, aggregates out of place, regex patterns (Java
//! syntax, translated by [`crate::regex`]); and the lowering of `?:` to `if(…)`.

use super::Analyzer;
use crate::ast::{self, ExprKind};
use crate::diagnostic::{Diagnostic, codes};
use crate::ir;
use crate::parser::AGGREGATES;
use crate::regex::{self, Translated};
use crate::span::Span;

/// A scalar function: canonical lower-case name and the accepted argument counts.
#[derive(Debug, Clone, Copy)]
pub struct FunctionSpec {
    pub name: &'static str,
    pub min_args: usize,
    pub max_args: usize,
}

const fn function(name: &'static str, min_args: usize, max_args: usize) -> FunctionSpec {
    FunctionSpec {
        name,
        min_args,
        max_args,
    }
}

/// Every scalar function the language knows.
pub const FUNCTIONS: &[FunctionSpec] = &[
    function("if", 3, 3),
    function("isnull", 1, 1),
    function("isempty", 1, 1),
    function("isblank", 1, 1),
    function("isnumeric", 1, 1),
    function("isvalidip", 1, 1),
    function("isvalidipv4", 1, 1),
    function("isvalidipv6", 1, 1),
    function("isprivateip", 1, 1),
    function("ispublicip", 1, 1),
    function("comparecidrprefix", 3, 3),
    function("concat", 2, 16),
    function("replace", 3, 3),
    function("tolowercase", 1, 1),
    function("touppercase", 1, 1),
    function("substring", 2, 3),
    function("length", 1, 1),
    function("trim", 1, 1),
    function("num", 1, 1),
    function("number", 1, 1),
    function("tolong", 1, 1),
    function("tostring", 1, 1),
    function("format", 1, 17),
    function("formatdate", 1, 3),
    function("parsedate", 1, 3),
    function("now", 0, 0),
    function("abs", 1, 1),
    function("round", 1, 2),
    function("ceil", 1, 1),
    function("floor", 1, 1),
    function("pow", 2, 2),
    function("contains", 2, 2),
    function("fromseconds", 1, 1),
    function("frommillis", 1, 1),
];

fn arity_text(min: usize, max: usize) -> String {
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    if min == max {
        format!("{min} {}", plural(min))
    } else {
        format!("{min} to {max} {}", plural(max))
    }
}

/// Compiles a regex (already in the `regex` crate's syntax) the way the engine will, with a
/// size limit so no query can make it slow.
pub(crate) fn compile_regex(pattern: &str) -> Result<::regex::Regex, String> {
    ::regex::RegexBuilder::new(pattern)
        .size_limit(1 << 22)
        .build()
        .map_err(|error| {
            let text = error.to_string();
            let last = text.lines().last().unwrap_or_default().trim();
            last.strip_prefix("error: ").unwrap_or(last).to_lowercase()
        })
}

/// The hint of an invalid regex.
pub(super) const REGEX_HINT: &str = "regexes use Java syntax (java.util.regex), as in Sumo Logic";

/// Source offsets of a `/regex/` literal's text ending at `end`: for each byte offset of the
/// text (the lexer turned `\/` into `/`, nothing else), where it is in the query. `None` when
/// the literal cannot start there.
pub(super) fn regex_literal_offsets(text: &str, end: usize, floor: usize) -> Option<Vec<usize>> {
    let source_len = text.len() + text.matches('/').count() + 2;
    let start = end
        .checked_sub(source_len)
        .filter(|start| *start >= floor)?;
    let mut offsets = vec![0; text.len() + 1];
    let mut position = start + 1;
    for (offset, c) in text.char_indices() {
        offsets[offset] = position;
        position += c.len_utf8() + usize::from(c == '/');
    }
    offsets[text.len()] = position;
    Some(offsets)
}

/// Source offsets of a string literal's value (the lexer unescaped `\"` and `\\`; any other
/// backslash stays). A backslash followed by another character is one source byte or two
/// (`\w` or `\\w`); when the literal's length leaves it open which, `None`.
pub(super) fn string_literal_offsets(value: &str, span: Span) -> Option<Vec<usize>> {
    let inner = span.end.checked_sub(span.start)?.checked_sub(2)?;
    let extra = inner.checked_sub(value.len())?;
    let chars: Vec<char> = value.chars().collect();
    let (mut forced, mut open) = (0, 0);
    for (index, c) in chars.iter().enumerate() {
        match (c, chars.get(index + 1)) {
            ('"', _) | ('\\', None | Some('\\' | '"')) => forced += 1,
            ('\\', _) => open += 1,
            _ => {}
        }
    }
    let doubled = if extra == forced {
        false
    } else if extra == forced + open {
        true
    } else {
        return None;
    };
    let mut offsets = vec![0; value.len() + 1];
    let mut position = span.start + 1;
    for (index, (offset, c)) in value.char_indices().enumerate() {
        offsets[offset] = position;
        let escaped = match (c, chars.get(index + 1)) {
            ('"', _) | ('\\', None | Some('\\' | '"')) => true,
            ('\\', _) => doubled,
            _ => false,
        };
        position += c.len_utf8() + usize::from(escaped);
    }
    offsets[value.len()] = position;
    Some(offsets)
}

impl Analyzer {
    /// Translates a regex literal from Java's syntax; an invalid or unsupported one is E0206
    /// at the offending construct (`offsets` map the pattern's bytes to the query, else the
    /// whole `literal`).
    pub(super) fn translate_regex(
        &mut self,
        java: &str,
        literal: Span,
        offsets: Option<Vec<usize>>,
        hint: &str,
    ) -> Option<Translated> {
        match regex::translate(java) {
            Ok(translated) => Some(translated),
            Err(error) => {
                let span = offsets
                    .and_then(|offsets| {
                        let start = *offsets.get(error.start)?;
                        let end = *offsets.get(error.end)?;
                        Some(Span::new(start, end.max(start)))
                    })
                    .filter(|span| literal.start <= span.start && span.end <= literal.end)
                    .unwrap_or(literal);
                self.push(
                    Diagnostic::error(
                        codes::INVALID_REGEX,
                        format!("invalid regex: {}", error.message),
                        span,
                    )
                    .with_label(literal, "in this regex")
                    .with_hint(hint),
                );
                None
            }
        }
    }

    /// A `/regex/` literal that ends where `outer` ends and starts at or after `floor` (after
    /// `matches`, or replace's pattern); with no `floor` its place inside `outer` is unknown.
    fn regex_literal(&mut self, java: &str, outer: Span, floor: Option<usize>) -> String {
        let offsets = floor.and_then(|floor| regex_literal_offsets(java, outer.end, floor));
        let literal = offsets.as_ref().map_or(outer, |offsets| {
            Span::new(offsets[0].saturating_sub(1), outer.end)
        });
        self.translate_regex(java, literal, offsets, REGEX_HINT)
            .map_or_else(|| java.to_string(), |translated| translated.pattern)
    }

    pub(super) fn expr(&mut self, expr: &ast::Expr) -> ir::Expr {
        match &expr.kind {
            ExprKind::Field(name) => ir::Expr::Field(name.clone()),
            ExprKind::Literal(literal) => ir::Expr::Literal(literal.clone()),
            ExprKind::Unary { op, operand } => ir::Expr::Unary {
                op: *op,
                operand: Box::new(self.expr(operand)),
            },
            ExprKind::Binary { op, left, right } => ir::Expr::Binary {
                op: *op,
                left: Box::new(self.expr(left)),
                right: Box::new(self.expr(right)),
            },
            ExprKind::Matches { operand, pattern } => {
                let pattern = match pattern {
                    ast::Pattern::Wildcard(text) => ir::Pattern::Wildcard(text.clone()),
                    ast::Pattern::Regex(text) => {
                        // A parenthesised `matches` spans its parentheses too, and then where
                        // the literal ends is unknown.
                        let bare = expr.span.start == operand.span.start;
                        let floor = bare.then_some(operand.span.end);
                        ir::Pattern::Regex(self.regex_literal(text, expr.span, floor))
                    }
                    ast::Pattern::Dynamic(inner) => {
                        ir::Pattern::Dynamic(Box::new(self.expr(inner)))
                    }
                };
                ir::Expr::Matches {
                    operand: Box::new(self.expr(operand)),
                    pattern,
                }
            }
            ExprKind::In {
                operand,
                list,
                negated,
            } => ir::Expr::In {
                operand: Box::new(self.expr(operand)),
                list: list.iter().map(|item| self.expr(item)).collect(),
                negated: *negated,
            },
            ExprKind::Call { name, args } => self.call(name, args),
            ExprKind::Regex(text) => {
                // Reached only where a regex is not allowed; `call` handles replace's pattern.
                self.push(
                    Diagnostic::error(
                        codes::MISPLACED_REGEX,
                        "a regex is only allowed after 'matches' or as the pattern of replace",
                        expr.span,
                    )
                    .with_hint("use a string here, or write `x matches /re/`"),
                );
                ir::Expr::Regex(text.clone())
            }
            ExprKind::Ternary {
                condition,
                then,
                otherwise,
            } => ir::Expr::Call {
                name: "if".to_string(),
                args: vec![self.expr(condition), self.expr(then), self.expr(otherwise)],
            },
        }
    }

    fn call(&mut self, name: &ast::Ident, args: &[ast::Expr]) -> ir::Expr {
        let lower = name.name.to_lowercase();
        let args_ir: Vec<ir::Expr> = args
            .iter()
            .enumerate()
            .map(|(index, arg)| match &arg.kind {
                ExprKind::Regex(text) if lower == "replace" && index == 1 => {
                    ir::Expr::Regex(self.regex_literal(text, arg.span, Some(arg.span.start)))
                }
                _ => self.expr(arg),
            })
            .collect();
        if let Some(spec) = FUNCTIONS.iter().find(|f| f.name == lower) {
            if args.len() < spec.min_args || args.len() > spec.max_args {
                self.push(
                    Diagnostic::error(
                        codes::WRONG_ARITY,
                        format!(
                            "function '{}' takes {}, found {}",
                            name.name,
                            arity_text(spec.min_args, spec.max_args),
                            args.len()
                        ),
                        name.span,
                    )
                    .with_label(args_span(name, args), "arguments"),
                );
            }
        } else if AGGREGATES.contains(&lower.as_str()) {
            self.push(
                Diagnostic::error(
                    codes::AGGREGATE_IN_EXPRESSION,
                    format!(
                        "aggregate function '{}' cannot be used in an expression",
                        name.name
                    ),
                    name.span,
                )
                .with_hint(format!(
                    "aggregate in a stage of its own: `| {lower}(field) as name by group`"
                )),
            );
        } else {
            self.push(
                Diagnostic::error(
                    codes::UNKNOWN_FUNCTION,
                    format!("unknown function '{}'", name.name),
                    name.span,
                )
                .with_suggestion(&lower, FUNCTIONS.iter().map(|f| f.name)),
            );
        }
        let canonical = if lower == "number" {
            "num".to_string()
        } else {
            lower
        };
        ir::Expr::Call {
            name: canonical,
            args: args_ir,
        }
    }
}

fn args_span(name: &ast::Ident, args: &[ast::Expr]) -> crate::span::Span {
    args.iter().fold(name.span, |span, arg| span.to(arg.span))
}
