//! Lowering of query expressions to DataFusion expressions, with Sumo's typing: values are
//! text unless used as numbers (then cast, non-numbers becoming null), and predicates are
//! two-valued — a comparison with null is false, and so `!(…)` of it is true.

use arrow::datatypes::DataType;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::functions::expr_fn as f;
use datafusion::functions::math::expr_fn as math;
use datafusion::logical_expr::expr::Like;
use datafusion::logical_expr::{Expr, ExprSchemable, cast, is_true, lit, not, try_cast, when};
use mailscope_query::ir::{self, BinaryOp, Literal, Pattern, UnaryOp};

use super::format::Format;
use super::functions::{CompareCidrPrefix, FormatDate, ParseDate, RegexReplace};
use super::lower::Relation;
use super::udf::{IpPredicate, IpPredicateKind, RegexMatches, WildcardMatch};
use crate::error::{Error, Result};

/// A null of text type (an untyped null confuses later projections and unions).
/// The characters Java's `String.trim` removes: U+0000 to U+0020.
const JAVA_TRIMMED: &str = "\u{0}\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}\u{7}\u{8}\t\n\u{b}\u{c}\r\u{e}\u{f}\u{10}\u{11}\u{12}\u{13}\u{14}\u{15}\u{16}\u{17}\u{18}\u{19}\u{1a}\u{1b}\u{1c}\u{1d}\u{1e}\u{1f} ";

pub fn null_text() -> Expr {
    lit(ScalarValue::Utf8(None))
}

/// `LIKE` pattern of a Sumo wildcard: `*` is any run; `%`, `_` and `\` are literal.
pub fn like_pattern(wildcard: &str) -> String {
    let mut out = String::with_capacity(wildcard.len() + 2);
    for c in wildcard.chars() {
        match c {
            '*' => out.push('%'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

pub fn like(expr: Expr, wildcard: &str, case_insensitive: bool) -> Expr {
    Expr::Like(Like::new(
        false,
        Box::new(expr),
        Box::new(lit(like_pattern(wildcard))),
        Some('\\'),
        case_insensitive,
    ))
}

pub struct ExprLowering<'r> {
    pub relation: &'r Relation,
    pub warnings: &'r mut Vec<String>,
    pub now_ms: i64,
    /// The zone of `formatDate` and `parseDate` without one.
    pub time_zone: chrono_tz::Tz,
}

impl ExprLowering<'_> {
    fn schema(&self) -> &DFSchema {
        self.relation.schema()
    }

    fn type_of(&self, expr: &Expr) -> DataType {
        expr.get_type(self.schema()).unwrap_or(DataType::Utf8)
    }

    /// A value usable as a number: text is parsed (non-numbers give null), times are
    /// milliseconds since the epoch.
    pub fn numeric(&self, expr: Expr) -> Expr {
        match self.type_of(&expr) {
            t if t.is_numeric() => expr,
            DataType::Timestamp(_, _) => cast(
                cast(
                    expr,
                    DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None),
                ),
                DataType::Int64,
            ),
            DataType::Boolean => cast(expr, DataType::Int64),
            _ => try_cast(expr, DataType::Float64),
        }
    }

    /// A value as text (for `matches`, string functions).
    pub fn text(&self, expr: Expr) -> Expr {
        match self.type_of(&expr) {
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => expr,
            _ => cast(expr, DataType::Utf8),
        }
    }

    /// A boolean that is never null.
    pub fn predicate(&mut self, expr: &ir::Expr) -> Result<Expr> {
        let lowered = self.lower(expr)?;
        Ok(match self.type_of(&lowered) {
            DataType::Boolean => is_true(lowered),
            // A bare non-boolean field in `where` is true when it says "true".
            _ => is_true(self.text(lowered).eq(lit("true"))),
        })
    }

    pub fn field(&mut self, name: &str) -> Expr {
        match self.relation.resolve(name) {
            Some(column) => Relation::column(&column),
            None => {
                self.warnings
                    .push(format!("field '{name}' does not exist; treated as null"));
                null_text()
            }
        }
    }

    pub fn lower(&mut self, expr: &ir::Expr) -> Result<Expr> {
        Ok(match expr {
            ir::Expr::Field(name) => self.field(name),
            ir::Expr::Literal(literal) => literal_expr(literal),
            ir::Expr::Unary {
                op: UnaryOp::Not,
                operand,
            } => not(self.predicate(operand)?),
            ir::Expr::Unary {
                op: UnaryOp::Negate,
                operand,
            } => {
                let value = self.lower(operand)?;
                Expr::Negative(Box::new(self.numeric(value)))
            }
            ir::Expr::Binary { op, left, right } => self.binary(*op, left, right)?,
            ir::Expr::Matches { operand, pattern } => {
                let value = self.lower(operand)?;
                let value = self.text(value);
                match pattern {
                    Pattern::Wildcard(p) if p == "*" => value.is_not_null(),
                    Pattern::Wildcard(p) => is_true(like(value, p, false)),
                    Pattern::Regex(re) => RegexMatches::udf(re)?.call(vec![value]),
                    Pattern::Dynamic(pattern) => {
                        let pattern = self.lower(pattern)?;
                        WildcardMatch::udf().call(vec![value, self.text(pattern)])
                    }
                }
            }
            ir::Expr::In {
                operand,
                list,
                negated,
            } => {
                let value = self.lower(operand)?;
                let items = list
                    .iter()
                    .map(|e| self.lower(e))
                    .collect::<Result<Vec<_>>>()?;
                let numeric = items.iter().all(|e| self.type_of(e).is_numeric());
                let (value, items) = if numeric {
                    (self.numeric(value), items)
                } else {
                    (
                        self.text(value),
                        items.into_iter().map(|e| self.text(e)).collect(),
                    )
                };
                is_true(value.in_list(items, *negated))
            }
            ir::Expr::Call { name, args } => self.call(name, args)?,
            ir::Expr::Regex(_) => {
                return Err(Error::Query(
                    "a regex is only allowed as the pattern of replace".into(),
                ));
            }
        })
    }

    fn binary(&mut self, op: BinaryOp, left: &ir::Expr, right: &ir::Expr) -> Result<Expr> {
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            let (l, r) = (self.predicate(left)?, self.predicate(right)?);
            return Ok(if op == BinaryOp::And {
                l.and(r)
            } else {
                l.or(r)
            });
        }
        let (l, r) = (self.lower(left)?, self.lower(right)?);
        let arithmetic = matches!(
            op,
            BinaryOp::Add
                | BinaryOp::Subtract
                | BinaryOp::Multiply
                | BinaryOp::Divide
                | BinaryOp::Modulo
        );
        if arithmetic {
            let (l, r) = (self.numeric(l), self.numeric(r));
            return Ok(match op {
                BinaryOp::Add => l + r,
                BinaryOp::Subtract => l - r,
                BinaryOp::Multiply => l * r,
                // Sumo's numbers are doubles: 3/2 is 1.5, and x/0 is null rather than an error.
                BinaryOp::Divide => {
                    let r = cast(r, DataType::Float64);
                    cast(l, DataType::Float64)
                        / when(r.clone().eq(lit(0.0)), lit(ScalarValue::Float64(None)))
                            .otherwise(r)?
                }
                // x % 0 is null too (Arrow's integer remainder would fail the query; found
                // by the differential fuzz target).
                _ => l % when(r.clone().eq(lit(0i64)), lit(ScalarValue::Null)).otherwise(r)?,
            });
        }
        let numeric = self.type_of(&l).is_numeric() || self.type_of(&r).is_numeric();
        let (l, r) = if numeric {
            (self.numeric(l), self.numeric(r))
        } else {
            (self.text(l), self.text(r))
        };
        let compared = match op {
            BinaryOp::Equal => l.eq(r),
            BinaryOp::NotEqual => l.not_eq(r),
            BinaryOp::Less => l.lt(r),
            BinaryOp::LessEqual => l.lt_eq(r),
            BinaryOp::Greater => l.gt(r),
            _ => l.gt_eq(r),
        };
        Ok(is_true(compared))
    }

    /// The arguments lowered; a regex (replace's pattern, read by `call` itself) is null.
    fn args(&mut self, args: &[ir::Expr]) -> Result<Vec<Expr>> {
        args.iter()
            .map(|a| match a {
                ir::Expr::Regex(_) => Ok(null_text()),
                other => self.lower(other),
            })
            .collect()
    }

    fn call(&mut self, name: &str, args: &[ir::Expr]) -> Result<Expr> {
        let mut lowered = self.args(args)?;
        let first = || lowered.first().cloned().unwrap_or_else(null_text);
        Ok(match name {
            "if" => {
                let condition = args
                    .first()
                    .map(|c| self.predicate(c))
                    .transpose()?
                    .unwrap_or(lit(false));
                let then = lowered.get(1).cloned().unwrap_or_else(null_text);
                let otherwise = lowered.get(2).cloned().unwrap_or_else(null_text);
                let (then, otherwise) = self.common_type(then, otherwise);
                when(condition, then).otherwise(otherwise)?
            }
            "isnull" => first().is_null(),
            "isempty" => {
                let value = self.text(first());
                value.clone().is_null().or(is_true(value.eq(lit(""))))
            }
            "isblank" => {
                let value = self.text(first());
                // Java's sense: only whitespace (tabs and line breaks too), not just spaces.
                value.clone().is_null().or(is_true(
                    datafusion::functions::regex::expr_fn::regexp_like(value, lit(r"^\s*$"), None),
                ))
            }
            "isnumeric" => try_cast(self.text(first()), DataType::Float64).is_not_null(),
            "isvalidip" => IpPredicate::udf(IpPredicateKind::Valid).call(vec![first()]),
            "isvalidipv4" => IpPredicate::udf(IpPredicateKind::ValidV4).call(vec![first()]),
            "isvalidipv6" => IpPredicate::udf(IpPredicateKind::ValidV6).call(vec![first()]),
            "isprivateip" => IpPredicate::udf(IpPredicateKind::Private).call(vec![first()]),
            "ispublicip" => IpPredicate::udf(IpPredicateKind::Public).call(vec![first()]),
            "concat" => {
                let parts = lowered.drain(..).map(|e| self.text(e)).collect();
                f::concat(parts)
            }
            "replace" => match args.get(1) {
                Some(ir::Expr::Regex(pattern)) => {
                    let source = self.text(first());
                    let replacement = lowered
                        .get(2)
                        .cloned()
                        .map(|e| self.text(e))
                        .unwrap_or_else(null_text);
                    RegexReplace::udf(pattern)?.call(vec![source, replacement])
                }
                _ => {
                    let mut it = lowered.drain(..).map(|e| self.text(e));
                    let (source, from, to) = (it.next(), it.next(), it.next());
                    match (source, from, to) {
                        (Some(s), Some(a), Some(b)) => f::replace(s, a, b),
                        _ => null_text(),
                    }
                }
            },
            "tolowercase" => f::lower(self.text(first())),
            "touppercase" => f::upper(self.text(first())),
            "length" => f::character_length(self.text(first())),
            // Java's `String.trim`: every character up to U+0020 (tabs, line breaks,
            // control characters), not only spaces.
            "trim" => f::btrim(vec![self.text(first()), lit(JAVA_TRIMMED)]),
            "contains" => {
                let value = self.text(first());
                let needle = lowered
                    .get(1)
                    .cloned()
                    .map(|e| self.text(e))
                    .unwrap_or_else(null_text);
                is_true(f::strpos(value, needle).gt(lit(0i64)))
            }
            "substring" => {
                // Sumo: substring(s, start[, end]) with 0-based start and exclusive end.
                let value = self.text(first());
                let start = lowered
                    .get(1)
                    .cloned()
                    .map(|e| self.numeric(e))
                    .unwrap_or(lit(0i64));
                // A start before the text counts from its first character; an end before
                // the start gives "" (never SQL's negative-length error).
                let start = cast(start, DataType::Int64);
                let start = when(start.clone().lt(lit(0i64)), lit(0i64)).otherwise(start)?;
                match lowered.get(2).cloned() {
                    Some(end) => {
                        let end = cast(self.numeric(end), DataType::Int64);
                        let length = when(end.clone().lt(start.clone()), lit(0i64))
                            .otherwise(end - start.clone())?;
                        f::substring(value, start + lit(1i64), length)
                    }
                    None => f::substr(value, start + lit(1i64)),
                }
            }
            "num" | "tolong" => {
                let value = self.numeric(first());
                if name == "tolong" {
                    try_cast(value, DataType::Int64)
                } else {
                    try_cast(value, DataType::Float64)
                }
            }
            "tostring" => self.text(first()),
            "abs" => math::abs(self.numeric(first())),
            "round" => {
                let value = cast(self.numeric(first()), DataType::Float64);
                match lowered.get(1).cloned() {
                    Some(places) => {
                        math::round(vec![value, cast(self.numeric(places), DataType::Int64)])
                    }
                    None => math::round(vec![value]),
                }
            }
            "ceil" => math::ceil(cast(self.numeric(first()), DataType::Float64)),
            "floor" => math::floor(cast(self.numeric(first()), DataType::Float64)),
            "now" => lit(self.now_ms),
            "pow" => {
                let base = cast(self.numeric(first()), DataType::Float64);
                let exponent = lowered
                    .get(1)
                    .cloned()
                    .map(|e| cast(self.numeric(e), DataType::Float64))
                    .unwrap_or(lit(ScalarValue::Float64(None)));
                math::power(base, exponent)
            }
            "fromseconds" | "frommillis" => {
                let value = cast(self.numeric(first()), DataType::Float64);
                let scale = if name == "fromseconds" { 1000.0 } else { 1.0 };
                let millis = try_cast(math::floor(value * lit(scale)), DataType::Int64);
                cast(
                    millis,
                    DataType::Timestamp(
                        arrow::datatypes::TimeUnit::Millisecond,
                        Some("UTC".into()),
                    ),
                )
            }
            "formatdate" => FormatDate::udf(self.time_zone).call(lowered),
            "parsedate" => {
                let mut arguments = lowered;
                if let Some(text) = arguments.first_mut() {
                    *text = self.text(text.clone());
                }
                ParseDate::udf(self.time_zone).call(arguments)
            }
            "format" => Format::udf().call(lowered),
            "comparecidrprefix" => {
                let mut arguments = lowered;
                arguments.resize(3, null_text());
                CompareCidrPrefix::udf().call(arguments)
            }
            other => {
                return Err(Error::Query(format!(
                    "function '{other}' is parsed but not yet executed by this engine"
                )));
            }
        })
    }

    /// Both branches of `if` in one type: numbers stay numbers, anything mixed becomes text.
    fn common_type(&self, a: Expr, b: Expr) -> (Expr, Expr) {
        let (ta, tb) = (self.type_of(&a), self.type_of(&b));
        if ta == tb
            || matches!(a, Expr::Literal(ScalarValue::Utf8(None), _))
            || matches!(b, Expr::Literal(ScalarValue::Utf8(None), _))
        {
            return (a, b);
        }
        if ta.is_numeric() && tb.is_numeric() {
            return (cast(a, DataType::Float64), cast(b, DataType::Float64));
        }
        (self.text(a), self.text(b))
    }
}

pub fn literal_expr(literal: &Literal) -> Expr {
    match literal {
        Literal::Null => null_text(),
        Literal::Bool(b) => lit(*b),
        Literal::Int(i) => lit(*i),
        Literal::Float(x) => lit(*x),
        Literal::String(s) => lit(s.clone()),
    }
}
