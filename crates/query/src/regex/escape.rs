//! Escapes (`\t`, `\x{…}`, `\u…`, `\0…`, `\cX`, `\d`, `\b`, …) and `\p{…}` properties.

use super::unicode::{self, Set};
use super::{Escaped, Flags, Parser, RegexError};

impl Parser {
    /// `\p{…}`, `\P{…}`, `\pL`.
    pub(super) fn property(&mut self, flags: Flags) -> Result<Set, RegexError> {
        let at = self.pos;
        let negated = self.raw(at + 1) == Some('P');
        self.pos += 2;
        let name = if self.raw(self.pos) == Some('{') {
            self.pos += 1;
            let mut name = String::new();
            loop {
                match self.raw(self.pos) {
                    Some('}') => break,
                    Some(c) => name.push(c),
                    None => {
                        return Err(self.error(
                            "unclosed character property (expected '}')",
                            at,
                            self.pos,
                        ));
                    }
                }
                self.pos += 1;
            }
            self.pos += 1;
            if name.is_empty() {
                return Err(self.error("empty character property", at, self.pos));
            }
            name
        } else {
            let Some(c) = self.raw(self.pos) else {
                return Err(self.error("\\p must be followed by a property name", at, at + 2));
            };
            self.pos += 1;
            c.to_string()
        };
        let set = unicode::property(&name, flags).map_err(|m| self.error(m, at, self.pos))?;
        Ok(if negated { set.negate() } else { set })
    }

    /// An escape other than `\p`, from its backslash. `is_range` tells `\v` that it is a
    /// range end or start (where Java reads it as U+000B).
    pub(super) fn escape(
        &mut self,
        flags: Flags,
        in_class: bool,
        is_range: bool,
    ) -> Result<Escaped, RegexError> {
        let at = self.pos;
        let Some(c) = self.raw(at + 1) else {
            return Err(self.error("trailing backslash at the end of the regex", at, at + 1));
        };
        self.pos += 2;
        let illegal = |parser: &Parser| {
            Err(parser.error(
                format!("illegal or unsupported escape sequence \\{c}"),
                at,
                parser.pos,
            ))
        };
        let unsupported = |parser: &Parser, what: &str| {
            Err(parser.error(
                format!("{what} is not supported (Java regex construct)"),
                at,
                parser.pos,
            ))
        };
        let escaped = match c {
            '0' => Escaped::Char(self.octal(flags, at)?),
            '1'..='9' if in_class => return illegal(self),
            '1'..='9' => return unsupported(self, "a backreference"),
            'k' if in_class => return illegal(self),
            'k' => return unsupported(self, "a named backreference"),
            'A' | 'z' | 'b' | 'B' | 'G' | 'Z' | 'R' | 'X' if in_class => return illegal(self),
            'A' => Escaped::Assertion(r"\A"),
            'z' => Escaped::Assertion(r"\z"),
            'b' if self.raw(self.pos) == Some('{') => {
                return unsupported(self, "\\b{…} (a grapheme boundary)");
            }
            'b' if flags.unicode_class => Escaped::Assertion(r"\b"),
            'b' => Escaped::Assertion(r"(?-u:\b)"),
            'B' if flags.unicode_class => Escaped::Assertion(r"\B"),
            'B' => Escaped::Assertion(r"(?-u:\B)"),
            'G' => return unsupported(self, "\\G (end of the previous match)"),
            'Z' => return unsupported(self, "\\Z (end before a final line terminator)"),
            'R' => return unsupported(self, "\\R (any line break)"),
            'X' => return unsupported(self, "\\X (a grapheme cluster)"),
            'N' => return unsupported(self, "\\N{…} (a character by name)"),
            'v' if is_range => Escaped::Char('\u{B}'),
            'd' | 'D' | 'w' | 'W' | 's' | 'S' | 'h' | 'H' | 'v' | 'V' => {
                Escaped::Set(unicode::predefined(c, flags))
            }
            'a' => Escaped::Char('\u{7}'),
            'e' => Escaped::Char('\u{1B}'),
            'f' => Escaped::Char('\u{C}'),
            'n' => Escaped::Char('\n'),
            'r' => Escaped::Char('\r'),
            't' => Escaped::Char('\t'),
            'c' => {
                let Some(x) = self.peek(flags) else {
                    return Err(self.error("\\c must be followed by a character", at, self.pos));
                };
                self.pos += 1;
                match char::from_u32(x as u32 ^ 0x40) {
                    Some(control) => Escaped::Char(control),
                    None => return illegal(self),
                }
            }
            'u' => Escaped::Char(self.unicode_escape(flags, at)?),
            'x' => Escaped::Char(self.hex_escape(flags, at)?),
            c if c.is_ascii_alphabetic() => return illegal(self),
            c => Escaped::Char(c),
        };
        Ok(escaped)
    }

    fn hex_digit(&mut self, flags: Flags) -> Option<u32> {
        let digit = self.peek(flags)?.to_digit(16)?;
        self.pos += 1;
        Some(digit)
    }

    /// `\0n`, `\0nn`, `\0mnn` (m ≤ 3).
    fn octal(&mut self, flags: Flags, at: usize) -> Result<char, RegexError> {
        let octal = |parser: &mut Parser| {
            let digit = parser.peek(flags)?.to_digit(8)?;
            parser.pos += 1;
            Some(digit)
        };
        let Some(first) = octal(self) else {
            return Err(self.error("illegal octal escape sequence", at, self.pos + 1));
        };
        let mut value = first;
        if let Some(second) = octal(self) {
            value = value * 8 + second;
            if first <= 3
                && let Some(third) = octal(self)
            {
                value = value * 8 + third;
            }
        }
        Ok(char::from_u32(value).unwrap_or('\0'))
    }

    /// `\xhh`, `\x{h…h}`.
    fn hex_escape(&mut self, flags: Flags, at: usize) -> Result<char, RegexError> {
        let value = if self.peek(flags) == Some('{') {
            self.pos += 1;
            let mut value: u32 = 0;
            let mut digits = 0;
            while let Some(digit) = self.hex_digit(flags) {
                value = value * 16 + digit;
                digits += 1;
                if value > 0x10_FFFF {
                    return Err(self.error("hexadecimal code point is too big", at, self.pos));
                }
            }
            if digits == 0 || self.peek(flags) != Some('}') {
                return Err(self.error("unclosed hexadecimal escape sequence", at, self.pos + 1));
            }
            self.pos += 1;
            value
        } else {
            match (self.hex_digit(flags), self.hex_digit(flags)) {
                (Some(high), Some(low)) => high * 16 + low,
                _ => {
                    return Err(self.error("illegal hexadecimal escape sequence", at, self.pos));
                }
            }
        };
        self.code_point(value, at)
    }

    /// `\uhhhh`, and a surrogate pair written as two of them.
    fn unicode_escape(&mut self, flags: Flags, at: usize) -> Result<char, RegexError> {
        let four = |parser: &mut Parser| -> Option<u32> {
            let mut value = 0;
            for _ in 0..4 {
                value = value * 16 + parser.hex_digit(flags)?;
            }
            Some(value)
        };
        let Some(value) = four(self) else {
            return Err(self.error("illegal unicode escape sequence", at, self.pos));
        };
        if (0xD800..0xDC00).contains(&value) && self.raw(self.pos) == Some('\\') {
            let save = self.pos;
            self.pos += 1;
            if self.peek(flags) == Some('u') {
                self.pos += 1;
                if let Some(low) = four(self).filter(|low| (0xDC00..0xE000).contains(low)) {
                    let combined = 0x1_0000 + ((value - 0xD800) << 10) + (low - 0xDC00);
                    return self.code_point(combined, at);
                }
            }
            self.pos = save;
        }
        self.code_point(value, at)
    }

    fn code_point(&self, value: u32, at: usize) -> Result<char, RegexError> {
        char::from_u32(value).ok_or_else(|| {
            self.error(
                "a lone surrogate cannot be matched in UTF-8 text",
                at,
                self.pos,
            )
        })
    }
}
