//! The scope: keywords, quoted phrases and `_metadata=value` conditions combined with
//! `AND`, `OR`, `NOT` (case-insensitive; implicit AND; NOT > AND > OR) and parentheses.

use super::{MAX_HEIGHT, PResult, Parser};
use crate::ast::{Ident, ScopeExpr};
use crate::diagnostic::{Diagnostic, codes};
use crate::lexer::TokenKind;
use crate::span::Span;

fn is_scope_word(kind: &TokenKind, word: &str) -> bool {
    matches!(kind, TokenKind::Word(w) if w.eq_ignore_ascii_case(word))
}

fn span_of(node: &ScopeExpr) -> Span {
    match node {
        ScopeExpr::Keyword { span, .. }
        | ScopeExpr::Metadata { span, .. }
        | ScopeExpr::Not(_, span) => *span,
        ScopeExpr::And(left, right) | ScopeExpr::Or(left, right) => {
            span_of(left).to(span_of(right))
        }
    }
}

impl Parser<'_> {
    pub(super) fn scope(&mut self) -> PResult<ScopeExpr> {
        let (node, _) = self.scope_or()?;
        if self.at_end() {
            return Ok(node);
        }
        Err(self.unexpected("'AND', 'OR', a keyword or '|'"))
    }

    fn too_high(&self, height: usize, span: Span) -> PResult<()> {
        if height > MAX_HEIGHT {
            return Err(
                Diagnostic::error(codes::TOO_DEEP, "scope has too many terms", span)
                    .with_hint(format!("use at most {MAX_HEIGHT} terms")),
            );
        }
        Ok(())
    }

    fn scope_or(&mut self) -> PResult<(ScopeExpr, usize)> {
        self.enter()?;
        let (mut left, mut height) = self.scope_and()?;
        while is_scope_word(self.peek(), "or") {
            self.bump();
            let (right, right_height) = self.scope_and()?;
            height = height.max(right_height) + 1;
            self.too_high(height, span_of(&right))?;
            left = ScopeExpr::Or(Box::new(left), Box::new(right));
        }
        self.leave();
        Ok((left, height))
    }

    fn scope_and(&mut self) -> PResult<(ScopeExpr, usize)> {
        let (mut left, mut height) = self.scope_not()?;
        loop {
            let explicit = is_scope_word(self.peek(), "and");
            let starts_term = match self.peek() {
                TokenKind::Word(w) => !w.eq_ignore_ascii_case("or"),
                TokenKind::Str(_) | TokenKind::LParen => true,
                _ => false,
            };
            if !explicit && !starts_term {
                break;
            }
            if explicit {
                self.bump();
            }
            let (right, right_height) = self.scope_not()?;
            height = height.max(right_height) + 1;
            self.too_high(height, span_of(&right))?;
            left = ScopeExpr::And(Box::new(left), Box::new(right));
        }
        Ok((left, height))
    }

    fn scope_not(&mut self) -> PResult<(ScopeExpr, usize)> {
        if is_scope_word(self.peek(), "not") {
            let start = self.bump();
            self.enter()?;
            let (inner, height) = self.scope_not()?;
            self.leave();
            let span = start.to(span_of(&inner));
            return Ok((ScopeExpr::Not(Box::new(inner), span), height + 1));
        }
        self.scope_primary()
    }

    fn scope_primary(&mut self) -> PResult<(ScopeExpr, usize)> {
        match self.peek().clone() {
            TokenKind::LParen => {
                let open = self.bump();
                let inner = self.scope_or()?;
                if *self.peek() != TokenKind::RParen {
                    return Err(Diagnostic::error(
                        codes::UNBALANCED_PARENTHESES,
                        format!("expected ')', found {}", self.peek().describe()),
                        self.span(),
                    )
                    .with_label(open, "this '(' is not closed"));
                }
                self.bump();
                Ok(inner)
            }
            TokenKind::Str(text) => {
                let span = self.bump();
                Ok((
                    ScopeExpr::Keyword {
                        text,
                        quoted: true,
                        span,
                    },
                    1,
                ))
            }
            TokenKind::Word(word) if ["and", "or"].iter().any(|k| word.eq_ignore_ascii_case(k)) => {
                Err(self.unexpected("a keyword or a condition"))
            }
            TokenKind::Word(word) => {
                let span = self.bump();
                let negated = match self.peek() {
                    TokenKind::Eq => false,
                    TokenKind::NotEq => true,
                    _ => {
                        return Ok((
                            ScopeExpr::Keyword {
                                text: word,
                                quoted: false,
                                span,
                            },
                            1,
                        ));
                    }
                };
                self.bump();
                let (value, quoted) = match self.peek().clone() {
                    TokenKind::Word(value) => (value, false),
                    TokenKind::Str(value) => (value, true),
                    _ => return Err(self.unexpected(&format!("a value for '{word}'"))),
                };
                let end = self.bump();
                let field = Ident { name: word, span };
                Ok((
                    ScopeExpr::Metadata {
                        field,
                        value,
                        quoted,
                        negated,
                        span: span.to(end),
                    },
                    1,
                ))
            }
            _ => Err(self.unexpected("a keyword or a condition")),
        }
    }
}
