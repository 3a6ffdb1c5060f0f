//! Looking after a store: what it holds (`stats`), whether every file agrees with the
//! catalog (`verify`), merging each day into one segment without its deleted rows
//! (`Store::compact`), dropping days past a retention (`Store::drop_days_before`) and
//! removing files no catalog names (`Store::collect_garbage`, in `mod.rs`).

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::catalog::Catalog;
use super::keys::{self, KeyRun};
use super::rollup;
use super::{SEGMENTS_DIR, Store, segment};
use crate::error::{Error, Result};

/// What a store holds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StoreStats {
    pub generation: u64,
    pub segments: usize,
    pub rows: u64,
    /// Bytes of the segments and key runs the catalog names.
    pub live_bytes: u64,
    /// Bytes of files no catalog names (replaced, or left by a crash) waiting for removal.
    pub garbage_bytes: u64,
    pub garbage_files: usize,
    pub days: Vec<DayStats>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DayStats {
    pub day: String,
    pub segments: usize,
    /// Live rows.
    pub rows: u64,
    /// Rows deleted by deletion vectors, still in the files until a merge.
    pub deleted_rows: u64,
    pub bytes: u64,
}

/// Files under `segments/` and their sizes.
fn files_on_disk(dir: &Path) -> Result<Vec<(PathBuf, u64)>> {
    let mut files = Vec::new();
    let root = dir.join(SEGMENTS_DIR);
    let days = match std::fs::read_dir(&root) {
        Ok(days) => days,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(Error::io(&root, e)),
    };
    for day in days.flatten() {
        let Ok(entries) = std::fs::read_dir(day.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
            files.push((entry.path(), bytes));
        }
    }
    Ok(files)
}

/// The files a catalog names: each segment, its key run, its rollup and its deletion vector.
pub(super) fn referenced(dir: &Path, catalog: &Catalog) -> HashSet<PathBuf> {
    catalog
        .segments
        .iter()
        .flat_map(|s| {
            let segment = catalog.segment_path(dir, s);
            let rollup = s.rollup.as_ref().map(|_| rollup::path_for(&segment));
            let deletes = catalog.deletes_path(dir, s);
            [
                Some(keys::path_for(&segment)),
                rollup,
                deletes,
                Some(segment),
            ]
        })
        .flatten()
        .collect()
}

pub fn stats(dir: &Path) -> Result<StoreStats> {
    let catalog = Catalog::load(dir)?;
    let live = referenced(dir, &catalog);
    let mut stats = StoreStats {
        generation: catalog.generation,
        segments: catalog.segments.len(),
        rows: catalog.rows(),
        ..StoreStats::default()
    };
    let mut sizes: BTreeMap<PathBuf, u64> = BTreeMap::new();
    for (path, bytes) in files_on_disk(dir)? {
        if live.contains(&path) {
            stats.live_bytes += bytes;
            sizes.insert(path, bytes);
        } else {
            stats.garbage_bytes += bytes;
            stats.garbage_files += 1;
        }
    }
    let mut days: BTreeMap<&str, DayStats> = BTreeMap::new();
    for segment in &catalog.segments {
        let path = catalog.segment_path(dir, segment);
        let day = days
            .entry(segment.day.as_str())
            .or_insert_with(|| DayStats {
                day: segment.day.clone(),
                ..DayStats::default()
            });
        day.segments += 1;
        day.rows += segment.live_rows();
        day.deleted_rows += segment.rows - segment.live_rows();
        let deletes = catalog.deletes_path(dir, segment);
        day.bytes += [
            Some(path.clone()),
            Some(keys::path_for(&path)),
            Some(rollup::path_for(&path)),
            deletes,
        ]
        .into_iter()
        .flatten()
        .map(|p| sizes.get(&p).copied().unwrap_or(0))
        .sum::<u64>();
    }
    stats.days = days.into_values().collect();
    Ok(stats)
}

/// A disagreement between the catalog and the files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file concerned, relative to the data directory.
    pub file: String,
    pub message: String,
}

/// What `verify` checked.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Verified {
    pub segments: usize,
    pub rows: u64,
    pub problems: Vec<Problem>,
    /// Files no catalog names (not a problem: removed after the grace period).
    pub garbage_files: usize,
}

/// Reads every segment the catalog names and checks it against its entry: row count, byte
/// size, the `Received` range and day, that it is sorted by `Received`, that its key run is
/// present and holds exactly the identities and statuses of its rows, that its rollup holds
/// exactly the partial aggregates of its rows, that its deletion vector is intact and names
/// only its rows, and that no identity is stored twice among live rows. Reads one segment at
/// a time (memory: the largest segment's columns).
pub fn verify(dir: &Path) -> Result<Verified> {
    let catalog = Catalog::load(dir)?;
    let mut verified = Verified {
        segments: catalog.segments.len(),
        rows: catalog.rows(),
        ..Verified::default()
    };
    let live = referenced(dir, &catalog);
    verified.garbage_files = files_on_disk(dir)?
        .iter()
        .filter(|(path, _)| !live.contains(path))
        .count();
    let mut by_day: BTreeMap<&str, Vec<&super::SegmentMeta>> = BTreeMap::new();
    for segment in &catalog.segments {
        by_day
            .entry(segment.day.as_str())
            .or_default()
            .push(segment);
    }
    for (day, segments) in by_day {
        // An identity's day is stable, so uniqueness is checked one day at a time.
        let mut seen: HashSet<u128> = HashSet::new();
        for meta in segments {
            let mut problem = |message: String| {
                verified.problems.push(Problem {
                    file: meta.file.clone(),
                    message,
                })
            };
            let path = catalog.segment_path(dir, meta);
            let bytes = match std::fs::metadata(&path) {
                Ok(m) => m.len(),
                Err(e) => {
                    problem(format!("cannot be read: {e}"));
                    continue;
                }
            };
            if bytes != meta.bytes {
                problem(format!("{bytes} bytes, the catalog says {}", meta.bytes));
            }
            let footer_rows = File::open(&path)
                .map_err(|e| e.to_string())
                .and_then(|f| SerializedFileReader::new(f).map_err(|e| e.to_string()))
                .map(|r| r.metadata().file_metadata().num_rows());
            match footer_rows {
                Ok(rows) if rows as u64 != meta.rows => {
                    problem(format!("{rows} rows, the catalog says {}", meta.rows));
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    problem(format!("not a readable Parquet file: {e}"));
                    continue;
                }
            }
            let received = match segment::read_received(&path) {
                Ok(received) => received,
                Err(e) => {
                    problem(format!("cannot be read: {e}"));
                    continue;
                }
            };
            if !received.is_sorted() {
                problem("rows are not sorted by Received".into());
            }
            let (min, max) = (
                received.first().copied().unwrap_or(0),
                received.last().copied().unwrap_or(0),
            );
            if (min, max) != (meta.min_received, meta.max_received) {
                problem(format!(
                    "Received from {min} to {max}, the catalog says {} to {}",
                    meta.min_received, meta.max_received
                ));
            }
            let in_day = |nanos: i64| {
                chrono::DateTime::from_timestamp_nanos(nanos)
                    .date_naive()
                    .format("%Y-%m-%d")
                    .to_string()
                    == day
            };
            if !(received.is_empty() || (in_day(min) && in_day(max))) {
                problem(format!("rows outside the day {day}"));
            }
            let deleted = match (catalog.deletes_path(dir, meta), &meta.deletes) {
                (Some(vector), Some(deletes)) => match super::deletes::read(&vector) {
                    Ok(rows) => {
                        if rows.len() != deletes.rows {
                            problem(format!(
                                "its deletion vector holds {} rows, the catalog says {}",
                                rows.len(),
                                deletes.rows
                            ));
                        }
                        if rows.max().is_some_and(|last| u64::from(last) >= meta.rows) {
                            problem("its deletion vector names rows it does not have".into());
                        }
                        rows
                    }
                    Err(e) => {
                        problem(format!("its deletion vector cannot be read: {e}"));
                        continue;
                    }
                },
                _ => roaring::RoaringBitmap::new(),
            };
            let stored = match segment::read_keys(&path) {
                Ok(keys) => keys,
                Err(e) => {
                    problem(format!("identities cannot be read: {e}"));
                    continue;
                }
            };
            for (row, (key, _)) in stored.iter().enumerate() {
                let live = u32::try_from(row).is_ok_and(|row| !deleted.contains(row));
                if live && !seen.insert(*key) {
                    problem(format!("identity {key:032x} is stored twice on {day}"));
                }
            }
            match KeyRun::open(&path) {
                Ok(Some(mut run)) => match run.entries() {
                    Ok(entries) => {
                        let mut expected: Vec<(u128, u32, &str)> = stored
                            .iter()
                            .enumerate()
                            .map(|(row, (key, status))| (*key, row as u32, status.as_str()))
                            .collect();
                        expected.sort_unstable_by_key(|e| e.0);
                        let agrees = entries.len() == expected.len()
                            && entries
                                .iter()
                                .zip(&expected)
                                .all(|(a, b)| a.0 == b.0 && a.1 == b.1 && a.2.as_str() == b.2);
                        if !agrees {
                            problem("its key run does not match its rows".into());
                        }
                    }
                    Err(e) => problem(format!("its key run cannot be read: {e}")),
                },
                Ok(None) => problem(
                    "has no key run (written by an older version; appends read its columns)".into(),
                ),
                Err(e) => {
                    // The file is named already: keep only the reason.
                    let prefix = format!("key run {}: ", keys::path_for(&path).display());
                    let reason = e.to_string();
                    let reason = reason.strip_prefix(&prefix).unwrap_or(&reason);
                    problem(format!("its key run is damaged: {reason}"));
                }
            }
            if let Some(expected) = &meta.rollup
                && let Err(message) = verify_rollup(&path, expected)
            {
                problem(message);
            }
        }
    }
    Ok(verified)
}

/// Whether a segment's partial aggregates lack levels this version builds (no rollup, or one
/// of an earlier format): compaction rewrites its day, which builds them.
fn outdated_rollup(segment: &super::SegmentMeta) -> bool {
    segment
        .rollup
        .as_ref()
        .is_none_or(|r| r.format != rollup::ROLLUP_FORMAT)
}

/// Recomputes a segment's rollup from its rows and compares it with the file and the
/// catalog's entry.
fn verify_rollup(segment: &Path, expected: &rollup::RollupMeta) -> std::result::Result<(), String> {
    // A rollup of an earlier format is checked against that format's levels.
    if rollup::levels_of_format(expected.format) == 0 {
        return Err(format!(
            "its rollup has format {} (this version builds {}): queries read its rows until a \
             merge rewrites it",
            expected.format,
            rollup::ROLLUP_FORMAT
        ));
    }
    let mut builder =
        rollup::RollupBuilder::of_format(expected.format).map_err(|e| e.to_string())?;
    for batch in segment::batches(segment, 65_536).map_err(|e| e.to_string())? {
        builder
            .add(&batch.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let (batches, meta) = builder.finish().map_err(|e| e.to_string())?;
    if meta != *expected {
        return Err(format!(
            "its rollup should have {:?} rows per level (geo complete: {}), the catalog says {:?} ({})",
            meta.rows, meta.geo_complete, expected.rows, expected.geo_complete
        ));
    }
    let stored = rollup::read(&rollup::path_for(segment))
        .map_err(|e| format!("its rollup cannot be read: {e}"))?;
    let schema = rollup::rollup_schema();
    let concat = |b: &[arrow::array::RecordBatch]| arrow::compute::concat_batches(&schema, b);
    match (concat(&batches), concat(&stored)) {
        (Ok(a), Ok(b)) if a == b => Ok(()),
        (Ok(_), Ok(_)) => Err("its rollup does not match its rows".into()),
        (_, Err(e)) | (Err(e), _) => Err(format!("its rollup cannot be read: {e}")),
    }
}

/// What compacting did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Compacted {
    /// Days rewritten (those with more than one segment or with deleted rows).
    pub days: usize,
    pub segments_before: usize,
    pub segments_after: usize,
    /// Deleted rows dropped from the files for good.
    pub deleted_rows_dropped: u64,
    pub bytes_written: u64,
}

/// What dropping days did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Dropped {
    pub days: usize,
    pub segments: usize,
    pub rows: u64,
}

/// The most rows a compaction writes into one segment: ~1 GB of key run, rollup groups and
/// writer buffers at ~235 bytes a row (BENCHMARKS.md). A larger day is written as several
/// segments.
pub const COMPACTED_SEGMENT_ROWS: u64 = 1 << 22;

/// Where a compaction's merge writes: a segment at a time, the next one started once the
/// open one holds `max_rows` (it may exceed that by one merge batch).
struct SplitSink<'a> {
    dir: &'a Path,
    catalog: &'a Catalog,
    day: &'a str,
    generation: u64,
    max_rows: u64,
    open: Option<(super::SegmentMeta, segment::SegmentWriter)>,
    written: Vec<(super::SegmentMeta, segment::Written)>,
}

impl SplitSink<'_> {
    fn close(&mut self) -> Result<()> {
        if let Some((meta, writer)) = self.open.take() {
            self.written.push((meta, writer.finish()?));
        }
        Ok(())
    }

    /// The segments written, in `Received` order.
    fn finish(mut self) -> Result<Vec<(super::SegmentMeta, segment::Written)>> {
        self.close()?;
        Ok(self.written)
    }
}

impl segment::BatchSink for SplitSink<'_> {
    fn write(&mut self, batch: &arrow::array::RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self
            .open
            .as_ref()
            .is_some_and(|(_, writer)| writer.rows() >= self.max_rows)
        {
            self.close()?;
        }
        if self.open.is_none() {
            let number = u32::try_from(self.written.len())
                .map_err(|_| Error::Query("a day compacted into too many segments".into()))?;
            let meta = super::SegmentMeta::to_write(self.day, self.generation, number);
            let writer =
                segment::SegmentWriter::create(&self.catalog.segment_path(self.dir, &meta))?;
            self.open = Some((meta, writer));
        }
        match &mut self.open {
            Some((_, writer)) => writer.write(batch),
            None => Ok(()),
        }
    }
}

impl Store {
    /// Rewrites every day that has more than one small segment, or deleted rows, as segments
    /// of its live rows (see [`Store::compact_day`]). Each day is published on its own, so an
    /// interrupted compaction keeps the days it finished. Readers see the same rows before
    /// and after.
    pub fn compact(&mut self) -> Result<Compacted> {
        let mut days: Vec<String> = self
            .catalog
            .segments
            .iter()
            .map(|s| s.day.clone())
            .collect();
        days.sort_unstable();
        days.dedup();
        let mut done = Compacted {
            segments_before: self.catalog.segments.len(),
            ..Compacted::default()
        };
        for day in days {
            self.compact_day(&day, &mut done)?;
        }
        done.segments_after = self.catalog.segments.len();
        Ok(done)
    }

    /// The day most in need of compaction, when one needs it: a day before `today` with at
    /// least `min_segments` small segments (fewer rows than half the most a compaction writes
    /// into one), or whose deleted rows are at least a tenth of its rows, or with a segment
    /// whose partial aggregates lack levels this version builds (written by an earlier
    /// version): the most small segments first, then the most deleted rows, the most outdated
    /// segments, the oldest. `today` is left alone: appends still arrive there.
    pub fn compaction_candidate(&self, today: NaiveDate, min_segments: usize) -> Option<String> {
        let today = today.format("%Y-%m-%d").to_string();
        // Per day: small segments, rows, deleted rows, segments with outdated rollups.
        let mut by_day: BTreeMap<&str, (usize, u64, u64, usize)> = BTreeMap::new();
        for segment in &self.catalog.segments {
            let entry = by_day.entry(segment.day.as_str()).or_default();
            entry.0 += usize::from(self.is_small(segment));
            entry.1 += segment.rows;
            entry.2 += segment.deletes.as_ref().map_or(0, |d| d.rows);
            entry.3 += usize::from(outdated_rollup(segment));
        }
        by_day
            .into_iter()
            .filter(|(day, (segments, rows, deleted, outdated))| {
                *day < today.as_str()
                    && (*segments >= min_segments.max(2)
                        || (*deleted > 0 && deleted * 10 >= *rows)
                        || *outdated > 0)
            })
            .max_by(|(a_day, a), (b_day, b)| {
                (a.0, a.2, a.3)
                    .cmp(&(b.0, b.2, b.3))
                    .then_with(|| b_day.cmp(a_day))
            })
            .map(|(day, _)| day.to_owned())
    }

    /// Whether a segment is small enough that merging it with others pays: fewer rows than
    /// half the most a compaction writes into one.
    fn is_small(&self, segment: &super::SegmentMeta) -> bool {
        segment.rows < self.compacted_segment_rows / 2
    }

    /// The most rows a compaction writes into one segment (default
    /// [`COMPACTED_SEGMENT_ROWS`]; tests set a small one).
    pub fn set_compacted_segment_rows(&mut self, rows: u64) {
        self.compacted_segment_rows = rows.max(1);
    }

    /// Rewrites `day` as segments of its live rows, when it has more than one small segment,
    /// deleted rows, or a segment whose rollup is outdated, and publishes it; adds what it did to `done`. A streaming merge
    /// (memory: a batch per input) into segments of at most
    /// [`COMPACTED_SEGMENT_ROWS`] rows (consecutive `Received` ranges): what a segment's
    /// writing holds whole — its key run, its rollup's groups — is bounded by that, not by
    /// the day's size.
    pub fn compact_day(&mut self, day: &str, done: &mut Compacted) -> Result<()> {
        let segments: Vec<super::SegmentMeta> = self
            .catalog
            .segments
            .iter()
            .filter(|s| s.day == day)
            .cloned()
            .collect();
        let small = segments.iter().filter(|s| self.is_small(s)).count();
        if small < 2
            && segments
                .iter()
                .all(|s| s.deletes.is_none() && !outdated_rollup(s))
        {
            return Ok(());
        }
        let generation = self.catalog.generation + 1;
        let mut inputs = Vec::with_capacity(segments.len());
        for segment in &segments {
            let deleted = self
                .catalog
                .read_deletes(&self.dir, segment)?
                .unwrap_or_default();
            done.deleted_rows_dropped += deleted.len();
            inputs.push((self.catalog.segment_path(&self.dir, segment), deleted));
        }
        let mut sink = SplitSink {
            dir: &self.dir,
            catalog: &self.catalog,
            day,
            generation,
            max_rows: self.compacted_segment_rows,
            open: None,
            written: Vec::new(),
        };
        super::merge::merge(&inputs, &mut sink)?;
        let written = sink.finish()?;
        let mut kept: Vec<super::SegmentMeta> = self
            .catalog
            .segments
            .iter()
            .filter(|s| s.day != day)
            .cloned()
            .collect();
        if let Some((first, _)) = written.first() {
            let path = self.catalog.segment_path(&self.dir, first);
            if let Some(parent) = path.parent() {
                super::catalog::sync_dir(parent)?;
            }
        }
        for (mut meta, written) in written {
            done.bytes_written += written.bytes_with_companions;
            super::ingest::fill(&mut meta, &written);
            kept.push(meta);
        }
        let catalog = Catalog {
            generation,
            segments: kept,
            ..self.catalog.clone()
        };
        self.publish(catalog)?;
        done.days += 1;
        Ok(())
    }

    /// Drops every day before `first_kept` (whole days, by `Received`) in one publish; the
    /// files go with the next garbage collection. Checkpoints are kept.
    pub fn drop_days_before(&mut self, first_kept: NaiveDate) -> Result<Dropped> {
        let boundary = first_kept.format("%Y-%m-%d").to_string();
        let (gone, kept): (Vec<_>, Vec<_>) = self
            .catalog
            .segments
            .iter()
            .cloned()
            .partition(|s| s.day < boundary);
        if gone.is_empty() {
            return Ok(Dropped::default());
        }
        let dropped = Dropped {
            days: gone
                .iter()
                .map(|s| s.day.as_str())
                .collect::<HashSet<_>>()
                .len(),
            segments: gone.len(),
            rows: gone.iter().map(|s| s.live_rows()).sum(),
        };
        let catalog = Catalog {
            generation: self.catalog.generation + 1,
            segments: kept,
            ..self.catalog.clone()
        };
        self.publish(catalog)?;
        Ok(dropped)
    }
}
