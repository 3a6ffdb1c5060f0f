//! `mailscope bench --grow N --records M`: what appending costs as a store grows to N × M
//! records, the way a tenant's store grows over months. Into a fresh store, N tenants of M
//! messages each (seeds `--seed`, `--seed + 1`, …, all over the same `--days`, so every
//! append touches every day of the store) are appended one after the other, each by
//! `mailscope ingest -` in a child process reading NDJSON the bench generates into its
//! standard input. Then, into the grown store, a collector's poll (1,000 new identities on
//! the last day) and a status update of 1 % of the middle day's rows.
//!
//! Measured for each append: wall time, records a second, the child's peak memory (it
//! reports its own `VmHWM`), the files it wrote, and the store's live and garbage bytes
//! after it.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use chrono::TimeDelta;
use comfy_table::Table;
use mailscope_record::{Format, Record, RecordWriter, Status};
use mailscope_simulator::TenantConfig;
use serde_json::{Value as Json, json};

use super::{machine, ms};
use crate::cli::BenchArgs;

const SOURCE_CATEGORY: &str = "o365/messagetrace";
/// New identities in the poll.
const POLL: u64 = 1_000;

/// One child ingest measured.
pub(super) struct Measured {
    pub seconds: f64,
    pub records: u64,
    pub peak_mib: Option<u64>,
    pub bytes_written: u64,
    /// The child's last line: its own report.
    pub summary: String,
}

pub fn run(args: &BenchArgs, tenants: u32) -> Result<ExitCode> {
    if tenants == 0 {
        bail!("--grow needs at least one tenant");
    }
    let [messages] = args.records[..] else {
        bail!("--grow takes one --records size: the messages of each tenant");
    };
    let (start, _end, work_dir) = super::time_range_and_work_dir(args)?;
    let store = work_dir.join(format!("grow-{tenants}x{messages}"));
    let _ = std::fs::remove_dir_all(&store);
    let geo = args.geoip.path();
    let mut appends = Vec::new();
    for tenant in 0..tenants {
        let config = TenantConfig {
            seed: args.seed.wrapping_add(u64::from(tenant)),
            messages,
            start,
            days: args.days,
        };
        let rows_before = stored_rows(&store);
        let measured = ingest(&store, geo, |out| {
            write_records(
                out,
                mailscope_simulator::generate(&config)?.map(|o| o.record),
            )
        })?;
        let stats = mailscope_engine::store::stats(&store)?;
        eprintln!(
            "append {}: {} records into {rows_before} rows in {:.1} s ({:.0}/s), peak {} MiB",
            tenant + 1,
            measured.records,
            measured.seconds,
            measured.records as f64 / measured.seconds,
            measured.peak_mib.unwrap_or(0)
        );
        appends.push(json!({
            "append": tenant + 1,
            "rows_before": rows_before,
            "records": measured.records,
            "seconds": measured.seconds,
            "records_per_second": measured.records as f64 / measured.seconds.max(1e-9),
            "peak_mib": measured.peak_mib,
            "bytes_written": measured.bytes_written,
            "live_bytes": stats.live_bytes,
            "garbage_bytes": stats.garbage_bytes,
            "rows_after": stats.rows,
        }));
    }

    // The grown store: a collector's poll, then 1 % of the middle day changes status.
    let last_day = start + TimeDelta::days(i64::from(args.days) - 1);
    let poll_config = TenantConfig {
        seed: args.seed.wrapping_add(1_000_003),
        messages: POLL,
        start: last_day,
        days: 1,
    };
    let polled: Vec<Record> = mailscope_simulator::generate(&poll_config)?
        .map(|o| o.record)
        .collect();
    let poll = ingest(&store, geo, |out| write_records(out, polled.into_iter()))?;
    let middle = (start + TimeDelta::days(i64::from(args.days) / 2)).date_naive();
    let day_text = middle.format("%Y-%m-%d").to_string();
    let day_before = super::day_bytes(&store, &day_text)?;
    // Every tenant holds about 1/N of the day: every (100/N)th row of the last tenant's
    // day is 1 % of the day.
    let step = (100 / u64::from(tenants)).max(1);
    let last = TenantConfig {
        seed: args.seed.wrapping_add(u64::from(tenants - 1)),
        messages,
        start,
        days: args.days,
    };
    // Generated before the ingest starts, so its time is the ingest's alone.
    let mut seen = 0u64;
    let changed: Vec<Record> = mailscope_simulator::generate(&last)?
        .map(|o| o.record)
        .filter(|r| r.received.date_naive() == middle)
        .filter(|_| {
            seen += 1;
            seen.is_multiple_of(step)
        })
        .map(|mut r| {
            r.status = if r.status == Status::Quarantined {
                Status::Delivered
            } else {
                Status::Quarantined
            };
            r
        })
        .collect();
    let update = ingest(&store, geo, |out| write_records(out, changed.into_iter()))?;
    let stats = mailscope_engine::store::stats(&store)?;

    let machine = machine();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "machine": { "cpu": machine.cpu, "cores": machine.cores, "memory_bytes": machine.memory_bytes },
                "tenants": tenants,
                "messages_per_tenant": messages,
                "appends": appends,
                "poll": measured_json(&poll),
                "status_update": measured_json(&update),
                "updated_day_bytes": day_before,
                "store": stats,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header([
        "append",
        "store before",
        "records",
        "time",
        "records/s",
        "peak memory",
        "written",
        "live after",
        "garbage after",
    ]);
    for row in &appends {
        table.add_row([
            row["append"].to_string(),
            super::group_thousands(row["rows_before"].as_u64().unwrap_or(0)),
            super::group_thousands(row["records"].as_u64().unwrap_or(0)),
            ms(row["seconds"].as_f64()),
            format!("{:.0}", row["records_per_second"].as_f64().unwrap_or(0.0)),
            mib(row["peak_mib"].as_u64()),
            gb(row["bytes_written"].as_u64()),
            gb(row["live_bytes"].as_u64()),
            gb(row["garbage_bytes"].as_u64()),
        ]);
    }
    println!("{table}");
    let mut after = Table::new();
    after.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    after.set_header([
        "into the grown store",
        "records",
        "time",
        "peak memory",
        "written",
    ]);
    for (label, measured, of_day) in [
        ("poll (1,000 new)", &poll, false),
        ("status update (1 % of a day)", &update, true),
    ] {
        let written = format!("{:.2} MB", measured.bytes_written as f64 / 1e6);
        after.add_row([
            label.to_owned(),
            super::group_thousands(measured.records),
            ms(Some(measured.seconds)),
            mib(measured.peak_mib),
            if of_day {
                format!(
                    "{written} ({:.1} % of the day's {:.1} MB)",
                    100.0 * measured.bytes_written as f64 / day_before.max(1) as f64,
                    day_before as f64 / 1e6
                )
            } else {
                written
            },
        ]);
    }
    println!("{after}");
    println!(
        "store: {} rows, {} live ({:.1} bytes a row), {} garbage (files no catalog names, left for readers of older generations)",
        super::group_thousands(stats.rows),
        gb(Some(stats.live_bytes)),
        stats.live_bytes as f64 / stats.rows.max(1) as f64,
        gb(Some(stats.garbage_bytes))
    );
    println!(
        "machine: {}, {} cores; each ingest is `mailscope ingest -` in a child process fed by \
         the bench's generator (release builds only mean anything)",
        machine.cpu, machine.cores
    );
    Ok(ExitCode::SUCCESS)
}

fn measured_json(measured: &Measured) -> Json {
    json!({
        "records": measured.records,
        "seconds": measured.seconds,
        "peak_mib": measured.peak_mib,
        "bytes_written": measured.bytes_written,
    })
}

fn mib(value: Option<u64>) -> String {
    value.map_or_else(|| "?".into(), |m| format!("{m} MiB"))
}

fn gb(bytes: Option<u64>) -> String {
    format!("{:.2} GB", bytes.unwrap_or(0) as f64 / 1e9)
}

fn stored_rows(store: &Path) -> u64 {
    mailscope_engine::store::Catalog::load(store).map_or(0, |c| c.rows())
}

/// Writes records as NDJSON; returns how many.
fn write_records(out: &mut dyn Write, records: impl Iterator<Item = Record>) -> Result<u64> {
    let mut writer = RecordWriter::new(Format::Ndjson, out)?;
    let mut count = 0;
    for record in records {
        writer.write(&record)?;
        count += 1;
    }
    writer.finish()?.flush()?;
    Ok(count)
}

/// Runs `mailscope ingest -` into `store` with what `feed` writes to its standard input
/// (returning how many records it wrote).
pub(super) fn ingest(
    store: &Path,
    geo: Option<&Path>,
    feed: impl FnOnce(&mut dyn Write) -> Result<u64>,
) -> Result<Measured> {
    let before = super::store_files(store).unwrap_or_default();
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["ingest", "--source-category", SOURCE_CATEGORY, "--data-dir"])
        .arg(store);
    if let Some(geo) = geo {
        command.arg("--geoip-dir").arg(geo);
    }
    let started = Instant::now();
    let mut child = command
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start mailscope ingest")?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("no stdin for the ingest"))?;
    let mut out = BufWriter::with_capacity(1 << 20, stdin);
    let fed = feed(&mut out);
    drop(out);
    let output = child.wait_with_output()?;
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(anyhow!("mailscope ingest failed: {stderr}"));
    }
    let records = fed?;
    let summary = stderr.lines().last().unwrap_or_default().to_owned();
    let peak_mib = summary
        .split("peak memory ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok());
    let after = super::store_files(store)?;
    let bytes_written = after.difference(&before).map(|(_, bytes)| bytes).sum();
    Ok(Measured {
        seconds,
        records,
        peak_mib,
        bytes_written,
        summary,
    })
}
