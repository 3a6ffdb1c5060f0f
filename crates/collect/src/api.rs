//! What differs between the two APIs: the first URL of a window, the page format, and where
//! a page keeps its next link.
//!
//! * Graph: `GET {api}/v1.0/admin/exchange/tracing/messageTraces?$filter=receivedDateTime ge
//!   {start} and receivedDateTime le {end}&$top={page_size}`, next page in `@odata.nextLink`
//!   (absolute, followed as is).
//! * Reporting Web Service: `GET {api}/ecp/reportingwebservice/reporting.svc/MessageTrace?
//!   $filter=StartDate eq datetime'{start}' and EndDate eq datetime'{end}'` with `Accept:
//!   application/json` (JSON light, next page in `odata.nextLink`, usually relative:
//!   `../../ReportingWebService/...`) or with `$format=json` as well (verbose, next page in
//!   `d.__next`). Relative links are resolved against the URL of the page that holds them.

use std::fmt;

use chrono::{DateTime, Utc};
use mailscope_record::Format;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use url::Url;

use crate::config::{Api, ReportingFormat, TenantConfig};

/// A half-open query range of `Received` times; both ends are whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} .. {}",
            format_time(self.start),
            format_time(self.end)
        )
    }
}

/// `2026-01-20T00:00:00Z`: the form both APIs document for their filters.
pub fn format_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The record format of a page.
pub fn page_format(config: &TenantConfig) -> Format {
    match (config.api, config.reporting_format) {
        (Api::Graph, _) => Format::GraphJson,
        (Api::Reporting, ReportingFormat::Light) => Format::ReportingJson,
        (Api::Reporting, ReportingFormat::Verbose) => Format::ReportingVerbose,
    }
}

/// A human name of the API for messages.
pub fn api_label(api: Api) -> &'static str {
    match api {
        Api::Graph => "Graph messageTraces",
        Api::Reporting => "Reporting Web Service MessageTrace",
    }
}

/// Headers every page request of the API carries beside the token and `Accept`. Graph sends
/// the members of its evolvable enums added after v1.0 (`recalled` among the statuses) only
/// to a client that asks for them; without it a recalled message reads `unknownFutureValue`.
pub fn extra_headers(api: Api) -> &'static [(&'static str, &'static str)] {
    match api {
        Api::Graph => &[("Prefer", "include-unknown-enum-members")],
        Api::Reporting => &[],
    }
}

/// The URL of a window's first page.
pub fn first_page_url(config: &TenantConfig, window: Window) -> Url {
    let mut url = config.api_url.clone();
    let path: &[&str] = match config.api {
        Api::Graph => &["v1.0", "admin", "exchange", "tracing", "messageTraces"],
        Api::Reporting => &[
            "ecp",
            "reportingwebservice",
            "reporting.svc",
            "MessageTrace",
        ],
    };
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(path);
    }
    let start = format_time(window.start);
    let end = format_time(window.end);
    let mut query = Vec::new();
    match config.api {
        Api::Graph => {
            query.push((
                "$filter",
                format!("receivedDateTime ge {start} and receivedDateTime le {end}"),
            ));
            if let Some(size) = config.page_size {
                query.push(("$top", size.to_string()));
            }
        }
        Api::Reporting => {
            query.push((
                "$filter",
                format!("StartDate eq datetime'{start}' and EndDate eq datetime'{end}'"),
            ));
            if config.reporting_format == ReportingFormat::Verbose {
                query.push(("$format", "json".to_owned()));
            }
        }
    }
    let text: Vec<String> = query
        .iter()
        .map(|(key, value)| format!("{key}={}", encode_query_value(value)))
        .collect();
    url.set_query(Some(&text.join("&")));
    url
}

/// Graph `GET {api}/v1.0/organization?$select=verifiedDomains`: the tenant's domains.
pub fn organization_url(config: &TenantConfig) -> Url {
    let mut url = config.api_url.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(["v1.0", "organization"]);
    }
    url.set_query(Some("$select=verifiedDomains"));
    url
}

/// The initial domain of a `GET /organization` answer (`isInitial`), else the default one,
/// else the first; lower case, and only if it is a plausible domain name.
pub fn initial_domain(body: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        value: Vec<Organization>,
    }
    #[derive(Deserialize)]
    struct Organization {
        #[serde(rename = "verifiedDomains", default)]
        verified_domains: Vec<Domain>,
    }
    #[derive(Deserialize)]
    struct Domain {
        #[serde(default)]
        name: String,
        #[serde(rename = "isInitial", default)]
        is_initial: bool,
        #[serde(rename = "isDefault", default)]
        is_default: bool,
    }
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|error| format!("GET /organization answered what is not its JSON: {error}"))?;
    let domains: Vec<&Domain> = answer
        .value
        .iter()
        .flat_map(|organization| &organization.verified_domains)
        .collect();
    let chosen = domains
        .iter()
        .find(|d| d.is_initial)
        .or_else(|| domains.iter().find(|d| d.is_default))
        .or_else(|| domains.first())
        .ok_or("GET /organization lists no verified domain")?;
    let name = chosen.name.trim().to_ascii_lowercase();
    let plausible = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !plausible {
        return Err(format!(
            "GET /organization names {:?}, which is not a domain",
            name.chars().take(80).collect::<String>()
        ));
    }
    Ok(name)
}

/// Percent-encodes a query value, keeping the characters OData writes literally (`$`, `'`,
/// `:`, `(`, `)`, `,`) and encoding spaces as `%20` (not `+`, which some OData servers keep).
/// The URL parser still writes `'` as `%27` in http(s) queries; servers decode both.
fn encode_query_value(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len() + 16);
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'$'
            | b'\''
            | b':'
            | b'('
            | b')'
            | b',' => encoded.push(char::from(byte)),
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

/// The next link of a page, if any: `@odata.nextLink` (Graph), `odata.nextLink` (JSON
/// light) or `d.__next` (verbose). Only the envelope is decoded; records are skipped.
pub fn next_link(body: &[u8]) -> Result<Option<String>, String> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|error| error.to_string())?;
    Ok(envelope
        .graph
        .or(envelope.light)
        .or(envelope.d.and_then(|d| d.next))
        .filter(|link| !link.trim().is_empty()))
}

/// Resolves `link` against the page URL and refuses links that leave the API's origin (the
/// bearer token is sent with every page).
pub fn resolve_link(page: &Url, link: &str, api_url: &Url) -> Result<Url, String> {
    let resolved = page
        .join(link.trim())
        .map_err(|error| format!("nextLink {link:?} is not a URL: {error}"))?;
    if resolved.origin() != api_url.origin() {
        return Err(api_url.origin().ascii_serialization());
    }
    Ok(resolved)
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "@odata.nextLink")]
    graph: Option<String>,
    #[serde(rename = "odata.nextLink")]
    light: Option<String>,
    d: Option<Verbose>,
}

/// The verbose `d`: an object that may hold `__next`, or the array of rows itself.
struct Verbose {
    next: Option<String>,
}

impl<'de> Deserialize<'de> for Verbose {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VerboseVisitor;

        impl<'de> Visitor<'de> for VerboseVisitor {
            type Value = Verbose;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object or an array")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Verbose, A::Error> {
                let mut next = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "__next" {
                        next = map.next_value::<Option<String>>()?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Verbose { next })
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Verbose, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Verbose { next: None })
            }

            fn visit_unit<E: de::Error>(self) -> Result<Verbose, E> {
                Ok(Verbose { next: None })
            }
        }

        deserializer.deserialize_any(VerboseVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use chrono::TimeZone;

    fn window() -> Window {
        Window {
            start: Utc.with_ymd_and_hms(2026, 1, 20, 0, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2026, 1, 23, 0, 0, 0).unwrap(),
        }
    }

    #[test]
    fn graph_url_has_filter_and_top() {
        let config = TenantConfig::new("t", Api::Graph, "tid", "cid", Secret::new("s"));
        assert_eq!(
            first_page_url(&config, window()).as_str(),
            "https://graph.microsoft.com/v1.0/admin/exchange/tracing/messageTraces?\
             $filter=receivedDateTime%20ge%202026-01-20T00:00:00Z%20and%20receivedDateTime%20le%202026-01-23T00:00:00Z&$top=5000"
        );
    }

    #[test]
    fn reporting_url_keeps_a_base_path_and_asks_for_verbose() {
        let mut config = TenantConfig::new("t", Api::Reporting, "tid", "cid", Secret::new("s"));
        config.api_url = Url::parse("http://127.0.0.1:8080/prefix").unwrap();
        config.reporting_format = ReportingFormat::Verbose;
        assert_eq!(
            first_page_url(&config, window()).as_str(),
            "http://127.0.0.1:8080/prefix/ecp/reportingwebservice/reporting.svc/MessageTrace?\
             $filter=StartDate%20eq%20datetime%272026-01-20T00:00:00Z%27%20and%20EndDate%20eq%20datetime%272026-01-23T00:00:00Z%27&$format=json"
        );
    }

    #[test]
    fn the_initial_domain_is_the_organization() {
        let answer = br#"{"value":[{"id":"x","verifiedDomains":[
            {"name":"Contoso.com","isDefault":true,"isInitial":false},
            {"name":"contoso.onmicrosoft.com","isDefault":false,"isInitial":true}]}]}"#;
        assert_eq!(
            initial_domain(answer).as_deref(),
            Ok("contoso.onmicrosoft.com")
        );
        let no_initial = br#"{"value":[{"verifiedDomains":[
            {"name":"a.example","isDefault":false},{"name":"b.example","isDefault":true}]}]}"#;
        assert_eq!(initial_domain(no_initial).as_deref(), Ok("b.example"));
        assert!(initial_domain(br#"{"value":[]}"#).is_err());
        assert!(
            initial_domain(
                br#"{"value":[{"verifiedDomains":[{"name":"<b>x</b>","isInitial":true}]}]}"#
            )
            .is_err()
        );
        assert!(initial_domain(b"<html>").is_err());
        let mut config = TenantConfig::new("t", Api::Graph, "tid", "cid", Secret::new("s"));
        config.api_url = Url::parse("http://127.0.0.1:9/base/").unwrap();
        assert_eq!(
            organization_url(&config).as_str(),
            "http://127.0.0.1:9/base/v1.0/organization?$select=verifiedDomains"
        );
    }

    #[test]
    fn next_links_of_every_shape() {
        assert_eq!(
            next_link(
                br#"{"@odata.context":"x","value":[{"a":1}],"@odata.nextLink":"https://g/n"}"#
            ),
            Ok(Some("https://g/n".to_owned()))
        );
        assert_eq!(
            next_link(
                br#"{"odata.metadata":"x","value":[],"odata.nextLink":"../../R/M?$skiptoken=2"}"#
            ),
            Ok(Some("../../R/M?$skiptoken=2".to_owned()))
        );
        assert_eq!(
            next_link(br#"{"d":{"results":[{"__metadata":{}}],"__next":"https://r/n"}}"#),
            Ok(Some("https://r/n".to_owned()))
        );
        assert_eq!(next_link(br#"{"d":[{"a":1}]}"#), Ok(None));
        assert_eq!(next_link(br#"{"value":[]}"#), Ok(None));
        assert!(next_link(br#"{"value":[{"a":"#).is_err());
    }

    #[test]
    fn relative_reporting_link_resolves_under_ecp() {
        let api = Url::parse("https://reports.office365.com").unwrap();
        let page = Url::parse(
            "https://reports.office365.com/ecp/reportingwebservice/reporting.svc/MessageTrace?$filter=x",
        )
        .unwrap();
        let next = resolve_link(
            &page,
            "../../ReportingWebService/Reporting.svc/MessageTrace?$skiptoken=2000",
            &api,
        )
        .unwrap();
        assert_eq!(
            next.as_str(),
            "https://reports.office365.com/ecp/ReportingWebService/Reporting.svc/MessageTrace?$skiptoken=2000"
        );
        assert!(resolve_link(&page, "https://evil.example/steal", &api).is_err());
    }
}
