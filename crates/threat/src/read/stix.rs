//! STIX 2.1 bundles: `indicator` objects with STIX patterns on addresses, e-mail addresses
//! and domains; `identity` names for `created_by_ref`; `threat-actor` and `intrusion-set`
//! names (related by `indicates` relationships) as actors; `malware` names as labels.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::stix_pattern::{PatternError, parse_pattern};
use super::{FeedParse, LineError, ReadContext, line_of, line_of_needle};
use crate::error::Result;
use crate::indicator::{IndicatorType, IndicatorValue};
use crate::net::{normalize_domain, normalize_email, parse_ip_or_cidr};

pub(super) fn read_bundle(context: &ReadContext, text: &str) -> Result<FeedParse> {
    let root: Value = serde_json::from_str(text).map_err(|error| {
        context.malformed(format!(
            "not a STIX bundle: invalid JSON at line {} column {}: {error}",
            error.line(),
            error.column()
        ))
    })?;
    let objects = match &root {
        Value::Object(map) => match (map.get("type"), map.get("objects")) {
            (Some(Value::String(kind)), Some(Value::Array(objects))) if kind == "bundle" => {
                objects.as_slice()
            }
            (Some(Value::String(kind)), None) if kind == "bundle" => &[],
            _ => return Err(context.malformed("not a STIX bundle: no \"type\": \"bundle\"")),
        },
        Value::Array(objects) => objects.as_slice(),
        _ => return Err(context.malformed("not a STIX bundle: expected a JSON object")),
    };

    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut kinds: HashMap<&str, &str> = HashMap::new();
    let mut indicates: HashMap<&str, Vec<&str>> = HashMap::new();
    for object in objects {
        let (Some(id), Some(kind)) = (string(object, "id"), string(object, "type")) else {
            continue;
        };
        kinds.insert(id, kind);
        if let Some(name) = string(object, "name") {
            names.insert(id, name);
        }
        if kind == "relationship"
            && string(object, "relationship_type") == Some("indicates")
            && let (Some(from), Some(to)) =
                (string(object, "source_ref"), string(object, "target_ref"))
        {
            indicates.entry(from).or_default().push(to);
        }
    }

    let mut parse = FeedParse::default();
    for object in objects {
        if string(object, "type") != Some("indicator") {
            continue;
        }
        let id = string(object, "id").unwrap_or("");
        let line = line_of_needle(text, &format!("\"{id}\""));
        if object.get("revoked") == Some(&Value::Bool(true)) {
            parse
                .skipped
                .push(context.error(line, format!("{id}: revoked")));
            continue;
        }
        match string(object, "pattern_type") {
            Some("stix") => {}
            other => {
                parse.skipped.push(context.error(
                    line,
                    format!(
                        "{id}: pattern_type {:?} is not \"stix\"",
                        other.unwrap_or("")
                    ),
                ));
                continue;
            }
        }
        let Some(pattern) = string(object, "pattern") else {
            parse
                .errors
                .push(context.error(line, format!("{id}: no pattern")));
            continue;
        };
        let comparisons = match parse_pattern(pattern) {
            Ok(comparisons) => comparisons,
            Err(error) => {
                let located = locate(context, text, id, pattern, &error);
                if error.unsupported {
                    parse.skipped.push(located);
                } else {
                    parse.errors.push(located);
                }
                continue;
            }
        };
        let time = |key: &str| -> Result<Option<DateTime<Utc>>, String> {
            match string(object, key) {
                None => Ok(None),
                Some(text) => DateTime::parse_from_rfc3339(text)
                    .map(|time| Some(time.with_timezone(&Utc)))
                    .map_err(|_| format!("{id}: {key} {text:?} is not an RFC 3339 timestamp")),
            }
        };
        let times = (|| {
            Ok::<_, String>((
                time("valid_from")?,
                time("valid_until")?,
                time("created")?,
                time("modified")?,
            ))
        })();
        let (valid_from, valid_until, created, modified) = match times {
            Ok(times) => times,
            Err(message) => {
                parse.errors.push(context.error(line, message));
                continue;
            }
        };
        let confidence = match object.get("confidence") {
            None | Some(Value::Null) => context.default_confidence,
            Some(value) => match value.as_u64().filter(|&c| c <= 100) {
                Some(confidence) => u8::try_from(confidence).ok(),
                None => {
                    parse.errors.push(context.error(
                        line,
                        format!("{id}: confidence {value} is not an integer from 0 to 100"),
                    ));
                    continue;
                }
            },
        };
        let mut actors = Vec::new();
        let mut malware = Vec::new();
        for target in indicates.get(id).map(Vec::as_slice).unwrap_or(&[]) {
            let Some(name) = names.get(target) else {
                continue;
            };
            match kinds.get(target).copied() {
                Some("threat-actor" | "intrusion-set" | "campaign") => {
                    actors.push((*name).to_owned());
                }
                Some("malware") => malware.push((*name).to_owned()),
                _ => {}
            }
        }
        for comparison in comparisons {
            let value = match comparison.object_type {
                IndicatorType::Ipv4Addr | IndicatorType::Ipv6Addr => {
                    parse_ip_or_cidr(&comparison.value).map(IndicatorValue::Ip)
                }
                IndicatorType::EmailAddr => {
                    normalize_email(&comparison.value).map(IndicatorValue::Email)
                }
                IndicatorType::DomainName => {
                    normalize_domain(&comparison.value).map(IndicatorValue::Domain)
                }
            };
            let value = match value {
                Ok(value) => value,
                Err(message) => {
                    let line = pattern_line(text, id, pattern).unwrap_or(line);
                    parse
                        .errors
                        .push(context.error(line, format!("{id}: {message}")));
                    continue;
                }
            };
            if comparison.object_type == IndicatorType::Ipv4Addr
                && value.indicator_type() != IndicatorType::Ipv4Addr
            {
                parse
                    .errors
                    .push(context.error(line, format!("{id}: {value} is not an ipv4-addr value")));
                continue;
            }
            let mut indicator = context.indicator(value, "malicious-activity");
            if !id.is_empty() {
                indicator.id = id.to_owned();
            }
            indicator.valid_from = valid_from.or(created).unwrap_or(context.fetched_at);
            indicator.valid_until = valid_until;
            indicator.first_seen = created;
            indicator.last_seen = modified;
            indicator.confidence = confidence;
            let types = strings(object, "indicator_types");
            if !types.is_empty() && context.threat_type.is_none() {
                indicator.threat_type = types;
            }
            indicator.kill_chain = object
                .get("kill_chain_phases")
                .and_then(Value::as_array)
                .map(|phases| {
                    phases
                        .iter()
                        .filter_map(|phase| {
                            Some(format!(
                                "{}:{}",
                                string(phase, "kill_chain_name")?,
                                string(phase, "phase_name")?
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            indicator.labels = strings(object, "labels");
            indicator.labels.extend(malware.iter().cloned());
            indicator.actors = actors.clone();
            indicator.source_detail = string(object, "created_by_ref")
                .and_then(|creator| names.get(creator))
                .map(|name| (*name).to_owned());
            if let Some(name) = string(object, "name") {
                indicator.fields.insert("name".to_owned(), name.to_owned());
            }
            parse.indicators.push(indicator);
        }
    }
    Ok(parse)
}

fn string<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

fn strings(object: &Value, key: &str) -> Vec<String> {
    object
        .get(key)
        .and_then(Value::as_array)
        .map(|values| {
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The line of the indicator's pattern in the file, searched for as JSON text after its id.
fn pattern_line(text: &str, id: &str, pattern: &str) -> Option<usize> {
    pattern_offset(text, id, pattern).map(|offset| line_of(text, offset))
}

fn pattern_offset(text: &str, id: &str, pattern: &str) -> Option<usize> {
    let after = text.find(&format!("\"{id}\"")).unwrap_or(0);
    let quoted = serde_json::to_string(pattern).ok()?;
    text.get(after..)?
        .find(&quoted)
        .map(|offset| offset + after)
}

/// The error placed at the pattern's line and column in the file when the pattern can be
/// found there (it is searched for as JSON text after the indicator's id).
fn locate(
    context: &ReadContext,
    text: &str,
    id: &str,
    pattern: &str,
    error: &PatternError,
) -> LineError {
    let message = format!(
        "{id}: pattern: {} at column {}",
        error.message, error.column
    );
    let Some(offset) = pattern_offset(text, id, pattern) else {
        return context.error(line_of_needle(text, &format!("\"{id}\"")), message);
    };
    let line = line_of(text, offset);
    let line_start = text[..offset].rfind('\n').map_or(0, |newline| newline + 1);
    let column = text[line_start..offset].chars().count() + 1 + error.column;
    let mut located = context.error(line, message);
    located.column = Some(column);
    located
}
