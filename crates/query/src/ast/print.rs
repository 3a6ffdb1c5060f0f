//! Canonical query text. Compound sub-expressions are parenthesised, names that could be read
//! as keywords are escaped as `%"name"`, durations use the largest exact unit; the result
//! parses back to the same tree (up to spans).

use std::fmt::{self, Display, Formatter, Write};

use super::*;

/// Words that the parser may read as keywords somewhere; such names are printed `%"…"`.
const RESERVED: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "matches",
    "contains",
    "true",
    "false",
    "null",
    "as",
    "by",
    "from",
    "on",
    "nodrop",
    "multi",
    "field",
    "row",
    "column",
    "with",
    "for",
    "values",
    "all",
    "takelast",
    "asc",
    "desc",
    "buckets",
    "auto",
    "regex",
    "group",
    "window",
    "threshold",
    "consecutive",
    "direction",
    "extract",
    "delim",
    "quote",
    "escape",
    "singleindicator",
    "source",
    "include",
];

fn is_reserved(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    RESERVED.contains(&lower.as_str())
        || crate::parser::OPERATORS.contains(&lower.as_str())
        || crate::parser::AGGREGATES.contains(&lower.as_str())
}

/// A field name as it must be written: plain, or `%"escaped"`.
pub fn name(name: &str) -> String {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !is_reserved(name);
    if plain {
        name.to_string()
    } else {
        format!("%{}", quote(name))
    }
}

/// A double-quoted string literal.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A duration in the largest unit that divides it exactly.
pub fn duration(millis: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (604_800_000, "w"),
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ];
    for (size, unit) in UNITS {
        if millis != 0 && millis % size == 0 {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

fn list(names: &[Ident]) -> String {
    names
        .iter()
        .map(|n| name(&n.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn literal(literal: &Literal) -> String {
    match literal {
        Literal::Null => "null".to_string(),
        Literal::Bool(value) => value.to_string(),
        Literal::Int(value) => value.to_string(),
        Literal::Float(value) => format!("{value:?}"),
        Literal::String(value) => quote(value),
    }
}

fn binary_op(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "+",
        BinaryOp::Subtract => "-",
        BinaryOp::Multiply => "*",
        BinaryOp::Divide => "/",
        BinaryOp::Modulo => "%",
        BinaryOp::Equal => "=",
        BinaryOp::NotEqual => "!=",
        BinaryOp::Less => "<",
        BinaryOp::LessEqual => "<=",
        BinaryOp::Greater => ">",
        BinaryOp::GreaterEqual => ">=",
        BinaryOp::And => "and",
        BinaryOp::Or => "or",
    }
}

fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And => 3,
        BinaryOp::Add | BinaryOp::Subtract => 9,
        BinaryOp::Multiply | BinaryOp::Divide | BinaryOp::Modulo => 11,
        _ => 7,
    }
}

/// The left operand of a binary operator: binary operators are left-associative, so one that
/// binds at least as tightly needs no parentheses (and a long `a + b + c …` chain does not
/// print as deeply nested parentheses the parser would refuse).
fn left_operand(expr: &Expr, parent: BinaryOp) -> String {
    match &expr.kind {
        ExprKind::Binary { op, .. } if precedence(*op) >= precedence(parent) => expr.to_string(),
        ExprKind::Matches { .. } | ExprKind::In { .. } if precedence(parent) <= 7 => {
            expr.to_string()
        }
        _ => child(expr),
    }
}

/// An operand: atoms as they are, anything compound in parentheses.
fn child(expr: &Expr) -> String {
    match &expr.kind {
        ExprKind::Field(_) | ExprKind::Literal(_) | ExprKind::Call { .. } | ExprKind::Regex(_) => {
            expr.to_string()
        }
        _ => format!("({expr})"),
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Field(field) => f.write_str(&name(field)),
            ExprKind::Literal(value) => f.write_str(&literal(value)),
            ExprKind::Unary {
                op: UnaryOp::Not,
                operand,
            } => write!(f, "!{}", child(operand)),
            ExprKind::Unary {
                op: UnaryOp::Negate,
                operand,
            } => write!(f, "-{}", child(operand)),
            ExprKind::Binary { op, left, right } => {
                write!(
                    f,
                    "{} {} {}",
                    left_operand(left, *op),
                    binary_op(*op),
                    child(right)
                )
            }
            ExprKind::Matches { operand, pattern } => {
                write!(f, "{} matches ", child(operand))?;
                match pattern {
                    Pattern::Wildcard(text) => f.write_str(&quote(text)),
                    Pattern::Regex(text) => write!(f, "/{}/", text.replace('/', "\\/")),
                    Pattern::Dynamic(inner) => f.write_str(&child(inner)),
                }
            }
            ExprKind::In {
                operand,
                list,
                negated,
            } => {
                let items: Vec<String> = list.iter().map(ToString::to_string).collect();
                let not = if *negated { "not " } else { "" };
                write!(f, "{} {not}in ({})", child(operand), items.join(", "))
            }
            ExprKind::Call { name, args } => {
                let items: Vec<String> = args.iter().map(ToString::to_string).collect();
                write!(f, "{}({})", name.name, items.join(", "))
            }
            ExprKind::Regex(text) => write!(f, "/{}/", text.replace('/', "\\/")),
            ExprKind::Ternary {
                condition,
                then,
                otherwise,
            } => {
                write!(
                    f,
                    "{} ? {} : {}",
                    child(condition),
                    child(then),
                    child(otherwise)
                )
            }
        }
    }
}

impl Display for ScopeExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let grouped = |node: &ScopeExpr| match node {
            ScopeExpr::And(..) | ScopeExpr::Or(..) => format!("({node})"),
            _ => node.to_string(),
        };
        match self {
            ScopeExpr::Keyword {
                text, quoted: true, ..
            } => f.write_str(&quote(text)),
            ScopeExpr::Keyword { text, .. } => f.write_str(text),
            ScopeExpr::Metadata {
                field,
                value,
                quoted,
                negated,
                ..
            } => {
                let op = if *negated { "!=" } else { "=" };
                let value = if *quoted { quote(value) } else { value.clone() };
                // A field ending in an operator character (`<>!`) would fuse with `=` into
                // another operator (`!=`) when read back (found by fuzzing); so would a
                // value starting with `=`.
                let before = if field.name.ends_with(['!', '<', '>', '=']) {
                    " "
                } else {
                    ""
                };
                let after = if value.starts_with('=') { " " } else { "" };
                write!(f, "{}{before}{op}{after}{value}", field.name)
            }
            // Both are parsed left-associatively: a left operand of the same kind needs no
            // parentheses (and long chains must not print as deeply nested ones).
            ScopeExpr::And(left, right) => {
                let left = match left.as_ref() {
                    ScopeExpr::And(..) => left.to_string(),
                    other => grouped(other),
                };
                write!(f, "{left} AND {}", grouped(right))
            }
            ScopeExpr::Or(left, right) => {
                let left = match left.as_ref() {
                    ScopeExpr::Or(..) => left.to_string(),
                    other => grouped(other),
                };
                write!(f, "{left} OR {}", grouped(right))
            }
            ScopeExpr::Not(inner, _) => write!(f, "NOT {}", grouped(inner)),
        }
    }
}

fn source(source: &Option<Ident>) -> String {
    source
        .as_ref()
        .map(|s| format!(" field={}", name(&s.name)))
        .unwrap_or_default()
}

fn flag(set: bool, word: &str) -> String {
    if set {
        format!(" {word}")
    } else {
        String::new()
    }
}

fn aliases(aliases: &[Ident]) -> String {
    if aliases.is_empty() {
        String::new()
    } else {
        format!(" as {}", list(aliases))
    }
}

fn sort_key(key: &SortKey) -> String {
    let order = if key.descending { "" } else { " asc" };
    format!("{}{order}", name(&key.field.name))
}

fn table(table: &str) -> String {
    match table.split_once("://") {
        Some((scheme, rest)) => {
            let plain = !rest.is_empty()
                && !rest
                    .chars()
                    .any(|c| c.is_whitespace() || "|,()\"".contains(c));
            if plain {
                table.to_string()
            } else {
                format!("{scheme}://{}", quote(rest))
            }
        }
        None => name(table),
    }
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            StageKind::Json {
                source: from,
                keys,
                aliases: names,
                nodrop,
            } => {
                let keys: Vec<String> = keys.iter().map(|k| quote(&k.value)).collect();
                write!(
                    f,
                    "json{} {}{}{}",
                    source(from),
                    keys.join(", "),
                    aliases(names),
                    flag(*nodrop, "nodrop")
                )
            }
            StageKind::JsonAuto { source: from } => write!(f, "json auto{}", source(from)),
            StageKind::Parse {
                source: from,
                pattern,
                aliases: names,
                nodrop,
            } => {
                let pattern = quote(&pattern.value);
                write!(
                    f,
                    "parse{} {pattern}{}{}",
                    source(from),
                    aliases(names),
                    flag(*nodrop, "nodrop")
                )
            }
            StageKind::ParseRegex {
                source: from,
                regex,
                nodrop,
                multi,
            } => write!(
                f,
                "parse regex{} {}{}{}",
                source(from),
                quote(&regex.value),
                flag(*nodrop, "nodrop"),
                flag(*multi, "multi")
            ),
            StageKind::Where(condition) => write!(f, "where {condition}"),
            StageKind::Assign { expr, alias } => {
                let plain = match &expr.kind {
                    ExprKind::Field(_) | ExprKind::Literal(_) => true,
                    ExprKind::Call { name, .. } => !is_reserved(&name.name),
                    _ => false,
                };
                let expr = if plain {
                    expr.to_string()
                } else {
                    format!("({expr})")
                };
                write!(f, "{expr} as {}", name(&alias.name))
            }
            StageKind::Lookup {
                columns,
                table: from,
                key,
                field,
            } => {
                let columns: Vec<String> = columns
                    .iter()
                    .map(|c| match &c.alias {
                        Some(alias) => format!("{} as {}", name(&c.column.name), name(&alias.name)),
                        None => name(&c.column.name),
                    })
                    .collect();
                let (key, field) = (name(&key.name), name(&field.name));
                write!(
                    f,
                    "lookup {} from {} on {key}={field}",
                    columns.join(", "),
                    table(&from.value)
                )
            }
            StageKind::GeoIp { field, columns } => {
                write!(f, "geoip {}", name(&field.name))?;
                if !columns.is_empty() {
                    write!(f, " {}", list(columns))?;
                }
                Ok(())
            }
            StageKind::ThreatIp { field } => write!(f, "threatip {}", name(&field.name)),
            StageKind::Timeslice { span, alias } => {
                match span {
                    TimesliceArg::Millis(millis) => write!(f, "timeslice {}", duration(*millis))?,
                    TimesliceArg::Buckets(count) => write!(f, "timeslice {count} buckets")?,
                }
                if let Some(alias) = alias {
                    write!(f, " as {}", name(&alias.name))?;
                }
                Ok(())
            }
            StageKind::Aggregate { aggregates, by } => {
                let mut items = Vec::new();
                for call in aggregates {
                    let mut item = call.function.name.clone();
                    if let Some(args) = &call.arguments {
                        let args: Vec<String> = args.iter().map(ToString::to_string).collect();
                        let _ = write!(item, "({})", args.join(", "));
                    }
                    if let Some(alias) = &call.alias {
                        let _ = write!(item, " as {}", name(&alias.name));
                    }
                    items.push(item);
                }
                f.write_str(&items.join(", "))?;
                if !by.is_empty() {
                    write!(f, " by {}", list(by))?;
                }
                Ok(())
            }
            StageKind::Sort { keys } => {
                let keys: Vec<String> = keys.iter().map(sort_key).collect();
                write!(f, "sort by {}", keys.join(", "))
            }
            StageKind::Top { limit, fields, by } => {
                write!(f, "top {} {}", child(limit), list(fields))?;
                if let Some(by) = by {
                    write!(f, " by {}", sort_key(by))?;
                }
                Ok(())
            }
            StageKind::Limit(limit) => write!(f, "limit {}", child(limit)),
            StageKind::Fields { drop, names } => {
                write!(f, "fields {}{}", if *drop { "- " } else { "" }, list(names))
            }
            StageKind::FillMissing {
                generators,
                defaults,
                take_last,
            } => {
                let generators: Vec<String> = generators.iter().map(generator).collect();
                write!(f, "fillmissing {}", generators.join(", "))?;
                if !defaults.is_empty() {
                    let defaults: Vec<String> = defaults
                        .iter()
                        .map(|d| format!("{} for {}", child(&d.value), name(&d.field.name)))
                        .collect();
                    write!(f, " with {}", defaults.join(", "))?;
                }
                f.write_str(&flag(*take_last, "takeLast"))
            }
            StageKind::Transpose {
                rows,
                columns,
                outputs,
            } => {
                f.write_str("transpose")?;
                if !rows.is_empty() {
                    write!(f, " row {}", list(rows))?;
                }
                if !columns.is_empty() {
                    write!(f, " column {}", list(columns))?;
                }
                if let Some(outputs) = outputs {
                    let outputs: Vec<String> = outputs
                        .iter()
                        .map(|o| match o {
                            TransposeOutput::Name(n) => name(&n.name),
                            TransposeOutput::Rest(_) => "*".to_string(),
                        })
                        .collect();
                    write!(f, " as {}", outputs.join(", "))?;
                }
                Ok(())
            }
            StageKind::Outlier {
                field,
                by,
                parameters,
            } => {
                write!(f, "outlier {}", name(&field.name))?;
                if !by.is_empty() {
                    write!(f, " by {}", list(by))?;
                }
                for parameter in parameters {
                    match &parameter.value {
                        OutlierValue::Number(value) => {
                            write!(f, " {}={value}", parameter.name.name)?
                        }
                        OutlierValue::Direction(value) => {
                            write!(f, " {}={value}", parameter.name.name)?
                        }
                    }
                }
                Ok(())
            }
            StageKind::Dedup { limit, by } => {
                f.write_str("dedup")?;
                if let Some(limit) = limit {
                    write!(f, " {}", child(limit))?;
                }
                if !by.is_empty() {
                    write!(f, " by {}", list(by))?;
                }
                Ok(())
            }
            StageKind::TopK { limit, fields, by } => {
                write!(f, "topk({}, {})", child(limit), list(fields))?;
                if !by.is_empty() {
                    write!(f, " by {}", list(by))?;
                }
                Ok(())
            }
            StageKind::Accum { field, alias, by } => running("accum", f, field, alias, by),
            StageKind::Total { field, alias, by } => running("total", f, field, alias, by),
            StageKind::Split {
                csv,
                field,
                options,
                columns,
            } => {
                let operator = if *csv { "csv" } else { "split" };
                write!(f, "{operator} {}", name(&field.name))?;
                for option in options {
                    let value = if option.single_quoted {
                        format!("'{}'", option.value)
                    } else {
                        quote(&option.value)
                    };
                    write!(f, " {}={value}", option.name.name)?;
                }
                let columns: Vec<String> = columns
                    .iter()
                    .map(|c| match c {
                        SplitColumn::Indexed { index, alias, .. } => {
                            format!("{index} as {}", name(&alias.name))
                        }
                        SplitColumn::Positional(alias) if alias.name == "_" => "_".to_string(),
                        SplitColumn::Positional(alias) => name(&alias.name),
                    })
                    .collect();
                write!(f, " extract {}", columns.join(", "))
            }
            StageKind::ThreatLookup {
                single_indicator,
                source,
                include,
                fields,
            } => {
                f.write_str("threatlookup")?;
                f.write_str(&flag(*single_indicator, "singleIndicator"))?;
                if let Some(source) = source {
                    write!(f, " source={}", quote(&source.value))?;
                }
                if let Some(include) = include {
                    write!(f, " include={}", quote(&include.value))?;
                }
                write!(f, " {}", list(fields))
            }
        }
    }
}

/// `accum f [as a] [by g]` and `total …`.
fn running(
    operator: &str,
    f: &mut Formatter<'_>,
    field: &Ident,
    alias: &Option<Ident>,
    by: &[Ident],
) -> fmt::Result {
    write!(f, "{operator} {}", name(&field.name))?;
    if let Some(alias) = alias {
        write!(f, " as {}", name(&alias.name))?;
    }
    if !by.is_empty() {
        write!(f, " by {}", list(by))?;
    }
    Ok(())
}

fn generator(generator: &Generator) -> String {
    match generator {
        Generator::Timeslice { span, field, .. } => {
            let mut text = "timeslice".to_string();
            if let Some(span) = span {
                let _ = write!(text, "({})", duration(*span));
            }
            if let Some(field) = field {
                let _ = write!(text, " in {}", name(&field.name));
            }
            text
        }
        Generator::Values { values, field } => {
            let values: Vec<String> = values.iter().map(|v| quote(&v.value)).collect();
            format!("values ({}) in {}", values.join(", "), name(&field.name))
        }
        Generator::AllValues { field } => format!("values all in {}", name(&field.name)),
    }
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(scope) = &self.scope {
            write!(f, "{scope}")?;
        }
        for (index, stage) in self.stages.iter().enumerate() {
            if index > 0 || self.scope.is_some() {
                f.write_char('\n')?;
            }
            write!(f, "| {stage}")?;
        }
        Ok(())
    }
}
