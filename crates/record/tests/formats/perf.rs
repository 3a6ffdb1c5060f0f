//! Decode throughput, printed rather than asserted (machines differ). Run with
//! `cargo test --release -p mailscope-record --test formats -- --ignored --nocapture`.

use std::time::Instant;

use mailscope_record::formats::{Format, ReadOptions, open_reader, write_records};

use super::roundtrip::sample_record;

#[test]
#[ignore = "prints the NDJSON decode rate; run in release"]
fn ndjson_decode_rate() {
    let records: Vec<_> = (0..20_000).map(sample_record).collect();
    let mut one_pass = Vec::new();
    write_records(Format::Ndjson, records.iter(), &mut one_pass).unwrap();
    let mut data = Vec::with_capacity(one_pass.len() * 25);
    for _ in 0..25 {
        data.extend_from_slice(&one_pass);
    }
    let lines = records.len() * 25;
    let average = data.len() / lines;
    let start = Instant::now();
    let cpu_start = thread_cpu_seconds();
    let reader = open_reader(
        "bench.ndjson",
        Box::new(std::io::Cursor::new(data)),
        ReadOptions::default(),
    )
    .unwrap();
    let decoded = reader.filter(Result::is_ok).count();
    let seconds = start.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds()
        .zip(cpu_start)
        .map(|(end, start)| end - start);
    assert_eq!(decoded, lines);
    println!(
        "ndjson: {decoded} records of ~{average} bytes in {seconds:.3}s wall = {:.0} records/s",
        decoded as f64 / seconds
    );
    // On a shared machine wall time includes waiting for a core; CPU time does not.
    if let Some(cpu) = cpu.filter(|cpu| *cpu > 0.0) {
        println!(
            "ndjson: {cpu:.2}s of this thread's CPU = {:.0} records per CPU-second",
            decoded as f64 / cpu
        );
    }
}

/// This thread's user+system CPU time from `/proc` (Linux; `None` elsewhere). Clock ticks are
/// assumed to be 100 Hz, the Linux default.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
