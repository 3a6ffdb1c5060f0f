//! The file as written (serde, `deny_unknown_fields`, spans kept) and its validation into
//! [`Config`]. Each check reports the span of the value at fault.

use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::{
    Api, Config, ConfigError, Quota, ReportingFormat, RetryPolicy, TenantConfig, TokenVersion,
    parse_duration,
};
use crate::secret::Secret;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: Option<String>,
    #[serde(default)]
    tenant: Vec<Spanned<RawTenant>>,
    /// The threat feeds, which `mailscope-threat` reads from the same file.
    #[serde(rename = "threat")]
    _threat: Option<serde::de::IgnoredAny>,
}

type Text = Option<Spanned<String>>;
type Number = Option<Spanned<i64>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    name: Spanned<String>,
    api: Spanned<String>,
    tenant_id: Spanned<String>,
    client_id: Spanned<String>,
    client_secret: Text,
    client_secret_file: Text,
    client_secret_env: Text,
    source_category: Text,
    organization: Text,
    interval: Text,
    settle: Text,
    lookback: Text,
    deep_lookback: Text,
    deep_every: Text,
    backfill: Text,
    window: Text,
    page_size: Number,
    format: Text,
    quota: Text,
    login_url: Text,
    api_url: Text,
    token_endpoint: Text,
    audience: Text,
    request_timeout: Text,
    max_page_bytes: Number,
    max_window_records: Number,
    retry_initial: Text,
    retry_max: Text,
    retry_attempts: Number,
}

/// Turns spans into positions of one file.
struct Place<'a> {
    text: &'a str,
    path: &'a Path,
    env: Env<'a>,
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
    let offset = offset.min(text.len());
    let head = text.get(..offset).unwrap_or(text);
    let line = head.matches('\n').count() + 1;
    let line_start = head.rfind('\n').map_or(0, |newline| newline + 1);
    let column = head
        .get(line_start..)
        .map_or(0, |tail| tail.chars().count())
        + 1;
    (line, column)
}

/// Looks an environment variable up (the process environment, or a map in tests).
pub(super) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub(super) fn parse(text: &str, path: &Path, env: Env) -> Result<Config, ConfigError> {
    let place = Place { text, path, env };
    let raw: RawConfig = toml::from_str(text).map_err(|error| {
        place.error(
            error.span(),
            error.message().trim_end_matches('\n').to_owned(),
        )
    })?;
    if raw.tenant.is_empty() {
        return Err(place.error(
            None,
            "no [[tenant]] table; a collector needs at least one tenant",
        ));
    }
    let mut names = HashSet::new();
    let mut tenants = Vec::with_capacity(raw.tenant.len());
    for tenant in &raw.tenant {
        let name = tenant.get_ref().name.get_ref().trim().to_lowercase();
        if !names.insert(name) {
            return Err(place.at(
                &tenant.get_ref().name,
                "a tenant with this name is already configured; names must be unique",
            ));
        }
        tenants.push(validate_tenant(&place, tenant)?);
    }
    Ok(Config {
        data_dir: raw.data_dir.map(|dir| resolve(path, &dir)),
        tenants,
    })
}

/// A path relative to the configuration file's directory.
fn resolve(config_path: &Path, path: &str) -> std::path::PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        return path.to_owned();
    }
    config_path
        .parent()
        .map_or_else(|| path.to_owned(), |dir| dir.join(path))
}

fn validate_tenant(
    place: &Place,
    spanned: &Spanned<RawTenant>,
) -> Result<TenantConfig, ConfigError> {
    let raw = spanned.get_ref();
    let name = raw.name.get_ref().trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(place.at(
            &raw.name,
            "tenant name must be non-empty and use only letters, digits, '-', '_' and '.'",
        ));
    }
    let api = match raw.api.get_ref().trim() {
        "graph" => Api::Graph,
        "reporting" => Api::Reporting,
        other => {
            return Err(place.at(
                &raw.api,
                format!("unknown api {other:?}; expected \"graph\" or \"reporting\""),
            ));
        }
    };
    let tenant_id = non_empty(place, &raw.tenant_id, "tenant_id")?;
    let client_id = non_empty(place, &raw.client_id, "client_id")?;
    let secret = client_secret(place, spanned)?;
    let mut config = TenantConfig::new(name, api, tenant_id, client_id, secret);

    if let Some(category) = &raw.source_category {
        config.source_category = non_empty(place, category, "source_category")?;
    }
    config.organization = raw
        .organization
        .as_ref()
        .map(|text| text.get_ref().trim().to_owned())
        .filter(|text| !text.is_empty());
    if let Some(value) = &raw.interval {
        config.interval = positive_duration(place, value)?;
    }
    if let Some(value) = &raw.settle {
        config.settle = duration(place, value)?;
    }
    if let Some(value) = &raw.lookback {
        config.lookback = duration(place, value)?;
    }
    if let Some(value) = &raw.deep_every {
        config.deep_every = positive_duration(place, value)?;
    }
    match &raw.deep_lookback {
        Some(value) => {
            config.deep_lookback = duration(place, value)?;
            if config.deep_lookback < config.lookback {
                return Err(place.at(
                    value,
                    "deep_lookback must be at least lookback (equal turns deep polls off)",
                ));
            }
        }
        // A long lookback is deep already.
        None => config.deep_lookback = config.deep_lookback.max(config.lookback),
    }
    if let Some(value) = &raw.backfill {
        config.backfill = duration(place, value)?;
        if config.backfill > api.max_backfill() {
            return Err(place.at(
                value,
                format!(
                    "backfill may be at most {} for the {api} api",
                    super::format_duration(api.max_backfill())
                ),
            ));
        }
    }
    if let Some(value) = &raw.window {
        config.window = positive_duration(place, value)?;
        if config.window > api.max_window() {
            return Err(place.at(
                value,
                format!(
                    "window may be at most {} for the {api} api",
                    super::format_duration(api.max_window())
                ),
            ));
        }
    }
    if let Some(value) = &raw.page_size {
        if api == Api::Reporting {
            return Err(place.at(
                value,
                "page_size applies to the graph api only; the Reporting Web Service sets its \
                 own page size and $top would cap the whole result",
            ));
        }
        let size = *value.get_ref();
        if !(1..=5000).contains(&size) {
            return Err(place.at(value, "page_size must be between 1 and 5000"));
        }
        config.page_size = u32::try_from(size).ok();
    }
    if let Some(value) = &raw.format {
        if api != Api::Reporting {
            return Err(place.at(value, "format applies to the reporting api only"));
        }
        config.reporting_format = match value.get_ref().trim() {
            "light" | "json" => ReportingFormat::Light,
            "verbose" => ReportingFormat::Verbose,
            other => {
                return Err(place.at(
                    value,
                    format!("unknown format {other:?}; expected \"light\" or \"verbose\""),
                ));
            }
        };
    }
    if let Some(value) = &raw.quota {
        config.quota = quota(place, value)?;
    }
    if let Some(value) = &raw.login_url {
        config.login_url = base_url(place, value)?;
        national_cloud(place, value, &config)?;
    }
    if let Some(value) = &raw.api_url {
        config.api_url = base_url(place, value)?;
        national_cloud(place, value, &config)?;
    }
    if let Some(value) = &raw.token_endpoint {
        config.token_version = match value.get_ref().trim() {
            "v2" | "v2.0" => TokenVersion::V2,
            "v1" => TokenVersion::V1,
            other => {
                return Err(place.at(
                    value,
                    format!("unknown token_endpoint {other:?}; expected \"v2\" or \"v1\""),
                ));
            }
        };
    }
    if let Some(value) = &raw.audience {
        let audience = non_empty(place, value, "audience")?;
        config.audience = audience
            .trim_end_matches("/.default")
            .trim_end_matches('/')
            .to_owned();
    }
    if let Some(value) = &raw.request_timeout {
        config.request_timeout = positive_duration(place, value)?;
    }
    if let Some(value) = &raw.max_page_bytes {
        config.max_page_bytes = positive(place, value, "max_page_bytes")?;
    }
    if let Some(value) = &raw.max_window_records {
        config.max_window_records = positive(place, value, "max_window_records")?;
    }
    config.retry = retry(place, raw)?;
    Ok(config)
}

fn retry(place: &Place, raw: &RawTenant) -> Result<RetryPolicy, ConfigError> {
    let mut retry = RetryPolicy::default();
    if let Some(value) = &raw.retry_initial {
        retry.initial = positive_duration(place, value)?;
    }
    if let Some(value) = &raw.retry_max {
        retry.max = positive_duration(place, value)?;
    }
    if retry.max < retry.initial {
        let at = raw.retry_max.as_ref().or(raw.retry_initial.as_ref());
        return Err(place.error(
            at.map(Spanned::span),
            "retry_max must not be shorter than retry_initial",
        ));
    }
    if let Some(value) = &raw.retry_attempts {
        retry.attempts = u32::try_from(positive(place, value, "retry_attempts")?)
            .map_err(|_| place.at(value, "retry_attempts is too large"))?;
    }
    Ok(retry)
}

/// Exactly one of `client_secret`, `client_secret_file`, `client_secret_env`.
fn client_secret(place: &Place, spanned: &Spanned<RawTenant>) -> Result<Secret, ConfigError> {
    let raw = spanned.get_ref();
    let given = [
        raw.client_secret.is_some(),
        raw.client_secret_file.is_some(),
        raw.client_secret_env.is_some(),
    ]
    .iter()
    .filter(|given| **given)
    .count();
    if given != 1 {
        return Err(place.error(
            Some(spanned.span()),
            "give the client secret exactly once: client_secret, client_secret_file or \
             client_secret_env",
        ));
    }
    if let Some(value) = &raw.client_secret {
        if value.get_ref().is_empty() {
            return Err(place.at(value, "client_secret is empty"));
        }
        return Ok(Secret::new(value.get_ref().clone()));
    }
    if let Some(value) = &raw.client_secret_file {
        let path = resolve(place.path, value.get_ref());
        let text = std::fs::read_to_string(&path).map_err(|error| {
            place.at(
                value,
                format!("cannot read client_secret_file {}: {error}", path.display()),
            )
        })?;
        let secret = text.trim_end_matches(['\r', '\n']);
        if secret.is_empty() {
            return Err(place.at(value, format!("{} is empty", path.display())));
        }
        return Ok(Secret::new(secret));
    }
    if let Some(value) = &raw.client_secret_env {
        let name = value.get_ref();
        return match (place.env)(name) {
            Some(secret) if !secret.is_empty() => Ok(Secret::new(secret)),
            Some(_) => Err(place.at(value, format!("environment variable {name} is empty"))),
            None => Err(place.at(value, format!("environment variable {name} is not set"))),
        };
    }
    Err(place.error(Some(spanned.span()), "no client secret"))
}

fn non_empty(place: &Place, value: &Spanned<String>, key: &str) -> Result<String, ConfigError> {
    let text = value.get_ref().trim();
    if text.is_empty() {
        return Err(place.at(value, format!("{key} is empty")));
    }
    Ok(text.to_owned())
}

fn duration(place: &Place, value: &Spanned<String>) -> Result<Duration, ConfigError> {
    parse_duration(value.get_ref()).map_err(|message| place.at(value, message))
}

fn positive_duration(place: &Place, value: &Spanned<String>) -> Result<Duration, ConfigError> {
    let parsed = duration(place, value)?;
    if parsed.is_zero() {
        return Err(place.at(value, "duration must be greater than zero"));
    }
    Ok(parsed)
}

fn positive(place: &Place, value: &Spanned<i64>, key: &str) -> Result<usize, ConfigError> {
    usize::try_from(*value.get_ref())
        .ok()
        .filter(|number| *number > 0)
        .ok_or_else(|| place.at(value, format!("{key} must be a positive number")))
}

/// `"100/5m"`, or `"none"` for no client-side limit.
fn quota(place: &Place, value: &Spanned<String>) -> Result<Option<Quota>, ConfigError> {
    let text = value.get_ref().trim();
    if text == "none" {
        return Ok(None);
    }
    let malformed = || {
        place.at(
            value,
            format!("{text:?} is not a quota; expected e.g. \"100/5m\" or \"none\""),
        )
    };
    let (count, period) = text.split_once('/').ok_or_else(malformed)?;
    let requests: u32 = count.trim().parse().map_err(|_| malformed())?;
    let period = parse_duration(period).map_err(|message| place.at(value, message))?;
    if requests == 0 || period.is_zero() {
        return Err(place.at(
            value,
            "a quota needs at least one request per non-zero period",
        ));
    }
    Ok(Some(Quota { requests, period }))
}

/// Hosts of the national clouds (US Government GCC High and DoD, China operated by 21Vianet).
const NATIONAL_CLOUD_HOSTS: [&str; 7] = [
    "login.microsoftonline.us",
    "graph.microsoft.us",
    "dod-graph.microsoft.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
    "microsoftgraph.chinacloudapi.cn",
    "reports.office365.us",
];

/// Microsoft Graph message trace is served in the global cloud only: a national cloud's
/// endpoint is refused here, with the reason, rather than failing at the first poll.
fn national_cloud(
    place: &Place,
    value: &Spanned<String>,
    config: &TenantConfig,
) -> Result<(), ConfigError> {
    let host = Url::parse(value.get_ref().trim())
        .ok()
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    if config.api == Api::Graph && NATIONAL_CLOUD_HOSTS.contains(&host.as_str()) {
        return Err(place.at(
            value,
            format!(
                "{host} is a national cloud's endpoint (GCC High, DoD or 21Vianet): Microsoft \
                 Graph serves message trace in the global cloud only, so this tenant cannot be \
                 collected from Graph"
            ),
        ));
    }
    Ok(())
}

fn base_url(place: &Place, value: &Spanned<String>) -> Result<Url, ConfigError> {
    let url = Url::parse(value.get_ref().trim())
        .map_err(|error| place.at(value, format!("not a URL: {error}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.cannot_be_a_base() {
        return Err(place.at(value, "expected an http or https base URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(place.at(value, "a base URL cannot have a query or fragment"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests;
