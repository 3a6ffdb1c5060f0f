//! `mailscope bench --threat`: threat lookups over the bench store with 100,000 indicators.
//!
//! The index is generated (reproducibly): mostly single IPv4 addresses, networks /16–/31, a
//! few hundred e-mail addresses and domains, from four feeds, and it lists a share of the
//! store's actual sender IPs (`FromIP`), some of them in two feeds, and /24 networks around a
//! few more, so that lookups hit. The queries run in-process through the engine with the
//! index in `QueryOptions.threat` and the column cache on (the server's default budget): one
//! cold run (the first in the process, which also loads the columns into the cache), then
//! `--runs` warm runs. The rows matched are checked against the index looked up directly
//! for every distinct sender IP.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use chrono::{DateTime, TimeDelta, Utc};
use comfy_table::Table;
use mailscope_engine::exec::{self, QueryOptions, QueryResult, Value};
use mailscope_threat::{Indicator, IndicatorValue, ThreatIndex, parse_value};
use serde_json::json;

use super::{bench_store, gb, machine, median, ms};
use crate::cli::BenchArgs;
use crate::geodb;

/// Indicators in the index.
const INDICATORS: usize = 100_000;
/// Every n-th distinct sender IP (in address order) is listed as a single address.
const LISTED_EVERY: usize = 20;
/// At most this many of the store's sender IPs are listed.
const LISTED_MAX: usize = 5_000;
/// /24 networks around sender IPs (other than the listed ones).
const SENDER_NETWORKS: usize = 100;
const FEEDS: [&str; 4] = ["spamhaus-drop", "firehol-level1", "feodo", "stix-partner"];

/// The sender IPs and their row counts.
const SENDERS: &str =
    r#"_sourceCategory=* | json "FromIP" as ip | where !isNull(ip) | count by ip"#;
/// The queries measured: (label, text).
const QUERIES: [(&str, &str); 3] = [
    (
        "threatip, count by malicious_confidence",
        r#"_sourceCategory=* | json "FromIP" as ip | threatip ip | where !isNull(malicious_confidence) | count by malicious_confidence"#,
    ),
    (
        "threatlookup singleIndicator, count by source",
        r#"_sourceCategory=* | json "FromIP" as ip | threatlookup singleIndicator ip | count by %"_threatlookup.source""#,
    ),
    (
        "scan only (no lookup), for comparison",
        r#"_sourceCategory=* | json "FromIP" as ip | where !isNull(ip) | count"#,
    ),
];

/// xorshift64*: reproducible without a dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

pub fn run(args: &BenchArgs) -> Result<std::process::ExitCode> {
    let (start, end, work_dir) = super::time_range_and_work_dir(args)?;
    let geo = geodb::open(args.geoip.path())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let machine = machine();
    let mut report = Vec::new();
    for &records in &args.records {
        let store_dir = bench_store(&work_dir, records, args, start, &geo)?;
        let options = QueryOptions {
            from: start,
            to: end,
            time_zone: chrono_tz::UTC,
            geo: geo.clone(),
            asn: None,
            threat: None,
            max_raw_rows: 10_000,
        };
        // The sender IPs, read before the column cache is on so that the first threat query
        // is the one that loads the columns.
        let senders = senders(&runtime, &store_dir, &options)?;
        eprintln!("{} distinct sender IPs", senders.len());
        let started = Instant::now();
        let (index, listed) = index(&senders);
        let build = started.elapsed().as_secs_f64();
        let index = Arc::new(index);
        let expected = expected_matches(&index, &senders);
        eprintln!(
            "index of {} indicators ({listed} of the store's sender IPs listed) built in {}; \
             {expected} rows should match",
            index.stats().indicators,
            ms(Some(build))
        );
        crate::app::configure_column_cache(
            mailscope_service::MemoryBudget::machine_default().column_cache(),
        );
        let options = QueryOptions {
            threat: Some(index.clone()),
            ..options
        };
        let mut rows = Vec::new();
        for (label, text) in QUERIES {
            let query = mailscope_query::compile(text)
                .map_err(|d| anyhow!("{label}: {}", d[0].render(text)))?;
            let mut times = Vec::with_capacity(args.runs + 1);
            let mut matched = None;
            for _ in 0..=args.runs {
                let begun = Instant::now();
                let result = runtime
                    .block_on(exec::execute(&store_dir, &query, &options))
                    .map_err(|e| anyhow!("{label}: {e}"))?;
                times.push(begun.elapsed().as_secs_f64());
                let counted = counted_rows(&result);
                if matched.is_some_and(|m| m != counted) {
                    bail!("{label}: the runs disagree on the rows matched");
                }
                matched = Some(counted);
            }
            let matched = matched.unwrap_or(0);
            let check = if label.starts_with("scan") {
                String::new()
            } else if matched == expected {
                "OK".to_owned()
            } else {
                format!("MISMATCH: expected {expected}")
            };
            rows.push((label, times, matched, check));
        }
        println!(
            "Threat lookups, {records} records, {} days: {} indicators ({listed} of the \
             store's {} distinct sender IPs listed), index built in {}",
            args.days,
            index.stats().indicators,
            senders.len(),
            ms(Some(build))
        );
        let mut table = Table::new();
        table.load_preset(comfy_table::presets::ASCII_MARKDOWN);
        table.set_header([
            "query",
            "cold",
            "warm median",
            "warm min / max",
            "rows matched",
            "check",
        ]);
        for (label, times, matched, check) in &rows {
            let warm = &times[1..];
            table.add_row([
                label.to_string(),
                ms(times.first().copied()),
                ms(median(warm)),
                format!(
                    "{} / {}",
                    ms(warm.iter().copied().reduce(f64::min)),
                    ms(warm.iter().copied().reduce(f64::max))
                ),
                matched.to_string(),
                check.clone(),
            ]);
        }
        println!("{table}");
        report.push(json!({
            "records": records,
            "indicators": index.stats().indicators,
            "sender_ips": senders.len(),
            "sender_ips_listed": listed,
            "index_build_s": build,
            "expected_matches": expected,
            "queries": rows.iter().map(|(label, times, matched, check)| json!({
                "query": label,
                "cold_s": times[0],
                "warm_s": &times[1..],
                "warm_median_s": median(&times[1..]),
                "rows_matched": matched,
                "check": check,
            })).collect::<Vec<_>>(),
        }));
    }
    println!(
        "machine: {}, {} cores, {} GB memory; load average at the end: {}",
        machine.cpu,
        machine.cores,
        machine.memory_bytes.map_or_else(|| "unknown".into(), gb),
        super::http::load_average()
    );
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "threat": report }))?
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Distinct sender IPs with their row counts, in address order.
fn senders(
    runtime: &tokio::runtime::Runtime,
    store_dir: &Path,
    options: &QueryOptions,
) -> Result<BTreeMap<String, i64>> {
    let query = mailscope_query::compile(SENDERS).map_err(|d| anyhow!("{}", d[0].message))?;
    let result = runtime
        .block_on(exec::execute(store_dir, &query, options))
        .map_err(|e| anyhow!("sender IPs: {e}"))?;
    let mut senders = BTreeMap::new();
    for row in &result.rows {
        if let [Value::Text(ip), Value::Int(count)] = row.as_slice() {
            senders.insert(ip.clone(), *count);
        }
    }
    if senders.is_empty() {
        bail!("the store has no sender IPs");
    }
    Ok(senders)
}

/// The index, and how many of the store's sender IPs it lists as single addresses.
fn index(senders: &BTreeMap<String, i64>) -> (ThreatIndex, usize) {
    let mut random = Random(0x7e57_7ea7_0000_0001);
    let now = Utc::now();
    let since = now - TimeDelta::days(1);
    let mut indicators = Vec::with_capacity(INDICATORS);
    let add =
        |indicators: &mut Vec<Indicator>, value: IndicatorValue, i: usize, random: &mut Random| {
            let mut indicator = Indicator::new(FEEDS[i % FEEDS.len()], value, since);
            indicator.confidence = Some(random.below(101) as u8);
            indicator.threat_type = vec!["malicious-activity".into()];
            indicators.push(indicator);
        };
    let ips: Vec<&String> = senders.keys().collect();
    let mut listed = 0;
    for (n, ip) in ips
        .iter()
        .step_by(LISTED_EVERY)
        .take(LISTED_MAX)
        .enumerate()
    {
        let Ok(value) = parse_value(ip) else { continue };
        add(&mut indicators, value.clone(), n, &mut random);
        listed += 1;
        // A third of them are listed by a second feed too.
        if n % 3 == 0 {
            add(&mut indicators, value, n + 1, &mut random);
        }
    }
    // /24 networks around other senders.
    for n in 0..SENDER_NETWORKS {
        let ip = ips[(n * 7919 + LISTED_EVERY / 2) % ips.len()];
        if let Some((network, _)) = ip.rsplit_once('.')
            && !ip.contains(':')
            && let Ok(value) = parse_value(&format!("{network}.0/24"))
        {
            add(&mut indicators, value, n, &mut random);
        }
    }
    // The rest: 70% single addresses, 30% networks /16–/31, and every 250th an e-mail
    // address or a domain.
    let mut i = indicators.len();
    while indicators.len() < INDICATORS {
        let value = if i % 250 == 0 {
            IndicatorValue::Email(format!("sender{i}@spam{i}.example"))
        } else if i % 250 == 1 {
            IndicatorValue::Domain(format!("spam{i}.example"))
        } else {
            let bits = random.next() as u32;
            let prefix = if random.below(10) < 7 {
                32
            } else {
                16 + random.below(16) as u32
            };
            let network = if prefix == 32 {
                bits
            } else {
                bits & (u32::MAX << (32 - prefix))
            };
            let address = std::net::Ipv4Addr::from(network);
            match parse_value(&format!("{address}/{prefix}")) {
                Ok(value) => value,
                Err(_) => continue,
            }
        };
        add(&mut indicators, value, i, &mut random);
        i += 1;
    }
    (ThreatIndex::new(indicators), listed)
}

/// Rows whose sender IP the index matches, from the index directly.
fn expected_matches(index: &ThreatIndex, senders: &BTreeMap<String, i64>) -> i64 {
    let now: DateTime<Utc> = Utc::now();
    senders
        .iter()
        .filter(|(ip, _)| index.lookup_text(ip, now).is_some())
        .map(|(_, count)| count)
        .sum()
}

/// The rows a result counts: the sum of its count column, leaving out a row whose key is
/// null (threatlookup's rows without a match).
fn counted_rows(result: &QueryResult) -> i64 {
    result
        .rows
        .iter()
        .filter(|row| row.len() == 1 || !matches!(row.first(), Some(Value::Null)))
        .filter_map(|row| match row.last() {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        })
        .sum()
}
