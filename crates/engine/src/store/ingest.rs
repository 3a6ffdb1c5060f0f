//! One ingest: records in observation order in, one atomic catalog publish out.
//!
//! Rules (PRODUCT.md §2): a record is identified by `(MessageTraceId, RecipientAddress)`;
//! an observation with the same status as the stored row changes nothing (so re-ingesting a
//! file, or an overlapping window, is a no-op); one with a less final status
//! (`Delivered` -> `Pending`) is ignored; any other replaces the stored row.
//!
//! A replaced row that was published is deleted from its segment by a deletion vector
//! (`deletes.rs`), written beside the segment, unless so much of the segment is gone that
//! rewriting it costs little more. A day with more than [`MAX_SEGMENTS_PER_DAY`] small
//! segments has its smallest merged (`compaction_set`: each row is rewritten a few times
//! before it rests in a large segment, never the whole day at every crowded ingest).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use chrono::{NaiveDate, Utc};
use mailscope_record::{Record, Status};
use roaring::RoaringBitmap;

use super::catalog::{Catalog, DeletesMeta, SegmentMeta, sync_dir};
use super::keys::{KeyRun, LookupCost};
use super::{Store, segment};
use crate::error::{Error, Result};
use crate::geo::GeoDatabase;
use crate::schema::{BatchBuilder, SourceMeta};

/// Buffered new rows across all days before the largest days are written out: a status
/// change to a buffered row is free, one to a written row costs a deletion-vector entry,
/// and a day written in fewer pieces costs fewer merges (a quarter of this made a 10 M
/// append into 50 M take 78 s instead of 43 s, for 0.8 GB less peak memory).
const FLUSH_ROWS: usize = 1 << 20;
/// A day with more small segments than this has its smallest merged by the ingest that
/// touches it.
pub(super) const MAX_SEGMENTS_PER_DAY: usize = 8;
/// Segments with at least this many live rows (four row groups) are not merged with others
/// by appends: with 2^20, a 10 M append into 80 M (a third of a million rows a day) spent
/// a third of its time merging the day's earlier appends. Merging large segments for
/// reading is compaction's work (`mailscope store compact`).
const LARGE_SEGMENT_ROWS: u64 = 1 << 18;
/// A segment that would have more than this share of its rows deleted is rewritten without
/// them instead of given a deletion vector: its rollup becomes usable again and its dead
/// rows stop costing reads.
const REWRITE_DELETED_SHARE: f64 = 0.2;

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
    /// Deletion vectors written (segments that lost rows without being rewritten).
    pub deletion_vectors_written: u64,
    /// Bytes of segment files, their companions and deletion vectors written.
    pub bytes_written: u64,
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
    /// Rows deleted before this ingest (the published deletion vector).
    published: Option<RoaringBitmap>,
}

impl FileEntry {
    /// Every deleted row: the published vector's and this ingest's.
    fn all_deleted(&self) -> RoaringBitmap {
        let mut all = self.published.clone().unwrap_or_default();
        all.extend(self.deleted.iter().copied());
        all
    }

    fn is_deleted(&self, row: u32) -> bool {
        self.published.as_ref().is_some_and(|d| d.contains(row))
    }
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
    jobs: Option<mpsc::SyncSender<WriteJob>>,
    writer: Option<JoinHandle<Vec<WriteResult>>>,
}

impl Store {
    /// Starts an ingest of records from one source. `geo` enriches `FromIP`/`ToIP`.
    pub fn ingest(&mut self, geo: Option<Arc<GeoDatabase>>, meta: SourceMeta) -> Ingest<'_> {
        self.ingest_received_at(geo, meta, Utc::now().timestamp_millis())
    }

    /// [`Store::ingest`] with the rows' `_receipttime` given (milliseconds since the epoch)
    /// instead of the time the ingest starts.
    pub fn ingest_received_at(
        &mut self,
        geo: Option<Arc<GeoDatabase>>,
        meta: SourceMeta,
        receipt_ms: i64,
    ) -> Ingest<'_> {
        // One job waiting while one is written: a writer that falls behind holds the parser
        // back instead of letting buffered rows pile up.
        let (sender, receiver) = mpsc::sync_channel::<WriteJob>(1);
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
            // Not touched by this ingest yet: is it published? At most one segment holds it
            // as a live row; others may hold it as a deleted one.
            let mut cost = LookupCost::default();
            for (file, run) in &mut day.runs {
                if let Some((row, status)) = run.find(key, &mut cost)? {
                    if self.files[*file as usize].is_deleted(row) {
                        continue;
                    }
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
            let published = self
                .store
                .catalog
                .read_deletes(&self.store.dir, &segment_meta)?;
            let file = self.add_file(segment_meta, true);
            self.files[file as usize].published = published;
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
                if self.files[file as usize].is_deleted(row) {
                    continue;
                }
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
            published: None,
        });
        id
    }

    fn new_segment(&mut self, day: NaiveDate) -> SegmentMeta {
        let day_text = day.format("%Y-%m-%d").to_string();
        let meta = SegmentMeta::to_write(&day_text, self.generation, self.next_file_number);
        self.next_file_number += 1;
        meta
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
            // Each file with rows, and all its deleted rows.
            let live_files: Vec<(u32, RoaringBitmap)> = day
                .files
                .iter()
                .map(|f| (*f, &self.files[*f as usize]))
                .filter(|(_, entry)| entry.segment.rows > 0)
                .map(|(f, entry)| (f, entry.all_deleted()))
                .collect();
            let sizes: Vec<(u32, u64)> = live_files
                .iter()
                .map(|(f, deleted)| {
                    let rows = self.files[*f as usize].segment.rows;
                    (*f, rows.saturating_sub(deleted.len()))
                })
                .collect();
            let crowd = compaction_set(&sizes, MAX_SEGMENTS_PER_DAY);
            // Files to merge into one new segment each group: the day's smallest when it is
            // crowded, and each file that would lose too much to a deletion vector on its
            // own. Merging streams (bounded memory, `merge`).
            let mut groups: Vec<Vec<(std::path::PathBuf, RoaringBitmap)>> = Vec::new();
            let mut crowd_inputs: Vec<(std::path::PathBuf, RoaringBitmap)> = Vec::new();
            for (file, deleted) in live_files {
                let entry = &self.files[file as usize];
                let in_crowd = crowd.contains(&file);
                let path = self
                    .store
                    .catalog
                    .segment_path(&self.store.dir, &entry.segment);
                if !in_crowd && entry.deleted.is_empty() {
                    if !entry.existing {
                        added.push(entry.segment.clone());
                    }
                    continue;
                }
                let rewrite = in_crowd
                    || !entry.existing
                    || deleted.len() as f64 > entry.segment.rows as f64 * REWRITE_DELETED_SHARE;
                if entry.existing {
                    replaced.push(entry.segment.file.clone());
                }
                if !rewrite {
                    let segment = entry.segment.clone();
                    added.push(self.write_deletes(segment, &path, &deleted)?);
                } else if in_crowd {
                    crowd_inputs.push((path, deleted));
                } else {
                    groups.push(vec![(path, deleted)]);
                }
            }
            if !crowd_inputs.is_empty() {
                groups.push(crowd_inputs);
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

    /// `segment` with a deletion vector of `deleted` (every deleted row, the published
    /// vector's included), written beside it.
    fn write_deletes(
        &mut self,
        mut segment: SegmentMeta,
        path: &std::path::Path,
        deleted: &RoaringBitmap,
    ) -> Result<SegmentMeta> {
        let vector = super::deletes::path_for(path, self.generation);
        let bytes = super::deletes::write(&vector, deleted)?;
        let name = vector
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = match segment.file.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/{name}"),
            None => name,
        };
        segment.deletes = Some(DeletesMeta {
            file,
            rows: deleted.len(),
            bytes,
        });
        self.report.deletion_vectors_written += 1;
        self.report.bytes_written += bytes;
        Ok(segment)
    }

    /// Writes the live rows of `inputs` (segments sorted by `Received`, each with its
    /// deleted rows) merged in `Received` order into one new segment of `day`; `None` when no
    /// row is left (nothing is kept on disk then).
    fn merge_now(
        &mut self,
        day: NaiveDate,
        inputs: &[(std::path::PathBuf, RoaringBitmap)],
    ) -> Result<Option<SegmentMeta>> {
        let mut meta = self.new_segment(day);
        let path = self.store.catalog.segment_path(&self.store.dir, &meta);
        let mut writer = segment::SegmentWriter::create(&path)?;
        super::merge::merge(inputs, &mut writer)?;
        let written = writer.finish()?;
        if written.rows == 0 {
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(super::keys::path_for(&path));
            return Ok(None);
        }
        fill(&mut meta, &written);
        self.report.segments_written += 1;
        self.report.bytes_written += written.bytes_with_companions;
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
                self.report.bytes_written += written.bytes_with_companions;
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
        let mut checkpoints = self.store.catalog.checkpoints.clone();
        checkpoints.extend(std::mem::take(&mut self.checkpoints));
        let catalog = Catalog {
            generation: self.generation,
            segments,
            checkpoints,
            ..Catalog::default()
        };
        self.report.rows_after = catalog.rows();
        self.store.publish(catalog)?;
        self.report.published = true;
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

pub(super) fn fill(meta: &mut SegmentMeta, written: &segment::Written) {
    meta.rows = written.rows;
    meta.min_received = written.min_received;
    meta.max_received = written.max_received;
    meta.bytes = written.bytes;
    meta.rollup = Some(written.rollup.clone());
}

/// The files to merge into one when a day holds more than `max` small ones (fewer live rows
/// than [`LARGE_SEGMENT_ROWS`]): the smallest, as many as bring the small ones down to `max`
/// (at least two). Large segments are left alone — a query reads a few of them as cheaply as
/// one, and rewriting them for a poll's worth of rows is what made appends into a large
/// store slow — and small ones merge like a binary counter, so a row is rewritten about
/// log2(large / poll) times before it rests in a large segment.
fn compaction_set(sizes: &[(u32, u64)], max: usize) -> Vec<u32> {
    let mut small: Vec<(u32, u64)> = sizes
        .iter()
        .copied()
        .filter(|(_, rows)| *rows < LARGE_SEGMENT_ROWS)
        .collect();
    if small.len() <= max {
        return Vec::new();
    }
    small.sort_by_key(|(file, rows)| (*rows, *file));
    let take = (small.len() - max + 1).max(2);
    small[..take].iter().map(|(file, _)| *file).collect()
}
