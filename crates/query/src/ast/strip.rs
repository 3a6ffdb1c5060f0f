//! Span stripping: a copy of the tree with every span zeroed, so that two trees parsed from
//! differently formatted texts compare equal when they mean the same query.

use super::*;

const NO_SPAN: Span = Span { start: 0, end: 0 };

pub(super) fn query(query: &Query) -> Query {
    Query {
        scope: query.scope.as_ref().map(scope),
        stages: query.stages.iter().map(stage).collect(),
    }
}

fn ident(ident: &Ident) -> Ident {
    Ident {
        name: ident.name.clone(),
        span: NO_SPAN,
    }
}

fn idents(list: &[Ident]) -> Vec<Ident> {
    list.iter().map(ident).collect()
}

fn string(literal: &StrLit) -> StrLit {
    StrLit {
        value: literal.value.clone(),
        span: NO_SPAN,
    }
}

fn scope(node: &ScopeExpr) -> ScopeExpr {
    match node {
        ScopeExpr::Keyword { text, quoted, .. } => ScopeExpr::Keyword {
            text: text.clone(),
            quoted: *quoted,
            span: NO_SPAN,
        },
        ScopeExpr::Metadata {
            field,
            value,
            quoted,
            negated,
            ..
        } => ScopeExpr::Metadata {
            field: ident(field),
            value: value.clone(),
            quoted: *quoted,
            negated: *negated,
            span: NO_SPAN,
        },
        ScopeExpr::And(left, right) => {
            ScopeExpr::And(Box::new(scope(left)), Box::new(scope(right)))
        }
        ScopeExpr::Or(left, right) => ScopeExpr::Or(Box::new(scope(left)), Box::new(scope(right))),
        ScopeExpr::Not(inner, _) => ScopeExpr::Not(Box::new(scope(inner)), NO_SPAN),
    }
}

fn sort_key(key: &SortKey) -> SortKey {
    SortKey {
        field: ident(&key.field),
        descending: key.descending,
    }
}

fn stage(stage: &Stage) -> Stage {
    let kind = match &stage.kind {
        StageKind::Json {
            source,
            keys,
            aliases,
            nodrop,
        } => StageKind::Json {
            source: source.as_ref().map(ident),
            keys: keys.iter().map(string).collect(),
            aliases: idents(aliases),
            nodrop: *nodrop,
        },
        StageKind::JsonAuto { source } => StageKind::JsonAuto {
            source: source.as_ref().map(ident),
        },
        StageKind::Parse {
            source,
            pattern,
            aliases,
            nodrop,
        } => StageKind::Parse {
            source: source.as_ref().map(ident),
            pattern: string(pattern),
            aliases: idents(aliases),
            nodrop: *nodrop,
        },
        StageKind::ParseRegex {
            source,
            regex,
            nodrop,
            multi,
        } => StageKind::ParseRegex {
            source: source.as_ref().map(ident),
            regex: string(regex),
            nodrop: *nodrop,
            multi: *multi,
        },
        StageKind::Where(condition) => StageKind::Where(expr(condition)),
        StageKind::Assign { expr: value, alias } => StageKind::Assign {
            expr: expr(value),
            alias: ident(alias),
        },
        StageKind::Lookup {
            columns,
            table,
            key,
            field,
        } => StageKind::Lookup {
            columns: columns
                .iter()
                .map(|c| LookupColumn {
                    column: ident(&c.column),
                    alias: c.alias.as_ref().map(ident),
                })
                .collect(),
            table: string(table),
            key: ident(key),
            field: ident(field),
        },
        StageKind::GeoIp { field, columns } => StageKind::GeoIp {
            field: ident(field),
            columns: idents(columns),
        },
        StageKind::ThreatIp { field } => StageKind::ThreatIp {
            field: ident(field),
        },
        StageKind::Timeslice { span, alias } => StageKind::Timeslice {
            span: span.clone(),
            alias: alias.as_ref().map(ident),
        },
        StageKind::Aggregate { aggregates, by } => StageKind::Aggregate {
            aggregates: aggregates
                .iter()
                .map(|call| AggregateCall {
                    function: ident(&call.function),
                    arguments: call
                        .arguments
                        .as_ref()
                        .map(|args| args.iter().map(expr).collect()),
                    alias: call.alias.as_ref().map(ident),
                    span: NO_SPAN,
                })
                .collect(),
            by: idents(by),
        },
        StageKind::Sort { keys } => StageKind::Sort {
            keys: keys.iter().map(sort_key).collect(),
        },
        StageKind::Top { limit, fields, by } => StageKind::Top {
            limit: expr(limit),
            fields: idents(fields),
            by: by.as_ref().map(sort_key),
        },
        StageKind::Limit(limit) => StageKind::Limit(expr(limit)),
        StageKind::Fields { drop, names } => StageKind::Fields {
            drop: *drop,
            names: idents(names),
        },
        StageKind::FillMissing {
            generators,
            defaults,
            take_last,
        } => StageKind::FillMissing {
            generators: generators.iter().map(generator).collect(),
            defaults: defaults
                .iter()
                .map(|d| FillDefault {
                    value: expr(&d.value),
                    field: ident(&d.field),
                })
                .collect(),
            take_last: *take_last,
        },
        StageKind::Transpose {
            rows,
            columns,
            outputs,
        } => StageKind::Transpose {
            rows: idents(rows),
            columns: idents(columns),
            outputs: outputs.as_ref().map(|list| {
                list.iter()
                    .map(|output| match output {
                        TransposeOutput::Name(name) => TransposeOutput::Name(ident(name)),
                        TransposeOutput::Rest(_) => TransposeOutput::Rest(NO_SPAN),
                    })
                    .collect()
            }),
        },
        StageKind::Outlier {
            field,
            by,
            parameters,
        } => StageKind::Outlier {
            field: ident(field),
            by: idents(by),
            parameters: parameters
                .iter()
                .map(|p| OutlierParameter {
                    name: ident(&p.name),
                    value: p.value.clone(),
                    span: NO_SPAN,
                })
                .collect(),
        },
        StageKind::Dedup { limit, by } => StageKind::Dedup {
            limit: limit.as_ref().map(expr),
            by: idents(by),
        },
        StageKind::TopK { limit, fields, by } => StageKind::TopK {
            limit: expr(limit),
            fields: idents(fields),
            by: idents(by),
        },
        StageKind::Accum { field, alias, by } => StageKind::Accum {
            field: ident(field),
            alias: alias.as_ref().map(ident),
            by: idents(by),
        },
        StageKind::Total { field, alias, by } => StageKind::Total {
            field: ident(field),
            alias: alias.as_ref().map(ident),
            by: idents(by),
        },
        StageKind::Split {
            csv,
            field,
            options,
            columns,
        } => StageKind::Split {
            csv: *csv,
            field: ident(field),
            options: options
                .iter()
                .map(|o| SplitOption {
                    name: ident(&o.name),
                    value: o.value.clone(),
                    single_quoted: o.single_quoted,
                    span: NO_SPAN,
                })
                .collect(),
            columns: columns
                .iter()
                .map(|c| match c {
                    SplitColumn::Indexed { index, alias, .. } => SplitColumn::Indexed {
                        index: *index,
                        index_span: NO_SPAN,
                        alias: ident(alias),
                    },
                    SplitColumn::Positional(alias) => SplitColumn::Positional(ident(alias)),
                })
                .collect(),
        },
        StageKind::ThreatLookup {
            single_indicator,
            source,
            include,
            fields,
        } => StageKind::ThreatLookup {
            single_indicator: *single_indicator,
            source: source.as_ref().map(string),
            include: include.as_ref().map(string),
            fields: idents(fields),
        },
    };
    Stage {
        kind,
        span: NO_SPAN,
    }
}

fn generator(generator: &Generator) -> Generator {
    match generator {
        Generator::Timeslice { span, field, .. } => Generator::Timeslice {
            span: *span,
            field: field.as_ref().map(ident),
            at: NO_SPAN,
        },
        Generator::Values { values, field } => Generator::Values {
            values: values.iter().map(string).collect(),
            field: ident(field),
        },
        Generator::AllValues { field } => Generator::AllValues {
            field: ident(field),
        },
    }
}

fn boxed(node: &Expr) -> Box<Expr> {
    Box::new(expr(node))
}

fn expr(node: &Expr) -> Expr {
    let kind = match &node.kind {
        ExprKind::Field(name) => ExprKind::Field(name.clone()),
        ExprKind::Literal(literal) => ExprKind::Literal(literal.clone()),
        ExprKind::Unary { op, operand } => ExprKind::Unary {
            op: *op,
            operand: boxed(operand),
        },
        ExprKind::Binary { op, left, right } => ExprKind::Binary {
            op: *op,
            left: boxed(left),
            right: boxed(right),
        },
        ExprKind::Matches { operand, pattern } => ExprKind::Matches {
            operand: boxed(operand),
            pattern: match pattern {
                Pattern::Dynamic(inner) => Pattern::Dynamic(boxed(inner)),
                other => other.clone(),
            },
        },
        ExprKind::In {
            operand,
            list,
            negated,
        } => ExprKind::In {
            operand: boxed(operand),
            list: list.iter().map(expr).collect(),
            negated: *negated,
        },
        ExprKind::Call { name, args } => ExprKind::Call {
            name: ident(name),
            args: args.iter().map(expr).collect(),
        },
        ExprKind::Regex(text) => ExprKind::Regex(text.clone()),
        ExprKind::Ternary {
            condition,
            then,
            otherwise,
        } => ExprKind::Ternary {
            condition: boxed(condition),
            then: boxed(then),
            otherwise: boxed(otherwise),
        },
    };
    Expr {
        kind,
        span: NO_SPAN,
    }
}
