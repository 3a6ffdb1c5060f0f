//! Data-dependent shaping on a materialised (aggregated, hence small) result: `fillmissing`
//! and `transpose`. Their output columns depend on the data, so they cannot be planned
//! ahead; they run between DataFusion plans.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use mailscope_query::ir::{FillDefault, Generator, Literal, TransposeOutputs};

use crate::error::{Error, Result};

/// Rows `fillmissing` may add at most (Sumo's limit on combinations).
const MAX_COMBINATIONS: usize = 10_000;

fn resolve(batch: &RecordBatch, name: &str) -> Option<usize> {
    let schema = batch.schema();
    schema.index_of(name).ok().or_else(|| {
        schema
            .fields()
            .iter()
            .position(|f| f.name().eq_ignore_ascii_case(name))
    })
}

fn cell(batch: &RecordBatch, column: usize, row: usize) -> Result<ScalarValue> {
    Ok(ScalarValue::try_from_array(batch.column(column), row)?)
}

/// Fills in rows for every combination of the generators' values that the result lacks.
/// Added rows get 0 for integers, 0.0 for floats, false for booleans and null otherwise,
/// unless `with v for f` says otherwise; with `takeLast`, an added row takes the other
/// fields of the last earlier timeslice of the same other keys (present or itself filled),
/// and the defaults only when there is none.
pub fn fill_missing(
    batch: &RecordBatch,
    generators: &[Generator],
    defaults: &[FillDefault],
    take_last: bool,
    bucket_starts: &dyn Fn(i64) -> Vec<i64>,
    warnings: &mut Vec<String>,
) -> Result<RecordBatch> {
    let mut keys: Vec<(usize, Vec<ScalarValue>)> = Vec::new();
    for generator in generators {
        let (field, values) = match generator {
            Generator::Timeslice { span, field } => {
                let span =
                    span.ok_or_else(|| Error::Query("fillmissing timeslice needs a span".into()))?;
                let column = resolve(batch, field)
                    .ok_or_else(|| Error::Query(format!("fillmissing: no field '{field}'")))?;
                let timezone = match batch.schema().field(column).data_type() {
                    DataType::Timestamp(_, tz) => tz.clone(),
                    _ => Some("UTC".into()),
                };
                let values = bucket_starts(span)
                    .into_iter()
                    .map(|ms| ScalarValue::TimestampMillisecond(Some(ms), timezone.clone()))
                    .collect();
                (column, values)
            }
            Generator::Values { values, field } => {
                let column = resolve(batch, field)
                    .ok_or_else(|| Error::Query(format!("fillmissing: no field '{field}'")))?;
                (
                    column,
                    values
                        .iter()
                        .map(|v| ScalarValue::Utf8(Some(v.clone())))
                        .collect(),
                )
            }
            Generator::AllValues { field } => {
                let column = resolve(batch, field)
                    .ok_or_else(|| Error::Query(format!("fillmissing: no field '{field}'")))?;
                let mut seen = HashSet::new();
                for row in 0..batch.num_rows() {
                    let value = cell(batch, column, row)?;
                    if !value.is_null() {
                        seen.insert(value);
                    }
                }
                let mut values: Vec<ScalarValue> = seen.into_iter().collect();
                values.sort_by(compare);
                (column, values)
            }
        };
        keys.push((field, values));
    }
    let key_columns: Vec<usize> = keys.iter().map(|(c, _)| *c).collect();
    let mut present = HashSet::new();
    for row in 0..batch.num_rows() {
        let tuple = key_columns
            .iter()
            .map(|c| {
                cell(batch, *c, row)
                    .and_then(|v| Ok(v.cast_to(batch.schema().field(*c).data_type())?))
            })
            .collect::<Result<Vec<_>>>()?;
        present.insert(tuple);
    }
    // Every combination of the generators' values, first key outermost, walked like an
    // odometer so that a huge product is never built: the first MAX_COMBINATIONS missing
    // ones are added.
    let typed: Vec<Vec<ScalarValue>> = keys
        .iter()
        .map(|(column, values)| {
            let data_type = batch.schema().field(*column).data_type().clone();
            values
                .iter()
                .map(|v| Ok(v.cast_to(&data_type)?))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<_>>()?;
    let total = typed
        .iter()
        .fold(1usize, |n, values| n.saturating_mul(values.len()));
    let mut missing: Vec<Vec<ScalarValue>> = Vec::new();
    let mut position = vec![0usize; typed.len()];
    if total > 0 {
        loop {
            let tuple: Vec<ScalarValue> = position
                .iter()
                .zip(&typed)
                .map(|(&i, values)| values[i].clone())
                .collect();
            if !present.contains(&tuple) {
                if missing.len() == MAX_COMBINATIONS {
                    warnings.push(format!(
                        "fillmissing: about {} combinations missing, only {MAX_COMBINATIONS} added",
                        total.saturating_sub(present.len())
                    ));
                    break;
                }
                missing.push(tuple);
            }
            // The next combination: the last key turns fastest.
            for k in (0..typed.len()).rev() {
                position[k] += 1;
                if position[k] < typed[k].len() {
                    break;
                }
                position[k] = 0;
            }
            if position.iter().all(|&i| i == 0) {
                break;
            }
        }
    }
    if missing.is_empty() {
        return Ok(batch.clone());
    }
    let schema = batch.schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (index, field) in schema.fields().iter().enumerate() {
        let added: Vec<ScalarValue> = match key_columns.iter().position(|c| *c == index) {
            Some(k) => missing.iter().map(|t| t[k].clone()).collect(),
            None => {
                let default = default_for(field, defaults)?;
                vec![default; missing.len()]
            }
        };
        let added = ScalarValue::iter_to_array(added)?;
        let added = arrow::compute::cast(&added, field.data_type())?;
        columns.push(arrow::compute::concat(&[
            batch.column(index).as_ref(),
            added.as_ref(),
        ])?);
    }
    // An added row may hold null where the input never did (a group key of a combination
    // that had no rows, e.g. every row when the range had none).
    let nullable: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(
        nullable,
        schema.metadata().clone(),
    ));
    let filled = RecordBatch::try_new(schema, columns)?;
    let timeslice = generators
        .iter()
        .position(|g| matches!(g, Generator::Timeslice { .. }))
        .map(|k| key_columns[k]);
    match timeslice {
        Some(time_column) if take_last => {
            carry_forward(&filled, batch.num_rows(), time_column, &key_columns)
        }
        _ => Ok(filled),
    }
}

/// `takeLast`: rows from `first_added` on take the non-key fields of the previous row in
/// time within their group of the other key columns.
fn carry_forward(
    batch: &RecordBatch,
    first_added: usize,
    time_column: usize,
    key_columns: &[usize],
) -> Result<RecordBatch> {
    let group_columns: Vec<usize> = key_columns
        .iter()
        .copied()
        .filter(|c| *c != time_column)
        .collect();
    let value_columns: Vec<usize> = (0..batch.num_columns())
        .filter(|c| !key_columns.contains(c))
        .collect();
    let mut order: Vec<(Vec<ScalarValue>, ScalarValue, usize)> = Vec::new();
    for row in 0..batch.num_rows() {
        let group = group_columns
            .iter()
            .map(|c| cell(batch, *c, row))
            .collect::<Result<Vec<_>>>()?;
        order.push((group, cell(batch, time_column, row)?, row));
    }
    order.sort_by(|(ga, ta, _), (gb, tb, _)| {
        ga.iter()
            .zip(gb)
            .map(|(x, y)| compare(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
            .then_with(|| compare(ta, tb))
    });
    // For each row, the row whose values it shows.
    let mut source: Vec<usize> = (0..batch.num_rows()).collect();
    let mut previous: Option<(&Vec<ScalarValue>, usize)> = None;
    for (group, _, row) in &order {
        if *row >= first_added
            && let Some((previous_group, previous_row)) = previous
            && previous_group == group
        {
            source[*row] = source[previous_row];
        }
        previous = Some((group, *row));
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for index in 0..batch.num_columns() {
        if !value_columns.contains(&index) {
            columns.push(batch.column(index).clone());
            continue;
        }
        let indices =
            arrow::array::UInt64Array::from(source.iter().map(|r| *r as u64).collect::<Vec<_>>());
        columns.push(arrow::compute::take(batch.column(index), &indices, None)?);
    }
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

fn default_for(field: &Field, defaults: &[FillDefault]) -> Result<ScalarValue> {
    if let Some(default) = defaults
        .iter()
        .find(|d| d.field.eq_ignore_ascii_case(field.name()))
    {
        let value = match &default.value {
            Literal::Null => ScalarValue::Utf8(None),
            Literal::Bool(b) => ScalarValue::Boolean(Some(*b)),
            Literal::Int(i) => ScalarValue::Int64(Some(*i)),
            Literal::Float(f) => ScalarValue::Float64(Some(*f)),
            Literal::String(s) => ScalarValue::Utf8(Some(s.clone())),
        };
        return Ok(value.cast_to(field.data_type())?);
    }
    Ok(match field.data_type() {
        t if t.is_integer() => ScalarValue::Int64(Some(0)).cast_to(t)?,
        t if t.is_floating() => ScalarValue::Float64(Some(0.0)).cast_to(t)?,
        DataType::Boolean => ScalarValue::Boolean(Some(false)),
        t => ScalarValue::try_from(t)?,
    })
}

/// Pivots: one row per distinct row key (ascending), one column per distinct column value.
pub fn transpose(
    batch: &RecordBatch,
    rows: &[String],
    columns: &[String],
    outputs: &TransposeOutputs,
    warnings: &mut Vec<String>,
) -> Result<RecordBatch> {
    let find = |name: &String| {
        resolve(batch, name).ok_or_else(|| Error::Query(format!("transpose: no field '{name}'")))
    };
    let row_columns = rows.iter().map(find).collect::<Result<Vec<_>>>()?;
    let column_columns = columns.iter().map(find).collect::<Result<Vec<_>>>()?;
    let value_columns: Vec<usize> = (0..batch.num_columns())
        .filter(|c| !row_columns.contains(c) && !column_columns.contains(c))
        .collect();
    let Some(&value_column) = value_columns.first() else {
        return Err(Error::Query(
            "transpose needs a value column besides the row and column fields".into(),
        ));
    };
    if value_columns.len() > 1 {
        warnings.push(format!(
            "transpose: several value columns; using '{}'",
            batch.schema().field(value_column).name()
        ));
    }
    let value_type = batch.schema().field(value_column).data_type().clone();
    let mut index: HashMap<Vec<ScalarValue>, usize> = HashMap::new();
    let mut cells: Vec<(Vec<ScalarValue>, BTreeMap<String, ScalarValue>)> = Vec::new();
    let mut dynamic = BTreeSet::new();
    for row in 0..batch.num_rows() {
        let key = row_columns
            .iter()
            .map(|c| cell(batch, *c, row))
            .collect::<Result<Vec<_>>>()?;
        let names = column_columns
            .iter()
            .map(|c| {
                cell(batch, *c, row).map(|v| if v.is_null() { None } else { Some(display(&v)) })
            })
            .collect::<Result<Option<Vec<String>>>>()?;
        let slot = *index.entry(key.clone()).or_insert_with(|| {
            cells.push((key, BTreeMap::new()));
            cells.len() - 1
        });
        let Some(names) = names else { continue };
        let name = names.join("_");
        dynamic.insert(name.clone());
        cells[slot].1.insert(name, cell(batch, value_column, row)?);
    }
    cells.sort_by(|(a, _), (b, _)| {
        a.iter()
            .zip(b)
            .map(|(x, y)| compare(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
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
    let schema = batch.schema();
    let mut fields: Vec<Field> = row_columns
        .iter()
        .map(|c| schema.field(*c).clone().with_nullable(true))
        .collect();
    fields.extend(
        names
            .iter()
            .map(|n| Field::new(n, value_type.clone(), true)),
    );
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (k, column) in row_columns.iter().enumerate() {
        let values: Vec<ScalarValue> = cells.iter().map(|(key, _)| key[k].clone()).collect();
        arrays.push(to_array(
            values,
            schema.field(*column).data_type(),
            cells.len(),
        )?);
    }
    for name in &names {
        let values: Vec<ScalarValue> = cells
            .iter()
            .map(|(_, row)| {
                row.get(name)
                    .cloned()
                    .unwrap_or(ScalarValue::try_from(&value_type)?)
                    .cast_to(&value_type)
                    .map_err(Error::from)
            })
            .collect::<Result<_>>()?;
        arrays.push(to_array(values, &value_type, cells.len())?);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

fn to_array(values: Vec<ScalarValue>, data_type: &DataType, len: usize) -> Result<ArrayRef> {
    if values.is_empty() {
        return Ok(new_null_array(data_type, len));
    }
    let array = ScalarValue::iter_to_array(values)?;
    Ok(arrow::compute::cast(&array, data_type)?)
}

fn display(value: &ScalarValue) -> String {
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => s.clone(),
        ScalarValue::TimestampMillisecond(Some(ms), _) => ms.to_string(),
        other => other.to_string(),
    }
}

/// Ascending with nulls last.
fn compare(a: &ScalarValue, b: &ScalarValue) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}
