//! Line lists of addresses and networks: Spamhaus DROP (text and JSON lines), FireHOL
//! netsets, and plain one-address-per-line lists such as Emerging Threats compromised-ips.

use chrono::DateTime;
use serde::Deserialize;

use super::{FeedFormat, FeedParse, ReadContext, check_not_all_bad};
use crate::error::Result;
use crate::indicator::IndicatorValue;
use crate::net::parse_ip_or_cidr;

/// DROP text, netsets and plain lists: one value per line, `#` or `;` comments (whole-line
/// or after the value). In DROP text the comment after the value is the SBL record id.
pub(super) fn read_text_list(
    context: &ReadContext,
    format: FeedFormat,
    text: &str,
) -> Result<FeedParse> {
    let mut parse = FeedParse::default();
    for (number, line) in text.lines().enumerate() {
        let line_number = number + 1;
        let (value, comment) = match line.find(['#', ';']) {
            Some(at) => (&line[..at], Some(line[at + 1..].trim())),
            None => (line, None),
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        if value.split_whitespace().nth(1).is_some() {
            parse.errors.push(context.error(
                line_number,
                format!("expected one address or network per line, found {value:?}"),
            ));
            continue;
        }
        let net = match parse_ip_or_cidr(value) {
            Ok(net) => net,
            Err(message) => {
                parse.errors.push(context.error(line_number, message));
                continue;
            }
        };
        let mut indicator = context.indicator(IndicatorValue::Ip(net), "malicious-activity");
        if format == FeedFormat::SpamhausDrop
            && let Some(sblid) = comment.filter(|c| c.starts_with("SBL"))
        {
            indicator
                .fields
                .insert("sblid".to_owned(), sblid.to_owned());
        }
        parse.indicators.push(indicator);
    }
    check_not_all_bad(context, &parse)?;
    Ok(parse)
}

#[derive(Deserialize)]
struct DropLine {
    cidr: Option<String>,
    sblid: Option<String>,
    rir: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    timestamp: Option<i64>,
    records: Option<u64>,
}

/// Spamhaus DROP JSON lines. The metadata line ends every complete file, so a body without
/// it is a truncated download and is refused whole.
pub(super) fn read_drop_json(context: &ReadContext, text: &str) -> Result<FeedParse> {
    let mut parse = FeedParse::default();
    let mut metadata: Option<(usize, DropLine)> = None;
    let mut data_lines = 0u64;
    for (number, line) in text.lines().enumerate() {
        let line_number = number + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#') {
            continue;
        }
        let record: DropLine = match serde_json::from_str(trimmed) {
            Ok(record) => record,
            Err(error) => {
                data_lines += 1;
                let mut line_error =
                    context.error(line_number, format!("not a JSON object: {error}"));
                line_error.column = Some(error.column());
                parse.errors.push(line_error);
                continue;
            }
        };
        if record.kind.as_deref() == Some("metadata") {
            metadata = Some((line_number, record));
            continue;
        }
        if let Some((metadata_line, _)) = &metadata {
            parse.errors.push(context.error(
                line_number,
                format!("data after the metadata line {metadata_line}"),
            ));
        }
        data_lines += 1;
        let Some(cidr) = record.cidr else {
            parse
                .errors
                .push(context.error(line_number, "no \"cidr\" in the record"));
            continue;
        };
        let net = match parse_ip_or_cidr(&cidr) {
            Ok(net) => net,
            Err(message) => {
                parse.errors.push(context.error(line_number, message));
                continue;
            }
        };
        let mut indicator = context.indicator(IndicatorValue::Ip(net), "malicious-activity");
        if let Some(sblid) = record.sblid {
            indicator.id = format!("{}:{sblid}:{cidr}", context.source);
            indicator.fields.insert("sblid".to_owned(), sblid);
        }
        if let Some(rir) = record.rir {
            indicator.fields.insert("rir".to_owned(), rir);
        }
        parse.indicators.push(indicator);
    }
    let Some((metadata_line, metadata)) = metadata else {
        return Err(context
            .malformed("no metadata line at the end; the download is truncated or not DROP JSON"));
    };
    if let Some(records) = metadata.records
        && records != data_lines
    {
        parse.errors.push(context.error(
            metadata_line,
            format!("metadata counts {records} records but the file has {data_lines}"),
        ));
    }
    // The list's own generation time is a better `valid_from` than our fetch time.
    if let Some(generated) = metadata
        .timestamp
        .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
    {
        for indicator in &mut parse.indicators {
            indicator.valid_from = generated;
        }
    }
    check_not_all_bad(context, &parse)?;
    Ok(parse)
}
