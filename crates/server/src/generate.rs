//! `mailscope generate`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use mailscope_record::{Format, RecordWriter};
use mailscope_simulator::TenantConfig;

use crate::cli::GenerateArgs;

pub fn run(args: &GenerateArgs) -> Result<ExitCode> {
    let format: Format = args.format.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let start = chrono::DateTime::parse_from_rfc3339(&args.start)
        .with_context(|| format!("--start {:?} is not an RFC 3339 time", args.start))?
        .to_utc();
    let config = TenantConfig {
        seed: args.seed,
        messages: args.messages,
        start,
        days: args.days,
    };
    let generator = mailscope_simulator::generate(&config)?;
    let out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut writer = RecordWriter::new(format, BufWriter::with_capacity(1 << 20, out))?;
    let mut progress = crate::progress::Generation::new(start, args.days, "generating");
    for observation in generator {
        writer.write(&observation.record)?;
        progress.observed(observation.record.received);
    }
    progress.finish();
    let written = writer.count();
    writer.finish()?.flush()?;
    eprintln!(
        "generated {written} rows ({} identities) as {format}",
        args.messages
    );
    Ok(ExitCode::SUCCESS)
}
