//! Malformed queries: each gives at least one diagnostic with the expected code and spans
//! inside the input on char boundaries; none panics.

use mailscope_query::{Diagnostic, compile};

const P: &str = "_sourceCategory=Labs/Exchange";

/// (query, a code that must be among the diagnostics).
fn cases() -> Vec<(String, &'static str)> {
    let fixed: &[(&str, &str)] = &[
        // Lexical: strings, regexes, characters, numbers, variables.
        ("| where a = \"abc", "E0002"),
        ("| json \"a, \"b\" as a, b", "E0002"),
        ("_sourceCategory=\"Labs | count", "E0002"),
        ("| where a matches /abc", "E0003"),
        ("| where a matches /a\\/", "E0003"),
        ("| parse regex \"(?<x>a)", "E0002"),
        ("| where a # b", "E0004"),
        ("| where a = b ; | count", "E0004"),
        ("| where a = ümlaut", "E0004"),
        ("| where a = 'single'", "E0004"),
        ("| where a = b\u{0}", "E0004"),
        ("\u{0}\u{1} | count", "E0004"),
        ("| count by a @ b", "E0004"),
        ("| where a = 😀", "E0004"),
        ("| where a = b\u{200b}", "E0004"),
        ("| where size > 5X", "E0005"),
        ("| where size > 1e999", "E0005"),
        ("| where size > 3kb", "E0005"),
        ("| where status matches \"*\" and x = {{status}}", "E0006"),
        ("_sourceCategory={{category}} | count", "E0006"),
        ("| where %\"unterminated = 1", "E0002"),
        // Nesting and size.
        ("| where ((((a = 1)))", "E0104"),
        ("| where (a = 1))", "E0104"),
        ("| where a = (1 + 2", "E0104"),
        ("| where isNull(a", "E0104"),
        ("| count(a", "E0104"),
        ("(a OR b | count", "E0104"),
        ("a OR b) | count", "E0104"),
        ("| where a in (\"x\", \"y\"", "E0104"),
        ("| where )", "E0104"),
        // Stages.
        ("| | |", "E0103"),
        ("x | count |", "E0103"),
        ("x || count", "E0103"),
        ("x | count | | limit 1", "E0103"),
        ("|", "E0103"),
        ("x | countt by a", "E0101"),
        ("x | wher a = 1", "E0101"),
        ("x | sortt by a", "E0101"),
        ("x | josn \"a\"", "E0101"),
        ("x | transpos row a column b", "E0101"),
        ("x | fillmising timeslice", "E0101"),
        ("x | lookupp a from geo://location on ip=x", "E0101"),
        ("x | frobnicate", "E0101"),
        ("x | count_distint(a)", "E0101"),
        ("x | where", "E0102"),
        ("x | where a =", "E0102"),
        ("x | where a = = b", "E0102"),
        ("x | json", "E0102"),
        ("x | json a", "E0102"),
        ("x | json \"a\" as", "E0102"),
        ("x | parse", "E0102"),
        ("x | parse regex", "E0102"),
        ("x | parse regex field= \"(?<a>x)\"", "E0102"),
        ("x | lookup a from geo://location", "E0102"),
        ("x | lookup a geo://location on ip=x", "E0102"),
        ("x | lookup from geo://location on ip=x", "E0102"),
        ("x | timeslice", "E0102"),
        ("x | timeslice 1d as", "E0102"),
        ("x | sort", "E0102"),
        ("x | sort by", "E0102"),
        ("x | top", "E0102"),
        ("x | top 10", "E0102"),
        ("x | limit", "E0102"),
        ("x | limit 10 20", "E0102"),
        ("x | fields", "E0102"),
        ("x | fillmissing", "E0102"),
        ("x | fillmissing values in f", "E0102"),
        ("x | transpose rows a", "E0102"),
        ("x | outlier", "E0102"),
        ("x | count by", "E0102"),
        ("x | count as", "E0102"),
        ("x | a + b", "E0102"),
        ("x | (a + b)", "E0102"),
        ("x | \"x\" as", "E0102"),
        ("x | a as b c", "E0102"),
        ("x | where a ? b", "E0102"),
        ("x | where a matches", "E0102"),
        ("x | where a in ()", "E0102"),
        ("x | where concat(a, /x/) = \"z\"", "E0226"),
        ("_sourceCategory= | count", "E0102"),
        ("AND | count", "E0102"),
        ("a OR | count", "E0102"),
        ("x | timeslice 15", "E0222"),
        ("x | timeslice 15M", "E0005"),
        ("x | timeslice 0m", "E0222"),
        ("x | timeslice 0 buckets", "E0210"),
        ("x | fillmissing timeslice(1) in t", "E0222"),
        // Semantic.
        ("x | where isValidIPP(a)", "E0201"),
        ("x | where foo(a) = 1", "E0201"),
        ("x | tolower(a) as b", "E0201"),
        ("x | where isNull()", "E0202"),
        ("x | where isNull(a, b)", "E0202"),
        ("x | concat(a) as b", "E0202"),
        ("x | if(a, b) as c", "E0202"),
        ("x | where now(1) > 0", "E0202"),
        ("x | replace(a, \"b\") as c", "E0202"),
        ("x | count(a, b)", "E0202"),
        ("x | sum", "E0202"),
        ("x | pct(a)", "E0202"),
        ("x | where count(a) > 5", "E0203"),
        ("x | concat(sum(a), \"x\") as b", "E0203"),
        ("x | where a > avg(b)", "E0203"),
        ("x | sum(count(a))", "E0204"),
        ("x | avg(a + b)", "E0204"),
        ("x | max(\"a\")", "E0204"),
        ("x | json \"a\", \"b\" as a", "E0205"),
        ("x | json \"a\" as a, b", "E0205"),
        ("x | parse \"a=* b=*\" as a", "E0205"),
        ("x | pct(a, 50, 90) as p", "E0205"),
        ("x | parse regex \"(?<a>x\"", "E0206"),
        ("x | extract \"[a-\"", "E0206"),
        ("x | where a matches /(x/", "E0206"),
        ("x | parse regex \"abc\"", "E0207"),
        ("x | extract field=a \"\\\\w+\"", "E0207"),
        ("x | parse regex \"(a)(?<b>c)\"", "E0208"),
        ("x | extract \"(\\\\w+)@(?<d>.*)\"", "E0208"),
        ("x | parse \"a**b\" as x", "E0209"),
        ("x | parse \"abc\"", "E0209"),
        ("x | top 0 a", "E0210"),
        ("x | top -3 a", "E0210"),
        ("x | limit 0", "E0210"),
        ("x | limit 10001", "E0210"),
        ("x | limit -1", "E0210"),
        ("x | dedup 0 by a", "E0210"),
        ("x | limit \"10\"", "E0211"),
        ("x | limit 1.5", "E0211"),
        ("x | top a b", "E0211"),
        ("x | fields a, b, a", "E0212"),
        ("x | fields - a, A", "E0212"),
        ("x | count, count by a", "E0212"),
        ("x | sum(a), sum(b)", "E0212"),
        ("x | count_frequent a, sum(b)", "E0213"),
        ("x | count, count_frequent(a)", "E0213"),
        ("x | count_frequent a by b", "E0213"),
        ("x | transpose row a", "E0214"),
        ("x | transpose column b", "E0214"),
        ("x | transpose", "E0214"),
        ("x | count by _timeslice | fillmissing timeslice", "E0215"),
        (
            "x | timeslice 10 buckets | count by _timeslice | fillmissing timeslice",
            "E0215",
        ),
        ("_sourceCategori=Labs | count", "E0216"),
        ("_foo=bar | count", "E0216"),
        ("x | json \"a..b\"", "E0217"),
        ("x | json \"a[x]\"", "E0217"),
        ("x | json \"a[\"", "E0217"),
        ("x | cnt(a) by b, sum(c)", "E0101"),
        ("x | count, summ(a)", "E0218"),
        ("x | count, concat(a, b)", "E0218"),
        ("x | pct(a, 101)", "E0219"),
        ("x | pct(a, b)", "E0219"),
        ("x | outlier _count window=0", "E0220"),
        ("x | outlier _count threshold=-1", "E0220"),
        ("x | outlier _count direction=5", "E0220"),
        ("x | outlier _count wndow=5", "E0105"),
        ("x | lookup a from geo://location on address=x", "E0221"),
        ("x | lookup type from sumo://threat/cs on ip=x", "E0221"),
        ("x | fillmissing values all in s with a for b", "E0223"),
        // Operators beyond the panels.
        ("x | topk 10 a", "E0102"),
        ("x | topk(0, a)", "E0210"),
        ("x | topk(a, b)", "E0211"),
        ("x | topk(\"5\", a)", "E0211"),
        ("x | topk(5)", "E0102"),
        ("x | topk(5, a", "E0104"),
        ("x | topk(5, a b)", "E0102"),
        ("x | topk(5, a) by", "E0102"),
        ("x | topkk(5, a)", "E0101"),
        ("x | accum", "E0102"),
        ("x | accum a as", "E0102"),
        ("x | accum a by", "E0102"),
        ("x | accum a b", "E0102"),
        ("x | acum a", "E0101"),
        ("x | accum a as g by g", "E0212"),
        ("x | total", "E0102"),
        ("x | totl a", "E0101"),
        ("x | total a as _total by _TOTAL", "E0212"),
        ("x | total a by b,", "E0102"),
        ("x | split", "E0102"),
        ("x | split a", "E0102"),
        ("x | split a extract", "E0102"),
        ("x | split a delim=';;' extract 1 as b", "E0004"),
        ("x | split a delim=\";;\" extract 1 as b", "E0225"),
        ("x | split a delim=\"\" extract 1 as b", "E0225"),
        ("x | split a delim=',' quote=',' extract 1 as b", "E0225"),
        ("x | split a escape='\"' extract 1 as b", "E0225"),
        ("x | split a delimiter=',' extract 1 as b", "E0105"),
        ("x | split a delim=',' delim=';' extract 1 as b", "E0212"),
        ("x | split a delim=, extract 1 as b", "E0102"),
        ("x | split a extract 0 as b", "E0225"),
        ("x | split a extract 1.5 as b", "E0225"),
        ("x | split a extract 1Ki as b", "E0225"),
        ("x | split a extract 1 as b, 2 as B", "E0212"),
        ("x | split a extract b, b", "E0212"),
        ("x | split a extract 1 b", "E0102"),
        ("x | split a extract 1 as", "E0102"),
        ("x | csv a extract", "E0102"),
        ("x | splitt a extract 1 as b", "E0101"),
        ("x | threatlookup", "E0102"),
        ("x | threatlookup singleIndicator", "E0102"),
        ("x | threatlookup include=\"sometimes\" ip", "E0105"),
        ("x | threatlookup source=ip", "E0102"),
        ("x | threatlookup ip,", "E0102"),
        ("x | threatlokup ip", "E0101"),
        ("x | threatip", "E0102"),
        ("x | geoip", "E0102"),
        ("x | replace(a, /(x/, \"y\") as b", "E0206"),
        ("x | replace(a, /x/) as b", "E0202"),
        ("x | replace(/x/, \"a\", \"y\") as b", "E0226"),
        ("x | concat(a, /x/) as b", "E0226"),
        ("x | where a = /x/", "E0226"),
        ("x | if(/x/, 1, 2) as b", "E0226"),
        ("x | where a = 'x'", "E0102"),
        (
            "x | count by s | fillmissing values all in s takeLast",
            "E0224",
        ),
        (
            "x | count by s | fillmissing values (\"a\") in s with 0 for _count takeLast",
            "E0224",
        ),
        ("x | dedup by", "E0102"),
        ("x | dedup 10001", "E0210"),
        ("x | dedup \"a\"", "E0211"),
        ("x | dedup 2 3", "E0102"),
        ("x | json auto field=", "E0102"),
        ("x | json auto nodrop", "E0102"),
        ("x | outlier _count consecutive=0", "E0220"),
        ("x | outlier _count window=1.5", "E0220"),
        ("x | outlier _count threshold=0", "E0220"),
        ("x | outlier _count direction=+-+", "E0102"),
        ("x | outlier _count window=", "E0102"),
        ("x | formatDate() as d", "E0202"),
        ("x | where pow(2) > 1", "E0202"),
        ("x | compareCIDRPrefix(a, b) as c", "E0202"),
        ("x | where formatDat(a) = 1", "E0201"),
        ("x | parseDate(a, \"yyyy\", \"UTC\", 1) as d", "E0202"),
        ("x | format() as f", "E0202"),
        ("x | pct(a, 50) as p, pct(b, 90) as p", "E0212"),
        ("x | first(a + 1)", "E0204"),
        ("x | values(a, b)", "E0202"),
        ("x | last()", "E0202"),
        ("x | median(a) by", "E0102"),
        (
            "x | count by a | sort by _count | where _count > max(_count)",
            "E0203",
        ),
        ("x | count by a | topk(2, _count) by a, ", "E0102"),
    ];
    let mut cases: Vec<(String, &'static str)> =
        fixed.iter().map(|(q, c)| ((*q).to_string(), *c)).collect();
    cases.push((
        format!(
            "{P} | where {}a{}",
            "(".repeat(100_000),
            ")".repeat(100_000)
        ),
        "E0008",
    ));
    cases.push(("(".repeat(1_000_000), "E0008"));
    cases.push((format!("| where a = {}", "(".repeat(1_000_000)), "E0008"));
    cases.push((format!("| where {}", "!".repeat(500_000)), "E0008"));
    cases.push((format!("| where {}a", "-".repeat(500_000)), "E0008"));
    cases.push((format!("| where a{}", " + a".repeat(300)), "E0008"));
    cases.push((format!("{P} {}", "a ".repeat(400)), "E0008"));
    cases.push(("NOT ".repeat(200_000), "E0008"));
    cases.push((format!("| where {}", "a ? ".repeat(100_000)), "E0008"));
    cases.push(("x".repeat(1_100_000), "E0001"));
    cases.push((format!("| where a = \"{}\"", "é".repeat(600_000)), "E0001"));
    cases.push(("| countt ".repeat(10_000), "E0009"));
    cases
}

fn check_spans(source: &str, diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        let spans =
            std::iter::once(diagnostic.span).chain(diagnostic.labels.iter().map(|(s, _)| *s));
        for span in spans {
            assert!(
                span.start <= span.end && span.end <= source.len(),
                "{span:?} outside the input"
            );
            assert!(source.is_char_boundary(span.start) && source.is_char_boundary(span.end));
        }
        assert!(diagnostic.code.starts_with('E') && diagnostic.code.len() == 5);
        let first = diagnostic.message.chars().next();
        assert!(
            first.is_some_and(|c| !c.is_uppercase()),
            "{}",
            diagnostic.message
        );
        assert!(!diagnostic.message.ends_with('.'), "{}", diagnostic.message);
        let _ = diagnostic.render(source);
    }
}

#[test]
fn malformed_queries_give_the_expected_diagnostics() {
    let cases = cases();
    assert!(cases.len() >= 100, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (source, code) in &cases {
        match compile(source) {
            Ok(_) => failures.push(format!("compiled: {source:.80}")),
            Err(diagnostics) => {
                check_spans(source, &diagnostics);
                if !diagnostics.iter().any(|d| d.code == *code) {
                    let found: Vec<String> = diagnostics
                        .iter()
                        .map(|d| format!("{} {}", d.code, d.message))
                        .collect();
                    failures.push(format!("{:.80}: expected {code}, found {found:?}", source));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_stage_error_is_reported_not_just_the_first() {
    let source = "x | countt | where (a | limit 0 | json \"a\" as a, b | where isNul(a)";
    let diagnostics = compile(source).expect_err("invalid");
    let codes: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["E0101", "E0104", "E0210", "E0205", "E0201"]);
}
