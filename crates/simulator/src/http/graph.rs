//! Microsoft Graph `GET /v1.0/admin/exchange/tracing/messageTraces` (and `/beta/…`).
//!
//! * `$filter`: `receivedDateTime ge <t> and receivedDateTime le <t>` (unquoted ISO 8601;
//!   both or neither, neither meaning the last 48 hours), `eq` on `id`, `messageId`,
//!   `senderAddress`, `recipientAddress` (`'*@domain'` matches a domain), `fromIP`, `toIP`,
//!   `status`, and `contains`/`startswith`/`endswith` on `subject`. Anything else is a 400.
//! * The window may span at most 10 days, start at most 90 days before today's midnight UTC,
//!   and end no later than now.
//! * `$top` 1–5000 (default 1000) is the page size; pages chain through an absolute
//!   `@odata.nextLink`. Rows come newest first. `$select`, `$orderby` and `$count` are
//!   accepted and ignored, as observed on the real service.
//! * The tenant's quota (100 requests per 5 minutes by default) is enforced by the server.

use chrono::{DateTime, TimeDelta, Utc};
use mailscope_record::time::parse_trace_time;
use mailscope_record::{Format, Record, Status};

use super::filter::{self, Condition, Literal, Op};
use super::page::{self, OptionProblem, Params, Rendered};
use super::query::{self, Cursor, Field, Matcher, Query, Start, TextMatch};
use super::responses::{GRAPH_JSON, Refusal};
use super::server::State;

/// Longest window of one query.
pub const GRAPH_MAX_WINDOW_DAYS: i64 = 10;
/// How far back the service reaches, in days before today's midnight (UTC).
pub const GRAPH_HISTORY_DAYS: i64 = 90;
/// Largest `$top`.
pub const GRAPH_MAX_TOP: usize = 5000;
const DEFAULT_WINDOW_HOURS: i64 = 48;
/// How far past now an end bound may lie before it is refused (clock skew).
const END_TOLERANCE_SECONDS: i64 = 60;
const OPTIONS: &[&str] = &[
    "$filter",
    "$top",
    "$skiptoken",
    "$select",
    "$orderby",
    "$count",
];
const ENTITY: &str = "microsoft.graph.exchangeMessageTrace";

pub(crate) struct GraphRequest<'a> {
    pub params: &'a Params,
    pub now: DateTime<Utc>,
    /// `http://host`, for the absolute next link.
    pub origin: &'a str,
    /// `v1.0` or `beta`.
    pub version: &'a str,
    /// The client sent `Prefer: include-unknown-enum-members`: statuses added to the enum
    /// after v1.0 (`recalled`) are named; otherwise they read `unknownFutureValue`.
    pub unknown_enum_members: bool,
}

/// A status as Graph shows it: a member added to the enum after v1.0 (`recalled`) reads
/// `unknownFutureValue` unless the client asked for such members.
fn shown_status(status: Status, unknown_enum_members: bool) -> Status {
    match status {
        Status::Recalled if !unknown_enum_members => Status::Other("unknownFutureValue".into()),
        status => status,
    }
}

/// Whether a request's `Prefer` headers ask for the evolvable enums' later members.
pub(crate) fn asks_for_unknown_enum_members(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| {
            p.trim()
                .eq_ignore_ascii_case("include-unknown-enum-members")
        })
}

fn bad(message: impl Into<String>) -> Refusal {
    Refusal::bad(message)
}

/// The skip token error (expired or not ours); also what the `expired-link` fault sends.
pub(crate) fn expired_link() -> Refusal {
    bad(
        "The skip token is invalid or has expired. Please run the query again without a skip token.",
    )
}

pub(crate) fn handle(state: &State, request: &GraphRequest<'_>) -> Result<Rendered, Refusal> {
    let params = request.params;
    params
        .check_options(OPTIONS)
        .map_err(|problem| match problem {
            OptionProblem::Unknown(name) => bad(format!(
                "The query specified in the URI is not valid. Query option '{name}' is not \
                 allowed. To allow it, set the 'AllowedQueryOptions' property on \
                 EnableQueryAttribute or QueryValidationSettings."
            )),
            OptionProblem::Repeated(name) => bad(format!(
                "Query option '{name}' was specified more than once, but it must be specified \
                 at most once."
            )),
        })?;
    let size = match params.get("$top") {
        None => state.settings.graph_page_size,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(top) if (1..=GRAPH_MAX_TOP).contains(&top) => top,
            _ => {
                return Err(bad(format!(
                    "Invalid value '{}' for $top. $top must be an integer between 1 and \
                         {GRAPH_MAX_TOP}.",
                    page::clip(text)
                )));
            }
        },
    };
    let filter_text = params.get("$filter").unwrap_or("");
    let binding = format!("graph\n{filter_text}");
    let cursor = match params.get("$skiptoken") {
        None => None,
        Some(token) => {
            let cursor = Cursor::decode(token, state.secret, &binding).ok_or_else(expired_link)?;
            if cursor.expired(request.now, state.settings.link_lifetime) {
                return Err(expired_link());
            }
            Some(cursor)
        }
    };
    let as_of = cursor.map_or(request.now, |c| c.as_of);
    let query = parse_filter(filter_text, as_of)?;
    let start = cursor.map_or(Start::Offset(0), |c| c.start);
    let selected = query::select(&state.dataset, &query, as_of, start, size);
    let rows: Vec<Record> = selected
        .rows
        .iter()
        .map(|r| {
            let mut row = (*r).clone();
            row.status = shown_status(row.status, request.unknown_enum_members);
            row
        })
        .collect();
    let next_link = selected.next.map(|start| {
        let token = Cursor {
            as_of,
            start,
            remaining: None,
            issued: request.now,
        }
        .encode(state.secret, &binding);
        let mut options: Vec<(&str, &str)> = Vec::new();
        for name in ["$filter", "$top"] {
            if let Some(value) = params.get(name) {
                options.push((name, value));
            }
        }
        options.push(("$skiptoken", &token));
        page::link(
            &format!(
                "{}/{}/admin/exchange/tracing/messageTraces",
                request.origin, request.version
            ),
            &options,
        )
    });
    page::render(Format::GraphJson, &rows, next_link.as_deref(), GRAPH_JSON)
        .map_err(|_| Refusal::internal())
}

/// Midnight UTC `GRAPH_HISTORY_DAYS` before `at`'s day: the oldest start accepted.
pub(crate) fn history_start(at: DateTime<Utc>) -> DateTime<Utc> {
    let midnight = at
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(at, |naive| naive.and_utc());
    midnight - TimeDelta::days(GRAPH_HISTORY_DAYS)
}

fn property(name: &str) -> Option<Field> {
    const PROPERTIES: &[(&str, Field)] = &[
        ("receivedDateTime", Field::Received),
        ("id", Field::MessageTraceId),
        ("messageId", Field::MessageId),
        ("senderAddress", Field::SenderAddress),
        ("recipientAddress", Field::RecipientAddress),
        ("fromIP", Field::FromIp),
        ("toIP", Field::ToIp),
        ("status", Field::Status),
        ("subject", Field::Subject),
        ("size", Field::Size),
    ];
    PROPERTIES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, field)| *field)
}

fn parse_filter(filter_text: &str, as_of: DateTime<Utc>) -> Result<Query, Refusal> {
    let conditions = filter::parse(filter_text)
        .map_err(|error| bad(format!("Invalid filter clause: {error}")))?;
    let no_property = |name: &str| {
        bad(format!(
            "Could not find a property named '{}' on type '{ENTITY}'.",
            page::clip(name)
        ))
    };
    let mut start = None;
    let mut end = None;
    let mut matchers = Vec::new();
    for condition in &conditions {
        match condition {
            Condition::Compare {
                property: name,
                op,
                value,
                at,
            } => {
                let field = property(name).ok_or_else(|| no_property(name))?;
                match field {
                    Field::Received => {
                        let slot = match op {
                            Op::Ge => &mut start,
                            Op::Le => &mut end,
                            _ => {
                                return Err(bad(format!(
                                    "Unsupported operator '{}' on receivedDateTime at \
                                         position {at}: use 'ge' for the start and 'le' for \
                                         the end.",
                                    op.name()
                                )));
                            }
                        };
                        let time = parse_trace_time(value.text()).map_err(|_| {
                            bad(format!(
                                "The DateTimeOffset text '{}' should be in format \
                                     'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?' and each field \
                                     value is within valid range.",
                                page::clip(value.text())
                            ))
                        })?;
                        if slot.replace(time).is_some() {
                            return Err(bad(format!(
                                "receivedDateTime {} is given more than once.",
                                op.name()
                            )));
                        }
                    }
                    Field::Subject | Field::Size => {
                        return Err(bad(format!(
                            "Filtering on '{}' with '{}' is not supported.",
                            page::clip(name),
                            op.name()
                        )));
                    }
                    field => {
                        if *op != Op::Eq {
                            return Err(bad(format!(
                                "Only the 'eq' operator is supported on '{}'.",
                                page::clip(name)
                            )));
                        }
                        let text = match value {
                            Literal::Text(text) | Literal::Guid(text) => text,
                            _ => {
                                return Err(bad(format!(
                                    "A string literal is expected for '{}' at position {at}.",
                                    page::clip(name)
                                )));
                            }
                        };
                        matchers.push(match field {
                            Field::Status => match Status::parse(text) {
                                Status::Other(_) | Status::None => {
                                    return Err(bad(format!(
                                        "The value '{}' is not a valid \
                                             exchangeMessageTraceStatus.",
                                        page::clip(text)
                                    )));
                                }
                                status => Matcher::Status(status),
                            },
                            Field::SenderAddress | Field::RecipientAddress
                                if text.starts_with("*@") =>
                            {
                                Matcher::DomainOf(field, text[2..].to_owned())
                            }
                            field => Matcher::Equals(field, text.clone()),
                        });
                    }
                }
            }
            Condition::Call {
                function,
                property: name,
                value,
                at,
            } => {
                let how = match function.to_ascii_lowercase().as_str() {
                    "contains" => TextMatch::Contains,
                    "startswith" => TextMatch::StartsWith,
                    "endswith" => TextMatch::EndsWith,
                    _ => {
                        return Err(bad(format!(
                            "Unknown function '{}' at position {at}.",
                            page::clip(function)
                        )));
                    }
                };
                let field = property(name).ok_or_else(|| no_property(name))?;
                let Literal::Text(text) = value else {
                    return Err(bad(format!(
                        "A string literal is expected at position {at}."
                    )));
                };
                if field != Field::Subject {
                    return Err(bad(format!(
                        "The function '{}' is supported on 'subject' only.",
                        page::clip(function)
                    )));
                }
                matchers.push(Matcher::Text(how, field, text.clone()));
            }
        }
    }
    let (from, to) = match (start, end) {
        (Some(start), Some(end)) => (start, end),
        (None, None) => (as_of - TimeDelta::hours(DEFAULT_WINDOW_HOURS), as_of),
        _ => {
            return Err(bad(
                "Both a start (receivedDateTime ge) and an end (receivedDateTime le) must be \
                 specified.",
            ));
        }
    };
    if to < from {
        return Err(bad("The end date must be later than the start date."));
    }
    if to - from > TimeDelta::days(GRAPH_MAX_WINDOW_DAYS) {
        return Err(bad(
            "The date range between the start date and the end date cannot exceed 10 days.",
        ));
    }
    if from < history_start(as_of) {
        return Err(bad(
            "The start date cannot be older than 90 days. Please specify a start date within \
             the last 90 days.",
        ));
    }
    if to > as_of + TimeDelta::seconds(END_TOLERANCE_SECONDS) {
        return Err(bad("The end date cannot be later than the current time."));
    }
    Ok(Query {
        from,
        to,
        matchers,
        descending: true,
        order: None,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// `recalled` only to a client that sends `Prefer: include-unknown-enum-members` (among
    /// other preferences, any case); every status Graph had at v1.0 as it is.
    #[test]
    fn recalled_is_named_only_to_a_client_that_asks() {
        let mut asking = axum::http::HeaderMap::new();
        asking.append("prefer", "odata.maxpagesize=10".parse().unwrap());
        assert!(!asks_for_unknown_enum_members(&asking));
        asking.append(
            "Prefer",
            "return=minimal, Include-Unknown-Enum-Members"
                .parse()
                .unwrap(),
        );
        assert!(asks_for_unknown_enum_members(&asking));
        assert_eq!(shown_status(Status::Recalled, true), Status::Recalled);
        assert_eq!(
            shown_status(Status::Recalled, false).as_graph_str(),
            "unknownFutureValue"
        );
        for status in Status::KNOWN {
            assert_eq!(shown_status(status.clone(), false), status);
        }
    }

    #[test]
    fn filters_map_to_queries_or_errors() {
        let at = Utc.with_ymd_and_hms(2026, 3, 20, 15, 30, 0).unwrap();
        let query = parse_filter(
            "receivedDateTime ge 2026-03-19T00:00:00Z and receivedDateTime le 2026-03-19T06:00:00Z \
             and senderAddress eq '*@contoso.com' and status eq 'delivered' \
             and contains(subject, 'digest')",
            at,
        )
        .unwrap();
        assert_eq!(
            query.from,
            Utc.with_ymd_and_hms(2026, 3, 19, 0, 0, 0).unwrap()
        );
        assert_eq!(
            query.matchers[0],
            Matcher::DomainOf(Field::SenderAddress, "contoso.com".into())
        );
        assert_eq!(query.matchers.len(), 3);
        assert!(query.descending);
        let default = parse_filter("", at).unwrap();
        assert_eq!(default.to - default.from, TimeDelta::hours(48));
        for refused in [
            "receivedDateTime ge 2026-03-19T00:00:00Z",
            "receivedDateTime ge 2026-03-01T00:00:00Z and receivedDateTime le 2026-03-12T00:00:00Z",
            "receivedDateTime ge 2025-12-01T00:00:00Z and receivedDateTime le 2025-12-02T00:00:00Z",
            "receivedDateTime ge 2026-03-20T00:00:00Z and receivedDateTime le 2026-03-21T00:00:00Z",
            "receivedDateTime gt 2026-03-19T00:00:00Z and receivedDateTime lt 2026-03-19T06:00:00Z",
            "receivedDateTime ge yesterday and receivedDateTime le today",
            "status eq 'sunny'",
            "colour eq 'red'",
            "senderAddress ne 'a@b.com'",
            "contains(senderAddress, 'x')",
            "matches(subject, 'x')",
            "subject eq 'x'",
            "id eq 42",
        ] {
            assert!(parse_filter(refused, at).is_err(), "{refused}");
        }
    }
}
