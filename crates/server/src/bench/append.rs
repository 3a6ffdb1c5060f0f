//! `mailscope bench --append`: what appending costs as the store grows. For each size the
//! bench store is copied twice — as it is, and without its key runs (how every store was
//! before them: an append reads the identities of every day it touches) — and three inputs
//! are ingested into each copy by `mailscope ingest` in a child process:
//!
//! - **poll**: 1,000 new identities on the last day, what a collector brings each poll;
//! - **status update**: 1 % of one day's rows seen again with another final status;
//! - **re-ingest**: 1,000 rows already stored, spread over every day (nothing changes).
//!
//! Measured for each: wall time, the child's peak memory (it reports its own `VmHWM`) and the
//! bytes of the files it wrote, next to the bytes of the day the update touches.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, TimeDelta, Utc};
use comfy_table::Table;
use mailscope_record::{Format, RecordWriter};
use mailscope_simulator::TenantConfig;
use serde_json::{Value as Json, json};

use super::{generated_file, machine, ms};
use crate::cli::BenchArgs;

/// Rows of the poll and of the re-ingest.
const SMALL: u64 = 1_000;

/// One ingest measured.
#[derive(Debug, Clone)]
struct Measured {
    seconds: f64,
    peak_mib: Option<u64>,
    bytes_written: u64,
    summary: String,
}

pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    let (start, _end, work_dir) = super::time_range_and_work_dir(args)?;
    let machine = machine();
    let mut report = Vec::new();
    for &records in &args.records {
        let data = generated_file(&work_dir, records, args.days, args.seed, start)?;
        let store = super::bench_store(&work_dir, records, args, start, &None)?;
        let dir = work_dir.join(format!("append-{records}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let last_day = start + TimeDelta::days(i64::from(args.days) - 1);
        let middle_day = (start + TimeDelta::days(i64::from(args.days) / 2)).date_naive();
        let inputs = [
            ("poll (1,000 new)", poll(&dir, args.seed, last_day)?),
            (
                "status update (1 % of a day)",
                status_update(&dir, &data.path, middle_day)?,
            ),
            (
                "re-ingest (1,000 stored)",
                reingest(&dir, &data.path, data.rows)?,
            ),
        ];
        let day_text = middle_day.format("%Y-%m-%d").to_string();
        let mut rows = Vec::new();
        for (variant, keep_runs) in [("with key runs", true), ("without (before)", false)] {
            let copy = dir.join(if keep_runs { "store" } else { "store-legacy" });
            copy_dir(&store, &copy)?;
            if !keep_runs {
                remove_key_runs(&copy)?;
            }
            let day_bytes = super::day_bytes(&copy, &day_text)?;
            for (label, input) in &inputs {
                let measured = ingest(&copy, input, args.geoip.path())?;
                eprintln!("{records} {variant}, {label}: {}", measured.summary);
                rows.push(json!({
                    "records": records,
                    "variant": variant,
                    "input": label,
                    "seconds": measured.seconds,
                    "peak_mib": measured.peak_mib,
                    "bytes_written": measured.bytes_written,
                    "updated_day_bytes": day_bytes,
                }));
            }
            let _ = std::fs::remove_dir_all(&copy);
        }
        report.push(json!({ "records": records, "rows": rows }));
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "machine": { "cpu": machine.cpu, "cores": machine.cores, "memory_bytes": machine.memory_bytes },
                "append": report,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header([
        "records",
        "store",
        "input",
        "time",
        "peak memory",
        "written",
        "of the day's bytes",
    ]);
    for size in &report {
        for row in size["rows"].as_array().into_iter().flatten() {
            let written = row["bytes_written"].as_u64().unwrap_or(0);
            let day = row["updated_day_bytes"].as_u64().unwrap_or(0).max(1);
            table.add_row([
                row["records"].to_string(),
                row["variant"].as_str().unwrap_or("").to_owned(),
                row["input"].as_str().unwrap_or("").to_owned(),
                ms(row["seconds"].as_f64()),
                row["peak_mib"]
                    .as_u64()
                    .map_or_else(|| "?".into(), |m| format!("{m} MiB")),
                format!("{:.1} MB", written as f64 / 1e6),
                if row["input"]
                    .as_str()
                    .is_some_and(|i| i.starts_with("status"))
                {
                    format!("{:.1} %", 100.0 * written as f64 / day as f64)
                } else {
                    String::new()
                },
            ]);
        }
    }
    println!("{table}");
    println!(
        "machine: {}, {} cores; each ingest is `mailscope ingest` in a child process (release \
         builds only mean anything)",
        machine.cpu, machine.cores
    );
    Ok(ExitCode::SUCCESS)
}

/// 1,000 new identities received on `day` (another seed: none is stored).
fn poll(dir: &Path, seed: u64, day: DateTime<Utc>) -> Result<PathBuf> {
    let config = TenantConfig {
        seed: seed.wrapping_add(1_000_003),
        messages: SMALL,
        start: day,
        days: 1,
    };
    let path = dir.join("poll.ndjson");
    let file = std::fs::File::create(&path)?;
    let mut writer = RecordWriter::new(Format::Ndjson, BufWriter::new(file))?;
    for observation in mailscope_simulator::generate(&config)? {
        writer.write(&observation.record)?;
    }
    writer.finish()?.flush()?;
    Ok(path)
}

/// Every 100th line of the data received on `day`, with a final status other than its own.
fn status_update(dir: &Path, data: &Path, day: chrono::NaiveDate) -> Result<PathBuf> {
    let day_prefix = day.format("%Y-%m-%d").to_string();
    let path = dir.join("update.ndjson");
    let mut out = BufWriter::new(std::fs::File::create(&path)?);
    let input = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(data)?);
    let mut seen = 0u64;
    let mut written = 0u64;
    for line in input.lines() {
        let line = line?;
        let mut value: Json = serde_json::from_str(&line)
            .with_context(|| format!("{}: not NDJSON", data.display()))?;
        if !value["Received"]
            .as_str()
            .is_some_and(|r| r.starts_with(&day_prefix))
        {
            continue;
        }
        seen += 1;
        if !seen.is_multiple_of(100) {
            continue;
        }
        let status = if value["Status"] == "Quarantined" {
            "Delivered"
        } else {
            "Quarantined"
        };
        value["Status"] = json!(status);
        writeln!(out, "{value}")?;
        written += 1;
    }
    out.flush()?;
    if written == 0 {
        bail!("no row of {} was received on {day}", data.display());
    }
    Ok(path)
}

/// 1,000 lines of the data spread evenly over the file (so over every day), unchanged.
fn reingest(dir: &Path, data: &Path, rows: u64) -> Result<PathBuf> {
    let step = (rows / SMALL).max(1);
    let path = dir.join("reingest.ndjson");
    let mut out = BufWriter::new(std::fs::File::create(&path)?);
    let input = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(data)?);
    for (i, line) in input.lines().enumerate() {
        if (i as u64).is_multiple_of(step) {
            writeln!(out, "{}", line?)?;
        }
    }
    out.flush()?;
    Ok(path)
}

fn ingest(store: &Path, input: &Path, geo: Option<&Path>) -> Result<Measured> {
    let measured = super::grow::ingest(store, geo, |out| {
        let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(input)?);
        let mut lines = 0;
        for line in reader.lines() {
            writeln!(out, "{}", line?)?;
            lines += 1;
        }
        Ok(lines)
    })?;
    Ok(Measured {
        seconds: measured.seconds,
        peak_mib: measured.peak_mib,
        bytes_written: measured.bytes_written,
        summary: measured.summary,
    })
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)?.flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn remove_key_runs(store: &Path) -> Result<()> {
    for (path, _) in super::store_files(store)? {
        if path.extension().is_some_and(|e| e == "keys") {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}
