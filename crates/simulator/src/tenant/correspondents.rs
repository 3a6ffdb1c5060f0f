//! The tenant's correspondents: partner companies (stable mail servers and contacts, hosted
//! on their own MTAs, Exchange Online or Google), machine senders, and the consumer mailbox
//! providers that receive the marketing blast.

use rand::Rng;
use rand::seq::IndexedRandom;

use super::calendar::Region;
use super::ip::{self, Block, EOP_BLOCKS};
use super::names::{FIRST_NAMES, LAST_NAMES};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hosting {
    /// The partner runs its own MTAs in its country.
    Own,
    /// The partner is an Exchange Online tenant itself.
    Microsoft,
    /// Google Workspace.
    Google,
}

pub(crate) struct Partner {
    pub hosting: Hosting,
    /// Stable sending and receiving MTA addresses.
    pub ips: Vec<String>,
    pub contacts: Vec<String>,
    /// Right-hand side of the partner's Message-IDs.
    pub msgid_host: String,
}

/// A sender of machine mail: newsletters or service notifications.
pub(crate) struct Robot {
    pub address: String,
    pub msgid_host: String,
    pub ips: Vec<String>,
    pub brand: &'static str,
}

/// Public mailbox providers that receive the marketing blast, with the block their MX is in.
pub(crate) const CONSUMER_DOMAINS: &[(&str, &str)] = &[
    ("gmail.com", "Google"),
    ("outlook.com", "Microsoft EOP"),
    ("hotmail.com", "Microsoft EOP"),
    ("comcast.net", "Comcast"),
    ("web.de", "Deutsche Telekom"),
    ("gmx.de", "Deutsche Telekom"),
    ("orange.fr", "Orange"),
    ("btinternet.com", "BT"),
];

pub(crate) fn block_of_provider(provider: &str) -> &'static Block {
    ip::COUNTRY_BLOCKS
        .iter()
        .chain(EOP_BLOCKS)
        .find(|block| block.provider == provider)
        .unwrap_or(&EOP_BLOCKS[0])
}

pub(crate) fn pick_block<'a>(blocks: &[&'a Block], rng: &mut impl Rng) -> &'a Block {
    blocks.choose(rng).copied().unwrap_or(&EOP_BLOCKS[0])
}

pub(crate) fn person(rng: &mut impl Rng) -> (&'static str, &'static str) {
    (
        FIRST_NAMES.choose(rng).copied().unwrap_or("alex"),
        LAST_NAMES.choose(rng).copied().unwrap_or("smith"),
    )
}

/// Partner countries, weighted towards the tenant's region (trade is mostly regional).
pub(crate) fn partner_countries(region: Region) -> Vec<(&'static str, f64)> {
    let mut out: Vec<(&'static str, f64)> = ip::table_countries()
        .into_iter()
        .map(|c| (c, 1.0))
        .collect();
    let home: &[&str] = match region {
        Region::Europe => &[
            "DE", "FR", "GB", "NL", "ES", "IT", "PL", "SE", "CH", "AT", "BE", "IE",
        ],
        Region::America => &["US", "CA", "MX", "BR", "GB", "DE"],
        Region::Asia => &["JP", "SG", "CN", "KR", "IN", "AU", "US"],
    };
    for (country, weight) in &mut out {
        if home.contains(country) {
            *weight = 12.0;
        }
    }
    out
}

pub(crate) fn country_tld(country: &str) -> String {
    match country {
        "US" => "com".into(),
        "GB" => "co.uk".into(),
        "JP" => "co.jp".into(),
        "AU" | "BR" | "MX" | "AR" | "TR" | "CN" | "SG" | "EG" | "PK" | "VN" => {
            format!("com.{}", country.to_ascii_lowercase())
        }
        "ZA" | "NZ" | "IN" | "IL" | "ID" | "TH" | "KR" => {
            format!("co.{}", country.to_ascii_lowercase())
        }
        _ => country.to_ascii_lowercase(),
    }
}

pub(crate) fn partner(domain: String, country: &str, rank: usize, rng: &mut impl Rng) -> Partner {
    let hosting = match rng.random_range(0..100) {
        0..40 => Hosting::Microsoft,
        40..55 => Hosting::Google,
        _ => Hosting::Own,
    };
    let blocks: Vec<&Block> = match hosting {
        Hosting::Microsoft => Vec::new(),
        Hosting::Google => vec![block_of_provider("Google")],
        Hosting::Own => ip::blocks_of(country),
    };
    // The first (busiest) server is IPv4; later ones may be IPv6, as dual-stack MTAs are.
    let ips = (0..rng.random_range(2..6))
        .map(|i| {
            let block = if blocks.is_empty() {
                ip::eop_block(rng)
            } else {
                let want_v6 = i > 0 && rng.random_bool(0.2);
                let family: Vec<&Block> = blocks
                    .iter()
                    .copied()
                    .filter(|b| b.is_v6() == want_v6)
                    .collect();
                pick_block(if family.is_empty() { &blocks } else { &family }, rng)
            };
            block.sample(rng).to_string()
        })
        .collect();
    // Popular partners have more people writing to us.
    let contact_count = (40 / (rank + 1)).max(2) + rng.random_range(0..6);
    let contacts = (0..contact_count)
        .map(|_| {
            let (first, last) = person(rng);
            match rng.random_range(0..10) {
                0 => format!("{}{last}@{domain}", &first[..1]),
                1 => format!("{first}@{domain}"),
                _ => format!("{first}.{last}@{domain}"),
            }
        })
        .collect();
    let msgid_host = match hosting {
        Hosting::Google => "mail.gmail.com".to_string(),
        Hosting::Microsoft => format!(
            "VI1PR0{}MB{}.eurprd0{}.prod.outlook.com",
            rng.random_range(1..9),
            rng.random_range(1000..9999),
            rng.random_range(1..9)
        ),
        Hosting::Own => format!("mail.{domain}"),
    };
    Partner {
        hosting,
        ips,
        contacts,
        msgid_host,
    }
}

/// Notification senders. The Microsoft ones are those seen in real traces (research notes §5).
pub(crate) fn service_senders(vanity: &str, stem: &str, rng: &mut impl Rng) -> Vec<Robot> {
    let eop = |rng: &mut _| {
        (0..4)
            .map(|_| EOP_BLOCKS[0].sample(rng).to_string())
            .collect::<Vec<_>>()
    };
    let github = block_of_provider("GitHub");
    let sendgrid = block_of_provider("SendGrid");
    vec![
        Robot {
            address: "azure-noreply@microsoft.com".into(),
            msgid_host: "az.westeurope.production.microsoft.com".into(),
            ips: eop(rng),
            brand: "azure",
        },
        Robot {
            address: "MSSecurity-noreply@microsoft.com".into(),
            msgid_host: "az.northeurope.production.microsoft.com".into(),
            ips: eop(rng),
            brand: "security",
        },
        Robot {
            address: "noreply@azure.microsoft.com".into(),
            msgid_host: "az.uksouth.production.microsoft.com".into(),
            ips: eop(rng),
            brand: "azure",
        },
        Robot {
            address: "no-reply@sharepointonline.com".into(),
            msgid_host: "sharepointonline.com".into(),
            ips: eop(rng),
            brand: "sharepoint",
        },
        Robot {
            address: "notifications@github.com".into(),
            msgid_host: "github.com".into(),
            ips: (0..3).map(|_| github.sample(rng).to_string()).collect(),
            brand: "github",
        },
        Robot {
            address: format!("jira@{stem}.atlassian.net"),
            msgid_host: "atlassian.net".into(),
            ips: (0..3).map(|_| sendgrid.sample(rng).to_string()).collect(),
            brand: "jira",
        },
        Robot {
            address: "no-reply@zoom.us".into(),
            msgid_host: "zoom.us".into(),
            ips: (0..3).map(|_| sendgrid.sample(rng).to_string()).collect(),
            brand: "zoom",
        },
        Robot {
            address: format!("scanner@{vanity}"),
            msgid_host: format!("scan01.{vanity}"),
            ips: vec![],
            brand: "scanner",
        },
    ]
}
