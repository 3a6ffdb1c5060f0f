//! Aggregation stages: function names and arities, plain-field arguments, percentiles,
//! Sumo's default output names, duplicate outputs, and `count_frequent` on its own.

use super::Analyzer;
use crate::ast::{self, AggregateCall, ExprKind};
use crate::diagnostic::{Diagnostic, codes};
use crate::ir::{self, AggregateFunction, Literal};
use crate::parser::AGGREGATES;
use crate::span::Span;

fn function(name: &str) -> Option<AggregateFunction> {
    Some(match name {
        "count" => AggregateFunction::Count,
        "count_distinct" => AggregateFunction::CountDistinct,
        "sum" => AggregateFunction::Sum,
        "avg" => AggregateFunction::Avg,
        "min" => AggregateFunction::Min,
        "max" => AggregateFunction::Max,
        "pct" => AggregateFunction::Percentile(0.0),
        "median" => AggregateFunction::Median,
        "stddev" => AggregateFunction::Stddev,
        "first" => AggregateFunction::First,
        "last" => AggregateFunction::Last,
        "values" => AggregateFunction::Values,
        _ => return None,
    })
}

/// `95` → `95`, `99.9` → `99.9` (for `_<field>_pct_<p>`).
fn percentile_text(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{}", p as i64)
    } else {
        format!("{p}")
    }
}

impl Analyzer {
    pub(super) fn aggregate(
        &mut self,
        calls: &[AggregateCall],
        by: &[ast::Ident],
    ) -> ir::StageKind {
        let frequent: Vec<&AggregateCall> = calls
            .iter()
            .filter(|c| c.function.name.eq_ignore_ascii_case("count_frequent"))
            .collect();
        if let Some(first) = frequent.first() {
            return self.count_frequent(first, calls.len(), by);
        }
        let mut aggregates = Vec::new();
        for call in calls {
            self.aggregate_call(call, &mut aggregates);
        }
        let mut seen: Vec<(String, Span)> =
            by.iter().map(|b| (b.name.to_lowercase(), b.span)).collect();
        for (aggregate, call_span) in &aggregates {
            let lower = aggregate.alias.to_lowercase();
            if let Some((_, first)) = seen.iter().find(|(name, _)| *name == lower) {
                self.push(
                    Diagnostic::error(
                        codes::DUPLICATE_NAME,
                        format!("two outputs are named '{}'", aggregate.alias),
                        *call_span,
                    )
                    .with_label(*first, "first one here")
                    .with_hint("give each aggregate its own name with 'as'"),
                );
            } else {
                seen.push((lower, *call_span));
            }
        }
        ir::StageKind::Aggregate {
            aggregates: aggregates
                .into_iter()
                .map(|(aggregate, _)| aggregate)
                .collect(),
            by: by.iter().map(|b| b.name.clone()).collect(),
        }
    }

    fn count_frequent(
        &mut self,
        call: &AggregateCall,
        calls: usize,
        by: &[ast::Ident],
    ) -> ir::StageKind {
        if calls > 1 || !by.is_empty() || call.alias.is_some() {
            self.push(
                Diagnostic::error(
                    codes::COUNT_FREQUENT_MIXED,
                    "count_frequent cannot be combined with other aggregates, 'by' or 'as'",
                    call.span,
                )
                .with_hint("use `count_frequent f1, f2` alone; it outputs _approxcount"),
            );
        }
        let mut fields = Vec::new();
        for argument in call.arguments.iter().flatten() {
            match &argument.kind {
                ExprKind::Field(name) => fields.push(name.clone()),
                _ => self.push(Diagnostic::error(
                    codes::INVALID_AGGREGATE_ARGUMENT,
                    "count_frequent takes field names",
                    argument.span,
                )),
            }
        }
        if fields.is_empty() {
            self.push(Diagnostic::error(
                codes::WRONG_ARITY,
                "count_frequent needs at least one field",
                call.span,
            ));
        }
        ir::StageKind::CountFrequent { fields }
    }

    fn aggregate_call(&mut self, call: &AggregateCall, out: &mut Vec<(ir::Aggregate, Span)>) {
        let lower = call.function.name.to_lowercase();
        let Some(function) = function(&lower) else {
            let mut diagnostic = Diagnostic::error(
                codes::UNKNOWN_AGGREGATE,
                format!("unknown aggregate function '{}'", call.function.name),
                call.function.span,
            )
            .with_suggestion(&lower, AGGREGATES.iter().copied());
            if diagnostic.hint.is_none() {
                diagnostic = diagnostic.with_hint(
                    "aggregates are count, count_distinct, sum, avg, min, max, pct, median, stddev, first, last, values",
                );
            }
            self.push(diagnostic);
            return;
        };
        let arguments = call.arguments.as_deref().unwrap_or_default();
        let (min, max) = match function {
            AggregateFunction::Count => (0, 1),
            AggregateFunction::Percentile(_) => (2, 11),
            _ => (1, 1),
        };
        if arguments.len() < min || arguments.len() > max {
            let expected = match (min, max) {
                (0, 1) => "no argument or one field".to_string(),
                (1, 1) => "one field".to_string(),
                _ => "a field and one or more percentiles".to_string(),
            };
            self.push(
                Diagnostic::error(
                    codes::WRONG_ARITY,
                    format!(
                        "'{}' takes {expected}, found {} argument(s)",
                        call.function.name,
                        arguments.len()
                    ),
                    call.span,
                )
                .with_hint(format!(
                    "e.g. `{lower}({})`",
                    if min == 2 { "latency, 95" } else { "field" }
                )),
            );
            return;
        }
        let field = arguments
            .first()
            .and_then(|argument| self.aggregate_field(argument, &lower));
        let alias = call.alias.as_ref().map(|a| a.name.clone());
        if let AggregateFunction::Percentile(_) = function {
            let percentiles = arguments.get(1..).unwrap_or_default();
            if alias.is_some() && percentiles.len() > 1 {
                self.push(
                    Diagnostic::error(
                        codes::ALIAS_COUNT_MISMATCH,
                        "one name given for several percentiles",
                        call.span,
                    )
                    .with_hint("write one `pct(f, p) as name` per percentile"),
                );
            }
            for argument in percentiles {
                let Some(p) = self.percentile(argument) else {
                    continue;
                };
                let name = field.clone().unwrap_or_default();
                let alias = alias
                    .clone()
                    .unwrap_or_else(|| format!("_{name}_pct_{}", percentile_text(p)));
                let aggregate = ir::Aggregate {
                    function: AggregateFunction::Percentile(p),
                    argument: field.clone(),
                    alias,
                };
                out.push((aggregate, call.span));
            }
            return;
        }
        let alias = alias.unwrap_or_else(|| format!("_{lower}"));
        out.push((
            ir::Aggregate {
                function,
                argument: field,
                alias,
            },
            call.span,
        ));
    }

    /// The argument of an aggregate must be a field.
    fn aggregate_field(&mut self, argument: &ast::Expr, function: &str) -> Option<String> {
        match &argument.kind {
            ExprKind::Field(name) => Some(name.clone()),
            ExprKind::Call { name, .. }
                if AGGREGATES.contains(&name.name.to_lowercase().as_str()) =>
            {
                self.push(
                    Diagnostic::error(
                        codes::INVALID_AGGREGATE_ARGUMENT,
                        format!(
                            "aggregate of an aggregate: '{}' inside '{function}'",
                            name.name
                        ),
                        argument.span,
                    )
                    .with_hint(format!(
                        "aggregate in two stages: `| {} as x by … | {function}(x)`",
                        name.name
                    )),
                );
                None
            }
            _ => {
                self.push(
                    Diagnostic::error(
                        codes::INVALID_AGGREGATE_ARGUMENT,
                        format!("the argument of '{function}' must be a field"),
                        argument.span,
                    )
                    .with_hint(format!(
                        "compute it first: `| <expression> as x | {function}(x)`"
                    )),
                );
                None
            }
        }
    }

    fn percentile(&mut self, argument: &ast::Expr) -> Option<f64> {
        let value = match &argument.kind {
            ExprKind::Literal(Literal::Int(value)) => *value as f64,
            ExprKind::Literal(Literal::Float(value)) => *value,
            _ => f64::NAN,
        };
        if (0.0..=100.0).contains(&value) {
            return Some(value);
        }
        self.push(
            Diagnostic::error(
                codes::INVALID_PERCENTILE,
                "a percentile must be a number from 0 to 100",
                argument.span,
            )
            .with_hint("e.g. pct(latency, 95)"),
        );
        None
    }
}
