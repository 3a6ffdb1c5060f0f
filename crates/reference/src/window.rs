//! Operators over ordered rows: `accum`, `total`, `topk`, `dedup`, `outlier`.
//!
//! Row order: the keys of the last sort (`sort`, `top`, `topk`, `count_frequent`,
//! `transpose`, …); otherwise time (`_timeslice`, else `_messagetime`), forward for `accum`
//! and `outlier`, newest first for `dedup` and `topk` ties; then every other field,
//! ascending, as a tie-breaker.

use std::collections::HashMap;

use mailscope_query::ir::{OutlierDirection, SortKey};

use crate::relation::{Column, Context, Relation};
use crate::value::{Key, Kind, Value, compare};

/// The `by` fields that exist (a missing one is ignored).
fn partition_fields(relation: &Relation, by: &[String]) -> Vec<usize> {
    by.iter().filter_map(|f| relation.resolve(f)).collect()
}

fn partition_key(values: &[Value], fields: &[usize]) -> Vec<Key> {
    fields.iter().map(|i| Key::of(&values[*i])).collect()
}

/// Sorts the rows in the relation's order and returns that order by field names.
fn sort_in_order(
    context: &Context,
    relation: &mut Relation,
    time_descending: bool,
) -> Vec<SortKey> {
    let keys = relation.order_keys(time_descending);
    relation.sort(context, &keys);
    keys.iter()
        .map(|(i, descending)| SortKey {
            field: relation.columns[*i].name.clone(),
            descending: *descending,
        })
        .collect()
}

fn restore_order(context: &Context, relation: &mut Relation, keys: &[SortKey]) {
    let resolved: Vec<(usize, bool)> = keys
        .iter()
        .filter_map(|k| relation.resolve(&k.field).map(|i| (i, k.descending)))
        .collect();
    relation.sort(context, &resolved);
    relation.set_order(&resolved);
}

/// A field's values as numbers (text parsed; missing field null) and their kind.
fn numbers(context: &Context, relation: &Relation, field: &str) -> (Vec<Value>, Kind) {
    let kind = relation.kind(field).numeric();
    let values = relation
        .rows
        .iter()
        .map(|row| relation.field(context, row, field).number().cast(kind))
        .collect();
    (values, kind)
}

/// `accum f [as a] [by g]`: the running total of f per group, in time order (nulls add
/// nothing; null until the first value).
pub fn accumulate(
    context: &Context,
    relation: &mut Relation,
    field: &str,
    alias: &str,
    by: &[String],
) {
    let order = sort_in_order(context, relation, false);
    let (values, kind) = numbers(context, relation, field);
    let groups = partition_fields(relation, by);
    let mut totals: HashMap<Vec<Key>, Value> = HashMap::new();
    let mut out = Vec::new();
    for (row, value) in relation.rows.iter().zip(values) {
        let total = totals
            .entry(partition_key(&row.values, &groups))
            .or_insert(Value::Null);
        *total = add(total, &value);
        out.push(vec![total.clone()]);
    }
    relation.assign(
        vec![Column {
            name: alias.to_string(),
            kind,
        }],
        out,
    );
    restore_order(context, relation, &order);
}

fn add(total: &Value, value: &Value) -> Value {
    match (total, value) {
        (_, Value::Null) => total.clone(),
        (Value::Null, v) => v.clone(),
        (Value::Int(a), Value::Int(b)) => Value::Int(a.wrapping_add(*b)),
        (a, b) => match (a.float(), b.float()) {
            (Some(x), Some(y)) => Value::Float(x + y),
            _ => Value::Null,
        },
    }
}

/// `total f [as a] [by g]`: the grand total of f per group on every row (null when the group
/// has no value); the rows keep their order.
pub fn total(context: &Context, relation: &mut Relation, field: &str, alias: &str, by: &[String]) {
    let (values, kind) = numbers(context, relation, field);
    let groups = partition_fields(relation, by);
    let mut totals: HashMap<Vec<Key>, Value> = HashMap::new();
    for (row, value) in relation.rows.iter().zip(&values) {
        let total = totals
            .entry(partition_key(&row.values, &groups))
            .or_insert(Value::Null);
        *total = add(total, value);
    }
    let out = relation
        .rows
        .iter()
        .map(|row| vec![totals[&partition_key(&row.values, &groups)].clone()])
        .collect();
    relation.assign(
        vec![Column {
            name: alias.to_string(),
            kind,
        }],
        out,
    );
}

/// `topk(N, f1, f2) [by g]`: per group, the N rows with the highest f1 (then f2, …; ties in
/// the rows' order, newest first), ranked 1..=N in `_rank`; ordered by the groups, then the
/// rank.
pub fn topk(context: &Context, relation: &mut Relation, n: u64, fields: &[String], by: &[String]) {
    let ranked: Vec<usize> = fields.iter().filter_map(|f| relation.resolve(f)).collect();
    let ties: Vec<(usize, bool)> = relation
        .order_keys(true)
        .into_iter()
        .filter(|(i, _)| !ranked.contains(i))
        .collect();
    let numbers: Vec<Vec<Value>> = fields
        .iter()
        .map(|f| numbers(context, relation, f).0)
        .collect();
    let mut positions: Vec<usize> = (0..relation.rows.len()).collect();
    positions.sort_by(|a, b| {
        for column in &numbers {
            let (x, y) = (&column[*a], &column[*b]);
            let order = match (x.is_null(), y.is_null()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ => compare(y, x),
            };
            if order.is_ne() {
                return order;
            }
        }
        crate::relation::compare_rows(&relation.rows[*a], &relation.rows[*b], &ties)
    });
    let groups = partition_fields(relation, by);
    let mut counts: HashMap<Vec<Key>, u64> = HashMap::new();
    let mut rank = vec![0u64; relation.rows.len()];
    for p in positions {
        let count = counts
            .entry(partition_key(&relation.rows[p].values, &groups))
            .or_insert(0);
        *count += 1;
        rank[p] = *count;
    }
    let out = rank.iter().map(|r| vec![Value::Int(*r as i64)]).collect();
    relation.assign(
        vec![Column {
            name: "_rank".into(),
            kind: Kind::Int,
        }],
        out,
    );
    let mut ranks = rank.into_iter();
    relation
        .rows
        .retain(|_| ranks.next().is_some_and(|r| r <= n));
    let mut keys: Vec<SortKey> = by
        .iter()
        .filter_map(|g| relation.resolve(g))
        .map(|i| SortKey {
            field: relation.columns[i].name.clone(),
            descending: false,
        })
        .collect();
    keys.push(SortKey {
        field: "_rank".into(),
        descending: false,
    });
    restore_order(context, relation, &keys);
}

/// `dedup [N] [by f]`: the first N rows of each key in the rows' order (newest message
/// first); without `by`, rows equal in every field.
pub fn dedup(context: &Context, relation: &mut Relation, n: u64, by: &[String]) {
    relation.materialize_raw(context);
    let order = sort_in_order(context, relation, true);
    let fields: Vec<usize> = if by.is_empty() {
        (0..relation.columns.len()).collect()
    } else {
        partition_fields(relation, by)
    };
    let mut seen: HashMap<Vec<Key>, u64> = HashMap::new();
    relation.rows.retain(|row| {
        let count = seen.entry(partition_key(&row.values, &fields)).or_insert(0);
        *count += 1;
        *count <= n
    });
    restore_order(context, relation, &order);
}

pub struct OutlierParameters {
    pub window: u32,
    pub threshold: f64,
    pub consecutive: u32,
    pub direction: OutlierDirection,
}

/// `outlier f [by d] window=W threshold=T consecutive=C direction=D`, per group in time
/// order: the mean and sample standard deviation of the non-null values among the W rows
/// before each row; once W values precede it, `f_error = f − mean`, `f_lower = mean − T·sd`,
/// `f_upper = mean + T·sd`, and `f_indicator` is 1 when f is beyond the band on the chosen
/// side (strictly); before that the three are null and the indicator 0. `f_violation` is 1
/// when this and the previous C−1 indicators are all 1.
pub fn outlier(
    context: &Context,
    relation: &mut Relation,
    field: &str,
    by: &[String],
    parameters: OutlierParameters,
) {
    let name = relation
        .resolve(field)
        .map_or(field.to_string(), |i| relation.columns[i].name.clone());
    let order = sort_in_order(context, relation, false);
    let values: Vec<Option<f64>> = relation
        .rows
        .iter()
        .map(|row| relation.field(context, row, field).float())
        .collect();
    let groups = partition_fields(relation, by);
    let mut members: HashMap<Vec<Key>, Vec<usize>> = HashMap::new();
    for (i, row) in relation.rows.iter().enumerate() {
        members
            .entry(partition_key(&row.values, &groups))
            .or_default()
            .push(i);
    }
    let window = parameters.window as usize;
    let run = parameters.consecutive as usize;
    let mut out = vec![
        vec![
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Int(0),
            Value::Int(0)
        ];
        relation.rows.len()
    ];
    for rows in members.values() {
        let mut indicators: Vec<bool> = Vec::new();
        for (position, row) in rows.iter().enumerate() {
            let before: Vec<f64> = rows[position.saturating_sub(window)..position]
                .iter()
                .filter_map(|r| values[*r])
                .collect();
            let mut indicator = false;
            if before.len() == window && window > 0 {
                let mean = before.iter().sum::<f64>() / window as f64;
                let sd = (window >= 2).then(|| {
                    let squares: f64 = before.iter().map(|v| (v - mean) * (v - mean)).sum();
                    (squares / (window - 1) as f64).sqrt()
                });
                let value = values[*row];
                let lower = sd.map(|sd| mean - parameters.threshold * sd);
                let upper = sd.map(|sd| mean + parameters.threshold * sd);
                let above = matches!((value, upper), (Some(v), Some(u)) if v > u);
                let below = matches!((value, lower), (Some(v), Some(l)) if v < l);
                indicator = match parameters.direction {
                    OutlierDirection::Both => above || below,
                    OutlierDirection::Above => above,
                    OutlierDirection::Below => below,
                };
                let float = |v: Option<f64>| v.map_or(Value::Null, Value::Float);
                out[*row][0] = float(value.map(|v| v - mean));
                out[*row][1] = float(lower);
                out[*row][2] = float(upper);
            }
            indicators.push(indicator);
            let recent = &indicators[indicators.len().saturating_sub(run)..];
            let violation =
                indicator && run > 0 && recent.len() == run && recent.iter().all(|i| *i);
            out[*row][3] = Value::Int(i64::from(indicator));
            out[*row][4] = Value::Int(i64::from(violation));
        }
    }
    let columns = ["error", "lower", "upper", "indicator", "violation"]
        .iter()
        .map(|suffix| Column {
            name: format!("{name}_{suffix}"),
            kind: if matches!(*suffix, "indicator" | "violation") {
                Kind::Int
            } else {
                Kind::Float
            },
        })
        .collect();
    relation.assign(columns, out);
    restore_order(context, relation, &order);
}
