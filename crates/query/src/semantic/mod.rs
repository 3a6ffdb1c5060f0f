//! Semantic analysis: [`ast::Query`] to [`ir::Query`]. Checks names of operators options,
//! functions and aggregates, arities, alias counts, regexes, counts and limits, and the
//! cross-stage rules (`fillmissing timeslice` needs an earlier `timeslice`); fills defaults
//! (aggregate output names, outlier parameters, geo columns). All problems are collected.

mod aggregate;
mod expr;
mod extract;
mod operators;
mod shaping;

pub(crate) use expr::compile_regex;
pub use expr::{FUNCTIONS, FunctionSpec};

use crate::ast::{self, ScopeExpr, StageKind};
use crate::diagnostic::{Diagnostic, codes};
use crate::ir;

/// Metadata fields accepted in the scope (compared case-insensitively).
pub const METADATA_FIELDS: &[&str] = &[
    "_sourceCategory",
    "_source",
    "_collector",
    "_sourceHost",
    "_sourceName",
    "_index",
    "_view",
];

/// Checks a parsed query and lowers it to the IR.
pub fn analyze(query: &ast::Query) -> Result<ir::Query, Vec<Diagnostic>> {
    let (ir, diagnostics) = analyze_partial(query, true);
    if diagnostics.is_empty() {
        Ok(ir)
    } else {
        Err(diagnostics)
    }
}

/// Like [`analyze`], for a query whose failed stages were dropped by the parser
/// (`complete == false` turns off the checks that depend on earlier stages).
pub(crate) fn analyze_partial(query: &ast::Query, complete: bool) -> (ir::Query, Vec<Diagnostic>) {
    let mut analyzer = Analyzer {
        diagnostics: Vec::new(),
        timeslice: None,
        complete,
    };
    let scope = query
        .scope
        .as_ref()
        .map_or(ir::Scope::All, |scope| analyzer.scope(scope));
    let mut stages = Vec::new();
    for stage in &query.stages {
        if let Some(kind) = analyzer.stage(stage) {
            stages.push(ir::Stage {
                kind,
                span: stage.span,
            });
        }
    }
    (ir::Query { scope, stages }, analyzer.diagnostics)
}

/// The previous `timeslice` stage: its span and output field.
#[derive(Clone)]
struct PriorTimeslice {
    span: ir::TimesliceSpan,
    field: String,
}

pub(crate) struct Analyzer {
    diagnostics: Vec<Diagnostic>,
    timeslice: Option<PriorTimeslice>,
    complete: bool,
}

impl Analyzer {
    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn scope(&mut self, scope: &ScopeExpr) -> ir::Scope {
        match scope {
            ScopeExpr::Keyword {
                text,
                quoted: false,
                ..
            } if text == "*" => ir::Scope::All,
            ScopeExpr::Keyword { text, .. } => ir::Scope::Keyword {
                pattern: text.clone(),
            },
            ScopeExpr::Metadata {
                field,
                value,
                negated,
                ..
            } => {
                if !METADATA_FIELDS
                    .iter()
                    .any(|known| known.eq_ignore_ascii_case(&field.name))
                {
                    self.push(
                        Diagnostic::error(
                            codes::UNKNOWN_METADATA_FIELD,
                            format!("unknown metadata field '{}'", field.name),
                            field.span,
                        )
                        .with_suggestion(&field.name, METADATA_FIELDS.iter().copied())
                        .with_label(field.span, "the scope can filter on _sourceCategory, _source, _collector, _sourceHost, _sourceName"),
                    );
                }
                ir::Scope::Metadata {
                    field: field.name.clone(),
                    pattern: value.clone(),
                    negated: *negated,
                }
            }
            ScopeExpr::And(left, right) => match (self.scope(left), self.scope(right)) {
                (ir::Scope::All, other) | (other, ir::Scope::All) => other,
                (left, right) => ir::Scope::And(Box::new(left), Box::new(right)),
            },
            ScopeExpr::Or(left, right) => match (self.scope(left), self.scope(right)) {
                (ir::Scope::All, _) | (_, ir::Scope::All) => ir::Scope::All,
                (left, right) => ir::Scope::Or(Box::new(left), Box::new(right)),
            },
            ScopeExpr::Not(inner, _) => ir::Scope::Not(Box::new(self.scope(inner))),
        }
    }

    /// One stage; `None` when it has errors (they are recorded).
    fn stage(&mut self, stage: &ast::Stage) -> Option<ir::StageKind> {
        let before = self.diagnostics.len();
        let kind = match &stage.kind {
            StageKind::Json {
                source,
                keys,
                aliases,
                nodrop,
            } => self.json(source, keys, aliases, *nodrop),
            StageKind::JsonAuto { source } => ir::StageKind::JsonAuto {
                source: source.as_ref().map(|s| s.name.clone()),
            },
            StageKind::Parse {
                source,
                pattern,
                aliases,
                nodrop,
            } => self.parse_anchor(source, pattern, aliases, *nodrop),
            StageKind::ParseRegex {
                source,
                regex,
                nodrop,
                multi,
            } => self.parse_regex(source, regex, *nodrop, *multi),
            StageKind::Where(condition) => ir::StageKind::Where(self.expr(condition)),
            StageKind::Assign { expr, alias } => ir::StageKind::Assign {
                expr: self.expr(expr),
                alias: alias.name.clone(),
            },
            StageKind::Lookup {
                columns,
                table,
                key,
                field,
            } => self.lookup(columns, table, key, field),
            StageKind::GeoIp { field, columns } => self.geoip(field, columns),
            StageKind::ThreatIp { field } => self.threatip(field),
            StageKind::Timeslice { span, alias } => self.timeslice(span, alias, stage.span),
            StageKind::Aggregate { aggregates, by } => self.aggregate(aggregates, by),
            StageKind::Sort { keys } => ir::StageKind::Sort {
                keys: keys.iter().map(sort_key).collect(),
            },
            StageKind::Top { limit, fields, by } => ir::StageKind::Top {
                limit: self.count(limit, "top", 1, 10_000),
                fields: names(fields),
                by: by.as_ref().map(sort_key),
            },
            StageKind::Limit(limit) => ir::StageKind::Limit(self.count(limit, "limit", 1, 10_000)),
            StageKind::Fields { drop, names: list } => self.fields(*drop, list),
            StageKind::FillMissing {
                generators,
                defaults,
                take_last,
            } => self.fillmissing(generators, defaults, *take_last),
            StageKind::Transpose {
                rows,
                columns,
                outputs,
            } => self.transpose(rows, columns, outputs.as_deref(), stage.span),
            StageKind::Outlier {
                field,
                by,
                parameters,
            } => self.outlier(field, by, parameters),
            StageKind::Dedup { limit, by } => ir::StageKind::Dedup {
                limit: limit
                    .as_ref()
                    .map_or(1, |limit| self.count(limit, "dedup", 1, 10_000)),
                by: names(by),
            },
            StageKind::TopK { limit, fields, by } => self.topk(limit, fields, by),
            StageKind::Accum { field, alias, by } => self.running(false, field, alias, by),
            StageKind::Total { field, alias, by } => self.running(true, field, alias, by),
            StageKind::Split {
                field,
                options,
                columns,
                ..
            } => self.split(field, options, columns, stage.span),
            StageKind::ThreatLookup {
                single_indicator,
                source,
                include,
                fields,
            } => self.threatlookup(*single_indicator, source, include, fields),
        };
        (self.diagnostics.len() == before).then_some(kind)
    }

    fn timeslice(
        &mut self,
        span: &ast::TimesliceArg,
        alias: &Option<ast::Ident>,
        stage_span: crate::span::Span,
    ) -> ir::StageKind {
        let span = match span {
            ast::TimesliceArg::Millis(millis) => {
                if *millis <= 0 {
                    self.push(
                        Diagnostic::error(
                            codes::INVALID_DURATION,
                            "timeslice span must be positive",
                            stage_span,
                        )
                        .with_hint("e.g. timeslice 15m"),
                    );
                }
                ir::TimesliceSpan::Millis(*millis)
            }
            ast::TimesliceArg::Buckets(count) => {
                let buckets = u32::try_from(*count)
                    .ok()
                    .filter(|n| (1..=10_000).contains(n));
                if buckets.is_none() {
                    self.push(Diagnostic::error(
                        codes::COUNT_OUT_OF_RANGE,
                        format!("timeslice needs 1 to 10000 buckets, found {count}"),
                        stage_span,
                    ));
                }
                ir::TimesliceSpan::Buckets(buckets.unwrap_or(1))
            }
        };
        let alias = alias
            .as_ref()
            .map_or_else(|| "_timeslice".to_string(), |a| a.name.clone());
        self.timeslice = Some(PriorTimeslice {
            span,
            field: alias.clone(),
        });
        ir::StageKind::Timeslice { span, alias }
    }
}

fn names(list: &[ast::Ident]) -> Vec<String> {
    list.iter().map(|ident| ident.name.clone()).collect()
}

fn sort_key(key: &ast::SortKey) -> ir::SortKey {
    ir::SortKey {
        field: key.field.name.clone(),
        descending: key.descending,
    }
}

#[cfg(test)]
mod tests {
    use crate::compile;
    use crate::ir::{self, Expr, Literal, Scope, StageKind};

    fn stages(source: &str) -> Vec<StageKind> {
        match compile(source) {
            Ok(query) => query.stages.into_iter().map(|s| s.kind).collect(),
            Err(diagnostics) => panic!("{source}: {diagnostics:?}"),
        }
    }

    #[test]
    fn scope_precedence_and_wildcard() {
        let query = compile("* a OR NOT _source!=x b").expect("valid");
        let keyword = |p: &str| {
            Box::new(Scope::Keyword {
                pattern: p.to_string(),
            })
        };
        let metadata = Scope::Metadata {
            field: "_source".into(),
            pattern: "x".into(),
            negated: true,
        };
        assert_eq!(
            query.scope,
            Scope::Or(
                keyword("a"),
                Box::new(Scope::And(
                    Box::new(Scope::Not(Box::new(metadata))),
                    keyword("b")
                ))
            )
        );
        assert_eq!(compile("").expect("valid").scope, Scope::All);
        assert_eq!(compile("*").expect("valid").scope, Scope::All);
    }

    #[test]
    fn ternary_becomes_if_and_number_becomes_num() {
        let kinds = stages("| a > 1 ? \"big\" : number(b) as c");
        let StageKind::Assign {
            expr: Expr::Call { name, args },
            ..
        } = &kinds[0]
        else {
            panic!("{kinds:?}")
        };
        assert_eq!(name, "if");
        assert!(matches!(&args[2], Expr::Call { name, .. } if name == "num"));
    }

    #[test]
    fn matches_forms() {
        let kinds = stages(
            "| where a matches b and c matches /x/ and d matches (\"*y*\") and e matches\"z\"",
        );
        let text = format!("{kinds:?}");
        assert!(text.contains("Dynamic(Field(\"b\"))"), "{text}");
        assert!(
            text.contains("Regex(\"x\")") && text.contains("Wildcard(\"*y*\")"),
            "{text}"
        );
        assert!(text.contains("Wildcard(\"z\")"), "{text}");
    }

    #[test]
    fn operator_defaults() {
        let kinds = stages(
            "| json auto field=f | timeslice by 15m | fields - a, b | dedup | threatip ip | geoip ip region \
             | outlier _count | count_distinct (x), pct(y, 95) by _timeslice | sort a",
        );
        assert_eq!(
            kinds[0],
            StageKind::JsonAuto {
                source: Some("f".into())
            }
        );
        assert_eq!(
            kinds[1],
            StageKind::Timeslice {
                span: ir::TimesliceSpan::Millis(900_000),
                alias: "_timeslice".into()
            }
        );
        assert_eq!(
            kinds[2],
            StageKind::Fields {
                mode: ir::FieldsMode::Drop,
                names: vec!["a".into(), "b".into()]
            }
        );
        assert_eq!(
            kinds[3],
            StageKind::Dedup {
                limit: 1,
                by: vec![]
            }
        );
        let StageKind::Lookup {
            table: ir::LookupTable::Threat,
            columns,
            ..
        } = &kinds[4]
        else {
            panic!()
        };
        assert_eq!(columns[1].alias, "malicious_confidence");
        let StageKind::Lookup {
            table: ir::LookupTable::Geo,
            columns,
            ..
        } = &kinds[5]
        else {
            panic!()
        };
        assert_eq!(columns.last().map(|c| c.column.as_str()), Some("region"));
        assert_eq!(
            kinds[6],
            StageKind::Outlier {
                field: "_count".into(),
                by: vec![],
                window: 10,
                threshold: 3.0,
                consecutive: 1,
                direction: ir::OutlierDirection::Both
            }
        );
        let StageKind::Aggregate { aggregates, .. } = &kinds[7] else {
            panic!()
        };
        assert_eq!(aggregates[0].alias, "_count_distinct");
        assert_eq!(aggregates[1].alias, "_y_pct_95");
        assert_eq!(
            kinds[8],
            StageKind::Sort {
                keys: vec![ir::SortKey {
                    field: "a".into(),
                    descending: true
                }]
            }
        );
    }

    #[test]
    fn literals_and_fill_defaults() {
        let kinds = stages(
            "| timeslice 1h | count by _timeslice | fillmissing timeslice with -1 for _count takeLast",
        );
        let StageKind::FillMissing {
            generators,
            defaults,
            take_last,
        } = &kinds[2]
        else {
            panic!()
        };
        assert_eq!(
            generators[0],
            ir::Generator::Timeslice {
                span: Some(3_600_000),
                field: "_timeslice".into()
            }
        );
        assert_eq!(defaults[0].value, Literal::Int(-1));
        assert!(*take_last);
    }
}
