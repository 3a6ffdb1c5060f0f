//! The ASN CSV files of ip-location-db: one inclusive range a line,
//! `ip_range_start,ip_range_end,autonomous_system_number,autonomous_system_organization`,
//! the organisation quoted when it holds a comma (`"Cloudflare, Inc."`, `"LLC ""X"""`).
//! A malformed line is reported as `file:line: reason` and skipped; the rest loads.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// One autonomous system, as either reader (these tables or a MaxMind DB) answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Asn {
    pub number: u32,
    pub organization: Option<Arc<str>>,
}

/// How many malformed lines are kept word for word (all are counted and logged).
const KEPT_MALFORMED: usize = 20;

/// Sorted, non-overlapping ranges per address family, each pointing at an interned AS.
#[derive(Debug, Default)]
pub(crate) struct AsnTable {
    ipv4: Ranges<u32>,
    ipv6: Ranges<u128>,
    systems: Vec<Arc<Asn>>,
    pub(crate) malformed_count: usize,
    pub(crate) malformed: Vec<String>,
}

/// Struct of arrays: the binary search reads only `starts`.
#[derive(Debug)]
struct Ranges<T> {
    starts: Vec<T>,
    ends: Vec<T>,
    systems: Vec<u32>,
}

impl<T> Default for Ranges<T> {
    fn default() -> Self {
        Ranges {
            starts: Vec::new(),
            ends: Vec::new(),
            systems: Vec::new(),
        }
    }
}

impl<T: Copy + Ord> Ranges<T> {
    fn find(&self, address: T) -> Option<u32> {
        let index = self.starts.partition_point(|start| *start <= address);
        let index = index.checked_sub(1)?;
        (address <= self.ends[index]).then(|| self.systems[index])
    }

    /// Sorts rows `(start, end, system, origin)` and keeps those that do not overlap an
    /// earlier one; returns the origins of the dropped rows.
    fn build(mut rows: Vec<(T, T, u32, Origin)>) -> (Ranges<T>, Vec<Origin>) {
        rows.sort_by_key(|row| (row.0, row.1));
        let mut ranges = Ranges::default();
        let mut overlapping = Vec::new();
        for (start, end, system, origin) in rows {
            if ranges.ends.last().is_some_and(|last| start <= *last) {
                overlapping.push(origin);
                continue;
            }
            ranges.starts.push(start);
            ranges.ends.push(end);
            ranges.systems.push(system);
        }
        (ranges, overlapping)
    }
}

/// Where a row came from: file index and line number.
type Origin = (usize, usize);

impl AsnTable {
    pub(crate) fn lookup(&self, address: IpAddr) -> Option<Arc<Asn>> {
        let system = match address {
            IpAddr::V4(v4) => self.ipv4.find(u32::from(v4)),
            IpAddr::V6(v6) => self.ipv6.find(u128::from(v6)),
        }?;
        self.systems.get(system as usize).cloned()
    }

    pub(crate) fn ipv4_len(&self) -> usize {
        self.ipv4.starts.len()
    }

    pub(crate) fn ipv6_len(&self) -> usize {
        self.ipv6.starts.len()
    }
}

/// Reads CSV files into one table. Fails only when a file cannot be read or no line at all
/// is usable.
pub(crate) fn read_tables(paths: &[PathBuf]) -> Result<AsnTable, String> {
    let mut table = AsnTable::default();
    let mut interned: HashMap<(u32, Option<Arc<str>>), u32> = HashMap::new();
    let mut ipv4 = Vec::new();
    let mut ipv6 = Vec::new();
    let report = |table: &mut AsnTable, message: String| {
        if table.malformed_count < KEPT_MALFORMED {
            tracing::warn!("{message}; line skipped");
            table.malformed.push(message);
        }
        table.malformed_count += 1;
    };
    for (file, path) in paths.iter().enumerate() {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || (line_number == 1 && line.starts_with("ip_range_start")) {
                continue;
            }
            let row = match parse_line(line) {
                Ok(row) => row,
                Err(reason) => {
                    report(
                        &mut table,
                        format!("{}:{line_number}: {reason}", path.display()),
                    );
                    continue;
                }
            };
            let key = (row.number, row.organization.as_deref().map(Arc::from));
            let system = *interned.entry(key.clone()).or_insert_with(|| {
                table.systems.push(Arc::new(Asn {
                    number: key.0,
                    organization: key.1,
                }));
                (table.systems.len() - 1) as u32
            });
            let origin = (file, line_number);
            match (row.start, row.end) {
                (IpAddr::V4(start), IpAddr::V4(end)) => {
                    ipv4.push((u32::from(start), u32::from(end), system, origin));
                }
                (IpAddr::V6(start), IpAddr::V6(end)) => {
                    ipv6.push((u128::from(start), u128::from(end), system, origin));
                }
                _ => unreachable!("parse_line checks the families match"),
            }
        }
    }
    let (v4, overlapping_v4) = Ranges::build(ipv4);
    let (v6, overlapping_v6) = Ranges::build(ipv6);
    for (file, line) in overlapping_v4.into_iter().chain(overlapping_v6) {
        let message = format!(
            "{}:{line}: range overlaps an earlier one",
            paths[file].display()
        );
        report(&mut table, message);
    }
    table.ipv4 = v4;
    table.ipv6 = v6;
    if table.malformed_count > KEPT_MALFORMED {
        tracing::warn!(
            count = table.malformed_count,
            "malformed ASN lines skipped in total"
        );
    }
    if table.ipv4_len() + table.ipv6_len() == 0 {
        let files = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(format!("{files}: no usable ASN range"));
    }
    Ok(table)
}

struct Row<'a> {
    start: IpAddr,
    end: IpAddr,
    number: u32,
    organization: Option<Cow<'a, str>>,
}

fn parse_line(line: &str) -> Result<Row<'_>, String> {
    let fields = split(line)?;
    let [start, end, number, organization] = fields.as_slice() else {
        return Err(format!("expected 4 fields, found {}", fields.len()));
    };
    let address = |text: &Cow<'_, str>| {
        text.trim()
            .parse::<IpAddr>()
            .map_err(|_| format!("'{text}' is not an IP address"))
    };
    let (start, end) = (address(start)?, address(end)?);
    let number = number.as_ref();
    let in_order = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => s <= e,
        (IpAddr::V6(s), IpAddr::V6(e)) => s <= e,
        _ => return Err("the range mixes IPv4 and IPv6".into()),
    };
    if !in_order {
        return Err("the range ends before it starts".into());
    }
    let number = number
        .trim()
        .parse::<u32>()
        .map_err(|_| format!("'{number}' is not an AS number"))?;
    let organization = Some(organization.clone()).filter(|o| !o.is_empty());
    Ok(Row {
        start,
        end,
        number,
        organization,
    })
}

/// Splits one CSV line. Quoted fields may hold commas and doubled quotes; a field borrows
/// the line unless it has doubled quotes to unescape.
fn split(line: &str) -> Result<Vec<Cow<'_, str>>, String> {
    let mut fields = Vec::with_capacity(4);
    let mut rest = line;
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut end = None;
            let bytes = quoted.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'"' {
                    if bytes.get(i + 1) == Some(&b'"') {
                        i += 2;
                        continue;
                    }
                    end = Some(i);
                    break;
                }
                i += 1;
            }
            let end = end.ok_or("unterminated quoted field")?;
            let field = &quoted[..end];
            fields.push(if field.contains('"') {
                Cow::Owned(field.replace("\"\"", "\""))
            } else {
                Cow::Borrowed(field)
            });
            rest = &quoted[end + 1..];
            match rest.strip_prefix(',') {
                Some(next) => rest = next,
                None if rest.is_empty() => return Ok(fields),
                None => return Err("text after a quoted field".into()),
            }
        } else {
            match rest.split_once(',') {
                Some((field, next)) => {
                    fields.push(Cow::Borrowed(field));
                    rest = next;
                }
                None => {
                    fields.push(Cow::Borrowed(rest));
                    return Ok(fields);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_hold_commas_and_doubled_quotes() {
        let fields = split(r#"1.0.0.0,1.0.0.255,13335,"Cloudflare, Inc.""#).unwrap();
        assert_eq!(
            fields,
            ["1.0.0.0", "1.0.0.255", "13335", "Cloudflare, Inc."]
        );
        let fields = split(r#"a,b,1,"LLC ""SPUTNIK""""#).unwrap();
        assert_eq!(fields[3], r#"LLC "SPUTNIK""#);
        assert!(split(r#"a,b,1,"open"#).is_err());
        assert!(split(r#"a,b,1,"x"y"#).is_err());
    }

    #[test]
    fn lookups_find_the_range_holding_the_address() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("asn.csv");
        std::fs::write(
            &path,
            "8.8.4.0,8.8.4.255,15169,Google LLC\n1.0.0.0,1.0.0.255,13335,Cloudflare\n8.8.8.0,8.8.8.255,15169,Google LLC\n",
        )
        .unwrap();
        let table = read_tables(&[path]).unwrap();
        let number = |ip: &str| table.lookup(ip.parse().unwrap()).map(|a| a.number);
        assert_eq!(number("8.8.8.8"), Some(15169));
        assert_eq!(number("8.8.4.0"), Some(15169));
        assert_eq!(number("1.0.0.255"), Some(13335));
        assert_eq!(number("8.8.5.0"), None);
        assert_eq!(number("0.255.255.255"), None);
        assert_eq!(number("9.0.0.0"), None);
    }
}
