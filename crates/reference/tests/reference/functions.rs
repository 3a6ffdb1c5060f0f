//! Every function of the language, on message 1 (`a@example.com` → `bob@contoso.com`,
//! `Subject 1`, size 100, from 8.8.8.8, received 2026-10-01T01:15:00Z) unless said otherwise.

use mailscope_reference::Value;

use super::{eval, eval_on, ms, text};

fn t(v: bool) -> Value {
    Value::Bool(v)
}

#[test]
fn if_and_ternary_pick_a_branch_in_one_kind() {
    assert_eq!(eval(r#"if(size > 50, "big", "small")"#), text("big"));
    assert_eq!(eval(r#"size > 500 ? "big" : "small""#), text("small"));
    // Mixed kinds become text; two number kinds a float.
    assert_eq!(eval(r#"if(true, 1, "x")"#), text("1"));
    assert_eq!(eval("if(true, 1, 2.5)"), Value::Float(1.0));
    assert_eq!(eval("if(true, 1, 2)"), Value::Int(1));
    // A null condition is false.
    assert_eq!(eval("if(nosuchfield = 1, 1, 2)"), Value::Int(2));
}

#[test]
fn null_and_emptiness_tests() {
    assert_eq!(eval("isNull(nosuchfield)"), t(true));
    assert_eq!(eval("isNull(subject)"), t(false));
    assert_eq!(eval(r#"isEmpty("")"#), t(true));
    assert_eq!(eval("isEmpty(start_date)"), t(true));
    assert_eq!(eval(r#"isEmpty(" ")"#), t(false));
    assert_eq!(eval(r#"isBlank(" ")"#), t(true));
    assert_eq!(eval(r#"isBlank(concat(" ", "x"))"#), t(false));
    assert_eq!(eval("isBlank(nosuchfield)"), t(true));
    assert_eq!(eval(r#"isNumeric(" 12.5 ")"#), t(true));
    assert_eq!(eval(r#"isNumeric("12a")"#), t(false));
    assert_eq!(eval("isNumeric(size)"), t(true));
}

#[test]
fn ip_predicates() {
    assert_eq!(eval("isValidIP(fromIP)"), t(true));
    assert_eq!(eval("isValidIPv4(fromIP)"), t(true));
    assert_eq!(eval("isValidIPv6(fromIP)"), t(false));
    assert_eq!(eval("isPublicIP(fromIP)"), t(true));
    assert_eq!(eval("isPrivateIP(fromIP)"), t(false));
    assert_eq!(eval("isPrivateIP(toIP)"), t(true));
    assert_eq!(eval(r#"isValidIP("300.1.1.1")"#), t(false));
    assert_eq!(eval("isValidIP(nosuchfield)"), t(false));
    // Message 2 comes from IPv6.
    assert_eq!(eval_on("where index = 2", "isValidIPv6(fromIP)"), t(true));
    assert_eq!(eval_on("where index = 2", "isPublicIP(fromIP)"), t(true));
    assert_eq!(eval_on("where index = 2", "isPrivateIP(fromIP)"), t(false));
    assert_eq!(eval(r#"isPublicIP("fd00::1")"#), t(false));
    assert_eq!(eval(r#"isPublicIP("100.64.0.1")"#), t(false));
    assert_eq!(eval(r#"isPrivateIP("172.31.255.255")"#), t(true));
}

#[test]
fn cidr_prefixes() {
    assert_eq!(
        eval(r#"compareCIDRPrefix("10.1.2.3", "10.1.200.1", 16)"#),
        t(true)
    );
    assert_eq!(
        eval(r#"compareCIDRPrefix("10.1.2.3", "10.2.2.3", 16)"#),
        t(false)
    );
    assert_eq!(
        eval(r#"compareCIDRPrefix("10.1.2.3", "192.168.0.1", 0)"#),
        t(true)
    );
    assert_eq!(
        eval(r#"compareCIDRPrefix("10.1.2.3", "10.1.2.3", 33)"#),
        t(false)
    );
    assert_eq!(
        eval(r#"compareCIDRPrefix("2001:db8::1", "2001:db8::ffff", 64)"#),
        t(true)
    );
    assert_eq!(eval(r#"compareCIDRPrefix("10.1.2.3", "::1", 0)"#), t(false));
    assert_eq!(eval(r#"compareCIDRPrefix("x", "10.1.2.3", 8)"#), t(false));
}

#[test]
fn string_functions() {
    assert_eq!(
        eval(r#"concat(sender_address, "/", size)"#),
        text("a@example.com/100")
    );
    assert_eq!(eval(r#"concat("a", nosuchfield, "b")"#), text("ab"));
    assert_eq!(
        eval(r#"replace(sender_address, "example", "x")"#),
        text("a@x.com")
    );
    assert_eq!(
        eval(r#"replace(sender_address, /(\w+)@(\w+)/, "$2 at $1")"#),
        text("example at a.com")
    );
    assert_eq!(
        eval(r#"replace(sender_address, /(?<user>\w+)@/, "${user}-\$1-")"#),
        text("a-$1-example.com")
    );
    assert_eq!(eval(r#"replace(nosuchfield, "a", "b")"#), Value::Null);
    assert_eq!(eval("toUpperCase(subject)"), text("SUBJECT 1"));
    assert_eq!(eval("toLowerCase(subject)"), text("subject 1"));
    assert_eq!(
        eval_on("where index = 3", "toUpperCase(subject)"),
        text("GRÜSSE AUS MÜNCHEN")
    );
    assert_eq!(
        eval_on("where index = 3", "length(subject)"),
        Value::Int(17)
    );
    assert_eq!(eval(r#"trim("  x y  ")"#), text("x y"));
    assert_eq!(eval(r#"contains(sender_address, "@exa")"#), t(true));
    assert_eq!(eval(r#"sender_address contains "zzz""#), t(false));
    assert_eq!(eval(r#"contains(nosuchfield, "")"#), t(false));
    assert_eq!(eval("substring(sender_address, 2)"), text("example.com"));
    assert_eq!(eval("substring(sender_address, 2, 9)"), text("example"));
    assert_eq!(eval("substring(sender_address, -3, 1)"), text("a"));
    assert_eq!(eval("substring(sender_address, 5, 2)"), text(""));
    assert_eq!(
        eval_on("where index = 3", "substring(subject, 10, 13)"),
        text("Mün")
    );
    assert_eq!(eval("toString(size)"), text("100"));
}

#[test]
fn numbers() {
    assert_eq!(eval(r#"num("2.5")"#), Value::Float(2.5));
    assert_eq!(eval(r#"num("abc")"#), Value::Null);
    assert_eq!(eval("num(size)"), Value::Float(100.0));
    assert_eq!(eval(r#"toLong("7.9")"#), Value::Int(7));
    assert_eq!(eval("abs(-size)"), Value::Int(100));
    assert_eq!(eval("abs(-2.5)"), Value::Float(2.5));
    assert_eq!(eval("round(2.5)"), Value::Float(3.0));
    assert_eq!(eval("round(-2.5)"), Value::Float(-3.0));
    assert_eq!(eval("round(2.71828, 2)"), Value::Float(2.72));
    assert_eq!(eval("ceil(2.1)"), Value::Float(3.0));
    assert_eq!(eval("floor(-2.1)"), Value::Float(-3.0));
    assert_eq!(eval("pow(2, 10)"), Value::Float(1024.0));
    assert_eq!(eval("size / 1Ki"), Value::Float(100.0 / 1024.0));
    assert_eq!(eval("size / 0"), Value::Null);
    assert_eq!(eval("size % 7"), Value::Int(2));
    assert_eq!(eval("size + 1"), Value::Int(101));
    assert_eq!(eval(r#"size + "1""#), Value::Float(101.0));
    assert_eq!(eval(r#"size + "x""#), Value::Null);
    assert_eq!(eval("size * 1.5"), Value::Float(150.0));
    assert_eq!(eval("nosuchfield + 1"), Value::Null);
}

#[test]
fn times() {
    assert_eq!(eval("now()"), Value::Int(ms("2026-10-05T12:00:00Z")));
    assert_eq!(eval("fromSeconds(1.5)"), Value::Time(1500));
    assert_eq!(eval("fromMillis(1500)"), Value::Time(1500));
    assert_eq!(eval("received"), Value::Time(ms("2026-10-01T01:15:00Z")));
    assert_eq!(eval("formatDate(received)"), text("10/01/2026 01:15:00"));
    assert_eq!(
        eval(r#"formatDate(received, "yyyy-MM-dd'T'HH:mm EEE")"#),
        text("2026-10-01T01:15 Thu")
    );
    assert_eq!(
        eval(r#"formatDate(received, "yyyy-MM-dd HH:mm z", "Asia/Kolkata")"#),
        text("2026-10-01 06:45 IST")
    );
    assert_eq!(
        eval(r#"formatDate(received, "yyyy", "Nowhere/City")"#),
        Value::Null
    );
    assert_eq!(eval(r#"formatDate(received, "yyyy-MM-dd T")"#), Value::Null);
    assert_eq!(
        eval(r#"formatDate(_messagetime, "HH:mm:ss.SSS")"#),
        text("01:15:00.000")
    );
    assert_eq!(
        eval(r#"parseDate("2026-10-01 03:15", "yyyy-MM-dd HH:mm", "Europe/Berlin")"#),
        Value::Int(ms("2026-10-01T01:15:00Z"))
    );
    assert_eq!(
        eval(r#"parseDate("10/01/2026 01:15:00")"#),
        Value::Int(ms("2026-10-01T01:15:00Z"))
    );
    assert_eq!(eval(r#"parseDate("garbage", "yyyy")"#), Value::Null);
    assert_eq!(
        eval(r#"parseDate(formatDate(received)) = received"#),
        t(true)
    );
}

#[test]
fn format_is_java_string_format() {
    assert_eq!(
        eval(r#"format("%s sent %d bytes (%.1f KiB)", sender_address, size, size / 1024)"#),
        text("a@example.com sent 100 bytes (0.1 KiB)")
    );
    assert_eq!(
        eval(r#"format("%,d|%05.1f|%-3s|", 1234567, 2.25, "a")"#),
        text("1,234,567|002.3|a  |")
    );
    assert_eq!(eval(r#"format("%d", "x")"#), Value::Null);
    assert_eq!(eval(r#"format("%s", nosuchfield)"#), Value::Null);
}

#[test]
fn matches_in_and_comparisons_are_two_valued() {
    assert_eq!(eval(r#"sender_address matches "a@*""#), t(true));
    assert_eq!(eval(r#"sender_address matches "A@*""#), t(false));
    assert_eq!(eval(r#"sender_address matches "a?example.com""#), t(false));
    assert_eq!(eval(r#"sender_address matches /^a@ex/"#), t(true));
    assert_eq!(eval(r#"sender_address matches /ample\./"#), t(true));
    assert_eq!(eval(r#"nosuchfield matches "*""#), t(false));
    assert_eq!(eval(r#"start_date matches "*""#), t(false));
    assert_eq!(eval(r#"subject matches "*""#), t(true));
    assert_eq!(eval(r#"!(nosuchfield = "x")"#), t(true));
    assert_eq!(eval(r#"nosuchfield != "x""#), t(false));
    assert_eq!(eval(r#"status in ("Failed", "Delivered")"#), t(true));
    assert_eq!(eval(r#"status not in ("Failed", "Delivered")"#), t(false));
    assert_eq!(eval("size in (100, 200)"), t(true));
    assert_eq!(eval(r#"size in ("100.0")"#), t(false));
    assert_eq!(eval("nosuchfield not in (1, 2)"), t(false));
    // Numeric when either side is a number; text compares by bytes.
    assert_eq!(eval(r#"size > "99""#), t(true));
    assert_eq!(eval(r#""100" > "99""#), t(false));
    assert_eq!(eval(r#"size = "1e2""#), t(true));
    assert_eq!(eval(r#"sender_address < "b""#), t(true));
    assert_eq!(eval("size > 50 and not size > 150"), t(true));
    assert_eq!(eval("size > 500 or index = 1"), t(true));
}
