//! MISP feeds: one event per file (`{"Event": {…}}`) and the feed's `manifest.json`.
//!
//! Attributes of types `ip-src`, `ip-dst`, `ip-src|port`, `ip-dst|port`, `email-src`,
//! `email`, `domain` and `hostname` become indicators, from the event and from its objects.
//! Attributes not flagged `to_ids` are context, not detection data, and are skipped, as are
//! deleted ones. Tags become labels; `misp-galaxy:threat-actor="…"` tags and threat-actor
//! galaxy clusters become actors; the event's `threat_level_id` becomes the confidence
//! (1 high → 85, 2 medium → 50, 3 low → 15, 4 undefined → the feed's default), the same
//! cut points as the display labels.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{FeedParse, ReadContext, line_of_needle};
use crate::error::Result;
use crate::indicator::IndicatorValue;
use crate::net::{normalize_domain, normalize_email, parse_ip_or_cidr};

pub(super) fn read_event(context: &ReadContext, text: &str) -> Result<FeedParse> {
    let root: Value = serde_json::from_str(text).map_err(|error| {
        context.malformed(format!(
            "not a MISP event: invalid JSON at line {} column {}: {error}",
            error.line(),
            error.column()
        ))
    })?;
    let Some(event) = root.get("Event").filter(|event| event.is_object()) else {
        return Err(context.malformed("not a MISP event: no \"Event\" object"));
    };
    let mut parse = FeedParse::default();
    read_one_event(context, text, event, &mut parse);
    Ok(parse)
}

/// The stored copy of a MISP feed directory: a JSON array of its events, as the store
/// writes it after fetching `manifest.json` and each event.
pub(super) fn read_event_list(context: &ReadContext, text: &str) -> Result<FeedParse> {
    let root: Value = serde_json::from_str(text).map_err(|error| {
        context.malformed(format!(
            "not a list of MISP events: invalid JSON at line {} column {}: {error}",
            error.line(),
            error.column()
        ))
    })?;
    let Value::Array(events) = root else {
        return Err(context.malformed("not a list of MISP events: expected a JSON array"));
    };
    let mut parse = FeedParse::default();
    for (position, item) in events.iter().enumerate() {
        match item.get("Event").filter(|event| event.is_object()) {
            Some(event) => read_one_event(context, text, event, &mut parse),
            None => {
                let uuid = string(item, "uuid").unwrap_or("");
                let line = line_of_needle(text, &format!("\"{uuid}\""));
                parse.errors.push(context.error(
                    line,
                    format!(
                        "item {} is not a MISP event (no \"Event\" object)",
                        position + 1
                    ),
                ));
            }
        }
    }
    Ok(parse)
}

/// Adds one event's indicators, errors and skipped entries to `parse`.
fn read_one_event(context: &ReadContext, text: &str, event: &Value, parse: &mut FeedParse) {
    let event_uuid = string(event, "uuid").unwrap_or("");
    let event_tags = tag_names(event);
    let mut actors: Vec<String> = event_tags
        .iter()
        .filter_map(|tag| actor_of_tag(tag))
        .collect();
    for galaxy in array(event, "Galaxy") {
        for cluster in array(galaxy, "GalaxyCluster") {
            if string(cluster, "type").or(string(galaxy, "type")) == Some("threat-actor")
                && let Some(name) = string(cluster, "value")
                && !actors.iter().any(|actor| actor == name)
            {
                actors.push(name.to_owned());
            }
        }
    }
    let confidence = match number(event, "threat_level_id") {
        Some(1) => Some(85),
        Some(2) => Some(50),
        Some(3) => Some(15),
        _ => context.default_confidence,
    };
    let event_date = string(event, "date")
        .and_then(|date| super::csv::parse_time(date).ok())
        .or_else(|| timestamp(event, "timestamp"));
    let organisation = event
        .get("Orgc")
        .and_then(|org| string(org, "name"))
        .map(str::to_owned);

    let mut skipped_types: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let attributes = array(event, "Attribute").iter().chain(
        array(event, "Object")
            .iter()
            .flat_map(|object| array(object, "Attribute")),
    );
    for attribute in attributes {
        let uuid = string(attribute, "uuid").unwrap_or("");
        let line = line_of_needle(text, &format!("\"{uuid}\""));
        let kind = string(attribute, "type").unwrap_or("");
        let value_text = string(attribute, "value").unwrap_or("");
        if attribute.get("deleted") == Some(&Value::Bool(true)) {
            continue;
        }
        let value = match kind {
            "ip-src" | "ip-dst" => parse_ip_or_cidr(value_text).map(IndicatorValue::Ip),
            "ip-src|port" | "ip-dst|port" => {
                let address = value_text.split_once('|').map_or(value_text, |(ip, _)| ip);
                parse_ip_or_cidr(address).map(IndicatorValue::Ip)
            }
            "email-src" | "email" => normalize_email(value_text).map(IndicatorValue::Email),
            "domain" | "hostname" => normalize_domain(value_text).map(IndicatorValue::Domain),
            other => {
                let entry = skipped_types.entry(other.to_owned()).or_insert((line, 0));
                entry.1 += 1;
                continue;
            }
        };
        let value = match value {
            Ok(value) => value,
            Err(message) => {
                parse
                    .errors
                    .push(context.error(line, format!("attribute {uuid} ({kind}): {message}")));
                continue;
            }
        };
        if !truthy(attribute.get("to_ids")) {
            parse.skipped.push(context.error(
                line,
                format!("attribute {uuid} ({kind} {value}): not flagged to_ids"),
            ));
            continue;
        }
        let mut indicator = context.indicator(value, "malicious-activity");
        if !uuid.is_empty() {
            indicator.id = uuid.to_owned();
        }
        let changed = timestamp(attribute, "timestamp");
        let first_seen = string(attribute, "first_seen").and_then(rfc3339);
        indicator.valid_from = first_seen
            .or(event_date)
            .or(changed)
            .unwrap_or(context.fetched_at);
        indicator.first_seen = first_seen.or(event_date);
        indicator.last_seen = string(attribute, "last_seen").and_then(rfc3339).or(changed);
        indicator.confidence = confidence;
        indicator.actors = actors.clone();
        indicator.labels = event_tags.clone();
        for tag in tag_names(attribute) {
            if !indicator.labels.contains(&tag) {
                indicator.labels.push(tag);
            }
        }
        indicator.source_detail = organisation.clone();
        indicator
            .fields
            .insert("misp_type".to_owned(), kind.to_owned());
        if let Some(category) = string(attribute, "category") {
            indicator
                .fields
                .insert("category".to_owned(), category.to_owned());
        }
        if let Some((_, port)) = value_text.split_once('|') {
            indicator.fields.insert("port".to_owned(), port.to_owned());
        }
        if !event_uuid.is_empty() {
            indicator
                .fields
                .insert("event_uuid".to_owned(), event_uuid.to_owned());
        }
        if let Some(info) = string(event, "info") {
            indicator.fields.insert("event".to_owned(), info.to_owned());
        }
        parse.indicators.push(indicator);
    }
    for (kind, (line, count)) in skipped_types {
        parse.skipped.push(context.error(
            line,
            format!("{count} attribute(s) of type {kind:?} (not an address, e-mail or domain)"),
        ));
    }
}

/// One event listed in a MISP feed's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    pub uuid: String,
    pub info: String,
    pub timestamp: Option<DateTime<Utc>>,
}

/// Reads a MISP `manifest.json` (`{"<event uuid>": {"info": …, "timestamp": …}, …}`),
/// newest first. Keys that are not UUIDs are refused: they become file names.
pub fn read_manifest(source: &str, bytes: &[u8]) -> Result<Vec<ManifestEntry>> {
    let malformed = |message: String| crate::error::Error::malformed(source, message);
    let root: Value = serde_json::from_slice(bytes).map_err(|error| {
        malformed(format!(
            "not a MISP manifest: invalid JSON at line {} column {}: {error}",
            error.line(),
            error.column()
        ))
    })?;
    let Value::Object(map) = root else {
        return Err(malformed(
            "not a MISP manifest: expected a JSON object".to_owned(),
        ));
    };
    let mut entries = Vec::with_capacity(map.len());
    for (uuid, event) in &map {
        let valid = uuid.len() == 36
            && uuid
                .bytes()
                .all(|byte| byte.is_ascii_hexdigit() || byte == b'-');
        if !valid {
            return Err(malformed(format!(
                "not a MISP manifest: key {uuid:?} is not an event UUID"
            )));
        }
        entries.push(ManifestEntry {
            uuid: uuid.clone(),
            info: string(event, "info").unwrap_or("").to_owned(),
            timestamp: timestamp(event, "timestamp"),
        });
    }
    entries.sort_by(|a, b| {
        b.timestamp
            .cmp(&a.timestamp)
            .then_with(|| a.uuid.cmp(&b.uuid))
    });
    Ok(entries)
}

fn string<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

fn array<'a>(object: &'a Value, key: &str) -> &'a [Value] {
    object
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// MISP writes numbers both as JSON numbers and as strings.
fn number(object: &Value, key: &str) -> Option<i64> {
    match object.get(key)? {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn timestamp(object: &Value, key: &str) -> Option<DateTime<Utc>> {
    number(object, key).and_then(|seconds| DateTime::from_timestamp(seconds, 0))
}

fn rfc3339(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

fn truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::Number(number)) => number.as_i64() == Some(1),
        Some(Value::String(text)) => matches!(text.as_str(), "1" | "true" | "True"),
        _ => false,
    }
}

fn tag_names(object: &Value) -> Vec<String> {
    array(object, "Tag")
        .iter()
        .filter_map(|tag| string(tag, "name"))
        .map(str::to_owned)
        .collect()
}

fn actor_of_tag(tag: &str) -> Option<String> {
    let name = tag.strip_prefix("misp-galaxy:threat-actor=")?;
    Some(name.trim_matches('"').to_owned())
}
