//! `mailscope ingest`: each file is one atomic publish; bad records are reported with their
//! position and skipped, good ones kept.

use std::fs::File;
use std::io::{BufReader, Read};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use mailscope_engine::schema::SourceMeta;
use mailscope_engine::store::{Ingest, Store};
use mailscope_record::{ReadOptions, RecordReader, open_reader};

use crate::cli::IngestArgs;
use crate::geodb;

/// Bad records printed per file; the rest are counted.
const SHOWN_ERRORS: u64 = 5;

pub fn run(args: &IngestArgs) -> Result<ExitCode> {
    let geo = geodb::open(args.geoip.path())?;
    if let Some(geo) = &geo {
        // Rows are stamped with the database they were enriched with: it must be readable.
        geo.load()?;
    }
    if geo.is_none() {
        eprintln!("note: no geolocation database found; geo columns will be filled at query time");
    }
    let mut store = Store::open(&args.data_dir)
        .with_context(|| format!("cannot open store {}", args.data_dir.display()))?;
    let mut failed = false;
    for name in &args.files {
        let started = Instant::now();
        // A progress bar on a terminal (bytes of the file read), nothing otherwise.
        // Standard input has no length, and in a pipe the producer (`generate`) draws its own.
        let progress = if name == "-" {
            indicatif::ProgressBar::hidden()
        } else {
            let length = std::fs::metadata(name).map(|m| m.len()).unwrap_or(0);
            let bar = indicatif::ProgressBar::new(length);
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar
        };
        progress.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        progress.set_message(name.clone());
        let input: Box<dyn Read + Send> = if name == "-" {
            Box::new(progress.wrap_read(std::io::stdin()))
        } else {
            let file = File::open(name).with_context(|| format!("cannot open {name}"))?;
            Box::new(progress.wrap_read(BufReader::with_capacity(1 << 20, file)))
        };
        let options = ReadOptions {
            organization: args.organization.clone(),
            date_order: args.date_format,
            ..ReadOptions::default()
        };
        let reader = match open_reader(name, input, options) {
            Ok(reader) => reader,
            Err(error) => {
                eprintln!("{error}");
                failed = true;
                continue;
            }
        };
        let meta = SourceMeta {
            source_category: args.source_category.clone(),
            source: name.clone(),
            collector: "mailscope-ingest".into(),
        };
        let mut ingest = store.ingest(geo.clone(), meta);
        let (read, bad) = push_all(&mut ingest, reader, SHOWN_ERRORS)?;
        progress.set_message(format!("{name}: publishing"));
        let report = ingest.commit()?;
        progress.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        let peak = mailscope_service::process_status_bytes("VmHWM")
            .map_or_else(String::new, |bytes| {
                format!(", peak memory {} MiB", bytes >> 20)
            });
        eprintln!(
            "{name}: {read} records read, {} added, {} updated, {} unchanged, {} stale, {bad} bad; \
             {} rows stored; {seconds:.2} s ({:.0} records/s{peak})",
            report.added,
            report.updated,
            report.unchanged,
            report.stale,
            report.rows_after,
            read as f64 / seconds.max(1e-9),
        );
        failed |= bad > 0;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Pushes every good record of `reader` into `ingest`; prints the first `shown` bad ones
/// (and any fatal one) and returns how many were read and how many were bad.
pub fn push_all(ingest: &mut Ingest<'_>, reader: RecordReader, shown: u64) -> Result<(u64, u64)> {
    crate::append::push_reporting(ingest, reader, |error, bad| {
        if bad <= shown || error.fatal {
            eprintln!("{error}");
        }
    })
}
