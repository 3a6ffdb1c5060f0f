//! Aggregation stages on DataFusion's aggregates: `count` (of rows or of non-null values),
//! exact `count_distinct`, `sum` (0 over only nulls)/`avg`/`min`/`max`, `median` and `pct` (exact,
//! `percentile_cont`: linear interpolation between the closest ranks), `stddev` (sample),
//! `first`/`last` (`first_value`/`last_value` in message order, newest first as Sumo shows
//! messages) and `values` (`array_agg` of the distinct values, sorted bytewise, one per line).

use arrow::datatypes::DataType;
use datafusion::functions::core::expr_fn::coalesce;
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::functions_aggregate::first_last::{first_value_udaf, last_value_udaf};
use datafusion::logical_expr::expr::NullTreatment;
use datafusion::logical_expr::{Expr, ExprFunctionExt, SortExpr, cast, lit, when};
use mailscope_query::ir::{self, AggregateFunction};

use super::expr::null_text;
use super::functions::SortedLines;
use super::lower::{Lowering, Relation};
use super::window::{TimeOrder, order_keys};
use crate::error::Result;

impl Lowering<'_> {
    pub(super) fn aggregate(
        &mut self,
        relation: &mut Relation,
        aggregates: &[ir::Aggregate],
        by: &[String],
    ) -> Result<()> {
        let mut groups = Vec::new();
        let mut names = Vec::new();
        for field in by {
            let expr = match relation.resolve(field) {
                Some(column) => Relation::column(&column),
                None => {
                    self.warnings.push(format!(
                        "field '{field}' does not exist; all rows are grouped under null"
                    ));
                    null_text()
                }
            };
            let name = relation.resolve(field).unwrap_or_else(|| field.clone());
            groups.push(expr.alias(&name));
            names.push(name);
        }
        // `first`/`last` follow the rows' order: the last sort, else newest message first;
        // then every other field breaks ties (the recipients of one message share its time),
        // so every path picks the same value.
        let mut keys: Vec<(String, bool)> = Vec::new();
        if relation.order.is_empty()
            && let Some(time) = relation.resolve("_messagetime")
        {
            // Newest message first, also within a timeslice.
            keys.push((time, true));
        }
        for key in order_keys(relation, TimeOrder::Descending) {
            if !keys.iter().any(|(field, _)| *field == key.0) {
                keys.push(key);
            }
        }
        let order: Vec<SortExpr> = keys
            .into_iter()
            .map(|(field, descending)| Relation::column(&field).sort(!descending, false))
            .collect();
        let mut exprs = Vec::new();
        for aggregate in aggregates {
            let argument = aggregate
                .argument
                .as_deref()
                .map(|a| self.expressions(relation).field(a));
            let weight = relation.weight.as_deref().map(Relation::column);
            let expr = match (&aggregate.function, weight) {
                (_, None) => self.unweighted(relation, aggregate, argument, &order)?,
                // Over partial aggregates a row stands for `weight` rows; `rollup.rs` admits
                // only the aggregations below, which this keeps exact.
                (AggregateFunction::Count, Some(w)) => {
                    let weight = match argument {
                        None => w,
                        Some(a) => when(a.is_not_null(), w).otherwise(lit(0i64))?,
                    };
                    coalesce(vec![agg::sum(weight), lit(0i64)])
                }
                (
                    AggregateFunction::CountDistinct
                    | AggregateFunction::Sum
                    | AggregateFunction::Min
                    | AggregateFunction::Max,
                    Some(_),
                ) => self.unweighted(relation, aggregate, argument, &order)?,
                (function, Some(_)) => {
                    return Err(crate::error::Error::Query(format!(
                        "internal: {function:?} over partial aggregates"
                    )));
                }
            };
            exprs.push(expr.alias(&aggregate.alias));
            names.push(aggregate.alias.clone());
        }
        relation.builder = relation.builder.clone().aggregate(groups, exprs)?;

        // A sum over only nulls is 0, not null: a status missing from a transposed row counts
        // 0 (the original app's Top 10 Message Status Count by Sender adds such sums up).
        let sums: Vec<&str> = aggregates
            .iter()
            .filter(|a| a.function == AggregateFunction::Sum)
            .map(|a| a.alias.as_str())
            .collect();
        if !sums.is_empty() {
            let columns = names.iter().map(|name| {
                let column = Relation::column(name);
                if sums.contains(&name.as_str()) {
                    coalesce(vec![column, lit(0i64)]).alias(name)
                } else {
                    column
                }
            });
            relation.builder = relation.builder.clone().project(columns)?;
        }
        relation.visible = names;
        relation.clear_origins();
        relation.stored = false;
        relation.aggregated = true;
        relation.order.clear();
        Ok(())
    }

    /// One aggregate over rows.
    fn unweighted(
        &mut self,
        relation: &Relation,
        aggregate: &ir::Aggregate,
        argument: Option<Expr>,
        order: &[SortExpr],
    ) -> Result<Expr> {
        let numeric = |lowering: &mut Self, e: Expr| lowering.expressions(relation).numeric(e);
        let float = |lowering: &mut Self, e: Expr| cast(numeric(lowering, e), DataType::Float64);
        Ok(match (&aggregate.function, argument) {
            (AggregateFunction::Count, None) => agg::count(lit(1i64)),
            (AggregateFunction::Count, Some(a)) => agg::count(a),
            (AggregateFunction::CountDistinct, Some(a)) => agg::count_distinct(a),
            (AggregateFunction::Sum, Some(a)) => agg::sum(numeric(self, a)),
            (AggregateFunction::Avg, Some(a)) => agg::avg(float(self, a)),
            (AggregateFunction::Min, Some(a)) => agg::min(numeric(self, a)),
            (AggregateFunction::Max, Some(a)) => agg::max(numeric(self, a)),
            (AggregateFunction::Median, Some(a)) => agg::median(float(self, a)),
            (AggregateFunction::Stddev, Some(a)) => agg::stddev(float(self, a)),
            (AggregateFunction::Percentile(p), Some(a)) => {
                agg::percentile_cont(float(self, a).sort(true, false), lit(p / 100.0))
            }
            (AggregateFunction::First | AggregateFunction::Last, Some(a)) => {
                let udaf = if aggregate.function == AggregateFunction::First {
                    first_value_udaf()
                } else {
                    last_value_udaf()
                };
                udaf.call(vec![a])
                    .order_by(order.to_vec())
                    .null_treatment(NullTreatment::IgnoreNulls)
                    .build()?
            }
            (AggregateFunction::Values, Some(a)) => {
                // `array_agg(DISTINCT …)` needs no ordering, so it combines with
                // `first`/`last` in one stage; the list is sorted and joined after.
                let distinct = agg::array_agg(cast(a, DataType::Utf8)).distinct().build()?;
                SortedLines::udf().call(vec![distinct])
            }
            (_, None) => null_text(),
        })
    }
}
