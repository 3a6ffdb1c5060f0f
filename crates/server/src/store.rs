//! `mailscope store stats | verify | retain | compact | vacuum`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use mailscope_engine::store::{self, Store};

use crate::cli::{
    StoreArgs, StoreCommand, StoreCompactArgs, StoreReadArgs, StoreRetainArgs, StoreVacuumArgs,
};

pub fn run(args: &StoreArgs) -> Result<ExitCode> {
    match &args.command {
        StoreCommand::Stats(args) => stats(args),
        StoreCommand::Verify(args) => verify(args),
        StoreCommand::Retain(args) => retain(args),
        StoreCommand::Compact(args) => compact(args),
        StoreCommand::Vacuum(args) => vacuum(args),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

fn stats(args: &StoreReadArgs) -> Result<ExitCode> {
    let stats = store::stats(&args.data_dir)
        .with_context(|| format!("cannot read store {}", args.data_dir.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(["day", "segments", "rows", "deleted rows", "bytes"]);
    for day in &stats.days {
        table.add_row([
            day.day.clone(),
            day.segments.to_string(),
            day.rows.to_string(),
            day.deleted_rows.to_string(),
            mib(day.bytes),
        ]);
    }
    println!("{table}");
    println!(
        "generation {}: {} rows in {} segments, {} live ({:.1} bytes a row); {} in {} files \
         no catalog names (removed once no query reads them, or by `mailscope store vacuum`)",
        stats.generation,
        stats.rows,
        stats.segments,
        mib(stats.live_bytes),
        stats.live_bytes as f64 / stats.rows.max(1) as f64,
        mib(stats.garbage_bytes),
        stats.garbage_files
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(args: &StoreReadArgs) -> Result<ExitCode> {
    let verified = store::verify(&args.data_dir)
        .with_context(|| format!("cannot read store {}", args.data_dir.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&verified)?);
    } else {
        for problem in &verified.problems {
            eprintln!("{}: {}", problem.file, problem.message);
        }
        println!(
            "{} segments, {} rows checked: {} problems; {} files no catalog names",
            verified.segments,
            verified.rows,
            verified.problems.len(),
            verified.garbage_files
        );
    }
    Ok(if verified.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn retain(args: &StoreRetainArgs) -> Result<ExitCode> {
    let mut store = Store::open(&args.data_dir)
        .with_context(|| format!("cannot open store {}", args.data_dir.display()))?;
    let first_kept = Utc::now().date_naive() - chrono::Days::new(u64::from(args.keep_days));
    let dropped = store.drop_days_before(first_kept)?;
    println!(
        "dropped {} days before {first_kept} ({} segments, {} rows); their files are removed \
         after the grace period",
        dropped.days, dropped.segments, dropped.rows
    );
    Ok(ExitCode::SUCCESS)
}

fn compact(args: &StoreCompactArgs) -> Result<ExitCode> {
    let mut store = Store::open(&args.data_dir)
        .with_context(|| format!("cannot open store {}", args.data_dir.display()))?;
    let done = store.compact()?;
    println!(
        "compacted {} days: {} segments before, {} after; {} deleted rows dropped; {} written. \
         Replaced files that a running query still reads are removed when it ends (or by \
         `mailscope store vacuum`)",
        done.days,
        done.segments_before,
        done.segments_after,
        done.deleted_rows_dropped,
        mib(done.bytes_written)
    );
    Ok(ExitCode::SUCCESS)
}

fn vacuum(args: &StoreVacuumArgs) -> Result<ExitCode> {
    let store = Store::open(&args.data_dir)
        .with_context(|| format!("cannot open store {}", args.data_dir.display()))?;
    let before = store::stats(&args.data_dir)?;
    let removed = store.collect_garbage(Duration::from_secs(args.grace_minutes * 60))?;
    let after = store::stats(&args.data_dir)?;
    println!(
        "removed {removed} files ({}); {} in {} files are younger than {} minutes",
        mib(before.garbage_bytes.saturating_sub(after.garbage_bytes)),
        mib(after.garbage_bytes),
        after.garbage_files,
        args.grace_minutes
    );
    Ok(ExitCode::SUCCESS)
}
