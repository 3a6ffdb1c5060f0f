//! The translator: exact translations, behaviour against Java's answers, refusals with their
//! spans, and no panics on any input.

use proptest::prelude::*;

use super::{RegexError, translate};

fn rust(java: &str) -> String {
    match translate(java) {
        Ok(translated) => translated.pattern,
        Err(error) => panic!("{java}: {error:?}"),
    }
}

fn compiled(java: &str) -> regex::Regex {
    regex::Regex::new(&rust(java)).unwrap_or_else(|e| panic!("{java}: {e}"))
}

fn finds(java: &str, text: &str) -> Vec<String> {
    compiled(java)
        .find_iter(text)
        .map(|m| m.as_str().to_string())
        .collect()
}

fn matches(java: &str, text: &str) -> bool {
    compiled(java).is_match(text)
}

fn refused(java: &str) -> RegexError {
    match translate(java) {
        Ok(translated) => panic!("{java} translated to {}", translated.pattern),
        Err(error) => error,
    }
}

#[test]
fn translations_are_explicit() {
    let table: &[(&str, &str)] = &[
        (r"(?<word>\w+)", r"(?<word>[0-9A-Za-z_]+)"),
        (r"(?U)(?<word>\w+)", r"(?<word>\w+)"),
        (
            r"\d\D\s\S\W",
            r"[0-9][^0-9][\t\n\x0B\f\r ][^\t\n\x0B\f\r ][^0-9A-Za-z_]",
        ),
        (r"(?U)\d\D\s\S\W", r"\d\D\s\S\W"),
        (r"[\w-]", r"[0-9A-Za-z_\-]"),
        (r"[^\s]", r"[^\t\n\x0B\f\r ]"),
        (r"[\W\d]", r"[[^0-9A-Za-z_]0-9]"),
        (
            r"\h\v",
            r"[\t \x{A0}\x{1680}\x{180E}\x{2000}-\x{200A}\x{202F}\x{205F}\x{3000}][\n\x0B\f\r\x{85}\x{2028}\x{2029}]",
        ),
        (r"\bfoo\B", r"(?-u:\b)foo(?-u:\B)"),
        (r"(?U)\bfoo\B", r"\bfoo\B"),
        (".", r"[^\n\r\x{85}\x{2028}\x{2029}]"),
        ("(?s).", "(?s:.)"),
        ("(?d).", "."),
        ("(?sd-s).", "."),
        ("^a$", "^a$"),
        ("(?m)^a$", "(?mR:^)a(?mR:$)"),
        ("(?md)^a$", "(?m:^)a(?m:$)"),
        ("(?i)abc", "[Aa][Bb][Cc]"),
        ("(?i)é", "é"),
        ("(?iu)é", "[Éé]"),
        ("(?iU)k", "[Kk\u{212A}]"),
        ("(?i)[a-c]", "[a-cA-C]"),
        ("(?i)[x-]", r"[Xx\-]"),
        ("(?i:a)b", "(?:[Aa])b"),
        ("a(?i)b|c", "a[Bb]|[Cc]"),
        ("(a(?i)b)c", "(a[Bb])c"),
        ("(?i)a(?-i)b", "[Aa]b"),
        ("(?x) a b # comment\n c [d e]", "abc[de]"),
        (r"(?x)a\ b\#", r"a b\#"),
        (r"\Qa.b\E+", r"a\.b+"),
        (r"\Q(?x)\E", r"\(\?x\)"),
        (r"[\Q]\E]", r"[\]]"),
        (r"\u0041\x42\x{43}\0104\t\cA\e", r"ABCD\x{9}\x{1}\x{1B}"),
        (r"\uD83D\uDE00", r"\x{1F600}"),
        (
            r"\p{Lower}\p{Upper}\p{Punct}",
            r"[a-z][A-Z][\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E]",
        ),
        (r"(?U)\p{Lower}\p{Alpha}", r"\p{Lowercase}\p{Alphabetic}"),
        (r"(?i)\p{Lower}\p{Lu}", r"[A-Za-z]\p{LC}"),
        (
            r"\p{IsLatin}\p{sc=Greek}",
            r"\p{Script=Latin}\p{Script=Greek}",
        ),
        (
            r"\p{L}\pL\P{Lu}\p{IsAlphabetic}",
            r"\p{L}\p{L}\P{Lu}\p{Alphabetic}",
        ),
        (r"[\p{L}\P{N}]", r"[\p{L}\P{N}]"),
        (r"[a-z&&[^aeiou]]", r"[a-z&&[^aeiou]]"),
        (r"[a[bc]]", r"[a[bc]]"),
        (r"[^a&&b]", r"[^[a&&b]]"),
        (r"[]a]", r"[\]a]"),
        (r"[a-]", r"[a\-]"),
        (r"[\v-\x0D]", r"[\x{B}-\x{D}]"),
        ("a{2,3}?b{2}c{2,}d{0,1}", "a{2,3}?b{2}c{2,}d{0,1}"),
        ("ab+", "ab+"),
        ("(?:x)|(y)", "(?:x)|(y)"),
        (r"\.\/\-\é", r"\./\-é"),
        (r"\A\z", r"\A\z"),
        ("a}]", r"a\}\]"),
    ];
    for (java, expected) in table {
        assert_eq!(&rust(java), expected, "{java}");
    }
}

#[test]
fn groups_come_from_the_java_pattern() {
    let translated = translate(r"(?<from>\w+)@(?<domain_name>[^.]+)(x)").expect("ok");
    assert_eq!(translated.groups, ["from", "domain_name"]);
    assert_eq!(translated.unnamed_groups, 1);
}

#[test]
fn word_characters_are_ascii_unless_u() {
    let german = "Grüße aus München";
    assert_eq!(finds(r"\w+", german), ["Gr", "e", "aus", "M", "nchen"]);
    assert_eq!(finds(r"(?U)\w+", german), ["Grüße", "aus", "München"]);
    assert_eq!(finds(r"\w+", "naïve café"), ["na", "ve", "caf"]);
    assert_eq!(finds(r"[\w-]+", "a-b é_c"), ["a-b", "_c"]);
    // U+FE0F (a non-spacing mark) is a word character only for (?U).
    assert!(!matches(r"\w", "\u{FE0F}"));
    assert!(matches(r"(?U)\w", "\u{FE0F}"));
    assert!(!matches(r"\d", "٣"));
    assert!(matches(r"(?U)\d", "٣"));
    assert!(!matches(r"\s", "\u{A0}"));
    assert!(matches(r"(?U)\s", "\u{A0}"));
    assert!(matches(r"\h", "\u{A0}"));
}

#[test]
fn word_boundaries_are_ascii_unless_u() {
    // Java (JDK 19+) sees é as a non-word character for \b, like for \w.
    assert!(!matches(r"\bé", "é"));
    assert!(!matches(r"\bé", " é"));
    assert!(matches(r"\bé", "aé"));
    assert!(matches(r"a\b", "aé"));
    assert!(!matches(r"(?U)a\b", "aé"));
    assert!(matches(r"(?U)\bé", "é"));
    assert!(matches(r"é\B", "éé"));
    assert!(!matches(r"(?U)é\B", "é "));
    assert_eq!(
        finds(r"\b\w+\b", "Grüße aus München"),
        ["Gr", "e", "aus", "M", "nchen"]
    );
}

#[test]
fn dot_stops_at_every_line_terminator() {
    for terminator in ["\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"] {
        let text = format!("a{terminator}b");
        assert!(!matches("a.b", &text), "{terminator:?}");
        assert!(matches("(?s)a.b", &text), "{terminator:?}");
    }
    assert!(matches("(?d)a.b", "a\u{2028}b"));
    assert!(!matches("(?d)a.b", "a\nb"));
}

#[test]
fn case_insensitivity_is_ascii_unless_u() {
    assert!(!matches("(?i)straße", "STRASSE"));
    assert!(!matches("(?iu)straße", "STRASSE"));
    assert!(matches("(?i)straße", "STRAßE"));
    assert!(!matches("(?i)é", "É"));
    assert!(matches("(?iu)é", "É"));
    assert!(matches("(?U)(?i)é", "É"));
    assert!(!matches("(?i)[à-ÿ]", "À"));
    assert!(matches("(?iu)[à-þ]", "À"));
    assert!(!matches("(?i)k", "\u{212A}"));
    assert!(matches("(?iu)k", "\u{212A}"));
    // Java folds a lone ß only to itself, but ß in a run of literals also matches ẞ.
    assert!(!matches("(?iu)ß", "ẞ"));
    assert!(matches("(?iu)aß", "Aẞ"));
    assert!(matches("(?i:A)b", "ab"));
    assert!(!matches("(?i:A)b", "aB"));
}

#[test]
fn anchors_follow_the_flags() {
    assert!(matches("^b", "b\na"));
    assert!(!matches("^a", "b\na"));
    assert!(matches("(?m)^a", "b\na"));
    assert!(matches("(?m)^a", "b\r\na"));
    assert!(matches("(?m)b$", "b\r\na"));
    // Documented difference: Java's `$` also matches before a final line terminator.
    assert!(!matches("a$", "a\n"));
    assert!(matches("a$", "a"));
}

#[test]
fn quoting_comments_and_escapes() {
    assert!(matches(r"\Q.*\E", "x.*y"));
    assert!(!matches(r"\Q.*\E", "xy"));
    assert!(matches("(?x) a b # ignored\n c", "abc"));
    assert!(matches(r"\x{1F600}", "😀"));
    assert!(matches(r"\cJ", "\n"));
}

#[test]
fn refusals_point_at_the_construct() {
    let cases: &[(&str, &str, usize, usize)] = &[
        ("a*+", "possessive quantifiers are not supported", 1, 3),
        ("a++", "possessive quantifiers are not supported", 1, 3),
        ("a?+", "possessive quantifiers are not supported", 1, 3),
        ("a{2}+", "possessive quantifiers are not supported", 1, 5),
        ("é++", "possessive quantifiers are not supported", 2, 4),
        (
            "(?>a)",
            "atomic groups are not supported (Java regex construct)",
            0,
            3,
        ),
        (
            "(?=a)",
            "lookahead is not supported (Java regex construct)",
            0,
            3,
        ),
        (
            "(?!a)",
            "lookahead is not supported (Java regex construct)",
            0,
            3,
        ),
        (
            "(?<=a)",
            "lookbehind is not supported (Java regex construct)",
            0,
            4,
        ),
        (
            "(?<!a)",
            "lookbehind is not supported (Java regex construct)",
            0,
            4,
        ),
        (
            r"(a)\1",
            "a backreference is not supported (Java regex construct)",
            3,
            5,
        ),
        (
            r"(?<n>a)\k<n>",
            "a named backreference is not supported (Java regex construct)",
            7,
            9,
        ),
        (
            r"\G",
            r"\G (end of the previous match) is not supported (Java regex construct)",
            0,
            2,
        ),
        (
            r"a\Z",
            r"\Z (end before a final line terminator) is not supported (Java regex construct)",
            1,
            3,
        ),
        (
            r"\R",
            r"\R (any line break) is not supported (Java regex construct)",
            0,
            2,
        ),
        (
            r"\X",
            r"\X (a grapheme cluster) is not supported (Java regex construct)",
            0,
            2,
        ),
        (
            r"\b{g}",
            r"\b{…} (a grapheme boundary) is not supported (Java regex construct)",
            0,
            2,
        ),
        (
            r"\N{DIGIT ONE}",
            r"\N{…} (a character by name) is not supported (Java regex construct)",
            0,
            2,
        ),
        (r"x\y", r"illegal or unsupported escape sequence \y", 1, 3),
        (r"[\b]", r"illegal or unsupported escape sequence \b", 1, 3),
        (
            r"\p{javaLowerCase}",
            r"java character classes like \p{javaLowerCase} are not supported",
            0,
            17,
        ),
        (
            r"\p{InGreek}",
            r"unicode blocks like \p{InGreek} are not supported (use a script such as \p{IsGreek})",
            0,
            11,
        ),
        (r"\p{Nope}", r"unknown character property \p{Nope}", 0, 8),
        (
            r"\p{IsNope}",
            r"unknown character property or script \p{Nope}",
            0,
            10,
        ),
        ("(?c)a", "canonical equivalence (?c) is not supported", 2, 3),
        (
            "(?P<n>a)",
            "unknown inline modifier 'P' (Java names groups with (?<name>…))",
            2,
            3,
        ),
        ("(?q)", "unknown inline modifier 'q'", 2, 3),
        (
            "(?<1a>x)",
            "a group name must start with a letter (a-z, A-Z)",
            3,
            4,
        ),
        (
            "(?<a>x)(?<a>y)",
            "named group <a> is already defined",
            10,
            12,
        ),
        ("[a", "unclosed character class", 0, 2),
        ("(a", "unclosed group", 0, 2),
        ("a)", "unmatched closing ')'", 1, 2),
        ("*a", "nothing to repeat before '*'", 0, 1),
        ("a**", "nothing to repeat before '*'", 2, 3),
        ("a{2}{3}", "nothing to repeat before '{'", 4, 5),
        ("(?i)*", "nothing to repeat before '*'", 4, 5),
        (
            "x{,3}",
            "'{' must start a repetition like {2} (write \\{ for a literal brace)",
            1,
            2,
        ),
        (
            "x{3,1}",
            "repetition range has its maximum below its minimum",
            1,
            6,
        ),
        ("[z-a]", "illegal character range", 1, 4),
        (r"[a-\w]", "illegal character range", 1, 5),
        (
            r"\uD800",
            "a lone surrogate cannot be matched in UTF-8 text",
            0,
            6,
        ),
        (r"\x{110000}", "hexadecimal code point is too big", 0, 9),
        ("[a&&]", "'&&' needs a class on its right", 2, 4),
        ("a\\", "trailing backslash at the end of the regex", 1, 2),
    ];
    for &(java, message, start, end) in cases {
        let error = refused(java);
        assert_eq!(
            (error.message.as_str(), error.start, error.end),
            (message, start, end),
            "{java}"
        );
    }
}

#[test]
fn group_names_take_underscores_like_sumo_fields() {
    assert_eq!(
        translate("(?<from_domain>x)").expect("ok").groups,
        ["from_domain"]
    );
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("{}a{}", "(".repeat(500), ")".repeat(500));
    assert_eq!(refused(&deep).message, "regex nesting too deep");
    let deep = format!("{}a{}", "[".repeat(500), "]".repeat(500));
    assert_eq!(refused(&deep).message, "regex nesting too deep");
}

#[test]
fn too_large_a_program_is_reported() {
    let java = r"(?U)\w{1000}";
    let error = refused(java);
    assert!(error.message.contains("size limit"), "{}", error.message);
    assert_eq!((error.start, error.end), (0, java.len()));
}

fn pattern_chars() -> impl Strategy<Value = String> {
    let pieces: Vec<&'static str> = vec![
        "\\", "(", ")", "[", "]", "{", "}", "^", "$", ".", "|", "*", "+", "?", "&", "-", "a", "Z",
        "0", "1", "9", ",", "<", ">", "=", "!", ":", "#", " ", "\n", "Q", "E", "p", "P", "x", "u",
        "k", "b", "w", "i", "s", "U", "c", "{L}", "é", "ß", "😀", "\u{2028}", "(?i)", "(?x)",
        "\\Q", "\\E", "(?<n>", "\\p{", "&&",
    ];
    prop::collection::vec(prop::sample::select(pieces), 0..24).prop_map(|p| p.concat())
}

proptest! {
    #[test]
    fn translate_never_panics_and_spans_are_on_char_boundaries(java in pattern_chars()) {
        match translate(&java) {
            Ok(translated) => {
                prop_assert!(regex::Regex::new(&translated.pattern).is_ok());
            }
            Err(error) => {
                prop_assert!(error.start <= error.end && error.end <= java.len(), "{error:?}");
                prop_assert!(java.is_char_boundary(error.start) && java.is_char_boundary(error.end));
                prop_assert!(!error.message.ends_with('.'));
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(java in "\\PC{0,30}") {
        if let Err(error) = translate(&java) {
            prop_assert!(java.is_char_boundary(error.start) && java.is_char_boundary(error.end));
            prop_assert!(error.end <= java.len());
        }
    }
}
