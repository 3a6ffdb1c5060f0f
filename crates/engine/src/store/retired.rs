//! When each file left the catalog: the writer's record, so that garbage collection knows
//! which readers may still need a file — those holding a lease on a generation before the one
//! that left it out (see `leases`) — and, for readers without a lease, waits a grace period
//! from the moment a file stopped being named rather than from when it was written (a segment
//! written a month ago and replaced a second ago must not go at once).
//!
//! `RETIRED` is JSON, `{"format": "mailscope-retired", "version": 2, "files": {"<relative
//! path>": <epoch ms>}, "generations": {"<relative path>": <the first generation without
//! it>}}`, replaced atomically by the writer after each publish. Version 1 had no
//! `generations` (its files wait the grace period), and a record without `format` and
//! `version` is an earlier version's, read as version 1. A file no
//! catalog names and this record does not list (left by a crash between the two writes, or
//! by a version before the record) falls back to its modification time. A record that
//! cannot be read (damaged, or of another format or a newer version) is set aside: every
//! file it should have listed is taken to have left now, so nothing is removed before a full
//! grace has passed, and the record starts over.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const RETIRED_FILE: &str = "RETIRED";
const FORMAT: &str = "mailscope-retired";
/// Version 1: `files`, relative path → epoch milliseconds. Version 2 adds `generations`.
pub const RETIRED_VERSION: u32 = 2;

#[derive(Debug, Default)]
pub struct Retired {
    /// Relative path (`/`-separated) → when it left the catalog, milliseconds since the epoch.
    pub files: BTreeMap<String, i64>,
    /// Relative path → the first generation whose catalog no longer names it (files retired
    /// by a version before leases have none).
    pub generations: BTreeMap<String, u64>,
    /// The record on disk could not be read: a file it does not list counts as having left
    /// now (not by its modification time).
    pub unreadable: bool,
}

/// The file as written.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetiredFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    format: Option<String>,
    #[serde(default)]
    version: Option<u32>,
    files: BTreeMap<String, i64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    generations: BTreeMap<String, u64>,
}

impl Retired {
    /// The record of a data directory; empty when there is none, and marked
    /// [`Retired::unreadable`] when it cannot be read.
    pub fn load(dir: &Path) -> Retired {
        let path = dir.join(RETIRED_FILE);
        let Ok(bytes) = std::fs::read(&path) else {
            return Retired::default();
        };
        match parse(&bytes) {
            Ok((files, generations)) => Retired {
                files,
                generations,
                unreadable: false,
            },
            Err(error) => {
                tracing::warn!(
                    path = %path.display(),
                    %error,
                    "the record of retired files is unreadable; the files it should list wait a full grace from now"
                );
                Retired {
                    unreadable: true,
                    ..Retired::default()
                }
            }
        }
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(RETIRED_FILE);
        let temp = dir.join(format!("{RETIRED_FILE}.tmp"));
        let record = RetiredFile {
            format: Some(FORMAT.to_owned()),
            version: Some(RETIRED_VERSION),
            files: self.files.clone(),
            generations: self.generations.clone(),
        };
        let bytes = serde_json::to_vec(&record).map_err(|e| Error::Query(e.to_string()))?;
        let mut file = std::fs::File::create(&temp).map_err(|e| Error::io(&temp, e))?;
        file.write_all(&bytes).map_err(|e| Error::io(&temp, e))?;
        file.sync_all().map_err(|e| Error::io(&temp, e))?;
        std::fs::rename(&temp, &path).map_err(|e| Error::io(&path, e))
    }

    /// Records `now_ms` and `generation` (the catalog just published) for every file `before`
    /// names and `after` does not.
    pub fn retire(
        &mut self,
        dir: &Path,
        before: &HashSet<PathBuf>,
        after: &HashSet<PathBuf>,
        now_ms: i64,
        generation: u64,
    ) {
        for path in before.difference(after) {
            if let Some(relative) = relative(dir, path) {
                self.files.entry(relative.clone()).or_insert(now_ms);
                self.generations.entry(relative).or_insert(generation);
            }
        }
    }

    /// Forgets the files that are gone.
    pub fn forget_removed(&mut self, dir: &Path) -> bool {
        let before = (self.files.len(), self.generations.len());
        self.files.retain(|relative, _| dir.join(relative).exists());
        let files = &self.files;
        self.generations
            .retain(|relative, _| files.contains_key(relative));
        before != (self.files.len(), self.generations.len())
    }
}

type Parsed = (BTreeMap<String, i64>, BTreeMap<String, u64>);

/// The files of a record and the generations they left at, or why it cannot be read.
fn parse(bytes: &[u8]) -> std::result::Result<Parsed, String> {
    let record: RetiredFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    match (record.format.as_deref(), record.version) {
        (None, None) | (Some(FORMAT), Some(1)) if record.generations.is_empty() => {
            Ok((record.files, BTreeMap::new()))
        }
        (Some(FORMAT), Some(RETIRED_VERSION)) => Ok((record.files, record.generations)),
        (Some(FORMAT), Some(version)) => Err(format!(
            "version {version}; this build reads version {RETIRED_VERSION}"
        )),
        (format, _) => Err(format!("not a record of retired files (format {format:?})")),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_this_and_the_earlier_version_are_read_anything_else_is_not() {
        let files = |text: &str| parse(text.as_bytes());
        let five = BTreeMap::from([("a".to_string(), 5)]);
        assert_eq!(
            files(
                r#"{"format":"mailscope-retired","version":2,"files":{"a":5},"generations":{"a":9}}"#
            ),
            Ok((five.clone(), BTreeMap::from([("a".to_string(), 9)])))
        );
        assert_eq!(
            files(r#"{"format":"mailscope-retired","version":1,"files":{"a":5}}"#),
            Ok((five.clone(), BTreeMap::new()))
        );
        assert_eq!(files(r#"{"files":{"a":5}}"#), Ok((five, BTreeMap::new())));
        for bad in [
            "",
            "{",
            "[]",
            r#"{"files":{"a":"yesterday"}}"#,
            r#"{"files":{},"extra":1}"#,
            r#"{"format":"mailscope-retired","version":3,"files":{}}"#,
            r#"{"format":"mailscope-retired","version":1,"files":{},"generations":{"a":1}}"#,
            r#"{"format":"mailscope-retired","version":2,"files":{},"generations":{"a":-1}}"#,
            r#"{"format":"something-else","version":1,"files":{}}"#,
        ] {
            assert!(files(bad).is_err(), "{bad}");
        }
        assert!(
            files(r#"{"format":"mailscope-retired","version":9,"files":{}}"#)
                .unwrap_err()
                .contains("version 9")
        );
    }
}
