//! Aggregation: `count`, `count_distinct` (exact), `sum` (0 over only nulls), `avg`, `min`,
//! `max`, `pct` (type 7), `median`, `stddev` (sample), `first`/`last` (in the rows' order,
//! newest message first), `values`; and `count_frequent` and `top`, which aggregate too.
//!
//! The result has the `by` fields, then the aggregates. Its row order is unspecified; the
//! groups are listed by their keys, ascending, so that the output is deterministic.

use std::collections::{HashMap, HashSet};

use mailscope_query::ir::{self, AggregateFunction};

use crate::relation::{Column, Context, Relation, Row, compare_rows};
use crate::value::{Key, Kind, Value};

pub fn aggregate(
    context: &Context,
    relation: &mut Relation,
    aggregates: &[ir::Aggregate],
    by: &[String],
) {
    relation.materialize_raw(context);
    // `first`/`last` follow the rows' order: the last sort, else newest message first (even
    // within a timeslice); other fields break ties.
    let mut order: Vec<(usize, bool)> = Vec::new();
    if relation.order.is_empty()
        && let Some(time) = relation.resolve("_messagetime")
    {
        order.push((time, true));
    }
    for key in relation.order_keys(true) {
        if !order.iter().any(|(i, _)| *i == key.0) {
            order.push(key);
        }
    }
    let mut ordered: Vec<&Row> = relation.rows.iter().collect();
    ordered.sort_by(|a, b| compare_rows(a, b, &order));

    let group_fields: Vec<Option<usize>> = by.iter().map(|f| relation.resolve(f)).collect();
    let mut columns: Vec<Column> = by
        .iter()
        .zip(&group_fields)
        .map(|(name, index)| match index {
            Some(i) => relation.columns[*i].clone(),
            None => Column {
                name: name.clone(),
                kind: Kind::Text,
            },
        })
        .collect();

    let mut index: HashMap<Vec<Key>, usize> = HashMap::new();
    let mut groups: Vec<(Vec<Value>, Vec<&Row>)> = Vec::new();
    for row in ordered {
        let key: Vec<Value> = group_fields
            .iter()
            .map(|f| f.map_or(Value::Null, |i| row.values[i].clone()))
            .collect();
        let slot = *index
            .entry(key.iter().map(Key::of).collect())
            .or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
        groups[slot].1.push(row);
    }
    // Without `by` there is one group, even over no rows.
    if by.is_empty() && groups.is_empty() {
        groups.push((Vec::new(), Vec::new()));
    }

    for aggregate in aggregates {
        let argument_kind = aggregate
            .argument
            .as_deref()
            .map_or(Kind::Text, |a| relation.kind(a));
        columns.push(Column {
            name: aggregate.alias.clone(),
            kind: result_kind(&aggregate.function, argument_kind),
        });
    }
    groups.sort_by(|(a, _), (b, _)| {
        a.iter()
            .zip(b)
            .map(|(x, y)| crate::value::compare(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut rows: Vec<Vec<Value>> = Vec::new();
    for (key, members) in &groups {
        let mut cells = key.clone();
        for aggregate in aggregates {
            let argument = aggregate
                .argument
                .as_deref()
                .and_then(|a| relation.resolve(a));
            let values: Vec<Value> = members
                .iter()
                .map(|row| argument.map_or(Value::Null, |i| row.values[i].clone()))
                .collect();
            let counted_rows = members.len();
            cells.push(compute(
                &aggregate.function,
                aggregate.argument.is_some(),
                &values,
                counted_rows,
            ));
        }
        rows.push(cells);
    }
    let kinds: Vec<Kind> = columns.iter().map(|c| c.kind).collect();
    let rows = rows
        .into_iter()
        .map(|r| r.into_iter().zip(&kinds).map(|(v, k)| v.cast(*k)).collect())
        .collect();
    *relation = Relation::computed(columns, rows);
}

fn result_kind(function: &AggregateFunction, argument: Kind) -> Kind {
    match function {
        AggregateFunction::Count | AggregateFunction::CountDistinct => Kind::Int,
        AggregateFunction::Sum | AggregateFunction::Min | AggregateFunction::Max => {
            argument.numeric()
        }
        AggregateFunction::Avg
        | AggregateFunction::Percentile(_)
        | AggregateFunction::Median
        | AggregateFunction::Stddev => Kind::Float,
        AggregateFunction::First | AggregateFunction::Last => argument,
        AggregateFunction::Values => Kind::Text,
    }
}

/// One aggregate over the values of a group (in the rows' order).
fn compute(
    function: &AggregateFunction,
    has_argument: bool,
    values: &[Value],
    rows: usize,
) -> Value {
    let present = || values.iter().filter(|v| !v.is_null());
    let floats = || -> Vec<f64> { values.iter().filter_map(Value::float).collect() };
    match function {
        AggregateFunction::Count if !has_argument => Value::Int(rows as i64),
        AggregateFunction::Count => Value::Int(present().count() as i64),
        AggregateFunction::CountDistinct => {
            let distinct: HashSet<Key> = present().map(Key::of).collect();
            Value::Int(distinct.len() as i64)
        }
        AggregateFunction::Sum => sum(values),
        AggregateFunction::Avg => {
            let floats = floats();
            if floats.is_empty() {
                Value::Null
            } else {
                Value::Float(floats.iter().sum::<f64>() / floats.len() as f64)
            }
        }
        AggregateFunction::Min | AggregateFunction::Max => {
            let numbers = values.iter().map(Value::number).filter(|v| !v.is_null());
            let pick = |a: Value, b: Value| {
                let b_first = crate::value::compare(&b, &a).is_lt();
                if (*function == AggregateFunction::Min) == b_first {
                    b
                } else {
                    a
                }
            };
            numbers.reduce(pick).unwrap_or(Value::Null)
        }
        AggregateFunction::Median => median(floats()),
        AggregateFunction::Percentile(p) => percentile(floats(), p / 100.0),
        AggregateFunction::Stddev => stddev(&floats()),
        AggregateFunction::First => present().next().cloned().unwrap_or(Value::Null),
        AggregateFunction::Last => present().next_back().cloned().unwrap_or(Value::Null),
        AggregateFunction::Values => {
            let mut texts: Vec<String> = present().filter_map(Value::text).collect();
            texts.sort();
            texts.dedup();
            if texts.is_empty() {
                Value::Null
            } else {
                Value::Text(texts.join("\n"))
            }
        }
    }
}

/// Integers add up as integers (wrapping), anything else as floats; only nulls give 0.
fn sum(values: &[Value]) -> Value {
    let numbers: Vec<Value> = values.iter().map(Value::number).collect();
    if numbers.iter().any(|v| matches!(v, Value::Float(_))) {
        Value::Float(numbers.iter().filter_map(Value::float).sum())
    } else {
        Value::Int(numbers.iter().fold(0i64, |total, v| match v {
            Value::Int(i) => total.wrapping_add(*i),
            _ => total,
        }))
    }
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

fn median(values: Vec<f64>) -> Value {
    let values = sorted(values);
    let n = values.len();
    match n {
        0 => Value::Null,
        _ if n % 2 == 1 => Value::Float(values[n / 2]),
        _ => Value::Float((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// Linear interpolation between the closest ranks, rank = q·(n−1) ("type 7"); the
/// interpolation weight is truncated to 10⁻⁶.
fn percentile(values: Vec<f64>, q: f64) -> Value {
    let values = sorted(values);
    let n = values.len();
    if n == 0 {
        return Value::Null;
    }
    let rank = q * (n - 1) as f64;
    let (lower, upper) = (rank.floor() as usize, rank.ceil() as usize);
    if lower == upper {
        return Value::Float(values[lower]);
    }
    let weight = ((rank - lower as f64) * 1_000_000.0).floor() / 1_000_000.0;
    Value::Float(values[lower] + (values[upper] - values[lower]) * weight)
}

/// The sample standard deviation (n − 1); null below two values.
fn stddev(values: &[f64]) -> Value {
    let n = values.len();
    if n < 2 {
        return Value::Null;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    Value::Float((squares / (n - 1) as f64).sqrt())
}

/// `count_frequent f1, f2`: rows per distinct value, most frequent first, in
/// `_approxcount` (exact here).
pub fn count_frequent(context: &Context, relation: &mut Relation, fields: &[String]) {
    let count = ir::Aggregate {
        function: AggregateFunction::Count,
        argument: None,
        alias: "_approxcount".into(),
    };
    aggregate(context, relation, &[count], fields);
    relation.sort_by_fields(
        context,
        &[ir::SortKey {
            field: "_approxcount".into(),
            descending: true,
        }],
    );
}

/// `top N f1, f2 [by key]`: the N rows with the highest key (default: the rows per value of
/// the fields, `_count`), with only the fields and the key.
pub fn top(
    context: &Context,
    relation: &mut Relation,
    n: u64,
    fields: &[String],
    by: Option<&ir::SortKey>,
) {
    let key = match by {
        Some(key) => key.clone(),
        None => {
            let count = ir::Aggregate {
                function: AggregateFunction::Count,
                argument: None,
                alias: "_count".into(),
            };
            aggregate(context, relation, &[count], fields);
            ir::SortKey {
                field: "_count".into(),
                descending: true,
            }
        }
    };
    relation.sort_by_fields(context, std::slice::from_ref(&key));
    relation.keep_first(n);
    let mut keep: Vec<usize> = fields.iter().filter_map(|f| relation.resolve(f)).collect();
    if let Some(k) = relation.resolve(&key.field)
        && !keep.contains(&k)
    {
        keep.push(k);
    }
    relation.project(context, &keep);
    relation.stored = false;
    // A table of the fields and the key, not messages, even with `by` over messages.
    relation.aggregated = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        let v = vec![1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(v.clone(), 0.5), Value::Float(2.5));
        assert_eq!(percentile(v.clone(), 0.0), Value::Float(1.0));
        assert_eq!(percentile(v.clone(), 1.0), Value::Float(4.0));
        assert_eq!(percentile(v, 0.9), Value::Float(3.7));
        assert_eq!(percentile(vec![5.0], 0.3), Value::Float(5.0));
        assert_eq!(percentile(vec![], 0.3), Value::Null);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Value::Float(2.0));
    }

    #[test]
    fn sums_and_deviations() {
        assert_eq!(sum(&[Value::Null, Value::Null]), Value::Int(0));
        assert_eq!(
            sum(&[Value::Int(2), Value::Null, Value::Int(3)]),
            Value::Int(5)
        );
        assert_eq!(
            stddev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]),
            Value::Float(2.138089935299395)
        );
        assert_eq!(stddev(&[1.0]), Value::Null);
    }
}
