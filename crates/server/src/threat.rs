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

/// Share of a sender's (or an IP's) messages that must be spam or quarantined for the demo
/// feeds to list it: a brand that sends mostly delivered mail (`no-reply@zoom.us`, Microsoft's
/// own relays) and now and then lands in a spam filter is not a threat actor.
const SPAM_SHARE: f64 = 0.5;

/// The tenant's spam senders as the demo feeds list them: the top 30 sender addresses and the
/// top 60 sending IPs by messages filtered as spam or quarantined, among those whose messages
/// are mostly that ([`SPAM_SHARE`]), and the domains of the top five addresses whose own mail
/// is mostly that too.
pub fn spam_senders(tenant: &mailscope_simulator::TenantConfig) -> Result<Vec<String>> {
    use std::collections::HashMap;
    // (spam or quarantined, all) per sender address, sender domain, IP and IP block.
    let mut addresses: HashMap<String, (u64, u64)> = HashMap::new();
    let mut ips: HashMap<String, (u64, u64)> = HashMap::new();
    let mut domains: HashMap<String, (u64, u64)> = HashMap::new();
    let mut blocks: HashMap<String, (u64, u64)> = HashMap::new();
    for observation in mailscope_simulator::generate(tenant)? {
        let record = observation.record;
        let spam = u64::from(matches!(
            record.status,
            mailscope_record::Status::FilteredAsSpam | mailscope_record::Status::Quarantined
        ));
        let tally = |counts: &mut HashMap<String, (u64, u64)>, key: String| {
            let entry = counts.entry(key).or_default();
            *entry = (entry.0 + spam, entry.1 + 1);
        };
        if let Some((_, domain)) = record.sender_address.rsplit_once('@') {
            tally(&mut domains, domain.to_owned());
        }
        tally(&mut addresses, record.sender_address);
        if let Some(ip) = record.from_ip {
            if let Some(block) = block_of(&ip) {
                tally(&mut blocks, block);
            }
            tally(&mut ips, ip);
        }
    }
    let mostly_spam = |(spam, all): (u64, u64)| spam > 0 && spam as f64 >= SPAM_SHARE * all as f64;
    let top = |counts: HashMap<String, (u64, u64)>, n: usize| {
        let mut counted: Vec<(String, u64)> = counts
            .into_iter()
            .filter(|(_, counts)| mostly_spam(*counts))
            .map(|(value, (spam, _))| (value, spam))
            .collect();
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
        // A spoofed address in a domain that mostly sends good mail (the tenant's own, a
        // partner's) does not make the domain a threat.
        .filter(|domain| {
            domains
                .get(domain)
                .is_some_and(|counts| mostly_spam(*counts))
        })
        .collect();
    senders.sort();
    senders.dedup();
    senders.extend(addresses);
    // The blocklist feed widens each address to its block, so an address is listed only when
    // its block's mail is mostly spam too: spam relayed through a provider's shared outbound
    // range (Exchange Online's own, 2a01:111:f400::/48) must not list the provider.
    let ips: HashMap<String, (u64, u64)> = ips
        .into_iter()
        .filter(|(ip, _)| {
            block_of(ip)
                .and_then(|block| blocks.get(&block))
                .is_some_and(|counts| mostly_spam(*counts))
        })
        .collect();
    senders.extend(top(ips, 60));
    Ok(senders)
}

/// The block a demo blocklist widens `ip` to: its /24 (IPv4) or /48 (IPv6).
fn block_of(ip: &str) -> Option<String> {
    let prefix = match ip.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(_) => 24,
        std::net::IpAddr::V6(_) => 48,
    };
    let net = ipnet::IpNet::new(ip.parse().ok()?, prefix).ok()?;
    Some(net.trunc().to_string())
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The demo feeds list spam sources, never a brand that mostly delivers: every listed
    /// address, domain and IP is mostly spam or quarantined in the generated tenant itself.
    #[test]
    fn the_demo_feeds_list_only_senders_whose_mail_is_mostly_spam() {
        let tenant = mailscope_simulator::TenantConfig {
            seed: 7,
            messages: 60_000,
            start: "2026-11-01T00:00:00Z".parse().expect("time"),
            days: 14,
        };
        let listed = spam_senders(&tenant).expect("senders");
        // Independently: each value's (spam or quarantined, all) over the same records.
        let mut counts: HashMap<String, (u64, u64)> = HashMap::new();
        for observation in mailscope_simulator::generate(&tenant).expect("tenant") {
            let record = observation.record;
            let spam = u64::from(matches!(
                record.status,
                mailscope_record::Status::FilteredAsSpam | mailscope_record::Status::Quarantined
            ));
            let domain = record
                .sender_address
                .rsplit_once('@')
                .map(|(_, d)| d.to_owned());
            // The block a blocklist widens the address to, computed here by hand.
            let block = record.from_ip.as_deref().and_then(|ip| {
                Some(match ip.parse::<std::net::IpAddr>().ok()? {
                    std::net::IpAddr::V4(v4) => {
                        let [a, b, c, _] = v4.octets();
                        format!("{a}.{b}.{c}.0/24")
                    }
                    std::net::IpAddr::V6(v6) => {
                        let s = v6.segments();
                        format!(
                            "{}/48",
                            std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0)
                        )
                    }
                })
            });
            let values = [Some(record.sender_address), domain, record.from_ip, block];
            for value in values.into_iter().flatten() {
                let entry = counts.entry(value).or_default();
                *entry = (entry.0 + spam, entry.1 + 1);
            }
        }
        assert!(listed.len() >= 20, "{listed:?}");
        for value in &listed {
            let (spam, all) = counts[value];
            assert!(
                spam * 2 >= all,
                "{value}: {spam} of {all} messages are spam or quarantined"
            );
            if let Some(block) = block_of(value) {
                let (spam, all) = counts[&block];
                assert!(
                    spam * 2 >= all,
                    "{value}'s block {block}: {spam} of {all} messages are spam or quarantined"
                );
            }
        }
        // The brands the unfiltered list used to flag send mail in this tenant, mostly
        // delivered.
        let brands = ["no-reply@zoom.us", "no-reply@sharepointonline.com"];
        assert!(
            brands.iter().any(|b| counts.contains_key(*b)),
            "the tenant's bulk senders changed: {} values",
            counts.len()
        );
        for brand in brands {
            assert!(!listed.iter().any(|v| v == brand), "{brand} listed");
        }
    }
}
