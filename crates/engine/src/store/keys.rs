//! The key run of a segment: a file beside it (`<segment>.keys`) with the identity and status
//! of each of its rows, sorted by identity, behind a binary fuse filter. An ingest asks it
//! whether an identity is stored in the segment without reading the segment: the filter
//! answers "no" for almost every new identity from memory (about 9 bits per row), and a
//! "maybe" reads one block of the sorted run, found through fence keys kept in memory. The
//! cost of an append is then the append's, not the day's.
//!
//! Layout (little-endian):
//!
//! ```text
//! "MSKEYS" 0 1                 magic and version
//! rows u64, statuses u8        then each status as u8 length + UTF-8 (a row's status is an
//!                              index into this table)
//! filter: seed u64, segment_length u32, segment_length_mask u32, segment_count_length u32,
//!         fingerprints u64 length + bytes (absent when rows = 0)
//! fences: one u128 per block of BLOCK rows (the block's first key)
//! entries: rows × (key u128, row u32, status u8), sorted by key
//! checksum: XXH3-64 of everything before it
//! ```
//!
//! The run is written with its segment and fsynced before the catalog names the segment; a
//! segment without a readable run (written by an older version, or damaged) is answered from
//! the segment's own columns instead.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use mailscope_record::Status;
use xorf::{BinaryFuse8, Filter};

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"MSKEYS\x00\x01";
/// Rows per block of the sorted run: a "maybe" reads one block (21 bytes a row).
const BLOCK: usize = 128;
const ENTRY: usize = 16 + 4 + 1;

/// The key run's path for a segment's path.
pub fn path_for(segment: &Path) -> PathBuf {
    let mut name = segment.as_os_str().to_owned();
    name.push(".keys");
    PathBuf::from(name)
}

/// Writes the key run of a segment whose rows have `keys` (in row order), durably.
#[cfg(test)]
pub fn write(segment: &Path, keys: &[(u128, Status)]) -> Result<()> {
    let mut run = KeyRunBuilder::default();
    for (key, status) in keys {
        run.push(*key, status.as_str())?;
    }
    run.write(segment)
}

/// A key run as its segment's rows are written: 21 bytes a row (identity, row number and
/// status code), the status texts once.
#[derive(Debug, Default)]
pub struct KeyRunBuilder {
    statuses: Vec<String>,
    /// Entries as the file holds them (key, row, status code; little-endian): a tuple of a
    /// `u128` would take 32 bytes with its alignment.
    entries: Vec<[u8; ENTRY]>,
}

impl KeyRunBuilder {
    /// The next row's identity and status.
    pub fn push(&mut self, key: u128, status: &str) -> Result<()> {
        let code = match self.statuses.iter().position(|s| s == status) {
            Some(code) => code,
            None => {
                self.statuses.push(status.to_owned());
                self.statuses.len() - 1
            }
        };
        let code = u8::try_from(code)
            .map_err(|_| Error::Query("a key run holds at most 256 statuses".into()))?;
        let row = u32::try_from(self.entries.len())
            .map_err(|_| Error::Query("a key run holds at most 2^32 rows".into()))?;
        let mut entry = [0u8; ENTRY];
        entry[..16].copy_from_slice(&key.to_le_bytes());
        entry[16..20].copy_from_slice(&row.to_le_bytes());
        entry[20] = code;
        self.entries.push(entry);
        Ok(())
    }

    pub fn reserve(&mut self, rows: usize) {
        self.entries.reserve(rows);
    }

    /// Writes the run beside `segment`, durably, streaming its bytes through the checksum.
    pub fn write(self, segment: &Path) -> Result<()> {
        let path = path_for(segment);
        let KeyRunBuilder {
            statuses,
            mut entries,
        } = self;
        let key_of = |entry: &[u8; ENTRY]| {
            let mut key = [0u8; 16];
            key.copy_from_slice(&entry[..16]);
            u128::from_le_bytes(key)
        };
        entries.sort_unstable_by_key(key_of);
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut out = Checksummed {
            inner: std::io::BufWriter::with_capacity(1 << 16, file),
            hash: xxhash_rust::xxh3::Xxh3::new(),
        };
        let io = |e| Error::io(&path, e);
        out.put(MAGIC).map_err(io)?;
        out.put(&(entries.len() as u64).to_le_bytes()).map_err(io)?;
        out.put(&[u8::try_from(statuses.len()).unwrap_or(u8::MAX)])
            .map_err(io)?;
        for status in &statuses {
            let bytes = &status.as_bytes()[..status.len().min(255)];
            out.put(&[bytes.len() as u8]).map_err(io)?;
            out.put(bytes).map_err(io)?;
        }
        if !entries.is_empty() {
            let mut hashes: Vec<u64> = entries.iter().map(|e| key_of(e) as u64).collect();
            hashes.sort_unstable();
            hashes.dedup();
            let filter = BinaryFuse8::try_from(&hashes)
                .map_err(|e| Error::Query(format!("{}: key filter: {e}", path.display())))?;
            drop(hashes);
            let d = &filter.descriptor;
            out.put(&d.seed.to_le_bytes()).map_err(io)?;
            out.put(&d.segment_length.to_le_bytes()).map_err(io)?;
            out.put(&d.segment_length_mask.to_le_bytes()).map_err(io)?;
            out.put(&d.segment_count_length.to_le_bytes()).map_err(io)?;
            out.put(&(filter.fingerprints.len() as u64).to_le_bytes())
                .map_err(io)?;
            out.put(&filter.fingerprints).map_err(io)?;
        }
        for block in entries.chunks(BLOCK) {
            out.put(&block[0][..16]).map_err(io)?;
        }
        for entry in &entries {
            out.put(entry).map_err(io)?;
        }
        let checksum = out.hash.digest();
        let mut file = out.inner.into_inner().map_err(|e| io(e.into_error()))?;
        file.write_all(&checksum.to_le_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(())
    }
}

/// A writer that checksums what it writes.
struct Checksummed {
    inner: std::io::BufWriter<File>,
    hash: xxhash_rust::xxh3::Xxh3,
}

impl Checksummed {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hash.update(bytes);
        self.inner.write_all(bytes)
    }
}

/// An open key run: the filter and fences in memory, the entries read on demand (or all at
/// once, when an ingest asks about so many identities that reading blocks costs more).
pub struct KeyRun {
    path: PathBuf,
    file: File,
    rows: usize,
    statuses: Vec<Status>,
    filter: Option<BinaryFuse8>,
    fences: Vec<u128>,
    /// File offset of the first entry.
    entries_at: u64,
    /// Every entry, once loaded.
    loaded: Option<Vec<u8>>,
    /// Blocks read so far that held the identity asked about: past `blocks` / 4 (a
    /// re-ingest) the whole run is loaded. The filter's false positives do not count: an
    /// append of new identities over every day meets a few in every run, and loading each
    /// run whole for them held 21 bytes per stored row (1.7 GB at 80 M).
    hits: usize,
    /// Whether many hits load the whole run (see `hits`).
    may_load: bool,
}

impl std::fmt::Debug for KeyRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRun")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish()
    }
}

/// What an ingest read to answer its lookups, for its report.
#[derive(Debug, Clone, Copy, Default)]
pub struct LookupCost {
    pub blocks_read: u64,
    pub runs_loaded: u64,
}

impl KeyRun {
    /// Opens the run of `segment`, checking its checksum; `Ok(None)` when there is none.
    pub fn open(segment: &Path) -> Result<Option<KeyRun>> {
        let path = path_for(segment);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let bad = |what: &str| Error::Query(format!("key run {}: {what}", path.display()));
        let length = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        if length < (MAGIC.len() + 8 + 1 + 8) as u64 {
            return Err(bad("too short"));
        }
        verify_checksum(&mut file, length).map_err(|e| match e {
            Error::Io { source, .. } => Error::io(&path, source),
            other => bad(&other.to_string()),
        })?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(&path, e))?;
        let mut head = std::io::BufReader::new(&mut file);
        let mut magic = [0u8; 8];
        read_exact(&mut head, &mut magic, &path)?;
        if &magic != MAGIC {
            return Err(bad("not a key run of this version"));
        }
        let rows = usize::try_from(read_u64(&mut head, &path)?).map_err(|_| bad("row count"))?;
        let mut position = 16u64;
        let status_count = read_u8(&mut head, &path)?;
        position += 1;
        let mut statuses = Vec::with_capacity(usize::from(status_count));
        for _ in 0..status_count {
            let len = read_u8(&mut head, &path)?;
            let mut text = vec![0u8; usize::from(len)];
            read_exact(&mut head, &mut text, &path)?;
            position += 1 + u64::from(len);
            statuses.push(Status::parse(
                std::str::from_utf8(&text).map_err(|_| bad("status is not UTF-8"))?,
            ));
        }
        let filter = if rows > 0 {
            let seed = read_u64(&mut head, &path)?;
            let segment_length = read_u32(&mut head, &path)?;
            let segment_length_mask = read_u32(&mut head, &path)?;
            let segment_count_length = read_u32(&mut head, &path)?;
            let fingerprints_len = read_u64(&mut head, &path)?;
            if fingerprints_len > length {
                return Err(bad("filter longer than the file"));
            }
            let mut fingerprints = vec![0u8; fingerprints_len as usize];
            read_exact(&mut head, &mut fingerprints, &path)?;
            position += 8 + 4 + 4 + 4 + 8 + fingerprints_len;
            let mut filter =
                BinaryFuse8::try_from(&[0u64][..]).map_err(|e| bad(&format!("filter: {e}")))?;
            filter.descriptor.seed = seed;
            filter.descriptor.segment_length = segment_length;
            filter.descriptor.segment_length_mask = segment_length_mask;
            filter.descriptor.segment_count_length = segment_count_length;
            filter.fingerprints = fingerprints.into_boxed_slice();
            Some(filter)
        } else {
            None
        };
        let blocks = rows.div_ceil(BLOCK);
        let expected = position + (blocks * 16 + rows * ENTRY + 8) as u64;
        if expected != length {
            return Err(bad(&format!(
                "{length} bytes where {expected} were expected"
            )));
        }
        let mut fences = Vec::with_capacity(blocks);
        for _ in 0..blocks {
            let mut bytes = [0u8; 16];
            read_exact(&mut head, &mut bytes, &path)?;
            fences.push(u128::from_le_bytes(bytes));
        }
        position += (blocks * 16) as u64;
        drop(head);
        Ok(Some(KeyRun {
            path,
            file,
            rows,
            statuses,
            filter,
            fences,
            entries_at: position,
            loaded: None,
            hits: 0,
            may_load: true,
        }))
    }

    /// Never loads the whole run, however many lookups hit: for the runs of an ingest's own
    /// pieces, whose later status changes hit many of their rows (loaded whole, they held
    /// 21 bytes for every row the ingest wrote).
    pub fn read_blocks_only(mut self) -> KeyRun {
        self.may_load = false;
        self
    }

    /// Every entry (identity, row, status), in identity order: for `verify`.
    pub fn entries(&mut self) -> Result<Vec<(u128, u32, Status)>> {
        let mut all = vec![0u8; self.rows * ENTRY];
        self.read_at(self.entries_at, &mut all)?;
        Ok(all
            .chunks_exact(ENTRY)
            .map(|entry| {
                let mut key = [0u8; 16];
                key.copy_from_slice(&entry[..16]);
                let mut row = [0u8; 4];
                row.copy_from_slice(&entry[16..20]);
                (
                    u128::from_le_bytes(key),
                    u32::from_le_bytes(row),
                    self.status(entry[20]),
                )
            })
            .collect())
    }

    #[cfg(test)]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The row and status of `key` in the segment, if stored there.
    pub fn find(&mut self, key: u128, cost: &mut LookupCost) -> Result<Option<(u32, Status)>> {
        let Some(filter) = &self.filter else {
            return Ok(None);
        };
        if !filter.contains(&(key as u64)) {
            return Ok(None);
        }
        // The block whose first key is the last one not above `key`.
        let block = self.fences.partition_point(|fence| *fence <= key);
        let Some(block) = block.checked_sub(1) else {
            return Ok(None);
        };
        let first = block * BLOCK;
        let count = BLOCK.min(self.rows - first);
        let entries: std::borrow::Cow<'_, [u8]> = match &self.loaded {
            Some(all) => std::borrow::Cow::Borrowed(&all[first * ENTRY..(first + count) * ENTRY]),
            None => {
                cost.blocks_read += 1;
                let mut bytes = vec![0u8; count * ENTRY];
                self.read_at(self.entries_at + (first * ENTRY) as u64, &mut bytes)?;
                let found = search(&bytes, key);
                if found.is_some() {
                    self.hits += 1;
                    if self.may_load && self.hits > self.fences.len() / 4 {
                        // Asked about so many stored identities that holding the whole run
                        // is cheaper than a read per lookup.
                        let mut all = vec![0u8; self.rows * ENTRY];
                        self.read_at(self.entries_at, &mut all)?;
                        cost.runs_loaded += 1;
                        self.loaded = Some(all);
                    }
                }
                return Ok(found.map(|(row, code)| (row, self.status(code))));
            }
        };
        Ok(search(&entries, key).map(|(row, code)| (row, self.status(code))))
    }

    fn status(&self, code: u8) -> Status {
        self.statuses
            .get(usize::from(code))
            .cloned()
            .unwrap_or(Status::None)
    }

    fn read_at(&mut self, offset: u64, buffer: &mut [u8]) -> Result<()> {
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.read_exact(buffer))
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Binary search of `key` in entries sorted by key.
fn search(entries: &[u8], key: u128) -> Option<(u32, u8)> {
    let count = entries.len() / ENTRY;
    let key_at = |i: usize| {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&entries[i * ENTRY..i * ENTRY + 16]);
        u128::from_le_bytes(bytes)
    };
    let (mut low, mut high) = (0, count);
    while low < high {
        let middle = (low + high) / 2;
        match key_at(middle).cmp(&key) {
            std::cmp::Ordering::Less => low = middle + 1,
            std::cmp::Ordering::Greater => high = middle,
            std::cmp::Ordering::Equal => {
                let at = middle * ENTRY + 16;
                let mut row = [0u8; 4];
                row.copy_from_slice(&entries[at..at + 4]);
                return Some((u32::from_le_bytes(row), entries[at + 4]));
            }
        }
    }
    None
}

fn verify_checksum(file: &mut File, length: u64) -> Result<()> {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut reader = std::io::BufReader::with_capacity(1 << 16, &mut *file).take(length - 8);
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = reader
            .read(&mut buffer)
            .map_err(|e| Error::io(PathBuf::new(), e))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    let mut stored = [0u8; 8];
    file.seek(SeekFrom::Start(length - 8))
        .and_then(|_| file.read_exact(&mut stored))
        .map_err(|e| Error::io(PathBuf::new(), e))?;
    if hasher.digest() != u64::from_le_bytes(stored) {
        return Err(Error::Query("checksum mismatch".into()));
    }
    Ok(())
}

fn read_exact(reader: &mut impl Read, buffer: &mut [u8], path: &Path) -> Result<()> {
    reader.read_exact(buffer).map_err(|e| Error::io(path, e))
}

fn read_u8(reader: &mut impl Read, path: &Path) -> Result<u8> {
    let mut bytes = [0u8; 1];
    read_exact(reader, &mut bytes, path)?;
    Ok(bytes[0])
}

fn read_u32(reader: &mut impl Read, path: &Path) -> Result<u32> {
    let mut bytes = [0u8; 4];
    read_exact(reader, &mut bytes, path)?;
    Ok(u32::from_le_bytes(bytes))
}

fn read_u64(reader: &mut impl Read, path: &Path) -> Result<u64> {
    let mut bytes = [0u8; 8];
    read_exact(reader, &mut bytes, path)?;
    Ok(u64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: u64, salt: u64) -> Vec<(u128, Status)> {
        (0..n)
            .map(|i| {
                let key = xxhash_rust::xxh3::xxh3_128(&(i ^ salt).to_le_bytes());
                let status = match i % 3 {
                    0 => Status::Delivered,
                    1 => Status::Pending,
                    _ => Status::Other("Resolved".into()),
                };
                (key, status)
            })
            .collect()
    }

    #[test]
    fn every_stored_key_is_found_with_its_row_and_status_and_others_are_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let segment = dir.path().join("s.parquet");
        let stored = keys(5_000, 0);
        write(&segment, &stored).expect("write");
        let mut run = KeyRun::open(&segment).expect("open").expect("present");
        assert_eq!(run.rows(), 5_000);
        let mut cost = LookupCost::default();
        for (row, (key, status)) in stored.iter().enumerate().step_by(7) {
            assert_eq!(
                run.find(*key, &mut cost).expect("find"),
                Some((row as u32, status.clone()))
            );
        }
        // Past a quarter of the blocks the run is loaded whole; answers do not change.
        assert_eq!(cost.runs_loaded, 1);
        for (row, (key, status)) in stored.iter().enumerate() {
            assert_eq!(
                run.find(*key, &mut cost).expect("find"),
                Some((row as u32, status.clone()))
            );
        }
        let absent = keys(5_000, 1 << 40);
        let found = absent
            .iter()
            .filter(|(key, _)| run.find(*key, &mut cost).expect("find").is_some())
            .count();
        assert_eq!(found, 0);
    }

    #[test]
    fn a_few_lookups_read_a_few_blocks_and_misses_mostly_none() {
        let dir = tempfile::tempdir().expect("temp dir");
        let segment = dir.path().join("s.parquet");
        let stored = keys(100_000, 0);
        write(&segment, &stored).expect("write");
        let mut run = KeyRun::open(&segment).expect("open").expect("present");
        let mut cost = LookupCost::default();
        for (key, _) in stored.iter().take(10) {
            assert!(run.find(*key, &mut cost).expect("find").is_some());
        }
        assert_eq!(cost.blocks_read, 10);
        assert_eq!(cost.runs_loaded, 0);
        let mut misses = LookupCost::default();
        for (key, _) in keys(10_000, 1 << 41) {
            assert!(run.find(key, &mut misses).expect("find").is_none());
        }
        // The filter's false positives (< 0.4 %) are the only blocks read.
        assert!(misses.blocks_read < 100, "{}", misses.blocks_read);
    }

    #[test]
    fn an_empty_segment_has_an_empty_run() {
        let dir = tempfile::tempdir().expect("temp dir");
        let segment = dir.path().join("s.parquet");
        write(&segment, &[]).expect("write");
        let mut run = KeyRun::open(&segment).expect("open").expect("present");
        assert_eq!(run.rows(), 0);
        assert_eq!(run.find(1, &mut LookupCost::default()).expect("find"), None);
    }

    #[test]
    fn a_damaged_or_missing_run_is_reported_not_trusted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let segment = dir.path().join("s.parquet");
        assert!(KeyRun::open(&segment).expect("no run").is_none());
        write(&segment, &keys(1_000, 0)).expect("write");
        let path = path_for(&segment);
        let mut bytes = std::fs::read(&path).expect("read");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        std::fs::write(&path, &bytes).expect("write");
        let error = KeyRun::open(&segment).expect_err("damaged");
        assert!(error.to_string().contains("checksum mismatch"), "{error}");
        std::fs::write(&path, &bytes[..10]).expect("truncate");
        let error = KeyRun::open(&segment).expect_err("truncated");
        assert!(error.to_string().contains("too short"), "{error}");
    }
}
