//! The catalog: the list of published segments with their time ranges. It is the store's
//! single point of truth — a segment file exists for readers only once a catalog naming it
//! has been renamed into place — so publishing is one atomic rename.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const CATALOG_FILE: &str = "CATALOG";
const FORMAT: &str = "mailscope-catalog";
/// Version 1: segments with day, row count, received range and geo provenance.
/// Version 2: a segment may name its rollup (partial aggregates).
/// Version 3: a segment may name its deletion vector (rows superseded since it was written).
pub const CATALOG_VERSION: u32 = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub format: String,
    pub version: u32,
    /// Incremented by every publish; segment file names carry the generation that wrote them.
    pub generation: u64,
    pub segments: Vec<SegmentMeta>,
    /// Collector positions, by collector key, published in the same rename as the segments
    /// holding the records they cover: after a crash a collector resumes exactly where its
    /// data ends. Opaque to the store. Absent in catalogs without collectors.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checkpoints: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentMeta {
    /// Path relative to the data directory, `/`-separated.
    pub file: String,
    /// The UTC day (`YYYY-MM-DD`) all rows' `Received` fall in.
    pub day: String,
    pub rows: u64,
    /// Smallest and largest `Received`, nanoseconds since the epoch.
    pub min_received: i64,
    pub max_received: i64,
    pub bytes: u64,
    /// The segment's partial aggregates (`rollup.rs`); absent for segments written before
    /// version 2, which queries read as rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollup: Option<super::rollup::RollupMeta>,
    /// The segment's rows superseded since it was written (`deletes.rs`); readers skip them.
    /// `rows` counts them, [`SegmentMeta::live_rows`] does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletes: Option<DeletesMeta>,
}

/// A segment's deletion vector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletesMeta {
    /// Path relative to the data directory, `/`-separated.
    pub file: String,
    /// Rows deleted.
    pub rows: u64,
    pub bytes: u64,
}

impl SegmentMeta {
    /// The entry of a segment about to be written,
    /// `segments/<day>/g<generation>-<number>.parquet`; its figures are filled once written.
    pub fn to_write(day: &str, generation: u64, number: u32) -> SegmentMeta {
        SegmentMeta {
            file: format!(
                "{}/{day}/g{generation:010}-{number:05}.parquet",
                super::SEGMENTS_DIR
            ),
            day: day.to_owned(),
            rows: 0,
            min_received: 0,
            max_received: 0,
            bytes: 0,
            rollup: None,
            deletes: None,
        }
    }

    /// Rows readers see: the file's rows less the deleted ones.
    pub fn live_rows(&self) -> u64 {
        self.rows
            .saturating_sub(self.deletes.as_ref().map_or(0, |d| d.rows))
    }
}

impl Default for Catalog {
    fn default() -> Catalog {
        Catalog {
            format: FORMAT.into(),
            version: CATALOG_VERSION,
            generation: 0,
            segments: vec![],
            checkpoints: BTreeMap::new(),
        }
    }
}

impl Catalog {
    /// Reads the catalog of a data directory; a directory without one is an empty store.
    pub fn load(dir: &Path) -> Result<Catalog> {
        let path = dir.join(CATALOG_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Catalog::default());
            }
            Err(error) => return Err(Error::io(path, error)),
        };
        Catalog::parse(&bytes).map_err(|message| Error::Catalog { path, message })
    }

    /// The generation of the catalog published now (0 for none), without building its
    /// segments' entries.
    pub fn published_generation(dir: &Path) -> Result<u64> {
        #[derive(Deserialize)]
        struct Head {
            #[serde(default)]
            generation: u64,
        }
        let path = dir.join(CATALOG_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(error) => return Err(Error::io(path, error)),
        };
        serde_json::from_slice::<Head>(&bytes)
            .map(|head| head.generation)
            .map_err(|e| Error::Catalog {
                path,
                message: e.to_string(),
            })
    }

    pub fn parse(bytes: &[u8]) -> Result<Catalog, String> {
        let catalog: Catalog = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if catalog.format != FORMAT {
            return Err(format!(
                "not a mailscope catalog (format {:?})",
                catalog.format
            ));
        }
        if catalog.version > CATALOG_VERSION {
            return Err(format!(
                "catalog version {} is newer than this mailscope understands ({CATALOG_VERSION})",
                catalog.version
            ));
        }
        Ok(catalog)
    }

    /// Writes the catalog atomically: temp file, fsync, rename, fsync of the directory.
    pub fn publish(&self, dir: &Path) -> Result<()> {
        let path = dir.join(CATALOG_FILE);
        let temp = dir.join(format!("{CATALOG_FILE}.tmp"));
        let current = Catalog {
            version: CATALOG_VERSION,
            ..self.clone()
        };
        let bytes = serde_json::to_vec_pretty(&current).map_err(|e| Error::Catalog {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut file = File::create(&temp).map_err(|e| Error::io(&temp, e))?;
        file.write_all(&bytes).map_err(|e| Error::io(&temp, e))?;
        file.sync_all().map_err(|e| Error::io(&temp, e))?;
        std::fs::rename(&temp, &path).map_err(|e| Error::io(&path, e))?;
        sync_dir(dir)
    }

    /// Segments whose rows may fall in `[from, to)` (nanoseconds).
    pub fn segments_overlapping(&self, from: i64, to: i64) -> impl Iterator<Item = &SegmentMeta> {
        self.segments
            .iter()
            .filter(move |s| s.max_received >= from && s.min_received < to)
    }

    /// Rows readers see.
    pub fn rows(&self) -> u64 {
        self.segments.iter().map(SegmentMeta::live_rows).sum()
    }

    pub fn segment_path(&self, dir: &Path, segment: &SegmentMeta) -> PathBuf {
        relative_path(dir, &segment.file)
    }

    /// The path of a segment's deletion vector, when it has one.
    pub fn deletes_path(&self, dir: &Path, segment: &SegmentMeta) -> Option<PathBuf> {
        segment
            .deletes
            .as_ref()
            .map(|d| relative_path(dir, &d.file))
    }

    /// A segment's deleted rows, read from its deletion vector; `None` when it has none.
    pub fn read_deletes(
        &self,
        dir: &Path,
        segment: &SegmentMeta,
    ) -> Result<Option<roaring::RoaringBitmap>> {
        self.deletes_path(dir, segment)
            .map(|path| super::deletes::read(&path))
            .transpose()
    }
}

/// A `/`-separated path relative to `dir`.
fn relative_path(dir: &Path, file: &str) -> PathBuf {
    file.split('/')
        .fold(dir.to_path_buf(), |path, part| path.join(part))
}

/// Makes a rename or file creation in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_catalog_versions_are_refused() {
        let text = br#"{"format":"mailscope-catalog","version":99,"generation":1,"segments":[]}"#;
        let error = Catalog::parse(text).unwrap_err();
        assert!(error.contains("newer"), "{error}");
    }

    #[test]
    fn garbage_is_refused_with_a_message() {
        assert!(Catalog::parse(b"{\"format\":").is_err());
        assert!(
            Catalog::parse(br#"{"format":"other","version":1,"generation":0,"segments":[]}"#)
                .unwrap_err()
                .contains("not a mailscope catalog")
        );
    }

    #[test]
    fn publish_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog {
            generation: 3,
            ..Catalog::default()
        };
        catalog.segments.push(SegmentMeta {
            file: "segments/2026-10-01/g00000003-0000.parquet".into(),
            day: "2026-10-01".into(),
            rows: 10,
            min_received: 1,
            max_received: 2,
            bytes: 100,
            rollup: None,
            deletes: Some(DeletesMeta {
                file: "segments/2026-10-01/g00000003-0000.parquet.g0000000004.deletes".into(),
                rows: 2,
                bytes: 40,
            }),
        });
        catalog.publish(dir.path()).unwrap();
        assert_eq!(Catalog::load(dir.path()).unwrap(), catalog);
        assert!(!dir.path().join("CATALOG.tmp").exists());
    }
}
