//! Reading city databases in the MaxMind DB format, in either of two schemas:
//!
//! - DB-IP Lite City as built by ip-location-db (the default): a flat map (`country_code`,
//!   `state1`, `city`, `postcode`, `latitude`, `longitude`) in separate IPv4 and IPv6 files.
//!   Country names and continents come from ISO 3166 tables.
//! - MaxMind GeoIP2 / GeoLite2 City (a user's own file): nested maps (`country.iso_code`,
//!   `country.names.en`, `continent.names.en`, `subdivisions[0].names.en`, `city.names.en`,
//!   `postal.code`, `location.latitude`) in one file covering IPv4 and IPv6.
//!
//! The schema is taken from the metadata's `database_type` for MaxMind's own types, and from
//! the keys of the first records otherwise.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::DateTime;
use maxminddb::{LookupResult, Reader, WithinOptions, geoip2};
use serde::{Deserialize, Serialize};

use super::index::{self, CityIndex, Described, Found, TableSource};
use super::{Location, continent_name, country_name};

/// Which record layout a city database uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GeoSchema {
    /// The flat DB-IP Lite layout of ip-location-db.
    #[serde(rename = "dbip-lite")]
    DbIpLite,
    /// MaxMind's GeoIP2 / GeoLite2 City (or Country) layout.
    #[serde(rename = "maxmind")]
    MaxMind,
}

/// What is known about a geolocation database, for the health endpoint and start-up logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeoInfo {
    /// The configured files.
    pub paths: Vec<PathBuf>,
    /// False until the first lookup reads the files (they are large and read lazily); the
    /// fields below are then unknown.
    pub loaded: bool,
    pub schema: Option<GeoSchema>,
    /// The metadata's `database_type` of each file, e.g. `GeoLite2-City`.
    pub database_type: Vec<String>,
    /// When the newest file was built (metadata `build_epoch`), RFC 3339.
    pub build_date: Option<String>,
    /// The address families answered: 4, 6 or both.
    pub ip_versions: Vec<u8>,
    /// Generations loaded so far: 1 after the first load, more after reloads.
    pub generation: u64,
    /// Why the last attempt to read the files (first or after a change) failed.
    pub last_error: Option<String>,
    /// The compiled index lookups read (none: the files are held in memory).
    pub index: Option<PathBuf>,
}

/// One generation of a city database: its compiled index (see `index`) or, where there is no
/// place for one, the files' readers; and a cache of decoded records.
pub(crate) struct CityData {
    source: Source,
    described: Described,
    pub(crate) version: Arc<str>,
    cache: Mutex<Cache>,
}

enum Source {
    Index(CityIndex),
    Files(Vec<CityFile>),
}

/// Answers already found. Mail comes from a limited set of servers, so most lookups of a
/// large query or ingest repeat an address: those skip the search (a positioned read in the
/// index, cache misses in a 60 MB file). Decoded records are kept by (file or index, record)
/// too, since many networks share one record and decoding strings dominates the cost of a
/// new address.
/// The caches' keys are addresses and record offsets: a fast hash, not a DoS-resistant one
/// (each map is bounded and starts over when full).
type Fast = foldhash::fast::FixedState;

#[derive(Default)]
struct Cache {
    by_address: HashMap<IpAddr, Option<Arc<Location>>, Fast>,
    by_record: HashMap<(usize, usize), Arc<Location>, Fast>,
}

/// Bound on the addresses remembered (~2 MB); the map starts over when it is reached.
const CACHED_ADDRESSES: usize = 1 << 16;
/// Bound on the decoded records remembered (a record is a location, a few hundred bytes):
/// the addresses of a large ingest or a long-running server reach ever more of them. A
/// 10 M-record append peaked 50 MB higher with 2^16 records and 2^18 addresses.
const CACHED_RECORDS: usize = 1 << 14;

struct CityFile {
    reader: Reader<Vec<u8>>,
    schema: GeoSchema,
}

impl CityData {
    /// Opens the compiled index of the files, building it first when there is none for
    /// their current version; reads the files into memory when the index cannot be built.
    /// A DB-IP pair gives one IPv4 and one IPv6 file; a MaxMind file (`ip_version` 6, IPv4
    /// inside) answers both.
    pub(crate) fn load(paths: &[PathBuf], indexed: bool) -> Result<CityData, String> {
        let mut files = None;
        if let Some((key, places)) = index::places(paths).filter(|_| indexed) {
            for place in &places {
                if let Some(found) = CityIndex::open(place, &key) {
                    return Ok(CityData::of_index(found));
                }
            }
            for place in &places {
                // One build at a time per folder: processes and threads starting together
                // (a test suite, a server and a collector) wait for the first build, then
                // read it.
                let Some(_lock) = index::lock_folder(place) else {
                    continue;
                };
                if let Some(found) = CityIndex::open(place, &key) {
                    return Ok(CityData::of_index(found));
                }
                let files = match &mut files {
                    Some(files) => files,
                    None => files.insert(read_files(paths)?),
                };
                // The files must still be the version the key names, or the index would
                // carry a wrong name.
                if index::places(paths).is_none_or(|(now, _)| now != key) {
                    break;
                }
                let started = std::time::Instant::now();
                match build_index(place, &key, files, &describe_files(files)) {
                    Ok(()) => {
                        tracing::info!(path = %place.display(), seconds = started.elapsed().as_secs_f64(), "geolocation index built");
                        remove_older_indexes(place);
                        if let Some(built) = CityIndex::open(place, &key) {
                            return Ok(CityData::of_index(built));
                        }
                    }
                    Err(error) => {
                        tracing::warn!(path = %place.display(), %error, "geolocation index not built here");
                    }
                }
            }
        }
        let files = match files {
            Some(files) => files,
            None => read_files(paths)?,
        };
        let described = describe_files(&files);
        Ok(CityData {
            version: described.version.clone().into(),
            described,
            source: Source::Files(files),
            cache: Mutex::default(),
        })
    }

    fn of_index(index: CityIndex) -> CityData {
        CityData {
            version: index.described.version.clone().into(),
            described: index.described.clone(),
            source: Source::Index(index),
            cache: Mutex::default(),
        }
    }

    /// The index file answering lookups, if any.
    fn index_path(&self) -> Option<&Path> {
        match &self.source {
            Source::Index(index) => Some(index.path()),
            Source::Files(_) => None,
        }
    }

    pub(crate) fn build_epoch(&self) -> u64 {
        self.described.build_epoch
    }

    /// Fills the fields of [`GeoInfo`] that need the files.
    pub(crate) fn describe(&self, info: &mut GeoInfo) {
        info.loaded = true;
        info.index = self.index_path().map(Path::to_path_buf);
        info.schema = self.described.schema;
        info.database_type = self.described.database_types.clone();
        info.build_date = build_date(self.build_epoch());
        info.ip_versions = [(self.described.ipv4, 4), (self.described.ipv6, 6)]
            .into_iter()
            .filter_map(|(file, version)| file.map(|_| version))
            .collect();
    }

    /// The location of a routable address (the caller filters private and reserved ones).
    pub(crate) fn lookup(&self, address: IpAddr) -> Option<Arc<Location>> {
        if let Some(known) = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.by_address.get(&address).cloned())
        {
            return known;
        }
        let (found, record) = self.search(address);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.by_address.len() >= CACHED_ADDRESSES {
                cache.by_address.clear();
            }
            cache.by_address.insert(address, found.clone());
            if let (Some(key), Some(location)) = (record, &found) {
                if cache.by_record.len() >= CACHED_RECORDS {
                    cache.by_record.clear();
                }
                cache.by_record.insert(key, Arc::clone(location));
            }
        }
        found
    }

    fn cached(&self, key: (usize, usize)) -> Option<Arc<Location>> {
        self.cache
            .lock()
            .ok()
            .and_then(|c| c.by_record.get(&key).cloned())
    }

    /// Searches the index or walks the file's tree; decodes the record unless it was decoded
    /// before. Also returns the record's cache key when it was decoded now.
    fn search(&self, address: IpAddr) -> (Option<Arc<Location>>, Option<(usize, usize)>) {
        let files = match &self.source {
            Source::Index(index) => {
                // A record decoded before is not read again: many networks share one.
                let found = index.find_record(address).and_then(|record| {
                    let Some(record) = record else {
                        return Ok((None, None));
                    };
                    let key = (usize::MAX, record as usize);
                    if let Some(hit) = self.cached(key) {
                        return Ok((Some(hit), None));
                    }
                    let location = index.record(record)?;
                    Ok((Some(Arc::new(location)), Some(key)))
                });
                return match found {
                    Ok(found) => found,
                    Err(error) => {
                        tracing::warn!(path = %index.path().display(), %address, %error, "geolocation index lookup failed");
                        (None, None)
                    }
                };
            }
            Source::Files(files) => files,
        };
        let index = match address {
            IpAddr::V4(_) => self.described.ipv4,
            IpAddr::V6(_) => self.described.ipv6,
        };
        let Some(file) = index.and_then(|i| files.get(i)) else {
            return (None, None);
        };
        let Some(result) = file.reader.lookup(address).ok() else {
            return (None, None);
        };
        let Some(key) = result.offset().map(|offset| (index.unwrap_or(0), offset)) else {
            return (None, None);
        };
        if let Some(hit) = self.cached(key) {
            return (Some(hit), None);
        }
        (decode(&result, file.schema).map(Arc::new), Some(key))
    }
}

fn read_files(paths: &[PathBuf]) -> Result<Vec<CityFile>, String> {
    let mut files = Vec::new();
    for path in paths {
        let reader = Reader::open_readfile(path).map_err(|e| describe(path, e))?;
        let schema = detect_schema(&reader).map_err(|e| describe(path, e))?;
        files.push(CityFile { reader, schema });
    }
    Ok(files)
}

/// What the files are, and which answers IPv4 and IPv6.
fn describe_files(files: &[CityFile]) -> Described {
    let ip_version = |file: &CityFile| file.reader.metadata().ip_version;
    // A file of IPv4 networks only is preferred for IPv4 (DB-IP's pair); otherwise the
    // IPv6 file answers IPv4 from its IPv4 subtree (MaxMind's single file).
    let ipv4 = files
        .iter()
        .position(|f| ip_version(f) == 4)
        .or_else(|| files.iter().position(|f| ip_version(f) == 6));
    let ipv6 = files.iter().position(|f| ip_version(f) == 6);
    let version = files
        .iter()
        .map(|f| {
            let metadata = f.reader.metadata();
            format!("{}@{}", metadata.database_type, metadata.build_epoch)
        })
        .collect::<Vec<_>>()
        .join("+");
    Described {
        version,
        schema: files.first().map(|f| f.schema),
        database_types: files
            .iter()
            .map(|f| f.reader.metadata().database_type.clone())
            .collect(),
        build_epoch: files
            .iter()
            .map(|f| f.reader.metadata().build_epoch)
            .max()
            .unwrap_or(0),
        ipv4,
        ipv6,
    }
}

/// A location from a record, in the file's schema; none when the record does not decode.
fn decode(result: &LookupResult<'_, Vec<u8>>, schema: GeoSchema) -> Option<Location> {
    match schema {
        GeoSchema::DbIpLite => result
            .decode::<DbIpCity<'_>>()
            .ok()
            .flatten()
            .map(|r| Location::from_dbip(&r)),
        GeoSchema::MaxMind => result
            .decode::<geoip2::City<'_>>()
            .ok()
            .flatten()
            .map(|r| Location::from_maxmind(&r)),
    }
}

/// Compiles the files' answers: one table per file, every network of it (aliases of the
/// IPv4 subtree included, as lookups follow them).
fn build_index(
    place: &Path,
    key: &str,
    files: &[CityFile],
    described: &Described,
) -> Result<(), String> {
    let mut tables = Vec::new();
    for file in files {
        let v6 = file.reader.metadata().ip_version == 6;
        let networks = file
            .reader
            .networks(WithinOptions::default().include_aliased_networks())
            .map_err(|e| e.to_string())?;
        let mut seen = HashSet::new();
        let schema = file.schema;
        let iter = networks.map(move |network| {
            let network = network.map_err(|e| e.to_string())?;
            let range = network.network().map_err(|e| e.to_string())?;
            let (first, last) = address_range(range.ip(), range.prefix(), v6)?;
            let found = match network.offset() {
                None => Found::Nothing,
                Some(offset) if seen.contains(&offset) => Found::Seen(offset as u64),
                Some(offset) => match decode(&network, schema) {
                    Some(location) => {
                        seen.insert(offset);
                        Found::New(offset as u64, location)
                    }
                    None => Found::Nothing,
                },
            };
            Ok((first, last, found))
        });
        tables.push(TableSource {
            key_bytes: if v6 { 16 } else { 4 },
            networks: Box::new(iter),
        });
    }
    index::build(place, key, described.clone(), tables)
}

/// The first and last address of a network in a table's key space: IPv4 networks of an
/// IPv6 file sit at `::a.b.c.d`, where `maxminddb` finds its IPv4 subtree.
fn address_range(ip: IpAddr, prefix: u8, v6_table: bool) -> Result<(u128, u128), String> {
    let (start, bits) = match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32u32),
        IpAddr::V6(v6) if v6_table => (u128::from(v6), 128),
        IpAddr::V6(v6) => return Err(format!("an IPv6 network ({v6}) in an IPv4 file")),
    };
    let host_bits = bits
        .checked_sub(u32::from(prefix))
        .ok_or_else(|| format!("prefix /{prefix} of {ip}"))?;
    let span = if host_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    Ok((start, start | span))
}

/// Removes the indexes of earlier versions of the same files from the folder of `built`
/// (another process still reading one keeps its open file).
fn remove_older_indexes(built: &Path) {
    let (Some(dir), Some(name)) = (built.parent(), built.file_name()) else {
        return;
    };
    let name = name.to_string_lossy();
    // `<first file name>.<key>.mailscope-index`
    let Some(prefix) = name
        .strip_suffix(".mailscope-index")
        .and_then(|rest| rest.rsplit_once('.'))
        .map(|(file, _)| format!("{file}."))
    else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let other = entry.file_name().to_string_lossy().into_owned();
        if other != name && other.starts_with(&prefix) && other.ends_with(".mailscope-index") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn describe(path: &Path, error: impl std::fmt::Display) -> String {
    format!("{}: {error}", path.display())
}

/// RFC 3339 of a build epoch (seconds); none for 0 or out of range.
pub(crate) fn build_date(epoch: u64) -> Option<String> {
    let seconds = i64::try_from(epoch).ok().filter(|s| *s > 0)?;
    DateTime::from_timestamp(seconds, 0).map(|t| t.to_rfc3339())
}

/// The schema from the metadata, or from the first record when the type is not known.
fn detect_schema(reader: &Reader<Vec<u8>>) -> Result<GeoSchema, String> {
    let database_type = reader.metadata().database_type.to_ascii_lowercase();
    // Other names are not trusted: ip-location-db calls its flat files `city ipv4`, while
    // DB-IP's own downloads (`DBIP-City-Lite`) use MaxMind's nested layout.
    if database_type.starts_with("geoip2") || database_type.starts_with("geolite2") {
        if database_type.contains("city") || database_type.contains("country") {
            return Ok(GeoSchema::MaxMind);
        }
        return Err(format!(
            "'{}' is not a city or country database",
            reader.metadata().database_type
        ));
    }
    let networks = reader
        .networks(WithinOptions::default())
        .map_err(|e| e.to_string())?;
    for network in networks.take(16) {
        let Ok(Some(shape)) = network.and_then(|n| n.decode::<Shape>()) else {
            continue;
        };
        // Both layouts have a `city` key (a string in one, a map in the other).
        if shape.country_code.is_some() || shape.state1.is_some() {
            return Ok(GeoSchema::DbIpLite);
        }
        if shape.country.is_some() || shape.continent.is_some() || shape.location.is_some() {
            return Ok(GeoSchema::MaxMind);
        }
    }
    Err(format!(
        "unrecognised database type '{}': neither a DB-IP Lite nor a MaxMind city database",
        reader.metadata().database_type
    ))
}

/// The keys that tell the two layouts apart.
#[derive(Deserialize)]
struct Shape {
    country_code: Option<serde::de::IgnoredAny>,
    state1: Option<serde::de::IgnoredAny>,
    country: Option<serde::de::IgnoredAny>,
    continent: Option<serde::de::IgnoredAny>,
    location: Option<serde::de::IgnoredAny>,
}

/// One DB-IP Lite City record. Latitude/longitude are stored as 32-bit floats in this file.
#[derive(Debug, Deserialize)]
struct DbIpCity<'a> {
    #[serde(borrow)]
    country_code: Option<&'a str>,
    #[serde(borrow)]
    state1: Option<&'a str>,
    #[serde(borrow)]
    city: Option<&'a str>,
    #[serde(borrow)]
    postcode: Option<&'a str>,
    latitude: Option<f32>,
    longitude: Option<f32>,
}

fn text(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_owned)
}

impl Location {
    fn from_dbip(record: &DbIpCity<'_>) -> Location {
        let code = text(record.country_code).map(|c| c.to_ascii_uppercase());
        Location {
            country_name: code.as_deref().and_then(country_name).map(str::to_owned),
            continent: code.as_deref().and_then(continent_name).map(str::to_owned),
            country_code: code,
            region: text(record.state1),
            city: text(record.city),
            postal_code: text(record.postcode),
            latitude: record.latitude.map(|v| round_coordinate(f64::from(v))),
            longitude: record.longitude.map(|v| round_coordinate(f64::from(v))),
        }
    }

    /// English names from the file; the ISO tables fill a name the file lacks.
    fn from_maxmind(record: &geoip2::City<'_>) -> Location {
        let code = text(record.country.iso_code).map(|c| c.to_ascii_uppercase());
        let lookup_code = code.as_deref();
        Location {
            country_name: text(record.country.names.english)
                .or_else(|| lookup_code.and_then(country_name).map(str::to_owned)),
            continent: text(record.continent.names.english)
                .or_else(|| lookup_code.and_then(continent_name).map(str::to_owned)),
            region: record
                .subdivisions
                .first()
                .and_then(|s| text(s.names.english)),
            city: text(record.city.names.english),
            postal_code: text(record.postal.code),
            latitude: record.location.latitude.map(round_coordinate),
            longitude: record.location.longitude.map(round_coordinate),
            country_code: code,
        }
    }
}

/// DB-IP stores f32; printing it as f64 would show noise digits (48.13999938964844).
/// Sumo gives up to five decimals.
pub(crate) fn round_coordinate(value: f64) -> f64 {
    (value * 100_000.0).round() / 100_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_are_rounded_to_five_decimals() {
        assert_eq!(round_coordinate(f64::from(48.14f32)), 48.14);
        assert_eq!(round_coordinate(-33.868_82), -33.868_82);
    }

    #[test]
    fn build_dates_are_rfc3339() {
        assert_eq!(
            build_date(1_749_100_000).as_deref(),
            Some("2025-06-05T05:06:40+00:00")
        );
        assert_eq!(build_date(0), None);
    }
}
