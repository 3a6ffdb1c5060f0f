//! Operators that make fields from text or from reference data: `json`, `json auto`,
//! `parse` (anchors), `parse regex`/`extract`, `split`/`csv`, `lookup`, `threatip`,
//! `threatlookup`.

use std::collections::BTreeSet;

use mailscope_query::ir::{self, JsonStep, LookupTable};

use crate::functions::is_public;
use crate::relation::{Column, Context, Relation, Row};
use crate::value::{Kind, Value};
use crate::{Error, Result, record};

/// The text a parsing operator reads: the named field, or `_raw`.
fn source_text(
    context: &Context,
    relation: &Relation,
    row: &Row,
    source: Option<&str>,
) -> Option<String> {
    relation
        .field(context, row, source.unwrap_or("_raw"))
        .text()
}

fn reads_raw(source: Option<&str>) -> bool {
    source.is_none_or(|s| s.eq_ignore_ascii_case("_raw"))
}

/// The value at a JSONPath-subset path of a JSON text: a string as itself, other values as
/// compact JSON; with a `[*]` step, every value found as a JSON array. Null when the text is
/// not JSON, the path is missing or the value is `null`.
pub fn json_path(text: &str, path: &ir::JsonPath) -> Option<String> {
    let document: serde_json::Value = serde_json::from_str(text).ok()?;
    let mut current = vec![&document];
    for step in &path.steps {
        let mut next = Vec::new();
        for value in current {
            match step {
                JsonStep::Key(key) => next.extend(value.as_object().and_then(|o| o.get(key))),
                JsonStep::Index(index) => next.extend(value.as_array().and_then(|a| a.get(*index))),
                JsonStep::Wildcard => match value {
                    serde_json::Value::Array(items) => next.extend(items.iter()),
                    serde_json::Value::Object(map) => next.extend(map.values()),
                    _ => {}
                },
            }
        }
        current = next;
    }
    if path.steps.iter().any(|s| matches!(s, JsonStep::Wildcard)) {
        if current.is_empty() {
            return None;
        }
        let array: Vec<serde_json::Value> = current.into_iter().cloned().collect();
        return Some(serde_json::Value::Array(array).to_string());
    }
    match current.first()? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `json [field=f] "k1", "k2" [as a, b] [nodrop]`. A canonical key read from a stored row is
/// the stored field (typed: `Received` a time, `Size` and `Index` integers); any other path
/// is read from the text. Without `nodrop` a row is dropped when a path (other than a
/// canonical key) gives null.
pub fn json(
    context: &Context,
    relation: &mut Relation,
    source: Option<&str>,
    extractions: &[ir::JsonExtraction],
    nodrop: bool,
) -> Result<()> {
    let canonical: Vec<Option<&str>> = extractions
        .iter()
        .map(|e| match e.path.steps.as_slice() {
            [JsonStep::Key(key)] if reads_raw(source) && relation.stored => {
                record::KEYS.iter().find(|k| *k == key).copied()
            }
            _ => None,
        })
        .collect();
    let columns: Vec<Column> = extractions
        .iter()
        .zip(&canonical)
        .map(|(e, key)| Column {
            name: e.alias.clone(),
            kind: key.map_or(Kind::Text, record::kind),
        })
        .collect();
    let mut keep = Vec::new();
    let mut values = Vec::new();
    for row in &relation.rows {
        let text = source_text(context, relation, row, source);
        let mut cells = Vec::new();
        let mut complete = true;
        for (extraction, key) in extractions.iter().zip(&canonical) {
            let cell = match (key, row.origin) {
                (Some(key), Some(origin)) => record::field(&context.input[origin], key),
                _ => {
                    let found = text.as_deref().and_then(|t| json_path(t, &extraction.path));
                    complete &= found.is_some();
                    found.map_or(Value::Null, Value::Text)
                }
            };
            cells.push(cell);
        }
        keep.push(nodrop || complete);
        values.push(cells);
    }
    relation.assign(columns, values);
    let mut verdicts = keep.into_iter();
    relation.rows.retain(|_| verdicts.next().unwrap_or(false));
    Ok(())
}

/// Most keys `json auto` extracts (Sumo's limit).
const MAX_AUTO_KEYS: usize = 100;

/// `json auto [field=f]`: over stored rows' `_raw`, the 14 canonical fields; otherwise every
/// top-level key found in the rows' JSON objects (at most 100, alphabetically), spaces in
/// names becoming `_`, objects and arrays as JSON text.
pub fn json_auto(context: &Context, relation: &mut Relation, source: Option<&str>) -> Result<()> {
    if reads_raw(source) && relation.stored {
        let columns = record::KEYS
            .iter()
            .map(|k| Column {
                name: k.to_string(),
                kind: record::kind(k),
            })
            .collect();
        let values = relation
            .rows
            .iter()
            .map(|row| match row.origin {
                Some(origin) => record::KEYS
                    .iter()
                    .map(|k| record::field(&context.input[origin], k))
                    .collect(),
                None => vec![Value::Null; record::KEYS.len()],
            })
            .collect();
        relation.assign(columns, values);
        return Ok(());
    }
    let texts: Vec<Option<String>> = relation
        .rows
        .iter()
        .map(|row| source_text(context, relation, row, source))
        .collect();
    let mut keys = BTreeSet::new();
    for text in texts.iter().flatten() {
        if let Ok(serde_json::Value::Object(object)) = serde_json::from_str(text) {
            keys.extend(object.keys().cloned());
        }
    }
    let keys: Vec<String> = keys.into_iter().take(MAX_AUTO_KEYS).collect();
    let paths: Vec<ir::JsonPath> = keys
        .iter()
        .map(|k| ir::JsonPath {
            text: k.clone(),
            steps: vec![JsonStep::Key(k.clone())],
        })
        .collect();
    let columns = keys
        .iter()
        .map(|k| Column {
            name: k.replace(' ', "_"),
            kind: Kind::Text,
        })
        .collect();
    let values = texts
        .iter()
        .map(|text| {
            paths
                .iter()
                .map(|p| {
                    text.as_deref()
                        .and_then(|t| json_path(t, p))
                        .map_or(Value::Null, Value::Text)
                })
                .collect()
        })
        .collect();
    relation.assign(columns, values);
    Ok(())
}

/// An anchor parse of `text`: the first anchor anywhere, then each field up to the next
/// occurrence of the following anchor; the last field runs to the end when the pattern
/// ends with `*`.
pub fn anchor_match(text: &str, anchors: &[String]) -> Option<Vec<String>> {
    let fields = anchors.len().checked_sub(1)?;
    let first = anchors.first()?;
    let mut at = text.find(first.as_str())? + first.len();
    let mut out = Vec::with_capacity(fields);
    for (i, anchor) in anchors.iter().enumerate().skip(1) {
        let last = i == fields;
        if last && anchor.is_empty() {
            out.push(text[at..].to_string());
            at = text.len();
        } else {
            let end = at + text[at..].find(anchor.as_str())?;
            out.push(text[at..end].to_string());
            at = end + anchor.len();
        }
    }
    Some(out)
}

/// `parse [field=f] "a*b*c" as x, y [nodrop]`.
pub fn parse_anchors(
    context: &Context,
    relation: &mut Relation,
    source: Option<&str>,
    anchors: &[String],
    aliases: &[String],
    nodrop: bool,
) -> Result<()> {
    let results: Vec<Option<Vec<String>>> = relation
        .rows
        .iter()
        .map(|row| {
            source_text(context, relation, row, source).and_then(|t| anchor_match(&t, anchors))
        })
        .collect();
    let keep: Vec<bool> = results.iter().map(|r| nodrop || r.is_some()).collect();
    let values = results
        .into_iter()
        .map(|r| match r {
            Some(fields) => fields.into_iter().map(Value::Text).collect(),
            None => vec![Value::Null; aliases.len()],
        })
        .collect();
    relation.assign(text_columns(aliases), values);
    let mut verdicts = keep.into_iter();
    relation.rows.retain(|_| verdicts.next().unwrap_or(false));
    Ok(())
}

fn text_columns(names: &[String]) -> Vec<Column> {
    names
        .iter()
        .map(|n| Column {
            name: n.clone(),
            kind: Kind::Text,
        })
        .collect()
}

/// `parse regex [field=f] "re" [nodrop] [multi]` (and `extract`): the named groups of the
/// first match (a group that did not take part is null); with `multi`, one row per match.
/// A row without a match is dropped, or kept once with null groups under `nodrop`.
pub fn parse_regex(
    context: &Context,
    relation: &mut Relation,
    source: Option<&str>,
    pattern: &str,
    groups: &[String],
    nodrop: bool,
    multi: bool,
) -> Result<()> {
    let regex = context.regex(pattern)?;
    let group_values = |captures: &regex::Captures| -> Vec<Value> {
        groups
            .iter()
            .map(|g| {
                captures
                    .name(g)
                    .map_or(Value::Null, |m| Value::Text(m.as_str().to_string()))
            })
            .collect()
    };
    let width = relation.columns.len();
    let mut rows = Vec::new();
    let mut values = Vec::new();
    for row in &relation.rows {
        let text = source_text(context, relation, row, source);
        let mut matches: Vec<Vec<Value>> = match &text {
            Some(t) if multi => regex.captures_iter(t).map(|c| group_values(&c)).collect(),
            Some(t) => regex
                .captures(t)
                .map(|c| group_values(&c))
                .into_iter()
                .collect(),
            None => Vec::new(),
        };
        if matches.is_empty() && nodrop {
            matches.push(vec![Value::Null; groups.len()]);
        }
        for found in matches {
            rows.push(Row {
                values: row.values[..width].to_vec(),
                origin: row.origin,
            });
            values.push(found);
        }
    }
    relation.rows = rows;
    relation.assign(text_columns(groups), values);
    Ok(())
}

/// The columns of one delimited line: `quote` encloses text that may hold the delimiter
/// (the quotes are removed; a doubled quote inside is one quote); `escape` makes the next
/// character literal.
pub fn split_line(line: &str, delimiter: char, quote: char, escape: char) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut columns = vec![String::new()];
    let mut quoted = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let current = columns.len() - 1;
        if c == escape {
            if let Some(next) = chars.get(i + 1) {
                columns[current].push(*next);
            }
            i += 2;
            continue;
        }
        if c == quote {
            if quoted && chars.get(i + 1) == Some(&quote) {
                columns[current].push(quote);
                i += 2;
                continue;
            }
            quoted = !quoted;
        } else if c == delimiter && !quoted {
            columns.push(String::new());
        } else {
            columns[current].push(c);
        }
        i += 1;
    }
    columns
}

/// `split f delim=',' … extract 1 as a, 3 as c` (and `csv`): a missing column is null.
pub fn split(
    context: &Context,
    relation: &mut Relation,
    source: &str,
    delimiter: char,
    quote: char,
    escape: char,
    columns: &[ir::SplitColumn],
) {
    let values = relation
        .rows
        .iter()
        .map(|row| {
            let parts = relation
                .field(context, row, source)
                .text()
                .map(|t| split_line(&t, delimiter, quote, escape));
            columns
                .iter()
                .map(|c| {
                    parts
                        .as_ref()
                        .and_then(|p| p.get(c.index.checked_sub(1)?))
                        .map_or(Value::Null, |s| Value::Text(s.clone()))
                })
                .collect()
        })
        .collect();
    let names: Vec<String> = columns.iter().map(|c| c.alias.clone()).collect();
    relation.assign(text_columns(&names), values);
}

/// The geo columns a lookup knows.
const GEO_COLUMNS: [&str; 9] = [
    "latitude",
    "longitude",
    "country_code",
    "country_name",
    "region",
    "city",
    "state",
    "postal_code",
    "continent",
];

/// Threat columns that are numbers.
const THREAT_NUMBERS: [&str; 4] = ["confidence", "valid_from", "valid_until", "num_matches"];

/// `lookup c1 [as a1], … from <table> on <key>=<field>`: `geo://location` from the
/// reference data (null for private, reserved, invalid or unknown addresses); ASN and
/// threat tables give null columns (no ASN or threat data here); any other table is an
/// error.
pub fn lookup(
    context: &Context,
    relation: &mut Relation,
    table: &LookupTable,
    columns: &[ir::LookupColumn],
    key_field: &str,
) -> Result<()> {
    if let LookupTable::Other(path) = table {
        return Err(Error::Query(format!("unknown lookup table '{path}'")));
    }
    let specs: Vec<(String, Kind, bool)> = columns
        .iter()
        .map(|c| {
            let name = c.column.to_ascii_lowercase();
            let (kind, from_geo) = match table {
                LookupTable::Geo if name == "asn" => (Kind::Int, false),
                LookupTable::Geo if GEO_COLUMNS.contains(&name.as_str()) => {
                    let kind = if name == "latitude" || name == "longitude" {
                        Kind::Float
                    } else {
                        Kind::Text
                    };
                    (kind, true)
                }
                LookupTable::Asn if name == "asn" => (Kind::Int, false),
                LookupTable::Threat if THREAT_NUMBERS.contains(&name.as_str()) => {
                    (Kind::Int, false)
                }
                _ => (Kind::Text, false),
            };
            (name, kind, from_geo)
        })
        .collect();
    let values = relation
        .rows
        .iter()
        .map(|row| {
            let ip = relation.field(context, row, key_field).text();
            let public = ip
                .as_deref()
                .and_then(|t| t.trim().parse().ok())
                .is_some_and(is_public);
            specs
                .iter()
                .map(|(name, kind, from_geo)| match (&ip, from_geo, public) {
                    (Some(ip), true, true) => context.data.geo(ip.trim(), name).cast(*kind),
                    _ => Value::Null,
                })
                .collect()
        })
        .collect();
    let names = columns
        .iter()
        .zip(&specs)
        .map(|(c, (_, kind, _))| Column {
            name: c.alias.clone(),
            kind: *kind,
        })
        .collect();
    relation.assign(names, values);
    Ok(())
}

/// `threatlookup … f1, f2`: without threat data, every `_threatlookup.*` field is null and
/// every row stays (once).
pub fn threatlookup(relation: &mut Relation, single_indicator: bool) {
    let mut columns: Vec<Column> = [
        "indicator",
        "type",
        "threat_type",
        "actors",
        "source",
        "fields",
        "imported",
        "updated",
    ]
    .iter()
    .map(|n| Column {
        name: format!("_threatlookup.{n}"),
        kind: Kind::Text,
    })
    .collect();
    let mut numbers = vec!["confidence", "valid_from", "valid_until"];
    if single_indicator {
        numbers.push("num_match");
    }
    columns.extend(numbers.iter().map(|n| Column {
        name: format!("_threatlookup.{n}"),
        kind: Kind::Int,
    }));
    let values = vec![vec![Value::Null; columns.len()]; relation.rows.len()];
    relation.assign(columns, values);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_find_the_first_occurrences() {
        let anchors = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            anchor_match("x user=bob id=7 end", &anchors(&["user=", " id=", " "])),
            Some(vec!["bob".into(), "7".into()])
        );
        assert_eq!(
            anchor_match("a-b-c", &anchors(&["", "-", ""])),
            Some(vec!["a".into(), "b-c".into()])
        );
        assert_eq!(anchor_match("abc", &anchors(&["x", ""])), None);
    }

    #[test]
    fn split_handles_quotes_and_escapes() {
        assert_eq!(split_line("a,\"b,c\",d", ',', '"', '\\'), ["a", "b,c", "d"]);
        assert_eq!(split_line("a\\,b,,c", ',', '"', '\\'), ["a,b", "", "c"]);
        assert_eq!(
            split_line("x;\"say \"\"hi\"\"\"", ';', '"', '\\'),
            ["x", "say \"hi\""]
        );
    }

    #[test]
    fn json_paths() {
        let path = |steps: Vec<JsonStep>| ir::JsonPath {
            text: String::new(),
            steps,
        };
        let text = r#"{"labels":[{"name":"a/b"},{"name":"c"}],"n":1.5,"z":null}"#;
        let names = path(vec![
            JsonStep::Key("labels".into()),
            JsonStep::Wildcard,
            JsonStep::Key("name".into()),
        ]);
        assert_eq!(json_path(text, &names).as_deref(), Some(r#"["a/b","c"]"#));
        assert_eq!(
            json_path(
                text,
                &path(vec![JsonStep::Key("labels".into()), JsonStep::Index(1)])
            )
            .as_deref(),
            Some(r#"{"name":"c"}"#)
        );
        assert_eq!(
            json_path(text, &path(vec![JsonStep::Key("n".into())])).as_deref(),
            Some("1.5")
        );
        assert_eq!(
            json_path(text, &path(vec![JsonStep::Key("z".into())])),
            None
        );
        assert_eq!(json_path("not json", &names), None);
    }
}
