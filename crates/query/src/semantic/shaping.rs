//! Result-shaping stages: counts (`top`, `limit`, `dedup`), `fields`, `fillmissing`,
//! `transpose`, `outlier`.
//!
//! `limit` above Sumo's cap of 10,000 is an error rather than silently clamped, so a query
//! never returns fewer rows than it asked for without saying so.

use super::Analyzer;
use crate::ast::{self, ExprKind, OutlierParameter, OutlierValue, TransposeOutput};
use crate::diagnostic::{Diagnostic, codes};
use crate::ir::{self, Literal, OutlierDirection, UnaryOp};
use crate::span::Span;

/// A literal, with a leading minus folded into a number.
fn literal(expr: &ast::Expr) -> Option<Literal> {
    match &expr.kind {
        ExprKind::Literal(literal) => Some(literal.clone()),
        ExprKind::Unary {
            op: UnaryOp::Negate,
            operand,
        } => match &operand.kind {
            ExprKind::Literal(Literal::Int(value)) => value.checked_neg().map(Literal::Int),
            ExprKind::Literal(Literal::Float(value)) => Some(Literal::Float(-value)),
            _ => None,
        },
        _ => None,
    }
}

impl Analyzer {
    /// A whole number in `min..=max` (`limit 10`, `top 5`); a diagnostic otherwise.
    pub(super) fn count(&mut self, expr: &ast::Expr, operator: &str, min: u64, max: u64) -> u64 {
        let found = match literal(expr) {
            Some(Literal::Int(value)) => {
                if let Ok(value) = u64::try_from(value)
                    && (min..=max).contains(&value)
                {
                    return value;
                }
                let hint = if operator == "limit" {
                    "sumo caps limit at 10,000 rows".to_string()
                } else {
                    format!("use a number from {min} to {max}")
                };
                self.push(
                    Diagnostic::error(
                        codes::COUNT_OUT_OF_RANGE,
                        format!("{operator} must be from {min} to {max}, found {value}"),
                        expr.span,
                    )
                    .with_hint(hint),
                );
                return min;
            }
            Some(Literal::String(_)) => "a string",
            Some(Literal::Float(_)) => "a fraction",
            Some(Literal::Bool(_)) => "a boolean",
            Some(Literal::Null) => "null",
            None => "an expression",
        };
        self.push(
            Diagnostic::error(
                codes::EXPECTED_NUMBER,
                format!("{operator} needs a whole number, found {found}"),
                expr.span,
            )
            .with_hint(format!("e.g. `{operator} 10`")),
        );
        min
    }

    pub(super) fn fields(&mut self, drop: bool, names: &[ast::Ident]) -> ir::StageKind {
        let mut seen: Vec<&ast::Ident> = Vec::new();
        for name in names {
            if let Some(first) = seen
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(&name.name))
            {
                self.push(
                    Diagnostic::error(
                        codes::DUPLICATE_NAME,
                        format!("field '{}' is listed twice", name.name),
                        name.span,
                    )
                    .with_label(first.span, "first listed here")
                    .with_hint("remove one of them"),
                );
            } else {
                seen.push(name);
            }
        }
        let mode = if drop {
            ir::FieldsMode::Drop
        } else {
            ir::FieldsMode::Keep
        };
        ir::StageKind::Fields {
            mode,
            names: names.iter().map(|n| n.name.clone()).collect(),
        }
    }

    pub(super) fn fillmissing(
        &mut self,
        generators: &[ast::Generator],
        defaults: &[ast::FillDefault],
        take_last: bool,
    ) -> ir::StageKind {
        let mut lowered = Vec::new();
        for generator in generators {
            lowered.push(match generator {
                ast::Generator::Timeslice { span, field, at } => {
                    self.fill_timeslice(*span, field, *at)
                }
                ast::Generator::Values { values, field } => ir::Generator::Values {
                    values: values.iter().map(|v| v.value.clone()).collect(),
                    field: field.name.clone(),
                },
                ast::Generator::AllValues { field } => ir::Generator::AllValues {
                    field: field.name.clone(),
                },
            });
        }
        let mut fills = Vec::new();
        for default in defaults {
            match literal(&default.value) {
                Some(value) => fills.push(ir::FillDefault {
                    value,
                    field: default.field.name.clone(),
                }),
                None => self.push(
                    Diagnostic::error(
                        codes::INVALID_FILL_DEFAULT,
                        "a fillmissing default must be a literal",
                        default.value.span,
                    )
                    .with_hint("e.g. `with 0 for _count`"),
                ),
            }
        }
        if take_last
            && !generators
                .iter()
                .any(|g| matches!(g, ast::Generator::Timeslice { .. }))
        {
            let span = generators.iter().fold(Span::default(), |span, g| match g {
                ast::Generator::Timeslice { at, .. } => span.to(*at),
                ast::Generator::Values { field, .. } | ast::Generator::AllValues { field } => {
                    if span == Span::default() {
                        field.span
                    } else {
                        span.to(field.span)
                    }
                }
            });
            self.push(
                Diagnostic::error(
                    codes::TAKE_LAST_WITHOUT_TIMESLICE,
                    "takeLast copies values from the previous timeslice, but there is no timeslice generator",
                    span,
                )
                .with_hint("add one: `fillmissing timeslice, values all in status takeLast`"),
            );
        }
        ir::StageKind::FillMissing {
            generators: lowered,
            defaults: fills,
            take_last,
        }
    }

    fn fill_timeslice(
        &mut self,
        span: Option<i64>,
        field: &Option<ast::Ident>,
        at: Span,
    ) -> ir::Generator {
        let prior = self.timeslice.clone();
        let field = field
            .as_ref()
            .map(|f| f.name.clone())
            .or_else(|| prior.as_ref().map(|p| p.field.clone()));
        let field = field.unwrap_or_else(|| "_timeslice".to_string());
        if let Some(millis) = span {
            if millis <= 0 {
                self.push(Diagnostic::error(
                    codes::INVALID_DURATION,
                    "fillmissing span must be positive",
                    at,
                ));
            }
            return ir::Generator::Timeslice {
                span: Some(millis),
                field,
            };
        }
        let span = match prior.map(|p| p.span) {
            Some(ir::TimesliceSpan::Millis(millis)) => Some(millis),
            Some(ir::TimesliceSpan::Buckets(_)) => {
                self.push(
                    Diagnostic::error(
                        codes::FILLMISSING_WITHOUT_TIMESLICE,
                        "fillmissing timeslice needs a fixed span, but the timeslice uses buckets",
                        at,
                    )
                    .with_hint("give the span: `fillmissing timeslice(1h)`"),
                );
                None
            }
            None => {
                if self.complete {
                    self.push(
                        Diagnostic::error(
                            codes::FILLMISSING_WITHOUT_TIMESLICE,
                            "fillmissing timeslice has no earlier timeslice stage to take its span from",
                            at,
                        )
                        .with_hint("add `| timeslice 1h` before the aggregation, or write `timeslice(1h)`"),
                    );
                }
                None
            }
        };
        ir::Generator::Timeslice { span, field }
    }

    pub(super) fn transpose(
        &mut self,
        rows: &[ast::Ident],
        columns: &[ast::Ident],
        outputs: Option<&[TransposeOutput]>,
        stage_span: Span,
    ) -> ir::StageKind {
        let missing = match (rows.is_empty(), columns.is_empty()) {
            (true, true) => Some("'row' and 'column'"),
            (true, false) => Some("'row'"),
            (false, true) => Some("'column'"),
            (false, false) => None,
        };
        if let Some(missing) = missing {
            self.push(
                Diagnostic::error(
                    codes::TRANSPOSE_INCOMPLETE,
                    format!("transpose needs {missing}"),
                    stage_span,
                )
                .with_hint("e.g. `transpose row _timeslice column status`"),
            );
        }
        let outputs = match outputs {
            None => ir::TransposeOutputs::All,
            Some(list) => {
                let names: Vec<String> = list
                    .iter()
                    .filter_map(|o| match o {
                        TransposeOutput::Name(name) => Some(name.name.clone()),
                        TransposeOutput::Rest(_) => None,
                    })
                    .collect();
                let rest = list.iter().any(|o| matches!(o, TransposeOutput::Rest(_)));
                if names.is_empty() {
                    ir::TransposeOutputs::All
                } else {
                    ir::TransposeOutputs::Listed { names, rest }
                }
            }
        };
        ir::StageKind::Transpose {
            rows: rows.iter().map(|r| r.name.clone()).collect(),
            columns: columns.iter().map(|c| c.name.clone()).collect(),
            outputs,
        }
    }

    pub(super) fn outlier(
        &mut self,
        field: &ast::Ident,
        by: &[ast::Ident],
        parameters: &[OutlierParameter],
    ) -> ir::StageKind {
        let (mut window, mut threshold, mut consecutive, mut direction) =
            (10, 3.0, 1, OutlierDirection::Both);
        for parameter in parameters {
            let name = parameter.name.name.to_ascii_lowercase();
            let bad = |what: &str| {
                Diagnostic::error(
                    codes::INVALID_OUTLIER_PARAMETER,
                    format!("outlier '{name}' must be {what}"),
                    parameter.span,
                )
            };
            let whole = |value: &OutlierValue| match value {
                OutlierValue::Number(n) if n.fract() == 0.0 && (1.0..=10_000.0).contains(n) => {
                    Some(*n as u32)
                }
                _ => None,
            };
            match (name.as_str(), &parameter.value) {
                ("window", value) => match whole(value) {
                    Some(n) => window = n,
                    None => self.push(bad("a whole number from 1 to 10000")),
                },
                ("consecutive", value) => match whole(value) {
                    Some(n) => consecutive = n,
                    None => self.push(bad("a whole number from 1 to 10000")),
                },
                ("threshold", OutlierValue::Number(n)) if *n > 0.0 => threshold = *n,
                ("threshold", _) => self.push(bad("a positive number")),
                ("direction", OutlierValue::Direction(d)) if d == "+-" || d == "-+" => {
                    direction = OutlierDirection::Both;
                }
                ("direction", OutlierValue::Direction(d)) if d == "+" => {
                    direction = OutlierDirection::Above
                }
                ("direction", OutlierValue::Direction(d)) if d == "-" => {
                    direction = OutlierDirection::Below
                }
                ("direction", _) => self.push(bad("+-, + or -")),
                _ => self.push(
                    Diagnostic::error(
                        codes::UNKNOWN_OPTION,
                        format!("unknown outlier parameter '{}'", parameter.name.name),
                        parameter.name.span,
                    )
                    .with_suggestion(&name, ["window", "threshold", "consecutive", "direction"]),
                ),
            }
        }
        ir::StageKind::Outlier {
            field: field.name.clone(),
            by: by.iter().map(|b| b.name.clone()).collect(),
            window,
            threshold,
            consecutive,
            direction,
        }
    }
}
