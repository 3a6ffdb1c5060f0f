//! Decoded columns of stored segments, kept in memory for a long-running server.
//!
//! Segments are immutable once published, so a column decoded from one stays valid for as long
//! as the segment exists. A dashboard runs many queries over the same few columns (`Received`,
//! `Status`, `_sourceCategory`, ...); without the cache every panel decompresses and decodes
//! them again, which is most of a simple panel's time. With it a query reads Arrow arrays
//! already in memory and only computes.
//!
//! The cache is off unless [`configure`] gives it a budget (the server does; one-shot commands
//! do not, and read Parquet directly with row-group pruning). Entries are whole columns of one
//! segment, evicted least recently used first once the budget is exceeded. A column is loaded
//! once even when several queries ask for it at the same time. A scan loads its segments one
//! at a time per partition as it runs (`CachedScanExec`).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};

/// Rows per batch handed to DataFusion: slices of the cached arrays, no copies.
const BATCH_ROWS: usize = 65_536;

static CACHE: OnceLock<ColumnCache> = OnceLock::new();

/// Turns the cache on with a budget in bytes (0 leaves it off). The first call wins; later
/// calls change nothing and return false.
pub fn configure(budget_bytes: usize) -> bool {
    budget_bytes > 0 && CACHE.set(ColumnCache::new(budget_bytes)).is_ok()
}

/// The process's cache, when configured.
pub fn active() -> Option<&'static ColumnCache> {
    CACHE.get()
}

/// What the cache holds, for metrics.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CacheStats {
    pub budget_bytes: usize,
    pub used_bytes: usize,
    pub columns: usize,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

/// One segment file: the identity of its columns in the cache. Rows and bytes guard against a
/// file name reused for different content.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SegmentFile {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
}

/// A segment a scan reads: its file (the columns' identity in the cache) and, when it has
/// deleted rows, which rows are live. The mask is applied to the cached columns as they are
/// read, so a deletion vector never invalidates what the cache holds.
#[derive(Debug, Clone)]
pub struct CachedSegment {
    pub file: SegmentFile,
    pub keep: Option<Arc<arrow::array::BooleanArray>>,
}

type Key = (SegmentFile, usize);
type Slot = Arc<OnceLock<std::result::Result<ArrayRef, String>>>;

pub struct ColumnCache {
    budget: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<Key, Entry>,
    /// Estimated decoded bytes of columns not (yet) held, from the files' metadata.
    estimates: HashMap<Key, usize>,
    used: usize,
    tick: u64,
    hits: u64,
    misses: u64,
    evictions: u64,
}

struct Entry {
    slot: Slot,
    /// Bytes once loaded; 0 while loading.
    bytes: usize,
    last_used: u64,
}

impl ColumnCache {
    fn new(budget: usize) -> ColumnCache {
        ColumnCache {
            budget,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            budget_bytes: self.budget,
            used_bytes: inner.used,
            columns: inner.slots.values().filter(|e| e.bytes > 0).count(),
            hits: inner.hits,
            misses: inner.misses,
            evictions: inner.evictions,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves only counters half-updated: keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Column `index` of `schema` in `segment`, decoded and cast to the scan type.
    fn column(&self, segment: &SegmentFile, schema: &SchemaRef, index: usize) -> Result<ArrayRef> {
        let key = (segment.clone(), index);
        let slot = {
            let mut inner = self.lock();
            inner.tick += 1;
            let tick = inner.tick;
            match inner.slots.get_mut(&key) {
                Some(entry) => {
                    entry.last_used = tick;
                    let slot = Arc::clone(&entry.slot);
                    inner.hits += 1;
                    slot
                }
                None => {
                    let slot: Slot = Arc::default();
                    inner.slots.insert(
                        key.clone(),
                        Entry {
                            slot: Arc::clone(&slot),
                            bytes: 0,
                            last_used: tick,
                        },
                    );
                    inner.misses += 1;
                    slot
                }
            }
        };
        let loaded = slot
            .get_or_init(|| read_column(&segment.path, schema, index).map_err(|e| e.to_string()));
        match loaded {
            Ok(array) => {
                let array = Arc::clone(array);
                self.account(&key, &slot, array.get_array_memory_size());
                Ok(array)
            }
            Err(message) => {
                let mut inner = self.lock();
                if inner
                    .slots
                    .get(&key)
                    .is_some_and(|e| Arc::ptr_eq(&e.slot, &slot))
                {
                    inner.slots.remove(&key);
                }
                Err(Error::Query(message.clone()))
            }
        }
    }

    /// Records the size of a freshly loaded entry and evicts least recently used ones while
    /// over budget (never the entry just loaded).
    fn account(&self, key: &Key, slot: &Slot, bytes: usize) {
        let mut inner = self.lock();
        match inner.slots.get_mut(key) {
            Some(entry) if Arc::ptr_eq(&entry.slot, slot) && entry.bytes == 0 => {
                entry.bytes = bytes.max(1);
                inner.used += bytes.max(1);
            }
            _ => return,
        }
        while inner.used > self.budget {
            let victim = inner
                .slots
                .iter()
                .filter(|(k, e)| e.bytes > 0 && *k != key)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            let Some(victim) = victim else { break };
            if let Some(entry) = inner.slots.remove(&victim) {
                inner.used -= entry.bytes;
                inner.evictions += 1;
            }
        }
    }

    /// Whether a segment's projected columns are read from the cache: each one held already
    /// or estimated at most an eighth of the budget. A larger column is read as a stream of
    /// batches instead, never decoded whole: at a small budget a 4 M-row segment's text
    /// column alone is several times the cache, and decoding it to decide not to keep it
    /// took the process far over its budget.
    fn serves(&self, segment: &SegmentFile, schema: &SchemaRef, projection: &[usize]) -> bool {
        let limit = self.budget / 8;
        projection.iter().all(|&index| {
            let key = (segment.clone(), index);
            let known = {
                let inner = self.lock();
                if inner.slots.get(&key).is_some_and(|e| e.bytes > 0) {
                    return true;
                }
                inner.estimates.get(&key).copied()
            };
            let estimate = match known {
                Some(estimate) => estimate,
                None => {
                    // An unreadable file is not decided here: the load reports it.
                    let Ok(estimate) = estimate_column(&segment.path, schema, index) else {
                        return true;
                    };
                    self.lock().estimates.insert(key, estimate);
                    estimate
                }
            };
            estimate <= limit
        })
    }

    /// Forgets the columns of segments under `data_dir` that are not in `live` (replaced or
    /// removed by the store since they were loaded).
    pub fn retain(&self, data_dir: &Path, live: &[SegmentFile]) {
        let live: std::collections::HashSet<&SegmentFile> = live.iter().collect();
        let mut inner = self.lock();
        inner.slots.retain(|(segment, _), _| {
            !segment.path.starts_with(data_dir) || live.contains(segment)
        });
        inner.estimates.retain(|(segment, _), _| {
            !segment.path.starts_with(data_dir) || live.contains(segment)
        });
        inner.used = inner.slots.values().map(|e| e.bytes).sum();
    }
}

/// Reads one column of a segment file, cast to the scan schema's type; a column the file does
/// not have (written by an older version) is all nulls.
fn read_column(path: &Path, schema: &SchemaRef, index: usize) -> Result<ArrayRef> {
    let field = schema.field(index);
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let Some(root) = builder
        .parquet_schema()
        .root_schema()
        .get_fields()
        .iter()
        .position(|f| f.name() == field.name())
    else {
        return Ok(new_null_array(field.data_type(), rows));
    };
    let mask = ProjectionMask::roots(builder.parquet_schema(), [root]);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS * 4)
        .build()?;
    let mut parts = Vec::new();
    for batch in reader {
        parts.push(Arc::clone(batch?.column(0)));
    }
    let refs: Vec<&dyn arrow::array::Array> = parts.iter().map(|a| a.as_ref()).collect();
    let array = match refs.len() {
        0 => new_null_array(field.data_type(), 0),
        1 => Arc::clone(&parts[0]),
        _ => arrow::compute::concat(&refs)?,
    };
    if array.data_type() == field.data_type() {
        Ok(array)
    } else {
        Ok(arrow::compute::cast(&array, field.data_type())?)
    }
}

/// The decoded size of a column of a segment, estimated from the file's metadata: a slot per
/// row of the scan type (16 bytes for text, as views) plus the column's uncompressed bytes for
/// text.
fn estimate_column(path: &Path, schema: &SchemaRef, index: usize) -> Result<usize> {
    let field = schema.field(index);
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|e| Error::Query(format!("{}: {e}", path.display())))?;
    let rows = usize::try_from(metadata.file_metadata().num_rows()).unwrap_or(0);
    let width = field.data_type().primitive_width().unwrap_or(16);
    let column = metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().parts().first().map(String::as_str) == Some(field.name()));
    let text = match column {
        Some(column) if field.data_type().primitive_width().is_none() => metadata
            .row_groups()
            .iter()
            .map(|g| usize::try_from(g.column(column).uncompressed_size()).unwrap_or(0))
            .sum(),
        _ => 0,
    };
    Ok(rows.saturating_mul(width).saturating_add(text))
}

/// A segment's projected columns as a stream of batches of its live rows, read from the file
/// (not the cache), each cast to the scan type.
fn stream_segment(
    segment: &CachedSegment,
    schema: &SchemaRef,
    projection: &[usize],
    projected: &SchemaRef,
) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>> + Send>> {
    stream_segment_in(segment, schema, projection, projected, BATCH_ROWS)
}

fn stream_segment_in(
    segment: &CachedSegment,
    schema: &SchemaRef,
    projection: &[usize],
    projected: &SchemaRef,
    batch_rows: usize,
) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>> + Send>> {
    let path = &segment.file.path;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let roots: Vec<Option<usize>> = projection
        .iter()
        .map(|&index| {
            let name = schema.field(index).name();
            builder
                .parquet_schema()
                .root_schema()
                .get_fields()
                .iter()
                .position(|f| f.name() == name)
        })
        .collect();
    let mut present: Vec<usize> = roots.iter().flatten().copied().collect();
    present.sort_unstable();
    present.dedup();
    let mask = ProjectionMask::roots(builder.parquet_schema(), present.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(batch_rows)
        .build()?;
    let file_schema = arrow::array::RecordBatchReader::schema(&reader);
    let (keep, projected) = (segment.keep.clone(), Arc::clone(projected));
    let names: Vec<String> = projection
        .iter()
        .map(|&index| schema.field(index).name().clone())
        .collect();
    let shown = path.display().to_string();
    let mut offset = 0usize;
    Ok(Box::new(reader.map(move |batch| {
        let batch = batch?;
        let rows = batch.num_rows();
        let columns = names
            .iter()
            .zip(projected.fields())
            .map(|(name, field)| match file_schema.index_of(name) {
                Ok(at) => {
                    let column = batch.column(at);
                    if column.data_type() == field.data_type() {
                        Ok(Arc::clone(column))
                    } else {
                        Ok(arrow::compute::cast(column, field.data_type())?)
                    }
                }
                Err(_) => Ok(new_null_array(field.data_type(), rows)),
            })
            .collect::<Result<Vec<_>>>()?;
        let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows));
        let out = RecordBatch::try_new_with_options(Arc::clone(&projected), columns, &options)?;
        let out = match &keep {
            Some(keep) => {
                if offset + rows > keep.len() {
                    return Err(Error::Query(format!(
                        "segment {shown}: its deletion vector covers {} rows, the file has more",
                        keep.len()
                    )));
                }
                arrow::compute::filter_record_batch(&out, &keep.slice(offset, rows))?
            }
            None => out,
        };
        offset += rows;
        Ok(out)
    })))
}

/// The stored rows of some segments, served from the cache.
#[derive(Debug)]
pub struct CachedTable {
    schema: SchemaRef,
    segments: Vec<CachedSegment>,
    cache: &'static ColumnCache,
    partitions: usize,
}

impl std::fmt::Debug for ColumnCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColumnCache")
            .field("stats", &self.stats())
            .finish()
    }
}

impl CachedTable {
    pub fn new(
        schema: SchemaRef,
        segments: Vec<CachedSegment>,
        cache: &'static ColumnCache,
        partitions: usize,
    ) -> CachedTable {
        CachedTable {
            schema,
            segments,
            cache,
            partitions: partitions.max(1),
        }
    }
}

/// One segment's projected columns as a batch of its live rows, from the cache (loading
/// what is missing).
fn segment_batch(
    cache: &ColumnCache,
    segment: &CachedSegment,
    schema: &SchemaRef,
    projection: &[usize],
    projected: &SchemaRef,
) -> Result<RecordBatch> {
    let columns = projection
        .iter()
        .map(|&index| cache.column(&segment.file, schema, index))
        .collect::<Result<Vec<_>>>()?;
    let rows = usize::try_from(segment.file.rows).unwrap_or(0);
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows));
    let batch = RecordBatch::try_new_with_options(Arc::clone(projected), columns, &options)?;
    match &segment.keep {
        Some(keep) if keep.len() != rows => Err(Error::Query(format!(
            "segment {}: its deletion vector covers {} rows, the segment has {rows}",
            segment.file.path.display(),
            keep.len()
        ))),
        Some(keep) => Ok(arrow::compute::filter_record_batch(&batch, keep)?),
        None => Ok(batch),
    }
}

/// A segment's rows as a scan reads them: whole from the cache, or streamed from the file.
enum Loaded {
    Whole(RecordBatch),
    Stream(Box<dyn Iterator<Item = Result<RecordBatch>> + Send>),
}

/// The scan of a [`CachedTable`]: partition `p` reads segments `p`, `p + n`, … one at a time
/// while it runs, so a query holds one segment's projected columns per partition (and what
/// the cache keeps within its budget), never the whole range's.
#[derive(Debug)]
struct CachedScanExec {
    table_schema: SchemaRef,
    projected: SchemaRef,
    projection: Arc<Vec<usize>>,
    segments: Arc<Vec<CachedSegment>>,
    cache: &'static ColumnCache,
    partitions: usize,
    properties: Arc<datafusion::physical_plan::PlanProperties>,
}

impl datafusion::physical_plan::DisplayAs for CachedScanExec {
    fn fmt_as(
        &self,
        _format: datafusion::physical_plan::DisplayFormatType,
        f: &mut std::fmt::Formatter,
    ) -> std::fmt::Result {
        write!(
            f,
            "CachedScanExec: segments={}, partitions={}, projection={:?}",
            self.segments.len(),
            self.partitions,
            self.projected
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
        )
    }
}

impl ExecutionPlan for CachedScanExec {
    fn name(&self) -> &str {
        "CachedScanExec"
    }

    fn properties(&self) -> &Arc<datafusion::physical_plan::PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(
            &Arc<dyn datafusion::physical_plan::PhysicalExpr>,
        ) -> datafusion::error::Result<
            datafusion::common::tree_node::TreeNodeRecursion,
        >,
    ) -> datafusion::error::Result<datafusion::common::tree_node::TreeNodeRecursion> {
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<datafusion::execution::TaskContext>,
    ) -> datafusion::error::Result<datafusion::execution::SendableRecordBatchStream> {
        use futures::StreamExt;
        let mine: Vec<usize> = (partition..self.segments.len())
            .step_by(self.partitions)
            .collect();
        let (segments, cache, table_schema, projection, projected) = (
            Arc::clone(&self.segments),
            self.cache,
            Arc::clone(&self.table_schema),
            Arc::clone(&self.projection),
            Arc::clone(&self.projected),
        );
        let external = |e: Error| datafusion::error::DataFusionError::External(Box::new(e));
        let joined =
            |e: tokio::task::JoinError| datafusion::error::DataFusionError::External(Box::new(e));
        let loads = futures::stream::iter(mine).then(move |i| {
            let (segments, table_schema, projection, projected) = (
                Arc::clone(&segments),
                Arc::clone(&table_schema),
                Arc::clone(&projection),
                Arc::clone(&projected),
            );
            async move {
                // Decoding is blocking work: off the runtime's worker threads.
                tokio::task::spawn_blocking(move || -> Result<Loaded> {
                    let segment = &segments[i];
                    if cache.serves(&segment.file, &table_schema, &projection) {
                        segment_batch(cache, segment, &table_schema, &projection, &projected)
                            .map(Loaded::Whole)
                    } else {
                        stream_segment(segment, &table_schema, &projection, &projected)
                            .map(Loaded::Stream)
                    }
                })
                .await
                .map_err(joined)?
                .map_err(external)
            }
        });
        let slices = loads.flat_map(move |loaded| -> futures::stream::BoxStream<'static, _> {
            match loaded {
                Ok(Loaded::Whole(batch)) => {
                    let batches: Vec<datafusion::error::Result<RecordBatch>> = (0..batch
                        .num_rows())
                        .step_by(BATCH_ROWS)
                        .map(|offset| {
                            Ok(batch.slice(offset, BATCH_ROWS.min(batch.num_rows() - offset)))
                        })
                        .collect();
                    Box::pin(futures::stream::iter(batches))
                }
                // Each batch decoded off the runtime's threads, one at a time.
                Ok(Loaded::Stream(batches)) => Box::pin(futures::stream::unfold(
                    Some(batches),
                    move |state| async move {
                        let mut batches = state?;
                        let (next, batches) = tokio::task::spawn_blocking(move || {
                            let next = batches.next();
                            (next, batches)
                        })
                        .await
                        .ok()?;
                        next.map(|batch| (batch.map_err(external), Some(batches)))
                    },
                )),
                Err(e) => Box::pin(futures::stream::iter([Err(e)])),
            }
        });
        Ok(Box::pin(
            datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                Arc::clone(&self.projected),
                slices,
            ),
        ))
    }
}

#[async_trait]
impl TableProvider for CachedTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let projection: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let projected = Arc::new(self.schema.project(&projection)?);
        let partitions = self.partitions.min(self.segments.len()).max(1);
        let properties = datafusion::physical_plan::PlanProperties::new(
            datafusion::physical_expr::EquivalenceProperties::new(Arc::clone(&projected)),
            datafusion::physical_plan::Partitioning::UnknownPartitioning(partitions),
            datafusion::physical_plan::execution_plan::EmissionType::Incremental,
            datafusion::physical_plan::execution_plan::Boundedness::Bounded,
        );
        Ok(Arc::new(CachedScanExec {
            table_schema: Arc::clone(&self.schema),
            projected,
            projection: Arc::new(projection),
            segments: Arc::new(self.segments.clone()),
            cache: self.cache,
            partitions,
            properties: Arc::new(properties),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn segment(dir: &Path) -> (SegmentFile, SchemaRef) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::Utf8, true),
            Field::new("c", DataType::Int64, false),
        ]));
        let rows = 10_000;
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows)),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("value number {i}")),
                )),
                Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i * 2))),
            ],
        )
        .unwrap();
        let path = dir.join("s.parquet");
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(File::create(&path).unwrap(), schema, None)
                .unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        // Scanned with text as views, and a column the file lacks.
        let scan = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::Utf8View, true),
            Field::new("c", DataType::Int64, false),
            Field::new("d", DataType::Utf8View, true),
        ]));
        let bytes = std::fs::metadata(&path).unwrap().len();
        (
            SegmentFile {
                path,
                rows: 10_000,
                bytes,
            },
            scan,
        )
    }

    #[test]
    fn columns_load_once_cast_to_the_scan_type_and_evict_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let (file, scan) = segment(dir.path());
        let one_int_column = 10_000 * 8;
        let cache = ColumnCache::new(one_int_column * 2 + one_int_column / 2);
        let a = cache.column(&file, &scan, 0).unwrap();
        assert_eq!(a.len(), 10_000);
        let b = cache.column(&file, &scan, 1).unwrap();
        assert_eq!(b.data_type(), &DataType::Utf8View);
        let d = cache.column(&file, &scan, 3).unwrap();
        assert_eq!(
            d.null_count(),
            10_000,
            "a column the file lacks is all nulls"
        );
        let stats = cache.stats();
        assert!(stats.evictions > 0, "{stats:?}");
        assert!(stats.used_bytes <= stats.budget_bytes || stats.columns == 1);
        // Column c is new; a (the oldest) went first.
        cache.column(&file, &scan, 2).unwrap();
        let misses = cache.stats().misses;
        cache.column(&file, &scan, 2).unwrap();
        assert_eq!(cache.stats().misses, misses, "a hit");
        cache.column(&file, &scan, 0).unwrap();
        assert_eq!(cache.stats().misses, misses + 1, "a was evicted");
    }

    #[test]
    fn deleted_rows_are_left_out_of_every_projection() {
        let dir = tempfile::tempdir().unwrap();
        let (file, scan) = segment(dir.path());
        let cache = ColumnCache::new(1 << 24);
        let deleted: roaring::RoaringBitmap = [0u32, 7, 9_999].into_iter().collect();
        let segment = CachedSegment {
            file: file.clone(),
            keep: Some(Arc::new(crate::store::deletes::keep_mask(&deleted, 10_000))),
        };
        let projected = Arc::new(scan.project(&[0]).unwrap());
        let batch = segment_batch(&cache, &segment, &scan, &[0], &projected).unwrap();
        assert_eq!(batch.num_rows(), 9_997);
        let a = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!((a.value(0), a.value(5), a.value(6)), (1, 6, 8));
        assert_eq!(a.value(9_996), 9_998);
        // No column at all (a count): the row count alone is masked.
        let none = Arc::new(scan.project(&[]).unwrap());
        let batch = segment_batch(&cache, &segment, &scan, &[], &none).unwrap();
        assert_eq!(batch.num_rows(), 9_997);
        // A mask of the wrong length is damage, named.
        let wrong = CachedSegment {
            file,
            keep: Some(Arc::new(crate::store::deletes::keep_mask(&deleted, 5))),
        };
        let error = segment_batch(&cache, &wrong, &scan, &[0], &projected)
            .unwrap_err()
            .to_string();
        assert!(error.contains("deletion vector covers 5 rows"), "{error}");
    }

    #[test]
    fn a_column_too_large_for_the_cache_is_streamed_with_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let (file, scan) = segment(dir.path());
        let deleted: roaring::RoaringBitmap = [0u32, 7, 4_096, 4_097, 9_999].into_iter().collect();
        let segment = CachedSegment {
            file: file.clone(),
            keep: Some(Arc::new(crate::store::deletes::keep_mask(&deleted, 10_000))),
        };
        // Text, an integer and a column the file lacks, in another order than the file's.
        let projection = [1, 0, 3];
        let projected = Arc::new(scan.project(&projection).unwrap());
        // An eighth of this budget is less than any of the columns.
        let small = ColumnCache::new(10_000 * 8);
        assert!(!small.serves(&file, &scan, &projection));
        assert!(!small.serves(&file, &scan, &[0]));
        let streamed: Vec<RecordBatch> =
            stream_segment_in(&segment, &scan, &projection, &projected, 4_096)
                .unwrap()
                .collect::<Result<_>>()
                .unwrap();
        assert_eq!(streamed.len(), 3, "three batches, the mask sliced for each");
        let streamed = arrow::compute::concat_batches(&projected, &streamed).unwrap();
        assert_eq!(small.stats().columns, 0, "nothing was decoded whole");
        let large = ColumnCache::new(1 << 26);
        assert!(large.serves(&file, &scan, &projection));
        let whole = segment_batch(&large, &segment, &scan, &projection, &projected).unwrap();
        assert_eq!(streamed.num_rows(), 9_995);
        assert_eq!(streamed, whole);
        // A held column is served whatever its estimate.
        let tiny = ColumnCache::new(1);
        tiny.column(&file, &scan, 0).unwrap();
        assert!(tiny.serves(&file, &scan, &[0]));
        // A mask too short for the file is damage, named.
        let wrong = CachedSegment {
            file,
            keep: Some(Arc::new(crate::store::deletes::keep_mask(&deleted, 5_000))),
        };
        let error = stream_segment_in(&wrong, &scan, &projection, &projected, 4_096)
            .unwrap()
            .find_map(|b| b.err())
            .unwrap()
            .to_string();
        assert!(
            error.contains("deletion vector covers 5000 rows"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_file_is_an_error_and_is_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let (mut file, scan) = segment(dir.path());
        file.path = dir.path().join("gone.parquet");
        let cache = ColumnCache::new(1 << 20);
        let error = cache.column(&file, &scan, 0).unwrap_err().to_string();
        assert!(error.contains("gone.parquet"), "{error}");
        assert_eq!(cache.stats().columns, 0);
        assert!(cache.lock().slots.is_empty());
    }
}
