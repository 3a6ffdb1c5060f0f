//! Counting the matches of a field: `parse regex field=f "…" multi` followed by an
//! aggregation that only counts rows by the extracted groups (`count_frequent w`, `count by
//! w`). The original app's "Frequency of Keywords in Subject" panel does this to every word of
//! every subject. Instead of one row per match (a list per row, unnested, then grouped), the
//! rows are counted per distinct value of `f` in the plan, and the matches of each distinct
//! value are counted here, weighted by that count, in one hash map. Most values repeat, so the
//! regex runs on a fraction of the rows and no row per match is ever built.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use mailscope_query::ir::{self, Aggregate, AggregateFunction, SortKey, StageKind};
use regex::Regex;

use crate::error::{Error, Result};

/// The count column of the pre-aggregation; not a name a query can write.
pub const ROWS: &str = "__rows_per_value";

/// A parse followed by a count of its matches.
#[derive(Debug)]
pub struct WordCount {
    pub source: String,
    regex: String,
    groups: Vec<String>,
    nodrop: bool,
    /// Output key fields, in the aggregation's order.
    by: Vec<String>,
    /// Output count fields.
    counts: Vec<String>,
    /// `count_frequent`'s order, applied after counting.
    pub sort: Option<ir::Stage>,
}

impl WordCount {
    /// Recognises `parse` followed by `next` (see the module documentation).
    pub fn plan(parse: &ir::Stage, next: &ir::Stage) -> Option<WordCount> {
        let StageKind::ParseRegex {
            source: Some(source),
            regex,
            groups,
            nodrop,
            multi: true,
        } = &parse.kind
        else {
            return None;
        };
        let extracted = |field: &String| groups.iter().any(|g| g.eq_ignore_ascii_case(field));
        let (by, counts, sort) = match &next.kind {
            StageKind::CountFrequent { fields } if fields.iter().all(extracted) => {
                let sort = ir::Stage {
                    kind: StageKind::Sort {
                        keys: vec![SortKey {
                            field: "_approxcount".into(),
                            descending: true,
                        }],
                    },
                    span: next.span,
                };
                (fields.clone(), vec!["_approxcount".to_owned()], Some(sort))
            }
            StageKind::Aggregate { aggregates, by }
                if !aggregates.is_empty()
                    && by.iter().all(extracted)
                    && aggregates.iter().all(|a| {
                        a.function == AggregateFunction::Count && a.argument.is_none()
                    }) =>
            {
                let counts = aggregates.iter().map(|a| a.alias.clone()).collect();
                (by.clone(), counts, None)
            }
            _ => return None,
        };
        Some(WordCount {
            source: source.clone(),
            regex: regex.clone(),
            groups: groups.clone(),
            nodrop: *nodrop,
            by,
            counts,
            sort,
        })
    }

    /// The stage that counts rows per distinct value of the source field.
    pub fn pre_aggregation(&self, span: mailscope_query::Span) -> ir::Stage {
        ir::Stage {
            kind: StageKind::Aggregate {
                aggregates: vec![Aggregate {
                    function: AggregateFunction::Count,
                    argument: None,
                    alias: ROWS.into(),
                }],
                by: vec![self.source.clone()],
            },
            span,
        }
    }

    /// Counts the matches in `batch` (columns: the source field, then [`ROWS`]).
    pub fn count(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let regex = Regex::new(&self.regex).map_err(|e| Error::Query(e.to_string()))?;
        let values = arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
        let values = values.as_string::<i32>();
        let rows = arrow::compute::cast(batch.column(1), &DataType::Int64)?;
        let rows = rows.as_primitive::<arrow::datatypes::Int64Type>();
        // Positions of the output keys among the regex's groups.
        let positions: Vec<usize> = self
            .by
            .iter()
            .map(|field| {
                self.groups
                    .iter()
                    .position(|g| g.eq_ignore_ascii_case(field))
                    .unwrap_or(0)
            })
            .collect();
        let whole = super::functions::whole_match(&self.regex, &self.groups);
        // `(?<word>\w+)`: the matches are the runs of word characters, found by a scan.
        let words = (whole && positions.len() == 1)
            .then(|| word_runs(&self.regex))
            .flatten();
        // One key (the common case) is counted by `&str`, without a vector per match.
        let mut single: HashMap<Option<&str>, i64> = HashMap::new();
        let mut counts: HashMap<Vec<Option<&str>>, i64> = HashMap::new();
        for row in 0..batch.num_rows() {
            let weight = if rows.is_null(row) {
                0
            } else {
                rows.value(row)
            };
            let value = (!values.is_null(row)).then(|| values.value(row));
            let mut matched = false;
            if let Some(value) = value {
                if let Some(class) = words {
                    for_each_word(value, class, |word| {
                        matched = true;
                        *single.entry(Some(word)).or_default() += weight;
                    });
                } else if whole && positions.len() == 1 {
                    for found in regex.find_iter(value) {
                        matched = true;
                        *single.entry(Some(found.as_str())).or_default() += weight;
                    }
                } else {
                    for captures in regex.captures_iter(value) {
                        matched = true;
                        let key = positions
                            .iter()
                            .map(|&p| captures.name(&self.groups[p]).map(|m| m.as_str()))
                            .collect();
                        *counts.entry(key).or_default() += weight;
                    }
                }
            }
            if !matched && self.nodrop {
                *counts.entry(vec![None; positions.len()]).or_default() += weight;
            }
        }
        for (key, n) in single {
            *counts.entry(vec![key]).or_default() += n;
        }
        if self.by.is_empty() {
            // A count without `by` has one row, 0 when nothing matched.
            counts.entry(Vec::new()).or_default();
        }
        let mut entries: Vec<(Vec<Option<&str>>, i64)> = counts.into_iter().collect();
        entries.sort_unstable();
        let mut fields = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (i, name) in self.by.iter().enumerate() {
            fields.push(Field::new(name, DataType::Utf8, true));
            columns.push(Arc::new(
                entries
                    .iter()
                    .map(|(key, _)| key[i])
                    .collect::<StringArray>(),
            ));
        }
        let totals: Int64Array = entries.iter().map(|(_, n)| Some(*n)).collect();
        for name in &self.counts {
            fields.push(Field::new(name, DataType::Int64, false));
            columns.push(Arc::new(totals.clone()));
        }
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }
}

/// Which characters make a word in [`for_each_word`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WordClass {
    /// Java's default `\w`: `[0-9A-Za-z_]` (the query crate translates `\w` to it).
    Ascii,
    /// `\w` under `(?U)`: Unicode word characters, as the regex crate's `\w`.
    Unicode,
}

/// Whether `pattern` (the regex crate's syntax, as the IR carries it) is one capture group
/// around a greedy run of word characters, whose matches are exactly the maximal runs of
/// those characters; and of which class.
fn word_runs(pattern: &str) -> Option<WordClass> {
    let hir = regex_syntax::parse(pattern).ok()?;
    let regex_syntax::hir::HirKind::Capture(capture) = hir.kind() else {
        return None;
    };
    let same = |candidate: &str| regex_syntax::parse(candidate).is_ok_and(|h| *capture.sub == h);
    if same("[0-9A-Za-z_]+") || same("(?-u:\\w)+") {
        Some(WordClass::Ascii)
    } else if same(r"\w+") && regex_syntax::try_is_word_character('a').is_ok() {
        Some(WordClass::Unicode)
    } else {
        None
    }
}

/// Calls `f` with every maximal run of word characters of `text` (what the word regex
/// finds, left to right), without the regex engine: ASCII bytes are classified directly,
/// other characters are never word characters in the ASCII class and are looked up in the
/// regex's own Unicode table otherwise.
fn for_each_word<'a>(text: &'a str, class: WordClass, mut f: impl FnMut(&'a str)) {
    let bytes = text.as_bytes();
    let mut start: Option<usize> = None;
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        let (word, width) = if byte.is_ascii() {
            (byte.is_ascii_alphanumeric() || byte == b'_', 1)
        } else {
            let c = text[at..].chars().next().unwrap_or('\u{fffd}');
            let word = class == WordClass::Unicode
                && regex_syntax::try_is_word_character(c).unwrap_or(false);
            (word, c.len_utf8())
        };
        match (word, start) {
            (true, None) => start = Some(at),
            (false, Some(from)) => {
                f(&text[from..at]);
                start = None;
            }
            _ => {}
        }
        at += width;
    }
    if let Some(from) = start {
        f(&text[from..]);
    }
}

/// Whether `pattern` finds exactly the maximal runs of Java's default word characters
/// (`[0-9A-Za-z_]`) — what the partial aggregates' word level holds (`store/rollup.rs`).
pub(crate) fn is_ascii_word_runs(pattern: &str) -> bool {
    word_runs(pattern) == Some(WordClass::Ascii)
}

/// Calls `f` with every maximal run of `[0-9A-Za-z_]` of `text`.
pub(crate) fn for_each_ascii_word<'a>(text: &'a str, f: impl FnMut(&'a str)) {
    for_each_word(text, WordClass::Ascii, f);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages(text: &str) -> Vec<ir::Stage> {
        mailscope_query::compile(text)
            .expect("query compiles")
            .stages
    }

    fn batch(values: &[Option<&str>], rows: &[i64]) -> RecordBatch {
        RecordBatch::try_from_iter(vec![
            (
                "subject",
                Arc::new(values.iter().copied().collect::<StringArray>()) as ArrayRef,
            ),
            (ROWS, Arc::new(Int64Array::from(rows.to_vec())) as ArrayRef),
        ])
        .expect("batch")
    }

    fn table(batch: &RecordBatch) -> Vec<(Vec<Option<String>>, i64)> {
        let keys = batch.num_columns() - 1;
        let count = batch
            .column(keys)
            .as_primitive::<arrow::datatypes::Int64Type>();
        (0..batch.num_rows())
            .map(|row| {
                let key = (0..keys)
                    .map(|c| {
                        let column = batch.column(c).as_string::<i32>();
                        (!column.is_null(row)).then(|| column.value(row).to_owned())
                    })
                    .collect();
                (key, count.value(row))
            })
            .collect()
    }

    #[test]
    fn matches_are_counted_with_the_weight_of_their_value() {
        let s =
            stages(r#"* | parse regex field=subject "(?<word>\w+)" multi | count_frequent word"#);
        let words = WordCount::plan(&s[0], &s[1]).expect("recognised");
        let counted = words
            .count(&batch(
                &[Some("RE: RE: offer"), Some("offer"), None],
                &[2, 3, 7],
            ))
            .expect("count");
        let key = |w: &str| vec![Some(w.to_owned())];
        assert_eq!(table(&counted), vec![(key("RE"), 4), (key("offer"), 5)]);
        assert!(words.sort.is_some());
    }

    #[test]
    fn the_word_scan_finds_what_the_regex_finds() {
        assert_eq!(word_runs(r"(?<word>[0-9A-Za-z_]+)"), Some(WordClass::Ascii));
        assert_eq!(word_runs(r"(?<word>\w+)"), Some(WordClass::Unicode));
        assert_eq!(word_runs(r"(?<word>\w*)"), None);
        assert_eq!(word_runs(r"(?<word>[a-z]+)"), None);
        for (class, regex) in [
            (
                WordClass::Ascii,
                Regex::new(r"[0-9A-Za-z_]+").expect("regex"),
            ),
            (WordClass::Unicode, Regex::new(r"\w+").expect("regex")),
        ] {
            for text in [
                "",
                "RE: RE: offer",
                "  leading and trailing  ",
                "snake_case_42 x-y z.w",
                "Grüße aus Köln, naïve café – 東京 ١٢٣ e\u{301}t\u{200d}c",
                "¡¿?! … 🙂 emoji🙂inside \u{fe0f}",
                "tab\tnew\nline",
            ] {
                let mut found = Vec::new();
                for_each_word(text, class, |w| found.push(w));
                let expected: Vec<&str> = regex.find_iter(text).map(|m| m.as_str()).collect();
                assert_eq!(found, expected, "{class:?} {text:?}");
            }
        }
    }

    #[test]
    fn the_keyword_panel_counts_java_words() {
        // Sumo's `\w` is ASCII: "Grüße aus München" holds the words Gr, e, aus, M, nchen,
        // and a lone variation selector is no word.
        let s =
            stages(r#"* | parse regex field=subject "(?<word>\w+)" multi | count_frequent word"#);
        let words = WordCount::plan(&s[0], &s[1]).expect("recognised");
        let counted = words
            .count(&batch(
                &[Some("Grüße aus München"), Some("\u{fe0f}")],
                &[1, 5],
            ))
            .expect("count");
        let key = |w: &str| vec![Some(w.to_owned())];
        assert_eq!(
            table(&counted),
            vec![
                (key("Gr"), 1),
                (key("M"), 1),
                (key("aus"), 1),
                (key("e"), 1),
                (key("nchen"), 1)
            ]
        );
        let s = stages(
            r#"* | parse regex field=subject "(?U)(?<word>\w+)" multi | count_frequent word"#,
        );
        let words = WordCount::plan(&s[0], &s[1]).expect("recognised");
        let counted = words
            .count(&batch(
                &[Some("Grüße aus München"), Some("\u{fe0f}")],
                &[1, 5],
            ))
            .expect("count");
        // Under (?U) Java's \w holds the non-spacing marks, variation selectors among them.
        assert_eq!(
            table(&counted),
            vec![
                (key("Grüße"), 1),
                (key("München"), 1),
                (key("aus"), 1),
                (key("\u{fe0f}"), 5)
            ]
        );
    }

    #[test]
    fn several_groups_and_nodrop_keep_their_meaning() {
        let s = stages(
            r#"* | parse regex field=subject "(?<k>[a-z]+)=(?<v>\d+)" multi nodrop | count by v, k"#,
        );
        let words = WordCount::plan(&s[0], &s[1]).expect("recognised");
        let counted = words
            .count(&batch(
                &[Some("a=1 b=2"), Some("none"), Some("a=1")],
                &[1, 4, 2],
            ))
            .expect("count");
        let key =
            |v: Option<&str>, k: Option<&str>| vec![v.map(str::to_owned), k.map(str::to_owned)];
        assert_eq!(
            table(&counted),
            vec![
                (key(None, None), 4),
                (key(Some("1"), Some("a")), 3),
                (key(Some("2"), Some("b")), 1),
            ]
        );
        assert!(words.sort.is_none());
    }

    #[test]
    fn aggregations_needing_other_fields_are_not_recognised() {
        for text in [
            r#"* | parse regex field=subject "(?<word>\w+)" multi | count by word, status"#,
            r#"* | parse regex field=subject "(?<word>\w+)" multi | sum(size) by word"#,
            r#"* | parse regex "(?<word>\w+)" multi | count by word"#,
            r#"* | parse regex field=subject "(?<word>\w+)" | count by word"#,
        ] {
            let s = stages(text);
            assert!(WordCount::plan(&s[0], &s[1]).is_none(), "{text}");
        }
    }
}
