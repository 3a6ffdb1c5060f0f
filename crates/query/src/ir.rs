//! `ir::Query`: the checked, engine-neutral form of a query. The engine lowers it to a
//! DataFusion plan (or, later, ClickHouse SQL). Field names are kept as written in the query;
//! the engine resolves them case-insensitively against the schema it has at each stage,
//! because some columns (`transpose` outputs) only exist once data has been seen.

use serde::Serialize;

use crate::span::Span;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Query {
    /// The part before the first `|`: metadata conditions and keywords.
    pub scope: Scope,
    pub stages: Vec<Stage>,
}

/// Scope conditions. Metadata values and keywords are case-insensitive, `*` is a wildcard
/// (Sumo's keyword-search semantics).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Scope {
    /// Everything (an empty scope or a lone `*`).
    All,
    /// A keyword searched in the record's terms (Sumo's keyword search; the rules are in
    /// ARCHITECTURE.md): `pattern` as written, `*` and `?` wildcards inside a term, several
    /// terms a phrase of adjacent terms; case-insensitive.
    Keyword {
        pattern: String,
    },
    /// `_sourceCategory=Labs/Foo*`: whole-value, case-insensitive wildcard match.
    /// `field` is the metadata field as written (e.g. `_sourceCategory`).
    Metadata {
        field: String,
        pattern: String,
        negated: bool,
    },
    And(Box<Scope>, Box<Scope>),
    Or(Box<Scope>, Box<Scope>),
    Not(Box<Scope>),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    pub kind: StageKind,
    /// Source span of the whole stage (from the operator keyword to before the next `|`).
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum StageKind {
    /// `json [field=f] "k1", "k2" [as a, b] [nodrop]`. Without `field=` the input is `_raw`.
    /// Without `nodrop`, rows where the input is not JSON or a key is missing are dropped.
    Json {
        source: Option<String>,
        extractions: Vec<JsonExtraction>,
        nodrop: bool,
    },
    /// `json auto [field=f]`.
    JsonAuto { source: Option<String> },
    /// `parse [field=f] "a*b*c" as x, y [nodrop]` (anchor parse). `anchors` are the literal
    /// pieces between the `*`s (`anchors.len() == aliases.len() + 1`, possibly empty strings).
    Parse {
        source: Option<String>,
        anchors: Vec<String>,
        aliases: Vec<String>,
        nodrop: bool,
    },
    /// `parse regex [field=f] "re" [nodrop] [multi]` and `extract`. `groups` are the named
    /// capture groups in order; `regex` is the query's Java regex translated to the `regex`
    /// crate's syntax ([`crate::regex::translate`]): compile it as it is, with no flags.
    ParseRegex {
        source: Option<String>,
        regex: String,
        groups: Vec<String>,
        nodrop: bool,
        multi: bool,
    },
    /// `where <bool expr>`.
    Where(Expr),
    /// `<expr> as f`, also `if(...) as f`, `replace(...) as f`, `concat(...) as f`.
    Assign { expr: Expr, alias: String },
    /// `lookup c1 [as a1], c2 from <table> on <key>=<field>`. `geoip <field> [columns]` (a geo
    /// lookup of the default or named columns) and `threatip <field>` (a threat lookup of
    /// `actor, malicious_confidence, raw_threat, type, threat_source`) are represented as
    /// this stage too.
    Lookup {
        table: LookupTable,
        columns: Vec<LookupColumn>,
        key_field: String,
    },
    /// `timeslice <span> [as f]`.
    Timeslice { span: TimesliceSpan, alias: String },
    /// Aggregation: `count`, `sum(x) as y, avg(z) by a, b`.
    Aggregate {
        aggregates: Vec<Aggregate>,
        by: Vec<String>,
    },
    /// `count_frequent f1, f2` (`_approxcount`, descending; exact here).
    CountFrequent { fields: Vec<String> },
    /// `sort by a, +b, c asc` / `order by`. Default direction is descending.
    Sort { keys: Vec<SortKey> },
    /// `top N f1, f2 [by agg]`: the N rows with the highest `by` (default: a count of rows per
    /// `fields`, named `_count`).
    Top {
        limit: u64,
        fields: Vec<String>,
        by: Option<SortKey>,
    },
    /// `limit N`.
    Limit(u64),
    /// `fields a, b` (keep) or `fields - a, b` (drop).
    Fields {
        mode: FieldsMode,
        names: Vec<String>,
    },
    /// `fillmissing <generators> [with v for f, ...] [takeLast]`.
    FillMissing {
        generators: Vec<Generator>,
        defaults: Vec<FillDefault>,
        take_last: bool,
    },
    /// `transpose row r1, r2 column c1 [as outputs]`.
    Transpose {
        rows: Vec<String>,
        columns: Vec<String>,
        outputs: TransposeOutputs,
    },
    /// `outlier f [by d1, d2] window=10 threshold=3 consecutive=1 direction=+-`.
    Outlier {
        field: String,
        by: Vec<String>,
        window: u32,
        threshold: f64,
        consecutive: u32,
        direction: OutlierDirection,
    },
    /// `dedup [N] [by f1, f2]`: keep the first N rows per key (default 1, all fields).
    Dedup { limit: u64, by: Vec<String> },
    /// `topk(N, f1, f2) [by g1, g2]`: per group of `by`, the N rows with the highest `f1`
    /// (then `f2`, …), ranked 1..=N in a new `_rank` field; other rows are dropped.
    TopK {
        limit: u64,
        fields: Vec<String>,
        by: Vec<String>,
    },
    /// `accum f [as a] [by g1, g2]`: the running total of `f` (per group of `by`) in the
    /// order of the rows, in `alias` (default `_accum`).
    Accumulate {
        field: String,
        alias: String,
        by: Vec<String>,
    },
    /// `total f [as a] [by g1, g2]`: the grand total of `f` (per group of `by`) on every row,
    /// in `alias` (default `_total`).
    Total {
        field: String,
        alias: String,
        by: Vec<String>,
    },
    /// `split f [delim=','] [quote='"'] [escape='\'] extract 1 as a, 3 as c` (also `csv`):
    /// the value of `source` cut into delimited columns; `columns` are 1-based column
    /// numbers with their output field. Quoted columns may hold the delimiter; the escape
    /// character makes the next character literal. A missing column is null.
    Split {
        source: String,
        delimiter: char,
        quote: char,
        escape: char,
        columns: Vec<SplitColumn>,
    },
    /// `threatlookup [singleIndicator] [source="…"] [include="…"] f1, f2`: threat
    /// indicators matching the fields, in `_threatlookup.*` fields.
    ThreatLookup {
        fields: Vec<String>,
        single_indicator: bool,
        source: Option<String>,
        include: ThreatInclude,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitColumn {
    /// 1-based column number.
    pub index: usize,
    pub alias: String,
}

/// Which indicators `threatlookup` considers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ThreatInclude {
    /// The default: indicators valid now.
    Active,
    Expired,
    All,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonExtraction {
    pub path: JsonPath,
    /// The output field: the alias, or the key text when no alias was given.
    pub alias: String,
}

/// A JSONPath subset: `a.b`, `a[2]`, `a[*].name`, `['odd.key']`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonPath {
    /// The key exactly as written in the query (`"labels[*].name"`).
    pub text: String,
    pub steps: Vec<JsonStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum JsonStep {
    Key(String),
    Index(usize),
    Wildcard,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum LookupTable {
    /// `geo://location`, `geo://default`.
    Geo,
    /// `asn://default`.
    Asn,
    /// `sumo://threat/cs`, `sumo://threat/i471`, `threatip`.
    Threat,
    /// Anything else (`path://...`, a named table): resolved by the engine, which reports an
    /// unknown table as an error.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LookupColumn {
    /// Column of the lookup table (`country_name`, `threatlevel`).
    pub column: String,
    /// Output field name (the alias, or the column name).
    pub alias: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum TimesliceSpan {
    /// A fixed span in milliseconds (`1d` = 86_400_000). Spans of whole days or weeks are
    /// calendar days in the query's time zone.
    Millis(i64),
    /// `N buckets`: the engine picks a clock-aligned span giving about N buckets.
    Buckets(u32),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregate {
    pub function: AggregateFunction,
    /// The argument field; `None` for a bare `count`.
    pub argument: Option<String>,
    /// Output name: the alias, or Sumo's default (`_count`, `_sum`, `_count_distinct`,
    /// `_avg`, `_min`, `_max`, `_median`, `_stddev`, `_first`, `_last`, `_values`,
    /// `_<field>_pct_<p>` for pct).
    pub alias: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum AggregateFunction {
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
    /// `pct(f, p)`: one aggregate per percentile, `p` in 0..=100.
    Percentile(f64),
    Median,
    Stddev,
    First,
    Last,
    Values,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SortKey {
    pub field: String,
    pub descending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FieldsMode {
    Keep,
    Drop,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Generator {
    /// `timeslice[(span)] [in f]`: every bucket of the query range. `span: None` means the
    /// span of the preceding `timeslice` stage (semantic analysis checks one exists and
    /// fills `span` from it, so the engine always sees `Some`).
    Timeslice { span: Option<i64>, field: String },
    /// `values ("a", "b") in f`.
    Values { values: Vec<String>, field: String },
    /// `values all in f`: every distinct value present in the rows.
    AllValues { field: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FillDefault {
    pub value: Literal,
    pub field: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TransposeOutputs {
    /// No `as`: every dynamic column, alphabetically.
    All,
    /// `as a, b[, *]`: these columns in this order; `rest` when `*` was given.
    Listed { names: Vec<String>, rest: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OutlierDirection {
    Both,
    Above,
    Below,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Expr {
    /// A field reference as written (`%"odd name"` unescaped).
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
    /// `x matches "wild*card"` (whole string, case-sensitive, `*` only),
    /// `x matches /re/` (find; the Java regex translated like `ParseRegex`'s), or
    /// `x matches <expr>` (a field holding a wildcard pattern).
    Matches {
        operand: Box<Expr>,
        pattern: Pattern,
    },
    /// `x in ("a", "b")`, `x not in (...)`.
    In {
        operand: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// `/re/` as `replace`'s pattern argument (`replace(x, /re/, "y")`): the query's Java
    /// regex translated to the `regex` crate's syntax ([`crate::regex::translate`]), to be
    /// compiled as it is. Appears nowhere else.
    Regex(String),
    /// A function call; `name` is the lower-case canonical name (`isvalidip`, `replace`,
    /// `if`, `concat`, `tolowercase`, ...). Arity and argument kinds are checked.
    Call {
        name: String,
        args: Vec<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Pattern {
    Wildcard(String),
    /// A Java regex translated to the `regex` crate's syntax ([`crate::regex::translate`]).
    Regex(String),
    Dynamic(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum UnaryOp {
    Not,
    Negate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BinaryOp {
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    And,
    Or,
}
