//! Deletion vectors: the rows of a segment that newer observations superseded, kept in a
//! file beside the segment instead of rewriting it (merge on read, as Delta Lake and
//! Iceberg v2 do). A status update to a few rows of a large segment then writes a few bytes
//! per row, not the segment; readers skip the deleted rows, and a merge drops them for good.
//!
//! A vector is immutable: an ingest that deletes more rows of a segment writes a new file
//! holding the old rows and the new ones, named with its generation, and the catalog names
//! the one that counts. Layout (little-endian):
//!
//! ```text
//! "MSDELS" 0 1          magic and version
//! rows u64              how many rows are deleted
//! bitmap                the row numbers, a roaring bitmap in its portable serialization
//! checksum              XXH3-64 of everything before it
//! ```

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use arrow::array::BooleanArray;
use roaring::RoaringBitmap;

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"MSDELS\x00\x01";
/// No vector is larger than one bit per row of the largest segment plus the bitmap's
/// headers; anything longer is damage, and is not read into memory.
const MAX_BYTES: u64 = 64 << 20;

/// The path of the vector an ingest of `generation` writes for `segment`.
pub fn path_for(segment: &Path, generation: u64) -> PathBuf {
    let mut name = segment.as_os_str().to_owned();
    name.push(format!(".g{generation:010}.deletes"));
    PathBuf::from(name)
}

/// Writes `rows` durably to `path` (the caller syncs the directory); returns the file's size.
pub fn write(path: &Path, rows: &RoaringBitmap) -> Result<u64> {
    let mut out = Vec::with_capacity(24 + rows.serialized_size());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&rows.len().to_le_bytes());
    rows.serialize_into(&mut out)
        .map_err(|e| Error::io(path, e))?;
    let checksum = xxhash_rust::xxh3::xxh3_64(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    let mut file = File::create(path).map_err(|e| Error::io(path, e))?;
    file.write_all(&out).map_err(|e| Error::io(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    Ok(out.len() as u64)
}

/// Reads a vector, checking its magic, checksum and row count.
pub fn read(path: &Path) -> Result<RoaringBitmap> {
    let bad = |what: &str| Error::Query(format!("deletion vector {}: {what}", path.display()));
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let length = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if length > MAX_BYTES {
        return Err(bad("larger than any vector can be"));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
    file.take(MAX_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() < MAGIC.len() + 8 + 8 {
        return Err(bad("too short"));
    }
    let (body, checksum) = bytes.split_at(bytes.len() - 8);
    let stored = u64::from_le_bytes(checksum.try_into().map_err(|_| bad("checksum"))?);
    if xxhash_rust::xxh3::xxh3_64(body) != stored {
        return Err(bad("checksum mismatch"));
    }
    if &body[..MAGIC.len()] != MAGIC {
        return Err(bad("not a deletion vector of this version"));
    }
    let count = u64::from_le_bytes(
        body[MAGIC.len()..MAGIC.len() + 8]
            .try_into()
            .map_err(|_| bad("row count"))?,
    );
    let rows = RoaringBitmap::deserialize_from(&body[MAGIC.len() + 8..])
        .map_err(|e| bad(&format!("bitmap: {e}")))?;
    if rows.len() != count {
        return Err(bad(&format!(
            "holds {} rows, its header says {count}",
            rows.len()
        )));
    }
    Ok(rows)
}

/// True for the rows of a `rows`-row segment that are not deleted.
pub fn keep_mask(deleted: &RoaringBitmap, rows: usize) -> BooleanArray {
    keep_mask_from(deleted, 0, rows)
}

/// True for the file rows `first..first + rows` that are not deleted (index 0 is `first`).
pub fn keep_mask_from(deleted: &RoaringBitmap, first: u32, rows: usize) -> BooleanArray {
    let mut keep = arrow::array::BooleanBufferBuilder::new(rows);
    keep.append_n(rows, true);
    let end = u32::try_from(first as usize + rows).unwrap_or(u32::MAX);
    for row in deleted.range(first..end) {
        keep.set_bit((row - first) as usize, false);
    }
    BooleanArray::new(keep.finish(), None)
}

/// The runs of kept and skipped rows of a `rows`-row segment, in file order: `(keep, n)`.
pub fn runs(deleted: &RoaringBitmap, rows: usize) -> Vec<(bool, usize)> {
    let mut runs = Vec::new();
    let mut at = 0usize;
    let push = |keep: bool, n: usize, runs: &mut Vec<(bool, usize)>| {
        if n == 0 {
            return;
        }
        match runs.last_mut() {
            Some((k, m)) if *k == keep => *m += n,
            _ => runs.push((keep, n)),
        }
    };
    for row in deleted.iter() {
        let row = row as usize;
        if row >= rows {
            break;
        }
        push(true, row - at, &mut runs);
        push(false, 1, &mut runs);
        at = row + 1;
    }
    push(true, rows - at, &mut runs);
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let rows: RoaringBitmap = [3u32, 4, 9, 70_000].into_iter().collect();
        let path = path_for(&dir.path().join("s.parquet"), 7);
        assert!(
            path.to_string_lossy()
                .ends_with("s.parquet.g0000000007.deletes")
        );
        write(&path, &rows).unwrap();
        assert_eq!(read(&path).unwrap(), rows);

        let mut bytes = std::fs::read(&path).unwrap();
        bytes[17] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let error = read(&path).unwrap_err().to_string();
        assert!(error.contains("checksum mismatch"), "{error}");
        std::fs::write(&path, b"short").unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("too short"));
        assert!(read(&dir.path().join("absent")).is_err());
    }

    #[test]
    fn masks_and_runs_agree_with_the_rows() {
        let rows: RoaringBitmap = [0u32, 1, 5, 9].into_iter().collect();
        let mask = keep_mask(&rows, 10);
        let kept: Vec<usize> = (0..10).filter(|i| mask.value(*i)).collect();
        assert_eq!(kept, vec![2, 3, 4, 6, 7, 8]);
        assert_eq!(
            runs(&rows, 10),
            vec![(false, 2), (true, 3), (false, 1), (true, 3), (false, 1)]
        );
        assert_eq!(runs(&RoaringBitmap::new(), 4), vec![(true, 4)]);
        assert_eq!(runs(&rows, 0), vec![]);
    }
}
