//! A compiled city index: what a city database's files answer, as sorted address ranges and
//! decoded locations in one file, read with positioned reads through the page cache.
//!
//! Why: DB-IP's pair is 134 MB and `maxminddb` reads a file whole into memory (mapping it
//! would need `unsafe`, which the crates forbid). Every process that looked up an address —
//! each collector poll, each ingest, the server — held all of it. The index is built once per
//! version of the files (seconds, beside them or in the user's cache folder), then a lookup
//! reads one block of ranges (2–5 KB) and one record, and the process holds the blocks' first
//! addresses (a few hundred KB).
//!
//! The answers are the files' answers: every table covers its whole address space, networks
//! in the order `maxminddb` walks them (aliases of the IPv4 subtree included, as its lookups
//! follow them), gaps as entries without a record. A test compares both on random addresses.
//!
//! Layout (integers little-endian, addresses big-endian, offsets from the file's start):
//!
//! ```text
//! "MSGEOIX1"
//! per table: entries (first address: 4 or 16 bytes, record id: u32), ascending
//! records: encoded locations, then their offsets (u64 × (count + 1))
//! per table: the first address of every BLOCK-th entry (16 bytes each)
//! footer (JSON), its length (u64), "MSGEOIX1"
//! ```

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Location;
use super::maxmind::GeoSchema;

const MAGIC: &[u8; 8] = b"MSGEOIX1";
const FORMAT: &str = "mailscope-geo-index";
const VERSION: u32 = 1;
/// Entries per block: one positioned read per lookup of 2 KB (IPv4) or 5 KB (IPv6).
const BLOCK: usize = 256;
/// An entry of a gap: addresses no network of the file covers.
const NO_RECORD: u32 = u32::MAX;
/// An encoded location is a few dozen bytes; more is a damaged file.
const MAX_RECORD_BYTES: u64 = 1 << 16;
/// Where an index goes when the database's folder is not writable.
const CACHE_FOLDER: &str = "mailscope/geo-index";
/// `MAILSCOPE_GEO_INDEX=off` keeps the files in memory instead (the behaviour before the
/// index).
pub(crate) const INDEX_ENV: &str = "MAILSCOPE_GEO_INDEX";

/// What the index records of its source, for `GeoInfo` and the lookups' file choice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Described {
    pub version: String,
    pub schema: Option<GeoSchema>,
    pub database_types: Vec<String>,
    pub build_epoch: u64,
    /// The table answering IPv4 and IPv6 addresses.
    pub ipv4: Option<usize>,
    pub ipv6: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Footer {
    format: String,
    version: u32,
    /// The key of the source files' versions the index was built from.
    source: String,
    described: Described,
    tables: Vec<TableFooter>,
    records: u64,
    records_at: u64,
    offsets_at: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TableFooter {
    /// 4 for an IPv4 file, 16 for an IPv6 file (IPv4 at `::a.b.c.d`, where `maxminddb`
    /// finds the IPv4 subtree).
    key_bytes: u8,
    entries: u64,
    at: u64,
    starts_at: u64,
}

struct Table {
    footer: TableFooter,
    /// The first address of every block.
    starts: Vec<u128>,
}

/// An open index.
pub(crate) struct CityIndex {
    file: File,
    path: PathBuf,
    tables: Vec<Table>,
    records: u64,
    offsets_at: u64,
    pub(crate) described: Described,
}

/// What a network of the source points at: nothing, or a record by its offset in the
/// source, decoded the first time the offset comes (networks share records).
pub(crate) enum Found {
    Nothing,
    Seen(u64),
    New(u64, Location),
}

/// One source file's networks, for [`build`]: yields (first, last address, record) in
/// ascending order, in the table's key space.
pub(crate) type Networks<'a> = Box<dyn Iterator<Item = Result<(u128, u128, Found), String>> + 'a>;

/// A table to build: its key width and its networks.
pub(crate) struct TableSource<'a> {
    pub key_bytes: u8,
    pub networks: Networks<'a>,
}

/// Where the index of `paths` lives, when there is a place for it: beside the first file if
/// that folder is writable, else in the user's cache folder. `None` when the index is turned
/// off (`MAILSCOPE_GEO_INDEX=off`) or the files cannot be stamped.
pub(crate) fn places(paths: &[PathBuf]) -> Option<(String, Vec<PathBuf>)> {
    if std::env::var(INDEX_ENV).is_ok_and(|v| matches!(v.as_str(), "off" | "0" | "false")) {
        return None;
    }
    let key = source_key(paths)?;
    let first = paths.first()?;
    let name = format!(
        "{}.{key}.mailscope-index",
        first.file_name()?.to_string_lossy()
    );
    let mut places = Vec::new();
    if let Some(dir) = first.parent() {
        places.push(dir.join(&name));
    }
    if let Some(cache) = cache_dir() {
        places.push(cache.join(&name));
    }
    Some((key, places))
}

fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join(CACHE_FOLDER))
}

/// Names the files' versions: paths, sizes, modification times and inodes, and the format.
fn source_key(paths: &[PathBuf]) -> Option<String> {
    let mut hash = xxhash_rust::xxh3::Xxh3::new();
    hash.update(FORMAT.as_bytes());
    hash.update(&VERSION.to_le_bytes());
    for path in paths {
        let absolute = std::fs::canonicalize(path).ok()?;
        let metadata = std::fs::metadata(&absolute).ok()?;
        hash.update(absolute.to_string_lossy().as_bytes());
        hash.update(&metadata.len().to_le_bytes());
        let modified = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        hash.update(&modified.to_le_bytes());
        #[cfg(unix)]
        hash.update(&std::os::unix::fs::MetadataExt::ino(&metadata).to_le_bytes());
    }
    Some(format!("{:016x}", hash.digest()))
}

impl CityIndex {
    /// Opens an index built from the source of `key`; `None` when there is none, it is of
    /// another source or format, or it is damaged (it is then rebuilt).
    pub(crate) fn open(path: &Path, key: &str) -> Option<CityIndex> {
        let file = File::open(path).ok()?;
        match CityIndex::read(file, path, key) {
            Ok(index) => Some(index),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "geolocation index unusable; rebuilding it");
                None
            }
        }
    }

    fn read(file: File, path: &Path, key: &str) -> Result<CityIndex, String> {
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        if len < 32 {
            return Err("too short".into());
        }
        let mut tail = [0u8; 16];
        read_at(&file, &mut tail, len - 16)?;
        if &tail[8..] != MAGIC {
            return Err("not a geolocation index".into());
        }
        let footer_len = u64::from_le_bytes(tail[..8].try_into().unwrap_or_default());
        if footer_len > len - 24 || footer_len > 1 << 20 {
            return Err("footer out of bounds".into());
        }
        let mut text = vec![0u8; footer_len as usize];
        read_at(&file, &mut text, len - 16 - footer_len)?;
        let footer: Footer = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
        if footer.format != FORMAT || footer.version != VERSION || footer.source != key {
            return Err("built from other files or by another version".into());
        }
        let mut tables = Vec::new();
        for table in &footer.tables {
            if !matches!(table.key_bytes, 4 | 16) || table.entries == 0 {
                return Err("bad table".into());
            }
            let blocks = table.entries.div_ceil(BLOCK as u64);
            let mut bytes = vec![0u8; (blocks * 16) as usize];
            let end = table.at + table.entries * (u64::from(table.key_bytes) + 4);
            if end > len || table.starts_at + blocks * 16 > len {
                return Err("table out of bounds".into());
            }
            read_at(&file, &mut bytes, table.starts_at)?;
            let starts = bytes
                .chunks_exact(16)
                .map(|c| u128::from_be_bytes(c.try_into().unwrap_or_default()))
                .collect();
            tables.push(Table {
                footer: table.clone(),
                starts,
            });
        }
        if footer.offsets_at + (footer.records + 1) * 8 > len {
            return Err("records out of bounds".into());
        }
        Ok(CityIndex {
            file,
            path: path.to_path_buf(),
            tables,
            records: footer.records,
            offsets_at: footer.offsets_at,
            described: footer.described,
        })
    }

    /// The location of an address, as the source's files answer it.
    /// The record answering an address (none in a gap or without a table for its family).
    pub(crate) fn find_record(&self, address: IpAddr) -> Result<Option<u32>, String> {
        let table = match address {
            IpAddr::V4(_) => self.described.ipv4,
            IpAddr::V6(_) => self.described.ipv6,
        };
        let Some(table) = table.and_then(|t| self.tables.get(t)) else {
            return Ok(None);
        };
        let key = match address {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        let record = self.find(table, key)?;
        Ok((record != NO_RECORD).then_some(record))
    }

    fn find(&self, table: &Table, key: u128) -> Result<u32, String> {
        let block = table
            .starts
            .partition_point(|s| *s <= key)
            .saturating_sub(1);
        let first = (block * BLOCK) as u64;
        let count = (table.footer.entries - first).min(BLOCK as u64) as usize;
        let key_bytes = usize::from(table.footer.key_bytes);
        let width = key_bytes + 4;
        let mut bytes = vec![0u8; count * width];
        read_at(
            &self.file,
            &mut bytes,
            table.footer.at + first * width as u64,
        )?;
        let start = |i: usize| -> u128 {
            let field = &bytes[i * width..i * width + key_bytes];
            field
                .iter()
                .fold(0u128, |acc, b| (acc << 8) | u128::from(*b))
        };
        // The last entry starting at or before the key; the first entry of a table starts
        // at address 0, so there is one.
        let (mut low, mut high) = (0usize, count);
        while low < high {
            let middle = (low + high) / 2;
            if start(middle) <= key {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        let entry = low.checked_sub(1).ok_or("address before the first entry")?;
        let at = entry * width + key_bytes;
        Ok(u32::from_le_bytes(
            bytes[at..at + 4].try_into().unwrap_or_default(),
        ))
    }

    /// Reads and decodes one record.
    pub(crate) fn record(&self, id: u32) -> Result<Location, String> {
        if u64::from(id) >= self.records {
            return Err(format!("record {id} out of range"));
        }
        let mut bounds = [0u8; 16];
        read_at(&self.file, &mut bounds, self.offsets_at + u64::from(id) * 8)?;
        let from = u64::from_le_bytes(bounds[..8].try_into().unwrap_or_default());
        let to = u64::from_le_bytes(bounds[8..].try_into().unwrap_or_default());
        if to < from || to - from > MAX_RECORD_BYTES {
            return Err(format!("record {id} has bad bounds"));
        }
        let mut bytes = vec![0u8; (to - from) as usize];
        read_at(&self.file, &mut bytes, from)?;
        decode(&bytes).ok_or_else(|| format!("record {id} is damaged"))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Holds the folder's build lock (a file lock, released when the process ends, however it
/// ends); `None` when the folder cannot hold an index (not writable).
pub(crate) fn lock_folder(place: &Path) -> Option<File> {
    let dir = place.parent()?;
    std::fs::create_dir_all(dir).ok()?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".mailscope-index.lock"))
        .ok()?;
    lock.lock().ok()?;
    Some(lock)
}

/// Writes the index of `tables` to `path` (through a temporary file and a rename, so a
/// reader never sees half of one).
pub(crate) fn build(
    path: &Path,
    key: &str,
    described: Described,
    tables: Vec<TableSource<'_>>,
) -> Result<(), String> {
    let dir = path.parent().ok_or("no folder")?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    // Unique to this build: two processes, or two threads of one, may build at once.
    static BUILDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let temporary = dir.join(format!(
        ".{}.{}-{}.tmp",
        path.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        std::process::id(),
        BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let written = write(&temporary, key, described, tables);
    let renamed = written.and_then(|()| {
        std::fs::rename(&temporary, path).map_err(|e| e.to_string())?;
        crate::store::sync_dir(dir).map_err(|e| e.to_string())
    });
    if renamed.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    renamed
}

fn write(
    path: &Path,
    key: &str,
    described: Described,
    tables: Vec<TableSource<'_>>,
) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    let file = File::create(path).map_err(io)?;
    let mut out = Counted {
        inner: BufWriter::with_capacity(1 << 16, file),
        written: 0,
    };
    out.put(MAGIC).map_err(io)?;
    // Records by (table, offset in its source file).
    let mut records: HashMap<(usize, u64), u32> = HashMap::new();
    let mut encoded: Vec<u8> = Vec::new();
    let mut offsets: Vec<u64> = vec![0];
    let mut footers = Vec::new();
    let mut all_starts = Vec::new();
    for (table_number, table) in tables.into_iter().enumerate() {
        let key_bytes = table.key_bytes;
        let max = if key_bytes == 4 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        let at = out.written;
        let mut entries = 0u64;
        let mut starts = Vec::new();
        let mut last_record = None;
        let mut push = |out: &mut Counted, start: u128, record: u32| -> Result<(), String> {
            if last_record == Some(record) {
                return Ok(());
            }
            last_record = Some(record);
            if entries.is_multiple_of(BLOCK as u64) {
                starts.push(start);
            }
            entries += 1;
            let bytes = start.to_be_bytes();
            out.put(&bytes[16 - usize::from(key_bytes)..]).map_err(io)?;
            out.put(&record.to_le_bytes()).map_err(io)
        };
        // The next address no entry covers yet; None once the space is covered.
        let mut next = Some(0u128);
        for network in table.networks {
            let (first, last, location) = network?;
            let expected = next.ok_or("networks beyond the address space")?;
            if first < expected || last < first || last > max {
                return Err("networks out of order".into());
            }
            if first > expected {
                push(&mut out, expected, NO_RECORD)?;
            }
            let record = match location {
                Found::Nothing => NO_RECORD,
                Found::Seen(offset) => *records
                    .get(&(table_number, offset))
                    .ok_or("a network points at a record not decoded")?,
                Found::New(offset, location) => {
                    let id = u32::try_from(offsets.len() - 1).map_err(|e| e.to_string())?;
                    encode(&location, &mut encoded)?;
                    offsets.push(encoded.len() as u64);
                    records.insert((table_number, offset), id);
                    id
                }
            };
            push(&mut out, first, record)?;
            next = last.checked_add(1).filter(|n| *n <= max);
        }
        if let Some(rest) = next {
            push(&mut out, rest, NO_RECORD)?;
        }
        footers.push(TableFooter {
            key_bytes,
            entries,
            at,
            starts_at: 0,
        });
        all_starts.push(starts);
    }
    let records_at = out.written;
    out.put(&encoded).map_err(io)?;
    let offsets_at = out.written;
    for offset in &offsets {
        out.put(&(records_at + offset).to_le_bytes()).map_err(io)?;
    }
    for (footer, starts) in footers.iter_mut().zip(&all_starts) {
        footer.starts_at = out.written;
        for start in starts {
            out.put(&start.to_be_bytes()).map_err(io)?;
        }
    }
    let footer = Footer {
        format: FORMAT.into(),
        version: VERSION,
        source: key.into(),
        described,
        tables: footers,
        records: (offsets.len() - 1) as u64,
        records_at,
        offsets_at,
    };
    let text = serde_json::to_vec(&footer).map_err(|e| e.to_string())?;
    out.put(&text).map_err(io)?;
    out.put(&(text.len() as u64).to_le_bytes()).map_err(io)?;
    out.put(MAGIC).map_err(io)?;
    let file = out.inner.into_inner().map_err(|e| e.to_string())?;
    file.sync_all().map_err(io)
}

struct Counted {
    inner: BufWriter<File>,
    written: u64,
}

impl Counted {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}

#[cfg(unix)]
fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> Result<(), String> {
    std::os::unix::fs::FileExt::read_exact_at(file, buffer, offset).map_err(|e| e.to_string())
}

#[cfg(windows)]
fn read_at(file: &File, mut buffer: &mut [u8], mut offset: u64) -> Result<(), String> {
    while !buffer.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buffer, offset) {
            Ok(0) => return Err("unexpected end of file".into()),
            Ok(n) => {
                buffer = &mut buffer[n..];
                offset += n as u64;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

/// A location as bytes: six optional strings (u16 length, `u16::MAX` for none) and two
/// optional coordinates (a flag byte and an f64).
fn encode(location: &Location, out: &mut Vec<u8>) -> Result<(), String> {
    for text in texts(location) {
        match text {
            None => out.extend_from_slice(&u16::MAX.to_le_bytes()),
            Some(text) => {
                let len = u16::try_from(text.len())
                    .ok()
                    .filter(|l| *l < u16::MAX)
                    .ok_or("a location's text is too long")?;
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(text.as_bytes());
            }
        }
    }
    for coordinate in [location.latitude, location.longitude] {
        match coordinate {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
    }
    Ok(())
}

fn texts(location: &Location) -> [Option<&String>; 6] {
    [
        location.country_code.as_ref(),
        location.country_name.as_ref(),
        location.continent.as_ref(),
        location.region.as_ref(),
        location.city.as_ref(),
        location.postal_code.as_ref(),
    ]
}

fn decode(mut bytes: &[u8]) -> Option<Location> {
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = bytes.split_at_checked(n)?;
        bytes = tail;
        Some(head)
    };
    let mut texts: [Option<String>; 6] = Default::default();
    for text in &mut texts {
        let len = u16::from_le_bytes(take(2)?.try_into().ok()?);
        if len != u16::MAX {
            *text = Some(
                std::str::from_utf8(take(usize::from(len))?)
                    .ok()?
                    .to_owned(),
            );
        }
    }
    let mut coordinates = [None; 2];
    for coordinate in &mut coordinates {
        if take(1)?[0] == 1 {
            *coordinate = Some(f64::from_le_bytes(take(8)?.try_into().ok()?));
        }
    }
    let [
        country_code,
        country_name,
        continent,
        region,
        city,
        postal_code,
    ] = texts;
    let [latitude, longitude] = coordinates;
    Some(Location {
        country_code,
        country_name,
        continent,
        region,
        city,
        postal_code,
        latitude,
        longitude,
    })
}
