//! Stage dispatch and the operators that extract or compute fields: `json`, `parse`,
//! `parse regex`/`extract`, `where`, `<expr> as f`, `lookup`, `geoip`, `threatip`,
//! `timeslice` and aggregations.

use super::{AGGREGATES, OPERATORS, PResult, Parser, duration_millis, is_word};
use crate::ast::{
    AggregateCall, Ident, LookupColumn, SplitColumn, SplitOption, StageKind, StrLit, TimesliceArg,
};
use crate::diagnostic::{Diagnostic, codes, suggest};
use crate::lexer::TokenKind;
use crate::semantic::FUNCTIONS;

impl Parser<'_> {
    /// One stage; the whole token slice must be consumed.
    pub(super) fn stage(&mut self) -> PResult<StageKind> {
        let word = match self.peek() {
            TokenKind::Ident(word) => word.to_ascii_lowercase(),
            _ => return self.assign(),
        };
        let kind = match word.as_str() {
            "json" => self.json()?,
            "parse" if is_word(self.peek_at(1), "regex") => {
                self.bump();
                self.parse_regex()?
            }
            "parse" => self.parse_anchor()?,
            "extract" => self.parse_regex()?,
            "where" => {
                self.bump();
                StageKind::Where(self.expr()?)
            }
            "lookup" => self.lookup()?,
            "geoip" => {
                self.bump();
                let field = self.ident("the ip field after 'geoip'")?;
                let columns = if self.at_end() {
                    Vec::new()
                } else {
                    self.ident_list("a geo column")?
                };
                StageKind::GeoIp { field, columns }
            }
            "threatip" => {
                self.bump();
                StageKind::ThreatIp {
                    field: self.ident("the ip field after 'threatip'")?,
                }
            }
            "timeslice" => self.timeslice()?,
            "sort" | "order" => self.sort()?,
            "top" => self.top()?,
            "limit" => {
                self.bump();
                StageKind::Limit(self.limit_operand("a number after 'limit'")?)
            }
            "fields" => self.fields()?,
            "fillmissing" => self.fillmissing()?,
            "transpose" => self.transpose()?,
            "outlier" => self.outlier()?,
            "dedup" => self.dedup()?,
            "topk" => self.topk()?,
            "accum" | "total" => self.running(word == "total")?,
            "split" | "csv" => self.split(word == "csv")?,
            "threatlookup" => self.threatlookup()?,
            _ if AGGREGATES.contains(&word.as_str()) => self.aggregate()?,
            _ => return self.assign_or_unknown(&word),
        };
        self.expect_end()?;
        Ok(kind)
    }

    /// `<expr> as <field>`.
    fn assign(&mut self) -> PResult<StageKind> {
        let expr = self.expr()?;
        if !self.is_word("as") {
            return Err(self
                .unexpected("'as <field>' after the expression")
                .with_hint(
                    "a stage is an operator (where, json, count, …) or `<expression> as <field>`",
                ));
        }
        self.bump();
        let alias = self.ident("a field name after 'as'")?;
        self.expect_end()?;
        Ok(StageKind::Assign { expr, alias })
    }

    /// A stage starting with a word that is no operator: an expression stage
    /// (`replace(x, "a", "b") as y`, `f as g`), or a misspelt operator.
    fn assign_or_unknown(&mut self, word: &str) -> PResult<StageKind> {
        let word_span = self.span();
        let call = *self.peek_at(1) == TokenKind::LParen;
        let result = self.assign();
        let Err(error) = result else { return result };
        let operators = OPERATORS.iter().chain(AGGREGATES).copied();
        let suggestion = suggest(word, operators.clone());
        let is_function = FUNCTIONS.iter().any(|f| f.name == word);
        // Only blame the first word when the parse failed right after it (`countt by x`) or
        // it is a near miss of an operator called like a function (`count_distint(x)`).
        let failed_after_word = self.pos <= 1;
        let blame_word = !is_function && (failed_after_word || (call && suggestion.is_some()));
        if error.code == codes::TOO_DEEP || !blame_word {
            return Err(error);
        }
        let diagnostic = Diagnostic::error(
            codes::UNKNOWN_OPERATOR,
            format!("unknown operator '{word}'"),
            word_span,
        );
        Err(match suggestion {
            Some(best) => diagnostic.with_hint(format!("did you mean '{best}'?")),
            None => diagnostic.with_hint(
                "a stage is an operator (where, json, parse, count, sort, …) or `<expression> as <field>`",
            ),
        })
    }

    fn json(&mut self) -> PResult<StageKind> {
        self.bump();
        if self.eat_word("auto") {
            let source = self.source_option()?;
            return Ok(StageKind::JsonAuto { source });
        }
        let mut nodrop = self.eat_word("nodrop");
        let source = self.source_option()?;
        let mut keys = vec![self.string("a json key in double quotes")?];
        while self.eat(&TokenKind::Comma) {
            keys.push(self.string("a json key in double quotes")?);
        }
        let aliases = if self.eat_word("as") {
            self.ident_list("a field name")?
        } else {
            Vec::new()
        };
        nodrop |= self.eat_word("nodrop");
        Ok(StageKind::Json {
            source,
            keys,
            aliases,
            nodrop,
        })
    }

    fn parse_anchor(&mut self) -> PResult<StageKind> {
        self.bump();
        let source = self.source_option()?;
        let pattern = self.string("a pattern in double quotes, e.g. \"user=* \"")?;
        let aliases = if self.eat_word("as") {
            self.ident_list("a field name")?
        } else {
            Vec::new()
        };
        let nodrop = self.eat_word("nodrop");
        Ok(StageKind::Parse {
            source,
            pattern,
            aliases,
            nodrop,
        })
    }

    /// After `parse regex` / `extract`: options and one regex string in any order.
    fn parse_regex(&mut self) -> PResult<StageKind> {
        self.bump();
        let (mut source, mut regex, mut nodrop, mut multi): (
            Option<Ident>,
            Option<StrLit>,
            bool,
            bool,
        ) = (None, None, false, false);
        while !self.at_end() {
            if let Some(field) = self.source_option()? {
                source = Some(field);
            } else if self.eat_word("nodrop") {
                nodrop = true;
            } else if self.eat_word("multi") {
                multi = true;
            } else if regex.is_none() && matches!(self.peek(), TokenKind::Str(_)) {
                regex = Some(self.string("a regex")?);
            } else {
                return Err(self.unexpected("'field=', 'nodrop', 'multi' or the regex string"));
            }
        }
        let Some(regex) = regex else {
            return Err(self.unexpected(
                "a regex in double quotes with a named group, e.g. \"(?<name>\\w+)\"",
            ));
        };
        Ok(StageKind::ParseRegex {
            source,
            regex,
            nodrop,
            multi,
        })
    }

    fn lookup(&mut self) -> PResult<StageKind> {
        self.bump();
        let mut columns = Vec::new();
        loop {
            let column = self.ident("a lookup column")?;
            let alias = if self.eat_word("as") {
                Some(self.ident("a field name after 'as'")?)
            } else {
                None
            };
            columns.push(LookupColumn { column, alias });
            if !self.eat(&TokenKind::Comma) {
                break;
            }
        }
        self.expect_word("from")?;
        let value = match self.peek() {
            TokenKind::Uri(uri) => uri.clone(),
            TokenKind::Ident(name) | TokenKind::QuotedIdent(name) => name.clone(),
            _ => return Err(self.unexpected("a lookup table such as geo://location")),
        };
        let table = StrLit {
            value,
            span: self.bump(),
        };
        self.expect_word("on")?;
        let key = self.ident("the lookup key, e.g. 'ip'")?;
        self.expect(&TokenKind::Eq, "'=' after the lookup key")?;
        let field = self.ident("the field to look up")?;
        Ok(StageKind::Lookup {
            columns,
            table,
            key,
            field,
        })
    }

    /// `split f [delim=','] [quote='"'] [escape='\'] extract 1 as a, 2 as b` or
    /// `… extract a, _, c`; `csv` is the same with its own name.
    fn split(&mut self, csv: bool) -> PResult<StageKind> {
        self.bump();
        let field = self.ident("the field to split, e.g. _raw")?;
        let mut options = Vec::new();
        while !self.is_word("extract") {
            if self.at_end() {
                return Err(self.unexpected("'extract' and the columns to take"));
            }
            let name = self.ident("an option (delim, quote, escape) or 'extract'")?;
            self.expect(&TokenKind::Eq, "'=' after the option name")?;
            let (value, single_quoted) = match self.peek().clone() {
                TokenKind::Char(c) => (c.to_string(), true),
                TokenKind::Str(text) => (text, false),
                _ => return Err(self.unexpected("a character in quotes, e.g. ','")),
            };
            self.bump();
            let span = name.span.to(self.previous_span());
            options.push(SplitOption {
                name,
                value,
                single_quoted,
                span,
            });
        }
        self.bump();
        let mut columns = vec![self.split_column()?];
        while self.eat(&TokenKind::Comma) {
            columns.push(self.split_column()?);
        }
        Ok(StageKind::Split {
            csv,
            field,
            options,
            columns,
        })
    }

    fn split_column(&mut self) -> PResult<SplitColumn> {
        if let TokenKind::Number { digits, suffix } = self.peek().clone() {
            let index_span = self.bump();
            let index = match (digits.parse::<u64>(), suffix.is_empty()) {
                (Ok(index), true) => index,
                _ => {
                    return Err(Diagnostic::error(
                        codes::INVALID_SPLIT,
                        format!("'{digits}{suffix}' is not a column number"),
                        index_span,
                    )
                    .with_hint("columns are numbered from 1: `extract 1 as a, 2 as b`"));
                }
            };
            self.expect_word("as")?;
            let alias = self.ident("a field name after 'as'")?;
            return Ok(SplitColumn::Indexed {
                index,
                index_span,
                alias,
            });
        }
        Ok(SplitColumn::Positional(
            self.ident("a column number or a field name")?,
        ))
    }

    /// `threatlookup [singleIndicator] [source="…"] [include="…"] f1, f2`.
    fn threatlookup(&mut self) -> PResult<StageKind> {
        self.bump();
        let (mut single_indicator, mut source, mut include) = (false, None, None);
        loop {
            if self.eat_word("singleindicator") {
                single_indicator = true;
            } else if (self.is_word("source") || self.is_word("include"))
                && *self.peek_at(1) == TokenKind::Eq
            {
                let is_source = self.is_word("source");
                self.bump();
                self.bump();
                let value = self.string("a value in double quotes")?;
                if is_source {
                    source = Some(value);
                } else {
                    include = Some(value);
                }
            } else {
                break;
            }
        }
        let fields = self.ident_list("the field holding the indicator")?;
        Ok(StageKind::ThreatLookup {
            single_indicator,
            source,
            include,
            fields,
        })
    }

    fn timeslice(&mut self) -> PResult<StageKind> {
        self.bump();
        self.eat_word("by");
        let TokenKind::Number { digits, suffix } = self.peek().clone() else {
            return Err(self.unexpected("a span such as 15m, 1h, 1d or 'N buckets'"));
        };
        let number_span = self.bump();
        let span = if suffix.is_empty() && self.eat_word("buckets") {
            match digits.parse::<u64>() {
                Ok(count) => TimesliceArg::Buckets(count),
                Err(_) => {
                    return Err(Diagnostic::error(
                        codes::COUNT_OUT_OF_RANGE,
                        format!("'{digits} buckets' needs a whole number of buckets"),
                        number_span,
                    ));
                }
            }
        } else {
            TimesliceArg::Millis(duration_millis(&digits, &suffix, number_span)?)
        };
        let alias = if self.eat_word("as") {
            Some(self.ident("a field name after 'as'")?)
        } else {
            None
        };
        Ok(StageKind::Timeslice { span, alias })
    }

    /// `fn[(args)] [as a], … [[group] by f, …]`; `count_frequent a, b` takes a field list.
    fn aggregate(&mut self) -> PResult<StageKind> {
        let mut aggregates = Vec::new();
        loop {
            let function = self.ident("an aggregate function")?;
            let arguments = if self.eat(&TokenKind::LParen) {
                let open = self.previous_span();
                Some(self.aggregate_arguments(open)?)
            } else if function.name.eq_ignore_ascii_case("count_frequent") {
                Some(self.count_frequent_fields()?)
            } else {
                None
            };
            let alias = if self.eat_word("as") {
                Some(self.ident("a field name after 'as'")?)
            } else {
                None
            };
            let span = function.span.to(self.previous_span());
            aggregates.push(AggregateCall {
                function,
                arguments,
                alias,
                span,
            });
            if !self.eat(&TokenKind::Comma) {
                break;
            }
        }
        if self.is_word("group") && is_word(self.peek_at(1), "by") {
            self.bump();
        }
        let by = if self.eat_word("by") {
            self.ident_list("a field to group by")?
        } else {
            Vec::new()
        };
        Ok(StageKind::Aggregate { aggregates, by })
    }

    fn aggregate_arguments(&mut self, open: crate::span::Span) -> PResult<Vec<crate::ast::Expr>> {
        let mut arguments = Vec::new();
        if self.eat(&TokenKind::RParen) {
            return Ok(arguments);
        }
        loop {
            arguments.push(self.expr()?);
            if self.eat(&TokenKind::Comma) {
                continue;
            }
            if self.eat(&TokenKind::RParen) {
                return Ok(arguments);
            }
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
    }

    /// `count_frequent a, b`: fields up to the end, `by`, or the next aggregate call.
    fn count_frequent_fields(&mut self) -> PResult<Vec<crate::ast::Expr>> {
        let mut fields = Vec::new();
        loop {
            let field = self.ident("a field after 'count_frequent'")?;
            fields.push(crate::ast::Expr::new(
                crate::ast::ExprKind::Field(field.name),
                field.span,
            ));
            let next_is_call = matches!(self.peek_at(1), TokenKind::Ident(_))
                && *self.peek_at(2) == TokenKind::LParen;
            if *self.peek() != TokenKind::Comma || next_is_call {
                return Ok(fields);
            }
            self.bump();
        }
    }
}
