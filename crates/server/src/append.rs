//! Appends, from the command line and from inside the server (HTTP ingest, collectors): how
//! the records of a reader enter an ingest, and what an append in the server holds of the
//! queries' memory pool.

use anyhow::Result;
use mailscope_engine::store::Ingest;
use mailscope_record::{ReadError, RecordReader};

/// What an append holds of the queries' pool beyond its input: its buffer of encoded rows
/// (32 MiB), then the day merges and key filters; measured appends of 10 M records peaked at
/// 409–466 MiB whole-process (BENCHMARKS.md, run F), a poll of 1,000 at 37 MiB.
const APPEND_FIXED_BYTES: usize = 32 << 20;
const APPEND_MAX_BYTES: usize = 512 << 20;
/// How long an append waits for running queries to let go of the pool before it fails
/// (an HTTP ingest then answers 503, a collector's poll is retried at the next one).
pub const APPEND_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The memory an append of `input_bytes` holds from the queries' pool while it runs: at
/// most half the pool, so an append is always admitted once queries let go.
pub fn append_memory(input_bytes: usize, pool: Option<usize>) -> usize {
    APPEND_FIXED_BYTES
        .saturating_add(input_bytes)
        .min(APPEND_MAX_BYTES)
        .min(pool.map_or(usize::MAX, |pool| pool / 2))
}

/// Pushes every good record of `reader` into `ingest` and hands each bad one to `report`
/// with its number among the bad ones (1-based); returns how many were read and were bad.
pub fn push_reporting(
    ingest: &mut Ingest<'_>,
    reader: RecordReader,
    mut report: impl FnMut(&ReadError, u64),
) -> Result<(u64, u64)> {
    let (mut read, mut bad) = (0u64, 0u64);
    for item in reader {
        match item {
            Ok(record) => {
                read += 1;
                ingest.push(record)?;
            }
            Err(error) => {
                bad += 1;
                report(&error, bad);
            }
        }
    }
    Ok((read, bad))
}
