//! The organisation and its correspondents, built once per seed: the tenant's domains and
//! mailboxes, partner companies with stable mail servers, bulk and SaaS senders, spam domains
//! and the bad IPs behind spam bursts. Every address string is built here so that the hot path
//! only clones.

use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::seq::IndexedRandom;
use rand_distr::StandardNormal;

use super::calendar::{Region, Zone};
use super::correspondents::{
    Partner, Robot, block_of_provider, country_tld, partner, partner_countries, person, pick_block,
    service_senders,
};
use super::ip::{self, EOP_BLOCKS, PRIVATE_BLOCKS};
use super::names::*;

/// Public facts about the generated tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInfo {
    /// The `*.onmicrosoft.com` domain, also the `Organization` of every record.
    pub organization: String,
    /// Every accepted domain, the onmicrosoft one last.
    pub accepted_domains: Vec<String>,
    pub users: usize,
    pub shared_mailboxes: usize,
    pub distribution_lists: usize,
    pub partner_domains: usize,
    /// IANA name of the tenant's time zone, which drives the daily rhythm.
    pub time_zone: &'static str,
}

pub(crate) struct Dl {
    pub address: String,
    pub members: Vec<u32>,
}

pub(crate) struct Org {
    pub info: TenantInfo,
    pub zone: Zone,
    pub users: Vec<String>,
    pub user_pick: WeightedIndex<f64>,
    pub shared: Vec<String>,
    pub dls: Vec<Dl>,
    pub partners: Vec<Partner>,
    pub partner_pick: WeightedIndex<f64>,
    pub newsletters: Vec<Robot>,
    pub services: Vec<Robot>,
    pub spam_domains: Vec<String>,
    pub bad_ip_groups: Vec<Vec<String>>,
    /// Exchange Online hosts of the tenant, for Message-IDs (`AM0PR04MB1234.eurprd04…`).
    pub exo_hosts: Vec<String>,
    /// The tenant's EOP addresses (IPv4 and IPv6 kept apart so that the IPv6 share does not
    /// depend on how many of a few dozen samples happened to be IPv6) and on-premises relays.
    pub eop_v4: Vec<String>,
    pub eop_v6: Vec<String>,
    pub relay_ips: Vec<String>,
    pub postmaster: String,
    pub marketing: String,
}

impl Org {
    /// One of the tenant's EOP addresses, IPv6 for about one connection in eight.
    pub(crate) fn eop_ip(&self, rng: &mut impl Rng) -> Option<String> {
        let pool = if rng.random_bool(0.12) {
            &self.eop_v6
        } else {
            &self.eop_v4
        };
        pool.choose(rng).cloned()
    }

    /// Whether an address belongs to one of the tenant's accepted domains.
    pub(crate) fn is_ours(&self, address: &str) -> bool {
        address.rsplit_once('@').is_some_and(|(_, domain)| {
            self.info
                .accepted_domains
                .iter()
                .any(|accepted| accepted == domain)
        })
    }

    pub(crate) fn build(zone: Zone, messages: u64, days: u32, rng: &mut impl Rng) -> Org {
        let stem = TENANT_STEMS.choose(rng).copied().unwrap_or("contoso");
        let number = rng.random_range(10..1000);
        let tenant = format!("{stem}{number}.onmicrosoft.com");
        let tld = match zone.country {
            "DE" => "de",
            "FR" => "fr",
            "GB" => "co.uk",
            "JP" => "co.jp",
            "SG" => "com.sg",
            _ => "com",
        };
        let vanity = format!("{stem}.{tld}");
        let subsidiary = format!(
            "{stem}-{}.com",
            ["labs", "services", "digital"][rng.random_range(0..3)]
        );
        let mut domains = vec![vanity.clone(), subsidiary.clone()];
        if rng.random_bool(0.5) {
            domains.push(format!("{stem}.com").replace(&format!(".{tld}.com"), ".com"));
            domains.dedup();
        }
        domains.push(tenant.clone());

        // ~60 final rows per user and day is a typical mailbox load.
        let per_day = messages / u64::from(days.max(1));
        let user_count = (per_day / 60).clamp(2_000, 8_000) as usize;
        let mut users: Vec<String> = Vec::with_capacity(user_count);
        let mut seen = std::collections::HashSet::new();
        while users.len() < user_count {
            let (first, last) = person(rng);
            let domain = match rng.random_range(0..100) {
                0..85 => &vanity,
                85..97 => &subsidiary,
                _ => &tenant,
            };
            let mut local = format!("{first}.{last}");
            let mut n = 2;
            while !seen.insert(format!("{local}@{domain}")) {
                local = format!("{first}.{last}{n}");
                n += 1;
            }
            users.push(format!("{local}@{domain}"));
        }
        // Activity is very unequal: assistants and managers send far more than most.
        let weights: Vec<f64> = (0..user_count)
            .map(|_| (rng.sample::<f64, _>(StandardNormal) * 0.9).exp())
            .collect();
        let user_pick = WeightedIndex::new(&weights).unwrap_or_else(|_| uniform(user_count));

        let shared = [
            "info",
            "sales",
            "support",
            "hr",
            "accounting",
            "invoices",
            "helpdesk",
            "reception",
            "careers",
            "purchasing",
            "legal",
            "press",
            "it-security",
            "facilities",
            "payroll",
        ]
        .iter()
        .map(|local| format!("{local}@{vanity}"))
        .collect::<Vec<_>>();

        let dl_names = [
            "all-staff",
            "management",
            "sales-team",
            "marketing",
            "engineering",
            "finance-team",
            "it-ops",
            "hr-team",
            "project-phoenix",
            "project-atlas",
            "board",
            "social-club",
            "berlin-office",
            "newyork-office",
            "tokyo-office",
            "support-l2",
            "security-alerts",
            "product",
            "legal-team",
            "procurement",
        ];
        let dls = dl_names
            .iter()
            .map(|name| {
                // Skewed sizes: most lists are teams of a few people, a few are large.
                let size = (3.0 + (rng.sample::<f64, _>(StandardNormal) * 0.8 + 1.6).exp())
                    .min(48.0) as usize;
                let mut members: Vec<u32> = Vec::with_capacity(size);
                while members.len() < size {
                    let member = rng.random_range(0..user_count as u32);
                    if !members.contains(&member) {
                        members.push(member);
                    }
                }
                Dl {
                    address: format!("{name}@{vanity}"),
                    members,
                }
            })
            .collect();

        let partner_count = rng.random_range(250..400);
        let countries = partner_countries(zone.region);
        let country_pick = WeightedIndex::new(countries.iter().map(|c| c.1))
            .unwrap_or_else(|_| uniform(countries.len()));
        let mut partners = Vec::with_capacity(partner_count);
        let mut partner_domains = std::collections::HashSet::new();
        while partners.len() < partner_count {
            let country = countries[country_pick.sample(rng)].0;
            let prefix = PARTNER_PREFIXES.choose(rng).copied().unwrap_or("acme");
            let suffix = PARTNER_SUFFIXES.choose(rng).copied().unwrap_or("group");
            let tld = country_tld(country);
            let domain = format!("{prefix}{suffix}.{tld}");
            if !partner_domains.insert(domain.clone()) {
                continue;
            }
            partners.push(partner(domain, country, partners.len(), rng));
        }
        // Zipf popularity: a handful of key partners dominate.
        let partner_pick =
            WeightedIndex::new((1..=partner_count).map(|r| 1.0 / (r as f64).powf(1.07)))
                .unwrap_or_else(|_| uniform(partner_count));

        let newsletters = BULK_BRANDS
            .iter()
            .map(|brand| {
                let block = block_of_provider(if rng.random_bool(0.5) {
                    "SendGrid"
                } else {
                    "Mailchimp"
                });
                let local =
                    ["news", "newsletter", "info", "hello", "marketing"][rng.random_range(0..5)];
                Robot {
                    address: format!("{local}@email.{brand}.com"),
                    msgid_host: format!("mailer.{brand}.com"),
                    ips: (0..3).map(|_| block.sample(rng).to_string()).collect(),
                    brand,
                }
            })
            .collect();
        let services = service_senders(&vanity, stem, rng);

        let spam_domains = (0..80)
            .map(|i| {
                let a = SPAM_WORDS.choose(rng).copied().unwrap_or("secure");
                let b = SPAM_WORDS.choose(rng).copied().unwrap_or("login");
                let tld = SPAM_TLDS.choose(rng).copied().unwrap_or("xyz");
                format!("{a}-{b}{i}.{tld}")
            })
            .collect();
        let bad_ip_groups = ["RU", "CN", "VN", "BR", "NG", "IN"]
            .choose_multiple(rng, 3)
            .map(|country| {
                let blocks = ip::blocks_of(country);
                let count = rng.random_range(3..7);
                (0..count)
                    .map(|_| pick_block(&blocks, rng).sample(rng).to_string())
                    .collect()
            })
            .collect();

        let (pod, region) = match zone.region {
            Region::Europe => (
                ["AM0PR04MB", "DB9PR02MB", "PR3P264MB"],
                ["eurprd04", "eurprd02", "FRAP264"],
            ),
            Region::America => (
                ["BN6PR11MB", "CH2PR12MB", "SA1PR13MB"],
                ["namprd11", "namprd12", "namprd13"],
            ),
            Region::Asia => (
                ["TYAPR01MB", "SG2PR06MB", "KL1PR0601MB"],
                ["jpnprd01", "apcprd06", "apcprd06"],
            ),
        };
        let exo_hosts = (0..12)
            .map(|_| {
                let i = rng.random_range(0..3);
                let host = format!("{}{}", pod[i], rng.random_range(1000..9999));
                if region[i].starts_with("FRA") {
                    format!("{host}.{}.PROD.OUTLOOK.COM", region[i])
                } else {
                    format!("{host}.{}.prod.outlook.com", region[i])
                }
            })
            .collect();
        let eop_v4 = (0..20)
            .map(|_| {
                EOP_BLOCKS[rng.random_range(0..EOP_BLOCKS.len() - 1)]
                    .sample(rng)
                    .to_string()
            })
            .collect();
        let eop_v6 = (0..4)
            .map(|_| EOP_BLOCKS[EOP_BLOCKS.len() - 1].sample(rng).to_string())
            .collect();
        let relay_ips = (0..6)
            .map(|_| {
                PRIVATE_BLOCKS[rng.random_range(0..PRIVATE_BLOCKS.len())]
                    .sample(rng)
                    .to_string()
            })
            .collect();

        let info = TenantInfo {
            organization: tenant.clone(),
            accepted_domains: domains,
            users: user_count,
            shared_mailboxes: shared.len(),
            distribution_lists: dl_names.len(),
            partner_domains: partner_count,
            time_zone: zone.name,
        };
        Org {
            info,
            zone,
            users,
            user_pick,
            shared,
            dls,
            partners,
            partner_pick,
            newsletters,
            services,
            spam_domains,
            bad_ip_groups,
            exo_hosts,
            eop_v4,
            eop_v6,
            relay_ips,
            postmaster: format!("postmaster@{tenant}"),
            marketing: format!("newsletter@{vanity}"),
        }
    }
}

/// A weighted index that cannot fail, for the (unreachable) case of bad weights.
fn uniform(n: usize) -> WeightedIndex<f64> {
    WeightedIndex::new(std::iter::repeat_n(1.0, n.max(1))).expect("positive weights")
}
