//! A minimal streaming JSON scanner: it finds where values begin and end (string- and
//! nesting-aware) without building them, keeping line and column as it goes. The page reader
//! walks the envelope with it and captures each array element's bytes for serde; values it
//! does not need (`__metadata`, `odata.nextLink`, unknown keys) are skipped without buffering.
//! It works a buffer at a time, not byte by byte, so large pages scan at memory speed.

use std::io::{self, BufRead};

use super::error::Position;

/// Why scanning stopped.
#[derive(Debug)]
pub(crate) enum ScanError {
    Io(io::Error),
    /// The input ended inside a value or the envelope.
    Truncated,
    /// Not JSON at this point; the message says what was expected.
    Syntax(String),
}

impl From<io::Error> for ScanError {
    fn from(error: io::Error) -> Self {
        ScanError::Io(error)
    }
}

/// What kind of value is being scanned, and how deep inside it the scan is.
#[derive(Debug, Clone, Copy)]
enum ValueState {
    Container {
        depth: u32,
        in_string: bool,
        escaped: bool,
    },
    String {
        escaped: bool,
    },
    Scalar,
}

pub(crate) struct JsonScanner<R> {
    reader: R,
    position: Position,
    capture: Option<Vec<u8>>,
    capture_limit: usize,
    overflowed: bool,
}

impl<R: BufRead> JsonScanner<R> {
    pub(crate) fn new(reader: R, start: Position, capture_limit: usize) -> Self {
        JsonScanner {
            reader,
            position: start,
            capture: None,
            capture_limit,
            overflowed: false,
        }
    }

    /// Position of the next byte.
    pub(crate) fn position(&self) -> Position {
        self.position
    }

    pub(crate) fn peek(&mut self) -> io::Result<Option<u8>> {
        loop {
            match self.reader.fill_buf() {
                Ok(buf) => return Ok(buf.first().copied()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Consumes `n` bytes of the current buffer, accounting for position and capture.
    fn consume(&mut self, n: usize) -> io::Result<()> {
        let buf = self.reader.fill_buf()?;
        let chunk = &buf[..n.min(buf.len())];
        self.position = self.position.advanced(chunk, chunk.len());
        if let Some(capture) = &mut self.capture {
            if capture.len() + chunk.len() > self.capture_limit {
                // Stop buffering but keep scanning: the value is skipped, not the rest.
                self.overflowed = true;
                capture.clear();
                capture.shrink_to_fit();
            } else if !self.overflowed {
                capture.extend_from_slice(chunk);
            }
        }
        let len = chunk.len();
        self.reader.consume(len);
        Ok(())
    }

    pub(crate) fn bump(&mut self) -> io::Result<()> {
        self.consume(1)
    }

    /// Skips whitespace and returns the next byte without consuming it.
    pub(crate) fn skip_whitespace(&mut self) -> io::Result<Option<u8>> {
        loop {
            let buf = loop {
                match self.reader.fill_buf() {
                    Ok(buf) => break buf,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(error),
                }
            };
            if buf.is_empty() {
                return Ok(None);
            }
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(n) => {
                    let next = buf[n];
                    self.consume(n)?;
                    return Ok(Some(next));
                }
                None => {
                    let n = buf.len();
                    self.consume(n)?;
                }
            }
        }
    }

    /// Consumes `expected` (after whitespace) or fails with a message naming it.
    pub(crate) fn expect(&mut self, expected: u8) -> Result<(), ScanError> {
        match self.skip_whitespace()? {
            Some(byte) if byte == expected => Ok(self.bump()?),
            Some(byte) => Err(ScanError::Syntax(format!(
                "expected '{}', found {}",
                char::from(expected),
                describe(byte)
            ))),
            None => Err(ScanError::Truncated),
        }
    }

    /// Starts buffering every consumed byte (up to the capture limit).
    pub(crate) fn start_capture(&mut self) {
        self.capture = Some(Vec::new());
        self.overflowed = false;
    }

    /// Stops buffering; `None` if the captured value exceeded the limit.
    pub(crate) fn take_capture(&mut self) -> Option<Vec<u8>> {
        let capture = self.capture.take();
        if std::mem::take(&mut self.overflowed) {
            None
        } else {
            capture
        }
    }

    /// Consumes one whole value starting at the next byte (no leading whitespace).
    pub(crate) fn scan_value(&mut self) -> Result<(), ScanError> {
        let state = match self.peek()? {
            None => return Err(ScanError::Truncated),
            Some(b'{' | b'[') => ValueState::Container {
                depth: 0,
                in_string: false,
                escaped: false,
            },
            Some(b'"') => {
                self.bump()?;
                ValueState::String { escaped: false }
            }
            Some(b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => ValueState::Scalar,
            Some(byte) => {
                return Err(ScanError::Syntax(format!(
                    "expected a value, found {}",
                    describe(byte)
                )));
            }
        };
        self.scan_from(state)
    }

    /// Consumes the rest of an object or array whose opening bracket was already consumed.
    pub(crate) fn scan_rest_of_container(&mut self) -> Result<(), ScanError> {
        self.scan_from(ValueState::Container {
            depth: 1,
            in_string: false,
            escaped: false,
        })
    }

    fn scan_from(&mut self, mut state: ValueState) -> Result<(), ScanError> {
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return match state {
                    ValueState::Scalar => Ok(()),
                    _ => Err(ScanError::Truncated),
                };
            }
            let (used, finished) = step(&mut state, buf);
            self.consume(used)?;
            if finished {
                return Ok(());
            }
        }
    }

    /// Reads an object key (a JSON string) and unescapes it.
    pub(crate) fn read_key(&mut self) -> Result<String, ScanError> {
        match self.skip_whitespace()? {
            Some(b'"') => {}
            Some(byte) => {
                return Err(ScanError::Syntax(format!(
                    "expected a key, found {}",
                    describe(byte)
                )));
            }
            None => return Err(ScanError::Truncated),
        }
        let outer = self.capture.take();
        let outer_overflowed = std::mem::take(&mut self.overflowed);
        self.capture = Some(Vec::new());
        let scanned = self.scan_value();
        let key_bytes = self.capture.take().unwrap_or_default();
        let key_overflowed = std::mem::replace(&mut self.overflowed, outer_overflowed);
        self.capture = outer;
        if let Some(outer) = &mut self.capture {
            outer.extend_from_slice(&key_bytes);
        }
        scanned?;
        if key_overflowed {
            return Err(ScanError::Syntax("key is too long".to_owned()));
        }
        serde_json::from_slice(&key_bytes)
            .map_err(|error| ScanError::Syntax(format!("bad key: {error}")))
    }
}

/// Advances `state` over `buf`; returns how many bytes belong to the value and whether it
/// ended within them. A scalar ends before its delimiter, which is left unconsumed.
fn step(state: &mut ValueState, buf: &[u8]) -> (usize, bool) {
    match state {
        ValueState::Scalar => match buf
            .iter()
            .position(|b| matches!(b, b',' | b']' | b'}') || b.is_ascii_whitespace())
        {
            Some(n) => (n, true),
            None => (buf.len(), false),
        },
        ValueState::String { escaped } => {
            let mut i = 0;
            while i < buf.len() {
                if *escaped {
                    *escaped = false;
                } else {
                    // Jump to the next quote or backslash: strings are most of the bytes.
                    match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                        Some(offset) => {
                            i += offset;
                            if buf[i] == b'"' {
                                return (i + 1, true);
                            }
                            *escaped = true;
                        }
                        None => return (buf.len(), false),
                    }
                }
                i += 1;
            }
            (buf.len(), false)
        }
        ValueState::Container {
            depth,
            in_string,
            escaped,
        } => {
            let mut i = 0;
            while i < buf.len() {
                let byte = buf[i];
                if *in_string {
                    if *escaped {
                        *escaped = false;
                    } else if let Some(offset) = memchr::memchr2(b'"', b'\\', &buf[i..]) {
                        i += offset;
                        if buf[i] == b'"' {
                            *in_string = false;
                        } else {
                            *escaped = true;
                        }
                    } else {
                        return (buf.len(), false);
                    }
                } else {
                    match byte {
                        b'"' => *in_string = true,
                        b'{' | b'[' => *depth += 1,
                        b'}' | b']' => {
                            *depth = depth.saturating_sub(1);
                            if *depth == 0 {
                                return (i + 1, true);
                            }
                        }
                        _ => {}
                    }
                }
                i += 1;
            }
            (buf.len(), false)
        }
    }
}

/// A byte as it should appear in an error message.
pub(crate) fn describe(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("'{}'", char::from(byte))
    } else {
        format!("byte 0x{byte:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner(text: &str, capacity: usize) -> JsonScanner<io::BufReader<&[u8]>> {
        JsonScanner::new(
            io::BufReader::with_capacity(capacity, text.as_bytes()),
            Position::START,
            1 << 20,
        )
    }

    #[test]
    fn values_are_captured_across_small_buffers() {
        let text = r#"{"a":"x\"}y","b":[1,{"c":"]"}]} , 42 "s\\" tail"#;
        let mut s = scanner(text, 3);
        s.start_capture();
        s.scan_value().unwrap();
        assert_eq!(
            s.take_capture().unwrap(),
            br#"{"a":"x\"}y","b":[1,{"c":"]"}]}"#
        );
        s.expect(b',').unwrap();
        s.skip_whitespace().unwrap();
        s.start_capture();
        s.scan_value().unwrap();
        assert_eq!(s.take_capture().unwrap(), b"42");
        s.skip_whitespace().unwrap();
        s.start_capture();
        s.scan_value().unwrap();
        assert_eq!(s.take_capture().unwrap(), br#""s\\""#);
        assert_eq!(
            s.position(),
            Position {
                line: 1,
                column: 43
            }
        );
    }

    #[test]
    fn truncation_and_positions_are_reported() {
        let mut s = scanner("{\n \"value\": [\n {\"a\": 1", 4);
        s.bump().unwrap();
        assert_eq!(s.read_key().unwrap(), "value");
        s.expect(b':').unwrap();
        s.expect(b'[').unwrap();
        s.skip_whitespace().unwrap();
        assert_eq!(s.position(), Position { line: 3, column: 2 });
        assert!(matches!(s.scan_value(), Err(ScanError::Truncated)));
    }

    #[test]
    fn oversized_capture_is_dropped_but_scanned() {
        let text = format!("[\"{}\", 1]", "x".repeat(100));
        let mut s = JsonScanner::new(io::BufReader::new(text.as_bytes()), Position::START, 10);
        s.bump().unwrap();
        s.start_capture();
        s.scan_value().unwrap();
        assert_eq!(s.take_capture(), None);
        s.expect(b',').unwrap();
        s.skip_whitespace().unwrap();
        s.start_capture();
        s.scan_value().unwrap();
        assert_eq!(s.take_capture().unwrap(), b"1");
    }
}
