//! Query execution: `ir::Query` -> DataFusion logical plan over the store's segments ->
//! rows. Relational stages (parse, where, assignments, lookups, timeslice, aggregation,
//! sort, limit) are lowered to one DataFusion plan; data-dependent shaping (`fillmissing`,
//! `transpose`) runs on the small result in between, which then becomes the input of the
//! next plan.

mod aggregate;
pub mod cache;
#[cfg(test)]
mod coverage;
mod dates;
mod expr;
mod format;
mod functions;
pub mod keyword;
mod lower;
pub mod parts;
mod result;
pub mod rollup;
mod segments;
mod shape;
pub mod threat;
pub mod time;
mod udf;
mod window;
pub(crate) mod words;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use chrono::{DateTime, Utc};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, is_true, not};
use datafusion::prelude::{SessionConfig, SessionContext};
use mailscope_query::ir::{self, Scope, StageKind};

use crate::error::{Error, Result};
use crate::geo::GeoDatabase;
use crate::schema::{self, RECORD_FIELDS, stored_schema};
use crate::store::Catalog;
use crate::store::leases::Lease;
use expr::{like, null_text};
use lower::{Lowering, Relation};

/// How to run a query.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// The time range, `[from, to)`, selecting rows by `_messagetime` (= `Received`).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Time zone of timeslices and dates.
    pub time_zone: chrono_tz::Tz,
    /// Geolocation for rows stored without geo columns, and for IPs computed by the query.
    pub geo: Option<Arc<GeoDatabase>>,
    /// AS numbers for `lookup asn, as_org from asn://default` (null columns without).
    pub asn: Option<Arc<crate::geo::AsnDatabase>>,
    /// Indicators for `threatip`, `lookup … from sumo://threat/cs` and `threatlookup` (null
    /// columns without).
    pub threat: Option<Arc<mailscope_threat::ThreatIndex>>,
    /// Cap on rows returned by a query without aggregation (messages).
    pub max_raw_rows: usize,
}

/// A result table.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    pub warnings: Vec<String>,
    /// What answered: rows, or partial aggregates (and rows for what they do not cover).
    pub input: QueryInput,
}

/// The input a query was answered from (`rollup.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryInput {
    #[default]
    Rows,
    PartialAggregates,
}

impl QueryInput {
    pub fn as_str(self) -> &'static str {
        match self {
            QueryInput::Rows => "rows",
            QueryInput::PartialAggregates => "partial_aggregates",
        }
    }
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// A time (e.g. `_timeslice`), milliseconds since the epoch.
    Time(i64),
}

impl Value {
    /// The cell as JSON: times as epoch milliseconds, non-finite floats as null.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) | Value::Time(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Text(s) => serde_json::Value::String(s.clone()),
        }
    }
}

/// What every query of a process runs with: DataFusion's runtime, whose memory pool all
/// queries share (sorts, joins and aggregations spill to temporary files when it is full, or
/// fail with [`Error::MemoryBudget`]), and the number of partitions a scan is split into.
#[derive(Clone)]
pub struct Engine {
    runtime: Arc<RuntimeEnv>,
    memory_limit: Option<usize>,
    partitions: usize,
    /// Most rows an aggregated result keeps (the rest are dropped with a warning), so that a
    /// result with millions of groups never has to fit in memory; `None`: no cap.
    max_result_rows: Option<usize>,
    /// Whether aggregations may be answered from the segments' partial aggregates
    /// (`rollup.rs`); off, every query reads rows.
    partial_aggregates: bool,
    /// Rows of a range above which an aggregation by timeslice is computed a part of the
    /// range at a time (`parts.rs`); `None`: always in one go.
    rows_per_part: Option<u64>,
    /// Rows of a range above which a query for messages reads it a part at a time, newest
    /// first (`parts.rs`); `None`: always in one go.
    message_rows_per_part: Option<u64>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("memory_limit", &self.memory_limit)
            .field("partitions", &self.partitions)
            .field("partial_aggregates", &self.partial_aggregates)
            .field("rows_per_part", &self.rows_per_part)
            .field("message_rows_per_part", &self.message_rows_per_part)
            .finish()
    }
}

/// What the shared memory pool holds now.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct MemoryStats {
    /// Bytes reserved by running operators.
    pub reserved_bytes: usize,
    /// The pool's size; `None` when unbounded.
    pub limit_bytes: Option<usize>,
    /// Bytes of temporary spill files now on disk.
    pub spilled_bytes: u64,
}

/// Reserves memory in an engine's pool for work that is not a query: the queries' operators
/// then spill sooner, and the work waits when the pool cannot spare it.
#[derive(Clone)]
pub struct MemoryGate {
    runtime: Arc<RuntimeEnv>,
    limit: Option<usize>,
}

impl std::fmt::Debug for MemoryGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryGate")
            .field("limit", &self.limit)
            .finish()
    }
}

/// Memory held in the pool until dropped.
#[derive(Debug)]
pub struct MemoryHold {
    _reservation: datafusion::execution::memory_pool::MemoryReservation,
}

impl MemoryGate {
    /// Holds `bytes` for `name` (it cannot spill); an error naming the budget when the pool
    /// cannot spare them now.
    pub fn hold(&self, name: &str, bytes: usize) -> Result<MemoryHold> {
        let reservation = datafusion::execution::memory_pool::MemoryConsumer::new(name)
            .register(&self.runtime.memory_pool);
        reservation.try_grow(bytes).map_err(|e| {
            Error::Query(format!(
                "{name} needs {} MiB, which the memory budget's pool for queries and background \
                 work ({} MiB) cannot spare now: {}",
                bytes >> 20,
                self.limit.map_or(0, |l| l >> 20),
                e.find_root()
            ))
        })?;
        Ok(MemoryHold {
            _reservation: reservation,
        })
    }

    /// [`MemoryGate::hold`], waiting up to `wait` for the pool to spare the bytes: work that
    /// must happen (an append) waits for running queries to let go rather than failing at
    /// once. Blocks the thread: call it off the async runtime.
    pub fn hold_waiting(
        &self,
        name: &str,
        bytes: usize,
        wait: std::time::Duration,
    ) -> Result<MemoryHold> {
        let started = std::time::Instant::now();
        loop {
            match self.hold(name, bytes) {
                Ok(held) => return Ok(held),
                Err(error) if started.elapsed() >= wait => return Err(error),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
    }

    /// The pool's size; `None` when unbounded.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }
}

impl Default for Engine {
    /// An engine without a memory limit (one-shot commands, tests).
    fn default() -> Engine {
        Engine {
            runtime: Arc::new(RuntimeEnv::default()),
            memory_limit: None,
            partitions: cores(),
            max_result_rows: None,
            partial_aggregates: partial_aggregates_by_default(),
            rows_per_part: Some(parts::DEFAULT_ROWS_PER_PART),
            message_rows_per_part: Some(parts::MESSAGE_ROWS_PER_PART),
        }
    }
}

impl Engine {
    /// An engine whose queries together hold at most `limit` bytes in their operators,
    /// spilling to the system's temporary directory beyond it. The pool is fair: each
    /// spilling operator gets an equal share, so one large query cannot starve the others.
    /// Aggregations by timeslice are computed in parts sized to the pool (`parts.rs`).
    pub fn with_memory_limit(limit: usize) -> Result<Engine> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(limit)))
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::OsTmpDirectory),
            )
            .build_arc()?;
        Ok(Engine {
            runtime,
            memory_limit: Some(limit),
            partitions: cores(),
            max_result_rows: None,
            partial_aggregates: partial_aggregates_by_default(),
            rows_per_part: Some(parts::rows_per_part_for_pool(limit)),
            message_rows_per_part: Some(parts::MESSAGE_ROWS_PER_PART),
        })
    }

    /// An engine that reads rows for every query, never partial aggregates (the simple path
    /// the partial aggregates are tested against).
    pub fn without_partial_aggregates(self) -> Engine {
        Engine {
            partial_aggregates: false,
            ..self
        }
    }

    /// Computes an aggregation by timeslice a part of the range at a time when the range
    /// holds more than `rows` rows (`parts.rs`); `None`: always in one go.
    pub fn with_rows_per_part(self, rows: Option<u64>) -> Engine {
        Engine {
            rows_per_part: rows,
            ..self
        }
    }

    /// Reads the range of a query for messages a part at a time, newest first, when it holds
    /// more than `rows` rows (`parts.rs`); `None`: always in one go.
    pub fn with_message_rows_per_part(self, rows: Option<u64>) -> Engine {
        Engine {
            message_rows_per_part: rows,
            ..self
        }
    }

    /// Caps aggregated results at `rows` rows (queries without aggregation have their own
    /// cap, [`QueryOptions::max_raw_rows`]).
    pub fn with_max_result_rows(self, rows: usize) -> Engine {
        Engine {
            max_result_rows: Some(rows),
            ..self
        }
    }

    /// A handle on this engine's memory pool for work outside queries (background
    /// compaction, ingest) that must share the queries' budget.
    pub fn memory_gate(&self) -> MemoryGate {
        MemoryGate {
            runtime: Arc::clone(&self.runtime),
            limit: self.memory_limit,
        }
    }

    pub fn memory(&self) -> MemoryStats {
        MemoryStats {
            reserved_bytes: self.runtime.memory_pool.reserved(),
            limit_bytes: self.memory_limit,
            spilled_bytes: self.runtime.disk_manager.used_disk_space(),
        }
    }

    /// Runs `query` over the segments of `snapshot`.
    pub async fn execute(
        &self,
        snapshot: &Snapshot,
        query: &ir::Query,
        options: &QueryOptions,
    ) -> Result<QueryResult> {
        let run = async {
            if let Some(ranges) = self.newest_first(snapshot, query, options) {
                return self
                    .messages_newest_first(snapshot, query, options, &ranges)
                    .await;
            }
            let pipeline = self.run(snapshot, query, options, false).await?;
            pipeline.finish().await
        };
        run.await.map_err(|e| self.name_budget(e))
    }

    /// The parts a query for messages reads, newest first (`parts.rs`); `None`: one go.
    fn newest_first(
        &self,
        snapshot: &Snapshot,
        query: &ir::Query,
        options: &QueryOptions,
    ) -> Option<Vec<(i64, i64)>> {
        let rows = self.message_rows_per_part?;
        parts::newest_first(query, options, &snapshot.catalog, rows)
    }

    /// A query for messages over `ranges` (newest first): each part gives its newest
    /// messages, up to the number still wanted, until the cap is reached. The parts do not
    /// overlap in time, so their concatenation is the whole range's newest messages in order.
    async fn messages_newest_first(
        &self,
        snapshot: &Snapshot,
        query: &ir::Query,
        options: &QueryOptions,
        ranges: &[(i64, i64)],
    ) -> Result<QueryResult> {
        let max_rows = options.max_raw_rows;
        let mut result: Option<QueryResult> = None;
        for range in ranges {
            let have = result.as_ref().map_or(0, |r| r.rows.len());
            if have >= max_rows {
                break;
            }
            let mut pipeline = Pipeline::start(self, snapshot, query, options, *range)?;
            pipeline.stages(&query.stages).await?;
            let part = pipeline.messages(max_rows - have).await?;
            match &mut result {
                None => result = Some(part),
                Some(result) => {
                    result.rows.extend(part.rows);
                    result.warnings.extend(part.warnings);
                }
            }
        }
        let mut result = result.ok_or_else(|| Error::Query("no parts".into()))?;
        result.warnings = once_each(std::mem::take(&mut result.warnings));
        if result.rows.len() >= max_rows {
            result.warnings.push(messages_capped(max_rows));
        }
        Ok(result)
    }

    /// Runs the stages of `query`: in one go, or its aggregation by timeslice a part of the
    /// range at a time (`parts.rs`) and the stages after it over the parts' groups.
    async fn run<'a>(
        &self,
        snapshot: &'a Snapshot,
        query: &ir::Query,
        options: &'a QueryOptions,
        explain: bool,
    ) -> Result<Pipeline<'a>> {
        let whole = (nanos(options.from), nanos(options.to));
        let parts = self.rows_per_part.and_then(|rows| {
            let slicing = parts::Slicing::of(query, options)?;
            let catalog = &snapshot.catalog;
            let split = self
                .partial_aggregates
                .then(|| rollup::coverage(query, options))
                .flatten()
                .and_then(|coverage| rollup::Split::new(catalog, whole, &coverage));
            // What each segment gives the query: its rollup's rows at the level that
            // answers, else its rows.
            let rolled: std::collections::HashSet<&str> = split
                .iter()
                .flat_map(|split| split.rolled.iter().map(|s| s.file.as_str()))
                .collect();
            let rows_read = |segment: &crate::store::SegmentMeta| {
                split
                    .as_ref()
                    .filter(|_| rolled.contains(segment.file.as_str()))
                    .and_then(|split| segment.rollup.as_ref()?.rows.get(split.level).copied())
                    .unwrap_or_else(|| segment.live_rows())
            };
            slicing.parts(options, catalog, &rows_read, rows)
        });
        let Some(parts) = parts else {
            let mut pipeline = Pipeline::start(self, snapshot, query, options, whole)?;
            if explain {
                pipeline.explain = Some(format!("== input: {} ==\n\n", pipeline.path));
            }
            pipeline.stages(&query.stages).await?;
            return Ok(pipeline);
        };
        let (through, after) = query.stages.split_at(parts.stage + 1);
        let mut groups = Vec::new();
        let mut warnings = Vec::new();
        let mut first = None;
        let mut input = QueryInput::Rows;
        for (i, range) in parts.ranges.iter().enumerate() {
            let mut pipeline = Pipeline::start(self, snapshot, query, options, *range)?;
            if explain && i == 0 {
                pipeline.explain = Some(format!(
                    "== input: {}; the aggregation by timeslice computed in {} parts of the \
                     range, each part's groups concatenated (the first part shown) ==\n\n",
                    pipeline.path,
                    parts.ranges.len()
                ));
            }
            pipeline.stages(through).await?;
            groups.push(pipeline.materialize("concatenating the parts").await?);
            // Every part lowers the same stages: each warning once, in first-seen order.
            for warning in pipeline.lowering.warnings.drain(..) {
                if !warnings.contains(&warning) {
                    warnings.push(warning);
                }
            }
            if pipeline.input == QueryInput::PartialAggregates {
                input = QueryInput::PartialAggregates;
            }
            if first.is_none() {
                first = Some(pipeline);
            }
        }
        let mut pipeline = first.ok_or_else(|| Error::Query("no parts".into()))?;
        // Partial aggregates answered if any part read them.
        pipeline.input = input;
        let schema = groups
            .first()
            .map(RecordBatch::schema)
            .ok_or_else(|| Error::Query("no parts".into()))?;
        pipeline.relation = in_memory(arrow::compute::concat_batches(&schema, &groups)?)?;
        pipeline.lowering.warnings = warnings;
        pipeline.stages(after).await?;
        Ok(pipeline)
    }

    /// The plans `execute` would run, as text: for each plan segment the optimized DataFusion
    /// logical plan and the physical plan, with the shaping stages that run between segments
    /// (on the materialised result) named in between. Segments before a shaping stage (and
    /// the key discovery of `json auto`) are executed, because what follows depends on their
    /// rows.
    pub async fn explain(
        &self,
        snapshot: &Snapshot,
        query: &ir::Query,
        options: &QueryOptions,
    ) -> Result<String> {
        let run = async {
            let mut pipeline = match self.newest_first(snapshot, query, options) {
                Some(ranges) => {
                    let mut pipeline = Pipeline::start(self, snapshot, query, options, ranges[0])?;
                    pipeline.explain = Some(format!(
                        "== input: {}; messages read newest first, in up to {} parts of the \
                         range, until the cap is reached (the newest part shown) ==\n\n",
                        pipeline.path,
                        ranges.len()
                    ));
                    pipeline.stages(&query.stages).await?;
                    pipeline
                }
                None => self.run(snapshot, query, options, true).await?,
            };
            let raw_query = !pipeline.relation.aggregated;
            output_shape(&mut pipeline.relation, options.max_raw_rows)?;
            pipeline
                .describe(if raw_query {
                    "final segment (messages, capped)"
                } else {
                    "final segment"
                })
                .await?;
            Ok(pipeline.explain.unwrap_or_default())
        };
        run.await.map_err(|e| self.name_budget(e))
    }

    /// DataFusion's "resources exhausted" as an error naming the budget.
    fn name_budget(&self, error: Error) -> Error {
        match (&error, self.memory_limit) {
            (Error::DataFusion(e), Some(limit))
                if matches!(
                    e.find_root(),
                    datafusion::error::DataFusionError::ResourcesExhausted(_)
                ) =>
            {
                Error::MemoryBudget {
                    limit_bytes: limit,
                    detail: e.find_root().to_string(),
                }
            }
            _ => error,
        }
    }
}

/// The store as one query sees it: the catalog read once, so every part of the query (and
/// the result cache's key) agrees on one generation; and the lease on that generation's
/// files, held while any clone of the snapshot lives (see `store::leases`).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub data_dir: PathBuf,
    pub catalog: Catalog,
    pub lease: Option<Arc<Lease>>,
}

/// Attempts to read a catalog that stays current until its lease is held; a store publishing
/// faster than this is read under the grace period instead.
const LEASE_ATTEMPTS: usize = 16;

impl Snapshot {
    /// Reads the catalog and holds its generation's lease.
    pub fn load(data_dir: &Path) -> Result<Snapshot> {
        let mut catalog = Catalog::load(data_dir)?;
        for _ in 0..LEASE_ATTEMPTS {
            if catalog.segments.is_empty() {
                break;
            }
            let Some(lease) = Lease::take(data_dir, catalog.generation) else {
                break;
            };
            // A publish between reading the catalog and holding the lease may have removed
            // files of the generation read: then read the new one.
            if Catalog::published_generation(data_dir)? == catalog.generation {
                return Ok(Snapshot {
                    data_dir: data_dir.to_path_buf(),
                    catalog,
                    lease: Some(Arc::new(lease)),
                });
            }
            drop(lease);
            catalog = Catalog::load(data_dir)?;
        }
        Ok(Snapshot {
            data_dir: data_dir.to_path_buf(),
            catalog,
            lease: None,
        })
    }

    pub fn generation(&self) -> u64 {
        self.catalog.generation
    }
}

/// Partial aggregates are on unless `MAILSCOPE_PARTIAL_AGGREGATES=off` (to compare the two
/// paths, or to rule them out when investigating an answer).
fn partial_aggregates_by_default() -> bool {
    std::env::var("MAILSCOPE_PARTIAL_AGGREGATES").map_or(true, |v| !v.eq_ignore_ascii_case("off"))
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2)
}

/// Runs `query` over the store in `data_dir` with an engine of its own (no memory limit).
pub async fn execute(
    data_dir: &Path,
    query: &ir::Query,
    options: &QueryOptions,
) -> Result<QueryResult> {
    Engine::default()
        .execute(&Snapshot::load(data_dir)?, query, options)
        .await
}

/// [`Engine::explain`] over the store in `data_dir`.
pub async fn explain(data_dir: &Path, query: &ir::Query, options: &QueryOptions) -> Result<String> {
    Engine::default()
        .explain(&Snapshot::load(data_dir)?, query, options)
        .await
}

/// One query run: the session, the relation so far, and the lowering state.
struct Pipeline<'a> {
    ctx: SessionContext,
    relation: Relation,
    lowering: Lowering<'a>,
    options: &'a QueryOptions,
    /// Which input answers: rows, or partial aggregates and rows (`rollup.rs`).
    path: String,
    input: QueryInput,
    /// The text of `explain`, when explaining.
    explain: Option<String>,
    segments: usize,
    max_result_rows: Option<usize>,
}

impl<'a> Pipeline<'a> {
    /// A pipeline over the rows received in `rows` (`[from, to)`, nanoseconds): the query's
    /// range, or a part of it (`parts.rs`); the query's time-dependent values come from the
    /// whole range in `options` either way.
    fn start(
        engine: &Engine,
        snapshot: &'a Snapshot,
        query: &ir::Query,
        options: &'a QueryOptions,
        rows: (i64, i64),
    ) -> Result<Pipeline<'a>> {
        if options.to <= options.from {
            return Err(Error::Query(
                "the time range is empty: --to must be after --from".into(),
            ));
        }
        let (data_dir, catalog) = (snapshot.data_dir.as_path(), &snapshot.catalog);
        let config = SessionConfig::new().with_target_partitions(engine.partitions);
        let ctx = SessionContext::new_with_config_rt(config, engine.runtime.clone());
        // DataFusion 55's leaf-expression pushdown fails on plans where a struct field (a
        // threat lookup's result) is read after a geo lookup and before `dedup` ("duplicate
        // qualified field name trace.Received", found by the differential tests). It only
        // moves struct field reads towards the scan, which gains nothing here.
        ctx.remove_optimizer_rule("extract_leaf_expressions");
        ctx.remove_optimizer_rule("push_down_leaf_projections");
        let (from_ns, to_ns) = rows;
        let partitions = engine.partitions;
        let cache = cache::active();
        let segment_file = |s: &crate::store::SegmentMeta| cache::SegmentFile {
            path: catalog.segment_path(data_dir, s),
            rows: s.rows,
            bytes: s.bytes,
        };
        if let Some(cache) = cache {
            let live: Vec<cache::SegmentFile> = catalog.segments.iter().map(segment_file).collect();
            cache.retain(data_dir, &live);
        }
        let deleted_of = |s: &crate::store::SegmentMeta| catalog.read_deletes(data_dir, s);
        // The rows of some segments, deleted rows skipped: from the column cache when the
        // server has one, else their Parquet files.
        let rows_of = |segments: &[&crate::store::SegmentMeta]| -> Result<
            Arc<dyn datafusion::catalog::TableProvider>,
        > {
            if let Some(cache) = cache {
                let wanted = segments
                    .iter()
                    .map(|s| {
                        let keep = deleted_of(s)?.map(|d| {
                            Arc::new(crate::store::deletes::keep_mask(
                                &d,
                                usize::try_from(s.rows).unwrap_or(usize::MAX),
                            ))
                        });
                        Ok(cache::CachedSegment {
                            file: segment_file(s),
                            keep,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                return Ok(Arc::new(cache::CachedTable::new(
                    scan_schema(),
                    wanted,
                    cache,
                    partitions,
                )));
            }
            if segments.is_empty() {
                return Ok(Arc::new(MemTable::try_new(scan_schema(), vec![vec![]])?));
            }
            let segments = segments
                .iter()
                .map(|s| {
                    Ok(segments::SegmentRows {
                        path: catalog
                            .segment_path(data_dir, s)
                            .to_string_lossy()
                            .into_owned(),
                        relative: s.file.clone(),
                        deleted: deleted_of(s)?
                            .map(|d| (d, usize::try_from(s.rows).unwrap_or(usize::MAX))),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            segments::SegmentTable::provider(&segments, scan_schema())
        };
        let split = engine
            .partial_aggregates
            .then(|| rollup::coverage(query, options))
            .flatten()
            .and_then(|coverage| rollup::Split::new(catalog, (from_ns, to_ns), &coverage));
        let (input, path) = match &split {
            Some(split) => {
                let files = split
                    .rolled
                    .iter()
                    .map(|s| {
                        crate::store::rollup::path_for(&catalog.segment_path(data_dir, s))
                            .to_string_lossy()
                            .into_owned()
                    })
                    .collect();
                (
                    split.input((from_ns, to_ns), &scan_schema(), &rows_of, files)?,
                    split.describe(),
                )
            }
            None => {
                let segments: Vec<&crate::store::SegmentMeta> =
                    catalog.segments_overlapping(from_ns, to_ns).collect();
                (
                    lower::scan(rows_of(&segments)?)?
                        .filter(lower::time_range_filter(from_ns, to_ns))?,
                    "answered from rows".to_string(),
                )
            }
        };
        tracing::debug!(path = %path, "query input");
        let mut projection = lower::base_projection(stored_raw_from(str::to_owned));
        if split.is_some() {
            let weight = crate::store::rollup::WEIGHT;
            projection.push(Relation::column(weight).alias(lower::hidden(weight)));
        }
        let builder = input.project(projection)?;
        let mut relation = Relation::stored(builder);
        if split.is_some() {
            relation.weight = Some(lower::hidden(crate::store::rollup::WEIGHT));
        }
        if let Some(condition) = scope_filter(&query.scope) {
            relation.builder = relation.builder.clone().filter(condition)?;
        }
        let lowering = Lowering {
            options,
            warnings: Vec::new(),
            now_ms: Utc::now().timestamp_millis(),
        };
        Ok(Pipeline {
            ctx,
            relation,
            lowering,
            options,
            path,
            input: if split.is_some() {
                QueryInput::PartialAggregates
            } else {
                QueryInput::Rows
            },
            explain: None,
            segments: 0,
            max_result_rows: engine.max_result_rows,
        })
    }

    async fn stages(&mut self, stages: &[ir::Stage]) -> Result<()> {
        let (from_ms, to_ms, tz) = (
            self.options.from.timestamp_millis(),
            self.options.to.timestamp_millis(),
            self.options.time_zone,
        );
        let mut stages = stages.iter().peekable();
        while let Some(stage) = stages.next() {
            if let Some(words) = stages
                .peek()
                .and_then(|next| words::WordCount::plan(stage, next))
            {
                stages.next();
                self.lowering
                    .stage(&mut self.relation, &words.pre_aggregation(stage.span))?;
                let batch = self.materialize("counting matches").await?;
                self.relation = in_memory(words.count(&batch)?)?;
                if let Some(sort) = &words.sort {
                    self.lowering.stage(&mut self.relation, sort)?;
                }
                continue;
            }
            match &stage.kind {
                StageKind::FillMissing {
                    generators,
                    defaults,
                    take_last,
                } => {
                    let batch = self.materialize("fillmissing").await?;
                    let starts = |span: i64| {
                        time::bucket_starts(from_ms, to_ms, span, tz).unwrap_or_default()
                    };
                    let filled = shape::fill_missing(
                        &batch,
                        generators,
                        defaults,
                        *take_last,
                        &starts,
                        &mut self.lowering.warnings,
                    )?;
                    self.relation = in_memory(filled)?;
                }
                StageKind::Transpose {
                    rows,
                    columns,
                    outputs,
                } => {
                    let batch = self.materialize("transpose").await?;
                    let pivoted = shape::transpose(
                        &batch,
                        rows,
                        columns,
                        outputs,
                        &mut self.lowering.warnings,
                    )?;
                    self.relation = in_memory(pivoted)?;
                    self.relation
                        .set_order(rows.iter().map(|r| (r.clone(), false)).collect());
                }
                StageKind::JsonAuto { source } => self.json_auto(source.as_deref()).await?,
                _ => self.lowering.stage(&mut self.relation, stage)?,
            }
        }
        Ok(())
    }

    /// `json auto`: the canonical fields of a stored row, or the top-level keys found in the
    /// data (a small distinct query first), each extracted with a JSON path.
    async fn json_auto(&mut self, source: Option<&str>) -> Result<()> {
        let from_raw = source.is_none_or(|s| s.eq_ignore_ascii_case("_raw"));
        if from_raw && self.relation.stored {
            return self.relation.expose_canonical();
        }
        let field = source.unwrap_or("_raw");
        let input = self.lowering.expressions(&self.relation).field(field);
        let keys_name = "__json_keys";
        let discovery = self
            .relation
            .builder
            .clone()
            .project(vec![
                functions::JsonKeys::udf()
                    .call(vec![input.clone()])
                    .alias(keys_name),
            ])?
            .unnest_column(keys_name)?
            .distinct()?
            .sort(vec![Relation::column(keys_name).sort(true, false)])?
            .limit(0, Some(MAX_JSON_AUTO_KEYS + 1))?
            .build()?;
        if self.explain.is_some() {
            self.describe_plan("json auto key discovery", discovery.clone())
                .await?;
        }
        let batches = self
            .ctx
            .execute_logical_plan(discovery)
            .await?
            .collect()
            .await?;
        let mut keys = Vec::new();
        for batch in &batches {
            let column = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
            let column = arrow::array::AsArray::as_string::<i32>(&column);
            keys.extend(column.iter().flatten().map(str::to_owned));
        }
        if keys.len() > MAX_JSON_AUTO_KEYS {
            keys.truncate(MAX_JSON_AUTO_KEYS);
            self.lowering.warnings.push(format!(
                "json auto: more than {MAX_JSON_AUTO_KEYS} keys; the first {MAX_JSON_AUTO_KEYS} alphabetically are extracted"
            ));
        }
        let assignments = keys
            .into_iter()
            .map(|key| {
                let path = ir::JsonPath {
                    text: key.clone(),
                    steps: vec![ir::JsonStep::Key(key.clone())],
                };
                (
                    key.replace(' ', "_"),
                    udf::JsonPath::udf(&path).call(vec![input.clone()]),
                )
            })
            .collect();
        self.relation.assign(assignments)
    }

    /// Runs the plan so far (explaining it first when explaining) and returns its rows.
    async fn materialize(&mut self, before: &str) -> Result<RecordBatch> {
        let visible = self.relation.visible.clone();
        self.relation.project_visible(visible)?;
        if self.explain.is_some() {
            self.describe(&format!("segment before {before}")).await?;
            if let Some(text) = &mut self.explain {
                text.push_str(&format!(
                    "== {before} (runs on the materialised result) ==\n\n"
                ));
            }
        }
        materialize(&self.ctx, &mut self.relation).await
    }

    /// Appends the current plan's explanation.
    async fn describe(&mut self, title: &str) -> Result<()> {
        let visible = self.relation.visible.clone();
        self.relation.project_visible(visible)?;
        let plan = self.relation.builder.clone().build()?;
        self.describe_plan(title, plan).await
    }

    async fn describe_plan(
        &mut self,
        title: &str,
        plan: datafusion::logical_expr::LogicalPlan,
    ) -> Result<()> {
        self.segments += 1;
        let state = self.ctx.state();
        let optimized = state.optimize(&plan)?;
        let physical = state.create_physical_plan(&plan).await?;
        let physical = datafusion::physical_plan::displayable(physical.as_ref())
            .indent(true)
            .to_string();
        if let Some(text) = &mut self.explain {
            text.push_str(&format!(
                "== {}. {title} ==\n-- logical plan (optimized)\n{}\n-- physical plan\n{}\n",
                self.segments,
                optimized.display_indent(),
                physical
            ));
        }
        Ok(())
    }

    /// The newest `max_rows` messages of a query without aggregation, without the warning
    /// that the cap was reached (the caller, reading parts, knows).
    async fn messages(mut self, max_rows: usize) -> Result<QueryResult> {
        let warnings = std::mem::take(&mut self.lowering.warnings);
        output_shape(&mut self.relation, max_rows)?;
        let batch = materialize(&self.ctx, &mut self.relation).await?;
        Ok(QueryResult {
            columns: self.relation.visible.clone(),
            rows: result::rows(&batch)?,
            warnings: once_each(warnings),
            input: self.input,
        })
    }

    async fn finish(mut self) -> Result<QueryResult> {
        if !self.relation.aggregated {
            let max_rows = self.options.max_raw_rows;
            let mut result = self.messages(max_rows).await?;
            if result.rows.len() >= max_rows {
                result.warnings.push(messages_capped(max_rows));
            }
            return Ok(result);
        }
        let mut warnings = std::mem::take(&mut self.lowering.warnings);
        output_shape(&mut self.relation, self.options.max_raw_rows)?;
        let cap = self.max_result_rows;
        if let Some(cap) = cap {
            // One row more than the cap tells whether anything was left out.
            self.relation.builder = self.relation.builder.clone().limit(0, Some(cap + 1))?;
        }
        let mut batch = materialize(&self.ctx, &mut self.relation).await?;
        if let Some(cap) = cap
            && batch.num_rows() > cap
        {
            batch = batch.slice(0, cap);
            warnings.push(format!(
                "showing the first {cap} rows of the result; narrow the query, or add a sort and a limit, to see the rest"
            ));
        }
        Ok(QueryResult {
            columns: self.relation.visible.clone(),
            rows: result::rows(&batch)?,
            warnings: once_each(warnings),
            input: self.input,
        })
    }
}

/// Each warning once, in first-seen order (a field read by two stages is missing once).
fn once_each(mut warnings: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    warnings.retain(|warning| seen.insert(warning.clone()));
    warnings
}

fn messages_capped(max_rows: usize) -> String {
    format!("showing the newest {max_rows} messages; aggregate or add a limit to see everything")
}

/// Most keys `json auto` extracts (Sumo's limit).
const MAX_JSON_AUTO_KEYS: usize = 100;

/// The stored schema as scanned: text columns as `Utf8View`, which the Parquet reader fills
/// without copying strings and which DataFusion groups and compares fastest.
fn scan_schema() -> arrow::datatypes::SchemaRef {
    as_scanned(&stored_schema())
}

/// `schema` with its text columns as `Utf8View`.
fn as_scanned(schema: &arrow::datatypes::Schema) -> arrow::datatypes::SchemaRef {
    let fields: Vec<arrow::datatypes::Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            arrow::datatypes::DataType::Utf8 => f
                .as_ref()
                .clone()
                .with_data_type(arrow::datatypes::DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(arrow::datatypes::Schema::new(fields))
}

/// Parquet files (each ending in `extension`) as one table of `schema`.
fn parquet_table(
    files: &[String],
    extension: &str,
    schema: arrow::datatypes::SchemaRef,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    let urls = files
        .iter()
        .map(ListingTableUrl::parse)
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let listing =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(extension);
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(listing)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

fn nanos(time: DateTime<Utc>) -> i64 {
    time.timestamp_nanos_opt()
        .unwrap_or(if time.timestamp() < 0 {
            i64::MIN
        } else {
            i64::MAX
        })
}

/// Runs the plan so far and returns its rows as one batch (visible columns only).
async fn materialize(ctx: &SessionContext, relation: &mut Relation) -> Result<RecordBatch> {
    let visible = relation.visible.clone();
    relation.project_visible(visible)?;
    let plan = relation.builder.clone().build()?;
    let schema = Arc::new(plan.schema().as_arrow().clone());
    let mut state = ctx.state();
    if !relation.order.is_empty() {
        // Rows in order: DataFusion spreads the batches after a sort over partitions to
        // compute later expressions in parallel, and gathering them loses the order.
        state
            .config_mut()
            .options_mut()
            .optimizer
            .enable_round_robin_repartition = false;
    }
    let batches = datafusion::dataframe::DataFrame::new(state, plan)
        .collect()
        .await?;
    Ok(arrow::compute::concat_batches(&schema, &batches)?)
}

/// The final result's shape: for a query without aggregation, `_messagetime` then the
/// fields the query made (or `_raw` when it made none), capped at `max_rows`; an aggregation
/// no `sort` ordered, in time order then by every field.
fn output_shape(relation: &mut Relation, max_rows: usize) -> Result<()> {
    if relation.aggregated && relation.order.is_empty() {
        // A result no `sort` ordered still comes back in one order (time first, then every
        // field ascending), the same on every run: a hash aggregation's groups arrive in the
        // order its partitions finish, and a result read a page at a time must not move rows
        // between pages when it is computed again.
        let keys = window::order_keys(relation, window::TimeOrder::Ascending);
        if !keys.is_empty() {
            relation.builder = relation.builder.clone().sort(window::sort_exprs(&keys))?;
        }
    }
    if !relation.aggregated {
        let made: Vec<String> = relation
            .visible
            .iter()
            .filter(|v| !lower::METADATA_FIELDS.contains(&v.as_str()))
            .cloned()
            .collect();
        let mut columns = vec!["_messagetime".to_string()];
        if made.is_empty() {
            columns.push("_raw".into());
        }
        columns.extend(made);
        newest_first(relation, &columns, max_rows)?;
    }
    Ok(())
}

/// Messages newest first, Sumo's order, capped at `max_rows`, in one order on every run:
/// the last `sort` when there is one; else `_messagetime` descending, ties broken by the
/// row's identity (`MessageTraceId`, `RecipientAddress`) while the stored columns are there,
/// else by every other field. The stored row's `_raw` is computed after the cap, for the
/// rows kept only.
fn newest_first(relation: &mut Relation, columns: &[String], max_rows: usize) -> Result<()> {
    let lazy_raw = relation.stored && !relation.raw_assigned && columns.iter().any(|c| c == "_raw");
    let keys: Vec<datafusion::logical_expr::SortExpr> = if !relation.order.is_empty() {
        Vec::new()
    } else if relation.stored {
        let time = Relation::column("_messagetime").sort(false, false);
        let identity = [schema::MESSAGE_TRACE_ID, schema::RECIPIENT_ADDRESS]
            .map(|field| Relation::column(&lower::hidden(field)).sort(true, false));
        std::iter::once(time).chain(identity).collect()
    } else {
        let mut keys = window::order_keys(relation, window::TimeOrder::Descending);
        if relation.resolve("_raw").is_some() {
            keys.push(("_raw".into(), false));
        }
        window::sort_exprs(&keys)
    };
    if !keys.is_empty() {
        relation.builder = relation.builder.clone().sort(keys)?;
        // Ordered from here: `materialize` keeps the order through the projection below.
        relation.set_order(vec![("_messagetime".into(), true)]);
    }
    relation.builder = relation.builder.clone().limit(0, Some(max_rows))?;
    if lazy_raw {
        let exprs: Vec<Expr> = columns
            .iter()
            .map(|c| match c.as_str() {
                "_raw" => stored_raw().alias("_raw"),
                _ => Relation::column(c),
            })
            .collect();
        relation.builder = relation.builder.clone().project(exprs)?;
        relation.visible = columns.to_vec();
        relation.stored = false;
        return Ok(());
    }
    relation.project_visible(columns.to_vec())
}

/// `_raw` of a stored row: its record as JSON, from the stored columns (under their hidden
/// names once the base projection ran, under their own names before).
fn stored_raw_from(names: impl Fn(&str) -> String) -> Expr {
    let inputs: Vec<Expr> = RECORD_FIELDS
        .iter()
        .map(|f| Relation::column(&names(f)))
        .collect();
    udf::RawJson::udf(RECORD_FIELDS.iter().map(|s| s.to_string()).collect()).call(inputs)
}

fn stored_raw() -> Expr {
    stored_raw_from(lower::hidden)
}

/// A materialised result as the input of the next plan segment. A table scan qualifies its
/// columns with the table's name (`result.delivered`), while every stage names fields
/// unqualified, as the first segment's projection does; an expression over such a column is
/// then named after the qualified column (`avg(result.delivered) …`), so names derived from
/// the stage's own expressions would not be found. The scan is therefore projected onto
/// unqualified columns, and the next segment sees the same names as the first.
fn in_memory(batch: RecordBatch) -> Result<Relation> {
    let schema = batch.schema();
    let table = MemTable::try_new(schema.clone(), vec![vec![batch]])?;
    let table_name = "result";
    let unqualified: Vec<Expr> = schema
        .fields()
        .iter()
        .map(|field| {
            Expr::Column(datafusion::common::Column::new(
                Some(table_name),
                field.name(),
            ))
            .alias(field.name())
        })
        .collect();
    let builder = LogicalPlanBuilder::scan(
        table_name,
        datafusion::datasource::provider_as_source(Arc::new(table)),
        None,
    )?
    .project(unqualified)?;
    Ok(Relation::materialized(builder))
}

/// The scope as a filter: metadata values are case-insensitive wildcards; keywords match
/// terms of the record (`keyword.rs`).
fn scope_filter(scope: &Scope) -> Option<Expr> {
    match scope {
        Scope::All => None,
        Scope::Keyword { pattern } => Some(keyword::filter(pattern)),
        Scope::Metadata {
            field,
            pattern,
            negated,
        } => {
            let column = [schema::SOURCE_CATEGORY, schema::SOURCE, schema::COLLECTOR]
                .into_iter()
                .find(|m| m.eq_ignore_ascii_case(field))
                .map(Relation::column)
                .unwrap_or_else(null_text);
            let test = is_true(like(column, pattern, true));
            Some(if *negated { not(test) } else { test })
        }
        Scope::And(a, b) => match (scope_filter(a), scope_filter(b)) {
            (Some(a), Some(b)) => Some(a.and(b)),
            (a, b) => a.or(b),
        },
        Scope::Or(a, b) => match (scope_filter(a), scope_filter(b)) {
            (Some(a), Some(b)) => Some(a.or(b)),
            // One side matches everything.
            _ => None,
        },
        Scope::Not(inner) => Some(not(
            scope_filter(inner).unwrap_or(datafusion::logical_expr::lit(true))
        )),
    }
}

#[cfg(test)]
mod memory_gate_tests {
    use super::Engine;

    #[test]
    fn work_outside_queries_holds_memory_from_the_pool_and_gives_it_back() {
        let engine = Engine::with_memory_limit(100 << 20).unwrap();
        let gate = engine.memory_gate();
        let first = gate.hold("compaction", 60 << 20).unwrap();
        assert_eq!(engine.memory().reserved_bytes, 60 << 20);
        let refused = gate.hold("another compaction", 60 << 20).unwrap_err();
        let message = refused.to_string();
        assert!(
            message.contains("another compaction needs 60 MiB") && message.contains("100 MiB"),
            "{message}"
        );
        drop(first);
        assert_eq!(engine.memory().reserved_bytes, 0);
        assert!(gate.hold("another compaction", 60 << 20).is_ok());
    }

    #[test]
    fn an_append_waits_for_the_memory_a_query_lets_go() {
        let engine = Engine::with_memory_limit(100 << 20).unwrap();
        let gate = engine.memory_gate();
        assert_eq!(gate.limit(), Some(100 << 20));
        let query = gate.hold("a query", 80 << 20).unwrap();
        let waiting = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                gate.hold_waiting("append", 50 << 20, std::time::Duration::from_secs(30))
                    .map(|_| ())
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(query);
        assert!(waiting.join().unwrap().is_ok());
        let _query = gate.hold("a query", 80 << 20).unwrap();
        let error = gate
            .hold_waiting("append", 50 << 20, std::time::Duration::from_millis(200))
            .unwrap_err();
        assert!(error.to_string().contains("append needs 50 MiB"), "{error}");
    }
}
