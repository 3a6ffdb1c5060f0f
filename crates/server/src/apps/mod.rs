//! Dashboards and apps: the definitions ([`dashboard`]), their storage in the data directory
//! ([`library`]), the apps bundled with the binary ([`bundle`], [`exchange`]) and the
//! operations on them, shared by the HTTP API and `mailscope app`.
//!
//! An app installs its dashboards bound to a source category and records a fingerprint of
//! each; a dashboard whose fingerprint no longer matches was edited by the user. Upgrading
//! replaces unedited dashboards in place and keeps an edited one as the user's own copy;
//! uninstalling removes unedited ones and keeps edited ones as the user's own.

pub mod bundle;
pub mod cli;
pub mod dashboard;
mod exchange;
pub mod library;

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use mailscope_query::Diagnostic;
use serde::Serialize;

use bundle::Bundle;
use dashboard::{AppRef, Dashboard, check_source_category};
use library::{InstalledApp, InstalledDashboard, Library, Locked, fingerprint_text};

/// Every bundled app.
pub fn bundles() -> Vec<Bundle> {
    vec![exchange::bundle()]
}

/// The bundled app `id`.
pub fn find(id: &str) -> Result<Bundle, Error> {
    bundles()
        .into_iter()
        .find(|b| b.id == id)
        .ok_or_else(|| Error::NotFound(format!("no app {:?}", dashboard::truncate(id, 80))))
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// A panel query (or its sparkline query) that does not compile.
    #[error("panel {panel:?}: the {field} does not compile")]
    Query {
        panel: String,
        field: &'static str,
        text: String,
        diagnostics: Vec<Diagnostic>,
    },
    /// A file of the library that cannot be read back; `file` is relative to the data
    /// directory.
    #[error("{file} is unreadable: {message}")]
    Corrupt { file: String, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// A dashboard in the list (`GET /api/v1/dashboards`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub id: String,
    pub title: String,
    pub description: String,
    pub app: Option<AppRef>,
    pub source_category: String,
    pub modified: Option<DateTime<Utc>>,
    /// An app dashboard the user changed since install or upgrade.
    pub edited: bool,
}

/// An app in the list (`GET /api/v1/apps`).
#[derive(Debug, Clone, Serialize)]
pub struct AppEntry {
    pub id: String,
    pub name: String,
    pub description: String,
    pub versions: Vec<String>,
    pub latest: String,
    pub installed: Option<Installed>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    pub version: String,
    pub source_category: String,
    pub installed_at: DateTime<Utc>,
    pub dashboards: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpgradeReport {
    pub app: AppEntry,
    /// Unedited dashboards replaced in place (same id).
    pub replaced: Vec<String>,
    /// The user's copies of edited dashboards (their originals' ids now hold the new
    /// version).
    pub kept_copies: Vec<String>,
    /// Dashboards new in this version, or installed again after the user deleted them.
    pub added: Vec<String>,
    /// Unedited dashboards the new version no longer has.
    pub removed: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UninstallReport {
    pub removed: Vec<String>,
    /// Edited dashboards kept as the user's own.
    pub kept: Vec<String>,
}

/// Dashboards (sorted by title) and the library files that could not be read.
pub fn list_dashboards(library: &Library) -> Result<(Vec<Summary>, Vec<String>), Error> {
    if !library.exists() {
        return Ok((Vec::new(), Vec::new()));
    }
    library.locked(|l| {
        let listing = l.dashboards()?;
        let apps = l.apps()?;
        let summaries = listing
            .dashboards
            .into_iter()
            .map(|d| {
                let edited = d.app.as_ref().is_some_and(|app| {
                    apps.apps.get(&app.id).is_some_and(|installed| {
                        installed.dashboards.iter().any(|i| {
                            i.id == d.id && i.fingerprint != fingerprint_text(d.fingerprint())
                        })
                    })
                });
                Summary {
                    id: d.id,
                    title: d.title,
                    description: d.description,
                    app: d.app,
                    source_category: d.source_category,
                    modified: d.modified,
                    edited,
                }
            })
            .collect();
        Ok((summaries, listing.problems))
    })
}

pub fn get_dashboard(library: &Library, id: &str) -> Result<Dashboard, Error> {
    dashboard::check_id(id, "dashboard id")?;
    if !library.exists() {
        return Err(Error::NotFound(format!("no dashboard {id:?}")));
    }
    library.locked(|l| l.dashboard(id))
}

/// Stores a new dashboard of the user's own (`id`, `app` and `modified` of the request are
/// ignored).
pub fn create_dashboard(library: &Library, mut dashboard: Dashboard) -> Result<Dashboard, Error> {
    dashboard.app = None;
    dashboard.id = String::new();
    dashboard.validate()?;
    library.locked(|l| {
        dashboard.id = new_id(l, &dashboard.title)?;
        dashboard.modified = Some(Utc::now());
        l.save(&dashboard)?;
        Ok(dashboard)
    })
}

/// Replaces a dashboard. Its app binding stays what it was: a client cannot attach a
/// dashboard to an app or detach it (duplicate it instead).
pub fn update_dashboard(
    library: &Library,
    id: &str,
    mut dashboard: Dashboard,
) -> Result<Dashboard, Error> {
    dashboard::check_id(id, "dashboard id")?;
    if !dashboard.id.is_empty() && dashboard.id != id {
        return Err(Error::Invalid(format!(
            "the body is dashboard {:?}, the path {id:?}",
            dashboard::truncate(&dashboard.id, 80)
        )));
    }
    dashboard.id = id.to_owned();
    library.locked(|l| {
        let stored = l.dashboard(id)?;
        dashboard.app = stored.app;
        dashboard.validate()?;
        dashboard.modified = Some(Utc::now());
        l.save(&dashboard)?;
        Ok(dashboard)
    })
}

pub fn delete_dashboard(library: &Library, id: &str) -> Result<(), Error> {
    library.locked(|l| {
        let stored = l.dashboard(id)?;
        l.remove(id)?;
        if let Some(app) = stored.app {
            let mut apps = l.apps()?;
            if let Some(installed) = apps.apps.get_mut(&app.id) {
                installed.dashboards.retain(|d| d.id != id);
                l.save_apps(&apps)?;
            }
        }
        Ok(())
    })
}

/// A copy of the user's own: new id, no app, title "Copy of …".
pub fn duplicate_dashboard(library: &Library, id: &str) -> Result<Dashboard, Error> {
    library.locked(|l| {
        let mut copy = l.dashboard(id)?;
        copy.title = copy_title("Copy of ", &copy.title, "");
        copy.app = None;
        copy.id = new_id(l, &copy.title)?;
        copy.modified = Some(Utc::now());
        l.save(&copy)?;
        Ok(copy)
    })
}

pub fn list_apps(library: &Library) -> Result<Vec<AppEntry>, Error> {
    let state = if library.exists() {
        library.locked(|l| l.apps())?
    } else {
        library::AppsState::default()
    };
    Ok(bundles()
        .iter()
        .map(|b| entry(b, state.apps.get(b.id)))
        .collect())
}

pub fn install(
    library: &Library,
    app_id: &str,
    source_category: &str,
    version: Option<&str>,
) -> Result<AppEntry, Error> {
    let bundle = find(app_id)?;
    let version = bundle.version(version)?;
    check_source_category(source_category)?;
    library.locked(|l| {
        let mut state = l.apps()?;
        if let Some(installed) = state.apps.get(bundle.id) {
            return Err(Error::Conflict(format!(
                "app {} is installed already (version {}, source category {}); upgrade or \
                 uninstall it",
                bundle.id, installed.version, installed.source_category
            )));
        }
        let now = Utc::now();
        let mut dashboards = Vec::new();
        for mut dashboard in version.bind(source_category) {
            dashboard.id = new_id(l, &app_key(&dashboard))?;
            dashboard.modified = Some(now);
            l.save(&dashboard)?;
            dashboards.push(installed_dashboard(&dashboard));
        }
        state.apps.insert(
            bundle.id.to_owned(),
            InstalledApp {
                version: version.version.to_owned(),
                source_category: source_category.to_owned(),
                installed_at: now,
                dashboards,
            },
        );
        l.save_apps(&state)?;
        Ok(entry(&bundle, state.apps.get(bundle.id)))
    })
}

/// Moves an installed app to `version` (default: the latest). See the module comment.
pub fn upgrade(
    library: &Library,
    app_id: &str,
    version: Option<&str>,
) -> Result<UpgradeReport, Error> {
    let bundle = find(app_id)?;
    let target = bundle.version(version)?;
    library.locked(|l| {
        let mut state = l.apps()?;
        let Some(installed) = state.apps.get(bundle.id).cloned() else {
            return Err(Error::NotFound(format!(
                "app {} is not installed; install it first",
                bundle.id
            )));
        };
        if installed.version == target.version {
            return Err(Error::Conflict(format!(
                "app {} is at version {} already",
                bundle.id, target.version
            )));
        }
        let now = Utc::now();
        let bound = target.bind(&installed.source_category);
        let new_fingerprints: BTreeSet<String> = bound
            .iter()
            .map(|d| fingerprint_text(d.fingerprint()))
            .collect();
        let mut report = UpgradeReport {
            app: entry(&bundle, None),
            replaced: Vec::new(),
            kept_copies: Vec::new(),
            added: Vec::new(),
            removed: Vec::new(),
        };
        let mut dashboards = Vec::new();
        for mut dashboard in bound {
            let key = dashboard
                .app
                .as_ref()
                .map(|a| a.key.clone())
                .unwrap_or_default();
            let previous = installed.dashboards.iter().find(|d| d.key == key);
            let current = match previous {
                Some(previous) => match l.dashboard(&previous.id) {
                    Ok(current) => Some((previous, current)),
                    Err(Error::NotFound(_)) => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            match current {
                Some((previous, current)) => {
                    let fingerprint = fingerprint_text(current.fingerprint());
                    // A dashboard already holding the new version (an upgrade interrupted
                    // before the apps file was written) is not an edit.
                    let edited = fingerprint != previous.fingerprint
                        && !new_fingerprints.contains(&fingerprint);
                    if edited {
                        let mut copy = current.clone();
                        copy.app = None;
                        copy.title = copy_title(
                            "",
                            &current.title,
                            &format!(" (edited, from {})", installed.version),
                        );
                        copy.id = new_id(l, &copy.title)?;
                        copy.modified = Some(now);
                        l.save(&copy)?;
                        report.kept_copies.push(copy.id);
                    } else {
                        report.replaced.push(previous.id.clone());
                    }
                    dashboard.id = previous.id.clone();
                }
                None => {
                    dashboard.id = new_id(l, &app_key(&dashboard))?;
                    report.added.push(dashboard.id.clone());
                }
            }
            dashboard.modified = Some(now);
            l.save(&dashboard)?;
            dashboards.push(installed_dashboard(&dashboard));
        }
        // Dashboards the new version no longer has.
        for previous in &installed.dashboards {
            if dashboards.iter().any(|d| d.key == previous.key) {
                continue;
            }
            match l.dashboard(&previous.id) {
                Ok(mut current) => {
                    if fingerprint_text(current.fingerprint()) == previous.fingerprint {
                        l.remove(&current.id)?;
                        report.removed.push(current.id);
                    } else {
                        current.app = None;
                        l.save(&current)?;
                        report.kept_copies.push(current.id);
                    }
                }
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let upgraded = InstalledApp {
            version: target.version.to_owned(),
            source_category: installed.source_category.clone(),
            installed_at: installed.installed_at,
            dashboards,
        };
        state.apps.insert(bundle.id.to_owned(), upgraded);
        l.save_apps(&state)?;
        report.app = entry(&bundle, state.apps.get(bundle.id));
        Ok(report)
    })
}

pub fn uninstall(library: &Library, app_id: &str) -> Result<UninstallReport, Error> {
    let bundle = find(app_id)?;
    library.locked(|l| {
        let mut state = l.apps()?;
        let Some(installed) = state.apps.get(bundle.id).cloned() else {
            return Err(Error::NotFound(format!(
                "app {} is not installed",
                bundle.id
            )));
        };
        let mut report = UninstallReport {
            removed: Vec::new(),
            kept: Vec::new(),
        };
        for previous in &installed.dashboards {
            match l.dashboard(&previous.id) {
                Ok(mut current) => {
                    if fingerprint_text(current.fingerprint()) == previous.fingerprint {
                        l.remove(&current.id)?;
                        report.removed.push(current.id);
                    } else {
                        current.app = None;
                        current.modified = Some(Utc::now());
                        l.save(&current)?;
                        report.kept.push(current.id);
                    }
                }
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        state.apps.remove(bundle.id);
        l.save_apps(&state)?;
        Ok(report)
    })
}

/// Whether an app is installed (for `mailscope demo`).
pub fn installed_version(library: &Library, app_id: &str) -> Result<Option<String>, Error> {
    if !library.exists() {
        return Ok(None);
    }
    library.locked(|l| Ok(l.apps()?.apps.get(app_id).map(|a| a.version.clone())))
}

/// The name of an app dashboard inside its app (`overview`): the base of its id.
fn app_key(dashboard: &Dashboard) -> String {
    dashboard
        .app
        .as_ref()
        .map_or_else(|| dashboard.title.clone(), |a| a.key.clone())
}

fn installed_dashboard(dashboard: &Dashboard) -> InstalledDashboard {
    InstalledDashboard {
        id: dashboard.id.clone(),
        key: dashboard
            .app
            .as_ref()
            .map(|a| a.key.clone())
            .unwrap_or_default(),
        fingerprint: fingerprint_text(dashboard.fingerprint()),
    }
}

fn entry(bundle: &Bundle, installed: Option<&InstalledApp>) -> AppEntry {
    AppEntry {
        id: bundle.id.into(),
        name: bundle.name.into(),
        description: bundle.description.into(),
        versions: bundle
            .version_names()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        latest: bundle.latest().version.into(),
        installed: installed.map(|i| Installed {
            version: i.version.clone(),
            source_category: i.source_category.clone(),
            installed_at: i.installed_at,
            dashboards: i.dashboards.iter().map(|d| d.id.clone()).collect(),
        }),
    }
}

/// `prefix + title + suffix`, the title shortened so the whole stays a valid title.
fn copy_title(prefix: &str, title: &str, suffix: &str) -> String {
    let room = 200usize.saturating_sub(prefix.chars().count() + suffix.chars().count());
    let title: String = title.chars().take(room).collect();
    format!("{prefix}{title}{suffix}")
}

/// A fresh id: the title's words (lower case, dashes) and four random hex digits.
fn new_id(locked: &Locked<'_>, title: &str) -> Result<String, Error> {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { "dashboard" } else { slug };
    for _ in 0..64 {
        let id = format!("{slug}-{:04x}", rand::random::<u16>());
        if !locked.exists(&id)? {
            return Ok(id);
        }
    }
    Err(Error::Conflict(format!(
        "no free dashboard id for {slug:?}; delete some of its copies"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_query_compiles_bound_to_another_category() {
        let mut checked = 0;
        for bundle in bundles() {
            assert!(!bundle.versions.is_empty());
            for version in &bundle.versions {
                for dashboard in version.bind("o365/message trace") {
                    dashboard
                        .validate()
                        .unwrap_or_else(|e| panic!("{} {}: {e}", version.version, dashboard.title));
                    for panel in &dashboard.panels {
                        assert!(
                            panel
                                .query
                                .contains("_sourceCategory=\"o365/message trace\""),
                            "{}",
                            panel.id
                        );
                        assert!(
                            !panel.query.contains("_sourceCategory=Labs/"),
                            "{}",
                            panel.id
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked >= 36, "{checked}");
    }
}
