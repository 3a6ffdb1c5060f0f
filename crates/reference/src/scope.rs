//! The scope: metadata conditions (whole-value, case-insensitive `*` wildcards) and keywords
//! with Sumo's term semantics.
//!
//! A record's terms: for each of the 14 canonical keys in order, the terms of the key name,
//! then the terms of the value's text (a null value has none). A term is a maximal run of
//! alphanumeric characters. A keyword is cut the same way, except that `*` and `?` belong
//! to its pieces; it matches when its k pieces match k consecutive terms of the record, each
//! piece the whole term (`*` any run, `?` one character), after lower-casing both.

use mailscope_query::ir::Scope;

use crate::StoredRow;
use crate::record::{KEYS, raw_text};

pub fn matches(scope: &Scope, row: &StoredRow) -> bool {
    let terms = std::cell::OnceCell::new();
    matches_with(scope, row, &terms)
}

/// `terms` holds the record's lower-cased terms once a keyword needed them.
fn matches_with(
    scope: &Scope,
    row: &StoredRow,
    terms: &std::cell::OnceCell<Vec<Vec<char>>>,
) -> bool {
    let matches = |s: &Scope| matches_with(s, row, terms);
    match scope {
        Scope::All => true,
        Scope::Keyword { pattern } => {
            let terms = terms.get_or_init(|| lower_case(&record_terms(row)));
            phrase_matches(pattern, terms)
        }
        Scope::Metadata {
            field,
            pattern,
            negated,
        } => {
            let value = metadata(row, field);
            let found = value.is_some_and(|v| wildcard_ignoring_case(pattern, v));
            found != *negated
        }
        Scope::And(a, b) => matches(a) && matches(b),
        Scope::Or(a, b) => matches(a) || matches(b),
        Scope::Not(inner) => !matches(inner),
    }
}

/// The metadata fields the scope can test; `_sourceHost` and `_sourceName` are never set.
fn metadata<'r>(row: &'r StoredRow, field: &str) -> Option<&'r str> {
    if field.eq_ignore_ascii_case("_sourceCategory") {
        Some(&row.source_category)
    } else if field.eq_ignore_ascii_case("_source") {
        Some(&row.source)
    } else if field.eq_ignore_ascii_case("_collector") {
        Some(&row.collector)
    } else {
        None
    }
}

/// Whole-value match of a `*` wildcard, case-insensitive.
fn wildcard_ignoring_case(pattern: &str, value: &str) -> bool {
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let value: Vec<char> = value.to_lowercase().chars().collect();
    glob(&pattern, &value, false)
}

/// Whole-text match of `pattern` against `text`: `*` is any run of characters and, when
/// `question_mark` is set, `?` exactly one. The usual scan: on a mismatch, the last `*`
/// takes one more character (an earlier `*` never needs to: what it would take, the last
/// one can).
pub fn glob(pattern: &[char], text: &[char], question_mark: bool) -> bool {
    let (mut p, mut t) = (0, 0);
    // The position after the last `*` seen, and where in the text it stopped matching.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p + 1, t));
                p += 1;
            }
            Some(&c) if c == text[t] || (c == '?' && question_mark) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((after, taken)) => {
                    p = after;
                    t = taken + 1;
                    star = Some((after, taken + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// The terms of a text: maximal runs of alphanumeric characters.
pub fn terms(text: &str) -> Vec<String> {
    pieces(text, |c| c.is_alphanumeric())
}

fn pieces(text: &str, belongs: impl Fn(char) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if belongs(c) {
            current.push(c);
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The record's term sequence: key terms, then value terms, for every canonical key.
pub fn record_terms(row: &StoredRow) -> Vec<String> {
    let mut out = Vec::new();
    for key in KEYS {
        out.extend(terms(key));
        if let Some(text) = raw_text(row, key) {
            out.extend(terms(&text));
        }
    }
    out
}

/// Each term lower-cased (`str::to_lowercase`), as characters.
fn lower_case(terms: &[String]) -> Vec<Vec<char>> {
    terms
        .iter()
        .map(|t| t.to_lowercase().chars().collect())
        .collect()
}

/// Whether the keyword's pieces match consecutive lower-cased terms.
fn phrase_matches(keyword: &str, terms: &[Vec<char>]) -> bool {
    let patterns: Vec<Vec<char>> = pieces(keyword, |c| c.is_alphanumeric() || c == '*' || c == '?')
        .iter()
        .map(|p| p.to_lowercase().chars().collect())
        .collect();
    if patterns.is_empty() {
        return true;
    }
    if terms.len() < patterns.len() {
        return false;
    }
    (0..=terms.len() - patterns.len()).any(|start| {
        patterns
            .iter()
            .enumerate()
            .all(|(i, pattern)| glob(pattern, &terms[start + i], true))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(keyword: &str, text: &str) -> bool {
        phrase_matches(keyword, &lower_case(&terms(text)))
    }

    #[test]
    fn keywords_match_whole_terms() {
        assert!(found("invoice", "RE: Invoice 42"));
        assert!(!found("invoi", "Invoice"));
        assert!(found("invoi*", "Invoice"));
        assert!(found("inv?ice", "Invoice"));
        assert!(!found("inv?ice", "Invooice"));
        assert!(found("münchen", "Grüße aus MÜNCHEN"));
        assert!(found("jsmith@example.com", "from jsmith@example.com today"));
        assert!(!found("\"monthly report\"", "monthly sales report"));
        assert!(found("jsmith@*.com", "jsmith@example.com"));
        assert!(!found("jsmith@*.com", "jsmith@mail.example.com"));
        assert!(found("--", "anything"));
        assert!(!found("a b c", "a b"));
    }

    #[test]
    fn terms_are_split_before_lower_casing() {
        // 'İ' lower-cases to "i\u{307}" (a combining mark, not alphanumeric): split first, so
        // "İstanbul" stays one term, which lower-cases to "i̇stanbul".
        assert_eq!(terms("İstanbul!"), ["İstanbul"]);
        assert!(found("İSTANBUL", "İstanbul"));
        assert!(!found("stanbul", "İstanbul"));
    }

    #[test]
    fn globs() {
        let g = |p: &str, t: &str| {
            glob(
                &p.chars().collect::<Vec<_>>(),
                &t.chars().collect::<Vec<_>>(),
                true,
            )
        };
        assert!(g("a*b*c", "aXbYbZc"));
        assert!(!g("a*b*c", "aXbYbZ"));
        assert!(g("*", ""));
        assert!(!g("?", ""));
        assert!(g("*a", "aaaa"));
    }
}
