//! Java's character sets in the `regex` crate's class syntax: the predefined classes (`\d \w
//! \s \h \v`), the `\p{…}` properties (POSIX, general categories, binary properties,
//! scripts) and case folding (`(?i)` ASCII-only, `(?iu)` Java's simple Unicode folding).
//! Follows `java.util.regex` of JDK 21 (`Pattern`, `CharPredicates`).

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use super::Flags;

/// Everything; its negation matches nothing (surrogates cannot occur in UTF-8 text).
const ANY: &str = r"\x00-\x{10FFFF}";
/// A class that matches nothing, usable as an item inside a class.
const NOTHING: &str = r"[^\x00-\x{10FFFF}]";

/// A set of characters in the `regex` crate's syntax: `body` goes inside `[…]` (negated when
/// `negated`); `atom` is a shorter stand-alone form (`\w`, `\p{Lu}`) when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Set {
    body: String,
    negated: bool,
    atom: Option<String>,
}

impl Set {
    pub(super) fn body(body: impl Into<String>) -> Set {
        Set {
            body: body.into(),
            negated: false,
            atom: None,
        }
    }

    fn not(body: impl Into<String>) -> Set {
        Set::body(body).negate()
    }

    /// A single escape (`\w`, `\p{L}`) valid both inside and outside a class.
    fn escape(escape: impl Into<String>) -> Set {
        let escape = escape.into();
        Set {
            body: escape.clone(),
            negated: false,
            atom: Some(escape),
        }
    }

    pub(super) fn negate(self) -> Set {
        match self.atom.as_deref().and_then(swap_escape_case) {
            Some(swapped) => Set::escape(swapped),
            None => Set {
                body: self.body,
                negated: !self.negated,
                atom: None,
            },
        }
    }

    /// The set as one item inside a class.
    pub(super) fn item(&self) -> String {
        if self.negated {
            format!("[^{}]", self.body)
        } else {
            self.body.clone()
        }
    }

    /// The set on its own, outside a class.
    pub(super) fn atom(&self) -> String {
        if let Some(atom) = &self.atom {
            return atom.clone();
        }
        if self.negated {
            format!("[^{}]", self.body)
        } else {
            format!("[{}]", self.body)
        }
    }
}

/// `\w` ↔ `\W`, `\p{L}` ↔ `\P{L}`; `None` for anything else.
fn swap_escape_case(escape: &str) -> Option<String> {
    let mut chars = escape.chars();
    if chars.next() != Some('\\') {
        return None;
    }
    let letter = chars.next()?;
    let rest = chars.as_str();
    let swapped = match letter {
        'w' | 'd' | 's' if rest.is_empty() => letter.to_ascii_uppercase(),
        'W' | 'D' | 'S' if rest.is_empty() => letter.to_ascii_lowercase(),
        'p' if rest.starts_with('{') => 'P',
        'P' if rest.starts_with('{') => 'p',
        _ => return None,
    };
    Some(format!("\\{swapped}{rest}"))
}

/// `\d \D \w \W \s \S \h \H \v \V`: ASCII unless `(?U)`.
pub(super) fn predefined(letter: char, flags: Flags) -> Set {
    let positive = match letter.to_ascii_lowercase() {
        'd' if flags.unicode_class => Set::escape(r"\d"),
        'd' => Set::body("0-9"),
        'w' if flags.unicode_class => Set::escape(r"\w"),
        'w' => Set::body("0-9A-Za-z_"),
        's' if flags.unicode_class => Set::escape(r"\s"),
        's' => Set::body(r"\t\n\x0B\f\r "),
        'h' => Set::body(r"\t \x{A0}\x{1680}\x{180E}\x{2000}-\x{200A}\x{202F}\x{205F}\x{3000}"),
        _ => Set::body(r"\n\x0B\f\r\x{85}\x{2028}\x{2029}"),
    };
    if letter.is_ascii_uppercase() {
        positive.negate()
    } else {
        positive
    }
}

/// The body of `\p{…}`/`\P{…}` (without the negation), or a message in the crate's style.
pub(super) fn property(name: &str, flags: Flags) -> Result<Set, String> {
    let case_insensitive = flags.case_insensitive;
    if let Some(eq) = name.find('=') {
        let key = name[..eq].to_ascii_lowercase();
        let value = &name[eq + 1..];
        return match key.as_str() {
            "sc" | "script" => script(value),
            "blk" | "block" => Err(blocks_unsupported(name)),
            "gc" | "general_category" => {
                named_property(value, case_insensitive).ok_or_else(|| unknown_property(name))
            }
            _ => Err(format!("unknown unicode property \\p{{{name}}}")),
        };
    }
    if name.starts_with("In") {
        return Err(blocks_unsupported(name));
    }
    if let Some(short) = name.strip_prefix("Is") {
        let upper = short.to_ascii_uppercase();
        if let Some(set) = binary_property(&upper, case_insensitive)
            .or_else(|| posix_unicode(&upper, case_insensitive))
            .or_else(|| named_property(short, case_insensitive))
        {
            return Ok(set);
        }
        if short.starts_with("java") {
            return Err(unknown_property(short));
        }
        return script(short);
    }
    if flags.unicode_class
        && let Some(set) = posix_unicode(&name.to_ascii_uppercase(), case_insensitive)
    {
        return Ok(set);
    }
    named_property(name, case_insensitive).ok_or_else(|| unknown_property(name))
}

fn blocks_unsupported(name: &str) -> String {
    format!(
        "unicode blocks like \\p{{{name}}} are not supported (use a script such as \\p{{IsGreek}})"
    )
}

fn unknown_property(name: &str) -> String {
    if name.starts_with("java") {
        format!("java character classes like \\p{{{name}}} are not supported")
    } else {
        format!("unknown character property \\p{{{name}}}")
    }
}

/// `\p{IsLatin}`, `\p{sc=Greek}`: a Unicode script, checked against the `regex` crate's tables.
fn script(name: &str) -> Result<Set, String> {
    let plausible = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let escape = format!("\\p{{Script={name}}}");
    if plausible && regex::Regex::new(&escape).is_ok() {
        Ok(Set::escape(escape))
    } else {
        Err(format!(
            "unknown character property or script \\p{{{name}}}"
        ))
    }
}

/// Java's `forProperty`: general categories, ASCII POSIX classes and a few others, by exact
/// name. Under `(?i)` the case-specific ones also match the other cases (JDK 21).
fn named_property(name: &str, case_insensitive: bool) -> Option<Set> {
    const CATEGORIES: &[&str] = &[
        "Cn", "Lm", "Lo", "Mn", "Me", "Mc", "Nd", "Nl", "No", "Zs", "Zl", "Zp", "Cc", "Cf", "Co",
        "Pd", "Ps", "Pe", "Pc", "Po", "Sm", "Sc", "Sk", "So", "Pi", "Pf", "L", "M", "N", "Z", "C",
        "P", "S", "LC",
    ];
    let set = match name {
        "Lu" | "Ll" | "Lt" if case_insensitive => Set::escape(r"\p{LC}"),
        "Lu" | "Ll" | "Lt" => Set::escape(format!("\\p{{{name}}}")),
        "Cs" => Set::body(NOTHING),
        _ if CATEGORIES.contains(&name) => Set::escape(format!("\\p{{{name}}}")),
        "LD" => Set::body(r"\p{L}\p{Nd}"),
        "L1" => Set::body(r"\x00-\x{FF}"),
        "all" => Set {
            body: ANY.to_string(),
            negated: false,
            atom: Some("(?s:.)".to_string()),
        },
        "ASCII" => Set::body(r"\x00-\x7F"),
        "Alnum" => Set::body("0-9A-Za-z"),
        "Alpha" => Set::body("A-Za-z"),
        "Blank" => Set::body(r"\t "),
        "Cntrl" => Set::body(r"\x00-\x1F\x7F"),
        "Digit" => Set::body("0-9"),
        "Graph" => Set::body(r"\x21-\x7E"),
        "Lower" if case_insensitive => Set::body("A-Za-z"),
        "Lower" => Set::body("a-z"),
        "Print" => Set::body(r"\x20-\x7E"),
        "Punct" => Set::body(r"\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E"),
        "Space" => Set::body(r"\t\n\x0B\f\r "),
        "Upper" if case_insensitive => Set::body("A-Za-z"),
        "Upper" => Set::body("A-Z"),
        "XDigit" => Set::body("0-9A-Fa-f"),
        _ => return None,
    };
    Some(set)
}

/// The POSIX names with Unicode meaning (`(?U)\p{Lower}`, `\p{IsPunct}`), upper-case.
fn posix_unicode(name: &str, case_insensitive: bool) -> Option<Set> {
    let set = match name {
        "ALPHA" => Set::escape(r"\p{Alphabetic}"),
        "LOWER" | "UPPER" if case_insensitive => cased(),
        "LOWER" => Set::escape(r"\p{Lowercase}"),
        "UPPER" => Set::escape(r"\p{Uppercase}"),
        "SPACE" => Set::escape(r"\p{White_Space}"),
        "PUNCT" => Set::escape(r"\p{P}"),
        "XDIGIT" => hex_digit(),
        "ALNUM" => Set::body(r"\p{Alphabetic}\p{Nd}"),
        "CNTRL" => Set::escape(r"\p{Cc}"),
        "DIGIT" => Set::escape(r"\p{Nd}"),
        "BLANK" => Set::body(r"\t\p{Zs}"),
        "GRAPH" => Set::not(r"\p{Cn}\p{Z}\p{Cc}"),
        "PRINT" => Set::not(r"\p{Cn}\p{Zl}\p{Zp}\p{Cc}"),
        _ => return None,
    };
    Some(set)
}

/// Java's binary properties after `Is` (`\p{IsAlphabetic}`), upper-case.
fn binary_property(name: &str, case_insensitive: bool) -> Option<Set> {
    let set = match name {
        "ALPHABETIC" => Set::escape(r"\p{Alphabetic}"),
        "ASSIGNED" => Set::escape(r"\P{Cn}"),
        "CONTROL" => Set::escape(r"\p{Cc}"),
        "EMOJI" => Set::escape(r"\p{Emoji}"),
        "EMOJI_PRESENTATION" => Set::escape(r"\p{Emoji_Presentation}"),
        "EMOJI_MODIFIER" => Set::escape(r"\p{Emoji_Modifier}"),
        "EMOJI_MODIFIER_BASE" => Set::escape(r"\p{Emoji_Modifier_Base}"),
        "EMOJI_COMPONENT" => Set::escape(r"\p{Emoji_Component}"),
        "EXTENDED_PICTOGRAPHIC" => Set::escape(r"\p{Extended_Pictographic}"),
        "HEXDIGIT" | "HEX_DIGIT" => hex_digit(),
        "IDEOGRAPHIC" => Set::escape(r"\p{Ideographic}"),
        "JOINCONTROL" | "JOIN_CONTROL" => Set::escape(r"\p{Join_Control}"),
        "LETTER" => Set::escape(r"\p{L}"),
        "LOWERCASE" | "UPPERCASE" | "TITLECASE" if case_insensitive => cased(),
        "LOWERCASE" => Set::escape(r"\p{Lowercase}"),
        "UPPERCASE" => Set::escape(r"\p{Uppercase}"),
        "TITLECASE" => Set::escape(r"\p{Lt}"),
        "NONCHARACTERCODEPOINT" | "NONCHARACTER_CODE_POINT" => {
            Set::escape(r"\p{Noncharacter_Code_Point}")
        }
        "PUNCTUATION" => Set::escape(r"\p{P}"),
        "WHITESPACE" | "WHITE_SPACE" => Set::escape(r"\p{White_Space}"),
        "WORD" => Set::escape(r"\w"),
        _ => return None,
    };
    Some(set)
}

/// Lower, upper or title case: what the case-specific properties mean under `(?i)`.
fn cased() -> Set {
    Set::body(r"\p{Lowercase}\p{Uppercase}\p{Lt}")
}

/// Java's `HEX_DIGIT`: decimal digits plus the ASCII and full-width letters a-f.
fn hex_digit() -> Set {
    Set::body(r"\p{Nd}A-Fa-f\x{FF21}-\x{FF26}\x{FF41}-\x{FF46}")
}

// ---------------------------------------------------------------------------------------------
// Case folding.

/// Characters below 256 that Java's class parser folds through `single()` under `(?iu)`
/// because their other case lies above 255 or is shared (`bitsOrSingle`).
const BITS_EXCLUDED: &[char] = &[
    '\u{FF}', '\u{B5}', 'I', 'i', 'S', 's', 'K', 'k', '\u{C5}', '\u{E5}',
];

/// `Character.toUpperCase(int)`: the simple mapping (the standard library gives the full one,
/// which differs where it has several characters).
pub(super) fn java_upper(c: char) -> char {
    let code = c as u32;
    let shifted = match code {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => Some(code + 8),
        0x1FB3 | 0x1FC3 | 0x1FF3 => Some(code + 9),
        _ => None,
    };
    if let Some(upper) = shifted.and_then(char::from_u32) {
        return upper;
    }
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(single), None) => single,
        _ => c,
    }
}

/// `Character.toLowerCase(int)`: the simple mapping.
pub(super) fn java_lower(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(single), None) => single,
        _ => c,
    }
}

/// `toLowerCase(toUpperCase(c))`, the key Java's Unicode case-insensitive matching compares.
fn java_fold(c: char) -> char {
    java_lower(java_upper(c))
}

struct FoldTables {
    /// Every character whose upper case or fold differs from itself: (c, upper, fold).
    cased: Vec<(char, char, char)>,
    /// fold → the other characters with that fold.
    inverse: HashMap<char, Vec<char>>,
}

fn fold_tables() -> &'static FoldTables {
    static TABLES: OnceLock<FoldTables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut cased = Vec::new();
        let mut inverse: HashMap<char, Vec<char>> = HashMap::new();
        // No cased character lies above U+1FFFF.
        for c in (0u32..0x2_0000).filter_map(char::from_u32) {
            let upper = java_upper(c);
            let fold = java_lower(upper);
            if upper != c || fold != c {
                cased.push((c, upper, fold));
            }
            if fold != c {
                inverse.entry(fold).or_default().push(c);
            }
        }
        FoldTables { cased, inverse }
    })
}

/// Java's `SingleU(lower)`: c == lower or fold(c) == lower.
fn fold_class(lower: char) -> BTreeSet<char> {
    let mut set = BTreeSet::from([lower]);
    if let Some(others) = fold_tables().inverse.get(&lower) {
        set.extend(others.iter().copied());
    }
    set
}

fn ascii_cases(c: char) -> BTreeSet<char> {
    BTreeSet::from([c.to_ascii_lowercase(), c.to_ascii_uppercase()])
}

/// A literal character on its own (Java's `single()`).
pub(super) fn single(c: char, flags: Flags) -> BTreeSet<char> {
    if flags.case_insensitive {
        if flags.unicode_case {
            let upper = java_upper(c);
            let lower = java_lower(upper);
            if upper != lower {
                return fold_class(lower);
            }
        } else if c.is_ascii_alphabetic() {
            return ascii_cases(c);
        }
    }
    BTreeSet::from([c])
}

/// A character of a literal run of two or more (Java's `SliceI`/`SliceU`).
pub(super) fn in_run(c: char, flags: Flags) -> BTreeSet<char> {
    if flags.case_insensitive {
        if flags.unicode_case {
            return fold_class(java_fold(c));
        }
        if c.is_ascii_alphabetic() {
            return ascii_cases(c);
        }
    }
    BTreeSet::from([c])
}

/// A single character inside a class (Java's `bitsOrSingle`).
pub(super) fn class_char(c: char, flags: Flags) -> BTreeSet<char> {
    let both = flags.case_insensitive && flags.unicode_case;
    if (c as u32) < 256 && !(both && BITS_EXCLUDED.contains(&c)) {
        let mut set = BTreeSet::from([c]);
        if flags.case_insensitive {
            if c.is_ascii() {
                set.extend(ascii_cases(c));
            } else if flags.unicode_case {
                set.insert(java_lower(c));
                set.insert(java_upper(c));
            }
        }
        return set;
    }
    single(c, flags)
}

/// The characters outside `low..=high` that a case-insensitive range also matches
/// (Java's `CIRange`/`CIRangeU`).
pub(super) fn range_extra(low: char, high: char, flags: Flags) -> BTreeSet<char> {
    let inside = |c: char| low <= c && c <= high;
    let mut extra = BTreeSet::new();
    if !flags.case_insensitive {
        return extra;
    }
    if flags.unicode_case {
        for &(c, upper, fold) in &fold_tables().cased {
            if !inside(c) && (inside(upper) || inside(fold)) {
                extra.insert(c);
            }
        }
    } else {
        for c in ('A'..='Z').chain('a'..='z') {
            if !inside(c) && (inside(c.to_ascii_uppercase()) || inside(c.to_ascii_lowercase())) {
                extra.insert(c);
            }
        }
    }
    extra
}

/// A set of characters as a class body, consecutive runs as ranges.
pub(super) fn set_body(set: &BTreeSet<char>) -> String {
    let mut body = String::new();
    let mut chars = set.iter().copied().peekable();
    while let Some(first) = chars.next() {
        let mut last = first;
        while let Some(&next) = chars.peek() {
            if next as u32 == last as u32 + 1 {
                last = next;
                chars.next();
            } else {
                break;
            }
        }
        body.push_str(&literal(first));
        if last as u32 >= first as u32 + 2 {
            body.push('-');
        }
        if last != first {
            body.push_str(&literal(last));
        }
    }
    body
}

/// One character for the `regex` crate, valid inside and outside a class.
pub(super) fn literal(c: char) -> String {
    if c.is_ascii_alphanumeric() || c == '_' {
        c.to_string()
    } else if "\\.+*?()|[]{}^$#&-~".contains(c) {
        format!("\\{c}")
    } else if c.is_ascii_graphic() || c == ' ' || (!c.is_ascii() && c.is_alphanumeric()) {
        c.to_string()
    } else {
        format!("\\x{{{:X}}}", c as u32)
    }
}
