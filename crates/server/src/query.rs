//! `mailscope query`.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::QueryArgs;

pub fn run(_args: &QueryArgs) -> Result<ExitCode> {
    anyhow::bail!("query execution is being wired up")
}
