//! Geolocation and AS numbers from databases the tests build (both city schemas, IPv4 and
//! IPv6, ASN as CSV and MaxMind DB), through the database API and through queries over a
//! store; hot reload; and the real DB-IP and ASN data installed by the set-up.

mod asn;
mod city;
mod installed;
mod mmdb_writer;
mod reload;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use mailscope_engine::exec::{QueryOptions, QueryResult, Value, execute};
use mailscope_engine::geo::{AsnDatabase, GeoDatabase};
use mailscope_record::Status;

use crate::query::{JSON, at, record, store_with};

/// Stores one row per IP text (none of them enriched at ingest, so lookups run at query
/// time).
fn store_ips(dir: &Path, ips: &[&str]) {
    let records = ips
        .iter()
        .enumerate()
        .map(|(n, ip)| {
            record(
                n as u32,
                Status::Delivered,
                "2026-10-24T10:00:00Z",
                Some(ip),
            )
        })
        .collect();
    store_with(dir, records, None);
}

fn run(
    dir: &Path,
    query: &str,
    geo: Option<Arc<GeoDatabase>>,
    asn: Option<Arc<AsnDatabase>>,
) -> QueryResult {
    let compiled = mailscope_query::compile(query).unwrap_or_else(|d| panic!("{d:?}"));
    let options = QueryOptions {
        from: at("2026-10-24T00:00:00Z"),
        to: at("2026-10-28T00:00:00Z"),
        time_zone: chrono_tz::Tz::UTC,
        geo,
        asn,
        threat: None,
        max_raw_rows: 1_000,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(execute(dir, &compiled, &options)).unwrap()
}

/// `| lookup <columns> from <table> on ip = fromIP | count by fromIP, <columns>` as a map
/// from the IP text to the looked-up cells.
fn lookup_by_ip(
    dir: &Path,
    table: &str,
    columns: &[&str],
    geo: Option<Arc<GeoDatabase>>,
    asn: Option<Arc<AsnDatabase>>,
) -> (HashMap<String, Vec<Value>>, Vec<String>) {
    let list = columns.join(", ");
    let query =
        format!("{JSON} | lookup {list} from {table} on ip = fromIP | count by fromIP, {list}");
    let result = run(dir, &query, geo, asn);
    let ip = result.columns.iter().position(|c| c == "fromIP").unwrap();
    let cells = columns
        .iter()
        .map(|c| result.columns.iter().position(|r| r == c).unwrap())
        .collect::<Vec<_>>();
    let rows = result
        .rows
        .iter()
        .map(|row| {
            let key = match &row[ip] {
                Value::Text(text) => text.clone(),
                Value::Null => String::new(),
                other => panic!("{other:?}"),
            };
            (key, cells.iter().map(|i| row[*i].clone()).collect())
        })
        .collect();
    (rows, result.warnings)
}

fn text(value: &str) -> Value {
    Value::Text(value.into())
}
