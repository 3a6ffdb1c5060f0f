//! abuse.ch CSV feeds.
//!
//! Feodo Tracker (`ipblocklist.csv`): a `#` banner, then a quoted header row
//! `"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"` and quoted rows
//! `"2025-12-30 13:56:31","50.16.16.211","443","online","2026-03-12","QakBot"`. Older copies
//! carry the header as a comment (`# Firstseen,DstIP,DstPort,LastOnline,Malware`) and
//! unquoted rows; both are read.
//!
//! SSLBL (`sslipblacklist.csv`): `#` banner ending in `# Firstseen,DstIP,DstPort`, then rows
//! `2024-01-01 10:00:00,1.2.3.4,443`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::{FeedParse, ReadContext, check_not_all_bad};
use crate::error::Result;
use crate::indicator::{Indicator, IndicatorValue};
use crate::net::parse_ip_or_cidr;

const FEODO_COLUMNS: [&str; 6] = [
    "first_seen_utc",
    "dst_ip",
    "dst_port",
    "c2_status",
    "last_online",
    "malware",
];
const SSLBL_COLUMNS: [&str; 3] = ["first_seen_utc", "dst_ip", "dst_port"];

pub(super) fn read_feodo(context: &ReadContext, text: &str) -> Result<FeedParse> {
    read_csv(context, text, &FEODO_COLUMNS)
}

pub(super) fn read_sslbl(context: &ReadContext, text: &str) -> Result<FeedParse> {
    read_csv(context, text, &SSLBL_COLUMNS)
}

/// Reads rows of `columns` (a header row, when present, may reorder them).
fn read_csv(context: &ReadContext, text: &str, columns: &[&str]) -> Result<FeedParse> {
    let mut parse = FeedParse::default();
    // The header in force: the file's own (a quoted row, or a `# Firstseen,DstIP,…`
    // comment before the first row), else the format's columns.
    let mut header: Vec<String> = commented_header(text)
        .unwrap_or_else(|| columns.iter().map(|column| (*column).to_owned()).collect());
    check_header(context, &header, 1)?;
    let mut first = true;
    // Line by line, so that line numbers are exact around comment lines; the feeds never
    // quote a line break.
    for (number, text_line) in text.lines().enumerate() {
        let line = number + 1;
        let trimmed = text_line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(trimmed.as_bytes());
        let record = match reader.records().next() {
            Some(Ok(record)) => record,
            Some(Err(error)) => {
                parse
                    .errors
                    .push(context.error(line, format!("unreadable CSV row: {error}")));
                continue;
            }
            None => continue,
        };
        if std::mem::take(&mut first) {
            let names: Vec<String> = record.iter().map(header_name).collect();
            if names.iter().any(|name| name == "dst_ip") {
                check_header(context, &names, line)?;
                header = names;
                continue;
            }
        }
        if record.len() != header.len() {
            parse.errors.push(context.error(
                line,
                format!(
                    "expected {} columns ({}), found {}",
                    header.len(),
                    header.join(","),
                    record.len()
                ),
            ));
            continue;
        }
        let values: Vec<&str> = columns
            .iter()
            .map(|column| {
                header
                    .iter()
                    .position(|name| name == column)
                    .and_then(|at| record.get(at))
                    .unwrap_or("")
            })
            .collect();
        match row(context, &Cells { columns, values }) {
            Ok(indicator) => parse.indicators.push(indicator),
            Err(message) => parse.errors.push(context.error(line, message)),
        }
    }
    check_not_all_bad(context, &parse)?;
    Ok(parse)
}

/// One row's cells by column name.
struct Cells<'a> {
    columns: &'a [&'a str],
    values: Vec<&'a str>,
}

impl Cells<'_> {
    fn get(&self, name: &str) -> &str {
        self.columns
            .iter()
            .position(|column| *column == name)
            .and_then(|at| self.values.get(at))
            .copied()
            .unwrap_or("")
    }
}

/// One row as an indicator; the message says what is wrong.
fn row(context: &ReadContext, cells: &Cells) -> Result<Indicator, String> {
    let field = |name: &str| cells.get(name);
    let net = parse_ip_or_cidr(field("dst_ip"))?;
    let first_seen = parse_time(field("first_seen_utc"))?;
    let port = field("dst_port");
    if !port.is_empty() && port.parse::<u16>().is_err() {
        return Err(format!("{port:?} is not a port"));
    }
    let mut indicator = context.indicator(IndicatorValue::Ip(net), "malicious-activity");
    indicator.valid_from = first_seen;
    indicator.first_seen = Some(first_seen);
    indicator.labels.push("botnet-c2".to_owned());
    if !port.is_empty() {
        indicator.id = format!("{}:{}:{port}", context.source, indicator.value);
        indicator.fields.insert("port".to_owned(), port.to_owned());
    }
    let status = field("c2_status");
    if !status.is_empty() {
        indicator
            .fields
            .insert("c2_status".to_owned(), status.to_owned());
    }
    let last_online = field("last_online");
    if !last_online.is_empty() {
        indicator.last_seen = Some(parse_time(last_online)?);
    }
    let malware = field("malware");
    if !malware.is_empty() {
        indicator.labels.push(malware.to_owned());
        indicator
            .fields
            .insert("malware".to_owned(), malware.to_owned());
    }
    Ok(indicator)
}

/// A `# Firstseen,DstIP,DstPort[,…]` comment line, as older Feodo and current SSLBL files
/// carry their header.
fn commented_header(text: &str) -> Option<Vec<String>> {
    text.lines()
        .map(str::trim)
        .take_while(|line| line.is_empty() || line.starts_with('#'))
        .filter(|line| line.to_ascii_lowercase().contains("dstip"))
        .last()
        .map(|line| {
            line.trim_start_matches('#')
                .split(',')
                .map(header_name)
                .collect()
        })
}

/// A header must name the address and the first-seen time.
fn check_header(context: &ReadContext, names: &[String], line: usize) -> Result<()> {
    for required in ["first_seen_utc", "dst_ip"] {
        if !names.iter().any(|name| name == required) {
            return Err(context.malformed(format!(
                "the header on line {line} has no {required:?} column"
            )));
        }
    }
    Ok(())
}

/// Header cells in either spelling (`first_seen_utc` or `# Firstseen`) as the new names.
fn header_name(cell: &str) -> String {
    let name = cell
        .trim()
        .trim_start_matches('#')
        .trim()
        .to_ascii_lowercase();
    match name.as_str() {
        "firstseen" => "first_seen_utc".to_owned(),
        "dstip" => "dst_ip".to_owned(),
        "dstport" => "dst_port".to_owned(),
        "lastonline" => "last_online".to_owned(),
        _ => name,
    }
}

/// `2024-01-01 10:00:00` (UTC) or a bare date.
pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .map(|time| time.and_utc())
        .or_else(|_| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|date| date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .or_else(|_| DateTime::parse_from_rfc3339(text).map(|time| time.with_timezone(&Utc)))
        .map_err(|_| format!("{text:?} is not a date and time"))
}
