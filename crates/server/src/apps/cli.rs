//! `mailscope app list|install|upgrade|uninstall`: the operations of the apps API on a data
//! directory, safe to run while a server uses it (both take the library's lock).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use super::library::Library;
use crate::cli::{AppArgs, AppCommand};

pub fn run(args: &AppArgs) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match &args.command {
        AppCommand::List(args) => {
            let library = Library::new(&args.data_dir);
            let apps = super::list_apps(&library)?;
            for app in &apps {
                writeln!(out, "{} ({})", app.id, app.name)?;
                writeln!(
                    out,
                    "  versions: {} (latest {})",
                    app.versions.join(", "),
                    app.latest
                )?;
                match &app.installed {
                    Some(installed) => writeln!(
                        out,
                        "  installed: version {}, source category {}, since {}, dashboards: {}",
                        installed.version,
                        installed.source_category,
                        installed.installed_at.format("%Y-%m-%d %H:%M:%S UTC"),
                        installed.dashboards.join(", ")
                    )?,
                    None => writeln!(out, "  not installed")?,
                }
            }
            let (dashboards, problems) = super::list_dashboards(&library)?;
            if !dashboards.is_empty() {
                writeln!(out, "dashboards:")?;
            }
            for dashboard in &dashboards {
                let origin = match &dashboard.app {
                    Some(app) if dashboard.edited => format!("{} {}, edited", app.id, app.version),
                    Some(app) => format!("{} {}", app.id, app.version),
                    None => "own".into(),
                };
                writeln!(
                    out,
                    "  {}  {}  [{}]",
                    dashboard.id,
                    printable(&dashboard.title),
                    origin
                )?;
            }
            for problem in &problems {
                eprintln!("warning: {problem}");
            }
        }
        AppCommand::Install(args) => {
            let library = Library::new(&args.data_dir);
            let entry = super::install(
                &library,
                &args.app,
                &args.source_category,
                args.version.as_deref(),
            )?;
            let installed = entry.installed.as_ref();
            writeln!(
                out,
                "installed {} {} for source category {}: dashboards {}",
                entry.id,
                installed.map_or("", |i| i.version.as_str()),
                args.source_category,
                installed
                    .map(|i| i.dashboards.join(", "))
                    .unwrap_or_default()
            )?;
        }
        AppCommand::Upgrade(args) => {
            let library = Library::new(&args.data_dir);
            let report = super::upgrade(&library, &args.app, args.version.as_deref())?;
            let version = report
                .app
                .installed
                .as_ref()
                .map_or("", |i| i.version.as_str());
            writeln!(out, "upgraded {} to {version}", report.app.id)?;
            for (label, ids) in [
                ("replaced", &report.replaced),
                ("kept your edited copies", &report.kept_copies),
                ("added", &report.added),
                ("removed", &report.removed),
            ] {
                if !ids.is_empty() {
                    writeln!(out, "  {label}: {}", ids.join(", "))?;
                }
            }
        }
        AppCommand::Uninstall(args) => {
            let library = Library::new(&args.data_dir);
            let report = super::uninstall(&library, &args.app)?;
            writeln!(out, "uninstalled {}", args.app)?;
            if !report.removed.is_empty() {
                writeln!(out, "  removed: {}", report.removed.join(", "))?;
            }
            if !report.kept.is_empty() {
                writeln!(
                    out,
                    "  kept as your own (edited): {}",
                    report.kept.join(", ")
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A title as one terminal line: control characters (escape sequences) shown escaped.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}
