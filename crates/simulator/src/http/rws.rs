//! The Reporting Web Service `MessageTrace` report:
//! `GET /ecp/reportingwebservice/reporting.svc/MessageTrace` (path case-insensitive).
//!
//! * `$filter`: `StartDate eq datetime'…' and EndDate eq datetime'…'` (both or neither;
//!   neither means the last 48 hours), plus `eq` on any text property (`SenderAddress`,
//!   `RecipientAddress`, `Status`, `MessageId`, `MessageTraceId` with `guid'…'`, …), `Size`,
//!   and `Received` with `ge`/`gt`/`le`/`lt`. Property names are case-sensitive, as in OData.
//! * A row is in the window when `StartDate <= Received <= EndDate`. The service keeps 10 days:
//!   a `StartDate` before midnight UTC ten days ago is refused, older rows are never returned.
//! * `$top` caps the whole result (WCF semantics), pages hold at most the configured page size
//!   (2000 by default) and chain through a relative `odata.nextLink` (`../../…`) or, in
//!   verbose JSON, an absolute `__next`. A numeric `$skiptoken` is an offset, as some clients
//!   use it.
//! * JSON light by default; verbose OData (`{"d":{"results":[…]}}`, `/Date(ms)/`) with
//!   `$format=json` or `Accept: application/json;odata=verbose`.
//! * Rows are oldest first unless `$orderby` says otherwise; each echoes the query's
//!   `StartDate`/`EndDate` and its `Index` in the result.

use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use mailscope_record::time::{format_trace_time, parse_trace_time};
use mailscope_record::{Format, Record, Status};

use super::filter::{self, Condition, Literal, Op};
use super::page::{self, OptionProblem, Params, Rendered};
use super::query::{self, Cursor, Field, Matcher, Query, Start};
use super::responses::{RWS_LIGHT_JSON, RWS_VERBOSE_JSON, Refusal};
use super::server::State;

/// How far back the service reaches, in days before today's midnight (UTC).
pub const RWS_HISTORY_DAYS: i64 = 10;
/// The window used when the filter names no dates.
const DEFAULT_WINDOW_HOURS: i64 = 48;
const ENTITY: &str = "TenantReporting.MessageTrace";
/// The path clients continue at, relative to the report's URL.
const NEXT_PATH: &str = "../../ReportingWebService/Reporting.svc/MessageTrace";
const OPTIONS: &[&str] = &[
    "$filter",
    "$top",
    "$skiptoken",
    "$select",
    "$orderby",
    "$format",
];
const FIELDS: &[(&str, Option<Field>)] = &[
    ("Organization", Some(Field::Organization)),
    ("MessageId", Some(Field::MessageId)),
    ("Received", Some(Field::Received)),
    ("SenderAddress", Some(Field::SenderAddress)),
    ("RecipientAddress", Some(Field::RecipientAddress)),
    ("Subject", Some(Field::Subject)),
    ("Status", Some(Field::Status)),
    ("ToIP", Some(Field::ToIp)),
    ("FromIP", Some(Field::FromIp)),
    ("Size", Some(Field::Size)),
    ("MessageTraceId", Some(Field::MessageTraceId)),
    ("StartDate", None),
    ("EndDate", None),
    ("Index", None),
];

/// A request to the report, with what the dispatcher knows.
pub(crate) struct RwsRequest<'a> {
    pub params: &'a Params,
    pub accept: Option<&'a str>,
    pub now: DateTime<Utc>,
    /// `http://host`, for the absolute `__next` of verbose pages.
    pub origin: &'a str,
}

fn bad(message: impl Into<String>) -> Refusal {
    Refusal::bad(message)
}

fn no_property(name: &str) -> Refusal {
    bad(format!(
        "Type '{ENTITY}' does not have a property named '{}'.",
        page::clip(name)
    ))
}

/// The skip token error (expired or not ours); also what the `expired-link` fault sends.
pub(crate) fn expired_link() -> Refusal {
    bad("The skip token is not valid or has expired. Run the query again without $skiptoken.")
}

struct Window {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// Answers the report; `Err` is an error response to send as is.
pub(crate) fn handle(state: &State, request: &RwsRequest<'_>) -> Result<Rendered, Refusal> {
    let params = request.params;
    params
        .check_options(OPTIONS)
        .map_err(|problem| match problem {
            OptionProblem::Unknown(name) => bad(format!(
                "The query parameter '{name}' begins with a system-reserved '$' character but is \
             not recognized."
            )),
            OptionProblem::Repeated(name) => bad(format!(
                "Query option '{name}' was specified more than once, but it must be specified at \
             most once."
            )),
        })?;
    let verbose = match params.get("$format") {
        Some(format) if format.eq_ignore_ascii_case("json") => true,
        Some(_) => {
            return Err(Refusal {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "",
                message: "Unsupported media type requested. This simulator answers in JSON \
                          only ($format=json, or Accept: application/json)."
                    .to_owned(),
            });
        }
        None => request
            .accept
            .is_some_and(|accept| accept.to_ascii_lowercase().contains("odata=verbose")),
    };
    let filter_text = params.get("$filter").unwrap_or("");
    let orderby = params.get("$orderby").unwrap_or("");
    let binding = format!("rws\n{filter_text}\n{orderby}");
    let cursor = match params.get("$skiptoken") {
        None => None,
        Some(token) if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) => {
            let offset = token.parse().map_err(|_| expired_link())?;
            Some(Cursor {
                as_of: request.now,
                start: Start::Offset(offset),
                remaining: None,
                issued: request.now,
            })
        }
        Some(token) => {
            let cursor = Cursor::decode(token, state.secret, &binding).ok_or_else(expired_link)?;
            if cursor.expired(request.now, state.settings.link_lifetime) {
                return Err(expired_link());
            }
            Some(cursor)
        }
    };
    let as_of = cursor.map_or(request.now, |c| c.as_of);
    let (mut query, window) = parse_filter(filter_text, as_of)?;
    apply_orderby(&mut query, orderby)?;
    let select = parse_select(params.get("$select"))?;
    let top = match params.get("$top") {
        None => None,
        Some(text) => Some(text.trim().parse::<u64>().map_err(|_| {
            bad(format!(
                "Incorrect format for $top argument '{}'.",
                page::clip(text)
            ))
        })?),
    };
    // `$top` of the first request, or what the previous page left of it.
    let remaining = match cursor {
        Some(Cursor {
            remaining: Some(left),
            ..
        }) => Some(left),
        _ => top,
    };
    let start = cursor.map_or(Start::Offset(0), |c| c.start);
    let size = remaining.map_or(state.settings.rws_page_size, |left| {
        usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(state.settings.rws_page_size)
    });
    let selected = query::select(&state.dataset, &query, as_of, start, size);
    let left_after = remaining.map(|left| left.saturating_sub(selected.rows.len() as u64));
    let next = selected
        .next
        .filter(|_| left_after.is_none_or(|left| left > 0));
    let start_echo = format_trace_time(window.start);
    let end_echo = format_trace_time(window.end);
    let rows: Vec<Record> = selected
        .rows
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let mut row = (*record).clone();
            row.status = reporting_status(row.status);
            row.start_date = Some(start_echo.clone());
            row.end_date = Some(end_echo.clone());
            row.index = i64::try_from(selected.first_index + i as u64).ok();
            row
        })
        .collect();
    let next_link = next.map(|start| {
        let token = Cursor {
            as_of,
            start,
            remaining: left_after,
            issued: request.now,
        }
        .encode(state.secret, &binding);
        let mut options: Vec<(&str, &str)> = Vec::new();
        for name in ["$filter", "$select", "$orderby", "$format"] {
            if let Some(value) = params.get(name) {
                options.push((name, value));
            }
        }
        options.push(("$skiptoken", &token));
        let relative = page::link(NEXT_PATH, &options);
        if verbose {
            format!("{}/ecp/{}", request.origin, &relative[6..])
        } else {
            relative
        }
    });
    let (format, content_type) = if verbose {
        (Format::ReportingVerbose, RWS_VERBOSE_JSON)
    } else {
        (Format::ReportingJson, RWS_LIGHT_JSON)
    };
    let rendered = page::render(format, &rows, next_link.as_deref(), content_type)
        .map_err(|_| Refusal::internal())?;
    match select {
        Some(fields) => page::project(rendered, &fields).map_err(|_| Refusal::internal()),
        None => Ok(rendered),
    }
}

fn literal_time(value: &Literal, filter_text: &str, at: usize) -> Result<DateTime<Utc>, Refusal> {
    match value {
        Literal::DateTime(text) => parse_trace_time(text).map_err(|_| {
            bad(format!(
                "Unrecognized 'Edm.DateTime' literal 'datetime'{}'' at '{at}' in '{}'.",
                page::clip(text),
                page::clip(filter_text)
            ))
        }),
        other => Err(bad(format!(
            "Operator 'eq' incompatible with operand types 'System.DateTime' and '{}' at \
             position {at}.",
            match other {
                Literal::Guid(_) => "System.Guid",
                _ => "System.String",
            }
        ))),
    }
}

fn parse_filter(filter_text: &str, as_of: DateTime<Utc>) -> Result<(Query, Window), Refusal> {
    let conditions = filter::parse(filter_text).map_err(|error| bad(error.to_string()))?;
    let mut start = None;
    let mut end = None;
    let mut from = DateTime::<Utc>::MIN_UTC;
    let mut to = DateTime::<Utc>::MAX_UTC;
    let mut matchers = Vec::new();
    for condition in &conditions {
        let (property, op, value, at) = match condition {
            Condition::Compare {
                property,
                op,
                value,
                at,
            } => (property.as_str(), *op, value, *at),
            Condition::Call { function, at, .. } => {
                return Err(bad(format!(
                    "Unknown function '{}' at position {at}.",
                    page::clip(function)
                )));
            }
        };
        let field = FIELDS
            .iter()
            .find(|(name, _)| *name == property)
            .ok_or_else(|| no_property(property))?;
        match (field.0, field.1) {
            ("StartDate" | "EndDate", _) => {
                if op != Op::Eq {
                    return Err(bad(format!(
                        "{property} is a report parameter: only 'eq' is supported, at position {at}."
                    )));
                }
                let time = literal_time(value, filter_text, at)?;
                let slot = if property == "StartDate" {
                    &mut start
                } else {
                    &mut end
                };
                if slot.replace(time).is_some() {
                    return Err(bad(format!("{property} is specified more than once.")));
                }
            }
            ("Index", _) => return Err(no_property(property)),
            (_, Some(Field::Received)) => {
                let time = literal_time(value, filter_text, at)?;
                let tick = TimeDelta::nanoseconds(100);
                match op {
                    Op::Ge => from = from.max(time),
                    Op::Gt => from = from.max(time + tick),
                    Op::Le => to = to.min(time),
                    Op::Lt => to = to.min(time - tick),
                    Op::Eq => {
                        from = from.max(time);
                        to = to.min(time);
                    }
                    Op::Ne => return Err(bad("'ne' is not supported on Received.")),
                }
            }
            (_, Some(field)) => {
                if op != Op::Eq {
                    return Err(bad(format!(
                        "Only 'eq' is supported on {property} by this service (position {at})."
                    )));
                }
                matchers.push(match (field, value) {
                    (Field::Status, value) => Matcher::Status(Status::parse(value.text())),
                    (Field::Size, Literal::Bare(number)) => {
                        Matcher::Size(number.parse().map_err(|_| {
                            bad(format!(
                                "Unrecognized 'Edm.Int32' literal '{}' at '{at}'.",
                                page::clip(number)
                            ))
                        })?)
                    }
                    (Field::Size, _) => {
                        return Err(bad(format!(
                            "Operator 'eq' incompatible with operand types 'System.Int32' and \
                             'System.String' at position {at}."
                        )));
                    }
                    (_, Literal::Text(text) | Literal::Guid(text)) => {
                        Matcher::Equals(field, text.clone())
                    }
                    _ => {
                        return Err(bad(format!(
                            "Operator 'eq' incompatible with the literal for {property} at \
                             position {at}."
                        )));
                    }
                });
            }
            (_, None) => return Err(no_property(property)),
        }
    }
    let window = match (start, end) {
        (Some(start), Some(end)) => Window { start, end },
        (None, None) => Window {
            start: as_of - TimeDelta::hours(DEFAULT_WINDOW_HOURS),
            end: as_of,
        },
        _ => {
            return Err(bad(
                "StartDate and EndDate must be specified together (EndDate requires StartDate).",
            ));
        }
    };
    if window.end < window.start {
        return Err(bad("EndDate must be later than StartDate."));
    }
    let cutoff = history_start(as_of);
    if window.start < cutoff {
        return Err(bad(
            "Invalid StartDate value. The StartDate can't be older than 10 days from today.",
        ));
    }
    let query = Query {
        from: from.max(window.start).max(cutoff),
        to: to.min(window.end),
        matchers,
        descending: false,
        order: None,
    };
    Ok((query, window))
}

/// Midnight UTC `RWS_HISTORY_DAYS` before `at`'s day: the oldest `Received` served.
pub(crate) fn history_start(at: DateTime<Utc>) -> DateTime<Utc> {
    let midnight = at
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(at, |naive| naive.and_utc());
    midnight - TimeDelta::days(RWS_HISTORY_DAYS)
}

fn apply_orderby(query: &mut Query, orderby: &str) -> Result<(), Refusal> {
    let orderby = orderby.trim();
    if orderby.is_empty() {
        return Ok(());
    }
    if orderby.contains(',') {
        return Err(bad("This service orders by one property only."));
    }
    let mut words = orderby.split_whitespace();
    let name = words.next().unwrap_or("");
    let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            return Err(bad(format!(
                "Syntax error in $orderby '{}'.",
                page::clip(orderby)
            )));
        }
    };
    if words.next().is_some() {
        return Err(bad(format!(
            "Syntax error in $orderby '{}'.",
            page::clip(orderby)
        )));
    }
    let field = FIELDS
        .iter()
        .find(|(known, _)| *known == name)
        .and_then(|(_, field)| *field)
        .ok_or_else(|| no_property(name))?;
    if field == Field::Received {
        query.descending = descending;
    } else {
        query.order = Some((field, descending));
    }
    Ok(())
}

fn parse_select(select: Option<&str>) -> Result<Option<Vec<&'static str>>, Refusal> {
    let Some(select) = select else {
        return Ok(None);
    };
    let mut fields = Vec::new();
    for name in select.split(',').map(str::trim) {
        if name == "*" {
            return Ok(None);
        }
        let (known, _) = FIELDS
            .iter()
            .find(|(known, _)| *known == name)
            .ok_or_else(|| no_property(name))?;
        fields.push(*known);
    }
    Ok(Some(fields))
}

/// A status as the Reporting Web Service shows it: it has no recalled status, so a recalled
/// message reads as what it was before, delivered.
pub(crate) fn reporting_status(status: Status) -> Status {
    match status {
        Status::Recalled => Status::Delivered,
        status => status,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn history_counts_from_midnight() {
        let at = Utc.with_ymd_and_hms(2026, 3, 20, 15, 30, 0).unwrap();
        assert_eq!(
            history_start(at),
            Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn filters_map_to_queries_or_errors() {
        let at = Utc.with_ymd_and_hms(2026, 3, 20, 15, 30, 0).unwrap();
        let (query, window) = parse_filter(
            "StartDate eq datetime'2026-03-19T00:00:00Z' and EndDate eq datetime'2026-03-19T06:00:00' \
             and RecipientAddress eq 'a@b.com' and Status eq 'Delivered' and Size eq 42",
            at,
        )
        .unwrap();
        assert_eq!(
            window.start,
            Utc.with_ymd_and_hms(2026, 3, 19, 0, 0, 0).unwrap()
        );
        assert_eq!(
            query.to,
            Utc.with_ymd_and_hms(2026, 3, 19, 6, 0, 0).unwrap()
        );
        assert_eq!(query.matchers.len(), 3);
        let (query, _) = parse_filter("", at).unwrap();
        assert_eq!(query.to - query.from, TimeDelta::hours(48));
        for refused in [
            "StartDate eq datetime'2026-03-19T00:00:00Z'",
            "StartDate eq datetime'2026-03-01T00:00:00Z' and EndDate eq datetime'2026-03-02T00:00:00Z'",
            "StartDate eq datetime'2026-03-19T00:00:00Z' and EndDate eq datetime'2026-03-18T00:00:00Z'",
            "StartDate eq '2026-03-19' and EndDate eq datetime'2026-03-19T06:00:00'",
            "StartDate ge datetime'2026-03-19T00:00:00Z'",
            "StartDate eq datetime'yesterday' and EndDate eq datetime'now'",
            "Recipient eq 'x'",
            "Index eq 1",
            "substringof('x', Subject)",
            "Size eq 'big'",
            "SenderAddress ne 'x'",
            "StartDate eq datetime'2026-03-19T00:00:00Z' and StartDate eq datetime'2026-03-19T00:00:00Z'",
        ] {
            assert!(parse_filter(refused, at).is_err(), "{refused}");
        }
    }
}
