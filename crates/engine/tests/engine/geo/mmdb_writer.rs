//! A minimal MaxMind DB writer for tests: a search tree of 24-bit records, a data section
//! of maps, arrays, strings, unsigned integers, doubles and floats (no pointers; identical
//! records are written once and shared), and the metadata map.
//!
//! Why not a crate: the writers published for Rust are young single releases that would add
//! dependencies (an IP network crate, builder macros) to the workspace for test code only,
//! while the subset of the format the geolocation tests need fits in this file. The files
//! are read back by the same `maxminddb` reader production uses, so a mistake here shows up
//! as a failed open or lookup, not as a silently wrong answer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

/// A data-section value.
#[derive(Debug, Clone)]
pub enum Value {
    Text(String),
    U16(u16),
    U32(u32),
    U64(u64),
    Double(f64),
    Float(f32),
    Map(Vec<(String, Value)>),
    Array(Vec<Value>),
}

pub fn text(value: &str) -> Value {
    Value::Text(value.to_owned())
}

pub fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

/// `{"en": name}`, MaxMind's localised names.
pub fn names(english: &str) -> Value {
    map(&[
        ("en", text(english)),
        ("de", text(&format!("{english} (de)"))),
    ])
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Child {
    Empty,
    Node(usize),
    Data(usize),
}

pub struct MmdbWriter {
    database_type: String,
    ip_version: u16,
    build_epoch: u64,
    nodes: Vec<[Child; 2]>,
    data: Vec<u8>,
    written: HashMap<Vec<u8>, usize>,
}

const MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

impl MmdbWriter {
    /// `ip_version` 4 holds IPv4 networks only; 6 holds both (IPv4 under `::/96`, as in
    /// MaxMind's files).
    pub fn new(database_type: &str, ip_version: u16, build_epoch: u64) -> MmdbWriter {
        MmdbWriter {
            database_type: database_type.to_owned(),
            ip_version,
            build_epoch,
            nodes: vec![[Child::Empty; 2]],
            data: Vec::new(),
            written: HashMap::new(),
        }
    }

    /// Adds `network` (`"81.2.69.0/24"`, `"2a02:8800::/32"`). Insert broader networks before
    /// the narrower ones inside them.
    pub fn insert(&mut self, network: &str, value: &Value) -> &mut MmdbWriter {
        let (address, prefix) = network.split_once('/').expect("network/prefix");
        let address: IpAddr = address.parse().expect("network address");
        let prefix: usize = prefix.parse().expect("prefix length");
        // The address as the path from the root: the top bits of a u128. An IPv4 tree is
        // 32 levels deep; in an IPv6 tree IPv4 lives under 96 zero bits.
        let (bits, prefix) = match (address, self.ip_version) {
            (IpAddr::V4(v4), 4) => (u128::from(u32::from(v4)) << 96, prefix),
            (IpAddr::V4(v4), _) => (u128::from(u32::from(v4)), prefix + 96),
            (IpAddr::V6(_), 4) => panic!("an IPv6 network in an IPv4 database"),
            (IpAddr::V6(v6), _) => (u128::from(v6), prefix),
        };
        let mut encoded = Vec::new();
        encode(value, &mut encoded);
        let offset = match self.written.get(&encoded) {
            Some(offset) => *offset,
            None => {
                let offset = self.data.len();
                self.data.extend_from_slice(&encoded);
                self.written.insert(encoded, offset);
                offset
            }
        };
        let bit = |depth: usize| ((bits >> (127 - depth)) & 1) as usize;
        let mut node = 0;
        for depth in 0..prefix {
            let side = bit(depth);
            if depth + 1 == prefix {
                self.nodes[node][side] = Child::Data(offset);
                break;
            }
            node = match self.nodes[node][side] {
                Child::Node(next) => next,
                other => {
                    // Empty, or a broader network's data pushed down a level.
                    let fill = if let Child::Data(_) = other {
                        other
                    } else {
                        Child::Empty
                    };
                    self.nodes.push([fill; 2]);
                    let next = self.nodes.len() - 1;
                    self.nodes[node][side] = Child::Node(next);
                    next
                }
            };
        }
        self
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let node_count = self.nodes.len();
        let record = |child: Child| -> u32 {
            let value = match child {
                Child::Empty => node_count,
                Child::Node(index) => index,
                Child::Data(offset) => node_count + 16 + offset,
            };
            u32::try_from(value)
                .ok()
                .filter(|v| *v < 1 << 24)
                .expect("24-bit record")
        };
        let mut out = Vec::new();
        for [left, right] in &self.nodes {
            out.extend_from_slice(&record(*left).to_be_bytes()[1..]);
            out.extend_from_slice(&record(*right).to_be_bytes()[1..]);
        }
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(MARKER);
        let metadata = Value::Map(vec![
            ("binary_format_major_version".into(), Value::U16(2)),
            ("binary_format_minor_version".into(), Value::U16(0)),
            ("build_epoch".into(), Value::U64(self.build_epoch)),
            ("database_type".into(), text(&self.database_type)),
            (
                "description".into(),
                map(&[("en", text("mailscope test database"))]),
            ),
            ("ip_version".into(), Value::U16(self.ip_version)),
            ("languages".into(), Value::Array(vec![text("en")])),
            ("node_count".into(), Value::U32(node_count as u32)),
            ("record_size".into(), Value::U16(24)),
        ]);
        encode(&metadata, &mut out);
        out
    }

    /// Writes the file atomically (a temporary file renamed over the target), as an update
    /// of a live database should be done.
    pub fn write(&self, path: &Path) {
        write_atomically(path, &self.to_bytes());
    }
}

pub fn write_atomically(path: &Path, bytes: &[u8]) {
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, bytes).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

fn control(kind: u8, size: usize, out: &mut Vec<u8>) {
    let (type_bits, extended) = if kind <= 7 {
        (kind, None)
    } else {
        (0, Some(kind - 7))
    };
    let (size_bits, extra): (u8, Vec<u8>) = match size {
        0..29 => (size as u8, vec![]),
        29..285 => (29, vec![(size - 29) as u8]),
        285..65_821 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    out.push((type_bits << 5) | size_bits);
    if let Some(extended) = extended {
        out.push(extended);
    }
    out.extend_from_slice(&extra);
}

fn unsigned(kind: u8, value: u64, out: &mut Vec<u8>) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(kind, 8 - skip, out);
    out.extend_from_slice(&bytes[skip..]);
}

fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Text(text) => {
            control(2, text.len(), out);
            out.extend_from_slice(text.as_bytes());
        }
        Value::Double(v) => {
            control(3, 8, out);
            out.extend_from_slice(&v.to_be_bytes());
        }
        Value::U16(v) => unsigned(5, u64::from(*v), out),
        Value::U32(v) => unsigned(6, u64::from(*v), out),
        Value::Map(entries) => {
            control(7, entries.len(), out);
            for (key, value) in entries {
                encode(&Value::Text(key.clone()), out);
                encode(value, out);
            }
        }
        Value::U64(v) => unsigned(9, *v, out),
        Value::Array(items) => {
            control(11, items.len(), out);
            for item in items {
                encode(item, out);
            }
        }
        Value::Float(v) => {
            control(15, 4, out);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}
