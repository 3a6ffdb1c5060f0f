//! The syntax tree: what was written, with spans, before any name or arity checks.
//!
//! Surface variants that mean the same thing (`sort`/`order by`, `by`/`group by`, `==`/`=`,
//! `<>`/`!=`, `extract`/`parse regex`, parentheses) are not recorded, so [`Query`]'s
//! `Display` (in `print`) gives one canonical text and `parse(print(ast))` equals `ast` up
//! to spans ([`Query::without_spans`]).

mod print;
mod strip;

use serde::Serialize;

pub use crate::ir::{BinaryOp, Literal, UnaryOp};
use crate::span::Span;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Query {
    /// `None` when nothing precedes the first `|`.
    pub scope: Option<ScopeExpr>,
    pub stages: Vec<Stage>,
}

/// A name as written: a field, an alias, a column. `%"odd name"` is stored unescaped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string literal argument of an operator (`json` keys, patterns, regexes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ScopeExpr {
    /// A bare word or a quoted phrase.
    Keyword {
        text: String,
        quoted: bool,
        span: Span,
    },
    /// `_sourceCategory=Labs/Foo*` or `_source!="x"`.
    Metadata {
        field: Ident,
        value: String,
        quoted: bool,
        negated: bool,
        span: Span,
    },
    And(Box<ScopeExpr>, Box<ScopeExpr>),
    Or(Box<ScopeExpr>, Box<ScopeExpr>),
    Not(Box<ScopeExpr>, Span),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    pub kind: StageKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum StageKind {
    Json {
        source: Option<Ident>,
        keys: Vec<StrLit>,
        aliases: Vec<Ident>,
        nodrop: bool,
    },
    JsonAuto {
        source: Option<Ident>,
    },
    /// Anchor parse: `parse [field=f] "a*b" as x [nodrop]`.
    Parse {
        source: Option<Ident>,
        pattern: StrLit,
        aliases: Vec<Ident>,
        nodrop: bool,
    },
    /// `parse regex …` and `extract …`.
    ParseRegex {
        source: Option<Ident>,
        regex: StrLit,
        nodrop: bool,
        multi: bool,
    },
    Where(Expr),
    Assign {
        expr: Expr,
        alias: Ident,
    },
    Lookup {
        columns: Vec<LookupColumn>,
        table: StrLit,
        key: Ident,
        field: Ident,
    },
    GeoIp {
        field: Ident,
        columns: Vec<Ident>,
    },
    ThreatIp {
        field: Ident,
    },
    Timeslice {
        span: TimesliceArg,
        alias: Option<Ident>,
    },
    /// Every group-by stage, `count_frequent` included (semantic analysis separates it).
    Aggregate {
        aggregates: Vec<AggregateCall>,
        by: Vec<Ident>,
    },
    Sort {
        keys: Vec<SortKey>,
    },
    Top {
        limit: Expr,
        fields: Vec<Ident>,
        by: Option<SortKey>,
    },
    Limit(Expr),
    Fields {
        drop: bool,
        names: Vec<Ident>,
    },
    FillMissing {
        generators: Vec<Generator>,
        defaults: Vec<FillDefault>,
        take_last: bool,
    },
    /// `rows`/`columns` are empty when `row`/`column` was left out (a semantic error).
    Transpose {
        rows: Vec<Ident>,
        columns: Vec<Ident>,
        outputs: Option<Vec<TransposeOutput>>,
    },
    Outlier {
        field: Ident,
        by: Vec<Ident>,
        parameters: Vec<OutlierParameter>,
    },
    Dedup {
        limit: Option<Expr>,
        by: Vec<Ident>,
    },
    /// `topk(N, f1, f2) [by g1, g2]`.
    TopK {
        limit: Expr,
        fields: Vec<Ident>,
        by: Vec<Ident>,
    },
    /// `accum f [as a] [by g, …]`.
    Accum {
        field: Ident,
        alias: Option<Ident>,
        by: Vec<Ident>,
    },
    /// `total f [as a] [by g, …]`.
    Total {
        field: Ident,
        alias: Option<Ident>,
        by: Vec<Ident>,
    },
    /// `split f [delim=','] [quote='"'] [escape='\'] extract …`, and `csv f …` (`csv`
    /// true: the same operator under its other name).
    Split {
        csv: bool,
        field: Ident,
        options: Vec<SplitOption>,
        columns: Vec<SplitColumn>,
    },
    /// `threatlookup [singleIndicator] [source="…"] [include="…"] f1, f2`.
    ThreatLookup {
        single_indicator: bool,
        source: Option<StrLit>,
        include: Option<StrLit>,
        fields: Vec<Ident>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitOption {
    /// `delim`, `quote` or `escape` as written.
    pub name: Ident,
    /// The character as written (`','` or `","`); checked to be one character later.
    pub value: String,
    /// Whether it was written in single quotes.
    pub single_quoted: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum SplitColumn {
    /// `2 as b`.
    Indexed {
        index: u64,
        index_span: Span,
        alias: Ident,
    },
    /// A name in the positional form `extract a, _, c` (`_` skips a column).
    Positional(Ident),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LookupColumn {
    pub column: Ident,
    pub alias: Option<Ident>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TimesliceArg {
    /// A duration in milliseconds (`1d`, `15m`).
    Millis(i64),
    /// `N buckets`.
    Buckets(u64),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AggregateCall {
    /// As written (`count_distinct`, `SUM`).
    pub function: Ident,
    /// `None` for a bare `count`; `Some(vec![])` for `count()`.
    pub arguments: Option<Vec<Expr>>,
    pub alias: Option<Ident>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SortKey {
    pub field: Ident,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Generator {
    Timeslice {
        span: Option<i64>,
        field: Option<Ident>,
        at: Span,
    },
    Values {
        values: Vec<StrLit>,
        field: Ident,
    },
    AllValues {
        field: Ident,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FillDefault {
    pub value: Expr,
    pub field: Ident,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TransposeOutput {
    Name(Ident),
    /// `*`: every other dynamic column.
    Rest(Span),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutlierParameter {
    pub name: Ident,
    pub value: OutlierValue,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum OutlierValue {
    Number(f64),
    /// `+-`, `+`, `-` as written.
    Direction(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ExprKind {
    Field(String),
    Literal(Literal),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Matches {
        operand: Box<Expr>,
        pattern: Pattern,
    },
    In {
        operand: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// `name` as written (`isValidIP`); infix `a contains b` is a call of `contains`.
    Call {
        name: Ident,
        args: Vec<Expr>,
    },
    /// `/re/` as a function argument (only `replace`'s pattern, checked later).
    Regex(String),
    /// `c ? a : b`.
    Ternary {
        condition: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Pattern {
    /// `matches "wild*"` or `matches ("wild*")`.
    Wildcard(String),
    /// `matches /re/`.
    Regex(String),
    /// Any other expression (a field holding a pattern).
    Dynamic(Box<Expr>),
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }
}

impl Query {
    /// A copy with every span set to `Span::default()`, for comparisons that ignore spans.
    pub fn without_spans(&self) -> Query {
        strip::query(self)
    }

    /// Equality ignoring spans.
    pub fn same_as(&self, other: &Query) -> bool {
        self.without_spans() == other.without_spans()
    }
}
