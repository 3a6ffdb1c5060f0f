//! One ingest: records in observation order in, one atomic catalog publish out.
//!
//! Rules (PRODUCT.md §2): a record is identified by `(MessageTraceId, RecipientAddress)`;
//! an observation with the same status as the stored row changes nothing (so re-ingesting a
//! file, or an overlapping window, is a no-op); one with a less final status
//! (`Delivered` -> `Pending`) is ignored; any other replaces the stored row.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use chrono::{NaiveDate, Utc};
use mailscope_record::{Record, Status};

use super::catalog::{Catalog, SegmentMeta, sync_dir};
use super::keys::{KeyRun, LookupCost};
use super::{SEGMENTS_DIR, Store, segment};
use crate::error::{Error, Result};
use crate::geo::GeoDatabase;
use crate::schema::{BatchBuilder, SourceMeta, stored_schema};

/// Buffered new rows across all days before the largest days are written out.
const FLUSH_ROWS: usize = 1_000_000;
/// A day with more segments than this is compacted into one by the ingest that touches it.
const MAX_SEGMENTS_PER_DAY: usize = 8;

/// What an ingest did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestReport {
    /// Identities seen for the first time.
    pub added: u64,
    /// Stored rows replaced by a newer observation (e.g. Pending -> Delivered).
    pub updated: u64,
    /// Observations identical in status to the stored row (re-ingest, overlapping windows).
    pub unchanged: u64,
    /// Observations less final than the stored row, ignored.
    pub stale: u64,
    /// Segment files written (new rows, rewrites and compactions).
    pub segments_written: u64,
    /// Rows in the store after the ingest.
    pub rows_after: u64,
    /// Whether a new catalog was published.
    pub published: bool,
    /// Identities read into memory from published segments without a key run (written by an
    /// older version or with a damaged run): the cost the key runs avoid.
    pub keys_read_from_segments: u64,
    /// Blocks of key runs read to answer "is this identity stored?".
    pub key_blocks_read: u64,
    /// Key runs read whole (an ingest that asked about a large share of a segment's rows).
    pub key_runs_loaded: u64,
}

#[derive(Debug, Clone, Copy)]
enum Place {
    Pending(u32),
    File { file: u32, row: u32 },
}

#[derive(Debug, Clone)]
struct Slot {
    place: Place,
    status: Status,
    /// The published row this ingest superseded, if any: when a later observation in the
    /// same ingest brings the identity back to that row's status, the row is restored
    /// instead of rewritten, so re-ingesting a file that holds Delivered then Failed for one
    /// identity changes nothing.
    superseded: Option<(u32, u32, Status)>,
}

#[derive(Default)]
struct Day {
    /// Identities this ingest touched (and, for published segments without a key run, every
    /// identity stored in them). Other published identities are found in `runs`.
    index: HashMap<u128, Slot>,
    /// Key runs of the day's published segments, with their file ids.
    runs: Vec<(u32, KeyRun)>,
    /// New rows not yet written; `None` once superseded within this ingest.
    pending: Vec<Option<Box<Record>>>,
    /// Identity of each pending row, so flushing need not hash again.
    pending_keys: Vec<u128>,
    alive: usize,
    /// Files (ids into `Ingest::files`) holding this day's rows.
    files: Vec<u32>,
}

struct FileEntry {
    /// For a new file, `rows` and the time range are filled once the writer finished.
    segment: SegmentMeta,
    /// Published before this ingest (as opposed to written by it).
    existing: bool,
    /// Rows superseded by this ingest.
    deleted: Vec<u32>,
}

struct WriteJob {
    file: u32,
    path: std::path::PathBuf,
    /// Rows boxed so that buffering a million of them never moves them.
    records: Vec<Option<Box<Record>>>,
    /// Indices into `records` of the rows to write, in `Received` order.
    order: Vec<u32>,
}

type WriteResult = Result<(u32, segment::Written)>;

/// An ingest in progress. Nothing is visible to readers until [`Ingest::commit`].
pub struct Ingest<'s> {
    store: &'s mut Store,
    generation: u64,
    next_file_number: u32,
    days: BTreeMap<NaiveDate, Day>,
    files: Vec<FileEntry>,
    pending_total: usize,
    /// The newest UTC day seen so far.
    latest_day: Option<NaiveDate>,
    report: IngestReport,
    /// Checkpoints to publish with this ingest's records.
    checkpoints: Vec<(String, serde_json::Value)>,
    jobs: Option<mpsc::Sender<WriteJob>>,
    writer: Option<JoinHandle<Vec<WriteResult>>>,
}

impl Store {
    /// Starts an ingest of records from one source. `geo` enriches `FromIP`/`ToIP`.
    pub fn ingest(&mut self, geo: Option<Arc<GeoDatabase>>, meta: SourceMeta) -> Ingest<'_> {
        let receipt_ms = Utc::now().timestamp_millis();
        let (sender, receiver) = mpsc::channel::<WriteJob>();
        let writer_meta = meta.clone();
        // Geolocating and encoding Parquet run beside parsing and merging: two cores.
        let writer = std::thread::spawn(move || {
            let mut builder = BatchBuilder::new(geo.as_deref());
            receiver
                .into_iter()
                .map(|job| {
                    for index in &job.order {
                        if let Some(Some(record)) = job.records.get(*index as usize) {
                            builder.push(record, &writer_meta, receipt_ms);
                        }
                    }
                    let batch = builder.finish()?;
                    segment::write(&job.path, &batch).map(|written| (job.file, written))
                })
                .collect()
        });
        let generation = self.catalog.generation + 1;
        Ingest {
            store: self,
            generation,
            next_file_number: 0,
            days: BTreeMap::new(),
            files: Vec::new(),
            pending_total: 0,
            latest_day: None,
            report: IngestReport::default(),
            checkpoints: Vec::new(),
            jobs: Some(sender),
            writer: Some(writer),
        }
    }
}

impl Ingest<'_> {
    /// Adds one observation. Observations must come in the order they were made.
    pub fn push(&mut self, record: Record) -> Result<()> {
        let day_key = record.received.date_naive();
        if !self.days.contains_key(&day_key) {
            let day = self.load_day(day_key)?;
            self.days.insert(day_key, day);
        }
        let key = record.identity();
        let Some(day) = self.days.get_mut(&day_key) else {
            return Err(Error::Query("day index vanished".into()));
        };
        if !day.index.contains_key(&key) && !day.runs.is_empty() {
            // Not touched by this ingest yet: is it published? At most one segment holds it.
            let mut cost = LookupCost::default();
            for (file, run) in &mut day.runs {
                if let Some((row, status)) = run.find(key, &mut cost)? {
                    day.index.insert(
                        key,
                        Slot {
                            place: Place::File { file: *file, row },
                            status,
                            superseded: None,
                        },
                    );
                    break;
                }
            }
            self.report.key_blocks_read += cost.blocks_read;
            self.report.key_runs_loaded += cost.runs_loaded;
        }
        let mut superseded = None;
        match day.index.get_mut(&key) {
            None => self.report.added += 1,
            Some(slot) if slot.status == record.status => {
                self.report.unchanged += 1;
                return Ok(());
            }
            Some(slot) if record.status.finality() < slot.status.finality() => {
                self.report.stale += 1;
                return Ok(());
            }
            Some(slot) => {
                let restore = match (slot.place, &slot.superseded) {
                    (Place::Pending(index), Some((file, row, status)))
                        if *status == record.status =>
                    {
                        Some((index, *file, *row))
                    }
                    _ => None,
                };
                if let Some((index, file, row)) = restore {
                    // Back to what is published: drop the pending row, keep the stored one.
                    if let Some(entry) = day.pending.get_mut(index as usize) {
                        *entry = None;
                        day.alive -= 1;
                        self.pending_total -= 1;
                    }
                    if let Some(entry) = self.files.get_mut(file as usize) {
                        entry.deleted.retain(|r| *r != row);
                    }
                    slot.place = Place::File { file, row };
                    slot.status = record.status;
                    slot.superseded = None;
                    self.report.updated = self.report.updated.saturating_sub(1);
                    self.report.unchanged += 1;
                    return Ok(());
                }
                superseded = slot.superseded.take();
                match slot.place {
                    Place::Pending(index) => {
                        if let Some(entry) = day.pending.get_mut(index as usize) {
                            *entry = None;
                            day.alive -= 1;
                            self.pending_total -= 1;
                        }
                    }
                    Place::File { file, row } => {
                        if let Some(entry) = self.files.get_mut(file as usize) {
                            entry.deleted.push(row);
                            if entry.existing {
                                superseded = Some((file, row, slot.status.clone()));
                            }
                        }
                    }
                }
                self.report.updated += 1;
            }
        }
        let place = Place::Pending(u32::try_from(day.pending.len()).unwrap_or(u32::MAX));
        day.index.insert(
            key,
            Slot {
                place,
                status: record.status.clone(),
                superseded,
            },
        );
        day.pending.push(Some(Box::new(record)));
        day.pending_keys.push(key);
        if self.latest_day.is_none_or(|latest| day_key > latest) {
            self.latest_day = Some(day_key);
        }
        day.alive += 1;
        self.pending_total += 1;
        if self.pending_total >= FLUSH_ROWS {
            self.flush_largest_days()?;
        }
        Ok(())
    }

    /// Opens the key runs of a day's published segments; a segment without a usable run has
    /// its identities read into the day's index from its own columns.
    fn load_day(&mut self, day_key: NaiveDate) -> Result<Day> {
        let day_text = day_key.format("%Y-%m-%d").to_string();
        let mut day = Day::default();
        let segments: Vec<SegmentMeta> = self
            .store
            .catalog
            .segments
            .iter()
            .filter(|s| s.day == day_text)
            .cloned()
            .collect();
        for segment_meta in segments {
            let path = self
                .store
                .catalog
                .segment_path(&self.store.dir, &segment_meta);
            let file = self.add_file(segment_meta, true);
            day.files.push(file);
            match KeyRun::open(&path) {
                Ok(Some(run)) => {
                    day.runs.push((file, run));
                    continue;
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%error, "key run unusable; reading the segment's keys");
                }
            }
            let keys = segment::read_keys(&path)?;
            self.report.keys_read_from_segments += keys.len() as u64;
            for (row, (key, status)) in keys.into_iter().enumerate() {
                let row = u32::try_from(row).unwrap_or(u32::MAX);
                day.index.insert(
                    key,
                    Slot {
                        place: Place::File { file, row },
                        status,
                        superseded: None,
                    },
                );
            }
        }
        Ok(day)
    }

    fn add_file(&mut self, segment: SegmentMeta, existing: bool) -> u32 {
        let id = u32::try_from(self.files.len()).unwrap_or(u32::MAX);
        self.files.push(FileEntry {
            segment,
            existing,
            deleted: Vec::new(),
        });
        id
    }

    fn new_segment(&mut self, day: NaiveDate) -> SegmentMeta {
        let day_text = day.format("%Y-%m-%d").to_string();
        let file = format!(
            "{SEGMENTS_DIR}/{day_text}/g{:010}-{:05}.parquet",
            self.generation, self.next_file_number
        );
        self.next_file_number += 1;
        SegmentMeta {
            file,
            day: day_text,
            rows: 0,
            min_received: 0,
            max_received: 0,
            bytes: 0,
            rollup: None,
        }
    }

    /// Writes out days until half the buffer is free: settled days first (older than the
    /// day before the newest seen), because a late status change for a row still buffered
    /// costs nothing while one for a written row costs a rewrite of its segment.
    fn flush_largest_days(&mut self) -> Result<()> {
        let settled_before = self.latest_day.and_then(|d| d.pred_opt());
        let mut sizes: Vec<(bool, usize, NaiveDate)> = self
            .days
            .iter()
            .filter(|(_, day)| day.alive > 0)
            .map(|(key, day)| (settled_before.is_some_and(|s| *key < s), day.alive, *key))
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        for (_, _, key) in sizes {
            if self.pending_total < FLUSH_ROWS / 2 {
                break;
            }
            self.flush_day(key)?;
        }
        Ok(())
    }

    /// Hands a day's pending rows, sorted by `Received`, to the writer thread and points the
    /// key index at their rows in the new file.
    fn flush_day(&mut self, day_key: NaiveDate) -> Result<()> {
        let Some(day) = self.days.get_mut(&day_key) else {
            return Ok(());
        };
        let records = std::mem::take(&mut day.pending);
        let keys = std::mem::take(&mut day.pending_keys);
        self.pending_total -= day.alive;
        day.alive = 0;
        let mut order: Vec<u32> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_some())
            .filter_map(|(i, _)| u32::try_from(i).ok())
            .collect();
        if order.is_empty() {
            return Ok(());
        }
        let segment_meta = self.new_segment(day_key);
        let path = self
            .store
            .catalog
            .segment_path(&self.store.dir, &segment_meta);
        let file = self.add_file(segment_meta, false);
        let Some(day) = self.days.get_mut(&day_key) else {
            return Ok(());
        };
        // Stable: rows received at the same instant keep their order, which the key
        // index's row numbers depend on.
        order.sort_by_key(|i| records[*i as usize].as_ref().map(|r| r.received));
        for (row, index) in order.iter().enumerate() {
            if let Some(slot) = keys.get(*index as usize).and_then(|k| day.index.get_mut(k)) {
                slot.place = Place::File {
                    file,
                    row: u32::try_from(row).unwrap_or(u32::MAX),
                };
            }
        }
        day.files.push(file);
        let sender = self
            .jobs
            .as_ref()
            .ok_or_else(|| Error::Query("ingest already committed".into()))?;
        sender
            .send(WriteJob {
                file,
                path,
                records,
                order,
            })
            .map_err(|_| Error::Query("segment writer stopped".into()))?;
        Ok(())
    }

    /// Publishes `value` as the checkpoint under `key` in the same catalog as this ingest's
    /// records (a collector's position: see [`Catalog::checkpoints`]).
    pub fn set_checkpoint(&mut self, key: &str, value: serde_json::Value) {
        self.checkpoints.retain(|(k, _)| k != key);
        self.checkpoints.push((key.to_owned(), value));
    }

    /// Writes what is left, rewrites segments that lost rows, compacts crowded days and
    /// publishes the new catalog in one atomic rename. Dropping an `Ingest` without committing
    /// publishes nothing.
    pub fn commit(mut self) -> Result<IngestReport> {
        let keys: Vec<NaiveDate> = self.days.keys().copied().collect();
        for key in &keys {
            self.flush_day(*key)?;
        }
        self.finish_writer()?;
        let changed = self
            .files
            .iter()
            .any(|f| !f.existing || !f.deleted.is_empty());
        let moved = self
            .checkpoints
            .iter()
            .any(|(key, value)| self.store.catalog.checkpoints.get(key) != Some(value));
        if !changed && !moved {
            self.report.rows_after = self.store.catalog.rows();
            return Ok(std::mem::take(&mut self.report));
        }
        let mut replaced: Vec<String> = Vec::new();
        let mut added: Vec<SegmentMeta> = Vec::new();
        for key in keys {
            let Some(day) = self.days.get(&key) else {
                continue;
            };
            let file_ids = day.files.clone();
            let live_files: Vec<u32> = file_ids
                .iter()
                .copied()
                .filter(|f| self.files[*f as usize].segment.rows > 0)
                .collect();
            let crowded = live_files.len() > MAX_SEGMENTS_PER_DAY;
            // Files to merge into one new segment: all of a crowded day's, else each file
            // that lost rows on its own. Merging streams (bounded memory, `merge`).
            let mut groups: Vec<Vec<(std::path::PathBuf, Vec<u32>)>> = Vec::new();
            let mut crowd: Vec<(std::path::PathBuf, Vec<u32>)> = Vec::new();
            for file in live_files {
                let entry = &self.files[file as usize];
                let needs_rewrite = crowded || !entry.deleted.is_empty();
                if !needs_rewrite {
                    if !entry.existing {
                        added.push(entry.segment.clone());
                    }
                    continue;
                }
                let path = self
                    .store
                    .catalog
                    .segment_path(&self.store.dir, &entry.segment);
                if entry.existing {
                    replaced.push(entry.segment.file.clone());
                }
                let mut deleted = entry.deleted.clone();
                deleted.sort_unstable();
                deleted.dedup();
                if crowded {
                    crowd.push((path, deleted));
                } else {
                    groups.push(vec![(path, deleted)]);
                }
            }
            if crowded {
                groups.push(crowd);
            }
            for inputs in groups {
                if let Some(segment) = self.merge_now(key, &inputs)? {
                    added.push(segment);
                }
            }
        }
        self.publish(&replaced, added)?;
        Ok(std::mem::take(&mut self.report))
    }

    /// Writes the live rows of `inputs` (segments sorted by `Received`, each with its
    /// deleted rows) merged in `Received` order into one new segment of `day`; `None` when no
    /// row is left (nothing is kept on disk then).
    fn merge_now(
        &mut self,
        day: NaiveDate,
        inputs: &[(std::path::PathBuf, Vec<u32>)],
    ) -> Result<Option<SegmentMeta>> {
        let mut meta = self.new_segment(day);
        let path = self.store.catalog.segment_path(&self.store.dir, &meta);
        let mut writer = segment::SegmentWriter::create(&path)?;
        merge(inputs, &mut writer)?;
        let written = writer.finish()?;
        if written.rows == 0 {
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(super::keys::path_for(&path));
            return Ok(None);
        }
        fill(&mut meta, &written);
        self.report.segments_written += 1;
        Ok(Some(meta))
    }

    fn finish_writer(&mut self) -> Result<()> {
        drop(self.jobs.take());
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let results = writer
            .join()
            .map_err(|_| Error::Query("segment writer panicked".into()))?;
        for result in results {
            let (file, written) = result?;
            if let Some(entry) = self.files.get_mut(file as usize) {
                fill(&mut entry.segment, &written);
                self.report.segments_written += 1;
            }
        }
        Ok(())
    }

    fn publish(&mut self, replaced: &[String], added: Vec<SegmentMeta>) -> Result<()> {
        for dir in added.iter().filter_map(|s| {
            let path = self.store.catalog.segment_path(&self.store.dir, s);
            path.parent().map(std::path::Path::to_path_buf)
        }) {
            sync_dir(&dir)?;
        }
        let mut segments: Vec<SegmentMeta> = self
            .store
            .catalog
            .segments
            .iter()
            .filter(|s| !replaced.contains(&s.file))
            .cloned()
            .collect();
        segments.extend(added);
        segments.sort_by(|a, b| (a.min_received, &a.file).cmp(&(b.min_received, &b.file)));
        let mut checkpoints = self.store.catalog.checkpoints.clone();
        checkpoints.extend(std::mem::take(&mut self.checkpoints));
        let catalog = Catalog {
            generation: self.generation,
            segments,
            checkpoints,
            ..Catalog::default()
        };
        catalog.publish(&self.store.dir)?;
        self.report.rows_after = catalog.rows();
        self.report.published = true;
        self.store.catalog = catalog;
        Ok(())
    }
}

impl Drop for Ingest<'_> {
    fn drop(&mut self) {
        // An abandoned ingest still waits for its writer so no thread outlives the store
        // handle; its files are unreferenced and collected later.
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn fill(meta: &mut SegmentMeta, written: &segment::Written) {
    meta.rows = written.rows;
    meta.min_received = written.min_received;
    meta.max_received = written.max_received;
    meta.bytes = written.bytes;
    meta.rollup = Some(written.rollup.clone());
}

/// Rows per batch read from each input of a merge, and per batch written.
const MERGE_BATCH_ROWS: usize = 8_192;

/// One input of a merge: its live rows, a batch at a time.
struct MergeInput {
    batches: Box<dyn Iterator<Item = Result<RecordBatch>>>,
    /// Deleted rows (file row numbers, sorted) and the file row number of `batch`'s next read.
    deleted: Vec<u32>,
    next_file_row: usize,
    batch: RecordBatch,
    received: Vec<i64>,
    position: usize,
}

impl MergeInput {
    /// Moves to the next batch with live rows; false when the input is exhausted.
    fn advance(&mut self) -> Result<bool> {
        loop {
            let Some(batch) = self.batches.next() else {
                self.batch = RecordBatch::new_empty(stored_schema());
                self.received.clear();
                self.position = 0;
                return Ok(false);
            };
            let batch = batch?;
            let first = self.next_file_row;
            self.next_file_row += batch.num_rows();
            let batch = without_rows(&batch, &self.deleted, first)?;
            if batch.num_rows() == 0 {
                continue;
            }
            self.received = segment::received_values(&batch)?;
            self.batch = batch;
            self.position = 0;
            return Ok(true);
        }
    }

    fn head(&self) -> Option<i64> {
        self.received.get(self.position).copied()
    }
}

/// Streams the live rows of `inputs` into `writer` in `Received` order (rows received at the
/// same instant keep the inputs' order): one batch per input and one output batch in memory,
/// whatever the segments' sizes.
fn merge(
    inputs: &[(std::path::PathBuf, Vec<u32>)],
    writer: &mut segment::SegmentWriter,
) -> Result<()> {
    let mut sources = Vec::with_capacity(inputs.len());
    for (path, deleted) in inputs {
        let mut input = MergeInput {
            batches: Box::new(segment::batches(path, MERGE_BATCH_ROWS)?),
            deleted: deleted.clone(),
            next_file_row: 0,
            batch: RecordBatch::new_empty(stored_schema()),
            received: Vec::new(),
            position: 0,
        };
        input.advance()?;
        sources.push(input);
    }
    let mut picks: Vec<(usize, usize)> = Vec::with_capacity(MERGE_BATCH_ROWS);
    loop {
        let next = sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.head().map(|r| (r, i)))
            .min();
        let Some((_, i)) = next else {
            break;
        };
        let source = &mut sources[i];
        picks.push((i, source.position));
        source.position += 1;
        let exhausted = source.position >= source.received.len();
        if exhausted || picks.len() >= MERGE_BATCH_ROWS {
            // Write out before a batch the picks point into is replaced.
            let batches: Vec<&RecordBatch> = sources.iter().map(|s| &s.batch).collect();
            writer.write(&arrow::compute::interleave_record_batch(&batches, &picks)?)?;
            picks.clear();
        }
        if exhausted {
            sources[i].advance()?;
        }
    }
    Ok(())
}

/// `batch` (file rows `first..first + n`) without the rows in `deleted` (sorted).
fn without_rows(batch: &RecordBatch, deleted: &[u32], first: usize) -> Result<RecordBatch> {
    let end = first + batch.num_rows();
    let start = deleted.partition_point(|row| (*row as usize) < first);
    let stop = deleted.partition_point(|row| (*row as usize) < end);
    if start == stop {
        return Ok(batch.clone());
    }
    let mut keep = vec![true; batch.num_rows()];
    for row in &deleted[start..stop] {
        keep[*row as usize - first] = false;
    }
    Ok(filter_record_batch(batch, &BooleanArray::from(keep))?)
}
