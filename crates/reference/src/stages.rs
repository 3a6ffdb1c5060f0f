//! One function per operator (the longer ones live in `extract`, `aggregate`, `shape` and
//! `window`), and the shape of the final result.

use mailscope_query::ir::{self, FieldsMode, StageKind, TimesliceSpan};

use crate::expr::Env;
use crate::relation::{Column, Context, METADATA, Relation};
use crate::value::{Kind, Value, compare};
use crate::{Result, Table, aggregate, extract, record, shape, time, window};

pub fn run(context: &Context, relation: &mut Relation, stage: &StageKind) -> Result<()> {
    match stage {
        StageKind::Json {
            source,
            extractions,
            nodrop,
        } => extract::json(context, relation, source.as_deref(), extractions, *nodrop),
        StageKind::JsonAuto { source } => extract::json_auto(context, relation, source.as_deref()),
        StageKind::Parse {
            source,
            anchors,
            aliases,
            nodrop,
        } => extract::parse_anchors(
            context,
            relation,
            source.as_deref(),
            anchors,
            aliases,
            *nodrop,
        ),
        StageKind::ParseRegex {
            source,
            regex,
            groups,
            nodrop,
            multi,
        } => extract::parse_regex(
            context,
            relation,
            source.as_deref(),
            regex,
            groups,
            *nodrop,
            *multi,
        ),
        StageKind::Split {
            source,
            delimiter,
            quote,
            escape,
            columns,
        } => {
            extract::split(
                context, relation, source, *delimiter, *quote, *escape, columns,
            );
            Ok(())
        }
        StageKind::Where(condition) => where_(context, relation, condition),
        StageKind::Assign { expr, alias } => assign(context, relation, expr, alias),
        StageKind::Lookup {
            table,
            columns,
            key_field,
        } => extract::lookup(context, relation, table, columns, key_field),
        StageKind::ThreatLookup {
            single_indicator, ..
        } => {
            extract::threatlookup(relation, *single_indicator);
            Ok(())
        }
        StageKind::Timeslice { span, alias } => {
            timeslice(context, relation, *span, alias);
            Ok(())
        }
        StageKind::Aggregate { aggregates, by } => {
            aggregate::aggregate(context, relation, aggregates, by);
            Ok(())
        }
        StageKind::CountFrequent { fields } => {
            aggregate::count_frequent(context, relation, fields);
            Ok(())
        }
        StageKind::Top { limit, fields, by } => {
            aggregate::top(context, relation, *limit, fields, by.as_ref());
            Ok(())
        }
        StageKind::Sort { keys } => {
            relation.sort_by_fields(context, keys);
            Ok(())
        }
        StageKind::Limit(n) => {
            relation.keep_first(*n);
            Ok(())
        }
        StageKind::Fields { mode, names } => {
            fields(context, relation, *mode, names);
            Ok(())
        }
        StageKind::FillMissing {
            generators,
            defaults,
            take_last,
        } => shape::fill_missing(context, relation, generators, defaults, *take_last),
        StageKind::Transpose {
            rows,
            columns,
            outputs,
        } => shape::transpose(context, relation, rows, columns, outputs),
        StageKind::Outlier {
            field,
            by,
            window,
            threshold,
            consecutive,
            direction,
        } => {
            window::outlier(
                context,
                relation,
                field,
                by,
                window::OutlierParameters {
                    window: *window,
                    threshold: *threshold,
                    consecutive: *consecutive,
                    direction: *direction,
                },
            );
            Ok(())
        }
        StageKind::Dedup { limit, by } => {
            window::dedup(context, relation, *limit, by);
            Ok(())
        }
        StageKind::TopK { limit, fields, by } => {
            window::topk(context, relation, *limit, fields, by);
            Ok(())
        }
        StageKind::Accumulate { field, alias, by } => {
            window::accumulate(context, relation, field, alias, by);
            Ok(())
        }
        StageKind::Total { field, alias, by } => {
            window::total(context, relation, field, alias, by);
            Ok(())
        }
    }
}

/// `where c`: keeps the rows where `c` is true.
fn where_(context: &Context, relation: &mut Relation, condition: &ir::Expr) -> Result<()> {
    let env = Env { context, relation };
    let mut keep = Vec::with_capacity(relation.rows.len());
    for row in &relation.rows {
        keep.push(env.predicate(condition, row)?);
    }
    let mut verdicts = keep.into_iter();
    relation.rows.retain(|_| verdicts.next().unwrap_or(false));
    Ok(())
}

/// `<expr> as f`.
fn assign(context: &Context, relation: &mut Relation, expr: &ir::Expr, alias: &str) -> Result<()> {
    let env = Env { context, relation };
    let kind = env.kind_of(expr);
    let mut values = Vec::with_capacity(relation.rows.len());
    for row in &relation.rows {
        values.push(vec![env.eval(expr, row)?.cast(kind)]);
    }
    relation.assign(
        vec![Column {
            name: alias.to_string(),
            kind,
        }],
        values,
    );
    Ok(())
}

/// The time a row is bucketed by: the stored `Received` while rows are stored rows, else
/// the `_messagetime` field.
fn message_time(context: &Context, relation: &Relation, row: &crate::relation::Row) -> Option<i64> {
    if relation.stored
        && let Some(origin) = row.origin
    {
        return Some(context.input[origin].record.received.timestamp_millis());
    }
    match relation.field(context, row, "_messagetime") {
        Value::Time(ms) => Some(ms),
        other => match other.number() {
            Value::Int(ms) => Some(ms),
            Value::Float(f) => crate::value::float_to_int(f.floor()),
            _ => None,
        },
    }
}

/// `timeslice <span> [as f]`: the start of each row's bucket.
fn timeslice(context: &Context, relation: &mut Relation, span: TimesliceSpan, alias: &str) {
    let options = context.options;
    let span = match span {
        TimesliceSpan::Millis(ms) => ms,
        TimesliceSpan::Buckets(n) => time::span_for_buckets(options.from_ms, options.to_ms, n),
    };
    let starts = time::bucket_starts(options.from_ms, options.to_ms, span, options.time_zone)
        .unwrap_or_default();
    let values = relation
        .rows
        .iter()
        .map(|row| {
            let bucket = message_time(context, relation, row).and_then(|ms| {
                time::bucket_of(ms, &starts, options.to_ms, span, options.time_zone)
            });
            vec![bucket.map_or(Value::Null, Value::Time)]
        })
        .collect();
    relation.assign(
        vec![Column {
            name: alias.to_string(),
            kind: Kind::Time,
        }],
        values,
    );
}

/// `fields a, b` keeps the listed fields (and the hidden `_` fields an aggregation made, or
/// `_messagetime` for messages); `fields - a, b` drops them. Over messages the kept fields
/// stay in creation order.
fn fields(context: &Context, relation: &mut Relation, mode: FieldsMode, names: &[String]) {
    let mut listed: Vec<usize> = Vec::new();
    for name in names {
        if let Some(i) = relation.resolve(name)
            && !listed.contains(&i)
        {
            listed.push(i);
        }
    }
    let mut keep: Vec<usize> = match mode {
        FieldsMode::Keep => {
            let mut keep = listed.clone();
            for (i, column) in relation.columns.iter().enumerate() {
                if column.name.starts_with('_')
                    && !listed.contains(&i)
                    && (relation.aggregated || column.name == "_messagetime")
                {
                    keep.push(i);
                }
            }
            keep
        }
        FieldsMode::Drop => (0..relation.columns.len())
            .filter(|i| !listed.contains(i))
            .collect(),
    };
    if relation.stored && !relation.aggregated {
        keep.sort_unstable();
        relation.project(context, &keep);
        // Still stored rows: later stages may read the stored fields.
        relation.stored = true;
        return;
    }
    relation.project(context, &keep);
    relation.stored = false;
}

/// The result: for messages (no aggregation), `_messagetime` then the fields the query made
/// (or `_raw` when it made none), newest first unless sorted, at most `max_raw_rows`; for an
/// aggregation, every field.
pub fn output(context: &Context, mut relation: Relation) -> Table {
    relation.materialize_raw(context);
    let ordered = !relation.order.is_empty();
    if relation.aggregated {
        return Table {
            columns: relation.names(),
            rows: relation.rows.into_iter().map(|r| r.values).collect(),
            ordered,
        };
    }
    let exact = |name: &str| relation.columns.iter().position(|c| c.name == name);
    let made: Vec<usize> = (0..relation.columns.len())
        .filter(|i| !METADATA.contains(&relation.columns[*i].name.as_str()))
        .collect();
    let time_column = exact("_messagetime");
    let raw_column = exact("_raw");
    let mut rows: Vec<(Value, Vec<Value>)> = relation
        .rows
        .iter()
        .map(|row| {
            let time = match (time_column, row.origin) {
                (Some(i), _) => row.values[i].clone(),
                (None, Some(origin)) => {
                    Value::Time(context.input[origin].record.received.timestamp_millis())
                }
                _ => Value::Null,
            };
            let mut cells = vec![time.clone()];
            if made.is_empty() {
                cells.push(match (raw_column, row.origin) {
                    (Some(i), _) => row.values[i].clone(),
                    (None, Some(origin)) => Value::Text(record::raw_json(&context.input[origin])),
                    _ => Value::Null,
                });
            }
            cells.extend(made.iter().map(|i| row.values[*i].clone()));
            (time, cells)
        })
        .collect();
    if !ordered {
        rows.sort_by(|(a, _), (b, _)| compare(b, a));
    }
    rows.truncate(context.options.max_raw_rows);
    let mut columns = vec!["_messagetime".to_string()];
    if made.is_empty() {
        columns.push("_raw".into());
    }
    columns.extend(made.iter().map(|i| relation.columns[*i].name.clone()));
    Table {
        columns,
        rows: rows.into_iter().map(|(_, cells)| cells).collect(),
        ordered,
    }
}
