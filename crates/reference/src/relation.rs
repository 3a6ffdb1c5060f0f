//! The rows so far and what the query can see of them: the fields created by its stages, in
//! creation order, each with one kind. While rows are still stored rows (before an
//! aggregation) each remembers the stored row it came from, so that `json "Status"` and
//! `timeslice` read the stored fields.

use std::cell::{OnceCell, RefCell};
use std::cmp::Ordering;
use std::collections::HashMap;

use mailscope_query::ir;
use regex::Regex;

use crate::value::{Kind, Value, compare};
use crate::{Error, Options, ReferenceData, Result, StoredRow, record, scope};

/// Fields every stored row has before any stage (Sumo's metadata).
pub const METADATA: [&str; 6] = [
    "_messagetime",
    "_receipttime",
    "_sourceCategory",
    "_source",
    "_collector",
    "_raw",
];

/// What every stage may read: the input, the options, the reference data.
pub struct Context<'a> {
    pub input: &'a [StoredRow],
    pub options: &'a Options,
    pub data: &'a dyn ReferenceData,
    /// `_raw` of each input row, built when first read.
    raws: Vec<OnceCell<String>>,
    regexes: RefCell<HashMap<String, Regex>>,
}

impl<'a> Context<'a> {
    pub fn new(
        input: &'a [StoredRow],
        options: &'a Options,
        data: &'a dyn ReferenceData,
    ) -> Context<'a> {
        Context {
            input,
            options,
            data,
            raws: (0..input.len()).map(|_| OnceCell::new()).collect(),
            regexes: RefCell::new(HashMap::new()),
        }
    }

    pub fn raw(&self, origin: usize) -> String {
        self.raws[origin]
            .get_or_init(|| record::raw_json(&self.input[origin]))
            .clone()
    }

    /// The compiled regex (compiled once per query).
    pub fn regex(&self, pattern: &str) -> Result<Regex> {
        if let Some(regex) = self.regexes.borrow().get(pattern) {
            return Ok(regex.clone());
        }
        let regex = Regex::new(pattern)
            .map_err(|e| Error::Query(format!("invalid regex {pattern:?}: {e}")))?;
        self.regexes
            .borrow_mut()
            .insert(pattern.to_string(), regex.clone());
        Ok(regex)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub values: Vec<Value>,
    /// Index of the stored row this row comes from, while rows are stored rows.
    pub origin: Option<usize>,
}

pub struct Relation {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    /// Rows are still stored rows (canonical fields readable through `origin`).
    pub stored: bool,
    /// An aggregation (or a shaping stage) ran: the result is not a list of messages.
    pub aggregated: bool,
    /// The keys the rows are sorted by (the last `sort`, `top`, …); empty when unspecified.
    pub order: Vec<ir::SortKey>,
    /// The column named `_raw` still holds the canonical JSON of each row's origin, built
    /// when read (its cells are placeholders).
    pub lazy_raw: bool,
}

impl Relation {
    /// The stored rows in the time range that match the scope, newest first.
    pub fn stored(context: &Context, query_scope: &ir::Scope) -> Relation {
        let options = context.options;
        let mut rows = Vec::new();
        for (origin, stored) in context.input.iter().enumerate() {
            let received = stored.record.received;
            let nanos = received.timestamp_nanos_opt().unwrap_or(i64::MIN);
            let from = i128::from(options.from_ms) * 1_000_000;
            let to = i128::from(options.to_ms) * 1_000_000;
            if i128::from(nanos) < from || i128::from(nanos) >= to {
                continue;
            }
            if !scope::matches(query_scope, stored) {
                continue;
            }
            rows.push(Row {
                values: vec![
                    Value::Time(received.timestamp_millis()),
                    Value::Time(stored.receipt_time_ms),
                    Value::Text(stored.source_category.clone()),
                    Value::Text(stored.source.clone()),
                    Value::Text(stored.collector.clone()),
                    Value::Null,
                ],
                origin: Some(origin),
            });
        }
        rows.sort_by(|a, b| compare(&b.values[0], &a.values[0]));
        let kinds = [
            Kind::Time,
            Kind::Time,
            Kind::Text,
            Kind::Text,
            Kind::Text,
            Kind::Text,
        ];
        Relation {
            columns: METADATA
                .iter()
                .zip(kinds)
                .map(|(name, kind)| Column {
                    name: name.to_string(),
                    kind,
                })
                .collect(),
            rows,
            stored: true,
            aggregated: false,
            order: Vec::new(),
            lazy_raw: true,
        }
    }

    /// A relation over computed rows (after an aggregation or a shaping stage).
    pub fn computed(columns: Vec<Column>, rows: Vec<Vec<Value>>) -> Relation {
        Relation {
            columns,
            rows: rows
                .into_iter()
                .map(|values| Row {
                    values,
                    origin: None,
                })
                .collect(),
            stored: false,
            aggregated: true,
            order: Vec::new(),
            lazy_raw: false,
        }
    }

    /// Field names are case-insensitive, as in Sumo; an exact match wins.
    pub fn resolve(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .or_else(|| {
                self.columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(name))
            })
    }

    pub fn names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// The cell of `row` in column `index`.
    pub fn cell(&self, context: &Context, row: &Row, index: usize) -> Value {
        if self.lazy_raw
            && self.columns[index].name == "_raw"
            && let Some(origin) = row.origin
        {
            return Value::Text(context.raw(origin));
        }
        row.values.get(index).cloned().unwrap_or(Value::Null)
    }

    /// The value of a field by name; null when the query never made it.
    pub fn field(&self, context: &Context, row: &Row, name: &str) -> Value {
        match self.resolve(name) {
            Some(index) => self.cell(context, row, index),
            None => Value::Null,
        }
    }

    /// The kind of a field; a missing field is (null) text.
    pub fn kind(&self, name: &str) -> Kind {
        self.resolve(name)
            .map_or(Kind::Text, |i| self.columns[i].kind)
    }

    /// Fills the `_raw` placeholders, before rows stop being stored rows.
    pub fn materialize_raw(&mut self, context: &Context) {
        if !self.lazy_raw {
            return;
        }
        if let Some(index) = self.columns.iter().position(|c| c.name == "_raw") {
            for row in &mut self.rows {
                if let Some(origin) = row.origin {
                    row.values[index] = Value::Text(context.raw(origin));
                }
            }
        }
        self.lazy_raw = false;
    }

    /// Adds fields (or overwrites them, case-insensitively); a new or overwritten field
    /// moves to the end. `values[r]` holds the new cells of row `r`, in `fields` order.
    pub fn assign(&mut self, fields: Vec<Column>, values: Vec<Vec<Value>>) {
        let mut replaced: Vec<usize> = fields
            .iter()
            .filter_map(|f| self.resolve(&f.name))
            .collect();
        for (i, column) in self.columns.iter().enumerate() {
            if fields.iter().any(|f| f.name == column.name) {
                replaced.push(i);
            }
        }
        if replaced.iter().any(|i| self.columns[*i].name == "_raw") {
            self.lazy_raw = false;
        }
        replaced.sort_unstable();
        replaced.dedup();
        for index in replaced.iter().rev() {
            self.columns.remove(*index);
        }
        self.columns.extend(fields);
        for (row, new) in self.rows.iter_mut().zip(values) {
            for index in replaced.iter().rev() {
                row.values.remove(*index);
            }
            row.values.extend(new);
        }
    }

    /// Keeps only the columns `indices`, in that order.
    pub fn project(&mut self, context: &Context, indices: &[usize]) {
        self.materialize_raw(context);
        self.columns = indices.iter().map(|i| self.columns[*i].clone()).collect();
        for row in &mut self.rows {
            row.values = indices
                .iter()
                .map(|i| row.values.get(*i).cloned().unwrap_or(Value::Null))
                .collect();
        }
    }

    /// The current order as column indices with a descending flag: the keys of the last
    /// sort; else time (`_timeslice`, else `_messagetime`), descending when
    /// `time_descending`; then every other field (but `_raw`) ascending as a tie-breaker.
    pub fn order_keys(&self, time_descending: bool) -> Vec<(usize, bool)> {
        let mut keys: Vec<(usize, bool)> = self
            .order
            .iter()
            .filter_map(|k| self.resolve(&k.field).map(|i| (i, k.descending)))
            .collect();
        if keys.is_empty()
            && let Some(time) = self
                .resolve("_timeslice")
                .or_else(|| self.resolve("_messagetime"))
        {
            keys.push((time, time_descending));
        }
        for (i, column) in self.columns.iter().enumerate() {
            if column.name != "_raw" && !keys.iter().any(|(k, _)| *k == i) {
                keys.push((i, false));
            }
        }
        keys
    }

    /// `sort by a, +b`: by the keys that exist (nulls last either way); a sort by no existing
    /// field changes nothing.
    pub fn sort_by_fields(&mut self, context: &Context, keys: &[ir::SortKey]) {
        let resolved: Vec<(usize, bool)> = keys
            .iter()
            .filter_map(|k| self.resolve(&k.field).map(|i| (i, k.descending)))
            .collect();
        if resolved.is_empty() {
            return;
        }
        // Ties: every other field but `_raw`, ascending, so the order is total.
        let mut total = resolved.clone();
        for (i, column) in self.columns.iter().enumerate() {
            if column.name != "_raw" && !total.iter().any(|(k, _)| *k == i) {
                total.push((i, false));
            }
        }
        self.sort(context, &total);
        self.set_order(&resolved);
    }

    /// `limit n`: the first `n` rows.
    pub fn keep_first(&mut self, n: u64) {
        self.rows.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    }

    /// Sorts the rows by `keys` (stable; nulls last in either direction).
    pub fn sort(&mut self, context: &Context, keys: &[(usize, bool)]) {
        if keys.iter().any(|(i, _)| self.columns[*i].name == "_raw") {
            self.materialize_raw(context);
        }
        self.rows.sort_by(|a, b| compare_rows(a, b, keys));
    }

    pub fn set_order(&mut self, keys: &[(usize, bool)]) {
        self.order = keys
            .iter()
            .map(|(i, descending)| ir::SortKey {
                field: self.columns[*i].name.clone(),
                descending: *descending,
            })
            .collect();
    }
}

/// Two rows by `keys`: nulls last whatever the direction.
pub fn compare_rows(a: &Row, b: &Row, keys: &[(usize, bool)]) -> Ordering {
    for (index, descending) in keys {
        let (x, y) = (&a.values[*index], &b.values[*index]);
        let order = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ if *descending => compare(y, x),
            _ => compare(x, y),
        };
        if order.is_ne() {
            return order;
        }
    }
    Ordering::Equal
}
