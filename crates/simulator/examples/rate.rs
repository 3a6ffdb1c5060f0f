//! Prints the generator's throughput: `cargo run --release --example rate -- [messages]`.

use std::time::Instant;

use chrono::{TimeZone, Utc};
use mailscope_simulator::{TenantConfig, generate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let messages = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(2_000_000);
    let config = TenantConfig {
        seed: 42,
        messages,
        start: Utc
            .with_ymd_and_hms(2025, 3, 3, 0, 0, 0)
            .single()
            .ok_or("bad start")?,
        days: 30,
    };
    let began = Instant::now();
    let mut observations = 0u64;
    let mut bytes = 0usize;
    for observation in generate(&config)? {
        observations += 1;
        bytes += observation.record.subject.len();
    }
    let seconds = began.elapsed().as_secs_f64();
    println!(
        "{messages} records, {observations} observations in {seconds:.2}s: {:.0} records/s ({bytes} subject bytes)",
        messages as f64 / seconds
    );
    Ok(())
}
