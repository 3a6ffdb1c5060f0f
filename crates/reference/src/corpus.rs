//! A generator of queries over the whole language, for the differential tests and the
//! differential fuzz target: typed expressions over every function, row stages, an
//! aggregation over every aggregate function, and the operators that shape its result,
//! keeping in scope the fields each stage needs. Its choices come from a [`Choices`]: a
//! seeded [`SplitMix`] in tests, the fuzzer's bytes in the fuzz target.

use std::fmt::Write as _;

/// Where the generator's choices come from.
pub trait Choices {
    /// A number in `0..n` (`n` ≥ 1).
    fn below(&mut self, n: usize) -> usize;
}

/// SplitMix64: a small deterministic source of choices from a seed.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl Choices for SplitMix {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        usize::try_from(z % n.max(1) as u64).unwrap_or(0)
    }
}

/// Choices read from bytes (a fuzzer's input), one or two bytes each; 0 once they run out.
#[derive(Debug, Clone)]
pub struct Bytes<'a>(pub &'a [u8]);

impl Choices for Bytes<'_> {
    fn below(&mut self, n: usize) -> usize {
        let take = if n > 256 { 2 } else { 1 };
        let (head, rest) = self.0.split_at(take.min(self.0.len()));
        self.0 = rest;
        let value = head.iter().fold(0usize, |v, b| v << 8 | usize::from(*b));
        value % n.max(1)
    }
}

/// The source category generated queries and the harness's store use.
pub const CATEGORY: &str = "Labs/MessageExchangeTraceLogs";

/// A generator of queries over the whole language, from a grammar of stages that keep the
/// fields they need in scope: typed expressions over every function, row stages, an
/// aggregation over every aggregate function, and the operators that shape its result.
/// Deterministic by seed.
pub struct QueryGenerator<'v, C: Choices> {
    choices: C,
    vocabulary: &'v [String],
    /// Fields of the query so far, by kind.
    texts: Vec<String>,
    numbers: Vec<String>,
    counter: usize,
}

/// The fields every generated query starts from.
pub const PRELUDE: &str = r#"| json "Organization", "MessageId", "Received", "SenderAddress", "RecipientAddress", "Subject", "Status", "ToIP", "FromIP", "Size", "MessageTraceId" as organization, message_id, received, sender, recipient, subject, status, to_ip, from_ip, size, trace_id nodrop"#;

impl<'v, C: Choices> QueryGenerator<'v, C> {
    /// A generator drawing its choices from `choices`; keywords come from `vocabulary`
    /// (terms of the data, so that scopes find something).
    pub fn new(choices: C, vocabulary: &'v [String]) -> QueryGenerator<'v, C> {
        QueryGenerator {
            choices,
            vocabulary,
            texts: Vec::new(),
            numbers: Vec::new(),
            counter: 0,
        }
    }

    /// A number in `low..=high`.
    fn range(&mut self, low: usize, high: usize) -> usize {
        low + self.choices.below(high.saturating_sub(low) + 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.choices.below(n)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.choices.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.choices.below(items.len())]
    }

    fn pick_owned(&mut self, items: &[String]) -> String {
        items[self.choices.below(items.len())].clone()
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}", self.counter)
    }

    fn word(&mut self) -> String {
        if self.vocabulary.is_empty() || self.chance(20) {
            return self
                .pick(&[
                    "delivered",
                    "failed",
                    "invoice",
                    "re",
                    "*ing",
                    "mail*",
                    "n?ne",
                    "ü*",
                ])
                .to_owned();
        }
        let word = &self.vocabulary[self.choices.below(self.vocabulary.len())];
        match self.below(6) {
            0 => format!("{}*", word.chars().take(3).collect::<String>()),
            1 => word.to_uppercase(),
            _ => word.clone(),
        }
    }

    fn scope(&mut self) -> String {
        match self.below(11) {
            0..=2 => "*".into(),
            3 => format!("_sourceCategory={CATEGORY}"),
            4 => "_sourceCategory=labs/* NOT _sourceCategory=other".into(),
            5 => format!("{} OR {}", self.word(), self.word()),
            6 => format!("{} NOT {}", self.word(), self.word()),
            7 => format!("\"{} {}\"", self.word(), self.word()),
            8 => format!("({} OR status) {}", self.word(), self.word()),
            _ => self.word(),
        }
    }

    fn text_literal(&mut self) -> &'static str {
        self.pick(&[
            "\"\"",
            "\" \\t \"",
            "\"Grüße\"",
            "\"a\"",
            "\"RE\"",
            "\"10.1.2.3\"",
            "\"42\"",
            "\"-7.5\"",
            "\"@\"",
            "\"Failed\"",
            "\"x y\"",
        ])
    }

    /// A text expression of depth at most `depth`.
    fn text(&mut self, depth: u32) -> String {
        if depth == 0 || self.chance(30) {
            return if self.chance(85) {
                self.pick_owned(&self.texts.clone())
            } else {
                self.text_literal().to_owned()
            };
        }
        let d = depth - 1;
        match self.below(16) {
            0 => format!("toLowerCase({})", self.text(d)),
            1 => format!("toUpperCase({})", self.text(d)),
            2 => format!("substring({}, {})", self.text(d), self.below(6)),
            3 => format!(
                "substring({}, {}, {})",
                self.text(d),
                self.below(4),
                self.below(12)
            ),
            4 => format!("trim({})", self.text(d)),
            5 => format!("concat({}, \"-\", {})", self.text(d), self.text(d)),
            6 => format!("replace({}, \"e\", \"3\")", self.text(d)),
            7 => format!(r#"replace({}, /([aeiou])/, "<$1>")"#, self.text(d)),
            8 => format!(
                "format(\"{}\", {}, {})",
                self.pick(&["%s/%d", "%S:%05d", "%-6s|%x", "%s %,d", "%s=%.2f", "%s %e"]),
                self.text(d),
                self.number(d)
            ),
            9 => format!(
                "formatDate(fromMillis({}), \"{}\")",
                self.pick(&["received", "1790000000000"]),
                self.pick(&[
                    "yyyy-MM-dd HH:mm:ss",
                    "EEE d MMM",
                    "HH:mm:ss.SSS",
                    "yyyy-'W'D",
                    "hh a",
                    "s.SSSS"
                ])
            ),
            10 => format!("tostring({})", self.number(d)),
            11 => format!(
                "if({}, {}, {})",
                self.boolean(d),
                self.text(d),
                self.text(d)
            ),
            12 => format!(
                "formatDate(received, \"{}\", \"{}\")",
                self.pick(&["yyyy-MM-dd HH:mm", "u k K z"]),
                self.pick(&["Europe/Berlin", "America/New_York", "UTC"])
            ),
            13 => format!("toUpperCase(trim({}))", self.text(d)),
            _ => self.pick_owned(&self.texts.clone()),
        }
    }

    /// A number expression.
    fn number(&mut self, depth: u32) -> String {
        if depth == 0 || self.chance(30) {
            return if self.chance(80) {
                self.pick_owned(&self.numbers.clone())
            } else {
                self.pick(&["0", "3", "-2", "2.5", "1000"]).to_owned()
            };
        }
        let d = depth - 1;
        match self.below(15) {
            0 => format!("({} + {})", self.number(d), self.number(d)),
            1 => format!("({} - {})", self.number(d), self.number(d)),
            2 => format!("({} * {})", self.number(d), self.number(d)),
            3 => format!("({} / {})", self.number(d), self.number(d)),
            4 => format!(
                "({} % {})",
                self.number(d),
                self.pick(&["7", "2", "0", "3.5"])
            ),
            5 => format!("abs({})", self.number(d)),
            6 => format!("round({})", self.number(d)),
            7 => format!("round({}, {})", self.number(d), self.below(3)),
            8 => format!("ceil({})", self.number(d)),
            9 => format!("floor({})", self.number(d)),
            10 => format!("pow({}, 2)", self.number(d)),
            11 => format!("length({})", self.text(d)),
            12 => format!("num({})", self.text(d)),
            13 => format!(
                "parseDate({}, \"{}\")",
                self.pick(&["\"2026-10-03\"", "\"03/10/2026 10:11:12\"", "subject"]),
                self.pick(&["yyyy-MM-dd", "dd/MM/yyyy HH:mm:ss"])
            ),
            _ => format!("toLong({})", self.text(d)),
        }
    }

    /// A boolean expression.
    fn boolean(&mut self, depth: u32) -> String {
        let d = depth.saturating_sub(1);
        match self.below(20) {
            0 => format!("isNull({})", self.text(d)),
            1 => format!("isEmpty({})", self.text(d)),
            2 => format!("isBlank({})", self.text(d)),
            3 => format!("isNumeric({})", self.text(d)),
            4 => format!("isValidIP({})", self.pick(&["from_ip", "to_ip", "subject"])),
            5 => format!("isValidIPv4({})", self.pick(&["from_ip", "to_ip"])),
            6 => format!("isValidIPv6({})", self.pick(&["from_ip", "to_ip"])),
            7 => format!("isPrivateIP({})", self.pick(&["from_ip", "to_ip"])),
            8 => format!("isPublicIP({})", self.pick(&["from_ip", "to_ip"])),
            9 => format!(
                "compareCIDRPrefix(from_ip, \"{}\", {})",
                self.pick(&["40.92.0.1", "2a01:111::1", "10.0.0.0"]),
                self.pick(&["8", "16", "24", "64"])
            ),
            10 => format!(
                "contains({}, \"{}\")",
                self.text(d),
                self.pick(&["a", "RE", "."])
            ),
            11 => format!(
                "{} matches \"{}\"",
                self.text(d),
                self.pick(&["*a*", "D*", "*", "*@*.com"])
            ),
            12 => format!(
                "{} matches /{}/",
                self.text(d),
                self.pick(&["^[a-m]", "\\d+", "(?i)re:", "\\bsale\\b", "\\w+@\\w+"])
            ),
            13 => format!("{} > {}", self.number(d), self.number(d)),
            14 => format!("{} <= {}", self.number(d), self.number(d)),
            15 => format!("{} = {}", self.text(d), self.text(d)),
            16 => format!("{} != {}", self.text(d), self.text(d)),
            17 => format!(
                "{} in (\"Failed\", \"Pending\", \"GettingStatus\", \"\")",
                self.text(d)
            ),
            18 if depth > 0 => format!("!({})", self.boolean(d)),
            _ if depth > 0 => format!(
                "({} {} {})",
                self.boolean(d),
                self.pick(&["and", "or"]),
                self.boolean(d)
            ),
            _ => "isNull(to_ip)".into(),
        }
    }

    /// A row stage; it may add fields.
    fn row_stage(&mut self) -> String {
        match self.below(16) {
            0..=2 => format!("| where {}", self.boolean(2)),
            3 | 4 => {
                let expr = self.text(2);
                let name = self.fresh("t");
                self.texts.push(name.clone());
                format!("| {expr} as {name}")
            }
            5 | 6 => {
                let expr = self.number(2);
                let name = self.fresh("n");
                self.numbers.push(name.clone());
                format!("| {expr} as {name}")
            }
            7 => {
                self.texts.push("domain".into());
                r#"| parse regex field=sender "@(?<domain>.+)$" nodrop"#.into()
            }
            8 => {
                self.texts.extend(["user".into(), "rdomain".into()]);
                r#"| parse field=recipient "*@*" as user, rdomain nodrop"#.into()
            }
            9 => {
                self.texts.extend(["country_code".into(), "city".into()]);
                self.numbers.push("latitude".into());
                "| lookup country_code, city, latitude from geo://location on ip=from_ip".into()
            }
            10 => {
                self.texts.extend(["mid_local".into(), "mid_host".into()]);
                "| split message_id delim='@' extract 1 as mid_local, 2 as mid_host".into()
            }
            11 => {
                self.texts.push("s2".into());
                r#"| json field=_raw "Subject" as s2"#.into()
            }
            12 => {
                self.texts.push("threat_actor".into());
                "| threatip from_ip | actor as threat_actor".into()
            }
            13 => {
                let name = self.fresh("b");
                self.texts.push(name.clone());
                format!("| if({}, \"yes\", \"no\") as {name}", self.boolean(2))
            }
            14 => format!(
                "| where {} {}",
                self.pick_owned(&self.texts.clone()),
                self.pick(&["matches \"*\"", "= \"Delivered\"", "!= \"\""])
            ),
            _ => {
                self.texts.push("word".into());
                r#"| parse regex field=subject "(?<word>\w+)" multi nodrop"#.into()
            }
        }
    }

    fn aggregate(&mut self) -> String {
        let number = self.pick_owned(&self.numbers.clone());
        let text = self.pick_owned(&self.texts.clone());
        match self.below(14) {
            0 => "count".into(),
            1 => format!("count({text})"),
            2 => format!("count_distinct({text})"),
            3 => format!("sum({number})"),
            4 => format!("avg({number})"),
            5 => format!("min({number})"),
            6 => format!("max({number})"),
            7 => format!(
                "pct({number}, {})",
                self.pick(&["50", "90", "99.5", "0", "100"])
            ),
            8 => format!("median({number})"),
            9 => format!("stddev({number})"),
            10 => format!("values({text})"),
            11 => format!("first({text})"),
            12 => format!("last({text})"),
            _ => format!("min({text})"),
        }
    }

    /// The next query.
    pub fn query(&mut self) -> String {
        self.texts = [
            "status",
            "organization",
            "sender",
            "recipient",
            "subject",
            "from_ip",
            "to_ip",
            "message_id",
        ]
        .map(String::from)
        .to_vec();
        self.numbers = vec!["size".into()];
        self.counter = 0;
        let mut text = format!("{} {PRELUDE}", self.scope());
        for _ in 0..self.below(4) {
            let stage = self.row_stage();
            text.push('\n');
            text.push_str(&stage);
        }
        let sliced = self.chance(35);
        let mut fixed_span = false;
        if sliced {
            let span = self.pick(&["1h", "1d", "6h", "30 buckets", "15m"]);
            fixed_span = !span.contains("buckets");
            let _ = write!(text, "\n| timeslice {span}");
        }
        match self.below(20) {
            0..=2 => {
                // Messages, not an aggregation.
                let extra = self.pick_owned(&self.texts.clone());
                let extra = if ["trace_id", "recipient", "status", "size"].contains(&extra.as_str())
                {
                    "subject".to_owned()
                } else {
                    extra
                };
                let _ = write!(
                    text,
                    "\n| fields trace_id, recipient, status, size, {extra}\n| sort by size desc, trace_id asc, recipient asc\n| limit {}",
                    self.range(1, 199)
                );
                return text;
            }
            3 => {
                let key = self.pick_owned(&self.texts.clone());
                let _ = write!(text, "\n| count_frequent {key}");
                return text;
            }
            4 => {
                let key = self.pick_owned(&self.texts.clone());
                let _ = write!(text, "\n| top {} {key}", self.range(1, 7));
                return text;
            }
            5 => {
                let _ = write!(
                    text,
                    "\n| dedup {} by status\n| fields status, size, trace_id\n| sort by status asc",
                    self.range(1, 2)
                );
                return text;
            }
            _ => {}
        }
        let mut by: Vec<String> = Vec::new();
        if sliced {
            by.push("_timeslice".into());
        }
        for _ in 0..self.range(0, 2usize) {
            let key = self.pick_owned(&self.texts.clone());
            if !by.contains(&key) {
                by.push(key);
            }
        }
        let mut aggregates: Vec<(String, String)> = Vec::new();
        for i in 0..self.range(1, 3) {
            let function = self.aggregate();
            if !aggregates.iter().any(|(f, _)| *f == function) {
                aggregates.push((function, format!("a{i}")));
            }
        }
        let list = aggregates
            .iter()
            .map(|(f, alias)| format!("{f} as {alias}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(text, "\n| {list}");
        if !by.is_empty() {
            let _ = write!(text, " by {}", by.join(", "));
        }
        let first = aggregates[0].1.clone();
        let numeric_first = [
            "count",
            "sum",
            "avg",
            "min(size",
            "max(size",
            "pct",
            "median",
            "stddev",
            "count_distinct",
        ]
        .iter()
        .any(|p| aggregates[0].0.starts_with(p));
        match self.below(12) {
            0 => {
                let _ = write!(text, "\n| sort by {first} desc");
            }
            1 => {
                let _ = write!(
                    text,
                    "\n| sort by {first} desc\n| limit {}",
                    self.range(1, 9)
                );
            }
            2 if fixed_span && by.len() == 1 => {
                let _ = write!(text, "\n| fillmissing timeslice");
            }
            3 if sliced && by.len() == 2 && aggregates.len() == 1 => {
                let _ = write!(text, "\n| transpose row _timeslice column {}", by[1]);
            }
            4 if sliced && by.len() == 1 && numeric_first => {
                let _ = write!(
                    text,
                    "\n| outlier {first} window={} threshold={} consecutive={} direction={}",
                    self.range(2, 5),
                    self.pick(&["1", "2.5", "3"]),
                    self.range(1, 2),
                    self.pick(&["+-", "+", "-"])
                );
            }
            5 if by.len() == 1 && numeric_first => {
                let _ = write!(text, "\n| sort by {} asc\n| accum {first}", by[0]);
            }
            6 if !by.is_empty() && numeric_first => {
                let _ = write!(text, "\n| total {first}");
            }
            7 if by.len() == 2 && numeric_first => {
                let _ = write!(text, "\n| topk(2, {first}) by {}", by[0]);
            }
            8 if by.len() == 1 && !sliced => {
                let _ = write!(
                    text,
                    "\n| fillmissing values (\"Delivered\", \"Failed\", \"Nothing\") in {}",
                    by[0]
                );
            }
            9 if by.len() == 2 => {
                let _ = write!(text, "\n| fields - {}", by[1]);
            }
            10 if numeric_first => {
                let _ = write!(text, "\n| where {first} > 1\n| {first} * 2 as twice");
            }
            _ => {}
        }
        text
    }
}
