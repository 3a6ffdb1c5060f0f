//! The bundled app's panels (and the original app's), with their filters at `*`, over the
//! table of `main.rs`.

use std::collections::BTreeMap;

use mailscope_reference::{NoData, Table, Value, evaluate};

use super::{JSON, column, ms, options, table};

const FILTERS: &str = r#"| where status matches "{{status}}"
| where sender_address matches "{{sender_address}}"
| where organization matches "{{organization}}"
| lookup latitude, longitude, country_code, country_name, region, city, postal_code from geo://location on ip = fromIP
| where country_name matches "{{country}}""#;

fn panel(tail: &str) -> Table {
    let source = format!("_sourceCategory=Labs/*\n| {JSON}\n{FILTERS}\n{tail}");
    let variables: BTreeMap<String, String> =
        ["status", "sender_address", "organization", "country"]
            .iter()
            .map(|v| (v.to_string(), "*".to_string()))
            .collect();
    let query = mailscope_query::compile_with_variables(&source, &variables)
        .unwrap_or_else(|d| panic!("{tail}: {d:?}"));
    evaluate(&query, &table(), &options(), &NoData).unwrap_or_else(|e| panic!("{tail}: {e}"))
}

fn total(table: &Table, name: &str) -> i64 {
    column(table, name)
        .iter()
        .map(|v| match v {
            Value::Int(i) => *i,
            _ => 0,
        })
        .sum()
}

#[test]
fn sparklines_fill_every_hour() {
    for (tail, name, expected) in [
        (
            r#"| where status matches ("*Delivered*") | timeslice 1h | count by _timeslice | fillmissing timeslice | sort by _timeslice asc"#,
            "_count",
            2,
        ),
        (
            r#"| where status matches ("*Failed*") | timeslice 1h | count by _timeslice | fillmissing timeslice | sort by _timeslice asc"#,
            "_count",
            1,
        ),
        (
            "| timeslice 1h | count(received) by _timeslice | fillmissing timeslice | sort by _timeslice asc",
            "_count",
            4,
        ),
        (
            "| timeslice 1h | count_distinct(sender_address) by _timeslice | fillmissing timeslice | sort by _timeslice asc",
            "_count_distinct",
            4,
        ),
        (
            "| timeslice 1h | count_distinct(recipient_address) by _timeslice | fillmissing timeslice | sort by _timeslice asc",
            "_count_distinct",
            4,
        ),
        (
            r#"| extract field=sender_address ".@(?<uniqueInboudDomains>.*)" | timeslice 1h | count_distinct(uniqueInboudDomains) by _timeslice | fillmissing timeslice | sort by _timeslice asc"#,
            "_count_distinct",
            4,
        ),
        (
            r#"| extract field=recipient_address ".@(?<uniqueOutboudDomains>.*)" | timeslice 1h | count_distinct(uniqueOutboudDomains) by _timeslice | fillmissing timeslice | sort by _timeslice asc"#,
            "_count_distinct",
            4,
        ),
    ] {
        let table = panel(tail);
        assert_eq!(table.rows.len(), 72, "{tail}");
        assert!(table.ordered);
        assert_eq!(
            table.rows[0][0],
            Value::Time(ms("2026-10-01T00:00:00Z")),
            "{tail}"
        );
        assert_eq!(total(&table, name), expected, "{tail}");
    }
}

#[test]
fn inbound_domains_are_distinct_over_the_range() {
    // ".@" needs a character before the @: the one-letter users are that character.
    let table = panel(r#"| extract field=sender_address ".@(?<d>.*)" | count_distinct(d)"#);
    assert_eq!(table.rows, vec![vec![Value::Int(2)]]);
}

#[test]
fn size_panels() {
    let table = panel(
        "| size/1Gi as gbytes | timeslice 1h | sum(gbytes) as totalbytes by _timeslice | fillmissing timeslice | sort by _timeslice asc",
    );
    assert_eq!(table.rows.len(), 72);
    assert_eq!(table.rows[1][1], Value::Float(100.0 / 1_073_741_824.0));
    assert_eq!(table.rows[0][1], Value::Float(0.0));
    let table = panel(
        "| timeslice 1d | sum(size) as totalbytes by _timeslice | fillmissing timeslice | outlier totalbytes window=5 threshold=3",
    );
    assert_eq!(
        column(&table, "totalbytes"),
        vec![Value::Int(300), Value::Int(300), Value::Int(400)]
    );
    assert_eq!(
        column(&table, "totalbytes_violation"),
        vec![Value::Int(0); 3]
    );
    let table = panel(
        r#"| where status matches ("*Delivered*") | timeslice 1d | count as delivered by _timeslice | fillmissing timeslice | outlier delivered window=5 threshold=3"#,
    );
    assert_eq!(
        column(&table, "delivered"),
        vec![Value::Int(1), Value::Int(1), Value::Int(0)]
    );
}

#[test]
fn threat_panel_is_empty_without_threat_data() {
    let table = panel(
        "| where isValidIP(fromIP) and !isPrivateIP(fromIP) | count as message_count by fromIP, country_name | threatip fromIP | where !isNull(malicious_confidence) | fields fromIP, country_name, message_count, malicious_confidence, actor, type | sort by message_count | limit 100",
    );
    assert_eq!(
        table.columns,
        [
            "fromIP",
            "country_name",
            "message_count",
            "malicious_confidence",
            "actor",
            "type"
        ]
    );
    assert!(table.rows.is_empty());
}

#[test]
fn status_count_by_sender_adds_missing_statuses_as_zero() {
    let table = panel(
        "| count by sender_address, status | transpose row sender_address column status as Delivered ,None, Failed, Pending, Expanded, Quarantined, FilteredAsSpam | sum(Delivered) as Delivered, sum(None) as None, sum(Failed) as Failed, sum(Pending) as Pending, sum(Expanded) as Expanded, sum(Quarantined) as Quarantined, sum(FilteredAsSpam) as FilteredAsSpam by sender_address | (Delivered + None+ Failed + Pending + Expanded + Quarantined + FilteredAsSpam) as TotalCount | sort by TotalCount | limit 10",
    );
    assert_eq!(
        column(&table, "sender_address")[0],
        Value::Text("a@example.com".into())
    );
    assert_eq!(
        column(&table, "TotalCount"),
        vec![Value::Int(2), Value::Int(1), Value::Int(1)]
    );
}

#[test]
fn seed_query_and_keyword_panel() {
    let table = panel(
        "| timeslice 1d | count by _timeslice, status | fillmissing timeslice, values all in status | transpose row _timeslice column status",
    );
    assert_eq!(
        table.columns,
        ["_timeslice", "Delivered", "Failed", "Pending"]
    );
    assert_eq!(
        table.rows[2][1..],
        [Value::Int(0), Value::Int(0), Value::Int(1)]
    );
    let table = panel(
        r#"| parse regex field=subject "(?<word>\w+)" multi | count_frequent word | limit 10"#,
    );
    assert_eq!(
        table.rows[0],
        vec![Value::Text("Subject".into()), Value::Int(3)]
    );
    let table = panel("| count by organization | top 10 organization by _count");
    assert_eq!(
        table.rows,
        vec![vec![Value::Text("contoso.com".into()), Value::Int(4)]]
    );
    let table = panel("| size/1Gi as gbytes | sum(gbytes) as totalbytes by _timeslice");
    assert_eq!(table.columns, ["_timeslice", "totalbytes"]);
    assert_eq!(table.rows[0][0], Value::Null);
}
