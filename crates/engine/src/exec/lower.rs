//! Lowering of relational stages to a DataFusion `LogicalPlanBuilder`.
//!
//! A [`Relation`] is the plan so far plus what the query can see: the fields created by its
//! stages, in creation order. The store's columns ride along under hidden `$` names until
//! the first aggregation, so `json "Status"` is a column read (never a JSON parse) and a geo
//! lookup on `FromIP` reads the geo columns stored at ingest.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Column, DFSchema, ScalarValue, UnnestOptions};
use datafusion::datasource::provider_as_source;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, SortExpr, cast, lit, try_cast, when};
use mailscope_query::ir::{self, AggregateFunction, LookupTable, StageKind};

use super::threat::{self, Selection, ThreatField, ThreatMatch};

use super::QueryOptions;
use super::expr::{ExprLowering, null_text};
use super::functions::{RegexMatchesAll, SplitColumn};
use super::time;
use super::udf::{GeoLookup, JsonPath, RegexCapture, RegexMatches, Timeslice};
use super::window::{TimeOrder, order_keys};
use crate::error::{Error, Result};
use crate::schema::{self, IpSide, RECORD_FIELDS};

/// Fields every row has before any stage: Sumo's metadata.
pub const METADATA_FIELDS: [&str; 6] = [
    "_messagetime",
    "_receipttime",
    "_sourceCategory",
    "_source",
    "_collector",
    "_raw",
];

pub fn hidden(stored: &str) -> String {
    format!("${stored}")
}

pub struct Relation {
    pub builder: LogicalPlanBuilder,
    /// Fields the query can see, in creation order.
    pub visible: Vec<String>,
    /// Visible fields that are plain copies of a stored column (lower-cased name -> column).
    origins: HashMap<String, &'static str>,
    /// Whether the hidden stored columns are still in the plan.
    pub stored: bool,
    pub aggregated: bool,
    /// The keys the rows are sorted by (the last `sort`, `top`, `topk`, …); empty when the
    /// order is unspecified.
    pub order: Vec<ir::SortKey>,
    /// The hidden column counting the rows each row stands for, when the input mixes rows
    /// and partial aggregates (`rollup.rs`); the aggregation adds weights instead of counting.
    pub weight: Option<String>,
    /// Whether a stage assigned `_raw`: until one does, `_raw` is the stored row as JSON,
    /// which the final shape computes only for the rows it keeps.
    pub raw_assigned: bool,
}

impl Relation {
    /// A relation over the store's rows (already filtered by time and scope).
    pub fn stored(builder: LogicalPlanBuilder) -> Relation {
        Relation {
            builder,
            visible: METADATA_FIELDS.iter().map(|s| s.to_string()).collect(),
            origins: HashMap::new(),
            stored: true,
            aggregated: false,
            order: Vec::new(),
            weight: None,
            raw_assigned: false,
        }
    }

    /// A relation over an in-memory result: every column visible.
    pub fn materialized(builder: LogicalPlanBuilder) -> Relation {
        let visible: Vec<String> = builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        Relation {
            builder,
            visible,
            origins: HashMap::new(),
            stored: false,
            aggregated: true,
            order: Vec::new(),
            weight: None,
            raw_assigned: false,
        }
    }

    pub fn schema(&self) -> &DFSchema {
        self.builder.schema()
    }

    pub fn column(name: &str) -> Expr {
        Expr::Column(Column::new_unqualified(name))
    }

    /// Field names are case-insensitive, as in Sumo; an exact match wins.
    pub fn resolve(&self, name: &str) -> Option<String> {
        self.visible
            .iter()
            .find(|v| *v == name)
            .or_else(|| self.visible.iter().find(|v| v.eq_ignore_ascii_case(name)))
            .cloned()
    }

    fn origin(&self, name: &str) -> Option<&'static str> {
        let resolved = self.resolve(name)?;
        self.origins.get(&resolved.to_ascii_lowercase()).copied()
    }

    /// Adds (or overwrites, case-insensitively) fields, keeping every other column.
    pub fn assign(&mut self, assignments: Vec<(String, Expr)>) -> Result<()> {
        self.assign_except(assignments, &[])
    }

    /// Like [`Relation::assign`], also dropping the (hidden) columns `drop`.
    pub fn assign_except(
        &mut self,
        assignments: Vec<(String, Expr)>,
        drop: &[String],
    ) -> Result<()> {
        let replaced: Vec<String> = assignments
            .iter()
            .filter_map(|(name, _)| self.resolve(name))
            .collect();
        let mut exprs: Vec<Expr> = self
            .schema()
            .fields()
            .iter()
            .map(|f| f.name())
            .filter(|n| {
                !replaced.contains(n)
                    && !drop.contains(n)
                    && !assignments.iter().any(|(a, _)| a == *n)
            })
            .map(|n| Relation::column(n))
            .collect();
        for (name, expr) in &assignments {
            exprs.push(expr.clone().alias(name));
        }
        self.builder = self.builder.clone().project(exprs)?;
        self.raw_assigned |= assignments
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("_raw"));
        for name in &replaced {
            self.visible.retain(|v| v != name);
            self.origins.remove(&name.to_ascii_lowercase());
        }
        for (name, _) in assignments {
            self.visible.retain(|v| *v != name);
            self.visible.push(name);
        }
        Ok(())
    }

    /// Removes one column (visible or not), keeping every other.
    pub fn drop_field(&mut self, name: &str) -> Result<()> {
        let exprs: Vec<Expr> = self
            .schema()
            .fields()
            .iter()
            .map(|f| f.name())
            .filter(|n| *n != name)
            .map(|n| Relation::column(n))
            .collect();
        self.builder = self.builder.clone().project(exprs)?;
        self.visible.retain(|v| v != name);
        Ok(())
    }

    /// `json auto` over a stored row: every canonical field, read from its column.
    pub fn expose_canonical(&mut self) -> Result<()> {
        let assignments = RECORD_FIELDS
            .iter()
            .map(|field| (field.to_string(), Relation::column(&hidden(field))))
            .collect();
        self.assign(assignments)?;
        for field in RECORD_FIELDS {
            self.origins.insert(field.to_ascii_lowercase(), field);
        }
        Ok(())
    }

    pub fn clear_origins(&mut self) {
        self.origins.clear();
    }

    /// Records the order the rows are now sorted in.
    pub fn set_order(&mut self, keys: Vec<(String, bool)>) {
        self.order = keys
            .into_iter()
            .map(|(field, descending)| ir::SortKey { field, descending })
            .collect();
    }

    /// Keeps only `names` (visible fields), in that order.
    pub fn project_visible(&mut self, names: Vec<String>) -> Result<()> {
        let exprs: Vec<Expr> = names.iter().map(|n| Relation::column(n)).collect();
        self.builder = self.builder.clone().project(exprs)?;
        self.origins
            .retain(|k, _| names.iter().any(|n| n.eq_ignore_ascii_case(k)));
        self.visible = names;
        self.stored = false;
        Ok(())
    }
}

pub struct Lowering<'a> {
    pub options: &'a QueryOptions,
    pub warnings: Vec<String>,
    pub now_ms: i64,
}

impl Lowering<'_> {
    pub(super) fn expressions<'r>(&'r mut self, relation: &'r Relation) -> ExprLowering<'r> {
        ExprLowering {
            relation,
            warnings: &mut self.warnings,
            now_ms: self.now_ms,
            time_zone: self.options.time_zone,
        }
    }

    fn range_start_ms(&self) -> i64 {
        self.options.from.timestamp_millis()
    }

    fn range_end_ms(&self) -> i64 {
        self.options.to.timestamp_millis()
    }

    /// Lowers one relational stage.
    pub fn stage(&mut self, relation: &mut Relation, stage: &ir::Stage) -> Result<()> {
        match &stage.kind {
            StageKind::Json {
                source,
                extractions,
                nodrop,
            } => self.json(relation, source.as_deref(), extractions, *nodrop),
            StageKind::Where(expr) => {
                let predicate = self.expressions(relation).predicate(expr)?;
                relation.builder = relation.builder.clone().filter(predicate)?;
                Ok(())
            }
            StageKind::Assign { expr, alias } => {
                let value = self.expressions(relation).lower(expr)?;
                let origin = match expr {
                    ir::Expr::Field(name) => relation.origin(name),
                    _ => None,
                };
                relation.assign(vec![(alias.clone(), value)])?;
                if let Some(origin) = origin {
                    relation.origins.insert(alias.to_ascii_lowercase(), origin);
                }
                Ok(())
            }
            StageKind::Lookup {
                table,
                columns,
                key_field,
            } => self.lookup(relation, table, columns, key_field),
            StageKind::Timeslice { span, alias } => {
                let span = match span {
                    ir::TimesliceSpan::Millis(ms) => *ms,
                    ir::TimesliceSpan::Buckets(n) => {
                        time::span_for_buckets(self.range_start_ms(), self.range_end_ms(), *n)
                    }
                };
                let starts = time::bucket_starts(
                    self.range_start_ms(),
                    self.range_end_ms(),
                    span,
                    self.options.time_zone,
                )
                .unwrap_or_default();
                let time = message_time(relation);
                relation.assign(vec![(
                    alias.clone(),
                    Timeslice::udf(starts, span).call(vec![time]),
                )])
            }
            StageKind::ParseRegex {
                source,
                regex,
                groups,
                nodrop,
                multi,
            } => self.parse_regex(relation, source.as_deref(), regex, groups, *nodrop, *multi),
            StageKind::Parse {
                source,
                anchors,
                aliases,
                nodrop,
            } => {
                let regex = anchor_regex(anchors, aliases);
                self.parse_regex(relation, source.as_deref(), &regex, aliases, *nodrop, false)
            }
            StageKind::Aggregate { aggregates, by } => self.aggregate(relation, aggregates, by),
            StageKind::CountFrequent { fields } => {
                let count = ir::Aggregate {
                    function: AggregateFunction::Count,
                    argument: None,
                    alias: "_approxcount".into(),
                };
                self.aggregate(relation, &[count], fields)?;
                sort(
                    relation,
                    &[ir::SortKey {
                        field: "_approxcount".into(),
                        descending: true,
                    }],
                    &mut self.warnings,
                )
            }
            StageKind::Sort { keys } => sort(relation, keys, &mut self.warnings),
            StageKind::Top { limit, fields, by } => {
                let key = match by {
                    Some(key) => key.clone(),
                    None => {
                        let count = ir::Aggregate {
                            function: AggregateFunction::Count,
                            argument: None,
                            alias: "_count".into(),
                        };
                        self.aggregate(relation, &[count], fields)?;
                        ir::SortKey {
                            field: "_count".into(),
                            descending: true,
                        }
                    }
                };
                sort(relation, std::slice::from_ref(&key), &mut self.warnings)?;
                relation.builder = relation
                    .builder
                    .clone()
                    .limit(0, Some(usize::try_from(*limit).unwrap_or(usize::MAX)))?;
                let mut keep: Vec<String> =
                    fields.iter().filter_map(|f| relation.resolve(f)).collect();
                if let Some(field) = relation.resolve(&key.field).filter(|f| !keep.contains(f)) {
                    keep.push(field);
                }
                relation.project_visible(keep)?;
                // A table of the fields and the key, not messages (over messages with `by`,
                // `_messagetime` is gone: the output must not ask for it).
                relation.aggregated = true;
                Ok(())
            }
            StageKind::Limit(n) => {
                relation.builder = relation
                    .builder
                    .clone()
                    .limit(0, Some(usize::try_from(*n).unwrap_or(usize::MAX)))?;
                Ok(())
            }
            StageKind::Fields { mode, names } => {
                let listed: Vec<String> =
                    names.iter().filter_map(|n| relation.resolve(n)).collect();
                let keep = match mode {
                    ir::FieldsMode::Keep => {
                        let mut keep = listed.clone();
                        keep.extend(
                            relation
                                .visible
                                .iter()
                                .filter(|v| {
                                    v.starts_with('_')
                                        && !listed.contains(v)
                                        && (relation.aggregated || *v == "_messagetime")
                                })
                                .cloned(),
                        );
                        keep
                    }
                    ir::FieldsMode::Drop => relation
                        .visible
                        .iter()
                        .filter(|v| !listed.contains(v))
                        .cloned()
                        .collect(),
                };
                let stored = relation.stored;
                if stored && !relation.aggregated {
                    // Keep the hidden columns (later stages may still read them).
                    let drop: Vec<String> = relation
                        .visible
                        .iter()
                        .filter(|v| !keep.contains(v))
                        .cloned()
                        .collect();
                    relation.visible.retain(|v| !drop.contains(v));
                    return Ok(());
                }
                relation.project_visible(keep)
            }
            StageKind::Outlier {
                field,
                by,
                window,
                threshold,
                consecutive,
                direction,
            } => self.outlier(
                relation,
                field,
                by,
                *window,
                *threshold,
                *consecutive,
                *direction,
            ),
            StageKind::Dedup { limit, by } => self.dedup(relation, *limit, by),
            StageKind::TopK { limit, fields, by } => self.topk(relation, *limit, fields, by),
            StageKind::Accumulate { field, alias, by } => {
                self.accumulate(relation, field, alias, by)
            }
            StageKind::Total { field, alias, by } => self.total(relation, field, alias, by),
            StageKind::Split {
                source,
                delimiter,
                quote,
                escape,
                columns,
            } => {
                let input = self.expressions(relation).field(source);
                let assignments = columns
                    .iter()
                    .map(|c| {
                        let udf = SplitColumn::udf(*delimiter, *quote, *escape, c.index);
                        (c.alias.clone(), udf.call(vec![input.clone()]))
                    })
                    .collect();
                relation.assign(assignments)
            }
            StageKind::ThreatLookup {
                fields,
                single_indicator,
                source,
                include,
            } => self.threatlookup(
                relation,
                fields,
                *single_indicator,
                source.as_deref(),
                *include,
            ),
            StageKind::JsonAuto { .. }
            | StageKind::FillMissing { .. }
            | StageKind::Transpose { .. } => Err(Error::Query(format!(
                "{} runs between plans, not in one",
                operator_name(&stage.kind)
            ))),
        }
    }

    fn json(
        &mut self,
        relation: &mut Relation,
        source: Option<&str>,
        extractions: &[ir::JsonExtraction],
        nodrop: bool,
    ) -> Result<()> {
        let from_raw = source.is_none_or(|s| s.eq_ignore_ascii_case("_raw"));
        let mut assignments = Vec::new();
        let mut origins = Vec::new();
        let mut required = Vec::new();
        for extraction in extractions {
            let canonical = match extraction.path.steps.as_slice() {
                [ir::JsonStep::Key(key)] if from_raw && relation.stored => {
                    RECORD_FIELDS.iter().find(|f| *f == key).copied()
                }
                _ => None,
            };
            let value = match canonical {
                // The canonical record always has every key (possibly null): a column read.
                Some(field) => {
                    origins.push((extraction.alias.to_ascii_lowercase(), field));
                    Relation::column(&hidden(field))
                }
                None => {
                    let input = match source {
                        Some(field) => self.expressions(relation).field(field),
                        None => self.expressions(relation).field("_raw"),
                    };
                    let value = JsonPath::udf(&extraction.path).call(vec![input]);
                    required.push(value.clone());
                    value
                }
            };
            assignments.push((extraction.alias.clone(), value));
        }
        relation.assign(assignments)?;
        for (alias, field) in origins {
            relation.origins.insert(alias, field);
        }
        if !nodrop {
            // Without nodrop a row missing a (non-canonical) key is dropped.
            for value in required {
                relation.builder = relation.builder.clone().filter(value.is_not_null())?;
            }
        }
        Ok(())
    }

    fn lookup(
        &mut self,
        relation: &mut Relation,
        table: &LookupTable,
        columns: &[ir::LookupColumn],
        key_field: &str,
    ) -> Result<()> {
        let key = self.expressions(relation).field(key_field);
        if matches!(table, LookupTable::Threat) {
            return self.threat_lookup(relation, columns, key);
        }
        let side = relation
            .origin(key_field)
            .and_then(IpSide::of_column)
            .filter(|_| relation.stored);
        // The geolocation columns asked for come from one lookup of the address, held in a
        // struct column while they are read out of it.
        let holder = "__geo_lookup".to_string();
        let mut located: Vec<String> = Vec::new();
        if matches!(table, LookupTable::Geo) {
            for column in columns {
                let name = column.column.to_ascii_lowercase();
                if crate::geo::GEO_COLUMNS.contains(&name.as_str()) && !located.contains(&name) {
                    located.push(name);
                }
            }
        }
        if !located.is_empty() {
            let at_query_time =
                GeoLookup::udf(self.options.geo.clone(), located.clone()).call(vec![key.clone()]);
            let value = match side {
                // Rows enriched at ingest read the stored columns; only older rows (no
                // database then) are looked up now.
                Some(_) => when(
                    Relation::column(&hidden(schema::GEO_VERSION)).is_null(),
                    at_query_time,
                )
                .end()?,
                None => at_query_time,
            };
            relation.assign(vec![(holder.clone(), value)])?;
        }
        let mut assignments = Vec::new();
        for column in columns {
            let name = column.column.to_ascii_lowercase();
            let value = match table {
                LookupTable::Geo => {
                    let known = crate::geo::GEO_COLUMNS.contains(&name.as_str());
                    if crate::geo::ASN_COLUMNS.contains(&name.as_str()) {
                        // `geoip ip asn, as_org`: the extra columns come from the ASN data.
                        crate::geo::asn_column(&self.options.asn, &name, &key, &mut self.warnings)
                    } else if !known {
                        self.warnings.push(format!(
                            "geo lookup has no column '{}'; it is null",
                            column.column
                        ));
                        null_text()
                    } else {
                        let at_query_time = get_field(Relation::column(&holder), name.as_str());
                        match side {
                            Some(side) => when(
                                Relation::column(&hidden(schema::GEO_VERSION)).is_not_null(),
                                Relation::column(&hidden(&schema::geo_column(side, &name))),
                            )
                            .otherwise(at_query_time)?,
                            None => at_query_time,
                        }
                    }
                }
                LookupTable::Threat => unreachable!("answered by threat_lookup"),
                LookupTable::Asn => {
                    if crate::geo::ASN_COLUMNS.contains(&name.as_str()) {
                        crate::geo::asn_column(&self.options.asn, &name, &key, &mut self.warnings)
                    } else {
                        self.warnings.push(format!(
                            "asn lookup has no column '{}'; it is null",
                            column.column
                        ));
                        null_text()
                    }
                }
                LookupTable::Other(path) => {
                    return Err(Error::Query(format!("unknown lookup table '{path}'")));
                }
            };
            assignments.push((column.alias.clone(), value));
        }
        relation.assign(assignments)?;
        if located.is_empty() {
            return Ok(());
        }
        relation.drop_field(&holder)
    }

    /// `lookup … from sumo://threat/cs on threat=f` and `threatip f`: the best live indicator
    /// matching the key, one struct per row, read into the requested columns.
    fn threat_lookup(
        &mut self,
        relation: &mut Relation,
        columns: &[ir::LookupColumn],
        key: Expr,
    ) -> Result<()> {
        let resolved: Vec<(&ir::LookupColumn, Option<ThreatField>)> = columns
            .iter()
            .map(|c| (c, ThreatField::for_lookup(&c.column.to_ascii_lowercase())))
            .collect();
        for (column, _) in resolved.iter().filter(|(_, field)| field.is_none()) {
            self.warnings.push(format!(
                "the threat table has no column '{}'; it is null",
                column.column
            ));
        }
        let fields = resolved.iter().filter_map(|(_, field)| *field).collect();
        self.warn_without_threat_data();
        let matched = ThreatMatch::udf(
            self.options.threat.clone(),
            self.now(),
            fields,
            Selection::best(),
            1,
        )
        .call(vec![key]);
        let holder = "__threat_match".to_string();
        relation.assign(vec![(holder.clone(), matched)])?;
        let assignments = resolved
            .iter()
            .map(|(column, field)| {
                let value = match field {
                    Some(field) => {
                        get_field(Relation::column(&holder), threat::struct_field(*field))
                    }
                    None => null_text(),
                };
                (column.alias.clone(), value)
            })
            .collect();
        relation.assign(assignments)?;
        relation.drop_field(&holder)
    }

    /// `threatlookup [singleIndicator] [source=…] [include=…] f1, f2`: `_threatlookup.*`
    /// fields of the matching indicators; one row per matching feed entry (or the best one
    /// with `singleIndicator`), and one row with null fields when nothing matches.
    fn threatlookup(
        &mut self,
        relation: &mut Relation,
        keys: &[String],
        single_indicator: bool,
        source: Option<&str>,
        include: ir::ThreatInclude,
    ) -> Result<()> {
        self.warn_without_threat_data();
        let inputs: Vec<Expr> = keys
            .iter()
            .map(|k| self.expressions(relation).field(k))
            .collect();
        let fields: Vec<ThreatField> = ThreatField::THREATLOOKUP.iter().map(|(_, f)| *f).collect();
        let selection = Selection {
            source: source.map(str::to_owned),
            include,
            all: !single_indicator,
        };
        let matched = ThreatMatch::udf(
            self.options.threat.clone(),
            self.now(),
            fields,
            selection,
            inputs.len(),
        )
        .call(inputs);
        let holder = "__threatlookup".to_string();
        relation.assign(vec![(holder.clone(), matched)])?;
        if !single_indicator {
            let options = UnnestOptions::new().with_preserve_nulls(true);
            relation.builder = relation
                .builder
                .clone()
                .unnest_column_with_options(Column::new_unqualified(holder.as_str()), options)?;
        }
        let assignments = ThreatField::THREATLOOKUP
            .iter()
            .map(|(name, field)| {
                (
                    format!("_threatlookup.{name}"),
                    get_field(Relation::column(&holder), threat::struct_field(*field)),
                )
            })
            .collect();
        relation.assign(assignments)?;
        relation.drop_field(&holder)
    }

    fn warn_without_threat_data(&mut self) {
        let message = match &self.options.threat {
            None => "no threat intelligence feed is configured; threat fields are null",
            Some(index) if index.is_empty() => {
                "the threat intelligence feeds hold no indicators yet; threat fields are null"
            }
            Some(_) => return,
        };
        if !self.warnings.iter().any(|w| w == message) {
            self.warnings.push(message.into());
        }
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.now_ms).unwrap_or_else(chrono::Utc::now)
    }

    fn parse_regex(
        &mut self,
        relation: &mut Relation,
        source: Option<&str>,
        regex: &str,
        groups: &[String],
        nodrop: bool,
        multi: bool,
    ) -> Result<()> {
        let input = self.expressions(relation).field(source.unwrap_or("_raw"));
        let input = self.expressions(relation).text(input);
        if multi {
            // One row per match: a list of structs of the groups, unnested, then one field
            // per group. No match gives a null list, which `nodrop` keeps as one row.
            let list_name = "__multi_matches".to_string();
            let list = RegexMatchesAll::udf(regex, groups)?.call(vec![input]);
            relation.assign(vec![(list_name.clone(), list)])?;
            if !nodrop {
                relation.builder = relation
                    .builder
                    .clone()
                    .filter(Relation::column(&list_name).is_not_null())?;
            }
            let options = UnnestOptions::new().with_preserve_nulls(true);
            relation.builder = relation
                .builder
                .clone()
                .unnest_column_with_options(Column::new_unqualified(list_name.as_str()), options)?;
            let assignments = groups
                .iter()
                .map(|g| {
                    (
                        g.clone(),
                        get_field(Relation::column(&list_name), g.as_str()),
                    )
                })
                .collect();
            relation.assign(assignments)?;
            relation.drop_field(&list_name)?;
            return Ok(());
        }
        if !nodrop {
            relation.builder = relation
                .builder
                .clone()
                .filter(RegexMatches::udf(regex)?.call(vec![input.clone()]))?;
        }
        let assignments = groups
            .iter()
            .map(|g| {
                Ok((
                    g.clone(),
                    RegexCapture::udf(regex, g, false)?.call(vec![input.clone()]),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        relation.assign(assignments)
    }
}

fn sort(relation: &mut Relation, keys: &[ir::SortKey], warnings: &mut Vec<String>) -> Result<()> {
    for key in keys.iter().filter(|k| relation.resolve(&k.field).is_none()) {
        warnings.push(format!("cannot sort by '{}': no such field", key.field));
    }
    if keys.iter().all(|k| relation.resolve(&k.field).is_none()) {
        return Ok(());
    }
    relation.order = keys.to_vec();
    // The keys, then every other visible field ascending as a tie-breaker, so the order (and
    // what a following `limit` keeps) is the same on every path and every run.
    let exprs: Vec<SortExpr> = order_keys(relation, TimeOrder::Descending)
        .into_iter()
        .map(|(field, descending)| Relation::column(&field).sort(!descending, false))
        .collect();
    relation.builder = relation.builder.clone().sort(exprs)?;
    Ok(())
}

/// `_messagetime` for timeslicing: the stored `Received` while it is there.
fn message_time(relation: &Relation) -> Expr {
    if relation.stored {
        Relation::column(&hidden(schema::RECEIVED))
    } else {
        relation
            .resolve("_messagetime")
            .map(|c| Relation::column(&c))
            .unwrap_or_else(null_text)
    }
}

/// The regex of an anchor parse: literals between lazy captures, the last capture greedy
/// when the pattern ends with `*`.
pub fn anchor_regex(anchors: &[String], aliases: &[String]) -> String {
    let mut regex = String::from("(?s)");
    for (i, anchor) in anchors.iter().enumerate() {
        regex.push_str(&regex::escape(anchor));
        if let Some(alias) = aliases.get(i) {
            let last = i + 1 == aliases.len() && anchors.get(i + 1).is_none_or(|a| a.is_empty());
            regex.push_str(&format!("(?P<{alias}>{})", if last { ".*" } else { ".*?" }));
        }
    }
    regex
}

fn operator_name(kind: &StageKind) -> &'static str {
    match kind {
        StageKind::JsonAuto { .. } => "json auto",
        StageKind::FillMissing { .. } => "fillmissing",
        StageKind::Transpose { .. } => "transpose",
        _ => "this operator",
    }
}

/// The stored columns under hidden names plus the metadata fields.
pub fn base_projection(raw: Expr) -> Vec<Expr> {
    let mut exprs: Vec<Expr> = schema::stored_schema()
        .fields()
        .iter()
        .map(|f| Relation::column(f.name()).alias(hidden(f.name())))
        .collect();
    let millis = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    exprs.push(cast(Relation::column(schema::RECEIVED), millis.clone()).alias("_messagetime"));
    exprs.push(
        cast(
            try_cast(Relation::column(schema::RECEIPT_TIME), DataType::Int64),
            millis,
        )
        .alias("_receipttime"),
    );
    for field in [schema::SOURCE_CATEGORY, schema::SOURCE, schema::COLLECTOR] {
        exprs.push(Relation::column(field).alias(field));
    }
    exprs.push(raw.alias("_raw"));
    exprs
}

pub fn time_range_filter(from_ns: i64, to_ns: i64) -> Expr {
    let received = Relation::column(schema::RECEIVED);
    received
        .clone()
        .gt_eq(timestamp_ns(from_ns))
        .and(received.lt(timestamp_ns(to_ns)))
}

/// A UTC timestamp literal, nanoseconds since the epoch (the type of `Received`).
pub fn timestamp_ns(ns: i64) -> Expr {
    lit(ScalarValue::TimestampNanosecond(
        Some(ns),
        Some("UTC".into()),
    ))
}

pub fn scan(table: Arc<dyn datafusion::catalog::TableProvider>) -> Result<LogicalPlanBuilder> {
    Ok(LogicalPlanBuilder::scan(
        "trace",
        provider_as_source(table),
        None,
    )?)
}
