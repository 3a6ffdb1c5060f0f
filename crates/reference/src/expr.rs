//! Expressions, one row at a time. Values are text unless used as numbers; a comparison is
//! numeric when either side is a number, else textual. Predicates are two-valued: any
//! comparison, `matches` or `in` with a null operand is false, so `!(…)` of it is true.

use std::cmp::Ordering;

use mailscope_query::ir::{BinaryOp, Expr, Literal, Pattern, UnaryOp};

use crate::functions;
use crate::relation::{Context, Relation, Row};
use crate::scope::glob;
use crate::value::{Kind, Value};
use crate::{Error, Result};

/// What an expression can see: the query's context and the relation's fields.
pub struct Env<'a> {
    pub context: &'a Context<'a>,
    pub relation: &'a Relation,
}

pub fn literal(literal: &Literal) -> Value {
    match literal {
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Int(i) => Value::Int(*i),
        Literal::Float(f) => Value::Float(*f),
        Literal::String(s) => Value::Text(s.clone()),
    }
}

pub fn literal_kind(literal: &Literal) -> Kind {
    match literal {
        Literal::Null | Literal::String(_) => Kind::Text,
        Literal::Bool(_) => Kind::Bool,
        Literal::Int(_) => Kind::Int,
        Literal::Float(_) => Kind::Float,
    }
}

impl Env<'_> {
    /// The kind of the column an expression makes (its type, whatever the row).
    pub fn kind_of(&self, expr: &Expr) -> Kind {
        match expr {
            Expr::Field(name) => self.relation.kind(name),
            Expr::Literal(l) => literal_kind(l),
            Expr::Unary {
                op: UnaryOp::Not, ..
            } => Kind::Bool,
            Expr::Unary {
                op: UnaryOp::Negate,
                operand,
            } => self.kind_of(operand).numeric(),
            Expr::Binary { op, left, right } => match op {
                BinaryOp::Divide => Kind::Float,
                BinaryOp::Add | BinaryOp::Subtract | BinaryOp::Multiply | BinaryOp::Modulo => {
                    let both_int = self.kind_of(left).numeric() == Kind::Int
                        && self.kind_of(right).numeric() == Kind::Int;
                    if both_int { Kind::Int } else { Kind::Float }
                }
                _ => Kind::Bool,
            },
            Expr::Matches { .. } | Expr::In { .. } => Kind::Bool,
            Expr::Regex(_) => Kind::Text,
            Expr::Call { name, args } => functions::kind(self, name, args),
        }
    }

    /// Whether an expression is a null of unknown type: `null`, or a field never made.
    pub fn is_untyped_null(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Literal(Literal::Null) => true,
            Expr::Field(name) => self.relation.resolve(name).is_none(),
            _ => false,
        }
    }

    pub fn eval(&self, expr: &Expr, row: &Row) -> Result<Value> {
        Ok(match expr {
            Expr::Field(name) => self.relation.field(self.context, row, name),
            Expr::Literal(l) => literal(l),
            Expr::Unary {
                op: UnaryOp::Not,
                operand,
            } => Value::Bool(!self.predicate(operand, row)?),
            Expr::Unary {
                op: UnaryOp::Negate,
                operand,
            } => match self.eval(operand, row)?.number() {
                Value::Int(i) => Value::Int(i.wrapping_neg()),
                Value::Float(f) => Value::Float(-f),
                _ => Value::Null,
            },
            Expr::Binary { op, left, right } => self.binary(*op, left, right, row)?,
            Expr::Matches { operand, pattern } => Value::Bool(self.matches(operand, pattern, row)?),
            Expr::In {
                operand,
                list,
                negated,
            } => Value::Bool(self.in_list(operand, list, *negated, row)?),
            Expr::Regex(_) => {
                return Err(Error::Query(
                    "a regex is only allowed as the pattern of replace".into(),
                ));
            }
            Expr::Call { name, args } => functions::call(self, name, args, row)?,
        })
    }

    /// A condition that is never null: a boolean expression is true when it is true; any
    /// other value when its text is `true`.
    pub fn predicate(&self, expr: &Expr, row: &Row) -> Result<bool> {
        let value = self.eval(expr, row)?;
        Ok(match self.kind_of(expr) {
            Kind::Bool => value == Value::Bool(true),
            _ => value.text().as_deref() == Some("true"),
        })
    }

    fn binary(&self, op: BinaryOp, left: &Expr, right: &Expr, row: &Row) -> Result<Value> {
        match op {
            BinaryOp::And => {
                return Ok(Value::Bool(
                    self.predicate(left, row)? && self.predicate(right, row)?,
                ));
            }
            BinaryOp::Or => {
                return Ok(Value::Bool(
                    self.predicate(left, row)? || self.predicate(right, row)?,
                ));
            }
            _ => {}
        }
        let (l, r) = (self.eval(left, row)?, self.eval(right, row)?);
        match op {
            BinaryOp::Add | BinaryOp::Subtract | BinaryOp::Multiply | BinaryOp::Modulo => {
                Ok(arithmetic(op, &l.number(), &r.number()))
            }
            BinaryOp::Divide => Ok(match (l.float(), r.float()) {
                (Some(_), Some(0.0)) => Value::Null,
                (Some(n), Some(d)) => Value::Float(n / d),
                _ => Value::Null,
            }),
            _ => {
                let numeric = self.kind_of(left).is_numeric() || self.kind_of(right).is_numeric();
                let order = if numeric {
                    compare_numbers(&l.number(), &r.number())
                } else {
                    match (l.text(), r.text()) {
                        (Some(a), Some(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
                        _ => None,
                    }
                };
                let Some(order) = order else {
                    return Ok(Value::Bool(false));
                };
                Ok(Value::Bool(match op {
                    BinaryOp::Equal => order == Ordering::Equal,
                    BinaryOp::NotEqual => order != Ordering::Equal,
                    BinaryOp::Less => order == Ordering::Less,
                    BinaryOp::LessEqual => order != Ordering::Greater,
                    BinaryOp::Greater => order == Ordering::Greater,
                    _ => order != Ordering::Less,
                }))
            }
        }
    }

    fn matches(&self, operand: &Expr, pattern: &Pattern, row: &Row) -> Result<bool> {
        let Some(text) = self.eval(operand, row)?.text() else {
            return Ok(false);
        };
        Ok(match pattern {
            Pattern::Wildcard(p) if p == "*" => true,
            Pattern::Wildcard(p) => wildcard(p, &text),
            Pattern::Regex(re) => self.context.regex(re)?.is_match(&text),
            Pattern::Dynamic(p) => match self.eval(p, row)?.text() {
                Some(p) => wildcard(&p, &text),
                None => false,
            },
        })
    }

    /// SQL's `IN`, then "is true": a null operand, or no match with a null in the list, is
    /// false (for `not in` too).
    fn in_list(&self, operand: &Expr, list: &[Expr], negated: bool, row: &Row) -> Result<bool> {
        let numeric = list.iter().all(|item| self.kind_of(item).is_numeric());
        let value = self.eval(operand, row)?;
        let value = if numeric {
            value.number()
        } else {
            value.text().map_or(Value::Null, Value::Text)
        };
        if value.is_null() {
            return Ok(false);
        }
        let mut saw_null = false;
        for item in list {
            let item = self.eval(item, row)?;
            let equal = if numeric {
                compare_numbers(&value, &item.number()).map(Ordering::is_eq)
            } else {
                item.text().map(|t| Value::Text(t) == value)
            };
            match equal {
                None => saw_null = true,
                Some(true) => return Ok(!negated),
                Some(false) => {}
            }
        }
        Ok(negated && !saw_null)
    }
}

/// `+ - * %` on numbers: integers stay integers (wrapping), anything else is a float;
/// `% 0` is null.
fn arithmetic(op: BinaryOp, l: &Value, r: &Value) -> Value {
    match (l, r) {
        (Value::Int(a), Value::Int(b)) => match op {
            BinaryOp::Add => Value::Int(a.wrapping_add(*b)),
            BinaryOp::Subtract => Value::Int(a.wrapping_sub(*b)),
            BinaryOp::Multiply => Value::Int(a.wrapping_mul(*b)),
            _ if *b == 0 => Value::Null,
            _ => Value::Int(a.wrapping_rem(*b)),
        },
        _ => match (l.float(), r.float()) {
            (Some(a), Some(b)) => Value::Float(match op {
                BinaryOp::Add => a + b,
                BinaryOp::Subtract => a - b,
                BinaryOp::Multiply => a * b,
                _ if b == 0.0 => return Value::Null,
                _ => a % b,
            }),
            _ => Value::Null,
        },
    }
}

/// Two numbers compared (integers exactly, else as floats); `None` when either is null.
fn compare_numbers(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        _ => {
            let (x, y) = (a.float()?, b.float()?);
            x.partial_cmp(&y)
        }
    }
}

/// `x matches "wild*card"`: the whole text, case-sensitive, `*` any run (nothing else is
/// special).
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    glob(&pattern, &text, false)
}
