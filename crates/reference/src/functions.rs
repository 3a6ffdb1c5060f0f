//! The scalar functions of the language, one function each. Null input gives null (or
//! false for predicates).

use std::net::IpAddr;

use mailscope_query::ir::Expr;

use crate::expr::Env;
use crate::relation::Row;
use crate::value::{Kind, Value, float_to_int};
use crate::{Error, Result, dates, format};

/// The kind of a call's result.
pub fn kind(env: &Env, name: &str, args: &[Expr]) -> Kind {
    match name {
        "if" => if_kind(env, args),
        "isnull" | "isempty" | "isblank" | "isnumeric" | "isvalidip" | "isvalidipv4"
        | "isvalidipv6" | "isprivateip" | "ispublicip" | "comparecidrprefix" | "contains" => {
            Kind::Bool
        }
        "length" | "tolong" | "now" | "parsedate" => Kind::Int,
        "num" | "number" | "round" | "ceil" | "floor" | "pow" => Kind::Float,
        "abs" => args
            .first()
            .map_or(Kind::Float, |a| env.kind_of(a).numeric()),
        "fromseconds" | "frommillis" => Kind::Time,
        _ => Kind::Text,
    }
}

/// Both branches of `if` in one kind: the same kind stays; numbers of two kinds are floats;
/// anything else is text (a branch that is an untyped null takes the other's kind when that
/// is a time, else text).
fn if_kind(env: &Env, args: &[Expr]) -> Kind {
    let (Some(then), Some(otherwise)) = (args.get(1), args.get(2)) else {
        return Kind::Text;
    };
    let (a, b) = (env.kind_of(then), env.kind_of(otherwise));
    if a == b {
        return a;
    }
    let untyped = |e: &Expr| env.is_untyped_null(e);
    if untyped(then) || untyped(otherwise) {
        let other = if untyped(then) { b } else { a };
        return if other == Kind::Time {
            Kind::Time
        } else {
            Kind::Text
        };
    }
    if a.is_numeric() && b.is_numeric() {
        Kind::Float
    } else {
        Kind::Text
    }
}

pub fn call(env: &Env, name: &str, args: &[Expr], row: &Row) -> Result<Value> {
    if name == "if" {
        return if_(env, args, row);
    }
    if name == "replace"
        && let Some(Expr::Regex(pattern)) = args.get(1)
    {
        let text = arg(env, args, 0, row)?.text();
        let replacement = arg(env, args, 2, row)?.text();
        return Ok(match (text, replacement) {
            (Some(t), Some(r)) => Value::Text(replace_regex(env, &t, pattern, &r)?),
            _ => Value::Null,
        });
    }
    let values: Vec<Value> = args
        .iter()
        .map(|a| env.eval(a, row))
        .collect::<Result<_>>()?;
    let first = values.first().cloned().unwrap_or(Value::Null);
    let text = first.text();
    let options = env.context.options;
    Ok(match name {
        "isnull" => Value::Bool(first.is_null()),
        "isempty" => Value::Bool(text.is_none_or(|t| t.is_empty())),
        "isblank" => Value::Bool(text.is_none_or(|t| t.chars().all(char::is_whitespace))),
        "isnumeric" => Value::Bool(text.is_some_and(|t| crate::value::parse_float(&t).is_some())),
        "isvalidip" => Value::Bool(ip(&text).is_some()),
        "isvalidipv4" => Value::Bool(matches!(ip(&text), Some(IpAddr::V4(_)))),
        "isvalidipv6" => Value::Bool(matches!(ip(&text), Some(IpAddr::V6(_)))),
        "isprivateip" => Value::Bool(matches!(ip(&text), Some(IpAddr::V4(v4)) if v4.is_private())),
        "ispublicip" => Value::Bool(ip(&text).is_some_and(is_public)),
        "comparecidrprefix" => compare_cidr_prefix(&values),
        "concat" => Value::Text(values.iter().filter_map(Value::text).collect()),
        "replace" => match (
            text,
            values.get(1).and_then(Value::text),
            values.get(2).and_then(Value::text),
        ) {
            (Some(t), Some(from), Some(to)) => Value::Text(t.replace(&from, &to)),
            _ => Value::Null,
        },
        "tolowercase" => text.map_or(Value::Null, |t| Value::Text(t.to_lowercase())),
        "touppercase" => text.map_or(Value::Null, |t| Value::Text(t.to_uppercase())),
        "length" => text.map_or(Value::Null, |t| Value::Int(t.chars().count() as i64)),
        "trim" => text.map_or(Value::Null, |t| Value::Text(trim(&t))),
        "contains" => Value::Bool(match (text, values.get(1).and_then(Value::text)) {
            (Some(haystack), Some(needle)) => haystack.contains(&needle),
            _ => false,
        }),
        "substring" => substring(&values),
        "num" | "number" => first.float().map_or(Value::Null, Value::Float),
        "tolong" => match first.number() {
            Value::Int(i) => Value::Int(i),
            Value::Float(f) => float_to_int(f).map_or(Value::Null, Value::Int),
            _ => Value::Null,
        },
        "tostring" => text.map_or(Value::Null, Value::Text),
        "abs" => match first.number() {
            Value::Int(i) => i.checked_abs().map_or(Value::Null, Value::Int),
            Value::Float(f) => Value::Float(f.abs()),
            _ => Value::Null,
        },
        "round" => round(&values),
        "ceil" => first
            .float()
            .map_or(Value::Null, |f| Value::Float(f.ceil())),
        "floor" => first
            .float()
            .map_or(Value::Null, |f| Value::Float(f.floor())),
        "pow" => match (first.float(), values.get(1).and_then(Value::float)) {
            (Some(base), Some(exponent)) => Value::Float(base.powf(exponent)),
            _ => Value::Null,
        },
        "now" => Value::Int(options.now_ms),
        "fromseconds" => from_epoch(&first, 1000.0),
        "frommillis" => from_epoch(&first, 1.0),
        "formatdate" => format_date(&values, options.time_zone),
        "parsedate" => parse_date(&values, options.time_zone, options.now_ms),
        "format" => format::format(&values),
        other => return Err(Error::Unsupported(format!("function {other}"))),
    })
}

fn arg(env: &Env, args: &[Expr], index: usize, row: &Row) -> Result<Value> {
    match args.get(index) {
        Some(a) => env.eval(a, row),
        None => Ok(Value::Null),
    }
}

/// `if(c, a, b)`: `a` when `c` is true, else `b` (a null condition is false), in the kind of
/// both branches.
fn if_(env: &Env, args: &[Expr], row: &Row) -> Result<Value> {
    let kind = if_kind(env, args);
    let condition = match args.first() {
        Some(c) => env.predicate(c, row)?,
        None => false,
    };
    let chosen = arg(env, args, if condition { 1 } else { 2 }, row)?;
    Ok(chosen.cast(kind))
}

fn ip(text: &Option<String>) -> Option<IpAddr> {
    text.as_deref()?.trim().parse().ok()
}

/// A valid address that is not private, loopback, link-local, multicast, broadcast,
/// unspecified, documentation, shared (100.64/10), benchmarking (198.18/15), IETF
/// (192.0.0/24), "this network" (0/8) or reserved (240/4); for IPv6 not loopback,
/// unspecified, multicast, unique local (fc00::/7), link-local (fe80::/10) or documentation
/// (2001:db8::/32).
pub(crate) fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            let reserved = v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19));
            !reserved
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let reserved = v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8);
            !reserved
        }
    }
}

/// An integer argument: numbers truncated, text parsed as a number first.
fn integer(value: &Value) -> Option<i64> {
    match value.number() {
        Value::Int(i) => Some(i),
        Value::Float(f) => float_to_int(f),
        _ => None,
    }
}

/// `compareCIDRPrefix(a, b, n)`: both addresses of one family share their first n bits.
fn compare_cidr_prefix(values: &[Value]) -> Value {
    let get = |i: usize| values.get(i).cloned().unwrap_or(Value::Null);
    let (Some(a), Some(b), Some(bits)) = (ip(&get(0).text()), ip(&get(1).text()), integer(&get(2)))
    else {
        return Value::Bool(false);
    };
    let (a, b, width) = match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return Value::Bool(false),
    };
    if !(0..=width).contains(&bits) {
        return Value::Bool(false);
    }
    let shift = (width - bits) as u32;
    let prefix = |x: u128| x.checked_shr(shift).unwrap_or(0);
    Value::Bool(prefix(a) == prefix(b))
}

/// Java's `String.trim`: every character up to U+0020 off both ends.
fn trim(text: &str) -> String {
    text.trim_matches(|c: char| c <= ' ').to_string()
}

/// `substring(s, start[, end])`: 0-based, end exclusive, both clamped to the text.
fn substring(values: &[Value]) -> Value {
    let Some(text) = values.first().and_then(Value::text) else {
        return Value::Null;
    };
    let chars: Vec<char> = text.chars().collect();
    let length = chars.len() as i64;
    let Some(start) = values.get(1).and_then(integer) else {
        return Value::Null;
    };
    let end = match values.get(2) {
        None => length,
        Some(v) => match integer(v) {
            Some(end) => end,
            None => return Value::Null,
        },
    };
    let start = start.clamp(0, length);
    let end = end.clamp(start, length);
    Value::Text(chars[start as usize..end as usize].iter().collect())
}

/// `round(x)` half away from zero; `round(x, d)` to d decimals.
fn round(values: &[Value]) -> Value {
    let Some(x) = values.first().and_then(Value::float) else {
        return Value::Null;
    };
    match values.get(1) {
        None => Value::Float(x.round()),
        Some(places) => match integer(places) {
            Some(d) => {
                let factor = 10f64.powi(d.clamp(-400, 400) as i32);
                Value::Float((x * factor).round() / factor)
            }
            None => Value::Null,
        },
    }
}

/// `fromSeconds`/`fromMillis`: a time from a number of seconds or milliseconds.
fn from_epoch(value: &Value, scale: f64) -> Value {
    value
        .float()
        .and_then(|f| float_to_int((f * scale).floor()))
        .map_or(Value::Null, Value::Time)
}

/// Milliseconds of a time or number argument (text read as a number, truncated).
fn millis(value: &Value) -> Option<i64> {
    match value {
        Value::Time(ms) => Some(*ms),
        other => integer(other),
    }
}

/// The zone argument: absent or null is the query's zone; an unknown name is `None`.
fn zone(values: &[Value], default: chrono_tz::Tz) -> Option<chrono_tz::Tz> {
    match values.get(2).and_then(Value::text) {
        None => Some(default),
        Some(name) => name.trim().parse().ok(),
    }
}

fn pattern(values: &[Value]) -> Option<String> {
    match values.get(1) {
        None => Some(dates::DEFAULT_PATTERN.to_string()),
        Some(v) => v.text(),
    }
}

fn format_date(values: &[Value], default: chrono_tz::Tz) -> Value {
    let result = (|| {
        let ms = millis(values.first()?)?;
        dates::format(ms, &pattern(values)?, zone(values, default)?)
    })();
    result.map_or(Value::Null, Value::Text)
}

fn parse_date(values: &[Value], default: chrono_tz::Tz, now_ms: i64) -> Value {
    let now_year = chrono::DateTime::from_timestamp_millis(now_ms)
        .map_or(1970, |t| chrono::Datelike::year(&t.with_timezone(&default)));
    let result = (|| {
        let text = values.first()?.text()?;
        dates::parse(&text, &pattern(values)?, zone(values, default)?, now_year)
    })();
    result.map_or(Value::Null, Value::Int)
}

/// `replace(text, /re/, "repl")`: every match replaced; the replacement in Sumo's syntax
/// (`$1`, `${name}`, `$0`; `\$` a literal `$`, `\\` a `\`, any other `$` literal).
fn replace_regex(env: &Env, text: &str, pattern: &str, replacement: &str) -> Result<String> {
    let regex = env.context.regex(pattern)?;
    let pieces = replacement_pieces(replacement);
    let mut out = String::new();
    let mut last = 0;
    for captures in regex.captures_iter(text) {
        let Some(whole) = captures.get(0) else {
            continue;
        };
        out.push_str(&text[last..whole.start()]);
        for piece in &pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Number(n) => {
                    out.push_str(captures.get(*n).map_or("", |m| m.as_str()));
                }
                Piece::Name(name) => {
                    let group = match name.parse::<usize>() {
                        Ok(n) => captures.get(n),
                        Err(_) => captures.name(name),
                    };
                    out.push_str(group.map_or("", |m| m.as_str()));
                }
            }
        }
        last = whole.end();
    }
    out.push_str(&text[last..]);
    Ok(out)
}

enum Piece {
    Text(String),
    Number(usize),
    Name(String),
}

fn replacement_pieces(replacement: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let chars: Vec<char> = replacement.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\\' && matches!(next, Some('$' | '\\')) {
            text.push(next.unwrap_or('\\'));
            i += 2;
        } else if c == '$' && next.is_some_and(|d| d.is_ascii_digit()) {
            let digits: String = chars[i + 1..]
                .iter()
                .take_while(|d| d.is_ascii_digit())
                .collect();
            pieces.push(Piece::Text(std::mem::take(&mut text)));
            // A group number too large for any regex refers to no group: empty.
            pieces.push(Piece::Number(digits.parse().unwrap_or(usize::MAX)));
            i += 1 + digits.chars().count();
        } else if c == '$'
            && next == Some('{')
            && let Some(close) = chars[i + 2..].iter().position(|d| *d == '}')
        {
            let name: String = chars[i + 2..i + 2 + close].iter().collect();
            pieces.push(Piece::Text(std::mem::take(&mut text)));
            pieces.push(Piece::Name(name));
            i += close + 3;
        } else {
            text.push(c);
            i += 1;
        }
    }
    pieces.push(Piece::Text(text));
    pieces
}
