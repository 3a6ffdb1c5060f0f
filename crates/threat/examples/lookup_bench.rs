//! Lookup throughput: 100,000 indicators (single addresses and /8–/31 networks, plus e-mail
//! addresses and domains) and 10 million text lookups (IPv4 parsing included, hits and
//! misses), on one thread and on two.
//!
//! `cargo run --release -p mailscope-threat --example lookup_bench [lookups] [indicators]`

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use chrono::Utc;
use ipnet::{IpNet, Ipv4Net};
use mailscope_threat::{Indicator, IndicatorValue, ThreatIndex};

/// xorshift64*: reproducible without a dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let lookups: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let mut random = Random(0x5eed_1234_abcd_ef01);
    let now = Utc::now();

    // 70% single addresses, 29% networks /16–/31, 1% wide networks /8–/15; a few
    // hundred e-mail addresses and domains.
    let mut indicators = Vec::with_capacity(count);
    let mut hosts = Vec::new();
    for i in 0..count {
        let bits = random.next() as u32;
        let roll = random.below(100);
        let prefix = match roll {
            0..70 => 32,
            70..99 => 16 + random.below(16) as u8,
            _ => 8 + random.below(8) as u8,
        };
        let net = Ipv4Net::new(Ipv4Addr::from(bits), prefix).unwrap().trunc();
        if prefix == 32 {
            hosts.push(bits);
        }
        let value = if i % 250 == 0 {
            IndicatorValue::Email(format!("sender{i}@spam{i}.example"))
        } else if i % 250 == 1 {
            IndicatorValue::Domain(format!("spam{i}.example"))
        } else {
            IndicatorValue::Ip(IpNet::V4(net))
        };
        let source = ["drop", "firehol", "feodo", "stix"][i % 4];
        let mut indicator = Indicator::new(source, value, now);
        indicator.confidence = Some((i % 101) as u8);
        indicators.push(indicator);
    }
    let started = Instant::now();
    let index = ThreatIndex::new(indicators);
    let build = started.elapsed();
    let stats = index.stats();

    // One million distinct query texts: half listed hosts, half random addresses.
    let pool: Vec<String> = (0..1_000_000)
        .map(|i| {
            let bits = if i % 2 == 0 {
                hosts[random.below(hosts.len() as u64) as usize]
            } else {
                random.next() as u32
            };
            Ipv4Addr::from(bits).to_string()
        })
        .collect();

    let run = |range: std::ops::Range<usize>| -> usize {
        let mut hits = 0;
        for i in range {
            let text = &pool[i % pool.len()];
            if let Some(matches) = index.lookup_text(text, now) {
                hits += usize::from(matches.best().confidence.is_some());
            }
        }
        hits
    };

    let started = Instant::now();
    let hits = run(0..lookups);
    let single = started.elapsed();

    let started = Instant::now();
    let half = lookups / 2;
    let two_hits = std::thread::scope(|scope| {
        let first = scope.spawn(|| run(0..half));
        let second = scope.spawn(|| run(half..lookups));
        first.join().unwrap_or(0) + second.join().unwrap_or(0)
    });
    let double = started.elapsed();
    assert_eq!(hits, two_hits);

    // Address lookups without text parsing, for comparison.
    let addresses: Vec<IpAddr> = pool.iter().map(|t| t.parse().unwrap()).collect();
    let started = Instant::now();
    let mut parsed_hits = 0usize;
    for i in 0..lookups {
        parsed_hits += usize::from(
            index
                .lookup_ip(addresses[i % addresses.len()], now)
                .is_some(),
        );
    }
    let no_parse = started.elapsed();

    println!(
        "index: {} indicators ({} IPv4 networks, {} ranges, {} e-mails, {} domains) built in {:.0} ms",
        stats.indicators,
        stats.networks_v4,
        stats.ranges,
        stats.emails,
        stats.domains,
        build.as_secs_f64() * 1e3
    );
    println!(
        "text lookups, 1 thread:  {lookups} in {:.3} s ({:.0} ns each), {:.1}% hits",
        single.as_secs_f64(),
        single.as_secs_f64() * 1e9 / lookups as f64,
        100.0 * hits as f64 / lookups as f64
    );
    println!(
        "text lookups, 2 threads: {lookups} in {:.3} s ({:.1} M/s)",
        double.as_secs_f64(),
        lookups as f64 / double.as_secs_f64() / 1e6
    );
    println!(
        "address lookups (no parsing), 1 thread: {lookups} in {:.3} s ({:.0} ns each, {} hits)",
        no_parse.as_secs_f64(),
        no_parse.as_secs_f64() * 1e9 / lookups as f64,
        parsed_hits
    );
}
