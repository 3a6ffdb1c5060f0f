//! Demo feeds: small, realistic feeds in every supported format whose indicators are the
//! simulator's spam senders, so that the demo's threat panels have matches.
//!
//! Feed it strings as the simulator has them (sender IPs, spam domains, sender addresses)
//! through [`DemoIndicators::classify`], then write with [`write_demo_feeds`] or serve the
//! bodies of [`demo_feeds`] over HTTP.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde_json::json;

use crate::config::{FeedConfig, FeedLocation};
use crate::error::Result;
use crate::net::{canonical, normalize_domain, normalize_email, parse_ip_or_cidr};
use crate::read::FeedFormat;
use crate::store::write_atomically;

/// What the demo feeds list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoIndicators {
    /// Single sender addresses, IPv4 and IPv6.
    pub addresses: Vec<IpAddr>,
    pub networks: Vec<IpNet>,
    pub emails: Vec<String>,
    pub domains: Vec<String>,
}

impl DemoIndicators {
    /// Sorts values by shape: addresses, networks (`a.b.c.d/n`), e-mail addresses (with
    /// `@`), domains. Values that are none of these are returned in the second element.
    pub fn classify<I, S>(values: I) -> (DemoIndicators, Vec<String>)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut demo = DemoIndicators::default();
        let mut rejected = Vec::new();
        for value in values {
            let text = value.as_ref().trim();
            if text.contains('@') {
                match normalize_email(text) {
                    Ok(email) => demo.emails.push(email),
                    Err(_) => rejected.push(text.to_owned()),
                }
            } else if let Ok(address) = text.parse::<IpAddr>() {
                demo.addresses.push(canonical(address));
            } else if text.contains('/') {
                match parse_ip_or_cidr(text) {
                    Ok(net) => demo.networks.push(net),
                    Err(_) => rejected.push(text.to_owned()),
                }
            } else {
                match normalize_domain(text) {
                    Ok(domain) => demo.domains.push(domain),
                    Err(_) => rejected.push(text.to_owned()),
                }
            }
        }
        for list in [&mut demo.emails, &mut demo.domains] {
            list.sort();
            list.dedup();
        }
        demo.addresses.sort();
        demo.addresses.dedup();
        demo.networks.sort();
        demo.networks.dedup();
        (demo, rejected)
    }

    fn v4_addresses(&self) -> impl Iterator<Item = &IpAddr> {
        self.addresses.iter().filter(|a| a.is_ipv4())
    }

    /// The networks, or the /24 (IPv4) and /48 (IPv6) around each address when none were
    /// given: DROP lists netblocks, not hosts.
    fn blocks(&self) -> Vec<IpNet> {
        if !self.networks.is_empty() {
            return self.networks.clone();
        }
        let mut blocks: Vec<IpNet> = self
            .addresses
            .iter()
            .filter_map(|address| match address {
                IpAddr::V4(v4) => Ipv4Net::new(*v4, 24).map(|n| IpNet::V4(n.trunc())).ok(),
                IpAddr::V6(v6) => Ipv6Net::new(*v6, 48).map(|n| IpNet::V6(n.trunc())).ok(),
            })
            .collect();
        blocks.sort();
        blocks.dedup();
        blocks
    }
}

/// One generated feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoFeed {
    /// The feed's name in the configuration.
    pub name: &'static str,
    pub format: FeedFormat,
    pub file_name: &'static str,
    pub body: Vec<u8>,
}

const MALWARE: [&str; 4] = ["QakBot", "Emotet", "Pikabot", "IcedID"];
const PORTS: [u16; 4] = [443, 8080, 2222, 995];
const CONFIDENCES: [u8; 4] = [90, 75, 60, 40];

/// The feeds, one per format, generated as of `now`.
pub fn demo_feeds(demo: &DemoIndicators, now: DateTime<Utc>) -> Vec<DemoFeed> {
    vec![
        DemoFeed {
            name: "spamhaus-drop",
            format: FeedFormat::SpamhausDrop,
            file_name: "drop.txt",
            body: drop_text(demo, now).into_bytes(),
        },
        DemoFeed {
            name: "spamhaus-drop-json",
            format: FeedFormat::SpamhausDropJson,
            file_name: "drop_v4.json",
            body: drop_json(demo, now).into_bytes(),
        },
        DemoFeed {
            name: "firehol-level1",
            format: FeedFormat::FireholNetset,
            file_name: "firehol_level1.netset",
            body: netset(demo, now).into_bytes(),
        },
        DemoFeed {
            name: "et-compromised",
            format: FeedFormat::IpList,
            file_name: "compromised-ips.txt",
            body: et_list(demo).into_bytes(),
        },
        DemoFeed {
            name: "feodo",
            format: FeedFormat::FeodoCsv,
            file_name: "ipblocklist.csv",
            body: feodo(demo, now).into_bytes(),
        },
        DemoFeed {
            name: "sslbl",
            format: FeedFormat::SslblCsv,
            file_name: "sslipblacklist.csv",
            body: sslbl(demo, now).into_bytes(),
        },
        DemoFeed {
            name: "stix-demo",
            format: FeedFormat::Stix,
            file_name: "bundle.json",
            body: stix(demo, now).into_bytes(),
        },
        DemoFeed {
            name: "misp-demo",
            format: FeedFormat::MispEvent,
            file_name: "misp-event.json",
            body: misp(demo, now).into_bytes(),
        },
    ]
}

/// Writes every demo feed into `dir` (atomically) and returns file-feed configurations for
/// them, ready for [`crate::ThreatStore::open`].
pub fn write_demo_feeds(
    dir: &Path,
    demo: &DemoIndicators,
    now: DateTime<Utc>,
) -> Result<Vec<FeedConfig>> {
    std::fs::create_dir_all(dir).map_err(|error| crate::error::Error::io(dir, &error))?;
    let mut configs = Vec::new();
    for feed in demo_feeds(demo, now) {
        let path = dir.join(feed.file_name);
        write_atomically(&path, &feed.body)?;
        configs.push(FeedConfig::new(
            feed.name,
            FeedLocation::File(path),
            feed.format,
        ));
    }
    Ok(configs)
}

fn rfc2822(now: DateTime<Utc>) -> String {
    now.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn sql(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A stable SBL-like record number per block.
fn sbl(net: &IpNet) -> u64 {
    600_000 + hash(&net.to_string()) % 99_999
}

fn drop_text(demo: &DemoIndicators, now: DateTime<Utc>) -> String {
    let mut text = format!(
        "; Spamhaus DROP List {} - (c) {} The Spamhaus Project SLU (demo data)\n\
         ; Last-Modified: {}\n; Expires: {}\n",
        now.format("%Y/%m/%d"),
        now.format("%Y"),
        rfc2822(now),
        rfc2822(now + Duration::hours(1)),
    );
    for net in demo.blocks().iter().filter(|n| matches!(n, IpNet::V4(_))) {
        let _ = writeln!(text, "{net} ; SBL{}", sbl(net));
    }
    text
}

fn drop_json(demo: &DemoIndicators, now: DateTime<Utc>) -> String {
    let blocks = demo.blocks();
    let mut text = String::new();
    for (i, net) in blocks.iter().enumerate() {
        let rir = ["ripencc", "apnic", "arin", "lacnic", "afrinic"][i % 5];
        let line =
            json!({ "cidr": net.to_string(), "sblid": format!("SBL{}", sbl(net)), "rir": rir });
        let _ = writeln!(text, "{line}");
    }
    let metadata = json!({
        "type": "metadata",
        "timestamp": now.timestamp(),
        "size": text.len(),
        "records": blocks.len(),
        "copyright": format!("(c) {} The Spamhaus Project SLU (demo data)", now.format("%Y")),
        "terms": "https://www.spamhaus.org/drop/terms/",
    });
    let _ = writeln!(text, "{metadata}");
    text
}

fn netset(demo: &DemoIndicators, now: DateTime<Utc>) -> String {
    let mut entries: Vec<String> = demo
        .blocks()
        .iter()
        .filter(|n| matches!(n, IpNet::V4(_)))
        .map(ToString::to_string)
        .chain(demo.v4_addresses().map(ToString::to_string))
        .collect();
    entries.dedup();
    let mut text = format!(
        "#\n# firehol_level1\n# ipv4 hash:net ipset\n#\n# Demo data in the FireHOL netset layout.\n\
         #\n# Source File Date: {}\n#\n",
        rfc2822(now)
    );
    for entry in entries {
        let _ = writeln!(text, "{entry}");
    }
    text
}

fn et_list(demo: &DemoIndicators) -> String {
    let mut text = String::new();
    for address in demo.v4_addresses() {
        let _ = writeln!(text, "{address}");
    }
    if text.is_empty() {
        text.push_str("# no compromised hosts listed\n");
    }
    text
}

/// The first half of the addresses are Feodo C2s, the second half SSLBL's.
fn halves(demo: &DemoIndicators) -> (&[IpAddr], &[IpAddr]) {
    let middle = demo.addresses.len().div_ceil(2);
    demo.addresses.split_at(middle)
}

fn feodo(demo: &DemoIndicators, now: DateTime<Utc>) -> String {
    let mut text = format!(
        "################################################################\n\
         # abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)          #\n\
         # Last updated: {} UTC                        #\n\
         #                                                              #\n\
         # Demo data in the Feodo Tracker layout.                       #\n\
         ################################################################\n\
         #\n\
         \"first_seen_utc\",\"dst_ip\",\"dst_port\",\"c2_status\",\"last_online\",\"malware\"\n",
        sql(now)
    );
    for (i, address) in halves(demo).0.iter().enumerate() {
        let first_seen = now - Duration::days(3 + (i as i64 % 40));
        let status = if i % 3 == 0 { "offline" } else { "online" };
        let _ = writeln!(
            text,
            "\"{}\",\"{address}\",\"{}\",\"{status}\",\"{}\",\"{}\"",
            sql(first_seen),
            PORTS[i % PORTS.len()],
            now.format("%Y-%m-%d"),
            MALWARE[i % MALWARE.len()],
        );
    }
    let _ = writeln!(text, "# Number of entries: {}", halves(demo).0.len());
    text
}

fn sslbl(demo: &DemoIndicators, now: DateTime<Utc>) -> String {
    let mut text = String::from(
        "################################################################\n\
         # abuse.ch SSLBL Botnet C2 IP Blacklist (CSV)                  #\n\
         # Demo data in the SSLBL layout.                               #\n\
         ################################################################\n\
         #\n# Firstseen,DstIP,DstPort\n",
    );
    for (i, address) in halves(demo).1.iter().enumerate() {
        let first_seen = now - Duration::hours(6 + i as i64 * 7);
        let _ = writeln!(
            text,
            "{},{address},{}",
            sql(first_seen),
            PORTS[i % PORTS.len()]
        );
    }
    let _ = writeln!(text, "# END {} entries", halves(demo).1.len());
    text
}

fn stix(demo: &DemoIndicators, now: DateTime<Utc>) -> String {
    let identity = format!("identity--{}", uuid("identity:mailscope-demo"));
    let actor = format!("threat-actor--{}", uuid("actor:demo"));
    let mut objects = vec![
        json!({
            "type": "identity", "spec_version": "2.1", "id": identity,
            "created": rfc3339(now - Duration::days(400)), "modified": rfc3339(now - Duration::days(400)),
            "name": "Mailscope Demo CERT", "identity_class": "organization",
        }),
        json!({
            "type": "threat-actor", "spec_version": "2.1", "id": actor,
            "created": rfc3339(now - Duration::days(90)), "modified": rfc3339(now - Duration::days(10)),
            "name": "SpamCrew 42", "threat_actor_types": ["crime-syndicate"],
        }),
    ];
    let mut values: Vec<(&str, String)> = Vec::new();
    values.extend(demo.addresses.iter().map(|a| {
        (
            if a.is_ipv4() {
                "ipv4-addr"
            } else {
                "ipv6-addr"
            },
            a.to_string(),
        )
    }));
    values.extend(demo.networks.iter().map(|n| {
        (
            if matches!(n, IpNet::V4(_)) {
                "ipv4-addr"
            } else {
                "ipv6-addr"
            },
            n.to_string(),
        )
    }));
    values.extend(demo.emails.iter().map(|e| ("email-addr", e.clone())));
    values.extend(demo.domains.iter().map(|d| ("domain-name", d.clone())));
    let mut patterns: Vec<(String, String)> = Vec::new();
    let mut rest = values.as_slice();
    // Every fifth indicator joins two values with OR, as aggregating platforms export.
    let mut i = 0;
    while let Some(((kind, value), tail)) = rest.split_first() {
        let name = format!("Spam source {value}");
        if i % 5 == 4
            && let Some(((kind2, value2), tail2)) = tail.split_first()
        {
            patterns.push((
                format!(
                    "[{kind}:value = '{}' OR {kind2}:value = '{}']",
                    quote(value),
                    quote(value2)
                ),
                name,
            ));
            rest = tail2;
        } else {
            patterns.push((format!("[{kind}:value = '{}']", quote(value)), name));
            rest = tail;
        }
        i += 1;
    }
    // A URL indicator, which readers skip: real bundles mix object types.
    patterns.push((
        "[url:value = 'http://invoice-update.example/pay.php']".to_owned(),
        "Phishing landing page".to_owned(),
    ));
    for (i, (pattern, name)) in patterns.iter().enumerate() {
        let id = format!("indicator--{}", uuid(pattern));
        let created = now - Duration::days(2 + i as i64 % 20);
        objects.push(json!({
            "type": "indicator", "spec_version": "2.1", "id": id,
            "created_by_ref": identity,
            "created": rfc3339(created), "modified": rfc3339(created + Duration::hours(5)),
            "name": name,
            "indicator_types": ["malicious-activity"],
            "pattern": pattern, "pattern_type": "stix", "pattern_version": "2.1",
            "valid_from": rfc3339(created),
            "valid_until": rfc3339(now + Duration::days(90)),
            "confidence": CONFIDENCES[i % 4],
            "kill_chain_phases": [{"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "delivery"}],
            "labels": ["spam", "phishing"],
        }));
        objects.push(json!({
            "type": "relationship", "spec_version": "2.1",
            "id": format!("relationship--{}", uuid(&format!("rel:{id}"))),
            "created": rfc3339(created), "modified": rfc3339(created),
            "relationship_type": "indicates", "source_ref": id, "target_ref": actor,
        }));
    }
    let bundle = json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid(&format!("bundle:{}", now.timestamp()))),
        "objects": objects,
    });
    serde_json::to_string_pretty(&bundle).unwrap_or_default()
}

fn quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

fn misp(demo: &DemoIndicators, now: DateTime<Utc>) -> String {
    let mut attributes = Vec::new();
    let mut add = |kind: &str, category: &str, value: String, to_ids: bool| {
        let seen = now - Duration::hours(1 + attributes.len() as i64);
        attributes.push(json!({
            "uuid": uuid(&format!("misp:{kind}:{value}")),
            "type": kind, "category": category, "value": value, "to_ids": to_ids,
            "timestamp": seen.timestamp().to_string(), "comment": "", "deleted": false,
            "distribution": "5",
        }));
    };
    for address in &demo.addresses {
        add("ip-src", "Network activity", address.to_string(), true);
    }
    for net in &demo.networks {
        add("ip-src", "Network activity", net.to_string(), true);
    }
    for email in &demo.emails {
        add("email-src", "Payload delivery", email.clone(), true);
    }
    for domain in &demo.domains {
        add("domain", "Network activity", domain.clone(), true);
    }
    add(
        "sha256",
        "Payload delivery",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
        true,
    );
    add("text", "Other", "campaign notes".to_owned(), false);
    let event = json!({
        "Event": {
            "uuid": uuid(&format!("misp-event:{}", now.date_naive())),
            "info": "Demo: spam wave from known bad senders",
            "date": now.format("%Y-%m-%d").to_string(),
            "timestamp": now.timestamp().to_string(),
            "publish_timestamp": now.timestamp().to_string(),
            "published": true,
            "analysis": "2",
            "threat_level_id": "2",
            "Orgc": {"name": "Mailscope Demo CERT", "uuid": uuid("org:demo")},
            "Tag": [
                {"name": "tlp:clear", "colour": "#ffffff"},
                {"name": "misp-galaxy:threat-actor=\"SpamCrew 42\"", "colour": "#0088cc"},
                {"name": "type:OSINT", "colour": "#004646"},
            ],
            "Attribute": attributes,
            "Object": [],
        }
    });
    serde_json::to_string_pretty(&event).unwrap_or_default()
}

/// FNV-1a, for stable demo identifiers.
fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A UUID-shaped identifier derived from `seed` (version 8, "custom").
fn uuid(seed: &str) -> String {
    let high = hash(seed);
    let low = hash(&format!("{seed}#"));
    let value = (u128::from(high) << 64 | u128::from(low)) & !(0xF << 76) & !(0x3 << 62)
        | (0x8 << 76)
        | (0x2 << 62);
    let hex = format!("{value:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
