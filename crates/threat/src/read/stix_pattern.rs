//! STIX 2.1 patterning: a recursive-descent parser for the whole grammar (observation
//! expressions, `AND`/`OR`/`FOLLOWEDBY`, qualifiers, every comparison operator and literal),
//! and the subset the index can use: equality (or `IN`) on `ipv4-addr:value`,
//! `ipv6-addr:value`, `email-addr:value` and `domain-name:value`, joined only by `OR`.
//!
//! Parsing everything tells a well-formed pattern on other objects (a URL, a file hash:
//! skipped) from garbage (an error), which a regular expression over the text cannot.

use crate::indicator::IndicatorType;

/// One usable comparison: `[ipv4-addr:value = '198.51.100.0/24']`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub object_type: IndicatorType,
    pub value: String,
}

/// Why a pattern gave no comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// 1-based column in the pattern (characters).
    pub column: usize,
    pub message: String,
    /// The pattern is valid STIX but outside the supported subset.
    pub unsupported: bool,
}

/// The parsed pattern, reduced to what extraction needs.
#[derive(Debug)]
enum Node {
    Test {
        column: usize,
        object_type: String,
        path: Vec<String>,
        operator: &'static str,
        negated: bool,
        values: Vec<Literal>,
    },
    Exists {
        column: usize,
    },
    And(usize),
    Or(Vec<Node>),
    FollowedBy(usize),
    Qualified(usize),
}

#[derive(Debug)]
enum Literal {
    Text(String),
    Other,
}

/// Parses `pattern` and returns its comparisons when it is in the supported subset.
pub fn parse_pattern(pattern: &str) -> Result<Vec<Comparison>, PatternError> {
    let mut parser = Parser {
        chars: pattern.chars().collect(),
        at: 0,
    };
    let node = parser.observations()?;
    parser.skip_space();
    if parser.at < parser.chars.len() {
        return Err(parser.error("unexpected text after the pattern"));
    }
    let mut comparisons = Vec::new();
    extract(&node, &mut comparisons)?;
    Ok(comparisons)
}

fn unsupported(column: usize, message: impl Into<String>) -> PatternError {
    PatternError {
        column,
        message: message.into(),
        unsupported: true,
    }
}

fn extract(node: &Node, out: &mut Vec<Comparison>) -> Result<(), PatternError> {
    match node {
        Node::Or(children) => children.iter().try_for_each(|child| extract(child, out)),
        Node::And(column) => Err(unsupported(*column, "AND joins are not supported")),
        Node::FollowedBy(column) => Err(unsupported(*column, "FOLLOWEDBY is not supported")),
        Node::Qualified(column) => Err(unsupported(
            *column,
            "qualifiers (WITHIN, REPEATS, START/STOP) are not supported",
        )),
        Node::Exists { column } => Err(unsupported(*column, "EXISTS is not supported")),
        Node::Test {
            column,
            object_type,
            path,
            operator,
            negated,
            values,
        } => {
            let kind = match object_type.as_str() {
                "ipv4-addr" => IndicatorType::Ipv4Addr,
                "ipv6-addr" => IndicatorType::Ipv6Addr,
                "email-addr" => IndicatorType::EmailAddr,
                "domain-name" => IndicatorType::DomainName,
                other => {
                    return Err(unsupported(
                        *column,
                        format!("object type {other:?} is not an address or domain"),
                    ));
                }
            };
            if path.len() != 1 || path[0] != "value" {
                return Err(unsupported(
                    *column,
                    format!("property {object_type}:{} is not supported", path.join(".")),
                ));
            }
            if *negated || !matches!(*operator, "=" | "IN") {
                let not = if *negated { "NOT " } else { "" };
                return Err(unsupported(
                    *column,
                    format!("operator {not}{operator} is not supported"),
                ));
            }
            for value in values {
                match value {
                    Literal::Text(text) => out.push(Comparison {
                        object_type: kind,
                        value: text.clone(),
                    }),
                    Literal::Other => {
                        return Err(PatternError {
                            column: *column,
                            message: format!("{object_type}:value compared with a non-string"),
                            unsupported: false,
                        });
                    }
                }
            }
            Ok(())
        }
    }
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn error(&self, message: impl Into<String>) -> PatternError {
        PatternError {
            column: self.at + 1,
            message: message.into(),
            unsupported: false,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    /// Consumes `symbol` after optional space.
    fn eat(&mut self, symbol: &str) -> bool {
        self.skip_space();
        let end = self.at + symbol.chars().count();
        if end <= self.chars.len() && self.chars[self.at..end].iter().copied().eq(symbol.chars()) {
            self.at = end;
            true
        } else {
            false
        }
    }

    /// Consumes the keyword `word` (not followed by an identifier character).
    fn keyword(&mut self, word: &str) -> bool {
        let start = self.at;
        if self.eat(word)
            && !self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return true;
        }
        self.at = start;
        false
    }

    fn expect(&mut self, symbol: &str) -> Result<(), PatternError> {
        if self.eat(symbol) {
            Ok(())
        } else {
            Err(self.error(format!("expected {symbol:?}")))
        }
    }

    fn observations(&mut self) -> Result<Node, PatternError> {
        let first = self.observation_or()?;
        self.skip_space();
        let column = self.at + 1;
        if self.keyword("FOLLOWEDBY") {
            while {
                self.observation_or()?;
                self.keyword("FOLLOWEDBY")
            } {}
            return Ok(Node::FollowedBy(column));
        }
        Ok(first)
    }

    fn observation_or(&mut self) -> Result<Node, PatternError> {
        let mut children = vec![self.observation_and()?];
        while self.keyword("OR") {
            children.push(self.observation_and()?);
        }
        Ok(single_or(children))
    }

    fn observation_and(&mut self) -> Result<Node, PatternError> {
        let first = self.observation()?;
        self.skip_space();
        let column = self.at + 1;
        if self.keyword("AND") {
            while {
                self.observation()?;
                self.keyword("AND")
            } {}
            return Ok(Node::And(column));
        }
        Ok(first)
    }

    fn observation(&mut self) -> Result<Node, PatternError> {
        self.skip_space();
        let node = if self.eat("[") {
            let node = self.comparison_or()?;
            self.expect("]")?;
            node
        } else if self.eat("(") {
            let node = self.observations()?;
            self.expect(")")?;
            node
        } else {
            return Err(self.error("expected '[' or '(' to start an observation"));
        };
        self.skip_space();
        let column = self.at + 1;
        let mut qualified = false;
        loop {
            if self.keyword("WITHIN") {
                self.number()?;
                if !self.keyword("SECONDS") {
                    return Err(self.error("expected SECONDS"));
                }
            } else if self.keyword("REPEATS") {
                self.number()?;
                if !self.keyword("TIMES") {
                    return Err(self.error("expected TIMES"));
                }
            } else if self.keyword("START") {
                self.literal()?;
                if !self.keyword("STOP") {
                    return Err(self.error("expected STOP"));
                }
                self.literal()?;
            } else {
                break;
            }
            qualified = true;
        }
        Ok(if qualified {
            Node::Qualified(column)
        } else {
            node
        })
    }

    fn comparison_or(&mut self) -> Result<Node, PatternError> {
        let mut children = vec![self.comparison_and()?];
        while self.keyword("OR") {
            children.push(self.comparison_and()?);
        }
        Ok(single_or(children))
    }

    fn comparison_and(&mut self) -> Result<Node, PatternError> {
        let first = self.test()?;
        self.skip_space();
        let column = self.at + 1;
        if self.keyword("AND") {
            while {
                self.test()?;
                self.keyword("AND")
            } {}
            return Ok(Node::And(column));
        }
        Ok(first)
    }

    fn test(&mut self) -> Result<Node, PatternError> {
        self.skip_space();
        let column = self.at + 1;
        if self.eat("(") {
            let node = self.comparison_or()?;
            self.expect(")")?;
            return Ok(node);
        }
        if self.keyword("EXISTS") {
            self.object_path()?;
            return Ok(Node::Exists { column });
        }
        let (object_type, path) = self.object_path()?;
        let negated = self.keyword("NOT");
        self.skip_space();
        let operator = ["!=", "<=", ">=", "=", "<", ">"]
            .into_iter()
            .find(|symbol| self.eat(symbol))
            .or_else(|| {
                ["IN", "LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"]
                    .into_iter()
                    .find(|word| self.keyword(word))
            })
            .ok_or_else(|| self.error("expected a comparison operator"))?;
        let values = if operator == "IN" {
            self.expect("(")?;
            let mut values = vec![self.literal()?];
            while self.eat(",") {
                values.push(self.literal()?);
            }
            self.expect(")")?;
            values
        } else {
            vec![self.literal()?]
        };
        Ok(Node::Test {
            column,
            object_type,
            path,
            operator,
            negated,
            values,
        })
    }

    /// `object-type:property(.property|[index]|.'quoted')*`
    fn object_path(&mut self) -> Result<(String, Vec<String>), PatternError> {
        self.skip_space();
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            self.at += 1;
        }
        if self.at == start {
            return Err(self.error("expected an object path such as ipv4-addr:value"));
        }
        let object_type: String = self.chars[start..self.at].iter().collect();
        if self.peek() != Some(':') {
            return Err(self.error("expected ':' after the object type"));
        }
        self.at += 1;
        let mut path = vec![self.path_component()?];
        loop {
            match self.peek() {
                Some('.') => {
                    self.at += 1;
                    path.push(self.path_component()?);
                }
                Some('[') => {
                    self.at += 1;
                    let start = self.at;
                    while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '*') {
                        self.at += 1;
                    }
                    if self.at == start || self.peek() != Some(']') {
                        return Err(self.error("expected a list index or '*'"));
                    }
                    self.at += 1;
                    path.push(self.chars[start - 1..self.at].iter().collect());
                }
                _ => break,
            }
        }
        Ok((object_type, path))
    }

    fn path_component(&mut self) -> Result<String, PatternError> {
        if self.peek() == Some('\'') {
            return self.string_body();
        }
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            self.at += 1;
        }
        if self.at == start {
            return Err(self.error("expected a property name"));
        }
        Ok(self.chars[start..self.at].iter().collect())
    }

    /// A quoted string starting at the current `'`; `\'` and `\\` are the only escapes.
    fn string_body(&mut self) -> Result<String, PatternError> {
        let open = self.at;
        self.at += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => {
                    self.at = open;
                    return Err(self.error("unterminated string"));
                }
                Some('\'') => {
                    self.at += 1;
                    return Ok(text);
                }
                Some('\\') => {
                    match self.chars.get(self.at + 1) {
                        Some(&c @ ('\'' | '\\')) => text.push(c),
                        _ => {
                            self.at += 1;
                            return Err(self.error("invalid escape; only \\' and \\\\ exist"));
                        }
                    }
                    self.at += 2;
                }
                Some(c) => {
                    text.push(c);
                    self.at += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> Result<Literal, PatternError> {
        self.skip_space();
        match self.peek() {
            Some('\'') => self.string_body().map(Literal::Text),
            Some('t' | 'h' | 'b') if self.chars.get(self.at + 1) == Some(&'\'') => {
                self.at += 1;
                self.string_body().map(|_| Literal::Other)
            }
            Some(c) if c == '-' || c == '+' || c.is_ascii_digit() => {
                self.number()?;
                Ok(Literal::Other)
            }
            _ if self.keyword("true") || self.keyword("false") => Ok(Literal::Other),
            _ => Err(self.error("expected a literal ('text', a number, true, false)")),
        }
    }

    fn number(&mut self) -> Result<(), PatternError> {
        self.skip_space();
        if matches!(self.peek(), Some('-' | '+')) {
            self.at += 1;
        }
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
            self.at += 1;
        }
        if self.at == start {
            return Err(self.error("expected a number"));
        }
        Ok(())
    }
}

fn single_or(mut children: Vec<Node>) -> Node {
    if children.len() == 1 {
        children.remove(0)
    } else {
        Node::Or(children)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pattern: &str) -> Vec<String> {
        parse_pattern(pattern)
            .unwrap()
            .into_iter()
            .map(|c| format!("{}={}", c.object_type, c.value))
            .collect()
    }

    #[test]
    fn single_and_or_joined_comparisons() {
        assert_eq!(
            values("[ipv4-addr:value = '198.51.100.0/24']"),
            ["ipv4-addr=198.51.100.0/24"]
        );
        assert_eq!(
            values("[ipv4-addr:value = '192.0.2.1' OR domain-name:value = 'evil.example']"),
            ["ipv4-addr=192.0.2.1", "domain-name=evil.example"]
        );
        assert_eq!(
            values("[email-addr:value = 'a@b.example'] OR ([ipv6-addr:value = '2001:db8::1'])"),
            ["email-addr=a@b.example", "ipv6-addr=2001:db8::1"]
        );
        assert_eq!(
            values("[domain-name:value IN ('a.example', 'it\\'s.example')]"),
            ["domain-name=a.example", "domain-name=it's.example"]
        );
    }

    #[test]
    fn valid_but_unsupported_patterns_are_marked() {
        for pattern in [
            "[url:value = 'http://evil.example/x']",
            "[file:hashes.'SHA-256' = 'abc']",
            "[ipv4-addr:value = '192.0.2.1' AND domain-name:value = 'x.example']",
            "[ipv4-addr:value != '192.0.2.1']",
            "[ipv4-addr:value = '192.0.2.1'] WITHIN 300 SECONDS",
            "[ipv4-addr:value = '192.0.2.1'] FOLLOWEDBY [domain-name:value = 'x.example']",
            "[network-traffic:dst_ref.value ISSUBSET '192.0.2.0/24']",
        ] {
            let error = parse_pattern(pattern).unwrap_err();
            assert!(error.unsupported, "{pattern}: {error:?}");
        }
    }

    #[test]
    fn garbage_is_an_error_with_a_column() {
        let error = parse_pattern("[ipv4-addr:value = '192.0.2.1'").unwrap_err();
        assert!(!error.unsupported);
        assert_eq!(error.message, "expected \"]\"");
        assert_eq!(error.column, 31);
        let error = parse_pattern("ipv4-addr:value = '1.2.3.4'").unwrap_err();
        assert_eq!(error.column, 1);
        let error = parse_pattern("[ipv4-addr:value = '1.2.3.4'] trailing").unwrap_err();
        assert_eq!(error.message, "unexpected text after the pattern");
        let error = parse_pattern("[ipv4-addr:value = 1.2.3.4]").unwrap_err();
        assert!(!error.unsupported);
    }
}
