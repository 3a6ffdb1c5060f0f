//! `mailscope config check FILE`: reads a configuration file the way `serve`, `collect` and
//! `demo` would — its collector tenants and its threat feeds, which may share one file — and
//! says what it understood, or every problem with its line and column. Nothing is contacted.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use mailscope_collect::config::format_duration;
use mailscope_collect::{Api, Config};
use mailscope_threat::{FeedLocation, ThreatConfig};

use crate::cli::{ConfigArgs, ConfigCommand};

pub fn run(args: &ConfigArgs) -> Result<ExitCode> {
    match &args.command {
        ConfigCommand::Check { file } => check(file),
    }
}

fn check(path: &Path) -> Result<ExitCode> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    // Which parts the file has; each part's reader reports its own syntax errors with places.
    let table: Option<toml::Table> = toml::from_str(&text).ok();
    let has = |key: &str| table.as_ref().is_none_or(|t| t.contains_key(key));
    if !has("tenant") && !has("threat") {
        bail!(
            "{} configures nothing: expected [[tenant]] tables (collectors) or [[threat.feed]] \
             tables (threat feeds)",
            path.display()
        );
    }
    let mut problems = 0;
    if has("tenant") {
        match Config::load(path) {
            Ok(config) => {
                if let Some(dir) = &config.data_dir {
                    println!("data_dir: {}", dir.display());
                }
                for tenant in &config.tenants {
                    let organization = match (&tenant.organization, tenant.api) {
                        (Some(name), _) => format!("{name} (configured)"),
                        (None, Api::Graph) => {
                            "learned from the tenant (Graph GET /organization, permission \
                             Organization.Read.All)"
                                .to_owned()
                        }
                        (None, Api::Reporting) => "as each row names it".to_owned(),
                    };
                    println!(
                        "tenant {}: {} at {}, tenant id {}, client id {}, organization {}, \
                         every {}, backfill {}, _sourceCategory {}",
                        tenant.name,
                        tenant.api,
                        tenant.api_url,
                        tenant.tenant_id,
                        tenant.client_id,
                        organization,
                        format_duration(tenant.interval),
                        format_duration(tenant.backfill),
                        tenant.source_category,
                    );
                }
            }
            Err(error) => {
                eprintln!("{error}");
                problems += 1;
            }
        }
    }
    if has("threat") {
        match ThreatConfig::load(path) {
            Ok(config) => {
                for warning in &config.warnings {
                    eprintln!("warning: {warning}");
                }
                for feed in &config.feeds {
                    let location = match &feed.location {
                        FeedLocation::Url(url) => url.clone(),
                        FeedLocation::File(file) => file.display().to_string(),
                    };
                    println!(
                        "threat feed {}: {} from {}, every {}{}",
                        feed.name,
                        feed.format,
                        location,
                        format_duration(feed.refresh),
                        if feed.enabled { "" } else { " (disabled)" },
                    );
                }
            }
            Err(error) => {
                eprintln!("{error}");
                problems += 1;
            }
        }
    }
    if problems > 0 {
        return Ok(ExitCode::from(1));
    }
    println!("{}: valid", path.display());
    Ok(ExitCode::SUCCESS)
}
