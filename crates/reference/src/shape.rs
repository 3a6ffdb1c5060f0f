//! Data-dependent shaping: `fillmissing` and `transpose`. Their result is a new table (not
//! messages), in which later stages see every column.

use std::collections::{BTreeSet, HashMap, HashSet};

use mailscope_query::ir::{FillDefault, Generator, TransposeOutputs};

use crate::expr::literal;
use crate::relation::{Column, Context, Relation};
use crate::value::{Key, Kind, Value, compare};
use crate::{Error, Result, time};

/// Rows `fillmissing` adds at most (Sumo's limit on combinations).
const MAX_COMBINATIONS: usize = 10_000;

fn find(relation: &Relation, operator: &str, field: &str) -> Result<usize> {
    relation
        .resolve(field)
        .ok_or_else(|| Error::Query(format!("{operator}: no field '{field}'")))
}

/// `fillmissing <generators> [with v for f, …] [takeLast]`: a row for every combination of
/// the generators' values that the result lacks. An added row has 0 in integer fields, 0.0
/// in float fields, false in boolean fields and null elsewhere, unless `with v for f` says
/// otherwise; with `takeLast` it takes the other fields of the previous timeslice of the
/// same other keys (present or itself added), the defaults when there is none.
pub fn fill_missing(
    context: &Context,
    relation: &mut Relation,
    generators: &[Generator],
    defaults: &[FillDefault],
    take_last: bool,
) -> Result<()> {
    relation.materialize_raw(context);
    let options = context.options;
    let mut keys: Vec<(usize, Vec<Value>)> = Vec::new();
    for generator in generators {
        let (field, values) = match generator {
            Generator::Timeslice { span, field } => {
                let span =
                    span.ok_or_else(|| Error::Query("fillmissing timeslice needs a span".into()))?;
                let starts =
                    time::bucket_starts(options.from_ms, options.to_ms, span, options.time_zone)
                        .unwrap_or_default();
                (field, starts.into_iter().map(Value::Time).collect())
            }
            Generator::Values { values, field } => (
                field,
                values.iter().map(|v| Value::Text(v.clone())).collect(),
            ),
            Generator::AllValues { field } => {
                let index = find(relation, "fillmissing", field)?;
                let mut seen = HashSet::new();
                let mut values: Vec<Value> = Vec::new();
                for row in &relation.rows {
                    let value = &row.values[index];
                    if !value.is_null() && seen.insert(Key::of(value)) {
                        values.push(value.clone());
                    }
                }
                values.sort_by(compare);
                (field, values)
            }
        };
        let index = find(relation, "fillmissing", field)?;
        let kind = relation.columns[index].kind;
        keys.push((index, values.iter().map(|v| v.cast(kind)).collect()));
    }
    let key_columns: Vec<usize> = keys.iter().map(|(i, _)| *i).collect();
    let present: HashSet<Vec<Key>> = relation
        .rows
        .iter()
        .map(|row| {
            key_columns
                .iter()
                .map(|c| Key::of(&row.values[*c]))
                .collect()
        })
        .collect();
    // Every combination, the first generator varying slowest.
    let mut combinations: Vec<Vec<Value>> = vec![Vec::new()];
    for (_, values) in &keys {
        combinations = combinations
            .iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut tuple = prefix.clone();
                    tuple.push(v.clone());
                    tuple
                })
            })
            .collect();
    }
    let missing: Vec<Vec<Value>> = combinations
        .into_iter()
        .filter(|t| !present.contains(&t.iter().map(Key::of).collect::<Vec<_>>()))
        .take(MAX_COMBINATIONS)
        .collect();
    let first_added = relation.rows.len();
    let mut rows: Vec<Vec<Value>> = relation.rows.iter().map(|r| r.values.clone()).collect();
    for tuple in missing {
        let row = relation
            .columns
            .iter()
            .enumerate()
            .map(
                |(index, column)| match key_columns.iter().position(|c| *c == index) {
                    Some(k) => tuple[k].clone(),
                    None => default_for(column, defaults),
                },
            )
            .collect();
        rows.push(row);
    }
    let time_key = generators
        .iter()
        .position(|g| matches!(g, Generator::Timeslice { .. }))
        .map(|k| key_columns[k]);
    if take_last && let Some(time_column) = time_key {
        carry_forward(&mut rows, first_added, time_column, &key_columns);
    }
    *relation = Relation::computed(relation.columns.clone(), rows);
    Ok(())
}

fn default_for(column: &Column, defaults: &[FillDefault]) -> Value {
    if let Some(default) = defaults
        .iter()
        .find(|d| d.field.eq_ignore_ascii_case(&column.name))
    {
        return literal(&default.value).cast(column.kind);
    }
    match column.kind {
        Kind::Int => Value::Int(0),
        Kind::Float => Value::Float(0.0),
        Kind::Bool => Value::Bool(false),
        Kind::Text | Kind::Time => Value::Null,
    }
}

/// `takeLast`: each added row takes the non-key fields of the row before it in time among
/// the rows with the same other keys.
fn carry_forward(rows: &mut [Vec<Value>], first_added: usize, time: usize, keys: &[usize]) {
    let groups: Vec<usize> = keys.iter().copied().filter(|c| *c != time).collect();
    let group_of =
        |row: &Vec<Value>| -> Vec<Value> { groups.iter().map(|c| row[*c].clone()).collect() };
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|a, b| {
        let (ga, gb) = (group_of(&rows[*a]), group_of(&rows[*b]));
        ga.iter()
            .zip(&gb)
            .map(|(x, y)| compare(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| compare(&rows[*a][time], &rows[*b][time]))
    });
    let values: Vec<usize> = (0..rows.first().map_or(0, Vec::len))
        .filter(|c| !keys.contains(c))
        .collect();
    for pair in order.windows(2) {
        let (previous, row) = (pair[0], pair[1]);
        let same_group = group_of(&rows[previous])
            .iter()
            .map(Key::of)
            .eq(group_of(&rows[row]).iter().map(Key::of));
        if row >= first_added && same_group {
            for c in &values {
                rows[row][*c] = rows[previous][*c].clone();
            }
        }
    }
}

/// How a column value names a transposed column: text as is, times in epoch milliseconds,
/// numbers in decimal (`2`, `2.5`), booleans `true`/`false`.
fn column_name(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Text(s) => Some(s.clone()),
        Value::Time(ms) | Value::Int(ms) => Some(ms.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Bool(b) => Some(b.to_string()),
    }
}

/// `transpose row r1, r2 column c1 [as outputs]`: one row per distinct row key (ascending),
/// one column per distinct column value (alphabetically; or the listed names, `*` for the
/// rest), holding the first remaining field's value (the last one seen per cell); a
/// missing cell is null.
pub fn transpose(
    context: &Context,
    relation: &mut Relation,
    rows: &[String],
    columns: &[String],
    outputs: &TransposeOutputs,
) -> Result<()> {
    relation.materialize_raw(context);
    let row_fields = rows
        .iter()
        .map(|r| find(relation, "transpose", r))
        .collect::<Result<Vec<_>>>()?;
    let column_fields = columns
        .iter()
        .map(|c| find(relation, "transpose", c))
        .collect::<Result<Vec<_>>>()?;
    let Some(value_field) =
        (0..relation.columns.len()).find(|i| !row_fields.contains(i) && !column_fields.contains(i))
    else {
        return Err(Error::Query(
            "transpose needs a value column besides the row and column fields".into(),
        ));
    };
    let mut index: HashMap<Vec<Key>, usize> = HashMap::new();
    let mut cells: Vec<(Vec<Value>, HashMap<String, Value>)> = Vec::new();
    let mut dynamic = BTreeSet::new();
    for row in &relation.rows {
        let key: Vec<Value> = row_fields.iter().map(|i| row.values[*i].clone()).collect();
        let slot = *index
            .entry(key.iter().map(Key::of).collect())
            .or_insert_with(|| {
                cells.push((key, HashMap::new()));
                cells.len() - 1
            });
        let names: Option<Vec<String>> = column_fields
            .iter()
            .map(|i| column_name(&row.values[*i]))
            .collect();
        let Some(names) = names else { continue };
        let name = names.join("_");
        dynamic.insert(name.clone());
        cells[slot].1.insert(name, row.values[value_field].clone());
    }
    cells.sort_by(|(a, _), (b, _)| {
        a.iter()
            .zip(b)
            .map(|(x, y)| compare(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let names: Vec<String> = match outputs {
        TransposeOutputs::All => dynamic.into_iter().collect(),
        TransposeOutputs::Listed { names, rest } => {
            let mut listed = names.clone();
            if *rest {
                listed.extend(dynamic.into_iter().filter(|d| !names.contains(d)));
            }
            listed
        }
    };
    let value_kind = relation.columns[value_field].kind;
    let mut out_columns: Vec<Column> = row_fields
        .iter()
        .map(|i| relation.columns[*i].clone())
        .collect();
    out_columns.extend(names.iter().map(|n| Column {
        name: n.clone(),
        kind: value_kind,
    }));
    let out_rows = cells
        .into_iter()
        .map(|(key, row)| {
            let mut values = key;
            values.extend(
                names
                    .iter()
                    .map(|n| row.get(n).cloned().unwrap_or(Value::Null)),
            );
            values
        })
        .collect();
    *relation = Relation::computed(out_columns, out_rows);
    let order: Vec<(usize, bool)> = (0..row_fields.len()).map(|i| (i, false)).collect();
    relation.set_order(&order);
    Ok(())
}
