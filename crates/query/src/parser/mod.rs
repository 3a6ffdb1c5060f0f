//! Parser: tokens to [`ast::Query`].
//!
//! The token stream is cut at each `|` first; the scope and every stage are parsed
//! independently, so an error in one stage does not hide errors in the next (recovery at the
//! next `|`). Within a stage the parser stops at the first error. Recursion is bounded by
//! [`MAX_NESTING`] and tree height by [`MAX_HEIGHT`], so no input can overflow the stack here
//! or in later stages that walk the tree.

mod expr;
mod number;
mod scope;
mod shaping;
mod stage;

use crate::ast;
use crate::diagnostic::{Diagnostic, codes, floor_boundary};
use crate::lexer::{self, Token, TokenKind};
use crate::span::Span;

pub(crate) use number::{duration_millis, number_literal};

/// Largest accepted query text, in bytes.
pub const MAX_SOURCE_LEN: usize = 1 << 20;
/// Deepest recursion of the parser (parentheses, prefix operators, `?:`).
pub const MAX_NESTING: usize = 128;
/// Highest expression or scope tree (long `a + b + c …` chains count too).
pub const MAX_HEIGHT: usize = 256;
/// At most this many diagnostics are returned.
pub const MAX_DIAGNOSTICS: usize = 50;

/// The operator keywords a stage may start with (besides the aggregate functions).
pub const OPERATORS: &[&str] = &[
    "json",
    "parse",
    "extract",
    "where",
    "lookup",
    "geoip",
    "threatip",
    "timeslice",
    "sort",
    "order",
    "top",
    "limit",
    "fields",
    "fillmissing",
    "transpose",
    "outlier",
    "dedup",
    "topk",
    "accum",
    "total",
    "split",
    "csv",
    "threatlookup",
];

/// Aggregate functions; a stage starting with one of these is an aggregation.
pub const AGGREGATES: &[&str] = &[
    "count",
    "count_distinct",
    "count_frequent",
    "sum",
    "avg",
    "min",
    "max",
    "pct",
    "median",
    "stddev",
    "first",
    "last",
    "values",
];

type PResult<T> = Result<T, Diagnostic>;

/// The result of parsing, also when some stages failed.
pub(crate) struct Parsed {
    /// The scope and the stages that parsed.
    pub query: ast::Query,
    pub diagnostics: Vec<Diagnostic>,
    /// True when no stage was dropped (cross-stage checks are reliable).
    pub complete: bool,
}

/// Parses a query, or returns every diagnostic found.
pub fn parse(source: &str) -> Result<ast::Query, Vec<Diagnostic>> {
    let parsed = parse_partial(source);
    if parsed.diagnostics.is_empty() {
        Ok(parsed.query)
    } else {
        Err(parsed.diagnostics)
    }
}

pub(crate) fn parse_partial(source: &str) -> Parsed {
    let mut query = ast::Query {
        scope: None,
        stages: Vec::new(),
    };
    if source.len() > MAX_SOURCE_LEN {
        let start = floor_boundary(source, MAX_SOURCE_LEN);
        let diagnostic = Diagnostic::error(
            codes::INPUT_TOO_LARGE,
            format!(
                "query is {} bytes, more than the limit of {MAX_SOURCE_LEN}",
                source.len()
            ),
            Span::new(start, source.len()),
        )
        .with_hint("shorten the query");
        return Parsed {
            query,
            diagnostics: vec![diagnostic],
            complete: false,
        };
    }
    let (tokens, mut diagnostics) = lexer::lex(source);
    let mut complete = diagnostics.is_empty();
    let eof = tokens
        .last()
        .map_or(Span::new(source.len(), source.len()), |t| t.span);
    let mut segments = tokens.split(|t| t.kind == TokenKind::Pipe || t.kind == TokenKind::Eof);
    let pipes: Vec<Span> = tokens
        .iter()
        .filter(|t| t.kind == TokenKind::Pipe)
        .map(|t| t.span)
        .collect();

    let scope_tokens = segments.next().unwrap_or_default();
    let scope_end = pipes.first().copied().unwrap_or(eof);
    if !scope_tokens.is_empty() {
        let mut parser = Parser::new(scope_tokens, Span::new(scope_end.start, scope_end.start));
        match parser.scope() {
            Ok(scope) => query.scope = Some(scope),
            Err(diagnostic) => {
                diagnostics.push(diagnostic);
                complete = false;
            }
        }
    }
    for (index, pipe) in pipes.iter().enumerate() {
        let stage_tokens = segments.next().unwrap_or_default();
        let end = pipes.get(index + 1).copied().unwrap_or(eof);
        let Some((first, last)) = stage_tokens.first().zip(stage_tokens.last()) else {
            let trailing = index + 1 == pipes.len();
            let (message, hint) = if trailing {
                ("trailing '|' with no stage after it", "remove the last '|'")
            } else {
                ("empty stage between two '|'", "remove one of the '|'")
            };
            diagnostics.push(Diagnostic::error(codes::EMPTY_STAGE, message, *pipe).with_hint(hint));
            complete = false;
            continue;
        };
        let span = first.span.to(last.span);
        let mut parser = Parser::new(stage_tokens, Span::new(end.start, end.start));
        match parser.stage() {
            Ok(kind) => query.stages.push(ast::Stage { kind, span }),
            Err(diagnostic) => {
                diagnostics.push(diagnostic);
                complete = false;
            }
        }
    }
    if diagnostics.len() > MAX_DIAGNOSTICS {
        let last = diagnostics.get(MAX_DIAGNOSTICS).map_or(eof, |d| d.span);
        diagnostics.truncate(MAX_DIAGNOSTICS);
        diagnostics.push(Diagnostic::error(
            codes::TOO_MANY_ERRORS,
            format!("more than {MAX_DIAGNOSTICS} errors; the rest are not shown"),
            last,
        ));
    }
    Parsed {
        query,
        diagnostics,
        complete,
    }
}

static EOF: TokenKind = TokenKind::Eof;

/// A cursor over the tokens of one stage (or of the scope).
pub(crate) struct Parser<'t> {
    tokens: &'t [Token],
    pos: usize,
    /// Where the stage ends (an empty span just before the next `|` or the end).
    end: Span,
    nesting: usize,
}

impl<'t> Parser<'t> {
    fn new(tokens: &'t [Token], end: Span) -> Parser<'t> {
        Parser {
            tokens,
            pos: 0,
            end,
            nesting: 0,
        }
    }

    fn peek(&self) -> &TokenKind {
        self.peek_at(0)
    }

    fn peek_at(&self, offset: usize) -> &TokenKind {
        self.tokens.get(self.pos + offset).map_or(&EOF, |t| &t.kind)
    }

    fn span(&self) -> Span {
        self.tokens.get(self.pos).map_or(self.end, |t| t.span)
    }

    /// The span of the previous token (or the stage start).
    fn previous_span(&self) -> Span {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(self.span(), |t| t.span)
    }

    fn bump(&mut self) -> Span {
        let span = self.span();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        span
    }

    fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    fn is_word(&self, word: &str) -> bool {
        is_word(self.peek(), word)
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let found = self.is_word(word);
        if found {
            self.bump();
        }
        found
    }

    fn expect_word(&mut self, word: &str) -> PResult<Span> {
        if self.is_word(word) {
            Ok(self.bump())
        } else {
            Err(self.unexpected(&format!("'{word}'")))
        }
    }

    fn eat(&mut self, kind: &TokenKind) -> bool {
        let found = self.peek() == kind;
        if found {
            self.bump();
        }
        found
    }

    fn expect(&mut self, kind: &TokenKind, what: &str) -> PResult<Span> {
        if self.peek() == kind {
            Ok(self.bump())
        } else {
            Err(self.unexpected(what))
        }
    }

    fn expect_end(&self) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.unexpected("the end of the stage"))
        }
    }

    /// `expected X, found Y` at the current token.
    fn unexpected(&self, expected: &str) -> Diagnostic {
        let found = self.peek();
        let code = if *found == TokenKind::RParen {
            codes::UNBALANCED_PARENTHESES
        } else {
            codes::UNEXPECTED_TOKEN
        };
        let mut diagnostic = Diagnostic::error(
            code,
            format!("expected {expected}, found {}", found.describe()),
            self.span(),
        );
        if *found == TokenKind::RParen {
            diagnostic = diagnostic.with_hint("this ')' has no matching '('");
        }
        diagnostic
    }

    fn enter(&mut self) -> PResult<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(Diagnostic::error(
                codes::TOO_DEEP,
                "expression is nested too deeply",
                self.span(),
            )
            .with_hint(format!(
                "use at most {} levels of parentheses",
                MAX_NESTING / 2
            )));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    /// A name: an identifier or `%"quoted name"`.
    fn ident(&mut self, what: &str) -> PResult<ast::Ident> {
        let name = match self.peek() {
            TokenKind::Ident(name) | TokenKind::QuotedIdent(name) => name.clone(),
            _ => return Err(self.unexpected(what)),
        };
        Ok(ast::Ident {
            name,
            span: self.bump(),
        })
    }

    /// `a, b, c` (at least one name).
    fn ident_list(&mut self, what: &str) -> PResult<Vec<ast::Ident>> {
        let mut names = vec![self.ident(what)?];
        while self.eat(&TokenKind::Comma) {
            names.push(self.ident(what)?);
        }
        Ok(names)
    }

    /// `field=<name>` if present.
    fn source_option(&mut self) -> PResult<Option<ast::Ident>> {
        if self.is_word("field") && *self.peek_at(1) == TokenKind::Eq {
            self.bump();
            self.bump();
            return Ok(Some(self.ident("a field name after 'field='")?));
        }
        Ok(None)
    }

    fn string(&mut self, what: &str) -> PResult<ast::StrLit> {
        match self.peek() {
            TokenKind::Str(value) => {
                let value = value.clone();
                Ok(ast::StrLit {
                    value,
                    span: self.bump(),
                })
            }
            _ => Err(self.unexpected(what)),
        }
    }
}

/// Whether `kind` is the identifier `word` (case-insensitive).
fn is_word(kind: &TokenKind, word: &str) -> bool {
    matches!(kind, TokenKind::Ident(w) if w.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_in_two_stages_are_both_reported() {
        let errors = parse("x | countt by a | where (a").unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].code, codes::UNKNOWN_OPERATOR);
        assert_eq!(errors[1].code, codes::UNBALANCED_PARENTHESES);
    }

    #[test]
    fn trailing_pipe_is_reported() {
        let errors = parse("x | count |").unwrap_err();
        assert_eq!(errors[0].code, codes::EMPTY_STAGE);
    }
}
