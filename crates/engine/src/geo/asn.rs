//! Autonomous system numbers: `lookup asn, as_org from asn://default on ip=f`.
//!
//! Two sources: ip-location-db's ASN package (installed by the set-up), a CSV pair
//! `asn-ipv4.csv` / `asn-ipv6.csv` of inclusive ranges `start,end,number,organisation`; or a
//! user's MaxMind DB file with the GeoLite2-ASN / DB-IP ASN schema
//! (`autonomous_system_number`, `autonomous_system_organization`). The CSV ranges are kept
//! sorted in flat arrays (u32 for IPv4, u128 for IPv6) and binary-searched. Like the city
//! database the data is read on first use and reloaded when the files change.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use maxminddb::{Reader, geoip2};
use serde::Serialize;

pub use super::asn_csv::Asn;
use super::asn_csv::{AsnTable, read_tables};
use super::maxmind::build_date;
use super::reload::Reloading;
use super::routable;
use crate::error::{Error, Result};

/// The columns of `asn://default`: the number (an integer) and the organisation.
pub const ASN_COLUMNS: [&str; 2] = ["asn", "as_org"];

/// The CSV file names of ip-location-db's ASN package.
const CSV_FILES: [&str; 2] = ["asn-ipv4.csv", "asn-ipv6.csv"];
/// MaxMind DB ASN file names found in a folder when there is no CSV pair.
const MMDB_FILES: [&str; 3] = ["GeoLite2-ASN.mmdb", "GeoIP2-ASN.mmdb", "dbip-asn-lite.mmdb"];

/// What is known about an ASN database, for the health endpoint and start-up logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AsnInfo {
    pub paths: Vec<PathBuf>,
    /// `csv` or `mmdb`.
    pub format: &'static str,
    /// False until the first lookup reads the files.
    pub loaded: bool,
    /// The metadata's `database_type` (MaxMind DB files).
    pub database_type: Option<String>,
    /// The metadata's build time (MaxMind DB files), RFC 3339.
    pub build_date: Option<String>,
    /// Ranges read from CSV files, IPv4 and IPv6.
    pub ranges_ipv4: usize,
    pub ranges_ipv6: usize,
    /// CSV lines skipped as malformed, and the first few as `file:line: reason`.
    pub malformed_count: usize,
    pub malformed: Vec<String>,
    pub generation: u64,
    pub last_error: Option<String>,
}

/// An ASN database: CSV ranges or a MaxMind DB file.
pub struct AsnDatabase {
    format: Format,
    data: Reloading<AsnData>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Mmdb,
}

impl std::fmt::Debug for AsnDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsnDatabase")
            .field("paths", &self.data.paths())
            .finish()
    }
}

/// One generation of the data.
pub(crate) enum AsnData {
    Csv(AsnTable),
    Mmdb {
        reader: Box<Reader<Vec<u8>>>,
        /// Decoded records by data offset, shared by the many networks of one AS.
        cache: Mutex<HashMap<usize, Arc<Asn>>>,
    },
}

impl AsnDatabase {
    /// A file (CSV or `.mmdb`) or a folder with the CSV pair or a known `.mmdb` name. The
    /// files are checked for existence here and read on first use.
    pub fn open_path(path: &Path) -> Result<AsnDatabase> {
        if path.is_dir() {
            return AsnDatabase::open_dir(path);
        }
        if !path.is_file() {
            return Err(error(path, "no such file"));
        }
        let is_csv = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        let format = if is_csv { Format::Csv } else { Format::Mmdb };
        Ok(AsnDatabase::new(format, vec![path.to_path_buf()]))
    }

    /// The CSV files of ip-location-db's package (either may be absent), or else a known
    /// MaxMind DB ASN file.
    pub fn open_dir(dir: &Path) -> Result<AsnDatabase> {
        let csv: Vec<PathBuf> = CSV_FILES
            .iter()
            .map(|name| dir.join(name))
            .filter(|path| path.is_file())
            .collect();
        if !csv.is_empty() {
            return Ok(AsnDatabase::new(Format::Csv, csv));
        }
        match MMDB_FILES
            .iter()
            .map(|name| dir.join(name))
            .find(|path| path.is_file())
        {
            Some(path) => Ok(AsnDatabase::new(Format::Mmdb, vec![path])),
            None => Err(error(
                dir,
                &format!(
                    "no ASN database file ({})",
                    [&CSV_FILES[..], &MMDB_FILES[..]].concat().join(", ")
                ),
            )),
        }
    }

    /// CSV files of ranges, each line `start,end,number,organisation`.
    pub fn open_csv(paths: &[&Path]) -> Result<AsnDatabase> {
        if let Some(missing) = paths.iter().find(|p| !p.is_file()) {
            return Err(error(missing, "no such file"));
        }
        if paths.is_empty() {
            return Err(error(Path::new(""), "no ASN database file given"));
        }
        Ok(AsnDatabase::new(
            Format::Csv,
            paths.iter().map(|p| p.to_path_buf()).collect(),
        ))
    }

    fn new(format: Format, paths: Vec<PathBuf>) -> AsnDatabase {
        let data = Reloading::new(paths, move |paths: &[PathBuf]| match format {
            Format::Csv => read_tables(paths).map(AsnData::Csv),
            Format::Mmdb => open_mmdb(&paths[0]),
        });
        AsnDatabase { format, data }
    }

    /// How often the files are checked for changes (default two seconds).
    pub fn with_reload_interval(self, interval: Duration) -> AsnDatabase {
        self.data.set_interval(interval);
        self
    }

    /// Reads the files now, reporting an unreadable or empty database as an error.
    /// Malformed CSV lines are not errors: they are skipped and listed in [`AsnDatabase::info`].
    pub fn load(&self) -> Result<()> {
        self.data.get().map(|_| ()).map_err(|message| {
            error(
                self.data.paths().first().map_or(Path::new(""), |p| p),
                &message,
            )
        })
    }

    /// Looks up text that may or may not be an IP; private, reserved, unknown and invalid
    /// input give `None`.
    pub fn lookup_text(&self, text: &str) -> Option<Arc<Asn>> {
        self.snapshot()?.lookup_text(text)
    }

    pub fn lookup(&self, address: IpAddr) -> Option<Arc<Asn>> {
        self.snapshot()?.lookup(address)
    }

    /// The current generation, read on first use; `None` when it cannot be read. A batch of
    /// lookups takes one snapshot so that a reload does not split it.
    pub(crate) fn snapshot(&self) -> Option<Arc<AsnData>> {
        self.data.get().ok()
    }

    /// Names the data lookups answer from now (instance and generation), without loading;
    /// it changes when the files are reloaded. Result caches key on it.
    pub fn generation_id(&self) -> String {
        self.data.generation_id()
    }

    pub fn info(&self) -> AsnInfo {
        let status = self.data.status();
        let mut info = AsnInfo {
            paths: self.data.paths().to_vec(),
            format: match self.format {
                Format::Csv => "csv",
                Format::Mmdb => "mmdb",
            },
            loaded: false,
            database_type: None,
            build_date: None,
            ranges_ipv4: 0,
            ranges_ipv6: 0,
            malformed_count: 0,
            malformed: Vec::new(),
            generation: status.generation,
            last_error: status.last_error,
        };
        match self.data.loaded().as_deref() {
            None => {}
            Some(AsnData::Csv(table)) => {
                info.loaded = true;
                info.ranges_ipv4 = table.ipv4_len();
                info.ranges_ipv6 = table.ipv6_len();
                info.malformed_count = table.malformed_count;
                info.malformed = table.malformed.clone();
            }
            Some(AsnData::Mmdb { reader, .. }) => {
                info.loaded = true;
                info.database_type = Some(reader.metadata().database_type.clone());
                info.build_date = build_date(reader.metadata().build_epoch);
            }
        }
        info
    }
}

impl AsnData {
    pub(crate) fn lookup_text(&self, text: &str) -> Option<Arc<Asn>> {
        self.lookup(text.trim().parse().ok()?)
    }

    pub(crate) fn lookup(&self, address: IpAddr) -> Option<Arc<Asn>> {
        let address = routable(address)?;
        match self {
            AsnData::Csv(table) => table.lookup(address),
            AsnData::Mmdb { reader, cache } => {
                if reader.metadata().ip_version == 4 && address.is_ipv6() {
                    return None;
                }
                let result = reader.lookup(address).ok()?;
                let offset = result.offset()?;
                if let Some(hit) = cache.lock().ok().and_then(|c| c.get(&offset).cloned()) {
                    return Some(hit);
                }
                let record: geoip2::Asn<'_> = result.decode().ok()??;
                let asn = Arc::new(Asn {
                    number: record.autonomous_system_number?,
                    organization: record
                        .autonomous_system_organization
                        .filter(|o| !o.is_empty())
                        .map(Arc::from),
                });
                if let Ok(mut cache) = cache.lock() {
                    cache.insert(offset, Arc::clone(&asn));
                }
                Some(asn)
            }
        }
    }
}

fn open_mmdb(path: &Path) -> Result<AsnData, String> {
    let reader = Reader::open_readfile(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let database_type = &reader.metadata().database_type;
    if !database_type.to_ascii_lowercase().contains("asn") {
        return Err(format!(
            "{}: '{database_type}' is not an ASN database (GeoLite2-ASN or DB-IP ASN)",
            path.display()
        ));
    }
    Ok(AsnData::Mmdb {
        reader: Box::new(reader),
        cache: Mutex::default(),
    })
}

fn error(path: &Path, message: &str) -> Error {
    Error::Asn {
        path: path.to_path_buf(),
        message: message.to_owned(),
    }
}
