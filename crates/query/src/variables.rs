//! Dashboard variables: `{{name}}` in the query text replaced by its value, verbatim (as
//! Sumo does; a value is not escaped, so `*` inside `matches "{{v}}"` stays a wildcard).
//!
//! [`substitute_mapped`] also records where each placeholder was, so that diagnostics on the
//! substituted text point at the original text, and which string literals were exactly one
//! placeholder set to `*` (a dashboard filter left at "all").

use std::collections::BTreeMap;

use crate::diagnostic::{Diagnostic, codes};
use crate::span::Span;

/// One replaced placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// `{{name}}` in the original text.
    pub original: Span,
    /// Its value in the substituted text.
    pub output: Span,
    /// The placeholder is a whole string literal (`"{{name}}"`) and its value is `*`.
    pub wildcard_literal: bool,
}

/// Substituted text and the way back to the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substitution {
    pub text: String,
    /// In text order.
    pub replacements: Vec<Replacement>,
}

impl Substitution {
    /// The original offset of the substituted text's offset `at`, as the start of a span: an
    /// offset inside a value maps to the start of its placeholder.
    pub fn original_start(&self, at: usize) -> usize {
        self.map(at, true)
    }

    /// The original offset of `at` as the end of a span: an offset inside a value (or at its
    /// end) maps to the end of its placeholder.
    pub fn original_end(&self, at: usize) -> usize {
        self.map(at, false)
    }

    fn map(&self, at: usize, start: bool) -> usize {
        let mut shift: isize = 0;
        for replacement in &self.replacements {
            let (from, to) = (replacement.output.start, replacement.output.end);
            if start {
                if at < from {
                    break;
                }
                if at < to {
                    return replacement.original.start;
                }
            } else {
                if at <= from {
                    break;
                }
                if at <= to {
                    return replacement.original.end;
                }
            }
            shift = replacement.original.end as isize - to as isize;
        }
        at.saturating_add_signed(shift)
    }

    /// A span of the substituted text as a span of the original.
    pub fn original_span(&self, span: Span) -> Span {
        let start = self.original_start(span.start);
        let end = self.original_end(span.end).max(start);
        Span::new(start, end)
    }
}

/// Replaces every `{{name}}` (spaces around the name allowed) with `vars[name]`. A name with
/// no value is a diagnostic pointing at the placeholder; all of them are reported.
pub fn substitute_variables(
    source: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, Vec<Diagnostic>> {
    substitute_mapped(source, vars).map(|s| s.text)
}

/// Like [`substitute_variables`], keeping the map from the result back to `source`.
pub fn substitute_mapped(
    source: &str,
    vars: &BTreeMap<String, String>,
) -> Result<Substitution, Vec<Diagnostic>> {
    let mut out = String::with_capacity(source.len());
    let mut replacements = Vec::new();
    let mut diagnostics = Vec::new();
    let mut rest = source;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        let name = after[..close].trim();
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        let end = open + 2 + close + 2;
        out.push_str(&rest[..open]);
        match vars.get(name) {
            Some(value) if valid => {
                let original = Span::new(offset + open, offset + end);
                let quoted = source[..original.start].ends_with('"')
                    && source[original.end..].starts_with('"');
                let output = Span::new(out.len(), out.len() + value.len());
                out.push_str(value);
                replacements.push(Replacement {
                    original,
                    output,
                    wildcard_literal: quoted && value == "*",
                });
            }
            _ => {
                out.push_str(&rest[open..end]);
                if valid {
                    let span = Span::new(offset + open, offset + end);
                    diagnostics.push(
                        Diagnostic::error(
                            codes::MISSING_VARIABLE,
                            format!("no value for variable '{name}'"),
                            span,
                        )
                        .with_suggestion(name, vars.keys().map(String::as_str)),
                    );
                }
            }
        }
        rest = &rest[end..];
        offset += end;
    }
    out.push_str(rest);
    if diagnostics.is_empty() {
        Ok(Substitution {
            text: out,
            replacements,
        })
    } else {
        Err(diagnostics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_reports_missing() {
        let vars = BTreeMap::from([("status".to_string(), "*".to_string())]);
        assert_eq!(
            substitute_variables("a matches\"{{status}}\" {{ status }}", &vars),
            Ok("a matches\"*\" *".to_string())
        );
        let errors = substitute_variables("x {{statu}}", &vars).unwrap_err();
        assert_eq!(errors[0].span, Span::new(2, 11));
        assert_eq!(errors[0].hint.as_deref(), Some("did you mean 'status'?"));
    }

    #[test]
    fn spans_map_back_through_longer_and_shorter_values() {
        let vars = BTreeMap::from([
            ("a".to_string(), "*".to_string()),
            ("b".to_string(), "a long value".to_string()),
        ]);
        let source = "x \"{{a}}\" y {{b}} z";
        let substitution = substitute_mapped(source, &vars).unwrap();
        assert_eq!(substitution.text, "x \"*\" y a long value z");
        assert!(substitution.replacements[0].wildcard_literal);
        assert!(!substitution.replacements[1].wildcard_literal);
        // `x` and `y` and `z` keep their text.
        let find = |text: &str, word: &str| text.find(word).unwrap();
        for word in ["x", " y ", " z"] {
            let at = find(&substitution.text, word);
            let span = substitution.original_span(Span::new(at, at + word.len()));
            assert_eq!(&source[span.start..span.end], word);
        }
        // A span inside a value covers its placeholder.
        let at = find(&substitution.text, "long");
        let span = substitution.original_span(Span::new(at, at + 4));
        assert_eq!(&source[span.start..span.end], "{{b}}");
        // The string literal `"*"` maps to `"{{a}}"`.
        let span = substitution.original_span(Span::new(2, 5));
        assert_eq!(&source[span.start..span.end], "\"{{a}}\"");
    }
}
