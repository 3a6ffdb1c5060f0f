//! Every scalar function on one stored message (Size 1000, FromIP 81.2.69.144, received
//! 2026-10-24T10:00:00Z), expected values worked out by hand, bad input included.

use mailscope_engine::exec::Value;

use super::query::{JSON, run, sample, store_with};

struct One {
    dir: tempfile::TempDir,
}

impl One {
    fn new() -> One {
        let dir = tempfile::tempdir().unwrap();
        store_with(dir.path(), sample()[..1].to_vec(), None);
        One { dir }
    }

    /// The value of `expr` on the message, in `tz`.
    fn eval_in(&self, expr: &str, tz: &str) -> Value {
        let result = run(
            self.dir.path(),
            &format!("{JSON} | {expr} as v | count by v"),
            tz,
            None,
        );
        result.rows[0][0].clone()
    }

    fn eval(&self, expr: &str) -> Value {
        self.eval_in(expr, "UTC")
    }
}

fn text(v: &str) -> Value {
    Value::Text(v.into())
}

#[test]
fn format_is_printf_like() {
    let one = One::new();
    assert_eq!(one.eval("format(\"%.2f\", size / 3)"), text("333.33"));
    assert_eq!(
        one.eval("format(\"%,d bytes\", size * 1000)"),
        text("1,000,000 bytes")
    );
    assert_eq!(
        one.eval("format(\"%S-%05d\", status, 42)"),
        text("DELIVERED-00042")
    );
    assert_eq!(
        one.eval("format(\"%d\", status)"),
        Value::Null,
        "not a number"
    );
    assert_eq!(
        one.eval("format(\"%s\", toIP)"),
        Value::Null,
        "a null argument"
    );
}

#[test]
fn dates_format_parse_and_convert() {
    let one = One::new();
    assert_eq!(
        one.eval("formatDate(_messagetime, \"yyyy-MM-dd HH:mm:ss\")"),
        text("2026-10-24 10:00:00")
    );
    // The query's zone, or the one given.
    assert_eq!(
        one.eval_in("formatDate(_messagetime, \"HH:mm z\")", "Europe/Berlin"),
        text("12:00 CEST")
    );
    assert_eq!(
        one.eval("formatDate(_messagetime, \"HH:mm\", \"America/New_York\")"),
        text("06:00")
    );
    assert_eq!(
        one.eval("formatDate(fromSeconds(1792886400), \"MM/dd/yyyy\")"),
        text("10/25/2026")
    );
    assert_eq!(
        one.eval("formatDate(fromMillis(1792886400123), \"ss.SSS\")"),
        text("00.123")
    );
    assert_eq!(one.eval("formatDate(toIP, \"yyyy\")"), Value::Null);
    assert_eq!(
        one.eval("formatDate(_messagetime, \"yyyy\", \"Mars/Base\")"),
        Value::Null
    );
    assert_eq!(
        one.eval("parseDate(\"2026-10-25 01:30\", \"yyyy-MM-dd HH:mm\")"),
        Value::Int(1_792_891_800_000)
    );
    assert_eq!(
        one.eval("parseDate(\"2026-10-25 01:30\", \"yyyy-MM-dd HH:mm\", \"Europe/Berlin\")"),
        Value::Int(1_792_891_800_000 - 2 * 3_600_000),
        "01:30 on the DST day is still summer time (the earlier instant)"
    );
    assert_eq!(
        one.eval("parseDate(\"yesterday\", \"yyyy-MM-dd\")"),
        Value::Null
    );
    assert!(matches!(one.eval("now()"), Value::Int(ms) if ms > 1_700_000_000_000));
}

#[test]
fn numbers() {
    let one = One::new();
    assert_eq!(one.eval("pow(2, 10)"), Value::Float(1024.0));
    assert_eq!(one.eval("pow(status, 2)"), Value::Null);
    assert_eq!(one.eval("abs(-size)"), Value::Int(1000));
    assert_eq!(one.eval("round(size / 3)"), Value::Float(333.0));
    assert_eq!(one.eval("round(size / 3, 2)"), Value::Float(333.33));
    assert_eq!(one.eval("ceil(size / 300)"), Value::Float(4.0));
    assert_eq!(one.eval("floor(size / 300)"), Value::Float(3.0));
    assert_eq!(one.eval("toLong(\"42\")"), Value::Int(42));
    assert_eq!(one.eval("num(\"4.5\") * 2"), Value::Float(9.0));
    assert_eq!(one.eval("num(status)"), Value::Null);
    assert_eq!(one.eval("size / 0"), Value::Null);
}

#[test]
fn text_functions() {
    let one = One::new();
    assert_eq!(one.eval("substring(status, 0, 3)"), text("Del"));
    assert_eq!(one.eval("substring(status, 6)"), text("red"));
    assert_eq!(one.eval("length(status)"), Value::Int(9));
    assert_eq!(one.eval("trim(\"  x \")"), text("x"));
    assert_eq!(
        one.eval("concat(status, \"/\", toIP, size)"),
        text("Delivered/1000")
    );
    assert_eq!(one.eval("toUpperCase(status)"), text("DELIVERED"));
    assert_eq!(one.eval("replace(status, \"e\", \"E\")"), text("DElivErEd"));
    assert_eq!(
        one.eval("replace(sender_address, /(\\w+)@(?<domain>[\\w.]+)/, \"${domain}:$1\")"),
        text("fabrikam.example:sender0")
    );
    assert_eq!(one.eval("replace(status, /z+/, \"y\")"), text("Delivered"));
    assert_eq!(one.eval("replace(toIP, /x/, \"y\")"), Value::Null);
    assert_eq!(
        one.eval("replace(status, /l/, \"\\\\$1\")"),
        text("De$1ivered")
    );
}

#[test]
fn ip_functions() {
    let one = One::new();
    assert_eq!(
        one.eval("compareCIDRPrefix(fromIP, \"81.2.0.0\", 16)"),
        Value::Bool(true)
    );
    assert_eq!(
        one.eval("compareCIDRPrefix(fromIP, \"81.3.0.0\", 16)"),
        Value::Bool(false)
    );
    assert_eq!(
        one.eval("compareCIDRPrefix(fromIP, toIP, 8)"),
        Value::Bool(false)
    );
    assert_eq!(one.eval("isPublicIP(fromIP)"), Value::Bool(true));
}
