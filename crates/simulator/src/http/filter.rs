//! The `$filter` subset both APIs accept: comparisons and `contains`/`startswith`/`endswith`
//! calls joined by `and`, with optional parentheses.
//!
//! ```text
//! filter     := conjunct ('and' conjunct)*
//! conjunct   := '(' filter ')' | call | comparison
//! call       := name '(' name ',' literal ')'
//! comparison := name op literal            op := eq | ne | gt | ge | lt | le
//! literal    := 'text' | datetime'…' | guid'…' | bare word (Graph's unquoted dates) | number
//! ```
//!
//! The input is attacker-controlled: it is bounded in length and nesting, every error names
//! the position the way WCF Data Services does ("syntax error at position N"), and nothing
//! panics. Which properties and operators make sense is for each API to decide; this module
//! only produces the list of conditions.

use std::fmt;

/// Longest `$filter` accepted.
pub const MAX_FILTER_CHARS: usize = 4096;
/// Deepest parenthesis nesting accepted.
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn parse(word: &str) -> Option<Op> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
        }
    }
}

/// A literal as written; interpretation (time, status) is the API's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// `'text'`, with `''` unescaped.
    Text(String),
    /// `datetime'…'` (Reporting Web Service).
    DateTime(String),
    /// `guid'…'`.
    Guid(String),
    /// An unquoted word such as `2026-01-20T00:00:00Z` (Graph) or a number.
    Bare(String),
}

impl Literal {
    /// The literal's text without its quotes or type prefix.
    pub fn text(&self) -> &str {
        match self {
            Literal::Text(text)
            | Literal::DateTime(text)
            | Literal::Guid(text)
            | Literal::Bare(text) => text,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Compare {
        property: String,
        op: Op,
        value: Literal,
        /// Character position of the property, for error messages.
        at: usize,
    },
    Call {
        function: String,
        property: String,
        value: Literal,
        at: usize,
    },
}

/// Why a `$filter` was refused; `Display` is the message the APIs put in their error bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterError {
    TooLong(usize),
    TooDeep(usize),
    Syntax { at: usize, expected: &'static str },
    UnterminatedString(usize),
    Unsupported { at: usize, what: String },
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterError::TooLong(length) => write!(
                f,
                "the $filter is {length} characters long; at most {MAX_FILTER_CHARS} are accepted"
            ),
            FilterError::TooDeep(at) => write!(
                f,
                "syntax error at position {at}: parentheses nest deeper than {MAX_DEPTH}"
            ),
            FilterError::Syntax { at, expected } => {
                write!(f, "syntax error at position {at}: expected {expected}")
            }
            FilterError::UnterminatedString(at) => {
                write!(
                    f,
                    "syntax error at position {at}: unterminated string literal"
                )
            }
            FilterError::Unsupported { at, what } => write!(
                f,
                "syntax error at position {at}: '{what}' is not supported by this service"
            ),
        }
    }
}

impl std::error::Error for FilterError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted {
        prefix: Option<String>,
        text: String,
    },
    Open,
    Close,
    Comma,
}

/// Splits the filter into tokens, each with its character position.
fn lex(input: &str) -> Result<Vec<(usize, Token)>, FilterError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        match c {
            '(' => {
                tokens.push((start, Token::Open));
                i += 1;
            }
            ')' => {
                tokens.push((start, Token::Close));
                i += 1;
            }
            ',' => {
                tokens.push((start, Token::Comma));
                i += 1;
            }
            '\'' => {
                let (text, next) = quoted(&chars, i)?;
                tokens.push((start, Token::Quoted { prefix: None, text }));
                i = next;
            }
            _ if is_word_char(c) => {
                while i < chars.len() && is_word_char(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if chars.get(i) == Some(&'\'') {
                    let (text, next) = quoted(&chars, i)?;
                    tokens.push((
                        start,
                        Token::Quoted {
                            prefix: Some(word),
                            text,
                        },
                    ));
                    i = next;
                } else {
                    tokens.push((start, Token::Word(word)));
                }
            }
            _ => {
                return Err(FilterError::Syntax {
                    at: start,
                    expected: "a name, a literal, '(' or ')'",
                });
            }
        }
    }
    Ok(tokens)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | ':' | '-' | '+' | '/' | '@' | '*' | '$')
}

/// Reads `'…'` starting at the opening quote; `''` is an escaped quote.
fn quoted(chars: &[char], open: usize) -> Result<(String, usize), FilterError> {
    let mut text = String::new();
    let mut i = open + 1;
    loop {
        match chars.get(i) {
            None => return Err(FilterError::UnterminatedString(open)),
            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                text.push('\'');
                i += 2;
            }
            Some('\'') => return Ok((text, i + 1)),
            Some(&c) => {
                text.push(c);
                i += 1;
            }
        }
    }
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    end: usize,
    conditions: Vec<Condition>,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, token)| token)
    }

    fn at(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |(at, _)| *at)
    }

    fn next(&mut self) -> Option<(usize, Token)> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn expect(&mut self, wanted: &Token, expected: &'static str) -> Result<(), FilterError> {
        let at = self.at();
        match self.next() {
            Some((_, token)) if &token == wanted => Ok(()),
            _ => Err(FilterError::Syntax { at, expected }),
        }
    }

    fn filter(&mut self, depth: usize) -> Result<(), FilterError> {
        loop {
            self.conjunct(depth)?;
            match self.peek() {
                Some(Token::Word(word)) if word.eq_ignore_ascii_case("and") => self.pos += 1,
                Some(Token::Word(word))
                    if word.eq_ignore_ascii_case("or") || word.eq_ignore_ascii_case("not") =>
                {
                    return Err(FilterError::Unsupported {
                        at: self.at(),
                        what: word.to_ascii_lowercase(),
                    });
                }
                _ => return Ok(()),
            }
        }
    }

    fn conjunct(&mut self, depth: usize) -> Result<(), FilterError> {
        let at = self.at();
        match self.next() {
            Some((_, Token::Open)) => {
                if depth >= MAX_DEPTH {
                    return Err(FilterError::TooDeep(at));
                }
                self.filter(depth + 1)?;
                self.expect(&Token::Close, "')'")
            }
            Some((_, Token::Word(word))) if word.eq_ignore_ascii_case("not") => {
                Err(FilterError::Unsupported {
                    at,
                    what: "not".to_owned(),
                })
            }
            Some((_, Token::Word(name))) => {
                if self.peek() == Some(&Token::Open) {
                    self.call(name, at)
                } else {
                    self.comparison(name, at)
                }
            }
            _ => Err(FilterError::Syntax {
                at,
                expected: "a property name or '('",
            }),
        }
    }

    fn call(&mut self, function: String, at: usize) -> Result<(), FilterError> {
        self.pos += 1;
        let name_at = self.at();
        let property = match self.next() {
            Some((_, Token::Word(property))) => property,
            _ => {
                return Err(FilterError::Syntax {
                    at: name_at,
                    expected: "a property name",
                });
            }
        };
        self.expect(&Token::Comma, "','")?;
        let value = self.literal()?;
        self.expect(&Token::Close, "')'")?;
        self.conditions.push(Condition::Call {
            function,
            property,
            value,
            at,
        });
        Ok(())
    }

    fn comparison(&mut self, property: String, at: usize) -> Result<(), FilterError> {
        let op_at = self.at();
        let op = match self.next() {
            Some((_, Token::Word(word))) => Op::parse(&word),
            _ => None,
        }
        .ok_or(FilterError::Syntax {
            at: op_at,
            expected: "an operator (eq, ne, gt, ge, lt, le)",
        })?;
        let value = self.literal()?;
        self.conditions.push(Condition::Compare {
            property,
            op,
            value,
            at,
        });
        Ok(())
    }

    fn literal(&mut self) -> Result<Literal, FilterError> {
        let at = self.at();
        let literal = match self.next() {
            Some((_, Token::Quoted { prefix: None, text })) => Literal::Text(text),
            Some((
                _,
                Token::Quoted {
                    prefix: Some(prefix),
                    text,
                },
            )) => match prefix.to_ascii_lowercase().as_str() {
                "datetime" | "datetimeoffset" => Literal::DateTime(text),
                "guid" => Literal::Guid(text),
                _ => {
                    return Err(FilterError::Unsupported {
                        at,
                        what: format!("{prefix}'…'"),
                    });
                }
            },
            Some((_, Token::Word(word)))
                if !word.eq_ignore_ascii_case("and") && Op::parse(&word).is_none() =>
            {
                Literal::Bare(word)
            }
            _ => {
                return Err(FilterError::Syntax {
                    at,
                    expected: "a literal",
                });
            }
        };
        Ok(literal)
    }
}

/// Parses a `$filter` value into its `and`-ed conditions.
pub fn parse(input: &str) -> Result<Vec<Condition>, FilterError> {
    let length = input.chars().count();
    if length > MAX_FILTER_CHARS {
        return Err(FilterError::TooLong(length));
    }
    let tokens = lex(input)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        end: length,
        conditions: Vec::new(),
    };
    if parser.peek().is_none() {
        return Ok(Vec::new());
    }
    parser.filter(0)?;
    if parser.pos < parser.tokens.len() {
        return Err(FilterError::Syntax {
            at: parser.at(),
            expected: "'and' or the end of the filter",
        });
    }
    Ok(parser.conditions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compare(property: &str, op: Op, value: Literal, at: usize) -> Condition {
        Condition::Compare {
            property: property.to_owned(),
            op,
            value,
            at,
        }
    }

    #[test]
    fn reporting_web_service_window() {
        let parsed = parse(
            "StartDate eq datetime'2023-12-19T22:47:25Z' and EndDate eq datetime'2023-12-19T23:47:25Z'",
        )
        .unwrap();
        assert_eq!(
            parsed,
            vec![
                compare(
                    "StartDate",
                    Op::Eq,
                    Literal::DateTime("2023-12-19T22:47:25Z".into()),
                    0
                ),
                compare(
                    "EndDate",
                    Op::Eq,
                    Literal::DateTime("2023-12-19T23:47:25Z".into()),
                    48
                ),
            ]
        );
    }

    #[test]
    fn graph_window_with_bare_dates_and_calls() {
        let parsed = parse(
            "receivedDateTime ge 2026-01-20T00:00:00Z and (receivedDateTime le 2026-01-23T00:00:00+01:00) \
             and contains(subject, 'It''s weekly') and id eq guid'a3f6d2c1-5c3b-4f7a-9d1e-2c8f1b0a6e45'",
        )
        .unwrap();
        assert_eq!(parsed.len(), 4);
        assert_eq!(
            parsed[1],
            compare(
                "receivedDateTime",
                Op::Le,
                Literal::Bare("2026-01-23T00:00:00+01:00".into()),
                46
            )
        );
        match &parsed[2] {
            Condition::Call {
                function,
                property,
                value,
                ..
            } => {
                assert_eq!(
                    (function.as_str(), property.as_str()),
                    ("contains", "subject")
                );
                assert_eq!(value, &Literal::Text("It's weekly".into()));
            }
            other => panic!("expected a call, got {other:?}"),
        }
        assert!(matches!(
            &parsed[3],
            Condition::Compare { property, op: Op::Eq, value: Literal::Guid(guid), .. }
                if property == "id" && guid == "a3f6d2c1-5c3b-4f7a-9d1e-2c8f1b0a6e45"
        ));
    }

    #[test]
    fn empty_filter_has_no_conditions() {
        assert_eq!(parse("   "), Ok(Vec::new()));
    }

    #[test]
    fn malformed_filters_are_errors_with_positions() {
        let cases: &[(&str, FilterError)] = &[
            (
                "StartDate eq",
                FilterError::Syntax {
                    at: 12,
                    expected: "a literal",
                },
            ),
            (
                "StartDate datetime'x'",
                FilterError::Syntax {
                    at: 10,
                    expected: "an operator (eq, ne, gt, ge, lt, le)",
                },
            ),
            ("Status eq 'Delivered", FilterError::UnterminatedString(10)),
            (
                "a eq 'x' or b eq 'y'",
                FilterError::Unsupported {
                    at: 9,
                    what: "or".into(),
                },
            ),
            (
                "not a eq 'x'",
                FilterError::Unsupported {
                    at: 0,
                    what: "not".into(),
                },
            ),
            (
                "(a eq 'x'",
                FilterError::Syntax {
                    at: 9,
                    expected: "')'",
                },
            ),
            (
                "a eq 'x' b eq 'y'",
                FilterError::Syntax {
                    at: 9,
                    expected: "'and' or the end of the filter",
                },
            ),
            (
                "a eq binary'00'",
                FilterError::Unsupported {
                    at: 5,
                    what: "binary'…'".into(),
                },
            ),
            (
                "a eq 'x' and",
                FilterError::Syntax {
                    at: 12,
                    expected: "a property name or '('",
                },
            ),
            (
                "a eq 'x' ; drop",
                FilterError::Syntax {
                    at: 9,
                    expected: "a name, a literal, '(' or ')'",
                },
            ),
            (
                "contains(subject 'x')",
                FilterError::Syntax {
                    at: 17,
                    expected: "','",
                },
            ),
            (
                ")",
                FilterError::Syntax {
                    at: 0,
                    expected: "a property name or '('",
                },
            ),
            (
                "a eq eq",
                FilterError::Syntax {
                    at: 5,
                    expected: "a literal",
                },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input).as_ref(), Err(expected), "{input}");
            assert!(!expected.to_string().is_empty());
        }
    }

    #[test]
    fn hostile_sizes_are_refused_without_recursion_blowup() {
        let deep = format!("{}a eq 'x'{}", "(".repeat(1000), ")".repeat(1000));
        assert!(matches!(parse(&deep), Err(FilterError::TooDeep(_))));
        let long = "a eq 'x' and ".repeat(400);
        assert!(matches!(parse(&long), Err(FilterError::TooLong(_))));
        let nested_ok = format!("{}a eq 'x'{}", "(".repeat(16), ")".repeat(16));
        assert_eq!(parse(&nested_ok).map(|c| c.len()), Ok(1));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz over characters the grammar cares about.
        let alphabet: Vec<char> = "()',aeqndtgl 'x0:-Z é\u{0}$\\".chars().collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut text = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let length = (state % 24) as usize;
            for _ in 0..length {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let _ = parse(&text);
        }
    }
}
