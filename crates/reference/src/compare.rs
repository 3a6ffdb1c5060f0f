//! Comparing an answer with the reference's: the rules every execution path is held to.
//! The same column names in the same order; numbers of every kind (ints, floats, times) equal
//! exactly when both are whole (counts, times in milliseconds), else within a relative
//! tolerance of 1e-9; rows in order only when the query orders them,
//! otherwise as multisets.

use std::cmp::Ordering;

use crate::Value;

/// Relative tolerance of number comparisons.
pub const TOLERANCE: f64 = 1e-9;

/// A cell as compared: numbers of every kind as `f64`.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Num(f64),
    Text(String),
}

impl Cell {
    fn same(&self, other: &Cell) -> bool {
        match (self, other) {
            // Whole numbers (counts, times in ms) exactly; fractions within the tolerance.
            (Cell::Num(a), Cell::Num(b)) if a.fract() == 0.0 && b.fract() == 0.0 => a == b,
            (Cell::Num(a), Cell::Num(b)) => {
                (a - b).abs() <= TOLERANCE * a.abs().max(b.abs()).max(1.0)
            }
            _ => self == other,
        }
    }

    /// A total order of cells, for results whose row order is not defined.
    fn order(&self, other: &Cell) -> Ordering {
        let rank = |c: &Cell| match c {
            Cell::Null => 0,
            Cell::Bool(_) => 1,
            Cell::Num(_) => 2,
            Cell::Text(_) => 3,
        };
        match (self, other) {
            (Cell::Bool(a), Cell::Bool(b)) => a.cmp(b),
            (Cell::Num(a), Cell::Num(b)) => a.total_cmp(b),
            (Cell::Text(a), Cell::Text(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

impl From<&Value> for Cell {
    fn from(value: &Value) -> Cell {
        match value {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Int(i) | Value::Time(i) => Cell::Num(*i as f64),
            Value::Float(f) if f.is_finite() => Cell::Num(*f),
            // JSON has no NaN or infinity; the API answers null.
            Value::Float(_) => Cell::Null,
            Value::Text(t) => Cell::Text(t.clone()),
        }
    }
}

/// A result as compared.
#[derive(Debug, Clone)]
pub struct Answer {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl From<&crate::Table> for Answer {
    fn from(table: &crate::Table) -> Answer {
        Answer {
            columns: table.columns.clone(),
            rows: table
                .rows
                .iter()
                .map(|row| row.iter().map(Cell::from).collect())
                .collect(),
        }
    }
}

/// The first difference between the reference's answer and another, if any.
pub fn difference(expected: &Answer, actual: &Answer, ordered: bool) -> Option<String> {
    if expected.columns != actual.columns {
        return Some(format!(
            "columns: expected {:?}, got {:?}",
            expected.columns, actual.columns
        ));
    }
    if expected.rows.len() != actual.rows.len() {
        return Some(format!(
            "{} rows expected, {} returned; first expected {:?}, first returned {:?}",
            expected.rows.len(),
            actual.rows.len(),
            expected.rows.first(),
            actual.rows.first()
        ));
    }
    let sorted = |rows: &[Vec<Cell>]| {
        let mut rows = rows.to_vec();
        rows.sort_by(|a, b| {
            a.iter()
                .zip(b)
                .map(|(x, y)| x.order(y))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        rows
    };
    let (e, a) = if ordered {
        (expected.rows.clone(), actual.rows.clone())
    } else {
        (sorted(&expected.rows), sorted(&actual.rows))
    };
    for (i, (er, ar)) in e.iter().zip(&a).enumerate() {
        if er.len() != ar.len() || er.iter().zip(ar).any(|(x, y)| !x.same(y)) {
            return Some(format!(
                "row {i}{}: expected {er:?}, got {ar:?}",
                if ordered { "" } else { " (sorted)" }
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(rows: Vec<Vec<Cell>>) -> Answer {
        Answer {
            columns: vec!["a".into(), "b".into()],
            rows,
        }
    }

    #[test]
    fn numbers_compare_within_the_tolerance_and_order_only_when_ordered() {
        let one = answer(vec![
            vec![Cell::Num(1.0), Cell::Text("x".into())],
            vec![Cell::Num(2.0), Cell::Null],
        ]);
        let swapped = answer(vec![
            vec![Cell::Num(2.0 + 1e-12), Cell::Null],
            vec![Cell::Num(1.0), Cell::Text("x".into())],
        ]);
        assert_eq!(difference(&one, &swapped, false), None);
        assert!(difference(&one, &swapped, true).is_some());
        let other = answer(vec![
            vec![Cell::Num(1.0), Cell::Text("y".into())],
            vec![Cell::Num(2.0), Cell::Null],
        ]);
        assert!(difference(&one, &other, false).is_some());
        let fewer = answer(vec![vec![Cell::Num(1.0), Cell::Text("x".into())]]);
        assert!(difference(&one, &fewer, false).is_some());
        // Times a millisecond apart differ: whole numbers compare exactly.
        let t1 = answer(vec![vec![Cell::Num(1_790_823_600_000.0), Cell::Null]]);
        let t2 = answer(vec![vec![Cell::Num(1_790_823_600_001.0), Cell::Null]]);
        assert!(difference(&t1, &t2, false).is_some());
    }
}
