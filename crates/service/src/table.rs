//! A finished result as the service keeps it: the engine's rows, one type per column, and
//! the memory it holds (for the result cache's bound).

use mailscope_engine::exec::{QueryResult, Value};

#[derive(Debug)]
pub struct Table {
    pub result: QueryResult,
    /// One per column: `int`, `float`, `text`, `bool`, `time` or `null`.
    pub types: Vec<&'static str>,
    /// Approximate memory held.
    pub bytes: usize,
}

impl Table {
    pub fn new(result: QueryResult) -> Table {
        let types = column_types(&result);
        let mut bytes = 64;
        for row in &result.rows {
            bytes += 24 + row.iter().map(value_bytes).sum::<usize>();
        }
        bytes += result.columns.iter().map(|c| c.len() + 24).sum::<usize>();
        bytes += result.warnings.iter().map(|w| w.len() + 24).sum::<usize>();
        Table {
            result,
            types,
            bytes,
        }
    }
}

fn value_bytes(value: &Value) -> usize {
    match value {
        Value::Text(s) => 40 + s.len(),
        _ => 16,
    }
}

fn value_type(value: &Value) -> Option<&'static str> {
    match value {
        Value::Null => None,
        Value::Bool(_) => Some("bool"),
        Value::Int(_) => Some("int"),
        Value::Time(_) => Some("time"),
        Value::Float(_) => Some("float"),
        Value::Text(_) => Some("text"),
    }
}

/// One type per column: the type of its values; `float` when ints and floats mix, `text`
/// for any other mix, `null` when every value is null.
pub fn column_types(result: &QueryResult) -> Vec<&'static str> {
    let mut types: Vec<Option<&'static str>> = vec![None; result.columns.len()];
    for row in &result.rows {
        for (slot, value) in types.iter_mut().zip(row) {
            if let Some(next) = value_type(value) {
                *slot = Some(match *slot {
                    None => next,
                    Some(same) if same == next => same,
                    Some("int") if next == "float" => "float",
                    Some("float") if next == "int" => "float",
                    Some(_) => "text",
                });
            }
        }
    }
    types.into_iter().map(|t| t.unwrap_or("null")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_follow_the_values() {
        let result = QueryResult {
            columns: vec!["t".into(), "n".into(), "x".into(), "z".into()],
            rows: vec![
                vec![
                    Value::Time(1),
                    Value::Int(1),
                    Value::Text("a".into()),
                    Value::Null,
                ],
                vec![
                    Value::Time(2),
                    Value::Float(1.5),
                    Value::Int(2),
                    Value::Null,
                ],
            ],
            warnings: vec![],
            input: Default::default(),
        };
        assert_eq!(Table::new(result).types, ["time", "float", "text", "null"]);
    }
}
