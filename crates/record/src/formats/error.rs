//! The one error type of every reader: where (file, line, column, record) and what. Bad
//! records are reported and skipped; only a fatal error (not trace data at all, I/O) ends the
//! stream, so an ingest can keep the good records and list the bad ones.

use std::fmt;

/// A problem found while reading. Positions are 1-based lines and byte columns; `record` is
/// the 0-based position of the record in its array (JSON pages) or in the file (NDJSON lines,
/// CSV data rows), so it matches the `Index` a JSON tool would show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ReadError {
    pub source_name: String,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub record: Option<u64>,
    pub message: String,
    /// The stream ends after a fatal error; otherwise only this record was skipped.
    pub fatal: bool,
}

impl ReadError {
    pub(crate) fn fatal(source_name: &str, message: impl Into<String>) -> Self {
        ReadError {
            source_name: source_name.to_owned(),
            line: None,
            column: None,
            record: None,
            message: message.into(),
            fatal: true,
        }
    }

    pub(crate) fn skipped(source_name: &str, message: impl Into<String>) -> Self {
        ReadError {
            fatal: false,
            ..ReadError::fatal(source_name, message)
        }
    }

    pub(crate) fn at(mut self, line: u64, column: Option<u64>) -> Self {
        self.line = Some(line);
        self.column = column;
        self
    }

    pub(crate) fn record(mut self, record: u64) -> Self {
        self.record = Some(record);
        self
    }

    pub(crate) fn io(source_name: &str, error: &std::io::Error) -> Self {
        ReadError::fatal(source_name, format!("cannot read input: {error}"))
    }

    /// `t.ndjson:3:17: record 2: "Received" is not a date: "yesterday"`.
    fn render(&self) -> String {
        let mut text = self.source_name.clone();
        if let Some(line) = self.line {
            text.push_str(&format!(":{line}"));
            if let Some(column) = self.column {
                text.push_str(&format!(":{column}"));
            }
        }
        text.push_str(": ");
        if let Some(record) = self.record {
            text.push_str(&format!("record {record}: "));
        }
        text.push_str(&self.message);
        text
    }
}

/// A position inside a text, used to turn offsets within a record into file positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) line: u64,
    pub(crate) column: u64,
}

impl Position {
    pub(crate) const START: Position = Position { line: 1, column: 1 };

    /// The file position of `inner`, a position relative to a text that starts at `self`.
    pub(crate) fn offset_by(self, inner: Position) -> Position {
        if inner.line <= 1 {
            Position {
                line: self.line,
                column: self.column + inner.column.saturating_sub(1),
            }
        } else {
            Position {
                line: self.line + inner.line - 1,
                column: inner.column,
            }
        }
    }

    /// Where byte `offset` of `text` lies, if `text` starts at `self`.
    pub(crate) fn advanced(self, text: &[u8], offset: usize) -> Position {
        let head = &text[..offset.min(text.len())];
        match memchr::memrchr(b'\n', head) {
            Some(last) => Position {
                line: self.line + memchr::memchr_iter(b'\n', head).count() as u64,
                column: (head.len() - last) as u64,
            },
            None => Position {
                line: self.line,
                column: self.column + head.len() as u64,
            },
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_column_and_record() {
        let error = ReadError::skipped("t.ndjson", "\"Received\" is not a date: \"yesterday\"")
            .at(3, Some(17))
            .record(2);
        assert_eq!(
            error.to_string(),
            "t.ndjson:3:17: record 2: \"Received\" is not a date: \"yesterday\""
        );
        let fatal = ReadError::fatal("in.json", "input is empty");
        assert_eq!(fatal.to_string(), "in.json: input is empty");
    }

    #[test]
    fn positions_combine() {
        let start = Position {
            line: 4,
            column: 10,
        };
        assert_eq!(
            start.offset_by(Position { line: 1, column: 3 }),
            Position {
                line: 4,
                column: 12
            }
        );
        assert_eq!(
            start.offset_by(Position { line: 3, column: 3 }),
            Position { line: 6, column: 3 }
        );
        assert_eq!(
            start.advanced(b"ab\ncd", 4),
            Position { line: 5, column: 2 }
        );
        assert_eq!(
            start.advanced(b"abcd", 2),
            Position {
                line: 4,
                column: 12
            }
        );
    }
}
