//! The embedded store: Parquet segments partitioned by UTC day of `Received`, published
//! through an atomically replaced catalog.
//!
//! Identity and "latest status wins" are enforced on write: an ingest looks each identity up
//! in the key runs of the day it falls in, and a record that supersedes a stored row deletes
//! that row through a deletion vector beside its segment (or rewrites a segment that would
//! lose too much). Readers skip deleted rows (merge on read), so they see exactly one live
//! row per identity. See ARCHITECTURE.md.

mod buffer;
mod catalog;
pub mod deletes;
pub mod export;
mod ingest;
mod keys;
pub mod leases;
mod maintain;
mod merge;
mod retired;
pub mod rollup;
pub mod segment;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use fs2::FileExt;

pub(crate) use catalog::sync_dir;
pub use catalog::{CATALOG_FILE, CATALOG_VERSION, Catalog, DeletesMeta, SegmentMeta};
pub use ingest::{Ingest, IngestReport};
pub use maintain::{
    COMPACTED_SEGMENT_ROWS, Compacted, DayStats, Dropped, Problem, StoreStats, Verified, stats,
    verify,
};

use crate::error::{Error, Result};

pub const SEGMENTS_DIR: &str = "segments";
const LOCK_FILE: &str = "LOCK";
/// Unreferenced files younger than this are left alone unless leases tell that no reader
/// needs them (`leases`): a reader without a lease (a read-only store, a version before
/// leases) that read an earlier catalog may still be reading them.
pub const GARBAGE_GRACE: Duration = Duration::from_secs(15 * 60);

/// The live rows of a published segment (its deleted rows left out), as one batch in the
/// stored schema.
pub fn read_live(
    dir: &Path,
    catalog: &Catalog,
    meta: &SegmentMeta,
) -> Result<arrow::array::RecordBatch> {
    let batch = segment::read(&catalog.segment_path(dir, meta))?;
    match catalog.read_deletes(dir, meta)? {
        Some(deleted) => Ok(arrow::compute::filter_record_batch(
            &batch,
            &deletes::keep_mask(&deleted, batch.num_rows()),
        )?),
        None => Ok(batch),
    }
}

/// A writable handle on a data directory. One writer at a time (an exclusive file lock);
/// readers never lock, they read the catalog.
pub struct Store {
    dir: PathBuf,
    _lock: File,
    catalog: Catalog,
    /// The most rows a compaction writes into one segment.
    compacted_segment_rows: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

impl Store {
    /// Opens (creating if needed) a data directory for writing.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir.join(SEGMENTS_DIR)).map_err(|e| Error::io(dir, e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        lock.try_lock_exclusive().map_err(|_| Error::Locked {
            path: dir.to_path_buf(),
        })?;
        let catalog = Catalog::load(dir)?;
        let store = Store {
            dir: dir.to_path_buf(),
            _lock: lock,
            catalog,
            compacted_segment_rows: maintain::COMPACTED_SEGMENT_ROWS,
        };
        store.collect_garbage(GARBAGE_GRACE)?;
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The checkpoint last published under `key` (see [`Catalog::checkpoints`]).
    pub fn checkpoint(&self, key: &str) -> Option<&serde_json::Value> {
        self.catalog.checkpoints.get(key)
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Publishes `catalog` (one atomic rename), records when (and at which generation) the
    /// files it no longer names left, and removes the files no reader needs any more (by
    /// their leases) or that left more than [`GARBAGE_GRACE`] ago: disk stays near the live
    /// size however long the writer runs.
    /// The segments are published in `Received` order (then by file).
    pub(crate) fn publish(&mut self, mut catalog: Catalog) -> Result<()> {
        catalog
            .segments
            .sort_by(|a, b| (a.min_received, &a.file).cmp(&(b.min_received, &b.file)));
        let before = maintain::referenced(&self.dir, &self.catalog);
        catalog.publish(&self.dir)?;
        let after = maintain::referenced(&self.dir, &catalog);
        self.catalog = catalog;
        let mut retired = retired::Retired::load(&self.dir);
        let now_ms = chrono::Utc::now().timestamp_millis();
        retired.retire(&self.dir, &before, &after, now_ms, self.catalog.generation);
        // Both are housekeeping: the publish stands whatever happens to them. The record is
        // saved before anything is removed, so a crash in between loses no retirement time.
        if let Err(error) = retired.save(&self.dir) {
            tracing::warn!(%error, "cannot record the retired files; they wait by file time");
        }
        if let Err(error) = self.collect(GARBAGE_GRACE, &after, &mut retired) {
            tracing::warn!(%error, "garbage collection after a publish failed");
        }
        Ok(())
    }

    /// Removes files no catalog names (left by a crash or replaced by a rewrite): a file
    /// whose leaving generation is recorded once no reader holds a lease on an earlier
    /// generation; any other once it left the catalog more than `grace` ago (by the record of
    /// retired files; a file it does not list, by its modification time).
    pub fn collect_garbage(&self, grace: Duration) -> Result<usize> {
        let referenced = maintain::referenced(&self.dir, &self.catalog);
        let mut retired = retired::Retired::load(&self.dir);
        self.collect(grace, &referenced, &mut retired)
    }

    /// [`Store::collect_garbage`] with the files the catalog names and the record of
    /// retired files at hand; saves the record when it forgets removed files.
    fn collect(
        &self,
        grace: Duration,
        referenced: &std::collections::HashSet<PathBuf>,
        retired: &mut retired::Retired,
    ) -> Result<usize> {
        let now = SystemTime::now();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        // Read after the publish: a reader that read an earlier catalog either holds its
        // lease by now or will see the new generation and start over (see `leases`).
        let oldest_read = leases::oldest_held(&self.dir);
        let mut removed = 0;
        let root = self.dir.join(SEGMENTS_DIR);
        let days = std::fs::read_dir(&root).map_err(|e| Error::io(&root, e))?;
        for day in days.flatten() {
            let Ok(files) = std::fs::read_dir(day.path()) else {
                continue;
            };
            let mut remaining = 0;
            for file in files.flatten() {
                let path = file.path();
                if referenced.contains(&path) {
                    remaining += 1;
                    continue;
                }
                let relative = retired::relative(&self.dir, &path);
                // Known: the first generation without it. Then a lease decides: the file goes
                // once no reader holds an older generation (a long query keeps it however long
                // it runs). Otherwise (a record from before leases, a lost record, a crash's
                // leftover) the grace period does.
                let left_at = relative
                    .as_ref()
                    .and_then(|relative| retired.generations.get(relative).copied());
                let mut left = relative
                    .as_ref()
                    .and_then(|relative| retired.files.get(relative).copied());
                if left.is_none()
                    && retired.unreadable
                    && let Some(relative) = relative
                {
                    // The record that should list it is lost: it left at the latest now.
                    retired.files.insert(relative, now_ms);
                    left = Some(now_ms);
                }
                let old_enough = match (left_at, left) {
                    (Some(left_at), _) => oldest_read.is_none_or(|oldest| oldest >= left_at),
                    (None, Some(left_ms)) => now_ms.saturating_sub(left_ms) >= grace_ms,
                    (None, None) => file
                        .metadata()
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|modified| now.duration_since(modified).ok())
                        .is_some_and(|age| age >= grace),
                };
                if old_enough {
                    std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                    removed += 1;
                } else {
                    remaining += 1;
                }
            }
            if remaining == 0 {
                // Another writer cannot be creating files here: we hold the lock.
                let _ = std::fs::remove_dir(day.path());
            }
        }
        // Forget what is gone.
        if retired.forget_removed(&self.dir) || retired.unreadable {
            retired.save(&self.dir)?;
            retired.unreadable = false;
        }
        Ok(removed)
    }
}
