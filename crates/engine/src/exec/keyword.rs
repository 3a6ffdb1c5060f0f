//! Keyword search in the scope, with Sumo's term semantics, answered from the stored columns.
//!
//! Sumo breaks a raw message into terms at every character that is not a letter or a digit
//! and indexes the terms; a keyword matches a message when it matches a whole term,
//! case-insensitively, with `*` (any run) and `?` (one character) inside a term. A keyword
//! that holds break characters (`jsmith@example.com`, a quoted phrase) is a phrase: its terms
//! must follow each other in the message, and a lone `*` stands for one whole term.
//!
//! The message here is the canonical record (`_raw`): for each of its keys in order, the
//! key's terms, then the terms of the value's text (null values have none; text is taken
//! unescaped, as stored). The keys are the same in every record, so a keyword piece that can
//! match a key is decided when the query is planned:
//! - a one-term keyword matching a key matches every record;
//! - a keyword none of whose terms can match a key can only match inside one value, so it is
//!   tested column by column (`keyword_in`), with no `_raw` built;
//! - otherwise (a phrase that may run across a key) the record's whole term sequence is
//!   built from the stored columns (`keyword_record`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};
use mailscope_record::time::format_trace_time;

use super::lower::{Relation, hidden};
use super::udf::{arrays, impl_udf_eq};
use crate::schema::RECORD_FIELDS;

/// One term of a keyword: lower-cased characters, `*` and `?` as wildcards.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TermPattern(Vec<char>);

impl TermPattern {
    /// Whether `term` (already lower-cased) matches the whole pattern.
    pub fn matches(&self, term: &[char]) -> bool {
        wildcard(&self.0, term)
    }
}

/// Whole-term wildcard match, iterative with one backtrack point per `*` (linear in practice).
fn wildcard(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if *c == '?' || *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

fn is_term_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// The terms of `text`: split at non-alphanumerics, then each lower-cased
/// (`str::to_lowercase`, so `İstanbul` stays one term).
pub fn terms(text: &str) -> Vec<Vec<char>> {
    text.split(|c: char| !is_term_char(c))
        .filter(|term| !term.is_empty())
        .map(|term| term.to_lowercase().chars().collect())
        .collect()
}

/// A keyword as a phrase of term patterns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phrase(Vec<TermPattern>);

impl Phrase {
    pub fn parse(keyword: &str) -> Phrase {
        Phrase(
            keyword
                .split(|c: char| !(is_term_char(c) || c == '*' || c == '?'))
                .filter(|piece| !piece.is_empty())
                .map(|piece| TermPattern(piece.to_lowercase().chars().collect()))
                .collect(),
        )
    }

    /// Whether the pieces match consecutive terms of `terms`.
    pub fn found_in(&self, terms: &[Vec<char>]) -> bool {
        let n = self.0.len();
        if n == 0 {
            return true;
        }
        terms.len() >= n
            && terms
                .windows(n)
                .any(|w| self.0.iter().zip(w).all(|(p, t)| p.matches(t)))
    }

    /// A literal run every matching text must contain (lower-cased), to skip most values
    /// without splitting them into terms.
    fn required_literal(&self) -> Option<String> {
        self.0
            .iter()
            .flat_map(|p| p.0.split(|c| *c == '*' || *c == '?'))
            .max_by_key(|run| run.len())
            .filter(|run| !run.is_empty())
            .map(|run| run.iter().collect())
    }
}

/// The filter for one keyword of the scope.
pub fn filter(keyword: &str) -> Expr {
    let phrase = Phrase::parse(keyword);
    if phrase.0.is_empty() {
        return lit(true);
    }
    let key_terms: Vec<Vec<char>> = RECORD_FIELDS.iter().flat_map(|k| terms(k)).collect();
    let touches_key = phrase
        .0
        .iter()
        .any(|p| key_terms.iter().any(|k| p.matches(k)));
    if touches_key && phrase.0.len() == 1 {
        return lit(true);
    }
    if touches_key {
        let columns = RECORD_FIELDS
            .iter()
            .map(|f| Relation::column(&hidden(f)))
            .collect();
        return ScalarUDF::from(KeywordRecord::new(phrase)).call(columns);
    }
    let udf = ScalarUDF::from(KeywordIn::new(phrase));
    RECORD_FIELDS
        .iter()
        .map(|f| udf.call(vec![Relation::column(&hidden(f))]))
        .reduce(Expr::or)
        .unwrap_or_else(|| lit(false))
}

/// The per-column function of `keyword`, for the type-coverage test.
#[cfg(test)]
pub(super) fn filter_udf_for_tests(keyword: &str) -> ScalarUDF {
    ScalarUDF::from(KeywordIn::new(Phrase::parse(keyword)))
}

/// The whole-record function of `keyword`, for the type-coverage test.
#[cfg(test)]
pub(super) fn record_udf_for_tests(keyword: &str) -> ScalarUDF {
    ScalarUDF::from(KeywordRecord::new(Phrase::parse(keyword)))
}

/// The text of every cell of a stored column as `_raw` shows it: text of any string type,
/// numbers in decimal, times as Microsoft writes them; `None` for null.
pub fn texts(array: &ArrayRef) -> Result<Vec<Option<String>>> {
    Ok(match array.data_type() {
        DataType::Timestamp(_, _) => {
            let nanos =
                arrow::compute::cast(array, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
            nanos
                .as_primitive::<arrow::datatypes::TimestampNanosecondType>()
                .iter()
                .map(|v| v.map(|ns| format_trace_time(chrono::DateTime::from_timestamp_nanos(ns))))
                .collect()
        }
        _ => {
            let text = arrow::compute::cast(array, &DataType::Utf8)?;
            text.as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_owned))
                .collect()
        }
    })
}

/// `keyword_in(column)`: the keyword matches inside the value's text.
#[derive(Debug)]
struct KeywordIn {
    phrase: Phrase,
    literal: Option<String>,
    signature: Signature,
}

impl_udf_eq!(KeywordIn, phrase);

impl KeywordIn {
    fn new(phrase: Phrase) -> KeywordIn {
        KeywordIn {
            literal: phrase.required_literal(),
            phrase,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }

    fn test(&self, value: &str) -> bool {
        if let Some(literal) = &self.literal {
            // Lower-casing can change lengths; the literal is lower-cased the same way.
            if !value.to_lowercase().contains(literal.as_str()) {
                return false;
            }
        }
        self.phrase.found_in(&terms(value))
    }
}

impl ScalarUDFImpl for KeywordIn {
    fn name(&self) -> &str {
        "keyword_in"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let values = texts(&arrays(&args)?[0])?;
        let result: BooleanArray = values
            .iter()
            .map(|v| Some(v.as_deref().is_some_and(|v| self.test(v))))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

/// `keyword_record(c1, …, c14)`: the keyword matches the record's whole term sequence (keys
/// and values, in `_raw`'s order).
#[derive(Debug)]
struct KeywordRecord {
    phrase: Phrase,
    /// The terms of each key, in `_raw`'s order.
    keys: Vec<Vec<Vec<char>>>,
    signature: Signature,
}

impl_udf_eq!(KeywordRecord, phrase);

impl KeywordRecord {
    fn new(phrase: Phrase) -> KeywordRecord {
        KeywordRecord {
            phrase,
            keys: RECORD_FIELDS.iter().map(|k| terms(k)).collect(),
            signature: Signature::any(RECORD_FIELDS.len(), Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for KeywordRecord {
    fn name(&self) -> &str {
        "keyword_record"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let columns = arrays(&args)?
            .iter()
            .map(texts)
            .collect::<Result<Vec<_>>>()?;
        let result: BooleanArray = (0..args.number_rows)
            .map(|row| {
                let mut sequence = Vec::new();
                for (key, column) in self.keys.iter().zip(&columns) {
                    sequence.extend(key.iter().cloned());
                    if let Some(value) = &column[row] {
                        sequence.extend(terms(value));
                    }
                }
                Some(self.phrase.found_in(&sequence))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;

    fn strings(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(values.iter().copied().collect::<StringArray>())
    }

    fn found(keyword: &str, text: &str) -> bool {
        Phrase::parse(keyword).found_in(&terms(text))
    }

    #[test]
    fn terms_break_at_everything_but_letters_and_digits() {
        let t: Vec<String> = terms("RE: Invoice #4711 for jsmith@example.com (München)")
            .into_iter()
            .map(|t| t.into_iter().collect())
            .collect();
        assert_eq!(
            t,
            [
                "re", "invoice", "4711", "for", "jsmith", "example", "com", "münchen"
            ]
        );
    }

    #[test]
    fn keywords_match_whole_terms_case_insensitively() {
        assert!(found("invoice", "RE: Invoice 42"));
        assert!(found("INVOICE", "re: invoice 42"));
        assert!(!found("invoi", "Invoice"));
        assert!(found("invoi*", "Invoice"));
        assert!(found("*voice", "Invoice"));
        assert!(found("inv?ice", "Invoice"));
        assert!(!found("inv?ice", "Invooice"));
        assert!(found("*456*", "TEST1234567"));
        assert!(found("münchen", "Grüße aus MÜNCHEN"));
        assert!(found("İstanbul", "from İSTANBUL"));
        assert!(!found("stanbul", "İstanbul"));
        assert!(!found("re", "Received"));
    }

    #[test]
    fn phrases_need_adjacent_terms_and_a_star_is_one_term() {
        assert!(found("jsmith@example.com", "from jsmith@example.com today"));
        assert!(found("\"monthly report\"", "The Monthly  Report, June"));
        assert!(!found("\"monthly report\"", "monthly sales report"));
        assert!(found("jsmith@*.com", "jsmith@example.com"));
        assert!(!found("jsmith@*.com", "jsmith@mail.example.com"));
        assert!(!found("com*services", "com.test.services"));
        assert!(found("--", "anything"));
    }

    #[test]
    fn wildcards_backtrack() {
        let m = |p: &str, t: &str| {
            wildcard(
                &p.chars().collect::<Vec<_>>(),
                &t.chars().collect::<Vec<_>>(),
            )
        };
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXbYbZ"));
        assert!(m("*", ""));
        assert!(m("**", "abc"));
        assert!(!m("?", ""));
        assert!(m("*a", "aaaa"));
    }

    #[test]
    fn texts_read_every_string_representation() {
        let plain = strings(&[Some("a"), None]);
        let view = arrow::compute::cast(&plain, &DataType::Utf8View).expect("view");
        let large = arrow::compute::cast(&plain, &DataType::LargeUtf8).expect("large");
        let dictionary = arrow::compute::cast(
            &plain,
            &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        )
        .expect("dictionary");
        for array in [plain, view, large, dictionary] {
            assert_eq!(
                texts(&array).expect("texts"),
                vec![Some("a".to_owned()), None],
                "{}",
                array.data_type()
            );
        }
    }
}
