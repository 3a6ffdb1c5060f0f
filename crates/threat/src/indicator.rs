//! The indicator record every feed is read into. Its shape is Sumo Logic's normalized threat
//! intelligence format (itself STIX 2.1 aligned), so that `threatlookup`-style output and the
//! legacy `lookup ... from sumo://threat/cs` columns can both be produced from it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use ipnet::IpNet;
use serde::{Serialize, Serializer};

/// The STIX cyber-observable type of an indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum IndicatorType {
    #[serde(rename = "ipv4-addr")]
    Ipv4Addr,
    #[serde(rename = "ipv6-addr")]
    Ipv6Addr,
    #[serde(rename = "email-addr")]
    EmailAddr,
    #[serde(rename = "domain-name")]
    DomainName,
}

impl IndicatorType {
    /// The STIX name (`ipv4-addr`, `ipv6-addr`, `email-addr`, `domain-name`).
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorType::Ipv4Addr => "ipv4-addr",
            IndicatorType::Ipv6Addr => "ipv6-addr",
            IndicatorType::EmailAddr => "email-addr",
            IndicatorType::DomainName => "domain-name",
        }
    }

    /// The `type` column of Sumo's legacy `sumo://threat/cs` lookup, which the Exchange trace
    /// app filters on (`where type="ip_address"`).
    pub fn legacy_type(self) -> &'static str {
        match self {
            IndicatorType::Ipv4Addr | IndicatorType::Ipv6Addr => "ip_address",
            IndicatorType::EmailAddr => "email_address",
            IndicatorType::DomainName => "domain",
        }
    }
}

impl fmt::Display for IndicatorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an indicator matches: a network (a single address is a /32 or /128), an e-mail
/// address or a domain. E-mail addresses and domains are kept lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndicatorValue {
    Ip(IpNet),
    Email(String),
    Domain(String),
}

impl IndicatorValue {
    pub fn indicator_type(&self) -> IndicatorType {
        match self {
            IndicatorValue::Ip(IpNet::V4(_)) => IndicatorType::Ipv4Addr,
            IndicatorValue::Ip(IpNet::V6(_)) => IndicatorType::Ipv6Addr,
            IndicatorValue::Email(_) => IndicatorType::EmailAddr,
            IndicatorValue::Domain(_) => IndicatorType::DomainName,
        }
    }
}

impl fmt::Display for IndicatorValue {
    /// Single addresses print without a prefix length (`192.0.2.1`), networks with one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndicatorValue::Ip(net) if net.prefix_len() == net.max_prefix_len() => {
                write!(f, "{}", net.addr())
            }
            IndicatorValue::Ip(net) => write!(f, "{net}"),
            IndicatorValue::Email(text) | IndicatorValue::Domain(text) => f.write_str(text),
        }
    }
}

impl Serialize for IndicatorValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl From<IpAddr> for IndicatorValue {
    fn from(address: IpAddr) -> Self {
        IndicatorValue::Ip(IpNet::from(crate::net::canonical(address)))
    }
}

/// Sumo's display buckets for a 0–100 confidence: `>=85 high, >=50 medium, >=15 low,
/// >=0 unverified`, anything else (no confidence at all) unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfidenceLevel {
    Unknown,
    Unverified,
    Low,
    Medium,
    High,
}

impl ConfidenceLevel {
    pub fn from_confidence(confidence: Option<u8>) -> ConfidenceLevel {
        match confidence {
            Some(85..) => ConfidenceLevel::High,
            Some(50..=84) => ConfidenceLevel::Medium,
            Some(15..=49) => ConfidenceLevel::Low,
            Some(0..=14) => ConfidenceLevel::Unverified,
            None => ConfidenceLevel::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConfidenceLevel::Unknown => "unknown",
            ConfidenceLevel::Unverified => "unverified",
            ConfidenceLevel::Low => "low",
            ConfidenceLevel::Medium => "medium",
            ConfidenceLevel::High => "high",
        }
    }
}

impl fmt::Display for ConfidenceLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One indicator from one feed, in Sumo's normalized shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indicator {
    /// Stable within a feed: the STIX or MISP id when the feed has one, otherwise
    /// `<source>:<indicator>`.
    pub id: String,
    /// The value matched against (`indicator` in Sumo's format).
    #[serde(rename = "indicator")]
    pub value: IndicatorValue,
    /// The feed's configured name.
    pub source: String,
    /// Who produced the data inside the feed when it says (a STIX identity, a MISP org).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_detail: Option<String>,
    pub valid_from: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
    /// 0–100; `None` when neither the feed nor its configuration gives one.
    pub confidence: Option<u8>,
    /// STIX `indicator_types` (`malicious-activity`, `compromised`, …).
    pub threat_type: Vec<String>,
    pub actors: Vec<String>,
    /// Kill-chain phases as `<kill_chain_name>:<phase_name>`.
    pub kill_chain: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
    pub labels: Vec<String>,
    /// Feed-specific extras (`sblid`, `rir`, `malware`, `port`, `c2_status`, …).
    pub fields: BTreeMap<String, String>,
}

impl Indicator {
    /// An indicator with only the required parts; readers fill in the rest.
    pub fn new(source: &str, value: IndicatorValue, valid_from: DateTime<Utc>) -> Indicator {
        Indicator {
            id: format!("{source}:{value}"),
            value,
            source: source.to_owned(),
            source_detail: None,
            valid_from,
            valid_until: None,
            confidence: None,
            threat_type: Vec::new(),
            actors: Vec::new(),
            kill_chain: Vec::new(),
            first_seen: None,
            last_seen: None,
            labels: Vec::new(),
            fields: BTreeMap::new(),
        }
    }

    pub fn indicator_type(&self) -> IndicatorType {
        self.value.indicator_type()
    }

    /// The legacy lookup's `type` column: `ip_address`, `email_address` or `domain`.
    pub fn legacy_type(&self) -> &'static str {
        self.indicator_type().legacy_type()
    }

    pub fn confidence_level(&self) -> ConfidenceLevel {
        ConfidenceLevel::from_confidence(self.confidence)
    }

    /// Whether the indicator still applies at `now` (its `valid_until` is not past).
    /// `valid_from` is deliberately not checked: feeds stamp it with the time a sender was
    /// first listed, and mail from the same sender a little earlier is still worth flagging.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.valid_until.is_none_or(|until| now < until)
    }

    /// When the indicator was last confirmed: `last_seen`, else `valid_from`. The "single
    /// best" pick prefers the most recent.
    pub fn updated(&self) -> DateTime<Utc> {
        self.last_seen.unwrap_or(self.valid_from)
    }

    /// The first actor, the legacy lookup's `actor` column.
    pub fn actor(&self) -> Option<&str> {
        self.actors.first().map(String::as_str)
    }

    /// The JSON the legacy lookup returns as `raw`. Labels are objects with a `name` so that
    /// Sumo queries doing `json field=raw "labels[*].name"` work unchanged.
    pub fn raw(&self) -> String {
        let time = |time: &DateTime<Utc>| time.to_rfc3339_opts(SecondsFormat::Secs, true);
        let raw = serde_json::json!({
            "id": self.id,
            "indicator": self.value.to_string(),
            "type": self.indicator_type().as_str(),
            "source": self.source,
            "source_detail": self.source_detail,
            "valid_from": time(&self.valid_from),
            "valid_until": self.valid_until.as_ref().map(time),
            "confidence": self.confidence,
            "malicious_confidence": self.confidence_level().as_str(),
            "threat_type": self.threat_type,
            "actors": self.actors,
            "kill_chain": self.kill_chain,
            "first_seen": self.first_seen.as_ref().map(time),
            "last_seen": self.last_seen.as_ref().map(time),
            "labels": self
                .labels
                .iter()
                .map(|name| serde_json::json!({ "name": name }))
                .collect::<Vec<_>>(),
            "fields": self.fields,
        });
        raw.to_string()
    }
}
