//! Diagnostics: every problem found in a query, with a stable code, the source span, optional
//! secondary labels and a hint. `Serialize` so the web editor can underline them; `render`
//! gives the terminal form (`error[E0101]: …`, the source line, a caret underline, a hint).

use serde::Serialize;

use crate::span::Span;

/// Stable diagnostic codes. The table in `ARCHITECTURE.md` lists them with their meaning.
pub mod codes {
    /// The query text is larger than [`crate::MAX_SOURCE_LEN`].
    pub const INPUT_TOO_LARGE: &str = "E0001";
    /// A string literal has no closing `"`.
    pub const UNTERMINATED_STRING: &str = "E0002";
    /// A regex literal has no closing `/`.
    pub const UNTERMINATED_REGEX: &str = "E0003";
    /// A character that cannot start any token.
    pub const UNEXPECTED_CHARACTER: &str = "E0004";
    /// A malformed number or an unknown number suffix.
    pub const INVALID_NUMBER: &str = "E0005";
    /// `{{name}}` left in the query text.
    pub const UNSUBSTITUTED_VARIABLE: &str = "E0006";
    /// `{{name}}` with no value given to `substitute_variables`.
    pub const MISSING_VARIABLE: &str = "E0007";
    /// Parentheses or operator chains nested too deeply.
    pub const TOO_DEEP: &str = "E0008";
    /// Too many diagnostics; the rest were left out.
    pub const TOO_MANY_ERRORS: &str = "E0009";

    /// The first word of a stage is not an operator.
    pub const UNKNOWN_OPERATOR: &str = "E0101";
    /// A token that does not fit the grammar at this point.
    pub const UNEXPECTED_TOKEN: &str = "E0102";
    /// An empty stage (`| |`) or a trailing `|`.
    pub const EMPTY_STAGE: &str = "E0103";
    /// An unclosed `(` or a stray `)`.
    pub const UNBALANCED_PARENTHESES: &str = "E0104";
    /// An unknown option of an operator (`outlier wndow=3`).
    pub const UNKNOWN_OPTION: &str = "E0105";

    /// An unknown scalar function.
    pub const UNKNOWN_FUNCTION: &str = "E0201";
    /// A function or aggregate called with the wrong number of arguments.
    pub const WRONG_ARITY: &str = "E0202";
    /// An aggregate function inside `where` or an expression.
    pub const AGGREGATE_IN_EXPRESSION: &str = "E0203";
    /// An aggregate whose argument is not a plain field (including an aggregate of an aggregate).
    pub const INVALID_AGGREGATE_ARGUMENT: &str = "E0204";
    /// The number of `as` names differs from the number of extracted values.
    pub const ALIAS_COUNT_MISMATCH: &str = "E0205";
    /// A regex that does not compile.
    pub const INVALID_REGEX: &str = "E0206";
    /// A `parse regex` / `extract` regex without a named group.
    pub const NO_NAMED_GROUP: &str = "E0207";
    /// An unnamed capturing group in a `parse regex` / `extract` regex.
    pub const UNNAMED_GROUP: &str = "E0208";
    /// An invalid anchor pattern (`**`, no `*`).
    pub const INVALID_ANCHOR_PATTERN: &str = "E0209";
    /// A count (`top`, `limit`, `dedup`, `buckets`) outside its allowed range.
    pub const COUNT_OUT_OF_RANGE: &str = "E0210";
    /// A string or expression where a number literal is required.
    pub const EXPECTED_NUMBER: &str = "E0211";
    /// The same name twice in `fields` or in an aggregation's outputs.
    pub const DUPLICATE_NAME: &str = "E0212";
    /// `count_frequent` combined with other aggregates.
    pub const COUNT_FREQUENT_MIXED: &str = "E0213";
    /// `transpose` without `row` or `column`.
    pub const TRANSPOSE_INCOMPLETE: &str = "E0214";
    /// `fillmissing timeslice` with no span and no earlier fixed-span `timeslice`.
    pub const FILLMISSING_WITHOUT_TIMESLICE: &str = "E0215";
    /// An unknown metadata field in the scope.
    pub const UNKNOWN_METADATA_FIELD: &str = "E0216";
    /// A malformed JSON path.
    pub const INVALID_JSON_PATH: &str = "E0217";
    /// An unknown aggregate function.
    pub const UNKNOWN_AGGREGATE: &str = "E0218";
    /// A percentile outside 0..=100.
    pub const INVALID_PERCENTILE: &str = "E0219";
    /// A bad `outlier` parameter value.
    pub const INVALID_OUTLIER_PARAMETER: &str = "E0220";
    /// A lookup whose key does not fit the table (`geo://location on ip=…`).
    pub const INVALID_LOOKUP_KEY: &str = "E0221";
    /// A duration that is zero, negative, or not whole milliseconds.
    pub const INVALID_DURATION: &str = "E0222";
    /// A `fillmissing … with` default that is not a literal.
    pub const INVALID_FILL_DEFAULT: &str = "E0223";
    /// `fillmissing … takeLast` without a `timeslice` generator.
    pub const TAKE_LAST_WITHOUT_TIMESLICE: &str = "E0224";
    /// A bad `split`/`csv` option or column (not one character, the same character twice,
    /// column 0, a column taken twice).
    pub const INVALID_SPLIT: &str = "E0225";
    /// A regex literal where it cannot be used (anywhere but `matches` and `replace`'s
    /// pattern).
    pub const MISPLACED_REGEX: &str = "E0226";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    /// Secondary spans with a short note each.
    pub labels: Vec<(Span, String)>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            span,
            labels: Vec::new(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_label(mut self, span: Span, note: impl Into<String>) -> Diagnostic {
        self.labels.push((span, note.into()));
        self
    }

    /// Sets a `did you mean` hint when `word` is close to one of `candidates`.
    pub fn with_suggestion<'a>(
        self,
        word: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Diagnostic {
        match suggest(word, candidates) {
            Some(best) => self.with_hint(format!("did you mean '{best}'?")),
            None => self,
        }
    }

    /// The terminal form: header, `line:column`, the source line, an underline, labels, hint.
    pub fn render(&self, source: &str) -> String {
        let mut out = format!(
            "{}[{}]: {}\n",
            self.severity.as_str(),
            self.code,
            self.message
        );
        render_snippet(&mut out, source, self.span, '^', None);
        for (span, note) in &self.labels {
            render_snippet(&mut out, source, *span, '-', Some(note));
        }
        if let Some(hint) = &self.hint {
            out.push_str("hint: ");
            out.push_str(hint);
            out.push('\n');
        }
        out
    }
}

/// The closest candidate to `word` (case-insensitive), if it is close enough to be a typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    let mut best: Option<(&'a str, f64)> = None;
    for candidate in candidates {
        let lower = candidate.to_lowercase();
        let distance = strsim::levenshtein(&word, &lower);
        let similarity = strsim::jaro_winkler(&word, &lower);
        let close = distance <= 2.max(word.chars().count() / 4) || similarity >= 0.88;
        if close && best.is_none_or(|(_, score)| similarity > score) {
            best = Some((candidate, similarity));
        }
    }
    best.map(|(candidate, _)| candidate)
}

/// The largest char boundary `<= index` (clamped to the text).
pub(crate) fn floor_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while index > 0 && !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

fn render_snippet(out: &mut String, source: &str, span: Span, mark: char, note: Option<&str>) {
    let start = floor_boundary(source, span.start);
    let end = floor_boundary(source, span.end.max(start));
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let line_number = source[..start].matches('\n').count() + 1;
    let line = source[line_start..line_end].trim_end_matches('\r');
    let column = source[line_start..start].chars().count() + 1;
    let width = source[start..end.min(line_end).max(start)]
        .chars()
        .count()
        .max(1);
    let gutter = " ".repeat(line_number.to_string().len());
    out.push_str(&format!("{gutter}--> {line_number}:{column}\n"));
    out.push_str(&format!("{gutter} |\n"));
    out.push_str(&format!("{line_number} | {line}\n"));
    let underline: String = std::iter::repeat_n(mark, width).collect();
    let padding = " ".repeat(column - 1);
    match note {
        Some(note) => out.push_str(&format!("{gutter} | {padding}{underline} {note}\n")),
        None => out.push_str(&format!("{gutter} | {padding}{underline}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggest_finds_close_operator() {
        assert_eq!(suggest("countt", ["count", "sort", "limit"]), Some("count"));
        assert_eq!(suggest("xyzzy", ["count", "sort", "limit"]), None);
    }

    #[test]
    fn render_points_at_span() {
        let diagnostic = Diagnostic::error("E0101", "unknown operator 'countt'", Span::new(4, 10))
            .with_hint("did you mean 'count'?");
        let text = diagnostic.render("x | countt by y");
        assert!(text.starts_with("error[E0101]: unknown operator 'countt'\n"));
        assert!(text.contains("1 | x | countt by y\n"));
        assert!(text.contains("  |     ^^^^^^\n"));
        assert!(text.ends_with("hint: did you mean 'count'?\n"));
    }
}
