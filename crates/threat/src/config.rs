//! Feed configuration: `[[threat.feed]]` tables in the server's TOML file.
//!
//! ```toml
//! [[threat.feed]]
//! name = "spamhaus-drop"
//! url = "https://example.net/drop_v4.json"   # or: file = "feeds/drop_v4.json"
//! format = "spamhaus-drop-json"              # default "auto"
//! refresh = "6h"                             # raised to the publisher's minimum, with a warning
//! confidence = 80                            # for feeds that carry none
//! threat_type = "malicious-activity"
//! ```
//!
//! The raw tables (serde, unknown keys refused, spans kept) are validated into
//! [`FeedConfig`]s; every error names file, line and column. Other top-level sections of the
//! file belong to other parts of the server and are ignored here.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::read::FeedFormat;

/// Where a feed comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedLocation {
    Url(String),
    File(PathBuf),
}

/// One validated feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedConfig {
    pub name: String,
    pub location: FeedLocation,
    pub format: FeedFormat,
    /// How often to fetch; never below `min_refresh`.
    pub refresh: Duration,
    /// The publisher's floor (Spamhaus one hour, abuse.ch five minutes).
    pub min_refresh: Duration,
    pub confidence: Option<u8>,
    pub threat_type: Option<String>,
    pub enabled: bool,
    /// Bodies larger than this are refused.
    pub max_bytes: u64,
    /// For the whole request, connection to last byte.
    pub timeout: Duration,
}

/// The default cap on a feed body.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

impl FeedConfig {
    /// A feed with the defaults for its location and format.
    pub fn new(name: &str, location: FeedLocation, format: FeedFormat) -> FeedConfig {
        let min_refresh = minimum_refresh(&location, format);
        let refresh = default_refresh(&location, format).max(min_refresh);
        FeedConfig {
            name: name.to_owned(),
            location,
            format,
            refresh,
            min_refresh,
            confidence: None,
            threat_type: None,
            enabled: true,
            max_bytes: DEFAULT_MAX_BYTES,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Which publisher's terms apply, by host or by format.
fn publisher(location: &FeedLocation, format: FeedFormat) -> Option<&'static str> {
    let host = match location {
        FeedLocation::Url(url) => url::Url::parse(url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_ascii_lowercase)),
        FeedLocation::File(_) => None,
    };
    let host = host.as_deref().unwrap_or("");
    let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    if under("spamhaus.org") || under("spamhaus.com") {
        return Some("spamhaus");
    }
    if under("abuse.ch") {
        return Some("abuse.ch");
    }
    if matches!(location, FeedLocation::Url(_)) {
        return match format {
            FeedFormat::SpamhausDrop | FeedFormat::SpamhausDropJson => Some("spamhaus"),
            FeedFormat::FeodoCsv | FeedFormat::SslblCsv => Some("abuse.ch"),
            _ => None,
        };
    }
    None
}

/// Spamhaus: "do not auto-fetch the DROP list more than once per hour". abuse.ch: lists are
/// "generated every 5 minutes. Do not fetch more often". Any other server: one minute. Local
/// files: ten seconds.
pub fn minimum_refresh(location: &FeedLocation, format: FeedFormat) -> Duration {
    match (publisher(location, format), location) {
        (Some("spamhaus"), _) => Duration::from_secs(3600),
        (Some(_), _) => Duration::from_secs(300),
        (None, FeedLocation::Url(_)) => Duration::from_secs(60),
        (None, FeedLocation::File(_)) => Duration::from_secs(10),
    }
}

/// Spamhaus says once a day is more than enough: every 6 hours. abuse.ch: every 15 minutes.
/// Others: hourly; files: every minute.
fn default_refresh(location: &FeedLocation, format: FeedFormat) -> Duration {
    match (publisher(location, format), location) {
        (Some("spamhaus"), _) => Duration::from_secs(6 * 3600),
        (Some(_), _) => Duration::from_secs(900),
        (None, FeedLocation::Url(_)) => Duration::from_secs(3600),
        (None, FeedLocation::File(_)) => Duration::from_secs(60),
    }
}

/// The `[threat]` section: its feeds and what was adjusted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ThreatConfig {
    pub feeds: Vec<FeedConfig>,
    /// Adjustments made (a refresh raised to the publisher's minimum), each naming its place.
    pub warnings: Vec<ConfigError>,
}

/// A configuration problem at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
struct RawRoot {
    threat: Option<RawThreat>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThreat {
    #[serde(default)]
    feed: Vec<Spanned<RawFeed>>,
}

type Text = Option<Spanned<String>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    name: Spanned<String>,
    url: Text,
    file: Text,
    format: Text,
    refresh: Text,
    confidence: Option<Spanned<i64>>,
    threat_type: Text,
    enabled: Option<bool>,
    max_bytes: Option<Spanned<i64>>,
    timeout: Text,
}

struct Place<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Place<'_> {
    fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
        let (line, column) = match span {
            Some(span) => {
                let (line, column) = line_column(self.text, span.start);
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        ConfigError {
            path: self.path.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    fn at<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> ConfigError {
        self.error(Some(value.span()), message)
    }
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let head = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = head.matches('\n').count() + 1;
    let line_start = head.rfind('\n').map_or(0, |newline| newline + 1);
    let column = head
        .get(line_start..)
        .map_or(0, |tail| tail.chars().count())
        + 1;
    (line, column)
}

impl ThreatConfig {
    /// Reads and validates the `[threat]` section of the file at `path`.
    pub fn load(path: &Path) -> Result<ThreatConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
            path: path.to_owned(),
            line: None,
            column: None,
            message: format!("cannot read: {error}"),
        })?;
        ThreatConfig::parse(&text, path)
    }

    /// Validates `text`, the contents of `path` (used in messages and to resolve relative
    /// `file` paths). A file without a `[threat]` section has no feeds.
    pub fn parse(text: &str, path: &Path) -> Result<ThreatConfig, ConfigError> {
        let place = Place { text, path };
        let raw: RawRoot = toml::from_str(text).map_err(|error| {
            place.error(
                error.span(),
                error.message().trim_end_matches('\n').to_owned(),
            )
        })?;
        let mut config = ThreatConfig::default();
        let Some(threat) = raw.threat else {
            return Ok(config);
        };
        let mut names = HashSet::new();
        for feed in &threat.feed {
            let raw = feed.get_ref();
            if !names.insert(raw.name.get_ref().trim().to_ascii_lowercase()) {
                return Err(place.at(
                    &raw.name,
                    "a feed with this name is already configured; names must be unique",
                ));
            }
            let feed = validate(&place, feed, &mut config.warnings)?;
            config.feeds.push(feed);
        }
        Ok(config)
    }
}

fn validate(
    place: &Place,
    spanned: &Spanned<RawFeed>,
    warnings: &mut Vec<ConfigError>,
) -> Result<FeedConfig, ConfigError> {
    let raw = spanned.get_ref();
    let name = raw.name.get_ref().trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(place.at(
            &raw.name,
            "feed name must be non-empty and use only letters, digits, '-', '_' and '.'",
        ));
    }
    let location = match (&raw.url, &raw.file) {
        (Some(url), None) => {
            let text = url.get_ref().trim();
            match url::Url::parse(text) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                    FeedLocation::Url(text.to_owned())
                }
                Ok(parsed) => {
                    return Err(place.at(
                        url,
                        format!("url scheme {:?} is not http or https", parsed.scheme()),
                    ));
                }
                Err(error) => return Err(place.at(url, format!("invalid url: {error}"))),
            }
        }
        (None, Some(file)) => {
            let text = file.get_ref().trim();
            if text.is_empty() {
                return Err(place.at(file, "file must not be empty"));
            }
            FeedLocation::File(resolve(place.path, text))
        }
        (Some(_), Some(file)) => {
            return Err(place.at(file, "give either url or file, not both"));
        }
        (None, None) => {
            return Err(place.error(
                Some(spanned.span()),
                format!("feed {name:?} needs a url or a file"),
            ));
        }
    };
    let format = match &raw.format {
        Some(format) => format
            .get_ref()
            .trim()
            .parse::<FeedFormat>()
            .map_err(|message| place.at(format, message))?,
        None => FeedFormat::Auto,
    };
    let mut feed = FeedConfig::new(name, location, format);
    if let Some(refresh) = &raw.refresh {
        let wanted =
            parse_duration(refresh.get_ref()).map_err(|message| place.at(refresh, message))?;
        if wanted < feed.min_refresh {
            warnings.push(place.at(
                refresh,
                format!(
                    "refresh {} is below this feed's minimum of {}s; using {}s",
                    refresh.get_ref().trim(),
                    feed.min_refresh.as_secs(),
                    feed.min_refresh.as_secs()
                ),
            ));
        }
        feed.refresh = wanted.max(feed.min_refresh);
    }
    if let Some(confidence) = &raw.confidence {
        let value = *confidence.get_ref();
        feed.confidence = Some(
            u8::try_from(value)
                .ok()
                .filter(|&c| c <= 100)
                .ok_or_else(|| place.at(confidence, "confidence must be from 0 to 100"))?,
        );
    }
    if let Some(threat_type) = &raw.threat_type {
        let text = threat_type.get_ref().trim();
        if text.is_empty() {
            return Err(place.at(threat_type, "threat_type must not be empty"));
        }
        feed.threat_type = Some(text.to_owned());
    }
    feed.enabled = raw.enabled.unwrap_or(true);
    if let Some(max_bytes) = &raw.max_bytes {
        feed.max_bytes = u64::try_from(*max_bytes.get_ref())
            .ok()
            .filter(|&bytes| bytes > 0)
            .ok_or_else(|| place.at(max_bytes, "max_bytes must be positive"))?;
    }
    if let Some(timeout) = &raw.timeout {
        feed.timeout = parse_duration(timeout.get_ref())
            .ok()
            .filter(|timeout| !timeout.is_zero())
            .ok_or_else(|| {
                place.at(
                    timeout,
                    "timeout must be a positive duration such as \"30s\"",
                )
            })?;
    }
    Ok(feed)
}

fn resolve(config_path: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        return path.to_owned();
    }
    config_path
        .parent()
        .map_or_else(|| path.to_owned(), |dir| dir.join(path))
}

/// `90s`, `5m`, `1h30m`, `2d`: one or more `<number><unit>` parts; a bare number is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let expected = "expected e.g. \"90s\", \"5m\", \"1h30m\"";
    if trimmed.is_empty() {
        return Err(format!("empty duration; {expected}"));
    }
    let mut total: u64 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let unit_length = rest[digits..]
            .bytes()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        let seconds_per_unit = match &rest[digits..digits + unit_length] {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(format!("{trimmed:?} is not a duration; {expected}")),
        };
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{trimmed:?} is not a duration; {expected}"))?;
        total = number
            .checked_mul(seconds_per_unit)
            .and_then(|seconds| total.checked_add(seconds))
            .ok_or_else(|| format!("{trimmed:?}: duration too large"))?;
        rest = rest[digits + unit_length..].trim_start();
    }
    Ok(Duration::from_secs(total))
}
