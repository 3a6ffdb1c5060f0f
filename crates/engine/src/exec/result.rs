//! Arrow results to plain cells.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimeUnit};

use super::Value;
use crate::error::Result;

pub fn rows(batch: &RecordBatch) -> Result<Vec<Vec<Value>>> {
    let columns: Vec<Vec<Value>> = batch
        .columns()
        .iter()
        .map(|c| column(c.as_ref()))
        .collect::<Result<_>>()?;
    Ok((0..batch.num_rows())
        .map(|row| columns.iter().map(|c| c[row].clone()).collect())
        .collect())
}

fn column(array: &dyn Array) -> Result<Vec<Value>> {
    use arrow::datatypes as t;
    let n = array.len();
    let values: Vec<Value> = match array.data_type() {
        DataType::Null => vec![Value::Null; n],
        DataType::Boolean => array
            .as_boolean()
            .iter()
            .map(|v| v.map_or(Value::Null, Value::Bool))
            .collect(),
        DataType::Int64 => array
            .as_primitive::<t::Int64Type>()
            .iter()
            .map(|v| v.map_or(Value::Null, Value::Int))
            .collect(),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => {
            let cast = arrow::compute::cast(array, &DataType::Int64)?;
            return column(cast.as_ref());
        }
        DataType::Float64 => array
            .as_primitive::<t::Float64Type>()
            .iter()
            .map(|v| v.map_or(Value::Null, Value::Float))
            .collect(),
        DataType::Float32 | DataType::Decimal128(_, _) => {
            let cast = arrow::compute::cast(array, &DataType::Float64)?;
            return column(cast.as_ref());
        }
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map_or(Value::Null, |s| Value::Text(s.to_owned())))
            .collect(),
        DataType::Timestamp(_, _) => {
            let cast =
                arrow::compute::cast(array, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
            cast.as_primitive::<t::TimestampMillisecondType>()
                .iter()
                .map(|v| v.map_or(Value::Null, Value::Time))
                .collect()
        }
        _ => {
            let cast = arrow::compute::cast(array, &DataType::Utf8)?;
            return column(cast.as_ref());
        }
    };
    Ok(values)
}
