//! Apps bundled with the binary, and binding one to a source category at install.

use mailscope_query::lexer::{TokenKind, lex};

use super::Error;
use super::dashboard::{Dashboard, scope_term};

/// The source category the bundled queries are written for (the original app's).
pub const TEMPLATE_CATEGORY: &str = "Labs/MessageExchangeTraceLogs";

/// An app: versioned dashboards, oldest version first.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub versions: Vec<BundleVersion>,
}

#[derive(Debug, Clone)]
pub struct BundleVersion {
    pub version: &'static str,
    /// Templates: no id, bound to [`TEMPLATE_CATEGORY`], `app.key` naming each.
    pub dashboards: Vec<Dashboard>,
}

impl Bundle {
    pub fn latest(&self) -> &BundleVersion {
        // Every bundle has at least one version (checked by a test).
        &self.versions[self.versions.len() - 1]
    }

    pub fn version(&self, version: Option<&str>) -> Result<&BundleVersion, Error> {
        match version {
            None => Ok(self.latest()),
            Some(wanted) => self
                .versions
                .iter()
                .find(|v| v.version == wanted)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "app {} has no version {:?} (versions: {})",
                        self.id,
                        super::dashboard::truncate(wanted, 40),
                        self.version_names().join(", ")
                    ))
                }),
        }
    }

    pub fn version_names(&self) -> Vec<&'static str> {
        self.versions.iter().map(|v| v.version).collect()
    }
}

impl BundleVersion {
    /// The templates bound to `category`: the dashboards' category and, in every panel
    /// and sparkline query, the first `_sourceCategory=` term of the scope.
    pub fn bind(&self, category: &str) -> Vec<Dashboard> {
        self.dashboards
            .iter()
            .map(|template| {
                let mut dashboard = template.clone();
                dashboard.source_category = category.to_owned();
                for panel in &mut dashboard.panels {
                    panel.query = rebind(&panel.query, category);
                    if let Some(serde_json::Value::String(sparkline)) =
                        panel.visualization.options.get_mut("sparkline_query")
                    {
                        *sparkline = rebind(sparkline, category);
                    }
                }
                dashboard
            })
            .collect()
    }
}

/// `query` with the first `_sourceCategory=...` term of its scope (found on the tokens, so
/// comments, strings and later stages are never touched) selecting `category` instead. A
/// query without such a term is returned as it is.
pub fn rebind(query: &str, category: &str) -> String {
    let (tokens, _) = lex(query);
    for window in tokens.windows(3) {
        match &window[0].kind {
            TokenKind::Pipe | TokenKind::Eof => break,
            TokenKind::Word(word)
                if word.eq_ignore_ascii_case("_sourceCategory")
                    && window[1].kind == TokenKind::Eq
                    && matches!(window[2].kind, TokenKind::Word(_) | TokenKind::Str(_)) =>
            {
                let (start, end) = (window[0].span.start, window[2].span.end);
                return format!(
                    "{}{}{}",
                    &query[..start],
                    scope_term(category),
                    &query[end..]
                );
            }
            _ => {}
        }
    }
    query.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebinding_replaces_only_the_scope_term() {
        let query = "// _sourceCategory=Labs/MessageExchangeTraceLogs in a comment\n\
                     _sourceCategory=Labs/MessageExchangeTraceLogs error\n\
                     | where x = \"_sourceCategory=Labs/MessageExchangeTraceLogs\"";
        let bound = rebind(query, "o365/trace");
        assert_eq!(
            bound,
            "// _sourceCategory=Labs/MessageExchangeTraceLogs in a comment\n\
             _sourceCategory=o365/trace error\n\
             | where x = \"_sourceCategory=Labs/MessageExchangeTraceLogs\""
        );
        assert_eq!(
            rebind("_SOURCECATEGORY = \"a b\" | count", "c d"),
            "_sourceCategory=\"c d\" | count"
        );
        assert_eq!(rebind("* | count", "x"), "* | count");
        assert_eq!(rebind("_source=x | count", "y"), "_source=x | count");
    }
}
