//! Lexer: query text to tokens with byte spans.
//!
//! The scope (everything before the first `|` outside strings) and the pipeline use different
//! word rules: scope words run until whitespace or `( ) = != " |`, so `Labs/Foo-*` is one
//! word; pipeline words are identifiers, numbers (with their suffix kept as text), strings,
//! `%"quoted names"`, regex literals and `scheme://path` table names. A `/` starts a regex
//! literal where a value is expected (after `matches`, `(`, `,`, an operator) and is a
//! division after a value. `//` at the start of a token is a line comment.

use crate::diagnostic::{Diagnostic, codes};
use crate::span::Span;

#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// A scope word (`_sourceCategory`, `Labs/Foo*`, `AND`).
    Word(String),
    /// A pipeline identifier (`json`, `fromIP`, `_count`).
    Ident(String),
    /// `%"odd name"`, unescaped.
    QuotedIdent(String),
    /// A double-quoted string, `\"` and `\\` unescaped, other escapes kept as written.
    Str(String),
    /// A number: `digits` is the numeric text, `suffix` the letters right after it.
    Number {
        digits: String,
        suffix: String,
    },
    /// `/re/` with `\/` unescaped.
    Regex(String),
    /// `geo://location`, `sumo://threat/cs`, `path://"/x/y"`.
    Uri(String),
    /// `'c'`: one character in single quotes (`split … delim=','`).
    Char(char),
    LParen,
    RParen,
    Comma,
    Pipe,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    /// `=` (also `==` as [`TokenKind::EqEq`]).
    Eq,
    EqEq,
    /// `!=` or `<>`.
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    Bang,
    AndAnd,
    OrOr,
    Question,
    Colon,
    Eof,
}

impl TokenKind {
    /// How the token is named in messages.
    pub fn describe(&self) -> String {
        match self {
            TokenKind::Word(word) | TokenKind::Ident(word) => format!("'{word}'"),
            TokenKind::QuotedIdent(name) => format!("field %\"{name}\""),
            TokenKind::Str(_) => "a string".to_string(),
            TokenKind::Number { digits, suffix } => format!("number '{digits}{suffix}'"),
            TokenKind::Regex(_) => "a regex".to_string(),
            TokenKind::Uri(uri) => format!("'{uri}'"),
            TokenKind::Char(c) => format!("character '{c}'"),
            TokenKind::Eof => "the end of the stage".to_string(),
            other => format!("'{}'", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            TokenKind::LParen => "(",
            TokenKind::RParen => ")",
            TokenKind::Comma => ",",
            TokenKind::Pipe => "|",
            TokenKind::Plus => "+",
            TokenKind::Minus => "-",
            TokenKind::Star => "*",
            TokenKind::Slash => "/",
            TokenKind::Percent => "%",
            TokenKind::Eq => "=",
            TokenKind::EqEq => "==",
            TokenKind::NotEq => "!=",
            TokenKind::Lt => "<",
            TokenKind::Le => "<=",
            TokenKind::Gt => ">",
            TokenKind::Ge => ">=",
            TokenKind::Bang => "!",
            TokenKind::AndAnd => "&&",
            TokenKind::OrOr => "||",
            TokenKind::Question => "?",
            TokenKind::Colon => ":",
            _ => "?",
        }
    }

    /// Whether a `/` after this token is a division (the token ends a value).
    fn ends_value(&self) -> bool {
        match self {
            TokenKind::Ident(word) => !matches!(
                word.to_ascii_lowercase().as_str(),
                "matches" | "and" | "or" | "not" | "in" | "contains" | "where"
            ),
            TokenKind::QuotedIdent(_)
            | TokenKind::Str(_)
            | TokenKind::Number { .. }
            | TokenKind::Regex(_)
            | TokenKind::RParen => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// Tokens of a whole query, the scope's [`TokenKind::Word`]s first. Never fails: problems
/// become diagnostics and the offending text is skipped.
pub fn lex(source: &str) -> (Vec<Token>, Vec<Diagnostic>) {
    let mut lexer = Lexer {
        source,
        bytes: source.as_bytes(),
        pos: 0,
        tokens: Vec::new(),
        diagnostics: Vec::new(),
        in_scope: true,
    };
    lexer.run();
    (lexer.tokens, lexer.diagnostics)
}

struct Lexer<'a> {
    source: &'a str,
    bytes: &'a [u8],
    pos: usize,
    tokens: Vec<Token>,
    diagnostics: Vec<Diagnostic>,
    in_scope: bool,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_scope_word_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '(' | ')' | '=' | '"' | '|')
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.source
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn starts_with(&self, text: &str) -> bool {
        self.source
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(text))
    }

    fn push(&mut self, kind: TokenKind, start: usize) {
        self.tokens.push(Token {
            kind,
            span: Span::new(start, self.pos),
        });
    }

    fn error(&mut self, code: &'static str, message: String, span: Span, hint: &str) {
        self.diagnostics
            .push(Diagnostic::error(code, message, span).with_hint(hint));
    }

    fn run(&mut self) {
        while let Some(c) = self.peek() {
            let start = self.pos;
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else if self.starts_with("//") {
                self.skip_line();
            } else if self.starts_with("{{") {
                self.variable(start);
            } else if c == '"' {
                let text = self.string(start);
                self.push(TokenKind::Str(text), start);
            } else if c == '|' && (self.in_scope || !self.starts_with("||")) {
                self.pos += 1;
                self.in_scope = false;
                self.push(TokenKind::Pipe, start);
            } else if self.in_scope {
                self.scope_token(c, start);
            } else {
                self.pipeline_token(c, start);
            }
        }
        self.tokens.push(Token {
            kind: TokenKind::Eof,
            span: Span::new(self.pos, self.pos),
        });
    }

    fn skip_line(&mut self) {
        self.pos = self.source[self.pos..]
            .find('\n')
            .map_or(self.source.len(), |i| self.pos + i);
    }

    fn variable(&mut self, start: usize) {
        let end = self.source[start..]
            .find("}}")
            .map_or(start + 2, |i| start + i + 2);
        let end = end.min(
            self.source[start..]
                .find('\n')
                .map_or(self.source.len(), |i| start + i)
                .max(start + 2),
        );
        self.pos = end;
        let text = self.source[start..end].to_string();
        self.error(
            codes::UNSUBSTITUTED_VARIABLE,
            format!("unsubstituted variable '{text}'"),
            Span::new(start, end),
            "give the dashboard variable a value, or `*` for all",
        );
    }

    /// A double-quoted string starting at `start`. Unterminated: a diagnostic, and the token
    /// ends at the end of the line so that later stages can still be parsed.
    fn string(&mut self, start: usize) -> String {
        self.pos += 1;
        let mut text = String::new();
        let mut chars = self.source[self.pos..].char_indices();
        while let Some((offset, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += offset + 1;
                    return text;
                }
                '\\' => match chars.next() {
                    Some((_, escaped @ ('"' | '\\'))) => text.push(escaped),
                    Some((_, other)) => {
                        text.push('\\');
                        text.push(other);
                    }
                    None => text.push('\\'),
                },
                other => text.push(other),
            }
        }
        let line_end = self.source[start..]
            .find('\n')
            .map_or(self.source.len(), |i| start + i);
        self.pos = line_end;
        self.error(
            codes::UNTERMINATED_STRING,
            "unterminated string".to_string(),
            Span::new(start, line_end),
            "close the string with '\"'",
        );
        text.lines().next().unwrap_or_default().to_string()
    }

    fn scope_token(&mut self, c: char, start: usize) {
        if c.is_control() {
            self.unexpected_characters(start);
            return;
        }
        let kind = match c {
            '(' => TokenKind::LParen,
            ')' => TokenKind::RParen,
            '=' => TokenKind::Eq,
            '!' if self.peek_at(1) == Some(b'=') => {
                self.pos += 1;
                TokenKind::NotEq
            }
            _ => {
                while let Some(c) = self.peek() {
                    let bang_eq = c == '!' && self.peek_at(1) == Some(b'=');
                    if !is_scope_word_char(c)
                        || c.is_control()
                        || bang_eq
                        || self.starts_with("//")
                        || self.starts_with("{{")
                    {
                        break;
                    }
                    self.pos += c.len_utf8();
                }
                self.push(
                    TokenKind::Word(self.source[start..self.pos].to_string()),
                    start,
                );
                return;
            }
        };
        self.pos += 1;
        self.push(kind, start);
    }

    fn pipeline_token(&mut self, c: char, start: usize) {
        if is_ident_start(c) {
            self.ident_or_uri(start);
            return;
        }
        if c.is_ascii_digit() || (c == '.' && self.peek_at(1).is_some_and(|b| b.is_ascii_digit())) {
            self.number(start);
            return;
        }
        if c == '%' && self.peek_at(1) == Some(b'"') {
            self.pos += 1;
            let name = self.string(start + 1);
            self.push(TokenKind::QuotedIdent(name), start);
            return;
        }
        if c == '/' && !self.tokens.last().is_some_and(|t| t.kind.ends_value()) {
            self.regex(start);
            return;
        }
        if c == '\'' {
            let mut chars = self.source[self.pos + 1..].chars();
            if let (Some(quoted), Some('\'')) = (chars.next(), chars.next())
                && quoted != '\n'
            {
                self.pos += 2 + quoted.len_utf8();
                self.push(TokenKind::Char(quoted), start);
                return;
            }
        }
        let two = self.source.get(self.pos..self.pos + 2).unwrap_or_default();
        let (kind, len) = match two {
            "==" => (TokenKind::EqEq, 2),
            "!=" | "<>" => (TokenKind::NotEq, 2),
            "<=" => (TokenKind::Le, 2),
            ">=" => (TokenKind::Ge, 2),
            "&&" => (TokenKind::AndAnd, 2),
            "||" => (TokenKind::OrOr, 2),
            _ => match c {
                '(' => (TokenKind::LParen, 1),
                ')' => (TokenKind::RParen, 1),
                ',' => (TokenKind::Comma, 1),
                '+' => (TokenKind::Plus, 1),
                '-' => (TokenKind::Minus, 1),
                '*' => (TokenKind::Star, 1),
                '/' => (TokenKind::Slash, 1),
                '%' => (TokenKind::Percent, 1),
                '=' => (TokenKind::Eq, 1),
                '<' => (TokenKind::Lt, 1),
                '>' => (TokenKind::Gt, 1),
                '!' => (TokenKind::Bang, 1),
                '?' => (TokenKind::Question, 1),
                ':' => (TokenKind::Colon, 1),
                _ => {
                    self.unexpected_characters(start);
                    return;
                }
            },
        };
        self.pos += len;
        self.push(kind, start);
    }

    /// A run of characters that start no token becomes one diagnostic.
    fn unexpected_characters(&mut self, start: usize) {
        while let Some(c) = self.peek() {
            let starts_token = c.is_whitespace()
                || is_ident_start(c)
                || c.is_ascii_digit()
                || "\"()|,+-*/%=<>!?:&".contains(c);
            if starts_token && self.pos > start {
                break;
            }
            self.pos += c.len_utf8();
        }
        let text: String = self.source[start..self.pos].chars().take(20).collect();
        let shown = text.escape_debug().to_string();
        self.error(
            codes::UNEXPECTED_CHARACTER,
            format!("unexpected character '{shown}'"),
            Span::new(start, self.pos),
            "quote the text (\"…\") or escape a field name as %\"name\"",
        );
    }

    fn ident_or_uri(&mut self, start: usize) {
        while self.peek().is_some_and(is_ident_continue) {
            self.pos += 1;
        }
        if self.starts_with("://") {
            self.pos += 3;
            if self.peek() == Some('"') {
                let path_start = self.pos;
                let path = self.string(path_start);
                let scheme = &self.source[start..path_start];
                self.push(TokenKind::Uri(format!("{scheme}{path}")), start);
                return;
            }
            while let Some(c) = self.peek() {
                if c.is_whitespace() || matches!(c, '|' | ',' | '(' | ')' | '"') {
                    break;
                }
                self.pos += c.len_utf8();
            }
            self.push(
                TokenKind::Uri(self.source[start..self.pos].to_string()),
                start,
            );
            return;
        }
        self.push(
            TokenKind::Ident(self.source[start..self.pos].to_string()),
            start,
        );
    }

    fn number(&mut self, start: usize) {
        let digits_of = |lexer: &mut Lexer<'_>| {
            while lexer.peek_at(0).is_some_and(|b| b.is_ascii_digit()) {
                lexer.pos += 1;
            }
        };
        digits_of(self);
        if self.peek_at(0) == Some(b'.') && self.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
            digits_of(self);
        }
        let exponent_digit = |offset| self.peek_at(offset).is_some_and(|b: u8| b.is_ascii_digit());
        if matches!(self.peek_at(0), Some(b'e' | b'E'))
            && (exponent_digit(1)
                || (matches!(self.peek_at(1), Some(b'+' | b'-')) && exponent_digit(2)))
        {
            self.pos += 2;
            digits_of(self);
        }
        let digits = self.source[start..self.pos].to_string();
        let suffix_start = self.pos;
        while self.peek().is_some_and(is_ident_continue) {
            self.pos += 1;
        }
        let suffix = self.source[suffix_start..self.pos].to_string();
        self.push(TokenKind::Number { digits, suffix }, start);
    }

    fn regex(&mut self, start: usize) {
        self.pos += 1;
        let mut text = String::new();
        let mut chars = self.source[self.pos..].char_indices();
        while let Some((offset, c)) = chars.next() {
            match c {
                '/' => {
                    self.pos += offset + 1;
                    self.push(TokenKind::Regex(text), start);
                    return;
                }
                '\n' => break,
                '\\' => match chars.next() {
                    Some((_, '/')) => text.push('/'),
                    Some((_, other)) => {
                        text.push('\\');
                        text.push(other);
                    }
                    None => text.push('\\'),
                },
                other => text.push(other),
            }
        }
        let line_end = self.source[start..]
            .find('\n')
            .map_or(self.source.len(), |i| start + i);
        self.pos = line_end;
        self.error(
            codes::UNTERMINATED_REGEX,
            "unterminated regex".to_string(),
            Span::new(start, line_end),
            "close the regex with '/' (write '\\/' for a literal slash)",
        );
        self.push(TokenKind::Regex(text), start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<TokenKind> {
        let (tokens, diagnostics) = lex(source);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        tokens.into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn scope_words_keep_slashes_and_wildcards() {
        assert_eq!(
            kinds("_sourceCategory=Labs/Foo-* | x"),
            vec![
                TokenKind::Word("_sourceCategory".into()),
                TokenKind::Eq,
                TokenKind::Word("Labs/Foo-*".into()),
                TokenKind::Pipe,
                TokenKind::Ident("x".into()),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn matches_glued_to_string_lexes() {
        let tokens = kinds("| where s matches\"*\"");
        assert!(tokens.contains(&TokenKind::Ident("matches".into())));
        assert!(tokens.contains(&TokenKind::Str("*".into())));
    }

    #[test]
    fn slash_is_division_after_value_and_regex_after_matches() {
        assert!(kinds("| size/1Gi as g").contains(&TokenKind::Slash));
        assert!(kinds("| where a matches /x\\/y/").contains(&TokenKind::Regex("x/y".into())));
    }

    #[test]
    fn uri_and_comment() {
        let tokens = kinds("| lookup a from geo://location on ip=x // trailing");
        assert!(tokens.contains(&TokenKind::Uri("geo://location".into())));
        assert!(
            !tokens
                .iter()
                .any(|t| matches!(t, TokenKind::Ident(w) if w == "trailing"))
        );
    }

    #[test]
    fn string_escapes() {
        assert_eq!(
            kinds(r#"| "a\"b\\c\w""#)[1],
            TokenKind::Str("a\"b\\c\\w".into())
        );
    }

    #[test]
    fn single_quoted_character() {
        assert!(kinds("| split a delim=',' extract 1 as b").contains(&TokenKind::Char(',')));
        assert!(kinds("| split a escape='\\' extract 1 as b").contains(&TokenKind::Char('\\')));
        let (_, diagnostics) = lex("| where a = 'ab'");
        assert_eq!(diagnostics[0].code, codes::UNEXPECTED_CHARACTER);
    }

    #[test]
    fn unterminated_string_is_reported() {
        let (_, diagnostics) = lex("| where a = \"abc\n| count");
        assert_eq!(diagnostics[0].code, codes::UNTERMINATED_STRING);
    }
}
