//! Feed readers: bytes of one feed in, indicators plus per-line errors out.
//!
//! A bad line is reported ([`LineError`]) and skipped; the good lines are kept. A body that
//! is not the feed at all (an HTML error page, an empty or truncated download, STIX that is
//! not JSON, a list in which no line is an indicator) is an [`Error::Malformed`], so the
//! store keeps serving the last good copy.

mod csv;
mod lists;
pub(crate) mod misp;
mod stix;
mod stix_pattern;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::indicator::{Indicator, IndicatorValue};

pub use misp::{ManifestEntry, read_manifest};
pub use stix_pattern::{Comparison, PatternError, parse_pattern};

/// The feed formats understood, by their configuration names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedFormat {
    /// Sniff the format from the body.
    Auto,
    /// Spamhaus DROP text: `1.10.16.0/20 ; SBL256894`, `;` comments.
    SpamhausDrop,
    /// Spamhaus DROP JSON lines: `{"cidr":…,"sblid":…,"rir":…}` and a final metadata line.
    SpamhausDropJson,
    /// FireHOL netset: `#` comments, one address or network per line.
    FireholNetset,
    /// A plain list, one address or network per line, `#` comments (Emerging Threats
    /// compromised-ips, blocklist.de, CINS).
    IpList,
    /// abuse.ch Feodo Tracker CSV.
    FeodoCsv,
    /// abuse.ch SSLBL botnet C2 IP CSV.
    SslblCsv,
    /// A STIX 2.1 bundle.
    Stix,
    /// One MISP event (`{"Event": {…}}`).
    MispEvent,
    /// A MISP feed directory: the location is the directory (or its `manifest.json`); the
    /// store fetches the manifest and the newest events. As bytes, the stored copy: a JSON
    /// array of events.
    MispFeed,
}

impl FeedFormat {
    pub const ALL: [FeedFormat; 10] = [
        FeedFormat::Auto,
        FeedFormat::SpamhausDrop,
        FeedFormat::SpamhausDropJson,
        FeedFormat::FireholNetset,
        FeedFormat::IpList,
        FeedFormat::FeodoCsv,
        FeedFormat::SslblCsv,
        FeedFormat::Stix,
        FeedFormat::MispEvent,
        FeedFormat::MispFeed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FeedFormat::Auto => "auto",
            FeedFormat::SpamhausDrop => "spamhaus-drop",
            FeedFormat::SpamhausDropJson => "spamhaus-drop-json",
            FeedFormat::FireholNetset => "firehol-netset",
            FeedFormat::IpList => "ip-list",
            FeedFormat::FeodoCsv => "feodo-csv",
            FeedFormat::SslblCsv => "sslbl-csv",
            FeedFormat::Stix => "stix",
            FeedFormat::MispEvent => "misp-event",
            FeedFormat::MispFeed => "misp-feed",
        }
    }
}

impl fmt::Display for FeedFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FeedFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        FeedFormat::ALL
            .into_iter()
            .find(|format| format.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = FeedFormat::ALL.iter().map(|f| f.as_str()).collect();
                format!(
                    "unknown format {text:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// A line (or object) a reader could not use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    /// The feed's name.
    pub source: String,
    /// 1-based line of the body.
    pub line: usize,
    /// 1-based column (in characters) where it helps, e.g. inside a STIX pattern.
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.source, self.line)?;
        if let Some(column) = self.column {
            write!(f, ":{column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What a reader made of one body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedParse {
    pub indicators: Vec<Indicator>,
    /// Lines that should have been indicators but are not (bad addresses, wrong columns).
    pub errors: Vec<LineError>,
    /// Entries that are valid but of a kind not matched here (STIX patterns on URLs or
    /// hashes, MISP attributes of other types, MISP attributes not meant for detection).
    pub skipped: Vec<LineError>,
}

/// What readers need beyond the bytes: the feed's name and the configured defaults.
#[derive(Debug, Clone)]
pub struct ReadContext {
    pub source: String,
    /// `valid_from` of indicators whose feed gives no date.
    pub fetched_at: DateTime<Utc>,
    /// Confidence of indicators whose feed gives none.
    pub default_confidence: Option<u8>,
    /// Replaces the format's own default threat type when set.
    pub threat_type: Option<String>,
}

impl ReadContext {
    pub fn new(source: &str, fetched_at: DateTime<Utc>) -> ReadContext {
        ReadContext {
            source: source.to_owned(),
            fetched_at,
            default_confidence: None,
            threat_type: None,
        }
    }

    pub(crate) fn error(&self, line: usize, message: impl Into<String>) -> LineError {
        LineError {
            source: self.source.clone(),
            line,
            column: None,
            message: message.into(),
        }
    }

    pub(crate) fn malformed(&self, message: impl Into<String>) -> Error {
        Error::malformed(&self.source, message)
    }

    /// A new indicator with the context's defaults applied.
    pub(crate) fn indicator(&self, value: IndicatorValue, default_threat: &str) -> Indicator {
        let mut indicator = Indicator::new(&self.source, value, self.fetched_at);
        indicator.confidence = self.default_confidence;
        indicator.threat_type = vec![
            self.threat_type
                .clone()
                .unwrap_or_else(|| default_threat.to_owned()),
        ];
        indicator
    }
}

/// Reads `bytes` as `format` (sniffing it for [`FeedFormat::Auto`]).
pub fn read(context: &ReadContext, format: FeedFormat, bytes: &[u8]) -> Result<FeedParse> {
    let text = text_of(context, bytes)?;
    let format = match format {
        FeedFormat::Auto => detect(text).ok_or_else(|| {
            context.malformed("cannot tell the feed's format; set `format` explicitly")
        })?,
        format => format,
    };
    let parse = match format {
        FeedFormat::SpamhausDrop
        | FeedFormat::FireholNetset
        | FeedFormat::IpList
        | FeedFormat::Auto => lists::read_text_list(context, format, text),
        FeedFormat::SpamhausDropJson => lists::read_drop_json(context, text),
        FeedFormat::FeodoCsv => csv::read_feodo(context, text),
        FeedFormat::SslblCsv => csv::read_sslbl(context, text),
        FeedFormat::Stix => stix::read_bundle(context, text),
        FeedFormat::MispEvent => misp::read_event(context, text),
        FeedFormat::MispFeed => misp::read_event_list(context, text),
    }?;
    Ok(parse)
}

/// Reads `bytes` with default options (no default confidence, `valid_from` now).
pub fn read_bytes(source: &str, format: FeedFormat, bytes: &[u8]) -> Result<FeedParse> {
    read(&ReadContext::new(source, Utc::now()), format, bytes)
}

/// The body as text, refusing what no feed can be: empty, not UTF-8, an HTML page.
fn text_of<'a>(context: &ReadContext, bytes: &'a [u8]) -> Result<&'a str> {
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let line = bytes[..error.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        context.malformed(format!("not UTF-8 text (invalid byte on line {line})"))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let start = text.trim_start();
    if start.is_empty() {
        return Err(context.malformed("empty feed"));
    }
    let head: String = start
        .chars()
        .take(512)
        .collect::<String>()
        .to_ascii_lowercase();
    if head.starts_with("<!doctype html")
        || head.starts_with("<html")
        || (head.starts_with('<') && head.contains("<html"))
        || head.starts_with("<?xml")
    {
        return Err(context
            .malformed("the body is an HTML or XML page, not a feed (an error or login page?)"));
    }
    Ok(text)
}

/// Guesses the format from the first meaningful lines.
pub fn detect(text: &str) -> Option<FeedFormat> {
    let start = text.trim_start();
    if start.starts_with('{') || start.starts_with('[') {
        let head: String = start.chars().take(4096).collect();
        let first_line = start.lines().next().unwrap_or("");
        if first_line.contains("\"cidr\"") || first_line.contains("\"type\":\"metadata\"") {
            return Some(FeedFormat::SpamhausDropJson);
        }
        if head.contains("\"Event\"") {
            if start.starts_with('[') {
                return Some(FeedFormat::MispFeed);
            }
            return Some(FeedFormat::MispEvent);
        }
        if head.contains("\"bundle\"") || head.contains("\"objects\"") {
            return Some(FeedFormat::Stix);
        }
        return None;
    }
    let mut firehol = false;
    for line in text.lines().take(200) {
        let line = line.trim();
        let lower = line.to_ascii_lowercase();
        if lower.contains("first_seen_utc") || lower.starts_with("# firstseen,dstip,dstport,") {
            return Some(FeedFormat::FeodoCsv);
        }
        if lower.starts_with("# firstseen,dstip,dstport") {
            return Some(FeedFormat::SslblCsv);
        }
        if lower.starts_with(';') || lower.contains(" ; sbl") {
            return Some(FeedFormat::SpamhausDrop);
        }
        if lower.starts_with('#') && lower.contains("firehol") {
            firehol = true;
        }
        if !line.is_empty() && !line.starts_with('#') {
            break;
        }
    }
    Some(if firehol {
        FeedFormat::FireholNetset
    } else {
        FeedFormat::IpList
    })
}

/// 1-based line of byte `offset`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .get(..offset.min(text.len()))
        .map_or(0, |head| head.iter().filter(|&&b| b == b'\n').count())
        + 1
}

/// The 1-based line on which `needle` (e.g. an object's quoted id) first appears, else 1. JSON
/// values lose their positions once parsed; this finds them again for error messages.
pub(crate) fn line_of_needle(text: &str, needle: &str) -> usize {
    if needle.is_empty() {
        return 1;
    }
    text.find(needle).map_or(1, |offset| line_of(text, offset))
}

/// A whole body in which no line was usable is not a feed of this format.
pub(crate) fn check_not_all_bad(context: &ReadContext, parse: &FeedParse) -> Result<()> {
    if parse.indicators.is_empty()
        && let Some(first) = parse.errors.first()
    {
        return Err(context.malformed(format!(
            "no valid indicator in the feed; first error on line {}: {}",
            first.line, first.message
        )));
    }
    Ok(())
}
