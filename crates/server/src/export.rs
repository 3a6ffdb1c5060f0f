//! `mailscope export`: the rows of a time range written out, to keep them beyond what the
//! APIs serve (Graph: 90 days) or to move them elsewhere. Any record format `ingest` reads
//! (so an export ingests back into the same rows), or Parquet. The file is written beside its
//! name and renamed into place when whole, so an interrupted export leaves no partial file
//! under the name asked for.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mailscope_engine::exec::Snapshot;
use mailscope_engine::store::export::{ParquetExport, records_of, rows_in_range};
use mailscope_record::{Format, RecordWriter};

use crate::cli::ExportArgs;

/// What an export writes.
enum Output {
    Records(Format),
    Parquet,
}

fn output_of(name: &str) -> Result<Output> {
    if name.eq_ignore_ascii_case("parquet") {
        return Ok(Output::Parquet);
    }
    name.parse::<Format>().map(Output::Records).map_err(|_| {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        anyhow!(
            "--format {name:?} is not a format: one of {}, or parquet",
            names.join(", ")
        )
    })
}

pub fn run(args: &ExportArgs) -> Result<ExitCode> {
    let output = output_of(&args.format)?;
    let data_dir = &args.range.data_dir;
    if !data_dir.is_dir() {
        bail!("{} is not a store", data_dir.display());
    }
    let snapshot = Snapshot::load(data_dir)
        .map_err(|e| anyhow!("cannot read the store {}: {e}", data_dir.display()))?;
    let (from, to) = args
        .range
        .resolve(|| Ok(crate::trace::range_of(&snapshot.catalog)))?;
    if from >= to {
        bail!("--from {from} is not before --to {to}");
    }
    let nanos = |t: DateTime<Utc>| t.timestamp_nanos_opt().unwrap_or(i64::MAX);
    let expected: u64 = snapshot
        .catalog
        .segments_overlapping(nanos(from), nanos(to))
        .map(|s| s.live_rows())
        .sum();
    let bar = progress(expected, args.out == "-");
    let rows = if args.out == "-" {
        write(
            &snapshot,
            &output,
            nanos(from),
            nanos(to),
            std::io::stdout(),
            &bar,
        )?
    } else {
        let out = PathBuf::from(&args.out);
        let partial = partial_path(&out);
        let file = File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let written = write(&snapshot, &output, nanos(from), nanos(to), file, &bar);
        match written {
            Ok(rows) => {
                std::fs::rename(&partial, &out)
                    .with_context(|| format!("cannot write {}", out.display()))?;
                rows
            }
            Err(error) => {
                let _ = std::fs::remove_file(&partial);
                return Err(error);
            }
        }
    };
    bar.finish_and_clear();
    crate::logging::notice(format!(
        "exported {rows} rows received from {} to {} as {}{}",
        from.to_rfc3339(),
        to.to_rfc3339(),
        args.format,
        if args.out == "-" {
            String::new()
        } else {
            format!(" to {}", args.out)
        }
    ));
    Ok(ExitCode::SUCCESS)
}

/// `out.ndjson` is written as `.out.ndjson.partial` beside it.
fn partial_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".to_owned());
    out.with_file_name(format!(".{name}.partial"))
}

fn progress(rows: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(rows), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("export {wide_bar} {pos}/{len} rows ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn write<W: Write + Send>(
    snapshot: &Snapshot,
    output: &Output,
    from: i64,
    to: i64,
    out: W,
    bar: &ProgressBar,
) -> Result<u64> {
    let out = BufWriter::with_capacity(1 << 20, out);
    let rows = match output {
        Output::Records(format) => {
            let mut writer = RecordWriter::new(*format, out)?;
            let rows = rows_in_range(snapshot, from, to, |batch| {
                for record in records_of(&batch)? {
                    writer
                        .write(&record)
                        .map_err(|e| mailscope_engine::Error::Query(e.to_string()))?;
                }
                bar.inc(batch.num_rows() as u64);
                Ok(())
            })?;
            writer.finish()?.flush()?;
            rows
        }
        Output::Parquet => {
            let mut writer = ParquetExport::new(out)?;
            let rows = rows_in_range(snapshot, from, to, |batch| {
                writer.write(&batch)?;
                bar.inc(batch.num_rows() as u64);
                Ok(())
            })?;
            writer.finish()?.flush()?;
            rows
        }
    };
    Ok(rows)
}
