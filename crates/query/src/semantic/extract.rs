//! Extraction and enrichment stages: `json` (JSONPath subset), anchor `parse`,
//! `parse regex`/`extract` (named groups), `lookup`, `geoip`, `threatip`.

use super::Analyzer;
use super::expr::{REGEX_HINT, string_literal_offsets};
use crate::ast::{Ident, LookupColumn, StrLit};
use crate::diagnostic::{Diagnostic, codes};
use crate::ir::{self, JsonPath, JsonStep, LookupTable};

/// Columns `geoip` adds without a column list.
const GEOIP_DEFAULT_COLUMNS: &[&str] = &[
    "latitude",
    "longitude",
    "country_code",
    "country_name",
    "city",
    "state",
];

fn alias_mismatch(
    what: &str,
    expected: usize,
    found: usize,
    span: crate::span::Span,
) -> Diagnostic {
    Diagnostic::error(
        codes::ALIAS_COUNT_MISMATCH,
        format!("{what} gives {expected} value(s) but {found} name(s) follow 'as'"),
        span,
    )
    .with_hint("give one name per value, in the same order")
}

fn span_of(list: &[Ident], fallback: crate::span::Span) -> crate::span::Span {
    list.iter()
        .fold(fallback, |span, ident| span.to(ident.span))
}

/// Parses a JSON key (`a.b`, `a[2]`, `a[*].name`, `['odd.key']`) into steps.
pub(crate) fn json_path(text: &str) -> Result<Vec<JsonStep>, String> {
    let mut steps = Vec::new();
    let mut rest = text;
    let mut expect_key = true;
    if rest.is_empty() {
        return Err("empty key".to_string());
    }
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("['") {
            let end = after.find("']").ok_or("unclosed ['")?;
            steps.push(JsonStep::Key(after[..end].to_string()));
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or("unclosed [")?;
            let inside = after[..end].trim();
            if inside == "*" {
                steps.push(JsonStep::Wildcard);
            } else {
                let index = inside
                    .parse::<usize>()
                    .map_err(|_| format!("'[{inside}]' is not an index, '*' or a quoted key"))?;
                steps.push(JsonStep::Index(index));
            }
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('.') {
            if expect_key || after.is_empty() || after.starts_with(['.', '[']) {
                return Err("misplaced '.' (recursive descent '..' is not supported)".to_string());
            }
            rest = after;
            expect_key = true;
            continue;
        } else {
            if !expect_key {
                return Err("expected '.' or '[' between keys".to_string());
            }
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let key = &rest[..end];
            if key.contains(']') {
                return Err("unbalanced ']'".to_string());
            }
            steps.push(JsonStep::Key(key.to_string()));
            rest = &rest[end..];
        }
        expect_key = false;
    }
    Ok(steps)
}

impl Analyzer {
    pub(super) fn json(
        &mut self,
        source: &Option<Ident>,
        keys: &[StrLit],
        aliases: &[Ident],
        nodrop: bool,
    ) -> ir::StageKind {
        if !aliases.is_empty() && aliases.len() != keys.len() {
            let span = span_of(aliases, keys.first().map(|k| k.span).unwrap_or_default());
            self.push(alias_mismatch("json", keys.len(), aliases.len(), span));
        }
        let mut extractions = Vec::new();
        for (index, key) in keys.iter().enumerate() {
            let steps = match json_path(&key.value) {
                Ok(steps) => steps,
                Err(message) => {
                    self.push(
                        Diagnostic::error(
                            codes::INVALID_JSON_PATH,
                            format!("invalid json key '{}': {message}", key.value),
                            key.span,
                        )
                        .with_hint("keys use a.b, a[0], a[*] and ['odd.key']"),
                    );
                    Vec::new()
                }
            };
            let alias = aliases
                .get(index)
                .map_or_else(|| key.value.clone(), |a| a.name.clone());
            let path = JsonPath {
                text: key.value.clone(),
                steps,
            };
            extractions.push(ir::JsonExtraction { path, alias });
        }
        ir::StageKind::Json {
            source: source.as_ref().map(|s| s.name.clone()),
            extractions,
            nodrop,
        }
    }

    pub(super) fn parse_anchor(
        &mut self,
        source: &Option<Ident>,
        pattern: &StrLit,
        aliases: &[Ident],
        nodrop: bool,
    ) -> ir::StageKind {
        let anchors: Vec<String> = pattern.value.split('*').map(str::to_string).collect();
        let stars = anchors.len().saturating_sub(1);
        if pattern.value.contains("**") {
            self.push(
                Diagnostic::error(
                    codes::INVALID_ANCHOR_PATTERN,
                    "'**' is not allowed in a parse pattern",
                    pattern.span,
                )
                .with_hint("separate the two captures with the text between them"),
            );
        } else if stars == 0 {
            self.push(
                Diagnostic::error(
                    codes::INVALID_ANCHOR_PATTERN,
                    "parse pattern has no '*' to capture",
                    pattern.span,
                )
                .with_hint("mark each value to extract with '*', e.g. \"user=* \""),
            );
        } else if stars != aliases.len() {
            let span = span_of(aliases, pattern.span);
            self.push(alias_mismatch(
                "the parse pattern",
                stars,
                aliases.len(),
                span,
            ));
        }
        ir::StageKind::Parse {
            source: source.as_ref().map(|s| s.name.clone()),
            anchors,
            aliases: aliases.iter().map(|a| a.name.clone()).collect(),
            nodrop,
        }
    }

    pub(super) fn parse_regex(
        &mut self,
        source: &Option<Ident>,
        regex: &StrLit,
        nodrop: bool,
        multi: bool,
    ) -> ir::StageKind {
        let offsets = string_literal_offsets(&regex.value, regex.span);
        let hint = format!("{REGEX_HINT}; name groups with (?<name>…)");
        let translated = self.translate_regex(&regex.value, regex.span, offsets, &hint);
        let (pattern, groups) = match translated {
            None => (regex.value.clone(), Vec::new()),
            Some(translated) => {
                if translated.unnamed_groups > 0 {
                    self.push(
                        Diagnostic::error(
                            codes::UNNAMED_GROUP,
                            format!(
                                "regex has {} unnamed capturing group(s)",
                                translated.unnamed_groups
                            ),
                            regex.span,
                        )
                        .with_hint("name the group (?<name>…) or make it non-capturing (?:…)"),
                    );
                } else if translated.groups.is_empty() {
                    self.push(
                        Diagnostic::error(
                            codes::NO_NAMED_GROUP,
                            "regex has no named capture group",
                            regex.span,
                        )
                        .with_hint("capture the value into a field with (?<name>…)"),
                    );
                }
                (translated.pattern, translated.groups)
            }
        };
        ir::StageKind::ParseRegex {
            source: source.as_ref().map(|s| s.name.clone()),
            regex: pattern,
            groups,
            nodrop,
            multi,
        }
    }

    pub(super) fn lookup(
        &mut self,
        columns: &[LookupColumn],
        table: &StrLit,
        key: &Ident,
        field: &Ident,
    ) -> ir::StageKind {
        let lower = table.value.to_ascii_lowercase();
        let (table_ir, expected_key) = match lower.as_str() {
            "geo://location" | "geo://default" => (LookupTable::Geo, Some("ip")),
            "asn://default" => (LookupTable::Asn, Some("ip")),
            "sumo://threat/cs" | "sumo://threat/i471" => (LookupTable::Threat, Some("threat")),
            _ => (LookupTable::Other(table.value.clone()), None),
        };
        if let Some(expected) = expected_key
            && !key.name.eq_ignore_ascii_case(expected)
        {
            self.push(
                Diagnostic::error(
                    codes::INVALID_LOOKUP_KEY,
                    format!(
                        "'{}' is looked up by '{expected}', not '{}'",
                        table.value, key.name
                    ),
                    key.span,
                )
                .with_hint(format!("write `on {expected}={}`", field.name)),
            );
        }
        let columns = columns
            .iter()
            .map(|c| ir::LookupColumn {
                column: c.column.name.clone(),
                alias: c.alias.as_ref().unwrap_or(&c.column).name.clone(),
            })
            .collect();
        ir::StageKind::Lookup {
            table: table_ir,
            columns,
            key_field: field.name.clone(),
        }
    }

    pub(super) fn geoip(&mut self, field: &Ident, extra: &[Ident]) -> ir::StageKind {
        let mut columns: Vec<ir::LookupColumn> = GEOIP_DEFAULT_COLUMNS
            .iter()
            .map(|c| ir::LookupColumn {
                column: (*c).to_string(),
                alias: (*c).to_string(),
            })
            .collect();
        for column in extra {
            if !columns
                .iter()
                .any(|c| c.column.eq_ignore_ascii_case(&column.name))
            {
                let name = column.name.clone();
                columns.push(ir::LookupColumn {
                    column: name.clone(),
                    alias: name,
                });
            }
        }
        ir::StageKind::Lookup {
            table: LookupTable::Geo,
            columns,
            key_field: field.name.clone(),
        }
    }

    /// `threatip f`: the threat table's `actor`, `threatlevel`, `raw`, `type` and `source` under
    /// `threatip`'s output names.
    pub(super) fn threatip(&mut self, field: &Ident) -> ir::StageKind {
        let column = |column: &str, alias: &str| ir::LookupColumn {
            column: column.to_string(),
            alias: alias.to_string(),
        };
        let columns = vec![
            column("actor", "actor"),
            column("threatlevel", "malicious_confidence"),
            column("raw", "raw_threat"),
            column("type", "type"),
            column("source", "threat_source"),
        ];
        ir::StageKind::Lookup {
            table: LookupTable::Threat,
            columns,
            key_field: field.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths() {
        assert_eq!(
            json_path("labels[*].name"),
            Ok(vec![
                JsonStep::Key("labels".into()),
                JsonStep::Wildcard,
                JsonStep::Key("name".into())
            ])
        );
        assert_eq!(
            json_path("a[2]"),
            Ok(vec![JsonStep::Key("a".into()), JsonStep::Index(2)])
        );
        assert_eq!(
            json_path("['x.y'].z"),
            Ok(vec![JsonStep::Key("x.y".into()), JsonStep::Key("z".into())])
        );
        assert!(json_path("a..b").is_err());
        assert!(json_path(".a").is_err());
        assert!(json_path("a[").is_err());
        assert!(json_path("a[x]").is_err());
        assert!(json_path("").is_err());
    }
}
