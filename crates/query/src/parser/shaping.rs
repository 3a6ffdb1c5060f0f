//! Result-shaping operators: `sort`/`order`, `top`, `limit`, `fields`, `fillmissing`,
//! `transpose`, `outlier` and `dedup`.

use super::{PResult, Parser, duration_millis};
use crate::ast::{
    Expr, FillDefault, Generator, Ident, OutlierParameter, OutlierValue, SortKey, StageKind,
    TransposeOutput,
};
use crate::diagnostic::{Diagnostic, codes};
use crate::lexer::TokenKind;

impl Parser<'_> {
    /// `sort [by] a, +b, c asc, d desc` (default descending).
    pub(super) fn sort(&mut self) -> PResult<StageKind> {
        self.bump();
        self.eat_word("by");
        let mut keys = vec![self.sort_key()?];
        while self.eat(&TokenKind::Comma) {
            keys.push(self.sort_key()?);
        }
        Ok(StageKind::Sort { keys })
    }

    fn sort_key(&mut self) -> PResult<SortKey> {
        let mut descending = true;
        if self.eat(&TokenKind::Plus) {
            descending = false;
        } else if self.eat(&TokenKind::Minus) {
            descending = true;
        }
        let field = self.ident("a field to sort by")?;
        if self.eat_word("asc") {
            descending = false;
        } else if self.eat_word("desc") {
            descending = true;
        }
        Ok(SortKey { field, descending })
    }

    /// A count operand (`limit 10`, `top 5`); checked to be a positive integer later.
    pub(super) fn limit_operand(&mut self, what: &str) -> PResult<Expr> {
        if self.at_end() {
            return Err(self.unexpected(what));
        }
        self.operand()
    }

    /// `top N f1, f2 [by agg [asc]]`.
    pub(super) fn top(&mut self) -> PResult<StageKind> {
        self.bump();
        let limit = self.limit_operand("a number after 'top'")?;
        let fields = self.ident_list("a field after 'top N'")?;
        let by = if self.eat_word("by") {
            Some(self.sort_key()?)
        } else {
            None
        };
        Ok(StageKind::Top { limit, fields, by })
    }

    /// `fields a, b` or `fields - a, b`.
    pub(super) fn fields(&mut self) -> PResult<StageKind> {
        self.bump();
        let drop = self.eat(&TokenKind::Minus);
        if !drop {
            self.eat(&TokenKind::Plus);
        }
        let names = self.ident_list("a field name")?;
        Ok(StageKind::Fields { drop, names })
    }

    /// `fillmissing <generator>, … [with v for f, …] [takeLast]`.
    pub(super) fn fillmissing(&mut self) -> PResult<StageKind> {
        self.bump();
        let mut generators = vec![self.generator()?];
        while self.eat(&TokenKind::Comma) {
            generators.push(self.generator()?);
        }
        let mut defaults = Vec::new();
        if self.eat_word("with") {
            loop {
                let value = self.limit_operand("a default value")?;
                self.expect_word("for")?;
                let field = self.ident("the field the default is for")?;
                defaults.push(FillDefault { value, field });
                if !self.eat(&TokenKind::Comma) {
                    break;
                }
            }
        }
        let take_last = self.eat_word("takelast");
        Ok(StageKind::FillMissing {
            generators,
            defaults,
            take_last,
        })
    }

    fn generator(&mut self) -> PResult<Generator> {
        if self.is_word("timeslice") {
            let at = self.bump();
            let mut span = None;
            if self.eat(&TokenKind::LParen) {
                let TokenKind::Number { digits, suffix } = self.peek().clone() else {
                    return Err(self.unexpected("a span such as 1h"));
                };
                let number_span = self.bump();
                span = Some(duration_millis(&digits, &suffix, number_span)?);
                self.expect(&TokenKind::RParen, "')'")?;
            }
            let field = if self.eat_word("in") {
                Some(self.ident("a field after 'in'")?)
            } else {
                None
            };
            return Ok(Generator::Timeslice {
                span,
                field,
                at: at.to(self.previous_span()),
            });
        }
        if self.eat_word("values") {
            if self.eat_word("all") {
                self.expect_word("in")?;
                return Ok(Generator::AllValues {
                    field: self.ident("a field after 'in'")?,
                });
            }
            self.expect(&TokenKind::LParen, "'(' or 'all' after 'values'")?;
            let mut values = vec![self.string("a string value")?];
            while self.eat(&TokenKind::Comma) {
                values.push(self.string("a string value")?);
            }
            self.expect(&TokenKind::RParen, "')'")?;
            self.expect_word("in")?;
            return Ok(Generator::Values {
                values,
                field: self.ident("a field after 'in'")?,
            });
        }
        Err(self.unexpected("'timeslice' or 'values'"))
    }

    /// `transpose row a, b column c [as x, y, *]`, clauses in any order.
    pub(super) fn transpose(&mut self) -> PResult<StageKind> {
        self.bump();
        let (mut rows, mut columns, mut outputs) = (Vec::new(), Vec::new(), None);
        while !self.at_end() {
            if self.eat_word("row") {
                rows = self.ident_list("a row field")?;
            } else if self.eat_word("column") {
                columns = self.ident_list("a column field")?;
            } else if self.eat_word("as") {
                let mut list = vec![self.transpose_output()?];
                while self.eat(&TokenKind::Comma) {
                    list.push(self.transpose_output()?);
                }
                outputs = Some(list);
            } else {
                return Err(self.unexpected("'row', 'column' or 'as'"));
            }
        }
        Ok(StageKind::Transpose {
            rows,
            columns,
            outputs,
        })
    }

    fn transpose_output(&mut self) -> PResult<TransposeOutput> {
        if *self.peek() == TokenKind::Star {
            return Ok(TransposeOutput::Rest(self.bump()));
        }
        Ok(TransposeOutput::Name(
            self.ident("an output column name or '*'")?,
        ))
    }

    /// `outlier f [by d, …] [window=10] [threshold=3] [consecutive=1] [direction=+-]`.
    pub(super) fn outlier(&mut self) -> PResult<StageKind> {
        self.bump();
        let field = self.ident("the field to check")?;
        let (mut by, mut parameters) = (Vec::new(), Vec::new());
        while !self.at_end() {
            if self.eat(&TokenKind::Comma) {
                continue;
            }
            if self.eat_word("by") {
                by.push(self.ident("a field to group by")?);
                while *self.peek() == TokenKind::Comma && *self.peek_at(2) != TokenKind::Eq {
                    self.bump();
                    by.push(self.ident("a field to group by")?);
                }
                continue;
            }
            let name = self.ident("'by' or a parameter such as window=10")?;
            self.expect(&TokenKind::Eq, "'=' after the parameter name")?;
            let value = self.outlier_value()?;
            let span = name.span.to(self.previous_span());
            parameters.push(OutlierParameter { name, value, span });
        }
        Ok(StageKind::Outlier {
            field,
            by,
            parameters,
        })
    }

    fn outlier_value(&mut self) -> PResult<OutlierValue> {
        let negative = *self.peek() == TokenKind::Minus;
        if let TokenKind::Number { digits, suffix } = self.peek_at(usize::from(negative)).clone() {
            if negative {
                self.bump();
            }
            let span = self.bump();
            let value = match (digits.parse::<f64>(), suffix.is_empty()) {
                (Ok(value), true) if value.is_finite() => value,
                _ => {
                    return Err(Diagnostic::error(
                        codes::INVALID_OUTLIER_PARAMETER,
                        format!("invalid number '{digits}{suffix}'"),
                        span,
                    ));
                }
            };
            return Ok(OutlierValue::Number(if negative { -value } else { value }));
        }
        let mut direction = String::new();
        while direction.len() < 2 {
            match self.peek() {
                TokenKind::Plus => direction.push('+'),
                TokenKind::Minus => direction.push('-'),
                _ => break,
            }
            self.bump();
        }
        if direction.is_empty() {
            return Err(self.unexpected("a number or a direction (+-, +, -)"));
        }
        Ok(OutlierValue::Direction(direction))
    }

    /// `topk(N, f1, f2) [by g, …]`.
    pub(super) fn topk(&mut self) -> PResult<StageKind> {
        self.bump();
        let open = self.expect(
            &TokenKind::LParen,
            "'(' after 'topk', e.g. topk(10, _count)",
        )?;
        let limit = self.limit_operand("a number, e.g. topk(10, _count)")?;
        if *self.peek() == TokenKind::RParen {
            return Err(Diagnostic::error(
                codes::UNEXPECTED_TOKEN,
                "topk needs the field to rank by",
                self.span(),
            )
            .with_hint("e.g. topk(10, _count)"));
        }
        self.expect(&TokenKind::Comma, "',' and the field to rank by")?;
        let fields = self.ident_list("a field to rank by")?;
        if !self.eat(&TokenKind::RParen) {
            let code = if self.at_end() {
                codes::UNBALANCED_PARENTHESES
            } else {
                codes::UNEXPECTED_TOKEN
            };
            return Err(Diagnostic::error(
                code,
                format!("expected ',' or ')', found {}", self.peek().describe()),
                self.span(),
            )
            .with_label(open, "this '(' is not closed"));
        }
        let by = if self.eat_word("by") {
            self.ident_list("a field to group by")?
        } else {
            Vec::new()
        };
        Ok(StageKind::TopK { limit, fields, by })
    }

    /// `accum f [as a] [by g, …]` and `total f [as a] [by g, …]`.
    pub(super) fn running(&mut self, total: bool) -> PResult<StageKind> {
        self.bump();
        let field = self.ident("the field to add up")?;
        let alias = if self.eat_word("as") {
            Some(self.ident("a field name after 'as'")?)
        } else {
            None
        };
        let by = if self.eat_word("by") {
            self.ident_list("a field to group by")?
        } else {
            Vec::new()
        };
        Ok(if total {
            StageKind::Total { field, alias, by }
        } else {
            StageKind::Accum { field, alias, by }
        })
    }

    /// `dedup [N] [by f, …]`.
    pub(super) fn dedup(&mut self) -> PResult<StageKind> {
        self.bump();
        let limit = if self.at_end() || self.is_word("by") {
            None
        } else {
            Some(self.operand()?)
        };
        let by: Vec<Ident> = if self.eat_word("by") {
            self.ident_list("a field")?
        } else {
            Vec::new()
        };
        Ok(StageKind::Dedup { limit, by })
    }
}
