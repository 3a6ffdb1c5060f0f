//! Dashboard filters left at "all". A panel filters with `where f matches "{{var}}"`; with the
//! variable at `*` Sumo still drops every row where `f` is null (a comparison with null is
//! false), so the original app's country filter silently hides messages from IPs without a
//! location. [`crate::compile_with_variables`] turns such a `matches` — its pattern a string
//! literal that is exactly one placeholder whose value is `*` — into `true`. A literal
//! `matches "*"` written in the query keeps its meaning (not null).

use crate::ast::{self, ExprKind, Literal, Pattern, StageKind};
use crate::span::Span;

/// Replaces every `x matches "*"` whose pattern literal is one of `literals` (spans of the
/// substituted text, quotes included) with `true`.
pub(crate) fn neutralise(query: &mut ast::Query, text: &str, literals: &[Span]) {
    for stage in &mut query.stages {
        match &mut stage.kind {
            StageKind::Where(expr) | StageKind::Assign { expr, .. } => {
                rewrite(expr, text, literals);
            }
            _ => {}
        }
    }
}

/// Whether the `matches` expression spanning `span` ends with one of `literals` (possibly
/// inside parentheses), which is then its pattern.
fn ends_with_filter_literal(span: Span, text: &str, literals: &[Span]) -> bool {
    literals.iter().any(|literal| {
        literal.start >= span.start
            && literal.end <= span.end
            && text
                .get(literal.end..span.end)
                .is_some_and(|tail| tail.chars().all(|c| c.is_whitespace() || c == ')'))
    })
}

fn rewrite(expr: &mut ast::Expr, text: &str, literals: &[Span]) {
    let neutral = matches!(&expr.kind, ExprKind::Matches { pattern: Pattern::Wildcard(p), .. } if p == "*")
        && ends_with_filter_literal(expr.span, text, literals);
    if neutral {
        expr.kind = ExprKind::Literal(Literal::Bool(true));
        return;
    }
    match &mut expr.kind {
        ExprKind::Field(_) | ExprKind::Literal(_) | ExprKind::Regex(_) => {}
        ExprKind::Unary { operand, .. } => rewrite(operand, text, literals),
        ExprKind::Binary { left, right, .. } => {
            rewrite(left, text, literals);
            rewrite(right, text, literals);
        }
        ExprKind::Matches { operand, pattern } => {
            rewrite(operand, text, literals);
            if let Pattern::Dynamic(inner) = pattern {
                rewrite(inner, text, literals);
            }
        }
        ExprKind::In { operand, list, .. } => {
            rewrite(operand, text, literals);
            list.iter_mut()
                .for_each(|item| rewrite(item, text, literals));
        }
        ExprKind::Call { args, .. } => {
            args.iter_mut().for_each(|arg| rewrite(arg, text, literals));
        }
        ExprKind::Ternary {
            condition,
            then,
            otherwise,
        } => {
            rewrite(condition, text, literals);
            rewrite(then, text, literals);
            rewrite(otherwise, text, literals);
        }
    }
}
