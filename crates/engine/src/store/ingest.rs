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

use super::buffer::RowBuffer;
use super::catalog::{Catalog, DeletesMeta, SegmentMeta, sync_dir};
use super::keys::{KeyRun, LookupCost};
use super::{Store, segment};
use crate::error::{Error, Result};
use crate::geo::GeoDatabase;
use crate::schema::{BatchBuilder, SourceMeta};

/// Bytes of buffered new rows (across all days, `buffer.rs`) before days are written out.
/// A day whose rows do not fit is written in pieces (`segment::PieceWriter`): files of this
/// ingest only, merged into one segment of the day once the day is settled (by a thread
/// beside the parsing) or at commit. What an append holds is then this buffer, the rows in
/// flight to the writer and one merge, whatever the append's size: with a buffer of 2^20
/// boxed records and the whole append's identities in memory instead, a 10 M append peaked
/// at 3 GB.
const FLUSH_BYTES: usize = 32 << 20;
/// Pieces merged at once: each holds a batch in memory; a day with more pieces is merged
/// in rounds.
const MERGE_FAN_IN: usize = 24;
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
    /// Bytes of segment files, their companions and deletion vectors written (pieces
    /// included).
    pub bytes_written: u64,
    /// Pieces written: parts of a day whose new rows did not fit the buffer, merged into
    /// one segment at commit.
    pub pieces_written: u64,
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

impl Slot {
    /// An identity found at `row` of published file `file`.
    fn published(file: u32, row: u32, status: Status) -> Slot {
        Slot {
            place: Place::File { file, row },
            status,
            superseded: None,
        }
    }
}

#[derive(Default)]
struct Day {
    /// Identities whose row is still buffered, or whose published row this ingest superseded
    /// (and, for published segments without a key run, every identity stored in them).
    /// Identities written in pieces are found in `pieces`, published ones in `runs`.
    index: HashMap<u128, Slot>,
    /// Key runs of the day's published segments, with their file ids.
    runs: Vec<(u32, KeyRun)>,
    /// Key runs of the pieces this ingest wrote for the day, oldest first.
    pieces: Vec<(u32, PieceRun)>,
    /// New rows not yet written (a superseded one is marked dead).
    pending: RowBuffer,
    /// Identity of each pending row, so flushing need not hash again.
    pending_keys: Vec<u128>,
    alive: usize,
    /// Files (ids into `Ingest::files`) holding this day's rows, pieces excepted.
    files: Vec<u32>,
    /// The segment the writer is merging this day's pieces into, if it is.
    merging: Option<u32>,
    /// The published segments' key runs were let go when the day settled (`release_runs`);
    /// a later row for the day opens them again, and then they stay.
    runs_released: bool,
    /// Merged as settled, and not touched since.
    settled: bool,
    /// A row came for the day after it settled (input out of day order): from then on it is
    /// merged at commit and keeps its runs, or every flush would merge it again.
    reopened: bool,
}

/// Where a piece's identities are looked up: in memory until the writer has written the
/// piece, then in its key run on disk (its filter and fences in memory).
enum PieceRun {
    /// (identity, row, status), sorted by identity.
    Memory(Vec<(u128, u32, Status)>),
    Disk(KeyRun),
}

impl PieceRun {
    fn find(&mut self, key: u128, cost: &mut LookupCost) -> Result<Option<(u32, Status)>> {
        match self {
            PieceRun::Memory(entries) => Ok(entries
                .binary_search_by_key(&key, |e| e.0)
                .ok()
                .map(|i| (entries[i].1, entries[i].2.clone()))),
            PieceRun::Disk(run) => run.find(key, cost),
        }
    }
}

struct FileEntry {
    /// For a new file, `rows` and the time range are filled once the writer finished.
    segment: SegmentMeta,
    /// Published before this ingest (as opposed to written by it).
    existing: bool,
    /// Written by this ingest as a piece of its day, to be merged at commit.
    piece: bool,
    /// For a segment the writer merges from pieces, until it is done: those pieces.
    merged_from: Vec<u32>,
    /// Rows superseded by this ingest.
    deleted: RoaringBitmap,
    /// Rows deleted before this ingest (the published deletion vector).
    published: Option<RoaringBitmap>,
}

impl FileEntry {
    /// Every deleted row: the published vector's and this ingest's.
    fn all_deleted(&self) -> RoaringBitmap {
        match &self.published {
            Some(published) => published | &self.deleted,
            None => self.deleted.clone(),
        }
    }

    fn is_deleted(&self, row: u32) -> bool {
        self.deleted.contains(row) || self.published.as_ref().is_some_and(|d| d.contains(row))
    }
}

/// Work for the writer thread, done in the order sent.
enum Job {
    /// Rows into a new segment or piece.
    Write(WriteJob),
    /// A settled day's pieces (each with its deleted rows) merged into segment `file`.
    Merge {
        file: u32,
        path: std::path::PathBuf,
        inputs: MergeInputs,
    },
}

struct WriteJob {
    file: u32,
    path: std::path::PathBuf,
    /// A piece: compressed lightly, without a rollup (`SegmentWriter::create_piece`).
    piece: bool,
    rows: RowBuffer,
    /// Indices into `rows` of the rows to write, in `Received` order.
    order: Vec<u32>,
}

type WriteResult = Result<(u32, segment::Written)>;

/// Inputs of a merge: segments or pieces, each with its deleted rows.
type MergeInputs = Vec<(std::path::PathBuf, RoaringBitmap)>;

/// An ingest in progress. Nothing is visible to readers until [`Ingest::commit`].
pub struct Ingest<'s> {
    store: &'s mut Store,
    generation: u64,
    next_file_number: u32,
    days: BTreeMap<NaiveDate, Day>,
    files: Vec<FileEntry>,
    /// Estimated memory of the buffered rows of all days.
    pending_bytes: usize,
    /// Past this, days are written out ([`FLUSH_BYTES`] unless set by `with_buffer`).
    flush_bytes: usize,
    /// The newest UTC day seen so far.
    latest_day: Option<NaiveDate>,
    report: IngestReport,
    /// Checkpoints to publish with this ingest's records.
    checkpoints: Vec<(String, serde_json::Value)>,
    jobs: Option<mpsc::SyncSender<Job>>,
    /// Each job's result, as the writer finishes it.
    written: mpsc::Receiver<WriteResult>,
    writer: Option<JoinHandle<()>>,
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
        let (sender, receiver) = mpsc::sync_channel::<Job>(1);
        let (results, written) = mpsc::channel::<WriteResult>();
        let writer_meta = meta.clone();
        // Geolocating and encoding run beside parsing, and a settled day's merge (Parquet
        // encoding and its rollup) beside both, on a thread of its own: queued behind the
        // writer's jobs, a merge held the writer, and the parsing with it, for as long as it
        // took.
        let writer = std::thread::spawn(move || {
            let (merges, merge_jobs) = mpsc::channel::<Job>();
            let merge_results = results.clone();
            let merger = std::thread::spawn(move || {
                for job in merge_jobs {
                    if let Job::Merge { file, path, inputs } = job {
                        let result = merge_rounds(&path, inputs).map(|written| (file, written));
                        if merge_results.send(result).is_err() {
                            break;
                        }
                    }
                }
            });
            let mut builder = BatchBuilder::new(geo.as_deref());
            let mut scratch = super::buffer::empty_record();
            for job in receiver {
                let result = match job {
                    Job::Write(job) => {
                        write_job(job, &mut builder, &mut scratch, &writer_meta, receipt_ms)
                    }
                    // Its pieces are written (the jobs before it): merged beside the writing.
                    merge @ Job::Merge { .. } => {
                        if merges.send(merge).is_err() {
                            break;
                        }
                        continue;
                    }
                };
                if results.send(result).is_err() {
                    break;
                }
            }
            drop(merges);
            let _ = merger.join();
        });
        let generation = self.catalog.generation + 1;
        Ingest {
            store: self,
            generation,
            next_file_number: 0,
            days: BTreeMap::new(),
            files: Vec::new(),
            pending_bytes: 0,
            flush_bytes: FLUSH_BYTES,
            latest_day: None,
            report: IngestReport::default(),
            checkpoints: Vec::new(),
            jobs: Some(sender),
            written,
            writer: Some(writer),
        }
    }
}

/// Encodes a job's rows into its segment (or piece) a batch at a time: the writer holds one
/// batch, not a second copy of the job.
fn write_job(
    job: WriteJob,
    builder: &mut BatchBuilder,
    scratch: &mut Record,
    meta: &SourceMeta,
    receipt_ms: i64,
) -> WriteResult {
    if job.piece {
        let mut writer = segment::PieceWriter::create(&job.path)?;
        encode(&job, builder, scratch, meta, receipt_ms, &mut writer)?;
        Ok((job.file, writer.finish()?))
    } else {
        let mut writer = segment::SegmentWriter::create(&job.path)?;
        encode(&job, builder, scratch, meta, receipt_ms, &mut writer)?;
        Ok((job.file, writer.finish()?))
    }
}

fn encode(
    job: &WriteJob,
    builder: &mut BatchBuilder,
    scratch: &mut Record,
    meta: &SourceMeta,
    receipt_ms: i64,
    writer: &mut dyn segment::BatchSink,
) -> Result<()> {
    for chunk in job.order.chunks(WRITE_BATCH_ROWS) {
        for index in chunk {
            job.rows.decode(*index, scratch)?;
            builder.push(scratch, meta, receipt_ms);
        }
        writer.write(&builder.finish()?)?;
    }
    Ok(())
}

/// Merges `inputs` (segments or pieces sorted by `Received`, each with its deleted rows)
/// into the segment at `path`, in rounds of at most [`MERGE_FAN_IN`] inputs whose outputs
/// are pieces beside it (removed once read). Nothing is left on disk when no row is.
fn merge_rounds(path: &std::path::Path, mut inputs: MergeInputs) -> Result<segment::Written> {
    let mut round = 0;
    while inputs.len() > MERGE_FAN_IN {
        round += 1;
        let mut next = Vec::new();
        for (i, group) in inputs.chunks(MERGE_FAN_IN).enumerate() {
            let mut name = path.as_os_str().to_owned();
            name.push(format!(".r{round}-{i}.piece"));
            let piece = std::path::PathBuf::from(name);
            let mut writer = segment::PieceWriter::create(&piece)?;
            super::merge::merge(group, &mut writer)?;
            writer.finish()?;
            next.push((piece, RoaringBitmap::new()));
        }
        if round > 1 {
            remove_inputs(&inputs);
        }
        inputs = next;
    }
    let mut writer = segment::SegmentWriter::create(path)?;
    let merged = super::merge::merge(&inputs, &mut writer).and_then(|()| writer.finish());
    if round > 0 {
        remove_inputs(&inputs);
    }
    let written = merged?;
    if written.rows == 0 {
        remove_segment_files(path);
    }
    Ok(written)
}

/// Removes the pieces an earlier round of `merge_rounds` wrote.
fn remove_inputs(inputs: &[(std::path::PathBuf, RoaringBitmap)]) {
    for (piece, _) in inputs {
        remove_segment_files(piece);
    }
}

/// Rows encoded at a time by the writer.
const WRITE_BATCH_ROWS: usize = 8_192;

impl Ingest<'_> {
    /// Sets the memory of buffered rows past which days are written in pieces (default
    /// 32 MiB). Smaller holds less and writes more pieces; tests use a few bytes to
    /// write every row as a piece.
    pub fn with_buffer(mut self, bytes: usize) -> Self {
        self.flush_bytes = bytes;
        self
    }

    /// Adds one observation. Observations must come in the order they were made.
    pub fn push(&mut self, record: Record) -> Result<()> {
        let day_key = record.received.date_naive();
        if !self.days.contains_key(&day_key) {
            let day = self.load_day(day_key)?;
            self.days.insert(day_key, day);
        }
        if self.days.get(&day_key).is_some_and(|d| d.merging.is_some()) {
            // A late row for a settled day: its pieces are being merged.
            self.wait_for_merge(day_key)?;
        }
        if let Some(day) = self.days.get_mut(&day_key)
            && day.settled
        {
            day.settled = false;
            day.reopened = true;
            if day.runs_released {
                self.reopen_runs(day_key)?;
            }
        }
        let key = record.identity();
        let Some(day) = self.days.get_mut(&day_key) else {
            return Err(Error::Query("day index vanished".into()));
        };
        if !day.index.contains_key(&key) {
            // Not touched by this ingest since its row was written: in a piece (the newest
            // holds the live row), or published (at most one segment holds it as a live
            // row; others may hold it as a deleted one).
            let mut cost = LookupCost::default();
            let mut found = None;
            for (file, run) in day.pieces.iter_mut().rev() {
                if let Some((row, status)) = run.find(key, &mut cost)?
                    && !self.files[*file as usize].is_deleted(row)
                {
                    found = Some((*file, row, status));
                    break;
                }
            }
            if found.is_none() {
                for (file, run) in &mut day.runs {
                    if let Some((row, status)) = run.find(key, &mut cost)?
                        && !self.files[*file as usize].is_deleted(row)
                    {
                        found = Some((*file, row, status));
                        break;
                    }
                }
            }
            if let Some((file, row, status)) = found {
                day.index.insert(key, Slot::published(file, row, status));
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
                let restore = match &slot.superseded {
                    Some((file, row, status)) if *status == record.status => Some((*file, *row)),
                    _ => None,
                };
                if let Some((file, row)) = restore {
                    // Back to what is published: drop the row this ingest made (buffered, or
                    // in a piece), keep the stored one.
                    match slot.place {
                        Place::Pending(index) => {
                            day.pending.remove(index);
                            day.alive -= 1;
                        }
                        Place::File { file: piece, row } => {
                            if let Some(entry) = self.files.get_mut(piece as usize) {
                                entry.deleted.insert(row);
                            }
                        }
                    }
                    if let Some(entry) = self.files.get_mut(file as usize) {
                        entry.deleted.remove(row);
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
                        day.pending.remove(index);
                        day.alive -= 1;
                    }
                    Place::File { file, row } => {
                        if let Some(entry) = self.files.get_mut(file as usize) {
                            entry.deleted.insert(row);
                            if entry.existing {
                                superseded = Some((file, row, slot.status.clone()));
                            }
                        }
                    }
                }
                self.report.updated += 1;
            }
        }
        let held = day.pending.len_bytes();
        let place = Place::Pending(day.pending.push(&record));
        self.pending_bytes += day.pending.len_bytes() - held;
        day.index.insert(
            key,
            Slot {
                place,
                status: record.status,
                superseded,
            },
        );
        day.pending_keys.push(key);
        if self.latest_day.is_none_or(|latest| day_key > latest) {
            self.latest_day = Some(day_key);
        }
        day.alive += 1;
        if self.pending_bytes >= self.flush_bytes {
            self.flush_days()?;
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
                day.index.insert(key, Slot::published(file, row, status));
            }
        }
        Ok(day)
    }

    /// Lets go of the key runs of a settled day's published segments: their filters and
    /// fences take about 1.3 bytes a stored row, which over every day of a large store is
    /// more than the rest of an append holds.
    fn release_runs(&mut self, day_key: NaiveDate) {
        let files = &self.files;
        if let Some(day) = self.days.get_mut(&day_key) {
            day.runs.retain(|(f, _)| !files[*f as usize].existing);
            day.runs_released = true;
        }
    }

    fn reopen_runs(&mut self, day_key: NaiveDate) -> Result<()> {
        let Some(day) = self.days.get(&day_key) else {
            return Ok(());
        };
        let published: Vec<u32> = day
            .files
            .iter()
            .copied()
            .filter(|f| self.files[*f as usize].existing)
            .collect();
        let mut runs = Vec::new();
        for file in published {
            if let Some(run) = KeyRun::open(&self.path_of(file))? {
                runs.push((file, run));
            }
        }
        if let Some(day) = self.days.get_mut(&day_key) {
            day.runs.extend(runs);
            day.runs_released = false;
        }
        Ok(())
    }

    fn add_file(&mut self, segment: SegmentMeta, existing: bool) -> u32 {
        let id = u32::try_from(self.files.len()).unwrap_or(u32::MAX);
        self.files.push(FileEntry {
            segment,
            existing,
            piece: false,
            merged_from: Vec::new(),
            deleted: RoaringBitmap::new(),
            published: None,
        });
        id
    }

    /// The day of a file this ingest wrote.
    fn day_of(&self, file: u32) -> Result<NaiveDate> {
        let day = &self.files[file as usize].segment.day;
        NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .map_err(|e| Error::Query(format!("segment of an unreadable day {day}: {e}")))
    }

    /// Where file `file` is (or will be) written: a piece beside the segment it stands in
    /// for.
    fn path_of(&self, file: u32) -> std::path::PathBuf {
        let entry = &self.files[file as usize];
        let path = self
            .store
            .catalog
            .segment_path(&self.store.dir, &entry.segment);
        if entry.piece {
            segment::piece_path(&path)
        } else {
            path
        }
    }

    fn new_segment(&mut self, day: NaiveDate) -> SegmentMeta {
        let day_text = day.format("%Y-%m-%d").to_string();
        let meta = SegmentMeta::to_write(&day_text, self.generation, self.next_file_number);
        self.next_file_number += 1;
        meta
    }

    /// Writes out days as pieces until half the buffer is free: settled days first (older
    /// than the day before the newest seen), because a late status change for a row still
    /// buffered costs nothing while one for a written row costs an entry in a piece's
    /// deleted rows; then the largest.
    fn flush_days(&mut self) -> Result<()> {
        self.take_written()?;
        let settled_before = self.latest_day.and_then(|d| d.pred_opt());
        // A settled day written in pieces is merged by the writer, beside the parsing.
        let settled: Vec<NaiveDate> = self
            .days
            .iter()
            .filter(|(key, day)| {
                settled_before.is_some_and(|s| **key < s)
                    && !day.pieces.is_empty()
                    && day.merging.is_none()
                    && !day.reopened
            })
            .map(|(key, _)| *key)
            .collect();
        for key in settled {
            self.merge_day_in_background(key)?;
            self.release_runs(key);
            if let Some(day) = self.days.get_mut(&key) {
                day.settled = true;
            }
        }
        let mut sizes: Vec<(bool, usize, NaiveDate)> = self
            .days
            .iter()
            .filter(|(_, day)| day.alive > 0)
            .map(|(key, day)| (settled_before.is_some_and(|s| *key < s), day.alive, *key))
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        for (_, _, key) in sizes {
            if self.pending_bytes < self.flush_bytes / 2 {
                break;
            }
            self.flush_day(key, true)?;
        }
        Ok(())
    }

    /// Hands a day's pending rows, sorted by `Received`, to the writer thread: as a piece
    /// (`piece`, or when the day already has pieces) or as a segment of the day. A piece's
    /// identities leave the index for the piece's key run.
    fn flush_day(&mut self, day_key: NaiveDate, piece: bool) -> Result<()> {
        let Some(day) = self.days.get_mut(&day_key) else {
            return Ok(());
        };
        let piece = piece || !day.pieces.is_empty();
        let rows = std::mem::take(&mut day.pending);
        let keys = std::mem::take(&mut day.pending_keys);
        day.alive = 0;
        self.pending_bytes -= rows.len_bytes();
        // Stable: rows received at the same instant keep their order, which the key
        // index's row numbers depend on.
        let order = rows.live_in_received_order();
        if order.is_empty() {
            return Ok(());
        }
        let segment_meta = self.new_segment(day_key);
        let file = self.add_file(segment_meta, false);
        self.files[file as usize].piece = piece;
        let path = self.path_of(file);
        let Some(day) = self.days.get_mut(&day_key) else {
            return Ok(());
        };
        let mut entries = Vec::new();
        for (row, index) in order.iter().enumerate() {
            let Some(key) = keys.get(*index as usize) else {
                continue;
            };
            let row = u32::try_from(row).unwrap_or(u32::MAX);
            let place = Place::File { file, row };
            if !piece {
                if let Some(slot) = day.index.get_mut(key) {
                    slot.place = place;
                }
                continue;
            }
            // A slot that remembers a superseded published row stays (it may be restored);
            // the others are found in the piece from now on.
            match day.index.get_mut(key) {
                Some(slot) if slot.superseded.is_some() => slot.place = place,
                Some(_) => {
                    if let Some(slot) = day.index.remove(key) {
                        entries.push((*key, row, slot.status));
                    }
                }
                None => {}
            }
        }
        if piece {
            // The index held every buffered row of the day: give back what it no longer needs
            // (a map keeps its capacity, and each day's would hold its busiest buffer).
            if day.index.capacity() > 4 * day.index.len() + 1024 {
                day.index.shrink_to_fit();
            }
            entries.sort_unstable_by_key(|e| e.0);
            day.pieces.push((file, PieceRun::Memory(entries)));
            self.report.pieces_written += 1;
        } else {
            day.files.push(file);
        }
        let sender = self
            .jobs
            .as_ref()
            .ok_or_else(|| Error::Query("ingest already committed".into()))?;
        sender
            .send(Job::Write(WriteJob {
                file,
                path,
                piece,
                rows,
                order,
            }))
            .map_err(|_| Error::Query("segment writer stopped".into()))?;
        Ok(())
    }

    /// Hands the writer thread the merge of a day's pieces (and what it still buffers) into
    /// one new segment. Until the merge is done, the day is not touched (`wait_for_merge`).
    fn merge_day_in_background(&mut self, day_key: NaiveDate) -> Result<()> {
        self.flush_day(day_key, true)?;
        if self.days.get(&day_key).is_some_and(|d| d.merging.is_some()) {
            return Ok(());
        }
        let Some((file, path, inputs)) = self.merge_target(day_key) else {
            return Ok(());
        };
        if let Some(day) = self.days.get_mut(&day_key) {
            day.merging = Some(file);
        }
        self.jobs
            .as_ref()
            .ok_or_else(|| Error::Query("ingest already committed".into()))?
            .send(Job::Merge { file, path, inputs })
            .map_err(|_| Error::Query("segment writer stopped".into()))?;
        Ok(())
    }

    /// The new segment a day's pieces are to be merged into (its file id and path) and the
    /// pieces with their deleted rows; `None` when the day has no pieces.
    fn merge_target(
        &mut self,
        day_key: NaiveDate,
    ) -> Option<(u32, std::path::PathBuf, MergeInputs)> {
        let pieces: Vec<u32> = self
            .days
            .get(&day_key)?
            .pieces
            .iter()
            .map(|(f, _)| *f)
            .collect();
        if pieces.is_empty() {
            return None;
        }
        let inputs = pieces
            .iter()
            .map(|f| (self.path_of(*f), self.files[*f as usize].deleted.clone()))
            .collect();
        let meta = self.new_segment(day_key);
        let file = self.add_file(meta, false);
        self.files[file as usize].merged_from = pieces;
        Some((file, self.path_of(file), inputs))
    }

    /// Waits for the writer's next finished job and takes it.
    fn take_next_written(&mut self) -> Result<()> {
        let result = self
            .written
            .recv()
            .map_err(|_| Error::Query("segment writer stopped".into()))?;
        self.record_written(result)
    }

    /// Waits until the writer has merged the pieces of `day_key`, if it is merging them.
    fn wait_for_merge(&mut self, day_key: NaiveDate) -> Result<()> {
        while self
            .days
            .get(&day_key)
            .is_some_and(|day| day.merging.is_some())
        {
            self.take_next_written()?;
        }
        Ok(())
    }

    /// Takes the writer's finished jobs without waiting: each written piece is looked up in
    /// its key run on disk from now on, and its in-memory identities are dropped.
    fn take_written(&mut self) -> Result<()> {
        while let Ok(result) = self.written.try_recv() {
            self.record_written(result)?;
        }
        Ok(())
    }

    fn record_written(&mut self, result: WriteResult) -> Result<()> {
        let (file, written) = result?;
        let Some(entry) = self.files.get_mut(file as usize) else {
            return Ok(());
        };
        fill(&mut entry.segment, &written);
        self.report.segments_written += 1;
        self.report.bytes_written += written.bytes_with_companions;
        if !entry.merged_from.is_empty() {
            return self.merged(file);
        }
        if !entry.piece {
            return Ok(());
        }
        let day_key = self.day_of(file)?;
        let path = self.path_of(file);
        let run = KeyRun::open(&path)?
            .ok_or_else(|| Error::Query(format!("{}: piece without key run", path.display())))?;
        if let Some(day) = self.days.get_mut(&day_key) {
            for (id, piece) in &mut day.pieces {
                if *id == file {
                    *piece = PieceRun::Disk(run.read_blocks_only());
                    break;
                }
            }
        }
        Ok(())
    }

    /// A day's pieces were merged into `file`: its identities are looked up there from now
    /// on (index entries that pointed into the pieces move to their rows in it), and the
    /// pieces are removed.
    fn merged(&mut self, file: u32) -> Result<()> {
        let merged_from = std::mem::take(&mut self.files[file as usize].merged_from);
        let day_key = self.day_of(file)?;
        let path = self.path_of(file);
        let rows = self.files[file as usize].segment.rows;
        let mut run = if rows > 0 {
            Some(
                KeyRun::open(&path)?
                    .ok_or_else(|| Error::Query(format!("{}: no key run", path.display())))?
                    .read_blocks_only(),
            )
        } else {
            None
        };
        let Some(day) = self.days.get_mut(&day_key) else {
            return Ok(());
        };
        day.merging = None;
        day.pieces.retain(|(f, _)| !merged_from.contains(f));
        let mut cost = LookupCost::default();
        let mut moved: Vec<(u128, Option<Place>)> = Vec::new();
        for (key, slot) in &day.index {
            let Place::File { file: from, .. } = slot.place else {
                continue;
            };
            if !merged_from.contains(&from) {
                continue;
            }
            if slot.superseded.is_none() {
                moved.push((*key, None));
                continue;
            }
            let found = match &mut run {
                Some(run) => run.find(*key, &mut cost)?,
                None => None,
            };
            let (row, _) = found.ok_or_else(|| {
                Error::Query(format!("{}: a merged row is missing", path.display()))
            })?;
            moved.push((*key, Some(Place::File { file, row })));
        }
        for (key, place) in moved {
            match place {
                None => {
                    day.index.remove(&key);
                }
                Some(place) => {
                    if let Some(slot) = day.index.get_mut(&key) {
                        slot.place = place;
                    }
                }
            }
        }
        if let Some(run) = run {
            day.runs.push((file, run));
            day.files.push(file);
        }
        for piece in merged_from {
            remove_segment_files(&self.path_of(piece));
        }
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
        // Days written in pieces are merged, by the writer and by this thread in turn; the
        // others are written as they are.
        let mut here = Vec::new();
        for key in &keys {
            let Some(day) = self.days.get(key) else {
                continue;
            };
            if day.pieces.is_empty() || day.merging.is_some() {
                self.flush_day(*key, false)?;
            } else if here.len() * 2 < self.days_with_pieces() {
                self.flush_day(*key, true)?;
                here.push(*key);
            } else {
                self.merge_day_in_background(*key)?;
            }
        }
        for key in here {
            self.merge_here(key)?;
        }
        self.finish_writer()?;
        // A piece whose every row went back to its published row changes nothing.
        let changed = self.files.iter().any(|f| {
            if f.existing {
                !f.deleted.is_empty()
            } else {
                f.segment.rows > f.deleted.len()
            }
        });
        let moved = self
            .checkpoints
            .iter()
            .any(|(key, value)| self.store.catalog.checkpoints.get(key) != Some(value));
        if !changed && !moved {
            for file in 0..self.files.len() {
                if !self.files[file].existing {
                    remove_segment_files(&self.path_of(file as u32));
                }
            }
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
            remove_segment_files(&path);
            return Ok(None);
        }
        fill(&mut meta, &written);
        self.report.segments_written += 1;
        self.report.bytes_written += written.bytes_with_companions;
        Ok(Some(meta))
    }

    fn days_with_pieces(&self) -> usize {
        self.days
            .values()
            .filter(|d| !d.pieces.is_empty() && d.merging.is_none())
            .count()
    }

    /// Merges a day's pieces into one segment in this thread, once the writer has written
    /// them.
    fn merge_here(&mut self, day_key: NaiveDate) -> Result<()> {
        while self.days.get(&day_key).is_some_and(|d| {
            d.pieces
                .iter()
                .any(|(_, run)| matches!(run, PieceRun::Memory(_)))
        }) {
            self.take_next_written()?;
        }
        let Some((file, path, inputs)) = self.merge_target(day_key) else {
            return Ok(());
        };
        let written = merge_rounds(&path, inputs)?;
        self.record_written(Ok((file, written)))
    }

    fn finish_writer(&mut self) -> Result<()> {
        drop(self.jobs.take());
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        writer
            .join()
            .map_err(|_| Error::Query("segment writer panicked".into()))?;
        while let Ok(result) = self.written.try_recv() {
            self.record_written(result)?;
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

/// Removes a segment file written by an ingest and its companions.
fn remove_segment_files(path: &std::path::Path) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(super::keys::path_for(path));
    let _ = std::fs::remove_file(super::rollup::path_for(path));
}

pub(super) fn fill(meta: &mut SegmentMeta, written: &segment::Written) {
    meta.rows = written.rows;
    meta.min_received = written.min_received;
    meta.max_received = written.max_received;
    meta.bytes = written.bytes;
    meta.rollup = written.rollup.clone();
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
