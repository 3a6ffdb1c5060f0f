//! Threat intelligence and the column cache in the server: the feeds of a configuration's
//! `[threat]` section, kept under `<data dir>/threat/` and refreshed in the background
//! (queries read the index as it is and never wait for a download).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use mailscope_threat::{FeedConfig, FeedLocation, ThreatConfig, ThreatStore};

/// Folder of the feeds' saved copies inside the data directory.
pub const THREAT_DIR: &str = "threat";

/// The feed store for `config` (a TOML file with `[[threat.feed]]` entries), loaded from its
/// saved copies; None without a configuration.
pub fn open(data_dir: &Path, config: Option<&Path>) -> Result<Option<Arc<ThreatStore>>> {
    let Some(path) = config else {
        return Ok(None);
    };
    let config = ThreatConfig::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    for warning in &config.warnings {
        eprintln!("mailscope: {warning}");
    }
    open_feeds(data_dir, config.feeds).map(Some)
}

/// The feed store for `feeds`.
pub fn open_feeds(data_dir: &Path, feeds: Vec<FeedConfig>) -> Result<Arc<ThreatStore>> {
    let dir = data_dir.join(THREAT_DIR);
    let store = ThreatStore::open(&dir, feeds)
        .with_context(|| format!("cannot open the threat feeds in {}", dir.display()))?;
    Ok(Arc::new(store))
}

/// One line about the feeds for the start-up log.
pub fn describe(store: &ThreatStore) -> String {
    let status = store.status();
    let index = store.index();
    format!(
        "threat intelligence: {} feeds, {} indicators loaded",
        status.feeds.len(),
        index.stats().indicators
    )
}

/// Refreshes the feeds in the background until `shutdown` resolves.
pub fn spawn_refresh(
    store: Arc<ThreatStore>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { store.run(shutdown).await })
}

/// Senders of the tenant's spam (filtered or quarantined mail): the most frequent sender
/// addresses and IPs and the domains of the top addresses, for the demo's feeds.
pub fn spam_senders(tenant: &mailscope_simulator::TenantConfig) -> Result<Vec<String>> {
    use std::collections::HashMap;
    let mut addresses: HashMap<String, u64> = HashMap::new();
    let mut ips: HashMap<String, u64> = HashMap::new();
    for observation in mailscope_simulator::generate(tenant)? {
        let record = observation.record;
        if !matches!(
            record.status,
            mailscope_record::Status::FilteredAsSpam | mailscope_record::Status::Quarantined
        ) {
            continue;
        }
        *addresses.entry(record.sender_address).or_default() += 1;
        if let Some(ip) = record.from_ip {
            *ips.entry(ip).or_default() += 1;
        }
    }
    let top = |counts: HashMap<String, u64>, n: usize| {
        let mut counted: Vec<(String, u64)> = counts.into_iter().collect();
        counted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counted
            .into_iter()
            .take(n)
            .map(|(v, _)| v)
            .collect::<Vec<_>>()
    };
    let addresses = top(addresses, 30);
    let mut senders: Vec<String> = addresses
        .iter()
        .take(5)
        .filter_map(|a| a.rsplit_once('@').map(|(_, domain)| domain.to_owned()))
        .collect();
    senders.extend(addresses);
    senders.extend(top(ips, 60));
    Ok(senders)
}

/// The demo's feeds: one small feed in every format listing `senders`, to be served by the
/// simulator under `/feeds/<file>`; and the feed configuration given the simulator's URL.
pub struct DemoFeeds {
    pub files: Vec<mailscope_simulator::http::ServedFile>,
    feeds: Vec<(&'static str, mailscope_threat::FeedFormat, String)>,
}

impl DemoFeeds {
    pub fn new(senders: &[String], now: DateTime<Utc>) -> DemoFeeds {
        let (indicators, _) = mailscope_threat::demo::DemoIndicators::classify(senders);
        let mut files = Vec::new();
        let mut feeds = Vec::new();
        for feed in mailscope_threat::demo::demo_feeds(&indicators, now) {
            let name = feed.file_name.to_ascii_lowercase();
            let content_type = if name.ends_with(".json") {
                "application/json"
            } else if name.ends_with(".csv") {
                "text/csv; charset=utf-8"
            } else {
                "text/plain; charset=utf-8"
            };
            feeds.push((feed.name, feed.format, name.clone()));
            files.push(mailscope_simulator::http::ServedFile {
                name,
                content_type,
                body: feed.body,
            });
        }
        DemoFeeds { files, feeds }
    }

    /// The feeds at `base_url` (the simulator's), with each format's default refresh.
    pub fn configs(&self, base_url: &str) -> Vec<FeedConfig> {
        self.feeds
            .iter()
            .map(|(name, format, file)| {
                FeedConfig::new(
                    name,
                    FeedLocation::Url(format!("{}/feeds/{file}", base_url.trim_end_matches('/'))),
                    *format,
                )
            })
            .collect()
    }
}
