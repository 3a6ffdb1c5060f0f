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

    // 70% single addresses, 29.9% networks /16–/31, 0.1% wide networks /8–/15 (DROP's
    // widest blocks are /10–/12); a few hundred e-mail addresses and domains.
    let mut indicators = Vec::with_capacity(count);
    let mut hosts = Vec::new();
    for i in 0..count {
        let bits = random.next() as u32;
        let roll = random.below(1000);
        let prefix = match roll {
            0..700 => 32,
            700..999 => 16 + random.below(16) as u8,
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

    // One million distinct query texts, half listed hosts, half random addresses, kept in
    // one buffer with offsets as the engine's string columns are.
    let mut buffer = String::new();
    let mut offsets = vec![0usize];
    for i in 0..1_000_000 {
        let bits = if i % 2 == 0 {
            hosts[random.below(hosts.len() as u64) as usize]
        } else {
            random.next() as u32
        };
        buffer.push_str(&Ipv4Addr::from(bits).to_string());
        offsets.push(buffer.len());
    }
    let texts = offsets.len() - 1;
    let text = |i: usize| &buffer[offsets[i % texts]..offsets[i % texts + 1]];

    // `best`: also read the best indicator (its confidence), as threatlookup output does.
    let run = |range: std::ops::Range<usize>, best: bool| -> usize {
        let mut hits = 0;
        for i in range {
            if let Some(matches) = index.lookup_text(text(i), now) {
                hits += if best {
                    usize::from(matches.best().confidence.is_some())
                } else {
                    matches.num_matches()
                };
            }
        }
        hits
    };
    // Wall time, and the CPU time the worker threads were actually scheduled for (on a
    // shared machine the two differ).
    let timed = |threads: usize, best: bool| -> (f64, Option<f64>, usize) {
        let started = Instant::now();
        let per = lookups / threads;
        let (hits, cpu) = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || {
                        let before = thread_cpu_seconds();
                        let hits = run(t * per..(t + 1) * per, best);
                        let cpu = before.zip(thread_cpu_seconds()).map(|(b, a)| a - b);
                        (hits, cpu)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or((0, None)))
                .fold((0, Some(0.0)), |(hits, cpu), (h, c)| {
                    (hits + h, cpu.zip(c).map(|(a, b)| a + b))
                })
        });
        (started.elapsed().as_secs_f64(), cpu, hits)
    };
    // The column API: batches of 8,192 texts, as an engine's record batch.
    let all: Vec<&str> = (0..texts).map(text).collect();
    let run_batches = |range: std::ops::Range<usize>| -> usize {
        let mut out = Vec::new();
        let mut hits = 0;
        let mut at = range.start;
        while at < range.end {
            let start = at % texts;
            let take = 8192.min(range.end - at).min(texts - start);
            index.lookup_texts(&all[start..start + take], now, &mut out);
            hits += out.iter().flatten().map(|m| m.num_matches()).sum::<usize>();
            at += take;
        }
        hits
    };
    let timed_batches = |threads: usize| -> (f64, Option<f64>, usize) {
        let started = Instant::now();
        let per = lookups / threads;
        let (hits, cpu) = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || {
                        let before = thread_cpu_seconds();
                        let hits = run_batches(t * per..(t + 1) * per);
                        let cpu = before.zip(thread_cpu_seconds()).map(|(b, a)| a - b);
                        (hits, cpu)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or((0, None)))
                .fold((0, Some(0.0)), |(hits, cpu), (h, c)| {
                    (hits + h, cpu.zip(c).map(|(a, b)| a + b))
                })
        });
        (started.elapsed().as_secs_f64(), cpu, hits)
    };
    let (batch_single, batch_single_cpu, batch_hits) = timed_batches(1);
    let (batch_double, batch_double_cpu, _) = timed_batches(2);

    let (single, single_cpu, hits) = timed(1, false);
    let (double, double_cpu, _) = timed(2, false);
    let (single_best, single_best_cpu, best_hits) = timed(1, true);
    let (double_best, double_best_cpu, _) = timed(2, true);

    // Address lookups without text parsing, for comparison.
    let addresses: Vec<IpAddr> = (0..texts).map(|i| text(i).parse().unwrap()).collect();
    let started = Instant::now();
    let mut address_hits = 0usize;
    for i in 0..lookups {
        address_hits += usize::from(index.lookup_ip(addresses[i % texts], now).is_some());
    }
    let no_parse = started.elapsed().as_secs_f64();
    let per = |seconds: f64| seconds * 1e9 / lookups as f64;
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
        "{lookups} text lookups (IPv4 parsing included), {:.1}% hits, {best_hits} with a confidence",
        100.0 * address_hits as f64 / lookups as f64
    );
    let cpu = |seconds: Option<f64>| {
        seconds.map_or("n/a".to_owned(), |s| {
            format!("{s:.3} s CPU, {:.0} ns each", per(s))
        })
    };
    println!(
        "  match + num_matches: 1 thread {single:.3} s wall ({}); 2 threads {double:.3} s wall ({})",
        cpu(single_cpu),
        cpu(double_cpu)
    );
    println!(
        "  lookup_texts batches: 1 thread {batch_single:.3} s wall ({}); 2 threads {batch_double:.3} s wall ({})",
        cpu(batch_single_cpu),
        cpu(batch_double_cpu)
    );
    assert_eq!(batch_hits, hits, "the batch and one-by-one lookups agree");
    println!(
        "  match + best():      1 thread {single_best:.3} s wall ({}); 2 threads {double_best:.3} s wall ({})",
        cpu(single_best_cpu),
        cpu(double_best_cpu)
    );
    println!(
        "  address lookups without parsing, 1 thread: {no_parse:.3} s ({:.0} ns each); matches counted {hits}",
        per(no_parse)
    );
}

/// CPU time of the calling thread from `/proc/thread-self/schedstat` (Linux), in seconds.
fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanos as f64 / 1e9)
}
