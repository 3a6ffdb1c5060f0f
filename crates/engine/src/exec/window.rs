//! Operators over ordered rows, on DataFusion window functions: `accum` (running `sum`),
//! `total` (`sum` over the partition), `topk` and `dedup` (`row_number`), `outlier`
//! (`avg`/`stddev`/`count` over the previous `window` rows, then `sum` over the last
//! `consecutive` indicators).
//!
//! Row order: the keys of the last `sort` (or `top`, `topk`, `count_frequent`, `transpose`)
//! when there is one; otherwise time order (`_timeslice`, else `_messagetime`), with every
//! other visible field as a tie-breaker so that results are deterministic.

use arrow::datatypes::DataType;
use datafusion::common::{Column, ScalarValue};
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::stddev::stddev_udaf;
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, SortExpr, WindowFrame, WindowFrameBound, WindowFrameUnits, cast,
    is_true, lit, when,
};
use mailscope_query::ir::OutlierDirection;

use super::lower::{Lowering, Relation};
use crate::error::Result;

/// How rows are ordered when no `sort` said so.
#[derive(Clone, Copy, PartialEq)]
pub enum TimeOrder {
    Ascending,
    /// Newest first, Sumo's order of messages.
    Descending,
}

/// The sort keys of the relation's current order (see the module documentation), as field
/// names with a descending flag.
pub fn order_keys(relation: &Relation, time: TimeOrder) -> Vec<(String, bool)> {
    let mut keys: Vec<(String, bool)> = relation
        .order
        .iter()
        .filter_map(|k| relation.resolve(&k.field).map(|f| (f, k.descending)))
        .collect();
    if keys.is_empty() {
        let time_field = relation
            .resolve("_timeslice")
            .or_else(|| relation.resolve("_messagetime"));
        if let Some(field) = time_field {
            keys.push((field, time == TimeOrder::Descending));
        }
    }
    let schema = relation.builder.schema();
    for field in &relation.visible {
        let sortable = schema
            .field_with_unqualified_name(field)
            .is_ok_and(|f| sortable(f.data_type()));
        if field != "_raw" && sortable && !keys.iter().any(|(k, _)| k == field) {
            keys.push((field.clone(), false));
        }
    }
    keys
}

/// Whether a column of this type can be a sort key (lists and structs cannot break ties).
fn sortable(data_type: &DataType) -> bool {
    data_type.is_primitive()
        || matches!(
            data_type,
            DataType::Boolean
                | DataType::Utf8
                | DataType::Utf8View
                | DataType::LargeUtf8
                | DataType::Timestamp(_, _)
                | DataType::Dictionary(_, _)
        )
}

pub fn sort_exprs(keys: &[(String, bool)]) -> Vec<SortExpr> {
    keys.iter()
        .map(|(field, descending)| Relation::column(field).sort(!descending, false))
        .collect()
}

fn rows_frame(start: WindowFrameBound, end: WindowFrameBound) -> WindowFrame {
    WindowFrame::new_bounds(WindowFrameUnits::Rows, start, end)
}

fn preceding(rows: Option<u64>) -> WindowFrameBound {
    WindowFrameBound::Preceding(ScalarValue::UInt64(rows))
}

fn aggregate_window(
    function: std::sync::Arc<datafusion::logical_expr::AggregateUDF>,
    argument: Expr,
    partition: Vec<Expr>,
    order: Vec<SortExpr>,
    frame: WindowFrame,
) -> Result<Expr> {
    Ok(
        Expr::WindowFunction(Box::new(WindowFunction::new(function, vec![argument])))
            .partition_by(partition)
            .order_by(order)
            .window_frame(frame)
            .build()?,
    )
}

/// The `by` fields that exist (a missing one is reported and ignored).
fn partition(lowering: &mut Lowering, relation: &Relation, by: &[String]) -> Vec<Expr> {
    by.iter()
        .filter_map(|field| match relation.resolve(field) {
            Some(column) => Some(Relation::column(&column)),
            None => {
                lowering
                    .warnings
                    .push(format!("field '{field}' does not exist; not grouped by it"));
                None
            }
        })
        .collect()
}

/// Adds window expressions as the named fields, dropping DataFusion's own window columns.
/// Those columns are the last ones of the window plan, in the order given, and are read
/// from its schema: their names are those of the expressions as resolved against the input
/// (with any qualifier of its columns), not necessarily those of the expressions as built.
fn add_windows(relation: &mut Relation, windows: Vec<(String, Expr)>) -> Result<()> {
    let exprs: Vec<Expr> = windows.iter().map(|(_, w)| w.clone()).collect();
    relation.builder = relation.builder.clone().window(exprs)?;
    let schema = relation.schema();
    let first = schema.fields().len() - windows.len();
    let mut internal = Vec::new();
    let mut assignments = Vec::new();
    for (index, (name, _)) in windows.into_iter().enumerate() {
        let column = Column::from(schema.qualified_field(first + index));
        internal.push(column.name.clone());
        assignments.push((name, Expr::Column(column)));
    }
    relation.assign_except(assignments, &internal)
}

fn resort(relation: &mut Relation, keys: &[(String, bool)]) -> Result<()> {
    let exprs = sort_exprs(keys);
    if !exprs.is_empty() {
        relation.builder = relation.builder.clone().sort(exprs)?;
    }
    Ok(())
}

impl Lowering<'_> {
    /// `accum f [as a] [by g]`: `sum(f) over (partition by g order by … rows between
    /// unbounded preceding and current row)`.
    pub fn accumulate(
        &mut self,
        relation: &mut Relation,
        field: &str,
        alias: &str,
        by: &[String],
    ) -> Result<()> {
        let value = self.numeric_field(relation, field);
        let keys = order_keys(relation, TimeOrder::Ascending);
        let partition = partition(self, relation, by);
        let frame = rows_frame(preceding(None), WindowFrameBound::CurrentRow);
        let window = aggregate_window(sum_udaf(), value, partition, sort_exprs(&keys), frame)?;
        add_windows(relation, vec![(alias.to_string(), window)])?;
        resort(relation, &keys)?;
        relation.set_order(keys);
        Ok(())
    }

    /// `total f [as a] [by g]`: `sum(f) over (partition by g)`.
    pub fn total(
        &mut self,
        relation: &mut Relation,
        field: &str,
        alias: &str,
        by: &[String],
    ) -> Result<()> {
        let value = self.numeric_field(relation, field);
        let known_order = !relation.order.is_empty();
        let keys = order_keys(relation, TimeOrder::Ascending);
        let partition = partition(self, relation, by);
        let frame = rows_frame(
            preceding(None),
            WindowFrameBound::Following(ScalarValue::UInt64(None)),
        );
        let window = aggregate_window(sum_udaf(), value, partition, vec![], frame)?;
        add_windows(relation, vec![(alias.to_string(), window)])?;
        if known_order {
            resort(relation, &keys)?;
        }
        Ok(())
    }

    /// `topk(N, f1, f2) [by g]`: `row_number() over (partition by g order by f1 desc, …)` as
    /// `_rank`, kept while at most N; the result is ordered by the groups, then the rank.
    pub fn topk(
        &mut self,
        relation: &mut Relation,
        limit: u64,
        fields: &[String],
        by: &[String],
    ) -> Result<()> {
        let mut order: Vec<SortExpr> = fields
            .iter()
            .map(|f| self.numeric_field(relation, f).sort(false, false))
            .collect();
        let ranked: Vec<String> = fields.iter().filter_map(|f| relation.resolve(f)).collect();
        let ties: Vec<(String, bool)> = order_keys(relation, TimeOrder::Descending)
            .into_iter()
            .filter(|(f, _)| !ranked.contains(f))
            .collect();
        order.extend(sort_exprs(&ties));
        let partition = partition(self, relation, by);
        let rank = row_number()
            .partition_by(partition)
            .order_by(order)
            .build()?;
        add_windows(relation, vec![("_rank".to_string(), rank)])?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        relation.builder = relation
            .builder
            .clone()
            .filter(Relation::column("_rank").lt_eq(lit(limit)))?;
        let mut keys: Vec<(String, bool)> = by
            .iter()
            .filter_map(|g| relation.resolve(g))
            .map(|g| (g, false))
            .collect();
        keys.push(("_rank".to_string(), false));
        resort(relation, &keys)?;
        relation.set_order(keys);
        Ok(())
    }

    /// `dedup [N] [by f]`: the first N rows of each key in the current order (newest first
    /// for messages); without `by`, rows equal in every field.
    pub fn dedup(&mut self, relation: &mut Relation, limit: u64, by: &[String]) -> Result<()> {
        let keys = order_keys(relation, TimeOrder::Descending);
        let partition = if by.is_empty() {
            relation
                .visible
                .iter()
                .map(|v| Relation::column(v))
                .collect()
        } else {
            partition(self, relation, by)
        };
        let number = row_number()
            .partition_by(partition)
            .order_by(sort_exprs(&keys))
            .build()?;
        let name = "__dedup_row".to_string();
        add_windows(relation, vec![(name.clone(), number)])?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        relation.builder = relation
            .builder
            .clone()
            .filter(Relation::column(&name).lt_eq(lit(limit)))?;
        relation.drop_field(&name)?;
        resort(relation, &keys)?;
        relation.set_order(keys);
        Ok(())
    }

    /// `outlier f [by d] window=W threshold=T consecutive=C direction=…`. Per group, in time
    /// order: `mean` and `sd` (sample standard deviation) of the previous W values of f;
    /// once W values precede a row, `f_error = f - mean`, `f_lower = mean - T·sd`,
    /// `f_upper = mean + T·sd`; `f_indicator` is 1 when f is beyond the band on the chosen
    /// side, and `f_violation` 1 when the last C indicators (this one included) are all 1.
    /// Before a full window the band and error are null and both flags 0.
    #[allow(clippy::too_many_arguments)]
    pub fn outlier(
        &mut self,
        relation: &mut Relation,
        field: &str,
        by: &[String],
        window: u32,
        threshold: f64,
        consecutive: u32,
        direction: OutlierDirection,
    ) -> Result<()> {
        let name = relation.resolve(field).unwrap_or_else(|| field.to_string());
        let value = cast(self.numeric_field(relation, field), DataType::Float64);
        let keys = order_keys(relation, TimeOrder::Ascending);
        let order = sort_exprs(&keys);
        let groups = partition(self, relation, by);
        let prior = rows_frame(preceding(Some(u64::from(window))), preceding(Some(1)));
        let statistic = |function| {
            aggregate_window(
                function,
                value.clone(),
                groups.clone(),
                order.clone(),
                prior.clone(),
            )
        };
        let (mean, sd, count) = ("__outlier_mean", "__outlier_sd", "__outlier_n");
        add_windows(
            relation,
            vec![
                (mean.to_string(), statistic(avg_udaf())?),
                (sd.to_string(), statistic(stddev_udaf())?),
                (count.to_string(), statistic(count_udaf())?),
            ],
        )?;
        let value = cast(self.numeric_field(relation, &name), DataType::Float64);
        let full = Relation::column(count).eq(lit(i64::from(window)));
        let band = |e: Expr| -> Result<Expr> {
            Ok(when(full.clone(), e).otherwise(lit(ScalarValue::Float64(None)))?)
        };
        let (mean_col, sd_col) = (Relation::column(mean), Relation::column(sd));
        let lower = mean_col.clone() - lit(threshold) * sd_col.clone();
        let upper = mean_col.clone() + lit(threshold) * sd_col;
        let above = is_true(value.clone().gt(upper.clone()));
        let below = is_true(value.clone().lt(lower.clone()));
        let outside = match direction {
            OutlierDirection::Both => above.or(below),
            OutlierDirection::Above => above,
            OutlierDirection::Below => below,
        };
        let indicator_name = format!("{name}_indicator");
        let indicator = when(is_true(full.clone()).and(outside), lit(1i64)).otherwise(lit(0i64))?;
        relation.assign(vec![
            (format!("{name}_error"), band(value - mean_col)?),
            (format!("{name}_lower"), band(lower)?),
            (format!("{name}_upper"), band(upper)?),
            (indicator_name.clone(), indicator),
        ])?;
        for hidden in [mean, sd, count] {
            relation.drop_field(hidden)?;
        }
        let run = aggregate_window(
            sum_udaf(),
            Relation::column(&indicator_name),
            groups,
            order,
            rows_frame(
                preceding(Some(u64::from(consecutive.saturating_sub(1)))),
                WindowFrameBound::CurrentRow,
            ),
        )?;
        let run_name = "__outlier_run".to_string();
        add_windows(relation, vec![(run_name.clone(), run)])?;
        let violation = when(
            Relation::column(&indicator_name)
                .eq(lit(1i64))
                .and(Relation::column(&run_name).eq(lit(i64::from(consecutive)))),
            lit(1i64),
        )
        .otherwise(lit(0i64))?;
        relation.assign(vec![(format!("{name}_violation"), violation)])?;
        relation.drop_field(&run_name)?;
        resort(relation, &keys)?;
        relation.set_order(keys);
        Ok(())
    }

    /// A field as a number (text parsed, non-numbers null); a missing field is null.
    fn numeric_field(&mut self, relation: &Relation, field: &str) -> Expr {
        let mut expressions = self.expressions(relation);
        let value = expressions.field(field);
        expressions.numeric(value)
    }
}
