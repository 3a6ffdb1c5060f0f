//! Expressions: function names and arities, aggregates out of place, regex patterns; and the
//! lowering of `?:` to `if(…)`.

use super::Analyzer;
use crate::ast::{self, ExprKind};
use crate::diagnostic::{Diagnostic, codes};
use crate::ir;
use crate::parser::AGGREGATES;

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

/// Compiles a regex the way the engine will, with a size limit so no query can make it slow.
pub(crate) fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 22)
        .build()
        .map_err(|error| {
            let text = error.to_string();
            let last = text.lines().last().unwrap_or_default().trim();
            last.strip_prefix("error: ").unwrap_or(last).to_lowercase()
        })
}

impl Analyzer {
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
                        if let Err(message) = compile_regex(text) {
                            self.push(
                                Diagnostic::error(
                                    codes::INVALID_REGEX,
                                    format!("invalid regex: {message}"),
                                    expr.span,
                                )
                                .with_hint("regexes use RE2 syntax"),
                            );
                        }
                        ir::Pattern::Regex(text.clone())
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
                    if let Err(message) = compile_regex(text) {
                        self.push(
                            Diagnostic::error(
                                codes::INVALID_REGEX,
                                format!("invalid regex: {message}"),
                                arg.span,
                            )
                            .with_hint("regexes use RE2 syntax"),
                        );
                    }
                    ir::Expr::Regex(text.clone())
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
