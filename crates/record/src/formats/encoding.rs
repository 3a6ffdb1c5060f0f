//! Text encodings of input files: UTF-8 with or without BOM, and UTF-16 (Windows PowerShell 5
//! writes `Export-Csv` as UTF-16LE with BOM; the EAC's extended report is UTF-16LE, often
//! without one). Everything downstream works on UTF-8, so UTF-16 is transcoded while it
//! streams, a buffer at a time, never by reading the whole file.

use std::io::{self, Read, Write};

use encoding_rs::{Decoder, UTF_16BE, UTF_16LE};

/// The encoding of an input, as sniffed from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextEncoding {
    Utf8,
    Utf16Le,
    Utf16Be,
}

/// How many leading bytes are inspected to guess UTF-16 without a BOM.
const NUL_SAMPLE: usize = 512;

/// Returns the encoding and the length of its byte order mark (0 when there is none).
pub(crate) fn sniff_encoding(prefix: &[u8]) -> (TextEncoding, usize) {
    match prefix {
        [0xEF, 0xBB, 0xBF, ..] => (TextEncoding::Utf8, 3),
        [0xFF, 0xFE, ..] => (TextEncoding::Utf16Le, 2),
        [0xFE, 0xFF, ..] => (TextEncoding::Utf16Be, 2),
        _ => (guess_utf16_by_nuls(prefix), 0),
    }
}

/// ASCII text in UTF-16 has a NUL in every other byte: odd positions for little endian, even
/// for big endian. Real UTF-8 message trace data never contains NUL, so the signal is strong.
fn guess_utf16_by_nuls(prefix: &[u8]) -> TextEncoding {
    let sample = &prefix[..prefix.len().min(NUL_SAMPLE)];
    let pairs = sample.len() / 2;
    if pairs < 2 {
        return TextEncoding::Utf8;
    }
    let (mut even_nuls, mut odd_nuls) = (0usize, 0usize);
    for pair in sample.chunks_exact(2) {
        even_nuls += usize::from(pair[0] == 0);
        odd_nuls += usize::from(pair[1] == 0);
    }
    // Mostly-ASCII text: at least 60% of one half NUL and almost none of the other.
    if odd_nuls * 10 >= pairs * 6 && even_nuls * 20 <= pairs {
        TextEncoding::Utf16Le
    } else if even_nuls * 10 >= pairs * 6 && odd_nuls * 20 <= pairs {
        TextEncoding::Utf16Be
    } else {
        TextEncoding::Utf8
    }
}

/// Reads up to `limit` bytes (fewer only at end of input), so detection sees a fixed window
/// even when the underlying reader returns short reads (pipes, sockets).
pub(crate) fn read_prefix(reader: &mut dyn Read, limit: usize) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(limit);
    let mut chunk = [0u8; 4096];
    while prefix.len() < limit {
        let wanted = (limit - prefix.len()).min(chunk.len());
        match reader.read(&mut chunk[..wanted]) {
            Ok(0) => break,
            Ok(n) => prefix.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(prefix)
}

/// Transcodes UTF-16 to UTF-8 as it is read. Malformed UTF-16 (a lone surrogate) becomes
/// U+FFFD rather than ending the stream: one damaged subject must not cost the whole file.
pub(crate) struct Utf16ToUtf8<R> {
    inner: R,
    decoder: Decoder,
    input: Box<[u8]>,
    output: Vec<u8>,
    output_pos: usize,
    finished: bool,
}

impl<R: Read> Utf16ToUtf8<R> {
    /// `inner` must start after the BOM, if any.
    pub(crate) fn new(inner: R, encoding: TextEncoding) -> Self {
        let encoding = if encoding == TextEncoding::Utf16Be {
            UTF_16BE
        } else {
            UTF_16LE
        };
        Utf16ToUtf8 {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            input: vec![0u8; 64 * 1024].into_boxed_slice(),
            output: Vec::new(),
            output_pos: 0,
            finished: false,
        }
    }

    fn refill(&mut self) -> io::Result<()> {
        let read = loop {
            match self.inner.read(&mut self.input) {
                Ok(n) => break n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        };
        let last = read == 0;
        let src = &self.input[..read];
        let capacity = self
            .decoder
            .max_utf8_buffer_length(read)
            .unwrap_or(read * 3 + 16);
        self.output.clear();
        self.output.resize(capacity, 0);
        let (_, consumed, written, _) = self.decoder.decode_to_utf8(src, &mut self.output, last);
        debug_assert_eq!(
            consumed, read,
            "output buffer sized by max_utf8_buffer_length"
        );
        self.output.truncate(written);
        self.output_pos = 0;
        self.finished = last;
        Ok(())
    }
}

impl<R: Read> Read for Utf16ToUtf8<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.output_pos == self.output.len() {
            if self.finished {
                return Ok(0);
            }
            self.refill()?;
        }
        let available = &self.output[self.output_pos..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.output_pos += n;
        Ok(n)
    }
}

/// Encodes the UTF-8 written to it as UTF-16LE (encoding_rs only decodes UTF-16). A write may
/// end inside a multi-byte character; the tail waits for the next write.
pub(crate) struct Utf8ToUtf16Le<W> {
    inner: W,
    pending: Vec<u8>,
    encoded: Vec<u8>,
}

impl<W: Write> Utf8ToUtf16Le<W> {
    pub(crate) fn new(inner: W) -> Self {
        Utf8ToUtf16Le {
            inner,
            pending: Vec::new(),
            encoded: Vec::new(),
        }
    }

    pub(crate) fn write_bom(&mut self) -> io::Result<()> {
        self.inner.write_all(&[0xFF, 0xFE])
    }

    /// Fails if the text written so far ended inside a character.
    pub(crate) fn into_inner(mut self) -> io::Result<W> {
        if !self.pending.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "output ended inside a utf-8 character",
            ));
        }
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for Utf8ToUtf16Le<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(text) => text.len(),
            Err(error) if error.error_len().is_none() => error.valid_up_to(),
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "output is not valid utf-8",
                ));
            }
        };
        let text = String::from_utf8_lossy(&self.pending[..valid]);
        self.encoded.clear();
        for unit in text.encode_utf16() {
            self.encoded.extend_from_slice(&unit.to_le_bytes());
        }
        self.inner.write_all(&self.encoded)?;
        self.pending.drain(..valid);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn boms_are_recognised() {
        assert_eq!(sniff_encoding(b"\xEF\xBB\xBF{}"), (TextEncoding::Utf8, 3));
        assert_eq!(sniff_encoding(b"\xFF\xFE{\0"), (TextEncoding::Utf16Le, 2));
        assert_eq!(sniff_encoding(b"\xFE\xFF\0{"), (TextEncoding::Utf16Be, 2));
        assert_eq!(sniff_encoding(b"{\"a\":1}"), (TextEncoding::Utf8, 0));
    }

    #[test]
    fn utf16_without_bom_is_recognised_by_nuls() {
        let le = utf16le("\"Received\",\"SenderAddress\"");
        assert_eq!(sniff_encoding(&le), (TextEncoding::Utf16Le, 0));
        let be: Vec<u8> = "date_time_utc,client_ip"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(sniff_encoding(&be), (TextEncoding::Utf16Be, 0));
    }

    #[test]
    fn utf16_transcodes_across_buffer_boundaries() {
        let text = "Grüße 👋 ".repeat(20_000);
        let mut reader = Utf16ToUtf8::new(io::Cursor::new(utf16le(&text)), TextEncoding::Utf16Le);
        let mut out = String::new();
        reader.read_to_string(&mut out).unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn utf16_writer_handles_split_characters() {
        let text = "é👋x";
        let mut writer = Utf8ToUtf16Le::new(Vec::new());
        for byte in text.as_bytes() {
            writer.write_all(std::slice::from_ref(byte)).unwrap();
        }
        assert_eq!(writer.into_inner().unwrap(), utf16le(text));
    }
}
