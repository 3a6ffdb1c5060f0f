//! One memory budget for a server process, and how it is shared.
//!
//! `--memory` is the whole process's budget. What the process holds before its first query
//! (the binary, the ASN ranges, the threat indexes: its resident size at start; the
//! geolocation database is read through its index on disk, see `mailscope_engine::geo`) and
//! the part of its code not yet resident, which queries page in, are taken off first; the
//! rest is split once:
//!
//! | share of the rest | what | bound by |
//! |---|---|---|
//! | ½ | operators of running queries (hash tables of aggregations, sorts, joins), background compaction (held for each day it merges) and appends (HTTP ingest and in-process collectors: 32 MiB plus their input, at most 512 MiB and half the pool; they wait for queries to let go) | DataFusion's fair spill pool: beyond it they spill to temporary files, or the query fails naming the budget |
//! | ¼ | decoded columns kept between queries | the column cache's LRU budget |
//! | 1⁄16, at most 256 MiB | finished results kept for paging | the result cache's LRU bound |
//! | the rest | what no pool counts: batches in flight in scans, the caches of geolocation answers, HTTP buffers, the allocator's retention | admission: only `max_running` queries run at once, the others wait |
//!
//! The default is half of the machine's memory (`MemTotal`), so a server shares the machine.

use std::str::FromStr;

/// The largest result cache, whatever the budget.
const MAX_RESULT_CACHE: usize = 256 << 20;
/// What a running query holds that no pool counts: the batches in flight in its scans and
/// repartitions, the partial states its aggregations pass on, the allocator's slack around
/// them (measured: about 30 MB for a panel over 2 M records).
const QUERY_OUTSIDE_POOL: usize = 48 << 20;
/// The smallest budget a server accepts: below it the fixed part of the process (the
/// program, the ASN ranges and threat indexes) leaves the shares nothing.
const MIN_BUDGET: usize = 32 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    total: usize,
    /// Held before any query: the process's resident size once its reference data is loaded.
    baseline: usize,
}

impl MemoryBudget {
    pub fn new(total: usize) -> Result<MemoryBudget, String> {
        if total < MIN_BUDGET {
            return Err(format!(
                "a memory budget of {} is too small: at least {}",
                human(total),
                human(MIN_BUDGET)
            ));
        }
        Ok(MemoryBudget { total, baseline: 0 })
    }

    /// The budget with `baseline` bytes already held; refused when it leaves less than the
    /// smallest budget for queries and caches.
    pub fn with_baseline(self, baseline: usize) -> Result<MemoryBudget, String> {
        if self.total.saturating_sub(baseline) < MIN_BUDGET {
            return Err(format!(
                "a memory budget of {} leaves too little: the server holds {} before its first \
                 query (the program and its geolocation and threat data), and queries need at \
                 least {} more",
                human(self.total),
                human(baseline),
                human(MIN_BUDGET)
            ));
        }
        Ok(MemoryBudget { baseline, ..self })
    }

    /// This process's resident size now (`VmRSS`), where the system reports it.
    pub fn resident_now() -> Option<usize> {
        usize::try_from(process_status_bytes("VmRSS")?).ok()
    }

    /// What the process will hold once its queries ran, beyond what it holds now: the part of
    /// its program's code not yet resident (`/proc/self/smaps`), which queries page in as they
    /// run (about 50 MB of a 67 MB code segment for the dashboards' panels) and which counts
    /// in its resident size like any other page. `None` where the system does not say.
    pub fn code_not_yet_resident() -> Option<usize> {
        let program = std::env::current_exe().ok()?;
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        Some(code_not_resident_in(&smaps, &program.to_string_lossy()))
    }

    /// Half of this machine's memory (4 GiB when it cannot be read).
    pub fn machine_default() -> MemoryBudget {
        let total = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|line| line.strip_prefix("MemTotal:"))
                    .and_then(|rest| {
                        rest.trim()
                            .trim_end_matches("kB")
                            .trim()
                            .parse::<usize>()
                            .ok()
                    })
            })
            .map_or(8 << 30, |kib| kib.saturating_mul(1024));
        MemoryBudget {
            total: (total / 2).max(MIN_BUDGET),
            baseline: 0,
        }
    }

    pub fn total(&self) -> usize {
        self.total
    }

    pub fn baseline(&self) -> usize {
        self.baseline
    }

    fn available(&self) -> usize {
        self.total.saturating_sub(self.baseline)
    }

    /// How many queries may run at once, at most `cores`: each holds about
    /// [`QUERY_OUTSIDE_POOL`] that no pool counts, so a small budget runs one at a time (the
    /// others wait their turn) rather than exceed itself.
    pub fn running_queries(&self, cores: usize) -> usize {
        (self.available() / QUERY_OUTSIDE_POOL).clamp(1, cores.max(1))
    }

    /// For the operators of all running queries together.
    pub fn query_pool(&self) -> usize {
        self.available() / 2
    }

    /// For decoded columns kept between queries.
    pub fn column_cache(&self) -> usize {
        self.available() / 4
    }

    /// For finished results kept for paging.
    pub fn result_cache(&self) -> usize {
        (self.available() / 16).min(MAX_RESULT_CACHE)
    }
}

/// A size field of this process's `/proc/self/status` (`VmRSS`, `VmHWM`, …) in bytes, where
/// the system reports it.
pub fn process_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib.saturating_mul(1024))
}

/// Bytes of the executable mappings of `program` in `smaps` (the text of
/// `/proc/<pid>/smaps`) that are not resident.
fn code_not_resident_in(smaps: &str, program: &str) -> usize {
    let (mut size, mut resident) = (0usize, 0usize);
    let mut code = false;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            let permissions = words.next().unwrap_or_default();
            let path = words.nth(3).unwrap_or_default();
            code = permissions.contains('x') && path == program;
            continue;
        }
        let kib = |rest: Option<&str>| -> usize {
            rest.and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0)
                .saturating_mul(1024)
        };
        match first {
            "Size:" if code => size += kib(words.next()),
            "Rss:" if code => resident += kib(words.next()),
            _ => {}
        }
    }
    size.saturating_sub(resident)
}

impl FromStr for MemoryBudget {
    type Err = String;

    /// `512MiB`, `2GiB`, `1.5 GB`, `800M` or a number of bytes.
    fn from_str(text: &str) -> Result<MemoryBudget, String> {
        let size = bytesize::ByteSize::from_str(text.trim())
            .map_err(|e| format!("{text:?} is not a size (e.g. 512MiB, 4GiB): {e}"))?;
        MemoryBudget::new(usize::try_from(size.as_u64()).unwrap_or(usize::MAX))
    }
}

impl std::fmt::Display for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&human(self.total))
    }
}

fn human(bytes: usize) -> String {
    bytesize::ByteSize::b(bytes as u64)
        .display()
        .iec()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_and_decimal_units() {
        let budget: MemoryBudget = "512MiB".parse().expect("parses");
        assert_eq!(budget.total(), 512 << 20);
        assert_eq!(
            "2 GiB".parse::<MemoryBudget>().map(|b| b.total()),
            Ok(2 << 30)
        );
        assert_eq!(
            "1GB".parse::<MemoryBudget>().map(|b| b.total()),
            Ok(1_000_000_000)
        );
        assert_eq!(budget.query_pool(), 256 << 20);
        assert_eq!(budget.column_cache(), 128 << 20);
        assert_eq!(budget.result_cache(), 32 << 20);
        assert_eq!(budget.to_string(), "512.0 MiB");
    }

    #[test]
    fn a_bad_or_tiny_budget_is_refused_with_the_reason() {
        let error = "lots".parse::<MemoryBudget>().expect_err("not a size");
        assert!(error.contains("\"lots\" is not a size"), "{error}");
        let error = "1MiB".parse::<MemoryBudget>().expect_err("too small");
        assert!(error.contains("too small"), "{error}");
    }

    #[test]
    fn what_the_process_holds_at_start_comes_off_first() {
        let budget: MemoryBudget = "512MiB".parse().expect("parses");
        let held = budget.with_baseline(256 << 20).expect("leaves enough");
        assert_eq!(held.query_pool(), 128 << 20);
        assert_eq!(held.column_cache(), 64 << 20);
        let error = budget
            .with_baseline(490 << 20)
            .expect_err("leaves too little");
        assert!(error.contains("before its first query"), "{error}");
        assert!(MemoryBudget::resident_now().is_some_and(|bytes| bytes > 0));
    }

    #[test]
    fn the_code_not_yet_resident_is_what_the_executable_mappings_miss() {
        let smaps = "\
55d0a0000000-55d0a1000000 r--p 00000000 fe:00 42 /opt/mailscope
Size:              16384 kB
Rss:                1024 kB
55d0a1000000-55d0a5000000 r-xp 01000000 fe:00 42 /opt/mailscope
Size:              65536 kB
Rss:                8192 kB
7f0000000000-7f0000100000 r-xp 00000000 fe:00 7 /usr/lib/libc.so.6
Size:               1024 kB
Rss:                 512 kB
7f0000200000-7f0000300000 rw-p 00000000 00:00 0
Size:               1024 kB
Rss:                1024 kB
";
        assert_eq!(
            code_not_resident_in(smaps, "/opt/mailscope"),
            (65536 - 8192) << 10
        );
        assert_eq!(code_not_resident_in(smaps, "/elsewhere"), 0);
        assert_eq!(code_not_resident_in("", "/opt/mailscope"), 0);
        assert!(MemoryBudget::code_not_yet_resident().is_some());
    }

    #[test]
    fn a_small_budget_runs_one_query_at_a_time() {
        let small: MemoryBudget = "128MiB".parse().expect("parses");
        let small = small.with_baseline(75 << 20).expect("leaves enough");
        assert_eq!(small.running_queries(2), 1);
        let large: MemoryBudget = "4GiB".parse().expect("parses");
        assert_eq!(large.running_queries(2), 2);
        assert_eq!(large.running_queries(0), 1);
    }

    #[test]
    fn the_shares_leave_room_for_what_no_pool_counts() {
        let budget = MemoryBudget::machine_default();
        let shares = budget.query_pool() + budget.column_cache() + budget.result_cache();
        assert!(shares < budget.total());
        assert!(budget.result_cache() <= MAX_RESULT_CACHE);
    }
}
