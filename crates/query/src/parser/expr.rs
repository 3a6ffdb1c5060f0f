//! Expressions, by precedence climbing. Loosest to tightest: `?:`, `or`/`||`, `and`/`&&`,
//! prefix `not`, comparisons with `matches`/`in`/`not in`/`contains`, `+ -`, `* / %`,
//! prefix `!` and `-`, then literals, fields, calls and parentheses. Every function returns
//! the tree height alongside the node so that long chains are bounded too.

use super::{MAX_HEIGHT, PResult, Parser, is_word, number_literal};
use crate::ast::{BinaryOp, Expr, ExprKind, Ident, Literal, Pattern, UnaryOp};
use crate::diagnostic::{Diagnostic, codes};
use crate::lexer::TokenKind;
use crate::span::Span;

type Node = (Expr, usize);

const OR: u8 = 1;
const AND: u8 = 3;
const NOT: u8 = 5;
const COMPARE: u8 = 7;
const ADD: u8 = 9;
const MULTIPLY: u8 = 11;

enum Infix {
    Binary(BinaryOp),
    Matches,
    In { negated: bool },
    Contains,
}

fn boxed(node: Expr) -> Box<Expr> {
    Box::new(node)
}

impl Parser<'_> {
    /// A full expression (ternary included).
    pub(super) fn expr(&mut self) -> PResult<Expr> {
        self.ternary().map(|(expr, _)| expr)
    }

    /// A literal or other operand without binary operators (`limit 10`, `with -1 for f`).
    pub(super) fn operand(&mut self) -> PResult<Expr> {
        self.prefix().map(|(expr, _)| expr)
    }

    fn check_height(&self, height: usize, span: Span) -> PResult<()> {
        if height > MAX_HEIGHT {
            return Err(Diagnostic::error(
                codes::TOO_DEEP,
                "expression is too long or nested too deeply",
                span,
            )
            .with_hint("split it over several stages"));
        }
        Ok(())
    }

    fn ternary(&mut self) -> PResult<Node> {
        self.enter()?;
        let (condition, mut height) = self.binary(0)?;
        let node = if self.eat(&TokenKind::Question) {
            let (then, then_height) = self.ternary()?;
            self.expect(&TokenKind::Colon, "':' of 'condition ? then : else'")?;
            let (otherwise, else_height) = self.ternary()?;
            height = height.max(then_height).max(else_height) + 1;
            let span = condition.span.to(otherwise.span);
            let kind = ExprKind::Ternary {
                condition: boxed(condition),
                then: boxed(then),
                otherwise: boxed(otherwise),
            };
            Expr::new(kind, span)
        } else {
            condition
        };
        self.leave();
        Ok((node, height))
    }

    fn infix(&self) -> Option<(Infix, u8, usize)> {
        let binary = |op, power| Some((Infix::Binary(op), power, 1));
        match self.peek() {
            TokenKind::OrOr => binary(BinaryOp::Or, OR),
            TokenKind::AndAnd => binary(BinaryOp::And, AND),
            TokenKind::Eq | TokenKind::EqEq => binary(BinaryOp::Equal, COMPARE),
            TokenKind::NotEq => binary(BinaryOp::NotEqual, COMPARE),
            TokenKind::Lt => binary(BinaryOp::Less, COMPARE),
            TokenKind::Le => binary(BinaryOp::LessEqual, COMPARE),
            TokenKind::Gt => binary(BinaryOp::Greater, COMPARE),
            TokenKind::Ge => binary(BinaryOp::GreaterEqual, COMPARE),
            TokenKind::Plus => binary(BinaryOp::Add, ADD),
            TokenKind::Minus => binary(BinaryOp::Subtract, ADD),
            TokenKind::Star => binary(BinaryOp::Multiply, MULTIPLY),
            TokenKind::Slash => binary(BinaryOp::Divide, MULTIPLY),
            TokenKind::Percent => binary(BinaryOp::Modulo, MULTIPLY),
            TokenKind::Ident(word) => match word.to_ascii_lowercase().as_str() {
                "or" => binary(BinaryOp::Or, OR),
                "and" => binary(BinaryOp::And, AND),
                "matches" => Some((Infix::Matches, COMPARE, 1)),
                "in" => Some((Infix::In { negated: false }, COMPARE, 1)),
                "contains" => Some((Infix::Contains, COMPARE, 1)),
                "not" if is_word(self.peek_at(1), "in") => {
                    Some((Infix::In { negated: true }, COMPARE, 2))
                }
                _ => None,
            },
            _ => None,
        }
    }

    fn binary(&mut self, min_power: u8) -> PResult<Node> {
        let (mut left, mut height) = self.prefix_loose()?;
        while let Some((infix, power, tokens)) = self.infix() {
            if power < min_power {
                break;
            }
            let operator_span = self.span();
            for _ in 0..tokens {
                self.bump();
            }
            let (kind, right_height) = match infix {
                Infix::Binary(op) => {
                    let (right, right_height) = self.binary(power + 1)?;
                    (
                        ExprKind::Binary {
                            op,
                            left: boxed(left),
                            right: boxed(right),
                        },
                        right_height,
                    )
                }
                Infix::Matches => {
                    let (pattern, pattern_height) = self.pattern()?;
                    (
                        ExprKind::Matches {
                            operand: boxed(left),
                            pattern,
                        },
                        pattern_height,
                    )
                }
                Infix::In { negated } => {
                    let (list, list_height) = self.in_list()?;
                    (
                        ExprKind::In {
                            operand: boxed(left),
                            list,
                            negated,
                        },
                        list_height,
                    )
                }
                Infix::Contains => {
                    let (right, right_height) = self.binary(power + 1)?;
                    let name = Ident {
                        name: "contains".to_string(),
                        span: operator_span,
                    };
                    (
                        ExprKind::Call {
                            name,
                            args: vec![left, right],
                        },
                        right_height,
                    )
                }
            };
            height = height.max(right_height) + 1;
            let span = self.expr_span(&kind).unwrap_or(operator_span);
            self.check_height(height, span)?;
            left = Expr::new(kind, span);
        }
        Ok((left, height))
    }

    /// The span from the first operand to the current position.
    fn expr_span(&self, kind: &ExprKind) -> Option<Span> {
        let start = match kind {
            ExprKind::Binary { left, .. } => left.span,
            ExprKind::Matches { operand, .. } | ExprKind::In { operand, .. } => operand.span,
            ExprKind::Call { args, .. } => args.first()?.span,
            _ => return None,
        };
        Some(start.to(self.previous_span()))
    }

    /// Prefix `not` binds looser than comparisons: `not a = b` is `not (a = b)`.
    fn prefix_loose(&mut self) -> PResult<Node> {
        if is_word(self.peek(), "not") && !is_word(self.peek_at(1), "in") {
            let start = self.bump();
            self.enter()?;
            let (operand, height) = self.binary(NOT)?;
            self.leave();
            let span = start.to(operand.span);
            return Ok((
                Expr::new(
                    ExprKind::Unary {
                        op: UnaryOp::Not,
                        operand: boxed(operand),
                    },
                    span,
                ),
                height + 1,
            ));
        }
        self.prefix()
    }

    fn prefix(&mut self) -> PResult<Node> {
        let op = match self.peek() {
            TokenKind::Bang => UnaryOp::Not,
            TokenKind::Minus => UnaryOp::Negate,
            _ => return self.primary(),
        };
        let start = self.bump();
        self.enter()?;
        let (operand, height) = self.prefix()?;
        self.leave();
        let span = start.to(operand.span);
        Ok((
            Expr::new(
                ExprKind::Unary {
                    op,
                    operand: boxed(operand),
                },
                span,
            ),
            height + 1,
        ))
    }

    /// After `matches`: a regex, a (possibly parenthesised) string, or another operand.
    fn pattern(&mut self) -> PResult<(Pattern, usize)> {
        if let TokenKind::Regex(regex) = self.peek() {
            let regex = regex.clone();
            self.bump();
            return Ok((Pattern::Regex(regex), 1));
        }
        if self.at_end() {
            return Err(self.unexpected("a pattern after 'matches'"));
        }
        let (operand, height) = self.prefix()?;
        Ok(match operand.kind {
            ExprKind::Literal(Literal::String(text)) => (Pattern::Wildcard(text), 1),
            _ => (Pattern::Dynamic(boxed(operand)), height),
        })
    }

    /// `("a", "b", …)` after `in`.
    fn in_list(&mut self) -> PResult<(Vec<Expr>, usize)> {
        let open = self.expect(&TokenKind::LParen, "'(' after 'in'")?;
        let (list, height) = self.arguments(open)?;
        if list.is_empty() {
            return Err(Diagnostic::error(
                codes::UNEXPECTED_TOKEN,
                "empty list after 'in'",
                open.to(self.previous_span()),
            )
            .with_hint("list at least one value: x in (\"a\", \"b\")"));
        }
        Ok((list, height))
    }

    /// Comma-separated expressions up to the `)` matching `open` (already consumed).
    fn arguments(&mut self, open: Span) -> PResult<(Vec<Expr>, usize)> {
        self.enter()?;
        let mut list = Vec::new();
        let mut height = 0;
        if !self.eat(&TokenKind::RParen) {
            loop {
                // `replace(x, /re/, "y")`: a regex argument (checked in semantic analysis).
                if let TokenKind::Regex(regex) = self.peek()
                    && matches!(self.peek_at(1), TokenKind::Comma | TokenKind::RParen)
                {
                    let regex = regex.clone();
                    let span = self.bump();
                    list.push(Expr::new(ExprKind::Regex(regex), span));
                    if self.eat(&TokenKind::Comma) {
                        continue;
                    }
                    self.bump();
                    break;
                }
                let (argument, argument_height) = self.ternary()?;
                height = height.max(argument_height);
                list.push(argument);
                if self.eat(&TokenKind::Comma) {
                    continue;
                }
                if self.eat(&TokenKind::RParen) {
                    break;
                }
                return Err(self.unclosed(open, "',' or ')'"));
            }
        }
        self.leave();
        Ok((list, height + 1))
    }

    fn unclosed(&self, open: Span, expected: &str) -> Diagnostic {
        let code = if self.at_end() {
            codes::UNBALANCED_PARENTHESES
        } else {
            codes::UNEXPECTED_TOKEN
        };
        Diagnostic::error(
            code,
            format!("expected {expected}, found {}", self.peek().describe()),
            self.span(),
        )
        .with_label(open, "this '(' is not closed")
    }

    fn primary(&mut self) -> PResult<Node> {
        let span = self.span();
        let kind = match self.peek().clone() {
            TokenKind::Number { digits, suffix } => {
                ExprKind::Literal(number_literal(&digits, &suffix, span)?)
            }
            TokenKind::Str(text) => ExprKind::Literal(Literal::String(text)),
            TokenKind::QuotedIdent(name) => ExprKind::Field(name),
            TokenKind::Ident(word) => {
                let literal = match word.to_ascii_lowercase().as_str() {
                    "true" => Some(Literal::Bool(true)),
                    "false" => Some(Literal::Bool(false)),
                    "null" => Some(Literal::Null),
                    _ => None,
                };
                match literal {
                    Some(literal) => ExprKind::Literal(literal),
                    None if *self.peek_at(1) == TokenKind::LParen => {
                        self.bump();
                        let open = self.bump();
                        let (args, height) = self.arguments(open)?;
                        let call = ExprKind::Call {
                            name: Ident { name: word, span },
                            args,
                        };
                        return Ok((Expr::new(call, span.to(self.previous_span())), height + 1));
                    }
                    None => ExprKind::Field(word),
                }
            }
            TokenKind::LParen => {
                let open = self.bump();
                let (inner, height) = self.ternary()?;
                if !self.eat(&TokenKind::RParen) {
                    return Err(self.unclosed(open, "')'"));
                }
                return Ok((Expr::new(inner.kind, open.to(self.previous_span())), height));
            }
            TokenKind::Regex(_) => {
                return Err(Diagnostic::error(
                    codes::MISPLACED_REGEX,
                    "a regex is only allowed after 'matches' or as the pattern of replace",
                    span,
                )
                .with_hint("use a string here, or write `x matches /re/`"));
            }
            TokenKind::Char(c) => {
                return Err(Diagnostic::error(
                    codes::UNEXPECTED_TOKEN,
                    format!("'{c}' in single quotes is not a string"),
                    span,
                )
                .with_hint("strings use double quotes: \"x\""));
            }
            _ => return Err(self.unexpected("an expression")),
        };
        self.bump();
        Ok((Expr::new(kind, span), 1))
    }
}
