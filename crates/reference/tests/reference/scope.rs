//! The scope: metadata wildcards and keywords with term semantics.

use mailscope_reference::Value;

use super::{JSON, column, message, options, run, run_with, table};

fn indexes(query: &str) -> Vec<Value> {
    column(
        &run(&format!(
            "{query} | {JSON} | sort by index asc | fields index"
        )),
        "index",
    )
}

fn count(query: &str) -> usize {
    run(query).rows.len()
}

#[test]
fn metadata_conditions_are_whole_value_case_insensitive_wildcards() {
    assert_eq!(count("_sourceCategory=Labs/MessageExchangeTraceLogs"), 3);
    assert_eq!(count("_sourceCategory=labs/*"), 4);
    assert_eq!(count("_sourceCategory=Labs"), 0);
    assert_eq!(count("_sourceCategory!=Labs/Other"), 3);
    assert_eq!(count("_sourceHost=x"), 0);
    assert_eq!(count("_sourceHost!=x"), 4);
    assert_eq!(count("_collector=mailscope AND _source=TRACE"), 4);
    assert_eq!(count("NOT _collector=mailscope"), 0);
}

#[test]
fn keywords_match_whole_terms_of_keys_and_values() {
    assert_eq!(indexes("München"), vec![Value::Int(3)]);
    assert_eq!(indexes("MÜNCHEN"), vec![Value::Int(3)]);
    assert_eq!(count("delivered"), 2);
    assert_eq!(count("deliv"), 0);
    assert_eq!(count("deliv*"), 2);
    assert_eq!(count("?ailed"), 1);
    assert_eq!(count("Delivered OR Failed"), 3);
    assert_eq!(count("NOT Delivered"), 2);
    assert_eq!(count("Delivered AND _sourceCategory=Labs/Other"), 0);
    // A key name is a term of every record.
    assert_eq!(count("RecipientAddress"), 4);
    // Phrases: consecutive terms, across a key and its value.
    assert_eq!(
        indexes("\"bob@contoso.com\""),
        vec![Value::Int(1), Value::Null]
    );
    assert_eq!(indexes("8.8.8.8"), vec![Value::Int(1)]);
    assert_eq!(indexes("\"Status Pending\""), vec![Value::Null]);
    assert_eq!(count("\"Status Delivered Pending\""), 0);
    // A null value has no terms: the next key follows the key directly.
    assert_eq!(indexes("\"FromIP Size\""), vec![Value::Null]);
    // Received as Microsoft writes it: 2026-10-01T01:15:00.0000000Z.
    assert_eq!(indexes("2026-10-01*"), vec![Value::Int(1), Value::Int(2)]);
    assert_eq!(count("01T01"), 1);
    // Punctuation only: no pieces, every record.
    assert_eq!(count("\"--\""), 4);
}

#[test]
fn terms_split_before_lower_casing() {
    let mut rows = table();
    let mut m = message(9, "2026-10-02T00:00:00Z");
    m.record.subject = "İstanbul'a hoş geldiniz".into();
    rows.push(m);
    let found = |q: &str| run_with(q, &rows, &options()).rows.len();
    assert_eq!(found("İstanbul"), 1);
    assert_eq!(found("istanbul*"), 0, "İ lower-cases to i + U+0307");
    assert_eq!(found("hoş"), 1);
    assert_eq!(found("HOŞ"), 1);
    // 'a' after the apostrophe is a term, as is the user of a@example.com (m1, m3).
    assert_eq!(found("a"), 3);
}
