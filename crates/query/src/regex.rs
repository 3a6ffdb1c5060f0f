//! Java regular expressions, the dialect of Sumo Logic's `matches /re/`, `parse regex`,
//! `extract` and `replace(x, /re/, …)`, translated to the `regex` crate's syntax.
//!
//! The two dialects look alike and answer differently: in Java `\w \d \s \b` are ASCII unless
//! `(?U)`, `.` stops at every line terminator, `(?i)` folds ASCII only unless `(?u)`. The
//! translator parses the Java pattern (a scan over its characters with the flags of each group)
//! and writes every construct out explicitly, so the result never depends on the `regex`
//! crate's own flags: `\w` becomes `[0-9A-Za-z_]`, `(?i)é` stays `é`, `(?iu)é` becomes `[Éé]`.
//! Constructs the `regex` crate cannot express, or only with a different answer (lookaround,
//! backreferences, possessive quantifiers, …), are refused with the span of the construct.
//! The semantics are those of JDK 21; `ARCHITECTURE.md` ("Regex dialect") lists the decisions.

mod class;
mod escape;
#[cfg(test)]
mod tests;
mod unicode;

use std::fmt;

use unicode::Set;

/// A Java pattern in the `regex` crate's syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    /// The pattern for `regex::Regex`, to be compiled as it is (no builder flags).
    pub pattern: String,
    /// The named groups, in order.
    pub groups: Vec<String>,
    /// The number of unnamed capturing groups.
    pub unnamed_groups: usize,
}

/// Why a pattern cannot be translated: a message in the crate's style and the byte range of
/// the construct inside the Java pattern (on char boundaries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexError {
    pub message: String,
    pub start: usize,
    pub end: usize,
}

impl fmt::Display for RegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RegexError {}

/// Deeper nesting of groups and classes is refused (the `regex` crate stops at 250, and the
/// translation adds a level here and there).
const MAX_DEPTH: usize = 100;

/// Translates a Java pattern and checks that the result compiles (with the engine's size
/// limit).
pub fn translate(java: &str) -> Result<Translated, RegexError> {
    let mut parser = Parser {
        units: units(java),
        pos: 0,
        len: java.len(),
        out: String::new(),
        groups: Vec::new(),
        unnamed_groups: 0,
    };
    parser.expr(Flags::default(), 0)?;
    if parser.pos < parser.units.len() {
        return Err(parser.error("unmatched closing ')'", parser.pos, parser.pos + 1));
    }
    crate::semantic::compile_regex(&parser.out).map_err(|message| RegexError {
        message,
        start: 0,
        end: java.len(),
    })?;
    Ok(Translated {
        pattern: parser.out,
        groups: parser.groups,
        unnamed_groups: parser.unnamed_groups,
    })
}

/// Java's match flags (`(?idmsuxU)`); `U` implies `u`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    case_insensitive: bool,
    multiline: bool,
    dotall: bool,
    unix_lines: bool,
    unicode_case: bool,
    comments: bool,
    unicode_class: bool,
}

/// One character of the pattern after Java's `\Q…\E` rewriting, with its source range.
#[derive(Debug, Clone, Copy)]
struct Unit {
    c: char,
    start: usize,
    end: usize,
}

/// Java rewrites `\Q…\E` into escaped characters before parsing (`RemoveQEQuoting`); so do
/// we, each made-up character keeping the range of the one it stands for.
fn units(java: &str) -> Vec<Unit> {
    let chars: Vec<(usize, char)> = java.char_indices().collect();
    let end_of = |i: usize| chars.get(i + 1).map_or(java.len(), |&(offset, _)| offset);
    let mut out = Vec::with_capacity(chars.len());
    let mut quoting = false;
    let mut quote_start = false;
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let end = end_of(i);
        let mut push = |c: char| out.push(Unit { c, start, end });
        let next = chars.get(i + 1).map(|&(_, c)| c);
        if quoting {
            if c == '\\' && next == Some('E') {
                quoting = false;
                i += 2;
                continue;
            }
            if !c.is_ascii() || c.is_ascii_alphabetic() {
                push(c);
            } else if c.is_ascii_digit() {
                if quote_start {
                    // `\x3` keeps a quoted digit from extending an escape before the quote.
                    push('\\');
                    push('x');
                    push('3');
                }
                push(c);
            } else {
                push('\\');
                push(c);
            }
            quote_start = false;
            i += 1;
        } else if c == '\\' && next == Some('Q') {
            quoting = true;
            quote_start = true;
            i += 2;
        } else if c == '\\' && next.is_some() {
            push('\\');
            let (start, c) = chars[i + 1];
            out.push(Unit {
                c,
                start,
                end: end_of(i + 1),
            });
            i += 2;
        } else {
            push(c);
            i += 1;
        }
    }
    out
}

/// What an escape outside `\p` stands for.
enum Escaped {
    Char(char),
    Set(Set),
    Assertion(&'static str),
}

struct Parser {
    units: Vec<Unit>,
    pos: usize,
    len: usize,
    out: String,
    groups: Vec<String>,
    unnamed_groups: usize,
}

fn is_ascii_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{B}' | '\u{C}' | '\r')
}

fn is_line_separator(c: char, flags: Flags) -> bool {
    if flags.unix_lines {
        c == '\n'
    } else {
        matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
    }
}

impl Parser {
    fn raw(&self, at: usize) -> Option<char> {
        self.units.get(at).map(|unit| unit.c)
    }

    /// An error over the units `from..to` (at least one unit when there is one).
    fn error(&self, message: impl Into<String>, from: usize, to: usize) -> RegexError {
        let (start, end) = match self.units.get(from) {
            None => (self.len, self.len),
            Some(first) => {
                let last = to.clamp(from + 1, self.units.len()) - 1;
                (first.start, self.units[last].end.max(first.end))
            }
        };
        RegexError {
            message: message.into(),
            start,
            end,
        }
    }

    /// Skips white space and `#` comments in comments mode (`(?x)`), as Java's `peek` does.
    fn skip_ignored(&mut self, flags: Flags) {
        if !flags.comments {
            return;
        }
        while let Some(c) = self.raw(self.pos) {
            if is_ascii_space(c) {
                self.pos += 1;
            } else if c == '#' {
                self.pos += 1;
                while let Some(c) = self.raw(self.pos) {
                    if is_line_separator(c, flags) {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    fn peek(&mut self, flags: Flags) -> Option<char> {
        self.skip_ignored(flags);
        self.raw(self.pos)
    }

    /// Alternatives up to an unmatched `)` or the end. Inline flags (`(?i)`) last to the end
    /// of the enclosing group, across `|`.
    fn expr(&mut self, mut flags: Flags, depth: usize) -> Result<(), RegexError> {
        loop {
            self.sequence(&mut flags, depth)?;
            if self.peek(flags) != Some('|') {
                return Ok(());
            }
            self.pos += 1;
            self.out.push('|');
        }
    }

    /// A sequence of atoms. Literal characters are collected into a run first: under `(?iu)`
    /// Java matches a character of a run (a "slice") slightly differently from a lone one,
    /// and a quantifier after a run applies to its last character only.
    fn sequence(&mut self, flags: &mut Flags, depth: usize) -> Result<(), RegexError> {
        let mut run: Vec<char> = Vec::new();
        let mut repeatable = false;
        while let Some(c) = self.peek(*flags) {
            let at = self.pos;
            match c {
                ')' | '|' => break,
                '(' => {
                    self.flush(&mut run, *flags);
                    repeatable = self.group(flags, depth)?;
                }
                '[' => {
                    self.flush(&mut run, *flags);
                    let class = self.class(*flags, depth)?;
                    self.out.push_str(&class);
                    repeatable = true;
                }
                '^' | '$' => {
                    self.flush(&mut run, *flags);
                    self.pos += 1;
                    self.out.push_str(anchor(c, *flags));
                    repeatable = true;
                }
                '.' => {
                    self.flush(&mut run, *flags);
                    self.pos += 1;
                    self.out.push_str(if flags.dotall {
                        "(?s:.)"
                    } else if flags.unix_lines {
                        "."
                    } else {
                        r"[^\n\r\x{85}\x{2028}\x{2029}]"
                    });
                    repeatable = true;
                }
                '*' | '+' | '?' | '{' => {
                    if let Some(last) = run.pop() {
                        self.flush(&mut run, *flags);
                        self.emit_chars(&unicode::single(last, *flags), last);
                        repeatable = true;
                    }
                    if !repeatable {
                        return Err(self.error(
                            format!("nothing to repeat before '{c}'"),
                            at,
                            at + 1,
                        ));
                    }
                    self.quantifier(*flags)?;
                    repeatable = false;
                }
                '\\' if matches!(self.raw(at + 1), Some('p' | 'P')) => {
                    self.flush(&mut run, *flags);
                    let set = self.property(*flags)?;
                    self.out.push_str(&set.atom());
                    repeatable = true;
                }
                '\\' => match self.escape(*flags, false, false)? {
                    Escaped::Char(c) => run.push(c),
                    Escaped::Set(set) => {
                        self.flush(&mut run, *flags);
                        self.out.push_str(&set.atom());
                        repeatable = true;
                    }
                    Escaped::Assertion(text) => {
                        self.flush(&mut run, *flags);
                        self.out.push_str(text);
                        repeatable = true;
                    }
                },
                _ => {
                    self.pos += 1;
                    run.push(c);
                }
            }
        }
        self.flush(&mut run, *flags);
        Ok(())
    }

    /// Writes out a run of literal characters.
    fn flush(&mut self, run: &mut Vec<char>, flags: Flags) {
        let slice = run.len() >= 2;
        for c in run.drain(..) {
            let set = if slice {
                unicode::in_run(c, flags)
            } else {
                unicode::single(c, flags)
            };
            self.emit_chars(&set, c);
        }
    }

    fn emit_chars(&mut self, set: &std::collections::BTreeSet<char>, c: char) {
        if set.len() <= 1 {
            let only = set.iter().next().copied().unwrap_or(c);
            self.out.push_str(&unicode::literal(only));
        } else {
            self.out.push('[');
            self.out.push_str(&unicode::set_body(set));
            self.out.push(']');
        }
    }

    /// `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`, each optionally lazy (`?`); possessive (`+`)
    /// is refused.
    fn quantifier(&mut self, flags: Flags) -> Result<(), RegexError> {
        let at = self.pos;
        let c = self.raw(at).unwrap_or('*');
        self.pos += 1;
        let mut text = c.to_string();
        if c == '{' {
            if !self.raw(self.pos).is_some_and(|d| d.is_ascii_digit()) {
                return Err(self.error(
                    "'{' must start a repetition like {2} (write \\{ for a literal brace)",
                    at,
                    at + 1,
                ));
            }
            let min = self.count(flags, at)?;
            let mut max = Some(min);
            if self.peek(flags) == Some(',') {
                self.pos += 1;
                max = if self.peek(flags).is_some_and(|d| d.is_ascii_digit()) {
                    Some(self.count(flags, at)?)
                } else {
                    None
                };
            }
            if self.peek(flags) != Some('}') {
                return Err(self.error("unclosed repetition (expected '}')", at, self.pos + 1));
            }
            self.pos += 1;
            text = match max {
                Some(max) if max < min => {
                    return Err(self.error(
                        "repetition range has its maximum below its minimum",
                        at,
                        self.pos,
                    ));
                }
                Some(max) if max == min => format!("{{{min}}}"),
                Some(max) => format!("{{{min},{max}}}"),
                None => format!("{{{min},}}"),
            };
        }
        match self.peek(flags) {
            Some('?') => {
                self.pos += 1;
                text.push('?');
            }
            Some('+') => {
                return Err(self.error(
                    "possessive quantifiers are not supported",
                    at,
                    self.pos + 1,
                ));
            }
            _ => {}
        }
        self.out.push_str(&text);
        Ok(())
    }

    fn count(&mut self, flags: Flags, at: usize) -> Result<u32, RegexError> {
        let mut value: u32 = 0;
        while let Some(digit) = self.raw(self.pos).and_then(|c| c.to_digit(10)) {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(digit))
                .filter(|v| *v <= i32::MAX as u32)
                .ok_or_else(|| self.error("repetition count is too large", at, self.pos + 1))?;
            self.pos += 1;
            self.skip_ignored(flags);
        }
        Ok(value)
    }

    /// A group after its `(`; `Ok(false)` for a flags-only group (`(?i)`), which changes
    /// `flags` for the rest of the enclosing group.
    fn group(&mut self, flags: &mut Flags, depth: usize) -> Result<bool, RegexError> {
        let open = self.pos;
        if depth >= MAX_DEPTH {
            return Err(self.error("regex nesting too deep", open, open + 1));
        }
        self.pos += 1;
        if self.peek(*flags) != Some('?') {
            self.unnamed_groups += 1;
            self.out.push('(');
            return self.close_group(*flags, depth, open);
        }
        self.pos += 1;
        let kind = self.pos;
        match self.raw(kind) {
            Some(':') => {
                self.pos += 1;
                self.out.push_str("(?:");
                self.close_group(*flags, depth, open)
            }
            Some('=' | '!') => Err(self.error(
                "lookahead is not supported (Java regex construct)",
                open,
                kind + 1,
            )),
            Some('>') => Err(self.error(
                "atomic groups are not supported (Java regex construct)",
                open,
                kind + 1,
            )),
            Some('<') => {
                self.pos += 1;
                if matches!(self.peek(*flags), Some('=' | '!')) {
                    return Err(self.error(
                        "lookbehind is not supported (Java regex construct)",
                        open,
                        self.pos + 1,
                    ));
                }
                let name = self.group_name(*flags)?;
                self.out.push_str(&format!("(?<{name}>"));
                self.groups.push(name);
                self.close_group(*flags, depth, open)
            }
            _ => {
                let inner = self.inline_flags(*flags)?;
                match self.peek(inner) {
                    Some(')') => {
                        self.pos += 1;
                        *flags = inner;
                        Ok(false)
                    }
                    Some(':') => {
                        self.pos += 1;
                        self.out.push_str("(?:");
                        self.close_group(inner, depth, open)
                    }
                    Some('P') => Err(self.error(
                        "unknown inline modifier 'P' (Java names groups with (?<name>…))",
                        self.pos,
                        self.pos + 1,
                    )),
                    Some(c) => Err(self.error(
                        format!("unknown inline modifier '{c}'"),
                        self.pos,
                        self.pos + 1,
                    )),
                    None => Err(self.error("unclosed group", open, self.units.len())),
                }
            }
        }
    }

    /// The body of a group and its `)`.
    fn close_group(&mut self, flags: Flags, depth: usize, open: usize) -> Result<bool, RegexError> {
        self.expr(flags, depth + 1)?;
        if self.raw(self.pos) != Some(')') {
            return Err(self.error("unclosed group", open, self.units.len()));
        }
        self.pos += 1;
        self.out.push(')');
        Ok(true)
    }

    /// `name>` of `(?<name>`: a Latin letter, then letters and digits (Java), and `_`, which
    /// Sumo's field names use.
    fn group_name(&mut self, flags: Flags) -> Result<String, RegexError> {
        let start = self.pos;
        if !self.peek(flags).is_some_and(|c| c.is_ascii_alphabetic()) {
            return Err(self.error(
                "a group name must start with a letter (a-z, A-Z)",
                start,
                self.pos + 1,
            ));
        }
        let mut name = String::new();
        loop {
            match self.peek(flags) {
                Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
                    name.push(c);
                    self.pos += 1;
                }
                Some('>') => break,
                _ => {
                    return Err(self.error(
                        "a group name has only letters, digits and '_' and ends with '>'",
                        start,
                        self.pos + 1,
                    ));
                }
            }
        }
        self.pos += 1;
        if self.groups.contains(&name) {
            return Err(self.error(
                format!("named group <{name}> is already defined"),
                start,
                self.pos,
            ));
        }
        Ok(name)
    }

    /// `idmsuxU-idmsuxU` after `(?`.
    fn inline_flags(&mut self, mut flags: Flags) -> Result<Flags, RegexError> {
        let mut on = true;
        loop {
            let at = self.pos;
            let Some(c) = self.peek(flags) else {
                return Ok(flags);
            };
            match c {
                'i' => flags.case_insensitive = on,
                'm' => flags.multiline = on,
                's' => flags.dotall = on,
                'd' => flags.unix_lines = on,
                'u' => flags.unicode_case = on,
                'x' => flags.comments = on,
                'U' => {
                    flags.unicode_class = on;
                    flags.unicode_case = on;
                }
                'c' if on => {
                    return Err(self.error(
                        "canonical equivalence (?c) is not supported",
                        at,
                        at + 1,
                    ));
                }
                'c' => {}
                '-' if on => on = false,
                _ => return Ok(flags),
            }
            self.pos += 1;
        }
    }
}

/// `^` and `$`. Without `(?m)`: the start and the end of the text (Java's `$` would also match
/// before a final line terminator; see ARCHITECTURE.md). With `(?m)`: around `\n` and `\r`
/// (CRLF mode), only `\n` under `(?d)`.
fn anchor(c: char, flags: Flags) -> &'static str {
    match (c, flags.multiline, flags.unix_lines) {
        ('^', false, _) => "^",
        ('^', true, false) => "(?mR:^)",
        ('^', true, true) => "(?m:^)",
        (_, false, _) => "$",
        (_, true, false) => "(?mR:$)",
        (_, true, true) => "(?m:$)",
    }
}
