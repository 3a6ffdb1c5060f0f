//! Answering aggregations from partial aggregates (`store/rollup.rs`).
//!
//! A rollup row has the stored schema and a weight, so the query's own stages run over it
//! unchanged and only the aggregation counts weights. That gives the rows' answer exactly
//! when every value the stages read before the aggregation is one a rollup row keeps:
//! [`coverage`] checks this on the query, stage by stage, and otherwise the query reads rows.
//!
//! What a rollup row keeps: the level's dimension columns; whether every other column is
//! null (enough for `x matches "*"` and `count(x)`); the sum of `Size` (enough for
//! `sum(size)`); the 15-minute bucket of `Received` (enough for a timeslice whose bucket
//! starts all fall on quarter hours). Values the query computes from kept values (`if`,
//! `concat`, comparisons, lookups keyed by them) are kept too. Anything else — `_raw`, a
//! keyword scope, `parse`, a sort or limit before the aggregation, `first`, `avg`,
//! percentiles — reads rows.
//!
//! The time range is split: whole buckets inside it come from the rollups of the segments
//! that have one, the partial buckets at its edges and segments without a rollup from rows.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, lit};
use mailscope_query::ir::{self, AggregateFunction, LookupTable, Pattern, Scope, StageKind};

use super::QueryOptions;
use super::lower::{Relation, time_range_filter, timestamp_ns};
use super::time;
use crate::error::Result;
use crate::schema::{self, IpSide, RECORD_FIELDS};
use crate::store::rollup::{LEVEL, LEVELS, WEIGHT, rollup_schema};
use crate::store::{Catalog, SegmentMeta};

/// What the word level keeps in place of the subject: its words (a pseudo column name).
const WORDS: &str = "__words";

/// The domain of an address as the domain levels keep it (pseudo column names): what
/// `extract field=<address> ".@(?<d>.*)"` reads of the address.
const SENDER_DOMAIN: &str = "SenderAddress@domain";
const RECIPIENT_DOMAIN: &str = "RecipientAddress@domain";

/// The pseudo column of an address column's domain, and back.
fn domain_column(address: &str) -> Option<&'static str> {
    match address {
        schema::SENDER_ADDRESS => Some(SENDER_DOMAIN),
        schema::RECIPIENT_ADDRESS => Some(RECIPIENT_DOMAIN),
        _ => None,
    }
}

fn address_of_domain(column: &str) -> Option<&'static str> {
    match column {
        SENDER_DOMAIN => Some(schema::SENDER_ADDRESS),
        RECIPIENT_DOMAIN => Some(schema::RECIPIENT_ADDRESS),
        _ => None,
    }
}

/// Whether a level keeps the value of (pseudo) column `column`.
fn level_keeps(level: &crate::store::rollup::Level, column: &str) -> bool {
    level.dims.iter().any(|d| d == column)
        || (level.words && column == WORDS)
        || address_of_domain(column)
            .is_some_and(|a| level.domain == Some(a) || level.dims.iter().any(|d| d == a))
}

/// A query the rollups can answer: the levels that hold every value it reads (in the order
/// to try them), and whether it reads stored geolocation (rows without it are looked up at
/// query time from the IP, which a rollup does not keep).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub levels: Vec<usize>,
    pub reads_geo: bool,
}

/// What a field holds, as far as a rollup row can tell.
#[derive(Debug, Clone)]
struct Field {
    name: String,
    /// A function of these stored columns (and constants); `None`: of something a rollup
    /// row does not keep (`_raw`, the exact time, …).
    columns: Option<BTreeSet<&'static str>>,
    /// A plain copy of this stored column: null exactly when it is.
    plain: Option<&'static str>,
    /// Its sum over rows is the same function of their sum (`Size`, and `Size` divided by a
    /// power of two, which is exact in floating point): a rollup row's `Size` is the sum.
    summed: bool,
}

impl Field {
    /// A plain copy of a stored column whose null-ness rollup rows keep.
    fn null_kept(&self) -> bool {
        self.plain.is_some_and(crate::store::rollup::keeps_nullness)
    }

    fn of(name: &str, columns: Option<BTreeSet<&'static str>>) -> Field {
        Field {
            name: name.to_string(),
            columns,
            plain: None,
            summed: false,
        }
    }
}

struct Analysis {
    fields: Vec<Field>,
    /// Stored columns whose values the query reads.
    needed: BTreeSet<&'static str>,
    reads_geo: bool,
    /// Each timeslice's span and bucket starts (milliseconds): a level answers only if they
    /// fall on its buckets.
    timeslices: Vec<(i64, Vec<i64>)>,
    /// Whether the subject was split into its words (`parse regex field=subject
    /// "(?<word>\w+)" multi`), which only the word level answers.
    split_words: bool,
}

/// Not answerable from rollups.
struct Rows;

type Check<T> = std::result::Result<T, Rows>;

/// Whether `query`, run with `options`, gets the same answer from rollups, and from which
/// level.
pub fn coverage(query: &ir::Query, options: &QueryOptions) -> Option<Coverage> {
    let mut analysis = Analysis {
        fields: Vec::new(),
        needed: BTreeSet::new(),
        reads_geo: false,
        timeslices: Vec::new(),
        split_words: false,
    };
    for meta in [schema::SOURCE_CATEGORY, schema::SOURCE, schema::COLLECTOR] {
        let mut field = Field::of(meta, Some(BTreeSet::from([meta])));
        field.plain = Some(meta);
        analysis.fields.push(field);
    }
    // The exact time, `_receipttime` and `_raw`: a rollup row keeps none of them.
    for opaque in ["_messagetime", "_receipttime", "_raw"] {
        analysis.fields.push(Field::of(opaque, None));
    }
    analysis.scope(&query.scope).ok()?;
    let mut aggregated = false;
    for stage in &query.stages {
        analysis.stage(&stage.kind, options, &mut aggregated).ok()?;
        if aggregated {
            break;
        }
    }
    if !aggregated {
        return None;
    }
    let levels: Vec<usize> = LEVELS
        .iter()
        .enumerate()
        .filter(|(_, level)| {
            let bucket_ms = level.bucket_ns / 1_000_000;
            analysis.needed.iter().all(|c| level_keeps(level, c))
                && level.words == analysis.split_words
                && analysis.timeslices.iter().all(|(span, starts)| {
                    span % bucket_ms == 0 && starts.iter().all(|s| s.rem_euclid(bucket_ms) == 0)
                })
        })
        .map(|(index, _)| index)
        .collect();
    (!levels.is_empty()).then_some(Coverage {
        levels,
        reads_geo: analysis.reads_geo,
    })
}

impl Analysis {
    /// Field names are case-insensitive; an exact match wins (as `Relation::resolve`).
    fn resolve(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name).or_else(|| {
            self.fields
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))
        })
    }

    fn assign(&mut self, field: Field) {
        let replaced = self.resolve(&field.name).map(|f| f.name.clone());
        self.fields
            .retain(|f| Some(&f.name) != replaced.as_ref() && f.name != field.name);
        self.fields.push(field);
    }

    /// The value of a field is read: its columns must be kept.
    fn read(&mut self, name: &str) -> Check<BTreeSet<&'static str>> {
        match self.resolve(name) {
            // A field that does not exist is null on every path.
            None => Ok(BTreeSet::new()),
            Some(field) => field.columns.clone().ok_or(Rows),
        }
    }

    fn need(&mut self, columns: &BTreeSet<&'static str>) {
        self.needed.extend(columns.iter().copied());
    }

    fn scope(&mut self, scope: &Scope) -> Check<()> {
        match scope {
            Scope::All => Ok(()),
            Scope::Metadata { field, .. } => {
                let column = [schema::SOURCE_CATEGORY, schema::SOURCE, schema::COLLECTOR]
                    .into_iter()
                    .find(|m| m.eq_ignore_ascii_case(field));
                self.needed.extend(column);
                Ok(())
            }
            Scope::Keyword { .. } => Err(Rows),
            Scope::And(a, b) | Scope::Or(a, b) => {
                self.scope(a)?;
                self.scope(b)
            }
            Scope::Not(inner) => self.scope(inner),
        }
    }

    /// The columns an expression's value depends on.
    fn value(&mut self, expr: &ir::Expr) -> Check<BTreeSet<&'static str>> {
        Ok(match expr {
            ir::Expr::Field(name) => self.read(name)?,
            ir::Expr::Literal(_) | ir::Expr::Regex(_) => BTreeSet::new(),
            ir::Expr::Unary { operand, .. } => self.value(operand)?,
            ir::Expr::Binary { left, right, .. } => {
                let mut columns = self.value(left)?;
                columns.extend(self.value(right)?);
                columns
            }
            ir::Expr::Matches { operand, pattern } => {
                // `x matches "*"` asks only whether x is null.
                if let (ir::Expr::Field(name), Pattern::Wildcard(p)) = (operand.as_ref(), pattern)
                    && p == "*"
                {
                    match self.resolve(name) {
                        None => return Ok(BTreeSet::new()),
                        Some(field) if field.null_kept() => return Ok(BTreeSet::new()),
                        Some(field) if field.columns.is_some() => {
                            return Ok(field.columns.clone().unwrap_or_default());
                        }
                        Some(_) => {}
                    }
                }
                let mut columns = self.value(operand)?;
                if let Pattern::Dynamic(pattern) = pattern {
                    columns.extend(self.value(pattern)?);
                }
                columns
            }
            ir::Expr::In { operand, list, .. } => {
                let mut columns = self.value(operand)?;
                for item in list {
                    columns.extend(self.value(item)?);
                }
                columns
            }
            ir::Expr::Call { args, .. } => {
                let mut columns = BTreeSet::new();
                for arg in args {
                    columns.extend(self.value(arg)?);
                }
                columns
            }
        })
    }

    fn stage(
        &mut self,
        kind: &StageKind,
        options: &QueryOptions,
        aggregated: &mut bool,
    ) -> Check<()> {
        match kind {
            StageKind::Json {
                source,
                extractions,
                nodrop: _,
            } => {
                if source
                    .as_deref()
                    .is_some_and(|s| !s.eq_ignore_ascii_case("_raw"))
                {
                    return Err(Rows);
                }
                for extraction in extractions {
                    // Only canonical keys are column reads; any other key is a JSON path
                    // over `_raw` (and, without nodrop, a filter on it).
                    let column = match extraction.path.steps.as_slice() {
                        [ir::JsonStep::Key(key)] => RECORD_FIELDS.iter().find(|f| *f == key),
                        _ => None,
                    }
                    .ok_or(Rows)?;
                    let columns = (*column != schema::RECEIVED).then(|| BTreeSet::from([*column]));
                    self.assign(Field {
                        name: extraction.alias.clone(),
                        columns,
                        plain: Some(column),
                        summed: *column == schema::SIZE,
                    });
                }
                Ok(())
            }
            StageKind::Where(expr) => {
                let columns = self.value(expr)?;
                self.need(&columns);
                Ok(())
            }
            StageKind::Assign { expr, alias } => {
                let field = match expr {
                    ir::Expr::Field(name) => match self.resolve(name) {
                        Some(field) => Field {
                            name: alias.clone(),
                            ..field.clone()
                        },
                        None => Field::of(alias, Some(BTreeSet::new())),
                    },
                    ir::Expr::Binary {
                        op: ir::BinaryOp::Divide,
                        left,
                        right,
                    } if matches!(left.as_ref(), ir::Expr::Field(name)
                            if self.resolve(name).is_some_and(|f| f.summed))
                        && power_of_two(right) =>
                    {
                        Field {
                            summed: true,
                            ..Field::of(alias, None)
                        }
                    }
                    // A value computed from what a rollup row does not keep is fine as long
                    // as nothing reads it.
                    _ => Field::of(alias, self.value(expr).ok()),
                };
                self.assign(field);
                Ok(())
            }
            StageKind::Lookup {
                table,
                columns,
                key_field,
            } => {
                self.lookup(table, columns, key_field, options);
                Ok(())
            }
            StageKind::Timeslice { span, alias } => {
                let (from_ms, to_ms) = (
                    options.from.timestamp_millis(),
                    options.to.timestamp_millis(),
                );
                let span = match span {
                    ir::TimesliceSpan::Millis(ms) => *ms,
                    ir::TimesliceSpan::Buckets(n) => time::span_for_buckets(from_ms, to_ms, *n),
                };
                let starts = time::bucket_starts(from_ms, to_ms, span, options.time_zone)
                    .unwrap_or_default();
                if span <= 0 || starts.is_empty() {
                    return Err(Rows);
                }
                self.timeslices.push((span, starts));
                self.assign(Field::of(alias, Some(BTreeSet::new())));
                Ok(())
            }
            // Extracting from a value a rollup row keeps gives values it keeps (a row that does
            // not match is dropped, or kept with nulls, alike on both paths).
            // The keyword panel's split of the subject into words: the word level holds each
            // word with its occurrences, and a word splits into itself.
            StageKind::ParseRegex {
                source: Some(source),
                regex,
                groups,
                nodrop: false,
                multi: true,
            } if groups.len() == 1
                && crate::exec::words::is_ascii_word_runs(regex)
                && self.resolve(source).and_then(|f| f.plain) == Some(schema::SUBJECT) =>
            {
                if self.split_words {
                    return Err(Rows);
                }
                self.split_words = true;
                self.needed.insert(WORDS);
                self.assign(Field::of(&groups[0], Some(BTreeSet::from([WORDS]))));
                Ok(())
            }
            StageKind::ParseRegex {
                source: Some(source),
                regex,
                groups,
                nodrop,
                multi,
            } => {
                // The domain of an address, as the domain levels keep it.
                if !*multi && let Some(column) = self.domain_of(source, regex, groups) {
                    let columns = BTreeSet::from([column]);
                    if !*nodrop {
                        self.need(&columns);
                    }
                    self.assign(Field::of(&groups[0], Some(columns)));
                    return Ok(());
                }
                self.extract(source, groups, *nodrop && !*multi)
            }
            StageKind::Parse {
                source: Some(source),
                aliases: outputs,
                nodrop,
                ..
            } => self.extract(source, outputs, *nodrop),
            StageKind::Fields { .. } => Ok(()),
            StageKind::Aggregate { aggregates, by } => {
                self.aggregate(aggregates, by)?;
                *aggregated = true;
                Ok(())
            }
            StageKind::CountFrequent { fields } => {
                self.aggregate(&[], fields)?;
                *aggregated = true;
                Ok(())
            }
            StageKind::Top {
                fields, by: None, ..
            } => {
                self.aggregate(&[], fields)?;
                *aggregated = true;
                Ok(())
            }
            _ => Err(Rows),
        }
    }

    /// The domain pseudo column that `extract field=<source> "<regex>"` reads, when the source
    /// is an address column as stored and the regex captures its domain the way the domain
    /// levels do ([`crate::store::rollup::domain_regex`]).
    fn domain_of(&self, source: &str, regex: &str, groups: &[String]) -> Option<&'static str> {
        let [group] = groups else { return None };
        let column = self.resolve(source)?.plain.and_then(domain_column)?;
        (crate::store::rollup::domain_regex(group).as_deref() == Some(regex)).then_some(column)
    }

    /// `parse`/`extract` from `source` into `outputs`: functions of the source. Unless every
    /// row is kept exactly once (`nodrop` without `multi`), which rows are kept, and how many
    /// times, depends on the source's value too.
    fn extract(&mut self, source: &str, outputs: &[String], one_to_one: bool) -> Check<()> {
        let columns = self.read(source)?;
        if !one_to_one {
            self.need(&columns);
        }
        for output in outputs {
            self.assign(Field::of(output, Some(columns.clone())));
        }
        Ok(())
    }

    fn lookup(
        &mut self,
        table: &LookupTable,
        columns: &[ir::LookupColumn],
        key_field: &str,
        options: &QueryOptions,
    ) {
        let key = self.resolve(key_field).cloned();
        let side = key
            .as_ref()
            .and_then(|k| k.plain)
            .and_then(IpSide::of_column);
        let key_columns = match &key {
            Some(field) => field.columns.clone(),
            None => Some(BTreeSet::new()),
        };
        for column in columns {
            let name = column.column.to_ascii_lowercase();
            let stored = side
                .filter(|_| matches!(table, LookupTable::Geo))
                .filter(|_| crate::geo::GEO_COLUMNS.contains(&name.as_str()))
                .filter(|_| !crate::geo::ASN_COLUMNS.contains(&name.as_str()))
                .and_then(|side| schema::stored_column(&schema::geo_column(side, &name)));
            let field = match stored {
                // Read from the stored column (rows with their geolocation stored).
                Some(stored) => {
                    self.reads_geo |= options.geo.is_some();
                    Field {
                        plain: Some(stored),
                        ..Field::of(&column.alias, Some(BTreeSet::from([stored])))
                    }
                }
                // Looked up at query time: a function of the key.
                None => Field::of(&column.alias, key_columns.clone()),
            };
            self.assign(field);
        }
    }

    fn aggregate(&mut self, aggregates: &[ir::Aggregate], by: &[String]) -> Check<()> {
        for field in by {
            let columns = self.read(field)?;
            self.need(&columns);
        }
        for aggregate in aggregates {
            let argument = aggregate.argument.as_deref();
            match (&aggregate.function, argument) {
                (AggregateFunction::Count, None) => {}
                // Counting non-null values needs only whether each is null.
                (AggregateFunction::Count, Some(a)) => {
                    if let Some(field) = self.resolve(a)
                        && !field.null_kept()
                    {
                        let columns = self.read(a)?;
                        self.need(&columns);
                    }
                }
                (AggregateFunction::Sum, Some(a)) => {
                    // A rollup row's Size is the sum of its rows' sizes.
                    if !self.resolve(a).is_some_and(|f| f.summed) {
                        return Err(Rows);
                    }
                }
                (
                    AggregateFunction::CountDistinct
                    | AggregateFunction::Min
                    | AggregateFunction::Max,
                    Some(a),
                ) => {
                    let columns = self.read(a)?;
                    self.need(&columns);
                }
                _ => return Err(Rows),
            }
        }
        Ok(())
    }
}

/// A literal positive power of two: dividing by it is exact in floating point, so the sum of
/// the quotients is the quotient of the sum (for sums below 2^53 in the dividend's units).
fn power_of_two(expr: &ir::Expr) -> bool {
    match expr {
        ir::Expr::Literal(ir::Literal::Int(n)) => *n > 0 && (*n as u64).is_power_of_two(),
        ir::Expr::Literal(ir::Literal::Float(f)) => {
            *f > 0.0 && f.is_finite() && {
                let (mantissa, _) = frexp(*f);
                mantissa == 0.5
            }
        }
        _ => false,
    }
}

/// `f = m * 2^e` with `m` in `[0.5, 1)`.
fn frexp(f: f64) -> (f64, i32) {
    let bits = f.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    if exponent == 0 {
        // Subnormal: never a power of two the queries write; treated as not one.
        return (0.0, 0);
    }
    let mantissa = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (mantissa, exponent - 1022)
}

/// The table of some segments' rows (from the column cache or their files).
pub type RowsOf<'a> = dyn Fn(&[&SegmentMeta]) -> Result<Arc<dyn TableProvider>> + 'a;

/// How a query's time range is read: whole buckets of segments with a rollup from their
/// rollups, the rest from rows.
pub struct Split<'c> {
    pub level: usize,
    /// Whole buckets inside the range, `[from, to)` in nanoseconds.
    pub buckets: (i64, i64),
    /// Segments with a usable rollup.
    pub rolled: Vec<&'c SegmentMeta>,
    /// Segments read as rows (no rollup, or rows without stored geolocation).
    pub plain: Vec<&'c SegmentMeta>,
    /// Rolled segments with rows in the partial buckets at the range's edges.
    pub edges: Vec<&'c SegmentMeta>,
}

impl<'c> Split<'c> {
    /// The split, among the levels of `coverage` that have whole buckets in the range and
    /// segments with their rollup, that reads the fewest rows ([`Split::cost`]; the first of
    /// equals); `None`: read rows.
    pub fn new(catalog: &'c Catalog, range: (i64, i64), coverage: &Coverage) -> Option<Split<'c>> {
        coverage
            .levels
            .iter()
            .filter_map(|&level| Split::at_level(catalog, range, level, coverage.reads_geo))
            .min_by_key(|split| split.cost(range))
    }

    /// About how many rows the split reads: its rollup rows, the rows of the segments read
    /// as rows, and the rows of the edge segments in the partial buckets (in proportion to
    /// the part of each segment's time span they cover).
    pub fn cost(&self, (from_ns, to_ns): (i64, i64)) -> u64 {
        let rollup: u64 = self
            .rolled
            .iter()
            .filter_map(|s| s.rollup.as_ref())
            .map(|r| r.rows.get(self.level).copied().unwrap_or(0))
            .sum();
        let plain: u64 = self.plain.iter().map(|s| s.rows).sum();
        let (first, last) = self.buckets;
        let edges: u64 = self
            .edges
            .iter()
            .map(|s| {
                let (low, high) = (s.min_received, s.max_received.saturating_add(1));
                let span = high.saturating_sub(low).max(1) as f64;
                let overlap = |a: i64, b: i64| (b.min(high) - a.max(low)).max(0) as f64;
                let outside = overlap(from_ns, first) + overlap(last, to_ns);
                (s.rows as f64 * (outside / span).min(1.0)).ceil() as u64
            })
            .sum();
        rollup + plain + edges
    }

    fn at_level(
        catalog: &'c Catalog,
        (from_ns, to_ns): (i64, i64),
        level: usize,
        reads_geo: bool,
    ) -> Option<Split<'c>> {
        let bucket = LEVELS.get(level)?.bucket_ns;
        let floor = from_ns.div_euclid(bucket).checked_mul(bucket)?;
        let first = if floor == from_ns {
            floor
        } else {
            floor.checked_add(bucket)?
        };
        let last = to_ns.div_euclid(bucket).checked_mul(bucket)?;
        if first >= last {
            return None;
        }
        // A segment with deleted rows answers from its live rows: its rollup still counts
        // the deleted ones (until a merge rewrites it).
        let usable = |s: &SegmentMeta| {
            s.deletes.is_none()
                && s.rollup
                    .as_ref()
                    .is_some_and(|r| r.has_level(level) && (r.geo_complete || !reads_geo))
        };
        let (rolled, plain): (Vec<&SegmentMeta>, Vec<&SegmentMeta>) = catalog
            .segments_overlapping(from_ns, to_ns)
            .partition(|s| usable(s));
        if rolled.is_empty() {
            return None;
        }
        let edges = rolled
            .iter()
            .copied()
            .filter(|s| s.min_received < first || s.max_received >= last)
            .collect();
        Some(Split {
            level,
            buckets: (first, last),
            rolled,
            plain,
            edges,
        })
    }

    /// What `explain` says about the split.
    pub fn describe(&self) -> String {
        format!(
            "answered from partial aggregates (level {}, by {}): {} segment(s) from their \
             rollups ({} rollup rows), {} segment(s) from rows, the range's partial buckets \
             from the rows of {} segment(s)",
            self.level,
            match LEVELS[self.level].bucket_ns {
                crate::store::rollup::DAY_NS => "UTC day",
                crate::store::rollup::HOUR_NS => "hour",
                _ => "quarter hour",
            },
            self.rolled.len(),
            self.rolled
                .iter()
                .filter_map(|s| s.rollup.as_ref())
                .map(|r| r.rows[self.level])
                .sum::<u64>(),
            self.plain.len(),
            self.edges.len()
        )
    }

    /// The weighted input: the rows of `plain` in `[from, to)`, the rows of `edges` outside
    /// the whole buckets, and the rollup rows of `rolled` in them; each in the scan schema
    /// with the weight as its last column.
    pub fn input(
        &self,
        (from_ns, to_ns): (i64, i64),
        scan_schema: &arrow::datatypes::SchemaRef,
        rows_of: &RowsOf,
        rollup_files: Vec<String>,
    ) -> Result<LogicalPlanBuilder> {
        let columns: Vec<Expr> = scan_schema
            .fields()
            .iter()
            .map(|f| Relation::column(f.name()))
            .collect();
        let with_weight = |weight: Expr| {
            let mut exprs = columns.clone();
            exprs.push(weight.alias(WEIGHT));
            exprs
        };
        let mut parts = Vec::new();
        if !self.plain.is_empty() {
            parts.push(
                super::lower::scan(rows_of(&self.plain)?)?
                    .filter(time_range_filter(from_ns, to_ns))?
                    .project(with_weight(lit(1i64)))?,
            );
        }
        if !self.edges.is_empty() {
            let (first, last) = self.buckets;
            let received = Relation::column(schema::RECEIVED);
            let outside = received
                .clone()
                .lt(timestamp_ns(first))
                .or(received.gt_eq(timestamp_ns(last)));
            parts.push(
                super::lower::scan(rows_of(&self.edges)?)?
                    .filter(time_range_filter(from_ns, to_ns).and(outside))?
                    .project(with_weight(lit(1i64)))?,
            );
        }
        let level = i32::try_from(self.level).unwrap_or(i32::MAX);
        parts.push(
            super::lower::scan(rollup_table(rollup_files)?)?
                .filter(
                    Relation::column(LEVEL)
                        .eq(lit(level))
                        .and(time_range_filter(self.buckets.0, self.buckets.1)),
                )?
                .project(with_weight(Relation::column(WEIGHT)))?,
        );
        let mut parts = parts.into_iter();
        let mut union = parts.next().expect("the rollup part is always there");
        for part in parts {
            union = union.union(part.build()?)?;
        }
        Ok(union)
    }
}

/// The rollup files as one table, text as `Utf8View` like the segments' scan.
fn rollup_table(files: Vec<String>) -> Result<Arc<dyn TableProvider>> {
    super::parquet_table(&files, ".rollup", super::as_scanned(&rollup_schema()))
}
