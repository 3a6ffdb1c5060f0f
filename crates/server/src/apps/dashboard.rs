//! A dashboard definition (the JSON of API.md) and its validation. Everything in a definition
//! comes from a client or from a file on disk, so every field is bounded and checked before
//! it is stored or used to build a query.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::Error;

/// Grid width of a dashboard.
pub const GRID_COLUMNS: u32 = 12;
const MAX_PANELS: usize = 100;
const MAX_VARIABLES: usize = 20;
const MAX_TITLE_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 4000;
/// Queries are bounded well below the compiler's own 1 MiB: a panel is a pipeline, not a
/// data set.
const MAX_QUERY_BYTES: usize = 64 * 1024;
const MAX_OPTIONS_BYTES: usize = 64 * 1024;
const MAX_ID_CHARS: usize = 64;
const MAX_SOURCE_CATEGORY_CHARS: usize = 256;
const MAX_VARIABLE_DEFAULT_CHARS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// Empty in a definition that is about to be created.
    #[serde(default)]
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// The app (and the dashboard inside it) this came from; null for a user's own.
    #[serde(default)]
    pub app: Option<AppRef>,
    pub source_category: String,
    pub time_range: TimeRange,
    #[serde(default)]
    pub variables: Vec<Variable>,
    #[serde(default)]
    pub panels: Vec<Panel>,
    #[serde(default)]
    pub modified: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRef {
    pub id: String,
    pub version: String,
    pub key: String,
}

/// `{"relative": "-7d"}` or `{"from": ..., "to": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    pub name: String,
    #[serde(default)]
    pub label: String,
    /// The field whose distinct values the filter offers.
    pub field: String,
    #[serde(default = "all")]
    pub default: String,
}

fn all() -> String {
    "*".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub query: String,
    pub visualization: Visualization,
    pub layout: Layout,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Visualization {
    #[serde(rename = "type")]
    pub kind: VisualizationType,
    #[serde(default)]
    pub options: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisualizationType {
    SingleValue,
    Column,
    StackedColumn,
    Line,
    Area,
    Bar,
    Pie,
    Table,
    Map,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl TimeRange {
    pub fn relative(text: &str) -> TimeRange {
        TimeRange {
            relative: Some(text.into()),
            from: None,
            to: None,
        }
    }

    /// The absolute range this means at `now`.
    pub fn resolve(&self, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
        match (&self.relative, self.from, self.to) {
            (Some(relative), None, None) => Ok((now - parse_relative(relative)?, now)),
            (None, Some(from), Some(to)) if from < to => Ok((from, to)),
            (None, Some(_), Some(_)) => {
                Err(Error::Invalid("time_range: from must be before to".into()))
            }
            _ => Err(Error::Invalid(
                "time_range: expected {\"relative\": \"-7d\"} or {\"from\": ..., \"to\": ...}"
                    .into(),
            )),
        }
    }
}

/// `-15m`, `-1h`, `-7d`, `-2w`: how far back a relative range reaches.
pub fn parse_relative(text: &str) -> Result<Duration, Error> {
    let invalid = || {
        Error::Invalid(format!(
            "time_range: relative {:?} is not like -15m, -24h, -7d or -2w",
            truncate(text, 40)
        ))
    };
    let body = text.strip_prefix('-').ok_or_else(invalid)?;
    let unit = body.chars().last().ok_or_else(invalid)?;
    let amount: i64 = body[..body.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| invalid())?;
    if !(1..=100_000).contains(&amount) {
        return Err(invalid());
    }
    let duration = match unit {
        'm' => Duration::minutes(amount),
        'h' => Duration::hours(amount),
        'd' => Duration::days(amount),
        'w' => Duration::weeks(amount),
        _ => return Err(invalid()),
    };
    // Bounded by the amount limit to a few centuries: fine for any store.
    Ok(duration)
}

/// Ids of dashboards and panels name files and URL segments: lower-case letters, digits and
/// dashes, starting with a letter or digit.
pub fn check_id(id: &str, what: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} {:?} is not valid: use 1 to {MAX_ID_CHARS} lower-case letters, digits and \
             dashes",
            truncate(id, 80)
        )))
    }
}

/// A field or variable name as the query language writes it.
pub fn check_name(name: &str, what: &str) -> Result<(), Error> {
    let mut chars = name.chars();
    let ok = name.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} {:?} is not a name (letters, digits and _, at most 64)",
            truncate(name, 80)
        )))
    }
}

/// A source category is written into queries (`_sourceCategory=<it>`), so only characters
/// that cannot end the scope term are allowed; a space makes it a quoted term.
pub fn check_source_category(category: &str) -> Result<(), Error> {
    let ok = !category.is_empty()
        && category.chars().count() <= MAX_SOURCE_CATEGORY_CHARS
        && category.trim() == category
        && !category.contains("//")
        && category
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _-./*:@+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "source category {:?} is not valid: use letters, digits, spaces and _ - . / * : @ + \
             (at most {MAX_SOURCE_CATEGORY_CHARS}, no leading or trailing space, no //)",
            truncate(category, 80)
        )))
    }
}

/// The scope term selecting a source category.
pub fn scope_term(category: &str) -> String {
    if category.contains(' ') {
        format!("_sourceCategory=\"{category}\"")
    } else {
        format!("_sourceCategory={category}")
    }
}

pub fn truncate(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

fn check_text(text: &str, what: &str, max: usize, required: bool) -> Result<(), Error> {
    if required && text.trim().is_empty() {
        return Err(Error::Invalid(format!("{what} is empty")));
    }
    if text.chars().count() > max {
        return Err(Error::Invalid(format!(
            "{what} is longer than {max} characters"
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Error::Invalid(format!("{what} holds control characters")));
    }
    Ok(())
}

impl Dashboard {
    /// The variables at their "all" value, as panels are checked with.
    pub fn variables_at_all(&self) -> BTreeMap<String, String> {
        self.variables
            .iter()
            .map(|v| (v.name.clone(), "*".to_owned()))
            .collect()
    }

    /// The content a user edits; two dashboards with the same fingerprint look the same.
    pub fn fingerprint(&self) -> u64 {
        let content = serde_json::json!({
            "title": self.title,
            "description": self.description,
            "source_category": self.source_category,
            "time_range": self.time_range,
            "variables": self.variables,
            "panels": self.panels,
        });
        xxhash_rust::xxh3::xxh3_64(content.to_string().as_bytes())
    }

    /// Checks everything but the queries (see [`Dashboard::validate`]).
    pub fn check_shape(&self) -> Result<(), Error> {
        check_text(&self.title, "title", MAX_TITLE_CHARS, true)?;
        check_text(
            &self.description,
            "description",
            MAX_DESCRIPTION_CHARS,
            false,
        )?;
        check_source_category(&self.source_category)?;
        self.time_range.resolve(Utc::now())?;
        if let Some(app) = &self.app {
            check_id(&app.id, "app id")?;
            check_id(&app.key, "app dashboard key")?;
            check_text(&app.version, "app version", 32, true)?;
        }
        if self.variables.len() > MAX_VARIABLES {
            return Err(Error::Invalid(format!(
                "a dashboard has at most {MAX_VARIABLES} variables"
            )));
        }
        let mut names = BTreeSet::new();
        for variable in &self.variables {
            check_name(&variable.name, "variable name")?;
            check_name(&variable.field, "variable field")?;
            check_text(&variable.label, "variable label", MAX_TITLE_CHARS, false)?;
            check_text(
                &variable.default,
                "variable default",
                MAX_VARIABLE_DEFAULT_CHARS,
                false,
            )?;
            if !names.insert(variable.name.as_str()) {
                return Err(Error::Invalid(format!(
                    "variable {:?} is defined twice",
                    variable.name
                )));
            }
        }
        if self.panels.len() > MAX_PANELS {
            return Err(Error::Invalid(format!(
                "a dashboard has at most {MAX_PANELS} panels"
            )));
        }
        let mut ids = BTreeSet::new();
        for panel in &self.panels {
            check_id(&panel.id, "panel id")?;
            if !ids.insert(panel.id.as_str()) {
                return Err(Error::Invalid(format!(
                    "panel id {:?} is used twice",
                    panel.id
                )));
            }
            let what = format!("panel {:?}", panel.id);
            check_text(
                &panel.title,
                &format!("{what} title"),
                MAX_TITLE_CHARS,
                true,
            )?;
            check_text(
                &panel.description,
                &format!("{what} description"),
                MAX_DESCRIPTION_CHARS,
                false,
            )?;
            if panel.query.len() > MAX_QUERY_BYTES {
                return Err(Error::Invalid(format!(
                    "{what} query is longer than {MAX_QUERY_BYTES} bytes"
                )));
            }
            let options = serde_json::Value::Object(panel.visualization.options.clone());
            if options.to_string().len() > MAX_OPTIONS_BYTES {
                return Err(Error::Invalid(format!(
                    "{what} visualization options are larger than {MAX_OPTIONS_BYTES} bytes"
                )));
            }
            if let Some(sparkline) = panel.visualization.options.get("sparkline_query")
                && !sparkline.is_string()
            {
                return Err(Error::Invalid(format!(
                    "{what} sparkline_query is not a string"
                )));
            }
            let layout = panel.layout;
            if layout.w == 0
                || layout.h == 0
                || layout.h > 40
                || layout.y > 1000
                || layout.x.saturating_add(layout.w) > GRID_COLUMNS
            {
                return Err(Error::Invalid(format!(
                    "{what} layout {{x: {}, y: {}, w: {}, h: {}}} does not fit the \
                     {GRID_COLUMNS}-column grid (w and h at least 1, x + w at most \
                     {GRID_COLUMNS}, h at most 40)",
                    layout.x, layout.y, layout.w, layout.h
                )));
            }
        }
        Ok(())
    }

    /// The whole check: shape, then every panel query (and sparkline query) compiles with
    /// the variables at `*`.
    pub fn validate(&self) -> Result<(), Error> {
        self.check_shape()?;
        let variables = self.variables_at_all();
        for panel in &self.panels {
            let mut queries = vec![("query", panel.query.as_str())];
            if let Some(serde_json::Value::String(sparkline)) =
                panel.visualization.options.get("sparkline_query")
            {
                queries.push(("sparkline_query", sparkline.as_str()));
            }
            for (field, text) in queries {
                if let Err(diagnostics) = mailscope_query::compile_with_variables(text, &variables)
                {
                    return Err(Error::Query {
                        panel: panel.id.clone(),
                        field,
                        text: text.to_owned(),
                        diagnostics,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_ranges_parse_and_junk_is_refused() {
        assert_eq!(parse_relative("-15m").ok(), Some(Duration::minutes(15)));
        assert_eq!(parse_relative("-7d").ok(), Some(Duration::days(7)));
        for bad in ["7d", "-d", "-0d", "-7y", "-", "", "-1000000d", "-7дн"] {
            assert!(parse_relative(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_refuse_traversal_and_odd_characters() {
        for good in ["overview-9f2c", "a", "0-x"] {
            assert!(check_id(good, "id").is_ok(), "{good}");
        }
        for bad in [
            "../x",
            "",
            "-a",
            "A",
            "a/b",
            "a.json",
            "a b",
            &"x".repeat(65),
        ] {
            assert!(check_id(bad, "id").is_err(), "{bad}");
        }
    }

    #[test]
    fn source_categories_cannot_break_out_of_the_scope() {
        assert!(check_source_category("Labs/MessageExchangeTraceLogs").is_ok());
        assert!(check_source_category("o365/message trace").is_ok());
        for bad in ["", " x", "a|b", "a\"b", "a//b", "a(b", "a=b", "a\nb"] {
            assert!(check_source_category(bad).is_err(), "{bad:?}");
        }
        assert_eq!(scope_term("a b"), "_sourceCategory=\"a b\"");
    }
}
