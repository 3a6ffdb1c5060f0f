//! The embedded store: Parquet segments partitioned by UTC day of `Received`, published
//! through an atomically replaced catalog.
//!
//! Identity and "latest status wins" are enforced on write (merge-on-write): an ingest loads
//! the key index (identity -> file, row, status) of every day it touches, and a record that
//! supersedes a stored row makes the ingest rewrite that row's segment without it. Readers
//! therefore see plain Parquet files with exactly one row per identity. See ARCHITECTURE.md.

mod catalog;
mod ingest;
mod keys;
mod maintain;
pub mod rollup;
pub mod segment;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use fs2::FileExt;

pub use catalog::{CATALOG_FILE, CATALOG_VERSION, Catalog, SegmentMeta};
pub use ingest::{Ingest, IngestReport};
pub use maintain::{DayStats, Dropped, Problem, StoreStats, Verified, stats, verify};

use crate::error::{Error, Result};

pub const SEGMENTS_DIR: &str = "segments";
const LOCK_FILE: &str = "LOCK";
/// Unreferenced segment files younger than this are left alone: a query that read the
/// previous catalog may still be reading them.
pub const GARBAGE_GRACE: Duration = Duration::from_secs(15 * 60);

/// A writable handle on a data directory. One writer at a time (an exclusive file lock);
/// readers never lock, they read the catalog.
pub struct Store {
    dir: PathBuf,
    _lock: File,
    catalog: Catalog,
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

    /// Removes segment files (and their key runs) no catalog names (left by a crash or
    /// replaced by a rewrite) once they are older than `grace`.
    pub fn collect_garbage(&self, grace: Duration) -> Result<usize> {
        let referenced = maintain::referenced(&self.dir, &self.catalog);
        let now = SystemTime::now();
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
                let old_enough = file
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|modified| now.duration_since(modified).ok())
                    .is_some_and(|age| age >= grace);
                if !referenced.contains(&path) && old_enough {
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
        Ok(removed)
    }
}
