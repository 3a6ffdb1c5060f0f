//! The library: saved dashboards and the state of installed apps, under `<data dir>/library/`
//! (the store owns `CATALOG`, `LOCK` and `segments/`, so nothing here can collide with it).
//!
//! ```text
//! library/
//!   LOCK                   advisory lock: one writer at a time (server or `mailscope app`)
//!   apps.json              installed apps, with the fingerprint of each installed dashboard
//!   dashboards/<id>.json   one file per dashboard
//! ```
//!
//! Every file is a versioned format written atomically (temp file, fsync, rename, fsync of
//! the directory) and read with a size bound; a bad file is reported by name and the others
//! still load.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use fs2::FileExt;
use serde::{Deserialize, Serialize};

use super::Error;
use super::dashboard::{Dashboard, check_id};

pub const LIBRARY_DIR: &str = "library";
const DASHBOARDS_DIR: &str = "dashboards";
const APPS_FILE: &str = "apps.json";
const LOCK_FILE: &str = "LOCK";
const DASHBOARD_FORMAT: &str = "mailscope-dashboard";
const APPS_FORMAT: &str = "mailscope-apps";
/// Version 1: the definition of API.md under `dashboard`.
pub const DASHBOARD_VERSION: u32 = 1;
/// Version 1: installed apps by id.
pub const APPS_VERSION: u32 = 1;
/// Largest file read back: far above any valid dashboard (100 panels of 64 KiB queries would
/// be 6.4 MiB; real ones are a few KiB).
const MAX_FILE_BYTES: u64 = 8 << 20;
/// Dashboards listed at most; files beyond are reported, not loaded.
const MAX_DASHBOARDS: usize = 10_000;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DashboardFile {
    format: String,
    version: u32,
    dashboard: Dashboard,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppsState {
    #[serde(default)]
    pub apps: BTreeMap<String, InstalledApp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstalledApp {
    pub version: String,
    pub source_category: String,
    pub installed_at: DateTime<Utc>,
    pub dashboards: Vec<InstalledDashboard>,
}

/// A dashboard as the app installed it: an edit changes its fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstalledDashboard {
    pub id: String,
    pub key: String,
    /// [`Dashboard::fingerprint`] at install or upgrade, as a hex string (JSON numbers lose
    /// precision past 2^53 in browsers).
    pub fingerprint: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppsFile {
    format: String,
    version: u32,
    #[serde(default)]
    apps: BTreeMap<String, InstalledApp>,
}

pub fn fingerprint_text(fingerprint: u64) -> String {
    format!("{fingerprint:016x}")
}

/// A library in a data directory. Opening does no I/O; each operation takes the lock.
#[derive(Debug, Clone)]
pub struct Library {
    root: PathBuf,
}

/// The library while its lock is held.
#[derive(Debug)]
pub struct Locked<'a> {
    library: &'a Library,
    _lock: File,
}

/// Dashboards that loaded, and the files that did not (with the reason).
#[derive(Debug, Default)]
pub struct Listing {
    pub dashboards: Vec<Dashboard>,
    pub problems: Vec<String>,
}

impl Library {
    pub fn new(data_dir: &Path) -> Library {
        Library {
            root: data_dir.join(LIBRARY_DIR),
        }
    }

    /// Whether anything was ever stored: reads of a library that does not exist answer
    /// empty without creating it (a mistyped `--data-dir` leaves no folders behind).
    pub fn exists(&self) -> bool {
        self.root.is_dir()
    }

    fn dashboards_dir(&self) -> PathBuf {
        self.root.join(DASHBOARDS_DIR)
    }

    /// Runs `f` holding the library's exclusive lock; waits for another holder (a running
    /// server and `mailscope app` take it only for the length of one operation).
    pub fn locked<T>(&self, f: impl FnOnce(&Locked<'_>) -> Result<T, Error>) -> Result<T, Error> {
        let dir = self.dashboards_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let path = self.root.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        lock.lock_exclusive().map_err(|e| Error::io(&path, e))?;
        let locked = Locked {
            library: self,
            _lock: lock,
        };
        f(&locked)
    }
}

impl Locked<'_> {
    fn dashboard_path(&self, id: &str) -> Result<PathBuf, Error> {
        check_id(id, "dashboard id")?;
        Ok(self.library.dashboards_dir().join(format!("{id}.json")))
    }

    /// The name of a file relative to the data directory, for messages.
    fn shown(&self, path: &Path) -> String {
        let parent = self.library.root.parent().unwrap_or(Path::new(""));
        path.strip_prefix(parent)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    pub fn exists(&self, id: &str) -> Result<bool, Error> {
        Ok(self.dashboard_path(id)?.exists())
    }

    pub fn dashboard(&self, id: &str) -> Result<Dashboard, Error> {
        let path = self.dashboard_path(id)?;
        let bytes = match read_bounded(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(format!("no dashboard {id:?}")));
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let dashboard = parse_dashboard(&bytes).map_err(|message| Error::Corrupt {
            file: self.shown(&path),
            message,
        })?;
        if dashboard.id != id {
            return Err(Error::Corrupt {
                file: self.shown(&path),
                message: format!("it holds dashboard {:?}", dashboard.id),
            });
        }
        Ok(dashboard)
    }

    /// Every dashboard, sorted by title then id; unreadable files are named in `problems`.
    pub fn dashboards(&self) -> Result<Listing, Error> {
        let dir = self.library.dashboards_dir();
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut listing = Listing::default();
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if check_id(id, "dashboard id").is_err() {
                listing.problems.push(format!(
                    "{}: not a dashboard file name",
                    self.shown(&entry.path())
                ));
                continue;
            }
            ids.push(id.to_owned());
        }
        ids.sort();
        if ids.len() > MAX_DASHBOARDS {
            listing.problems.push(format!(
                "{} dashboards in {}; only the first {MAX_DASHBOARDS} are loaded",
                ids.len(),
                self.shown(&dir)
            ));
            ids.truncate(MAX_DASHBOARDS);
        }
        for id in ids {
            match self.dashboard(&id) {
                Ok(dashboard) => listing.dashboards.push(dashboard),
                // Removed between listing and reading: not a problem.
                Err(Error::NotFound(_)) => {}
                Err(e) => listing.problems.push(e.to_string()),
            }
        }
        listing
            .dashboards
            .sort_by(|a, b| (a.title.as_str(), a.id.as_str()).cmp(&(&b.title, &b.id)));
        Ok(listing)
    }

    pub fn save(&self, dashboard: &Dashboard) -> Result<(), Error> {
        let path = self.dashboard_path(&dashboard.id)?;
        let file = DashboardFile {
            format: DASHBOARD_FORMAT.into(),
            version: DASHBOARD_VERSION,
            dashboard: dashboard.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::Corrupt {
            file: self.shown(&path),
            message: e.to_string(),
        })?;
        write_atomically(&path, &bytes)
    }

    pub fn remove(&self, id: &str) -> Result<(), Error> {
        let path = self.dashboard_path(id)?;
        match std::fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.library.dashboards_dir()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::NotFound(format!("no dashboard {id:?}")))
            }
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    pub fn apps(&self) -> Result<AppsState, Error> {
        let path = self.library.root.join(APPS_FILE);
        let bytes = match read_bounded(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(AppsState::default());
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        parse_apps(&bytes).map_err(|message| Error::Corrupt {
            file: self.shown(&path),
            message,
        })
    }

    pub fn save_apps(&self, state: &AppsState) -> Result<(), Error> {
        let path = self.library.root.join(APPS_FILE);
        let file = AppsFile {
            format: APPS_FORMAT.into(),
            version: APPS_VERSION,
            apps: state.apps.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::Corrupt {
            file: self.shown(&path),
            message: e.to_string(),
        })?;
        write_atomically(&path, &bytes)
    }
}

fn parse_dashboard(bytes: &[u8]) -> Result<Dashboard, String> {
    let file: DashboardFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if file.format != DASHBOARD_FORMAT {
        return Err(format!(
            "not a mailscope dashboard (format {:?})",
            file.format
        ));
    }
    if file.version > DASHBOARD_VERSION {
        return Err(format!(
            "dashboard version {} is newer than this mailscope understands ({DASHBOARD_VERSION})",
            file.version
        ));
    }
    file.dashboard.check_shape().map_err(|e| e.to_string())?;
    Ok(file.dashboard)
}

fn parse_apps(bytes: &[u8]) -> Result<AppsState, String> {
    let file: AppsFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if file.format != APPS_FORMAT {
        return Err(format!(
            "not a mailscope apps file (format {:?})",
            file.format
        ));
    }
    if file.version > APPS_VERSION {
        return Err(format!(
            "apps version {} is newer than this mailscope understands ({APPS_VERSION})",
            file.version
        ));
    }
    Ok(AppsState { apps: file.apps })
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// Temp file, fsync, rename, fsync of the directory: a reader sees the old file or the new
/// one, never a part.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = path.with_extension("json.tmp");
    let mut file = File::create(&temp).map_err(|e| Error::io(&temp, e))?;
    file.write_all(bytes).map_err(|e| Error::io(&temp, e))?;
    file.sync_all().map_err(|e| Error::io(&temp, e))?;
    drop(file);
    std::fs::rename(&temp, path).map_err(|e| Error::io(path, e))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::dashboard::TimeRange;

    fn dashboard(id: &str) -> Dashboard {
        Dashboard {
            id: id.into(),
            title: format!("title {id}"),
            description: String::new(),
            app: None,
            source_category: "a/b".into(),
            time_range: TimeRange::relative("-7d"),
            variables: vec![],
            panels: vec![],
            modified: None,
        }
    }

    #[test]
    fn a_bad_file_is_named_and_the_others_still_load() {
        let dir = tempfile::tempdir().expect("temp dir");
        let library = Library::new(dir.path());
        library
            .locked(|l| {
                l.save(&dashboard("good"))?;
                l.save(&dashboard("other"))
            })
            .expect("save");
        let bad = dir.path().join("library/dashboards/broken.json");
        std::fs::write(&bad, b"{\"format\": ").expect("write");
        let listing = library.locked(|l| l.dashboards()).expect("list");
        let ids: Vec<_> = listing.dashboards.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["good", "other"]);
        assert_eq!(listing.problems.len(), 1, "{:?}", listing.problems);
        assert!(
            listing.problems[0].contains("library/dashboards/broken.json"),
            "{:?}",
            listing.problems
        );
        assert!(!dir.path().join("library/dashboards/good.json.tmp").exists());
    }

    #[test]
    fn a_file_holding_another_id_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let library = Library::new(dir.path());
        library.locked(|l| l.save(&dashboard("one"))).expect("save");
        std::fs::copy(
            dir.path().join("library/dashboards/one.json"),
            dir.path().join("library/dashboards/two.json"),
        )
        .expect("copy");
        let error = library.locked(|l| l.dashboard("two")).unwrap_err();
        assert!(error.to_string().contains("two.json"), "{error}");
    }

    #[test]
    fn a_dashboard_of_a_newer_version_is_refused_and_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let library = Library::new(dir.path());
        library.locked(|l| l.save(&dashboard("one"))).expect("save");
        let path = dir.path().join("library/dashboards/one.json");
        let mut file: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(
            file["version"], DASHBOARD_VERSION,
            "written at the current version"
        );
        file["version"] = serde_json::json!(DASHBOARD_VERSION + 1);
        std::fs::write(&path, file.to_string()).expect("write");
        let error = library
            .locked(|l| l.dashboard("one"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("one.json"), "{error}");
        assert!(
            error.contains("newer than this mailscope understands"),
            "{error}"
        );
    }

    /// An apps file as version 1 writes it.
    const APPS_V1: &str = r#"{
      "format": "mailscope-apps",
      "version": 1,
      "apps": {
        "microsoft-exchange-trace-logs": {
          "version": "1.0.0",
          "source_category": "o365/trace",
          "installed_at": "2026-11-25T08:00:00Z",
          "dashboards": [
            {"id": "overview-9f2c", "key": "overview", "fingerprint": "00000000000000ff"}
          ]
        }
      }
    }"#;

    #[test]
    fn an_apps_file_of_version_1_reads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let library = Library::new(dir.path());
        library.locked(|_| Ok(())).expect("create");
        std::fs::write(dir.path().join("library/apps.json"), APPS_V1).expect("write");
        let state = library.locked(|l| l.apps()).expect("read");
        let app = &state.apps["microsoft-exchange-trace-logs"];
        assert_eq!(app.version, "1.0.0");
        assert_eq!(app.dashboards[0].key, "overview");
        library.locked(|l| l.save_apps(&state)).expect("write back");
        assert_eq!(library.locked(|l| l.apps()).expect("read"), state);
    }

    #[test]
    fn a_newer_format_is_refused_with_the_version() {
        let dir = tempfile::tempdir().expect("temp dir");
        let library = Library::new(dir.path());
        library.locked(|_| Ok(())).expect("create");
        std::fs::write(
            dir.path().join("library/apps.json"),
            br#"{"format": "mailscope-apps", "version": 9, "apps": {}}"#,
        )
        .expect("write");
        let error = library.locked(|l| l.apps()).unwrap_err().to_string();
        assert!(
            error.contains("version 9") && error.contains("apps.json"),
            "{error}"
        );
    }
}
