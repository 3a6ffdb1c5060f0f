//! Character classes: items, ranges, nested classes (union) and `&&` (intersection), each
//! character and range folded per the flags as Java does.

use super::unicode;
use super::{Escaped, Flags, MAX_DEPTH, Parser, RegexError};

impl Parser {
    /// A character class from its `[`: items, nested classes (union) and `&&` (intersection),
    /// each character and range folded per the flags.
    pub(super) fn class(&mut self, flags: Flags, depth: usize) -> Result<String, RegexError> {
        let open = self.pos;
        if depth >= MAX_DEPTH {
            return Err(self.error("regex nesting too deep", open, open + 1));
        }
        self.pos += 1;
        let negated = self.raw(self.pos) == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut operands: Vec<String> = Vec::new();
        let mut current = String::new();
        let mut any = false;
        loop {
            let at = self.pos;
            match self.peek(flags) {
                None => return Err(self.error("unclosed character class", open, self.units.len())),
                Some(']') if any => {
                    self.pos += 1;
                    break;
                }
                Some('[') => {
                    let nested = self.class(flags, depth + 1)?;
                    current.push_str(&nested);
                    any = true;
                }
                Some('&') if self.intersection_follows(flags) => {
                    if current.is_empty() {
                        return Err(self.error("'&&' needs a class on its left", at, self.pos));
                    }
                    operands.push(std::mem::take(&mut current));
                    if matches!(self.peek(flags), Some(']')) {
                        return Err(self.error("'&&' needs a class on its right", at, self.pos));
                    }
                }
                Some(_) => {
                    let item = self.class_item(flags)?;
                    current.push_str(&item);
                    any = true;
                }
            }
        }
        if current.is_empty() {
            return Err(self.error("'&&' needs a class on its right", open, self.pos));
        }
        operands.push(current);
        let body = operands.join("&&");
        Ok(match (negated, operands.len()) {
            (false, _) => format!("[{body}]"),
            (true, 1) => format!("[^{body}]"),
            (true, _) => format!("[^[{body}]]"),
        })
    }

    /// At a `&`: consumes `&&` and says so, or leaves a lone `&` alone.
    fn intersection_follows(&mut self, flags: Flags) -> bool {
        let save = self.pos;
        self.pos += 1;
        if self.peek(flags) == Some('&') {
            self.pos += 1;
            true
        } else {
            self.pos = save;
            false
        }
    }

    /// One item of a class: a character, a range, a predefined class or a property.
    fn class_item(&mut self, flags: Flags) -> Result<String, RegexError> {
        let at = self.pos;
        let first = if self.raw(at) == Some('\\') {
            if matches!(self.raw(at + 1), Some('p' | 'P')) {
                return Ok(self.property(flags)?.item());
            }
            let is_range = self.raw(at + 2) == Some('-');
            match self.escape(flags, true, is_range)? {
                Escaped::Char(c) => c,
                Escaped::Set(set) => return Ok(set.item()),
                Escaped::Assertion(_) => {
                    return Err(self.error("illegal escape in a character class", at, self.pos));
                }
            }
        } else {
            let c = self.raw(at).unwrap_or(']');
            self.pos += 1;
            c
        };
        if self.peek(flags) == Some('-') {
            let dash = self.pos;
            match self.raw(dash + 1) {
                None => {
                    return Err(self.error("unclosed character class", at, self.units.len()));
                }
                Some('[' | ']') => {}
                Some(_) => {
                    self.pos = dash + 1;
                    let last = match self.peek(flags) {
                        Some('\\') if !matches!(self.raw(self.pos + 1), Some('p' | 'P')) => {
                            match self.escape(flags, true, true)? {
                                Escaped::Char(c) => Some(c),
                                _ => None,
                            }
                        }
                        Some('\\') => None,
                        Some(c) => {
                            self.pos += 1;
                            Some(c)
                        }
                        None => None,
                    };
                    return match last {
                        Some(last) if last >= first => Ok(range(first, last, flags)),
                        _ => Err(self.error("illegal character range", at, self.pos.max(dash + 2))),
                    };
                }
            }
        }
        Ok(unicode::set_body(&unicode::class_char(first, flags)))
    }
}

/// A range inside a class, with what case-insensitivity adds.
fn range(first: char, last: char, flags: Flags) -> String {
    let mut body = unicode::literal(first);
    if last != first {
        body.push('-');
        body.push_str(&unicode::literal(last));
    }
    body.push_str(&unicode::set_body(&unicode::range_extra(
        first, last, flags,
    )));
    body
}
