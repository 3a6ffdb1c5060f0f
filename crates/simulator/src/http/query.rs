//! What both APIs share once their parameters are parsed: a [`Query`] (a `received` range and
//! property matchers), page selection over the dataset at a fixed instant, and the skip
//! token that carries a paging run from one request to the next.
//!
//! A paging run is a snapshot: the first page fixes the instant (`as_of`) whose visibility
//! every later page uses, so rows arriving or changing status while a client pages neither
//! shift the pages nor appear twice. The next run sees them.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use chrono::{DateTime, TimeDelta, Utc};
use mailscope_record::{Record, Status};

use super::dataset::Dataset;

/// A record property a filter or an ordering can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Organization,
    MessageId,
    Received,
    SenderAddress,
    RecipientAddress,
    Subject,
    Status,
    ToIp,
    FromIp,
    Size,
    MessageTraceId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextMatch {
    Contains,
    StartsWith,
    EndsWith,
}

/// One condition besides the time range; all must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Matcher {
    /// Case-insensitive equality of a text field (`None` matches a missing value when the
    /// literal is empty).
    Equals(Field, String),
    /// `senderAddress eq '*@contoso.com'`: Graph's domain wildcard.
    DomainOf(Field, String),
    Status(Status),
    Size(i64),
    Text(TextMatch, Field, String),
}

fn text(record: &Record, field: Field) -> Option<&str> {
    Some(match field {
        Field::Organization => &record.organization,
        Field::MessageId => record.message_id.as_deref()?,
        Field::SenderAddress => &record.sender_address,
        Field::RecipientAddress => &record.recipient_address,
        Field::Subject => &record.subject,
        Field::Status => record.status.as_str(),
        Field::ToIp => record.to_ip.as_deref()?,
        Field::FromIp => record.from_ip.as_deref()?,
        Field::MessageTraceId => &record.message_trace_id,
        Field::Received | Field::Size => return None,
    })
}

impl Matcher {
    fn matches(&self, record: &Record) -> bool {
        match self {
            Matcher::Equals(field, wanted) => match text(record, *field) {
                Some(value) => value.eq_ignore_ascii_case(wanted),
                None => wanted.is_empty(),
            },
            Matcher::DomainOf(field, domain) => text(record, *field).is_some_and(|value| {
                value
                    .rsplit_once('@')
                    .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain))
            }),
            Matcher::Status(status) => &record.status == status,
            Matcher::Size(size) => record.size == *size,
            Matcher::Text(how, field, wanted) => {
                let value = text(record, *field).unwrap_or("").to_lowercase();
                let wanted = wanted.to_lowercase();
                match how {
                    TextMatch::Contains => value.contains(&wanted),
                    TextMatch::StartsWith => value.starts_with(&wanted),
                    TextMatch::EndsWith => value.ends_with(&wanted),
                }
            }
        }
    }
}

/// A validated query: rows with `from <= received <= to` matching every matcher.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub matchers: Vec<Matcher>,
    /// Newest first (Graph) rather than oldest first.
    pub descending: bool,
    /// An explicit `$orderby` other than the natural order: (field, descending).
    pub order: Option<(Field, bool)>,
}

impl Query {
    fn admits(&self, record: &Record) -> bool {
        self.matchers.iter().all(|m| m.matches(record))
    }
}

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// From a skip token of ours: the dataset position to continue at and the rows so far.
    Cursor { position: usize, emitted: u64 },
    /// Skip this many matching rows (a numeric `$skiptoken`, as some clients send).
    Offset(u64),
}

/// One page of rows, and where the next one starts if there are more.
#[derive(Debug)]
pub(crate) struct Page<'a> {
    pub rows: Vec<&'a Record>,
    /// Result-set position (`Index`) of the first row.
    pub first_index: u64,
    pub next: Option<Start>,
}

/// Selects up to `size` rows of `query` as visible at `as_of`.
pub(crate) fn select<'a>(
    dataset: &'a Dataset,
    query: &Query,
    as_of: DateTime<Utc>,
    start: Start,
    size: usize,
) -> Page<'a> {
    if query.order.is_some() {
        return select_sorted(dataset, query, as_of, start, size);
    }
    let range = dataset.range(query.from, query.to);
    let entries = dataset.entries();
    let visible = |index: usize| {
        entries[index]
            .visible(as_of)
            .filter(|record| query.admits(record))
    };
    // Positions walk the range upwards (ascending) or downwards (descending); `position` is
    // the next index to look at, or for descending one past it.
    let mut rows = Vec::with_capacity(size.min(4096));
    let (mut position, mut emitted, mut skip) = match start {
        Start::Cursor { position, emitted } => (position, emitted, 0),
        Start::Offset(offset) => {
            let origin = if query.descending {
                range.end
            } else {
                range.start
            };
            (origin, offset, offset)
        }
    };
    let first_index = emitted;
    // A position outside the range can only come from a tampered-with but well-formed token
    // or a range that moved; either way, continue from the nearest edge.
    position = position.clamp(range.start, range.end);
    let mut more = false;
    loop {
        let index = if query.descending {
            if position <= range.start {
                break;
            }
            position - 1
        } else {
            if position >= range.end {
                break;
            }
            position
        };
        if let Some(record) = visible(index) {
            if skip > 0 {
                skip -= 1;
            } else if rows.len() == size {
                more = true;
                break;
            } else {
                rows.push(record);
                emitted += 1;
            }
        }
        position = if query.descending {
            position - 1
        } else {
            position + 1
        };
    }
    Page {
        rows,
        first_index,
        next: more.then_some(Start::Cursor { position, emitted }),
    }
}

/// `$orderby` on something else than the natural order: the whole match set is sorted, and
/// pages are offsets into it.
fn select_sorted<'a>(
    dataset: &'a Dataset,
    query: &Query,
    as_of: DateTime<Utc>,
    start: Start,
    size: usize,
) -> Page<'a> {
    let range = dataset.range(query.from, query.to);
    let mut all: Vec<&Record> = dataset.entries()[range]
        .iter()
        .filter_map(|entry| entry.visible(as_of))
        .filter(|record| query.admits(record))
        .collect();
    if let Some((field, descending)) = query.order {
        all.sort_by(|a, b| {
            let ordering = compare(a, b, field);
            if descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
    }
    let offset = match start {
        Start::Cursor { emitted, .. } => emitted,
        Start::Offset(offset) => offset,
    };
    let begin = usize::try_from(offset).unwrap_or(usize::MAX).min(all.len());
    let end = begin.saturating_add(size).min(all.len());
    let rows = all[begin..end].to_vec();
    let emitted = offset + rows.len() as u64;
    Page {
        rows,
        first_index: offset,
        next: (end < all.len()).then_some(Start::Cursor {
            position: 0,
            emitted,
        }),
    }
}

fn compare(a: &Record, b: &Record, field: Field) -> Ordering {
    let primary = match field {
        Field::Received => a.received.cmp(&b.received),
        Field::Size => a.size.cmp(&b.size),
        Field::Status => a.status.as_str().cmp(b.status.as_str()),
        other => text(a, other).cmp(&text(b, other)),
    };
    // Ties fall back to the natural order so pages are stable.
    primary
        .then(a.received.cmp(&b.received))
        .then_with(|| a.message_trace_id.cmp(&b.message_trace_id))
        .then_with(|| a.recipient_address.cmp(&b.recipient_address))
}

/// The state a skip token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub as_of: DateTime<Utc>,
    pub start: Start,
    /// Rows still owed under the Reporting Web Service's `$top` (a total, not a page size).
    pub remaining: Option<u64>,
    pub issued: DateTime<Utc>,
}

impl Cursor {
    /// `v1.<as_of µs>.<position>.<emitted>.<remaining|n>.<issued ms>.<mac>`: opaque to clients,
    /// bound by the MAC to the query it continues (`binding`) so it cannot be reused with
    /// another filter, and unforgeable enough for a simulator.
    pub(crate) fn encode(&self, secret: u64, binding: &str) -> String {
        let (position, emitted) = match self.start {
            Start::Cursor { position, emitted } => (position as u64, emitted),
            Start::Offset(offset) => (u64::MAX, offset),
        };
        let remaining = self
            .remaining
            .map_or_else(|| "n".to_owned(), |r| r.to_string());
        let body = format!(
            "v1.{}.{position}.{emitted}.{remaining}.{}",
            self.as_of.timestamp_micros(),
            self.issued.timestamp_millis()
        );
        let mac = mac(secret, &body, binding);
        format!("{body}.{mac:016x}")
    }

    pub(crate) fn decode(text: &str, secret: u64, binding: &str) -> Option<Cursor> {
        if text.len() > 200 {
            return None;
        }
        let (body, mac_text) = text.rsplit_once('.')?;
        if u64::from_str_radix(mac_text, 16).ok()? != mac(secret, body, binding) {
            return None;
        }
        let mut parts = body.split('.');
        if parts.next()? != "v1" {
            return None;
        }
        let as_of = DateTime::from_timestamp_micros(parts.next()?.parse().ok()?)?;
        let position: u64 = parts.next()?.parse().ok()?;
        let emitted: u64 = parts.next()?.parse().ok()?;
        let remaining = match parts.next()? {
            "n" => None,
            number => Some(number.parse().ok()?),
        };
        let issued = DateTime::from_timestamp_millis(parts.next()?.parse().ok()?)?;
        if parts.next().is_some() {
            return None;
        }
        let start = if position == u64::MAX {
            Start::Offset(emitted)
        } else {
            Start::Cursor {
                position: usize::try_from(position).ok()?,
                emitted,
            }
        };
        Some(Cursor {
            as_of,
            start,
            remaining,
            issued,
        })
    }

    /// Whether the link has outlived `lifetime` at `now`.
    pub(crate) fn expired(
        &self,
        now: DateTime<Utc>,
        lifetime: Option<std::time::Duration>,
    ) -> bool {
        lifetime
            .and_then(|l| TimeDelta::from_std(l).ok())
            .is_some_and(|l| now - self.issued > l)
    }
}

fn mac(secret: u64, body: &str, binding: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    secret.hash(&mut hasher);
    body.hash(&mut hasher);
    binding.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_tampering() {
        let cursor = Cursor {
            as_of: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            start: Start::Cursor {
                position: 42,
                emitted: 17,
            },
            remaining: Some(5),
            issued: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 6).unwrap(),
        };
        let token = cursor.encode(7, "filter");
        assert_eq!(Cursor::decode(&token, 7, "filter"), Some(cursor));
        assert_eq!(Cursor::decode(&token, 7, "other filter"), None);
        assert_eq!(Cursor::decode(&token, 8, "filter"), None);
        assert_eq!(
            Cursor::decode(&token.replace(".42.", ".43."), 7, "filter"),
            None
        );
        for garbage in ["", ".", "v1", "v1.x.y", "🙂.🙂", &"9".repeat(500)] {
            assert_eq!(Cursor::decode(garbage, 7, "filter"), None);
        }
        let offset = Cursor {
            start: Start::Offset(3),
            remaining: None,
            ..cursor
        };
        assert_eq!(Cursor::decode(&offset.encode(7, "f"), 7, "f"), Some(offset));
    }
}
