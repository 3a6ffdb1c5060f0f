//! When each file left the catalog: the writer's record, so that garbage collection waits a
//! grace period from the moment a file stopped being named — a query that loaded the
//! previous catalog may still be reading it — rather than from when the file was written (a
//! segment written a month ago and replaced a second ago must not go at once).
//!
//! `RETIRED` is JSON, `{"files": {"<relative path>": <epoch ms>}}`, replaced atomically by
//! the writer after each publish. It is advisory: a file no catalog names and this record
//! does not list (left by a crash between the two writes, or by an older version) falls back
//! to its modification time.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const RETIRED_FILE: &str = "RETIRED";

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Retired {
    /// Relative path (`/`-separated) → when it left the catalog, milliseconds since the epoch.
    pub files: BTreeMap<String, i64>,
}

impl Retired {
    /// The record of a data directory; empty when there is none or it cannot be read (the
    /// files then wait by their modification time).
    pub fn load(dir: &Path) -> Retired {
        let path = dir.join(RETIRED_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                tracing::warn!(%error, "the record of retired files is unreadable; using file times");
                Retired::default()
            }),
            Err(_) => Retired::default(),
        }
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(RETIRED_FILE);
        let temp = dir.join(format!("{RETIRED_FILE}.tmp"));
        let bytes = serde_json::to_vec(self).map_err(|e| Error::Query(e.to_string()))?;
        let mut file = std::fs::File::create(&temp).map_err(|e| Error::io(&temp, e))?;
        file.write_all(&bytes).map_err(|e| Error::io(&temp, e))?;
        file.sync_all().map_err(|e| Error::io(&temp, e))?;
        std::fs::rename(&temp, &path).map_err(|e| Error::io(&path, e))
    }

    /// Records `now_ms` for every file `before` names and `after` does not.
    pub fn retire(
        &mut self,
        dir: &Path,
        before: &HashSet<PathBuf>,
        after: &HashSet<PathBuf>,
        now_ms: i64,
    ) {
        for path in before.difference(after) {
            if let Some(relative) = relative(dir, path) {
                self.files.entry(relative).or_insert(now_ms);
            }
        }
    }
}

/// `path` relative to `dir`, `/`-separated.
pub fn relative(dir: &Path, path: &Path) -> Option<String> {
    let parts: Vec<String> = path
        .strip_prefix(dir)
        .ok()?
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}
