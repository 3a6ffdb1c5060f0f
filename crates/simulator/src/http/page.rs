//! Request parameters and response pages shared by both APIs.
//!
//! Rows are written by `mailscope_record`'s writers, the same code whose readers the
//! collectors use, so what the simulator serves and what the collectors parse cannot drift
//! apart. This module only adds what a stored page lacks: the next link.

use std::io;

use mailscope_record::{Format, Record, RecordWriter};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// Longest query string accepted (Microsoft's front ends refuse long URLs too).
pub(crate) const MAX_QUERY_BYTES: usize = 16 * 1024;

/// The decoded query string of a request, with the system options (`$…`) checked once.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

/// Characters escaped in the values of links we build: enough for any client to send the
/// link back unchanged, while `$`, quotes, colons and commas stay readable as in OData links.
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'>')
    .add(b'=')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

impl Params {
    pub(crate) fn parse(query: Option<&str>) -> Params {
        let pairs = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect();
        Params { pairs }
    }

    /// The one value of `name` (system options are case-sensitive in OData).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first system option not in `known`, or one given twice.
    pub(crate) fn check_options(&self, known: &[&str]) -> Result<(), OptionProblem> {
        for (i, (key, _)) in self.pairs.iter().enumerate() {
            if !key.starts_with('$') {
                continue;
            }
            if !known.contains(&key.as_str()) {
                return Err(OptionProblem::Unknown(clip(key)));
            }
            if self.pairs[..i].iter().any(|(earlier, _)| earlier == key) {
                return Err(OptionProblem::Repeated(clip(key)));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OptionProblem {
    Unknown(String),
    Repeated(String),
}

/// Echoed input is shortened so a hostile value cannot balloon an error body.
pub(crate) fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}

/// Builds `path?name=value&…` with values escaped for a link.
pub(crate) fn link(path: &str, options: &[(&str, &str)]) -> String {
    let mut out = String::from(path);
    for (i, (name, value)) in options.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(name);
        out.push('=');
        out.extend(utf8_percent_encode(value, QUERY_VALUE));
    }
    out
}

/// A successful page, kept as bytes so a fault can cut it.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub body: Vec<u8>,
    pub content_type: &'static str,
    /// Byte offset where the first row starts (after the array's `[`).
    pub rows_start: usize,
    pub rows: usize,
}

/// Where a page's next link goes, by format: the key and how the envelope closes.
fn next_link_key(format: Format) -> (&'static str, &'static [u8], &'static [u8]) {
    match format {
        Format::ReportingVerbose => ("__next", b"\n]}}\n", b"}}\n"),
        Format::GraphJson => ("@odata.nextLink", b"\n]}\n", b"}\n"),
        _ => ("odata.nextLink", b"\n]}\n", b"}\n"),
    }
}

/// Writes `rows` as one page of `format` and appends the next link if there is one.
pub(crate) fn render(
    format: Format,
    rows: &[Record],
    next_link: Option<&str>,
    content_type: &'static str,
) -> io::Result<Rendered> {
    let mut writer = RecordWriter::new(format, Vec::new())?;
    for row in rows {
        writer.write(row)?;
    }
    let mut body = writer.finish()?;
    let rows_start = body
        .iter()
        .position(|b| *b == b'[')
        .map_or(body.len(), |p| p + 1);
    if let Some(link) = next_link {
        let (key, tail, close) = next_link_key(format);
        if !body.ends_with(tail) {
            return Err(io::Error::other(
                "page writer closed the envelope unexpectedly",
            ));
        }
        // Keep the array's closing bracket, drop the envelope's closing brace(s).
        body.truncate(body.len() - tail.len() + 2);
        body.extend_from_slice(b",");
        body.extend_from_slice(serde_json::Value::from(key).to_string().as_bytes());
        body.extend_from_slice(b":");
        body.extend_from_slice(serde_json::Value::from(link).to_string().as_bytes());
        body.extend_from_slice(close);
    }
    Ok(Rendered {
        body,
        content_type,
        rows_start,
        rows: rows.len(),
    })
}

/// Keeps only `fields` in each row of a rendered page (`$select`), re-serializing it.
pub(crate) fn project(rendered: Rendered, fields: &[&str]) -> io::Result<Rendered> {
    let mut page: serde_json::Value = serde_json::from_slice(&rendered.body)?;
    let rows = match page.get_mut("d") {
        Some(d) => d.get_mut("results"),
        None => page.get_mut("value"),
    };
    if let Some(serde_json::Value::Array(rows)) = rows {
        for row in rows {
            if let serde_json::Value::Object(map) = row {
                map.retain(|key, _| key == "__metadata" || fields.contains(&key.as_str()));
            }
        }
    }
    let body = serde_json::to_vec(&page)?;
    let rows_start = body
        .iter()
        .position(|b| *b == b'[')
        .map_or(body.len(), |p| p + 1);
    Ok(Rendered {
        body,
        rows_start,
        ..rendered
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_for_unknown_and_repeated() {
        let params = Params::parse(Some("$filter=a%20eq%20'x'&$top=5&other=1"));
        assert_eq!(params.get("$filter"), Some("a eq 'x'"));
        assert_eq!(params.check_options(&["$filter", "$top"]), Ok(()));
        assert_eq!(
            params.check_options(&["$filter"]),
            Err(OptionProblem::Unknown("$top".into()))
        );
        let twice = Params::parse(Some("$top=1&$top=2"));
        assert_eq!(
            twice.check_options(&["$top"]),
            Err(OptionProblem::Repeated("$top".into()))
        );
    }

    #[test]
    fn links_escape_what_would_change_meaning() {
        let built = link(
            "../../x",
            &[
                ("$filter", "a eq 'b&c' and d eq '1+1=2'"),
                ("$skiptoken", "v1.2"),
            ],
        );
        assert_eq!(
            built,
            "../../x?$filter=a%20eq%20'b%26c'%20and%20d%20eq%20'1%2B1%3D2'&$skiptoken=v1.2"
        );
        let back = Params::parse(built.split_once('?').map(|(_, q)| q));
        assert_eq!(back.get("$filter"), Some("a eq 'b&c' and d eq '1+1=2'"));
    }

    #[test]
    fn next_link_is_spliced_into_every_envelope() {
        for format in [
            Format::ReportingJson,
            Format::ReportingVerbose,
            Format::GraphJson,
        ] {
            let page = render(format, &[], Some("http://x/?a=1"), "application/json").unwrap();
            let value: serde_json::Value = serde_json::from_slice(&page.body).unwrap();
            let (key, _, _) = next_link_key(format);
            let found = value.get(key).or_else(|| value["d"].get(key));
            assert_eq!(
                found.and_then(|v| v.as_str()),
                Some("http://x/?a=1"),
                "{format}"
            );
        }
    }
}
