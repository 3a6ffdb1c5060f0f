//! [`ThreatIndex`]: every feed's indicators, searchable by address, e-mail address and domain.
//!
//! Matching rules:
//! - An address matches the most specific network that covers it (longest prefix wins; a
//!   single address is a /32 or /128). IPv4-mapped IPv6 addresses are looked up as IPv4.
//! - An e-mail address matches an `email-addr` indicator case-insensitively.
//! - A domain matches a `domain-name` indicator for itself or for any parent domain
//!   (`a.b.evil.example` matches `evil.example`); the closest one wins.
//! - [`ThreatIndex::lookup_text`] decides by shape. For an e-mail address the most specific
//!   key wins: the exact address, else its domain, else the closest parent domain.
//! - Indicators whose `valid_until` is at or before `now` do not match. When every indicator
//!   of the most specific key has expired, the next less specific key is tried.
//!
//! All indicators of the winning key are returned, one per feed entry (Sumo's `num_matches`),
//! best first: most recent (`last_seen`, else `valid_from`), then highest confidence.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::Serialize;

use crate::indicator::{Indicator, IndicatorValue};
use crate::ip_table::{BATCH, Block, NONE, V4Table, V6Table};
use crate::net::{canonical, normalize_domain, normalize_email};

/// Where one key's indicators are in `ThreatIndex::members`, with the best one inline:
/// most keys have one indicator, and a lookup then reads nothing else.
#[derive(Debug, Clone, Copy)]
struct Slot {
    first: u32,
    count: u32,
    /// The enclosing network's key, for networks; `NONE` otherwise.
    parent: u32,
    /// The best member's indicator and expiry (Unix seconds, `i64::MAX` when open-ended).
    best: u32,
    best_until: i64,
}

/// One indicator of a key, with its expiry inline so that matching never touches the
/// (large, cold) indicator records.
#[derive(Debug, Clone, Copy)]
struct Member {
    indicator: u32,
    /// `valid_until` as Unix seconds, `i64::MAX` when open-ended.
    until: i64,
}

/// The result of a lookup: the key that matched and its live indicators, best first.
/// Borrowed from the index; building it allocates nothing.
#[derive(Debug, Clone, Copy)]
pub struct Matches<'a> {
    index: &'a ThreatIndex,
    key: u32,
    /// The best live indicator.
    best: u32,
    /// The key's members from the best live one on (positions in `ThreatIndex::members`).
    first: u32,
    end: u32,
    now: i64,
}

impl<'a> Matches<'a> {
    /// The indicator value that matched (a network, an e-mail address or a domain).
    pub fn matched(&self) -> &'a IndicatorValue {
        &self.index.keys[self.key as usize]
    }

    /// The live indicators of the key, best first: most recent, then highest confidence.
    pub fn indicators(&self) -> impl Iterator<Item = &'a Indicator> + use<'a> {
        let (index, now) = (self.index, self.now);
        self.members()
            .iter()
            .filter(move |member| now < member.until)
            .filter_map(move |member| index.indicators.get(member.indicator as usize))
    }

    /// How many feed entries matched (Sumo's `num_matches`).
    pub fn num_matches(&self) -> usize {
        if self.end - self.first == 1 {
            return 1;
        }
        self.members().iter().filter(|m| self.now < m.until).count()
    }

    fn members(&self) -> &'a [Member] {
        self.index
            .members
            .get(self.first as usize..self.end as usize)
            .unwrap_or(&[])
    }

    /// The single best entry: most recent, then highest confidence (Sumo's
    /// `singleIndicator`).
    pub fn best(&self) -> &'a Indicator {
        &self.index.indicators[self.best as usize]
    }

    /// The matches from one feed only (empty if that feed has none for this key).
    pub fn from_source(&self, source: &str) -> Vec<&'a Indicator> {
        self.indicators()
            .filter(|indicator| indicator.source == source)
            .collect()
    }
}

/// How big the index is, for the status endpoint and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IndexStats {
    pub indicators: usize,
    pub networks_v4: usize,
    pub networks_v6: usize,
    pub emails: usize,
    pub domains: usize,
    /// Ranges in the flattened IPv4 and IPv6 tables.
    pub ranges: usize,
}

/// An immutable, shareable index over the indicators of all feeds.
#[derive(Debug, Default)]
pub struct ThreatIndex {
    indicators: Vec<Indicator>,
    /// Distinct values, one per key.
    keys: Vec<IndicatorValue>,
    slots: Vec<Slot>,
    members: Vec<Member>,
    v4: V4Table,
    v6: V6Table,
    emails: HashMap<Box<str>, u32>,
    domains: HashMap<Box<str>, u32>,
    stats: IndexStats,
    /// Unique in the process: names this index in result cache keys.
    generation: u64,
}

/// Numbers the indexes built in the process.
static NEXT_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl ThreatIndex {
    /// A number no other index of this process has; a feed refresh builds a new index and
    /// so a new generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Builds the index. Values are expected normalised (the readers do it); duplicates
    /// across and within feeds are kept and reported together.
    pub fn new(indicators: Vec<Indicator>) -> ThreatIndex {
        // Group indicators by value; each distinct value is a key.
        let mut keys: Vec<IndicatorValue> = Vec::new();
        let mut grouped: Vec<Vec<u32>> = Vec::new();
        let mut by_value: HashMap<&IndicatorValue, u32> = HashMap::new();
        for (position, indicator) in indicators.iter().enumerate() {
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            let next = u32::try_from(keys.len()).unwrap_or(u32::MAX);
            let key = *by_value.entry(&indicator.value).or_insert(next);
            if key == next {
                keys.push(indicator.value.clone());
                grouped.push(Vec::new());
            }
            if let Some(members) = grouped.get_mut(key as usize) {
                members.push(position);
            }
        }
        drop(by_value);
        let mut slots = Vec::with_capacity(keys.len());
        let mut members = Vec::with_capacity(indicators.len());
        for mut group in grouped {
            group.sort_by(|&a, &b| {
                let (a, b) = (&indicators[a as usize], &indicators[b as usize]);
                b.updated()
                    .cmp(&a.updated())
                    .then(b.confidence.cmp(&a.confidence))
                    .then_with(|| a.source.cmp(&b.source))
                    .then_with(|| a.id.cmp(&b.id))
            });
            let first = members.len();
            members.extend(group.into_iter().map(|indicator| {
                Member {
                    indicator,
                    until: indicators[indicator as usize]
                        .valid_until
                        .map_or(i64::MAX, |until| until.timestamp()),
                }
            }));
            let best = members[first];
            slots.push(Slot {
                first: u32::try_from(first).unwrap_or(u32::MAX),
                count: u32::try_from(members.len() - first).unwrap_or(u32::MAX),
                parent: NONE,
                best: best.indicator,
                best_until: best.until,
            });
        }

        let mut v4_blocks = Vec::new();
        let mut v6_blocks = Vec::new();
        let mut emails = HashMap::new();
        let mut domains = HashMap::new();
        let mut stats = IndexStats {
            indicators: indicators.len(),
            ..IndexStats::default()
        };
        for (number, value) in keys.iter().enumerate() {
            let number = u32::try_from(number).unwrap_or(NONE);
            match value {
                IndicatorValue::Ip(IpNet::V4(net)) => {
                    stats.networks_v4 += 1;
                    v4_blocks.push(Block {
                        start: u128::from(u32::from(net.network())),
                        end: u128::from(u32::from(net.broadcast())),
                        prefix: net.prefix_len(),
                        group: number,
                    });
                }
                IndicatorValue::Ip(IpNet::V6(net)) => {
                    stats.networks_v6 += 1;
                    v6_blocks.push(Block {
                        start: u128::from(net.network()),
                        end: u128::from(net.broadcast()),
                        prefix: net.prefix_len(),
                        group: number,
                    });
                }
                IndicatorValue::Email(email) => {
                    stats.emails += 1;
                    emails.insert(email.as_str().into(), number);
                }
                IndicatorValue::Domain(domain) => {
                    stats.domains += 1;
                    domains.insert(domain.as_str().into(), number);
                }
            }
        }
        let (v4, v4_parents) = V4Table::build(v4_blocks, keys.len());
        let (v6, v6_parents) = V6Table::build(v6_blocks, keys.len());
        for (slot, (p4, p6)) in slots.iter_mut().zip(v4_parents.into_iter().zip(v6_parents)) {
            slot.parent = if p4 != NONE { p4 } else { p6 };
        }
        stats.ranges = v4.ranges() + v6.ranges();
        ThreatIndex {
            indicators,
            keys,
            slots,
            members,
            v4,
            v6,
            emails,
            domains,
            stats,
            generation: NEXT_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    pub fn stats(&self) -> IndexStats {
        self.stats
    }

    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    /// Every indicator, in the order given to [`ThreatIndex::new`].
    pub fn indicators(&self) -> &[Indicator] {
        &self.indicators
    }

    /// The most specific live network containing `address`.
    #[inline]
    pub fn lookup_ip(&self, address: IpAddr, now: DateTime<Utc>) -> Option<Matches<'_>> {
        let mut key = match canonical(address) {
            IpAddr::V4(v4) => self.v4.get(u32::from(v4)),
            IpAddr::V6(v6) => self.v6.get(u128::from(v6)),
        };
        let now = now.timestamp();
        while key != NONE {
            if let Some(matches) = self.live(key, now) {
                return Some(matches);
            }
            key = self
                .slots
                .get(key as usize)
                .map_or(NONE, |slot| slot.parent);
        }
        None
    }

    /// A live indicator for exactly this e-mail address (trimmed, any case).
    pub fn lookup_email(&self, email: &str, now: DateTime<Utc>) -> Option<Matches<'_>> {
        if self.emails.is_empty() {
            return None;
        }
        let key = lower_trimmed(email);
        let key = key
            .strip_prefix('<')
            .and_then(|k| k.strip_suffix('>'))
            .unwrap_or(&key);
        let group = *self.emails.get(key)?;
        self.live(group, now.timestamp())
    }

    /// A live indicator for this domain or its closest listed parent domain.
    pub fn lookup_domain(&self, domain: &str, now: DateTime<Utc>) -> Option<Matches<'_>> {
        if self.domains.is_empty() {
            return None;
        }
        let key = lower_trimmed(domain);
        let key = key.strip_suffix('.').unwrap_or(&key);
        self.domain_or_parent(key, now.timestamp())
    }

    /// Looks `text` up by its shape: an IP address (optionally in `[…]`), else an e-mail
    /// address (anything with `@`: the address, else its domain and parents), else a domain.
    pub fn lookup_text(&self, text: &str, now: DateTime<Utc>) -> Option<Matches<'_>> {
        let trimmed = text.trim();
        let bare = trimmed
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or(trimmed);
        if let Ok(address) = bare.parse::<IpAddr>() {
            return self.lookup_ip(address, now);
        }
        if trimmed.contains('@') {
            if let Some(matches) = self.lookup_email(trimmed, now) {
                return Some(matches);
            }
            if self.domains.is_empty() {
                return None;
            }
            let key = lower_trimmed(trimmed);
            let key = key
                .strip_prefix('<')
                .and_then(|k| k.strip_suffix('>'))
                .unwrap_or(&key);
            let domain = key.rsplit_once('@').map_or("", |(_, domain)| domain);
            return self
                .domain_or_parent(domain.strip_suffix('.').unwrap_or(domain), now.timestamp());
        }
        self.lookup_domain(trimmed, now)
    }

    fn domain_or_parent(&self, domain: &str, now: i64) -> Option<Matches<'_>> {
        if domain.is_empty() {
            return None;
        }
        let mut rest = domain;
        loop {
            if let Some(&group) = self.domains.get(rest)
                && let Some(matches) = self.live(group, now)
            {
                return Some(matches);
            }
            match rest.split_once('.') {
                Some((_, parent)) if !parent.is_empty() => rest = parent,
                _ => return None,
            }
        }
    }

    /// Looks up many texts at once (a column of sender addresses): `out[i]` is
    /// `lookup_text(texts[i], now)`. IPv4 addresses are resolved in batches whose memory
    /// reads overlap, which is several times faster than one lookup after another when the
    /// index does not fit in the cache.
    pub fn lookup_texts<'a>(
        &'a self,
        texts: &[&str],
        now: DateTime<Utc>,
        out: &mut Vec<Option<Matches<'a>>>,
    ) {
        out.clear();
        out.reserve(texts.len());
        let seconds = now.timestamp();
        let mut addresses = [0u32; BATCH];
        let mut owners = [NONE; BATCH];
        let mut positions = [0usize; BATCH];
        for chunk_start in (0..texts.len()).step_by(BATCH) {
            let chunk = &texts[chunk_start..texts.len().min(chunk_start + BATCH)];
            let mut count = 0;
            for (offset, text) in chunk.iter().enumerate() {
                out.push(None);
                match text.trim().parse::<IpAddr>().map(canonical) {
                    Ok(IpAddr::V4(v4)) => {
                        addresses[count] = u32::from(v4);
                        positions[count] = chunk_start + offset;
                        count += 1;
                    }
                    _ => {
                        if let Some(slot) = out.get_mut(chunk_start + offset) {
                            *slot = self.lookup_text(text, now);
                        }
                    }
                }
            }
            self.v4.get_batch(&addresses[..count], &mut owners[..count]);
            // Touch every key's slot before reading any, for the same overlap.
            let mut sum = 0u32;
            for &key in &owners[..count] {
                sum = sum.wrapping_add(self.slots.get(key as usize).map_or(0, |slot| slot.count));
            }
            std::hint::black_box(sum);
            for (&key, &position) in owners[..count].iter().zip(&positions[..count]) {
                let mut key = key;
                let mut found = None;
                while key != NONE {
                    found = self.live(key, seconds);
                    if found.is_some() {
                        break;
                    }
                    key = self
                        .slots
                        .get(key as usize)
                        .map_or(NONE, |slot| slot.parent);
                }
                if let Some(slot) = out.get_mut(position) {
                    *slot = found;
                }
            }
        }
    }

    /// The key's matches from its first live member on, or `None` if all have expired.
    #[inline]
    fn live(&self, key: u32, now: i64) -> Option<Matches<'_>> {
        let slot = self.slots.get(key as usize)?;
        let end = slot.first + slot.count;
        if now < slot.best_until {
            return Some(Matches {
                index: self,
                key,
                best: slot.best,
                first: slot.first,
                end,
                now,
            });
        }
        let members = self.members.get(slot.first as usize..end as usize)?;
        let live = members.iter().position(|member| now < member.until)?;
        Some(Matches {
            index: self,
            key,
            best: members[live].indicator,
            first: slot.first + u32::try_from(live).unwrap_or(0),
            end,
            now,
        })
    }
}

/// Lower-cased and trimmed, borrowing when the text already is.
fn lower_trimmed(text: &str) -> Cow<'_, str> {
    let trimmed = text.trim();
    if trimmed.bytes().any(|byte| byte.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    }
}

/// Normalises a user-typed value the way readers do, for callers that build indicators by
/// hand (`email-addr` when it has `@`, an IP or network when it parses, else a domain).
pub fn parse_value(text: &str) -> Result<IndicatorValue, String> {
    if text.contains('@') {
        return normalize_email(text).map(IndicatorValue::Email);
    }
    if let Ok(net) = crate::net::parse_ip_or_cidr(text) {
        return Ok(IndicatorValue::Ip(net));
    }
    normalize_domain(text).map(IndicatorValue::Domain)
}
