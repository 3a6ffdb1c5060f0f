//! `mailscope trace <id>`: one message's story from the store — its recipients and their
//! statuses, where it came from (the sender IP's location, network and threat verdict) and
//! the messages around it (same sender or same subject within an hour). Every lookup is a
//! query in the language, run through the query service like any other.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, TimeDelta, Utc};
use mailscope_engine::exec::{QueryOptions, QueryResult, Value};
use mailscope_engine::store::Catalog;
use mailscope_service::{QueryError, QueryRequest, QueryService};

use crate::cli::TraceArgs;

/// The canonical fields every lookup reads, under these names.
const FIELDS: &str = r#"| json "MessageId", "MessageTraceId", "Received", "SenderAddress", "RecipientAddress", "Subject", "Status", "FromIP", "ToIP", "Size", "Organization" as message_id, trace_id, received, sender, recipient, subject, status, from_ip, to_ip, size, organization nodrop"#;

/// At most this many rows of one message (a message to a large list is cut, and says so).
const MAX_RECIPIENTS: usize = 5_000;
/// At most this many related messages of each kind.
const MAX_RELATED: usize = 20;
/// How far around the message related messages are looked for.
const RELATED_WITHIN: TimeDelta = TimeDelta::hours(1);

/// A string literal of the language holding `text` exactly (ids and subjects come from
/// senders: quoted, never spliced).
pub fn literal(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// The condition selecting a message's rows by its id: an Internet Message-ID (with or
/// without its angle brackets) or the trace id of one copy (a GUID, any case).
pub fn id_condition(id: &str) -> Result<String> {
    let id = id.trim();
    if id.is_empty() {
        bail!("give a Message-ID (<…@…>) or a message trace id (a GUID)");
    }
    if id.len() > 1_000 {
        bail!(
            "the id is {} bytes long; a Message-ID has at most 998",
            id.len()
        );
    }
    let bare = id.trim_start_matches('<').trim_end_matches('>');
    let mut ids = vec![format!("message_id = {}", literal(id))];
    if bare != id || !id.starts_with('<') {
        ids.push(format!("message_id = {}", literal(&format!("<{bare}>"))));
    }
    // A network message id is the trace id; exports also print it as 32 bare hex digits or
    // in braces.
    let trace_id = mailscope_record::formats::canonical_guid(bare).unwrap_or(bare.to_lowercase());
    ids.push(format!("toLowerCase(trace_id) = {}", literal(&trace_id)));
    Ok(ids.join(" or "))
}

/// What `trace` found.
#[derive(Debug, serde::Serialize)]
pub struct Story {
    pub id: String,
    pub message_id: Option<String>,
    pub trace_ids: Vec<String>,
    pub subject: Option<String>,
    pub sender: Option<String>,
    pub organization: Option<String>,
    pub received: Option<DateTime<Utc>>,
    pub size: Option<i64>,
    pub from_ip: Option<String>,
    /// Location, network and threat verdict of the sender IP (columns as the lookups name
    /// them; absent when unknown).
    pub origin: BTreeMap<String, serde_json::Value>,
    pub recipients: Vec<Recipient>,
    /// Statuses and how many recipients have each.
    pub statuses: BTreeMap<String, usize>,
    /// More rows than shown.
    pub cut: bool,
    pub same_sender: Vec<Related>,
    pub same_subject: Vec<Related>,
}

#[derive(Debug, serde::Serialize)]
pub struct Recipient {
    pub recipient: Option<String>,
    pub status: Option<String>,
    pub to_ip: Option<String>,
    pub trace_id: Option<String>,
    pub received: Option<DateTime<Utc>>,
}

/// Another message near this one.
#[derive(Debug, serde::Serialize)]
pub struct Related {
    pub message_id: Option<String>,
    pub received: Option<DateTime<Utc>>,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub recipients: i64,
}

pub fn run(args: &TraceArgs) -> Result<ExitCode> {
    let condition = id_condition(&args.id)?;
    let data_dir = &args.range.data_dir;
    let (from, to) = args.range.resolve(|| {
        let catalog = Catalog::load(data_dir)
            .with_context(|| format!("cannot read the store at {}", data_dir.display()))?;
        Ok(range_of(&catalog))
    })?;
    let options = crate::query::lookup_options(&args.lookups, data_dir, from, to, chrono_tz::UTC)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let service = crate::app::one_shot_service(&runtime, data_dir);
    let story = runtime
        .block_on(story(&service, &args.id, &condition, &options))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = std::io::stdout().lock();
    match &story {
        None => {
            writeln!(
                out,
                "no message with id {} between {} and {}",
                args.id.trim(),
                from.to_rfc3339(),
                to.to_rfc3339()
            )?;
            return Ok(ExitCode::from(1));
        }
        Some(story) if args.json => writeln!(out, "{}", serde_json::to_string_pretty(story)?)?,
        Some(story) => write_story(&mut out, story)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The store's whole time range (one nanosecond past its newest row).
impl crate::cli::StoreRangeArgs {
    /// `--from` and `--to` as given; a missing end is the store's own, asked of `store` only
    /// then.
    pub fn resolve(
        &self,
        store: impl FnOnce() -> Result<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
        let given = |text: &Option<String>, flag| {
            text.as_deref()
                .map(|t| crate::query::parse_time(t, flag))
                .transpose()
        };
        let (from, to) = (given(&self.from, "--from")?, given(&self.to, "--to")?);
        if let (Some(from), Some(to)) = (from, to) {
            return Ok((from, to));
        }
        let (first, last) = store()?;
        Ok((from.unwrap_or(first), to.unwrap_or(last)))
    }
}

/// A catalog's whole time range, one nanosecond past its newest row (an empty store: the
/// first nanosecond of the epoch).
pub fn range_of(catalog: &Catalog) -> (DateTime<Utc>, DateTime<Utc>) {
    let first = catalog.segments.iter().map(|s| s.min_received).min();
    let last = catalog.segments.iter().map(|s| s.max_received).max();
    match (first, last) {
        (Some(first), Some(last)) => (
            DateTime::from_timestamp_nanos(first),
            DateTime::from_timestamp_nanos(last.saturating_add(1)),
        ),
        _ => (
            DateTime::UNIX_EPOCH,
            DateTime::UNIX_EPOCH + TimeDelta::nanoseconds(1),
        ),
    }
}

async fn run_query(
    service: &QueryService,
    text: String,
    options: &QueryOptions,
) -> Result<QueryResult, QueryError> {
    let answer = service
        .run(QueryRequest {
            text,
            variables: BTreeMap::new(),
            options: options.clone(),
            id: None,
        })
        .await?;
    Ok(answer.table.result.clone())
}

/// The message's rows, with the sender IP looked up, then its neighbours.
pub async fn story(
    service: &QueryService,
    id: &str,
    condition: &str,
    options: &QueryOptions,
) -> Result<Option<Story>, QueryError> {
    let text = format!(
        "*\n{FIELDS}\n| where {condition}\n\
         | lookup country_name, region, city from geo://location on ip = from_ip\n\
         | lookup asn, as_org from asn://default on ip = from_ip\n\
         | threatip from_ip\n\
         | fields received, trace_id, recipient, status, to_ip, message_id, sender, subject, size, organization, from_ip, country_name, region, city, asn, as_org, malicious_confidence, actor\n\
         | sort by received asc, recipient asc\n\
         | limit {}",
        MAX_RECIPIENTS + 1
    );
    let result = run_query(service, text, options).await?;
    if result.rows.is_empty() {
        return Ok(None);
    }
    let rows: Vec<BTreeMap<&str, &Value>> = result
        .rows
        .iter()
        .map(|row| {
            result
                .columns
                .iter()
                .map(String::as_str)
                .zip(row.iter())
                .collect()
        })
        .collect();
    let text_of = |row: &BTreeMap<&str, &Value>, name: &str| -> Option<String> {
        match row.get(name) {
            Some(Value::Text(text)) => Some(text.clone()),
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_json().to_string()),
        }
    };
    let time_of = |row: &BTreeMap<&str, &Value>| row.get("received").and_then(|v| time_value(v));
    let first = &rows[0];
    let cut = rows.len() > MAX_RECIPIENTS;
    let mut recipients = Vec::new();
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let mut trace_ids: Vec<String> = Vec::new();
    for row in rows.iter().take(MAX_RECIPIENTS) {
        let status = text_of(row, "status");
        *statuses
            .entry(status.clone().unwrap_or_else(|| "(none)".into()))
            .or_default() += 1;
        let trace_id = text_of(row, "trace_id");
        if let Some(trace) = &trace_id
            && !trace_ids.contains(trace)
        {
            trace_ids.push(trace.clone());
        }
        recipients.push(Recipient {
            recipient: text_of(row, "recipient"),
            status,
            to_ip: text_of(row, "to_ip"),
            trace_id,
            received: time_of(row),
        });
    }
    let mut origin = BTreeMap::new();
    for column in [
        "country_name",
        "region",
        "city",
        "asn",
        "as_org",
        "malicious_confidence",
        "actor",
    ] {
        if let Some(value) = first.get(column).filter(|v| !matches!(v, Value::Null)) {
            origin.insert(column.to_string(), value.to_json());
        }
    }
    let received = time_of(first);
    let message_id = text_of(first, "message_id");
    let sender = text_of(first, "sender");
    let subject = text_of(first, "subject");
    let (same_sender, same_subject) = match received {
        Some(at) => {
            let near = QueryOptions {
                from: at - RELATED_WITHIN,
                to: at + RELATED_WITHIN,
                ..options.clone()
            };
            let sender_condition = sender
                .as_deref()
                .map(|s| format!("sender = {}", literal(s)));
            let subject_condition = subject
                .as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|s| format!("subject = {}", literal(s)));
            let mut found = Vec::new();
            for wanted in [sender_condition, subject_condition] {
                found.push(match wanted {
                    Some(wanted) => related(service, &near, &wanted, condition).await?,
                    None => Vec::new(),
                });
            }
            let same_subject = found.pop().unwrap_or_default();
            (found.pop().unwrap_or_default(), same_subject)
        }
        None => (Vec::new(), Vec::new()),
    };
    Ok(Some(Story {
        id: id.trim().to_string(),
        message_id,
        trace_ids,
        subject,
        sender,
        organization: text_of(first, "organization"),
        received,
        size: match first.get("size") {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        },
        from_ip: text_of(first, "from_ip"),
        origin,
        recipients,
        statuses,
        cut,
        same_sender,
        same_subject,
    }))
}

/// Other messages matching `wanted` in `options`' range: one line each, newest first.
async fn related(
    service: &QueryService,
    options: &QueryOptions,
    wanted: &str,
    this: &str,
) -> Result<Vec<Related>, QueryError> {
    let text = format!(
        "*\n{FIELDS}\n| where {wanted} and !({this})\n\
         | count as recipients, min(received) as first by trace_id, message_id, sender, subject\n\
         | sort by first desc, trace_id asc\n\
         | limit {MAX_RELATED}"
    );
    let result = run_query(service, text, options).await?;
    let index = |name: &str| result.columns.iter().position(|c| c == name);
    let (id, sender, subject, count, first) = (
        index("message_id"),
        index("sender"),
        index("subject"),
        index("recipients"),
        index("first"),
    );
    let text = |row: &[Value], at: Option<usize>| match at.map(|i| &row[i]) {
        Some(Value::Text(t)) => Some(t.clone()),
        _ => None,
    };
    Ok(result
        .rows
        .iter()
        .map(|row| Related {
            message_id: text(row, id),
            received: first.and_then(|i| time_value(&row[i])),
            sender: text(row, sender),
            subject: text(row, subject),
            recipients: match count.map(|i| &row[i]) {
                Some(Value::Int(n)) => *n,
                _ => 0,
            },
        })
        .collect())
}

/// A time cell: a time, epoch milliseconds (what `min` of a time gives) or RFC 3339 text.
fn time_value(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Time(ms) | Value::Int(ms) => DateTime::from_timestamp_millis(*ms),
        Value::Float(ms) if ms.is_finite() => DateTime::from_timestamp_millis(*ms as i64),
        Value::Text(text) => DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc()),
        _ => None,
    }
}

/// Text a person reads in a terminal: control characters of the message's own fields shown
/// escaped, never sent to the terminal.
fn shown(text: Option<&str>) -> String {
    match text {
        None => "-".into(),
        Some(text) => text
            .chars()
            .flat_map(|c| {
                if c.is_control() {
                    c.escape_default().collect::<Vec<_>>()
                } else {
                    vec![c]
                }
            })
            .collect(),
    }
}

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map_or("-".into(), |t| {
        t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    })
}

pub fn write_story(out: &mut dyn Write, story: &Story) -> Result<()> {
    writeln!(out, "Message {}", shown(story.message_id.as_deref()))?;
    writeln!(out, "  subject:  {}", shown(story.subject.as_deref()))?;
    writeln!(out, "  sender:   {}", shown(story.sender.as_deref()))?;
    writeln!(out, "  received: {}", time(story.received))?;
    if let Some(size) = story.size {
        writeln!(out, "  size:     {size} bytes")?;
    }
    if let Some(organization) = &story.organization {
        writeln!(out, "  tenant:   {}", shown(Some(organization)))?;
    }
    writeln!(out, "  trace ids: {}", story.trace_ids.join(", "))?;
    let origin = |name: &str| {
        story.origin.get(name).map(|v| match v {
            serde_json::Value::String(s) => shown(Some(s)),
            other => other.to_string(),
        })
    };
    let place: Vec<String> = ["city", "region", "country_name"]
        .iter()
        .filter_map(|c| origin(c))
        .collect();
    let network = match (origin("asn"), origin("as_org")) {
        (Some(asn), Some(org)) => format!("AS{asn} {org}"),
        (Some(asn), None) => format!("AS{asn}"),
        _ => "network unknown".into(),
    };
    let threat = match origin("malicious_confidence") {
        Some(confidence) => format!(
            "LISTED by the threat feeds (confidence {confidence}{})",
            origin("actor")
                .map(|a| format!(", actor {a}"))
                .unwrap_or_default()
        ),
        None => "not listed by the threat feeds".into(),
    };
    writeln!(
        out,
        "  from IP:  {} — {}; {}; {}",
        shown(story.from_ip.as_deref()),
        if place.is_empty() {
            "location unknown".to_string()
        } else {
            place.join(", ")
        },
        network,
        threat
    )?;
    let statuses: Vec<String> = story
        .statuses
        .iter()
        .map(|(status, n)| format!("{n} {}", shown(Some(status))))
        .collect();
    writeln!(
        out,
        "\nRecipients ({}{}): {}",
        story.recipients.len(),
        if story.cut { ", more not shown" } else { "" },
        statuses.join(", ")
    )?;
    for r in &story.recipients {
        writeln!(
            out,
            "  {}  {:<40}  {:<15}  {}",
            time(r.received),
            shown(r.recipient.as_deref()),
            shown(r.status.as_deref()),
            shown(r.to_ip.as_deref())
        )?;
    }
    for (title, related) in [
        ("same sender", &story.same_sender),
        ("same subject", &story.same_subject),
    ] {
        writeln!(out, "\nWithin an hour, {title} ({}):", related.len())?;
        for r in related {
            writeln!(
                out,
                "  {}  {}  {}  {} recipient(s)  {}",
                time(r.received),
                shown(r.message_id.as_deref()),
                shown(r.sender.as_deref()),
                r.recipients,
                shown(r.subject.as_deref())
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_subjects_are_quoted_never_spliced() {
        assert_eq!(literal(r#"a"b\c"#), r#""a\"b\\c""#);
        // Whatever the id holds, the condition compiles into the query.
        for id in [
            "<abc@contoso.com>",
            "abc@contoso.com",
            "EB3A7708-9844-E204-4046-9628BF5FE423",
            r#"<x" or true or "@evil>"#,
            "<a\\\"@b> | count",
            "<新しい@例え.jp>",
        ] {
            let condition = id_condition(id).unwrap();
            let text = format!("*\n{FIELDS}\n| where {condition}\n| count");
            let query = mailscope_query::compile(&text)
                .unwrap_or_else(|d| panic!("{id}: {condition}: {d:?}"));
            // One where stage: the id did not escape its literal.
            let wheres = query
                .stages
                .iter()
                .filter(|s| matches!(s.kind, mailscope_query::ir::StageKind::Where(_)))
                .count();
            assert_eq!(wheres, 1, "{id}: {condition}");
        }
        assert!(id_condition("  ").is_err());
        assert!(id_condition(&"x".repeat(2_000)).is_err());
    }

    #[test]
    fn a_network_message_id_in_any_print_is_the_trace_id() {
        for id in [
            "EB3A7708-9844-E204-4046-9628BF5FE423",
            "{eb3a7708-9844-e204-4046-9628bf5fe423}",
            "EB3A77089844E20440469628BF5FE423",
        ] {
            let condition = id_condition(id).unwrap();
            assert!(
                condition
                    .contains(r#"toLowerCase(trace_id) = "eb3a7708-9844-e204-4046-9628bf5fe423""#),
                "{id}: {condition}"
            );
        }
    }
}
