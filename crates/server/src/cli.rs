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
    /// Prints how a query is understood and run: the parsed pipeline, the checked stages
    /// (IR) and, with a store, the execution plans.
    Explain(ExplainArgs),
    /// One message's story: its recipients and their statuses, where it came from (the
    /// sender IP's location, network and threat verdict) and the messages around it.
    Trace(TraceArgs),
    /// Writes the rows of a time range to a file, in any format `ingest` reads or as
    /// Parquet: to keep them beyond what the APIs serve.
    Export(ExportArgs),
    /// Serves the web app, its API (queries, dashboards, apps, metrics) and the ingest
    /// endpoint over a store.
    Serve(ServeArgs),
    /// Collects message trace from Microsoft's APIs into a store, as configured (TOML);
    /// `collect status` tells how each tenant's collection stands.
    #[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
    Collect(CollectArgs),
    /// Serves an emulation of Microsoft's token, Reporting Web Service and Graph message
    /// trace endpoints over a synthetic tenant, with optional faults.
    Simulate(SimulateArgs),
    /// Measures ingest and the seed query on this machine, next to DuckDB (BENCHMARKS.md).
    Bench(BenchArgs),
    /// The whole product on a simulated tenant: the emulated Microsoft Graph API, a
    /// collector pulling from it into a store, and the server over that store.
    Demo(DemoArgs),
    /// Lists, installs, upgrades and uninstalls the apps (bundled dashboards) of a data
    /// directory.
    App(AppArgs),
    /// Looks after a store: what it holds, whether its files agree with its catalog,
    /// retention and removing replaced files.
    Store(StoreArgs),
    /// Checks a configuration file (collector tenants and threat feeds) without contacting
    /// anything: what it understood, or each problem with its line and column.
    Config(ConfigArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Reads FILE as `serve --collect/--threat-config` and `collect --config` would.
    Check { file: std::path::PathBuf },
}

#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Rows, segments, live and garbage bytes, per day.
    Stats(StoreReadArgs),
    /// Reads every segment and checks it against the catalog: row count, size, time range,
    /// order, key run, identities stored once. Exit code 1 when anything disagrees.
    Verify(StoreReadArgs),
    /// Drops whole days older than the retention, in one publish.
    Retain(StoreRetainArgs),
    /// Merges each day with more than one small segment or with deleted rows into one
    /// segment of its live rows, or several of at most 4 M rows for a larger day (queries
    /// then read each day's partial aggregates again); also rewrites days whose partial
    /// aggregates an earlier version wrote without some levels. Needs the store's write
    /// lock: run it when no ingest or collector runs.
    Compact(StoreCompactArgs),
    /// Removes files no catalog names: replaced ones no running query reads (by their
    /// leases), others (leftovers of a crash) once older than the grace period.
    Vacuum(StoreVacuumArgs),
}

#[derive(Debug, Args)]
pub struct StoreReadArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StoreRetainArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Days to keep (UTC days of `Received`): days before today minus this many are dropped.
    #[arg(long, value_name = "DAYS")]
    pub keep_days: u32,
}

#[derive(Debug, Args)]
pub struct StoreCompactArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct StoreVacuumArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Files of unknown history younger than this many minutes are left (a reader without a
    /// lease may still read them).
    #[arg(long, default_value_t = 15)]
    pub grace_minutes: u64,
}

#[derive(Debug, Args)]
pub struct AppArgs {
    #[command(subcommand)]
    pub command: AppCommand,
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Lists the bundled apps, which are installed, and the dashboards.
    List(AppListArgs),
    /// Installs an app's dashboards, bound to a source category.
    Install(AppInstallArgs),
    /// Moves an installed app to another version (default: the latest); dashboards you
    /// edited are kept as your own copies.
    Upgrade(AppUpgradeArgs),
    /// Removes an app's dashboards; the ones you edited are kept as your own.
    Uninstall(AppUninstallArgs),
}

#[derive(Debug, Args)]
pub struct AppListArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct AppInstallArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The `_sourceCategory` the app's queries read.
    #[arg(long, default_value = "o365/messagetrace")]
    pub source_category: String,
    /// Default: the latest.
    #[arg(long)]
    pub version: Option<String>,
    #[arg(default_value = "microsoft-exchange-trace-logs")]
    pub app: String,
}

#[derive(Debug, Args)]
pub struct AppUpgradeArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Default: the latest.
    #[arg(long)]
    pub version: Option<String>,
    #[arg(default_value = "microsoft-exchange-trace-logs")]
    pub app: String,
}

#[derive(Debug, Args)]
pub struct AppUninstallArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
    #[arg(default_value = "microsoft-exchange-trace-logs")]
    pub app: String,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "mailscope-demo")]
    pub data_dir: PathBuf,
    /// Address of the server.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Stop after the first collection has caught up and the Overview is printed.
    #[arg(long)]
    pub once: bool,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long, default_value_t = 300_000)]
    pub messages: u64,
    #[arg(long, default_value_t = 28)]
    pub days: u32,
    #[command(flatten)]
    pub geoip: GeoipArgs,
    #[command(flatten)]
    pub asn: AsnArgs,
    #[command(flatten)]
    pub memory: MemoryArgs,
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
    /// How slash dates in CSV exports are read: `MM/dd/yyyy` (en-US) or `dd/MM/yyyy`. Without
    /// it each file's own dates decide, and a file whose dates never tell is refused.
    #[arg(long, value_name = "FORMAT")]
    pub date_format: Option<mailscope_record::time::DateOrder>,
    #[command(flatten)]
    pub geoip: GeoipArgs,
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
    #[command(flatten)]
    pub lookups: LookupArgs,
    pub query: String,
}

/// The reference data a one-shot command's lookups read: geolocation, AS numbers and the
/// server's threat feeds.
#[derive(Debug, Args)]
pub struct LookupArgs {
    #[command(flatten)]
    pub geoip: GeoipArgs,
    #[command(flatten)]
    pub asn: AsnArgs,
    /// The server's threat configuration: threat lookups answer from its file feeds and the
    /// copies of its URL feeds the server saved under `<data dir>/threat/` (nothing is
    /// downloaded).
    #[arg(long, env = "MAILSCOPE_THREAT_CONFIG", value_name = "FILE")]
    pub threat_config: Option<PathBuf>,
}

/// A store and a time range in it, each end defaulting to the store's own
/// (`StoreRangeArgs::resolve`).
#[derive(Debug, Args)]
pub struct StoreRangeArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Start of the time range (RFC 3339), inclusive; default: the store's oldest row.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the time range (RFC 3339), exclusive; default: just past the store's newest row.
    #[arg(long)]
    pub to: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub range: StoreRangeArgs,
    /// ndjson, export-csv, eac-csv, graph-json, reporting-json, reporting-verbose, or parquet.
    #[arg(long, default_value = "ndjson")]
    pub format: String,
    /// The file to write (whole, then renamed into place); `-` writes to standard output.
    #[arg(long)]
    pub out: String,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub range: StoreRangeArgs,
    /// Print the story as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub lookups: LookupArgs,
    /// The message's Internet Message-ID (`<…@…>`, brackets optional) or the message trace
    /// id of one of its copies (a GUID).
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A store to plan against; without one only the parse and the stages are printed.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Start of the time range (RFC 3339); default: 30 days before --to.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the time range (RFC 3339); default: now.
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// `name=value` for a `{{name}}` in the query; repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub variables: Vec<String>,
    /// Print the stages as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    pub query: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
    /// How logs are written to standard error: `text` for a person, `json` (one object a
    /// line) for a log collector.
    #[arg(long, value_enum, default_value_t, env = "MAILSCOPE_LOG_FORMAT")]
    pub log_format: crate::logging::LogFormat,
    /// Address to listen on. Anything but loopback needs an access token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// File holding the access token API requests must carry (`Authorization: Bearer …`).
    /// The ingest endpoint is enabled only with a token.
    #[arg(long, env = "MAILSCOPE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// `_sourceCategory` of rows posted to the ingest endpoint without one.
    #[arg(long, default_value = "o365/messagetrace")]
    pub source_category: String,
    /// Largest body the ingest endpoint accepts, in MiB.
    #[arg(long, default_value_t = 256)]
    pub max_ingest_mib: usize,
    /// Collector configuration (TOML) whose tenants are collected inside the server.
    #[arg(long)]
    pub collect: Option<PathBuf>,
    /// Days of mail to keep (UTC days of `Received`): older days are dropped at start and
    /// every hour, their files removed once no query reads them. Default: keep everything.
    #[arg(long, env = "MAILSCOPE_RETENTION_DAYS", value_name = "DAYS")]
    pub retention_days: Option<u32>,
    /// Seconds between background compactions: a day before today that appends left in 4
    /// segments or more, or with a tenth of its rows deleted, is merged into one segment of
    /// its live rows, one day at a time under the store's lock (an append waits for at most
    /// one day), the next day right after. 0: never (`mailscope store compact` by hand).
    #[arg(
        long,
        env = "MAILSCOPE_COMPACT_INTERVAL_SECS",
        default_value_t = 600,
        value_name = "SECONDS"
    )]
    pub compact_interval_secs: u64,
    /// Longest a query of the API may run, in milliseconds.
    #[arg(
        long,
        env = "MAILSCOPE_QUERY_TIMEOUT_MS",
        default_value_t = 120_000,
        hide = true
    )]
    pub query_timeout_ms: u64,
    /// A TOML file with `[[threat.feed]]` entries (it may be the `--collect` file): feeds kept
    /// under `<data dir>/threat/`, refreshed in the background, answering the threat lookups.
    #[arg(long, env = "MAILSCOPE_THREAT_CONFIG", value_name = "FILE")]
    pub threat_config: Option<PathBuf>,
    #[command(flatten)]
    pub memory: MemoryArgs,
    #[command(flatten)]
    pub geoip: GeoipArgs,
    #[command(flatten)]
    pub asn: AsnArgs,
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    #[command(subcommand)]
    pub command: Option<CollectCommand>,
    /// The configuration file (TOML): tenants, API, credentials, intervals.
    #[arg(long, required = true)]
    pub config: Option<PathBuf>,
    /// The store; overrides the configuration's `data_dir`.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// How logs are written to standard error: `text` for a person, `json` (one object a
    /// line) for a log collector.
    #[arg(long, value_enum, default_value_t, env = "MAILSCOPE_LOG_FORMAT")]
    pub log_format: crate::logging::LogFormat,
    /// Collect until every tenant has caught up, then exit.
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub geoip: GeoipArgs,
}

#[derive(Debug, Subcommand)]
pub enum CollectCommand {
    /// Each tenant collected into a store: how far its collection reached and how far behind
    /// now that is, rows received in the last hour, and what its collector last recorded
    /// (state, last success and error, where its organization comes from).
    Status {
        #[arg(long)]
        data_dir: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[arg(long, default_value = "127.0.0.1:8765")]
    pub listen: std::net::SocketAddr,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Message trace rows (message x recipient) of the tenant.
    #[arg(long, default_value_t = 100_000)]
    pub messages: u64,
    /// Days of history up to now.
    #[arg(long, default_value_t = 21)]
    pub days: u32,
    /// Faults to inject, e.g. `429=0.2,500=0.05,timeout=0.02,truncate=0.02,html=0.02,expired-link=0.05,token-expiry=30s`.
    #[arg(long)]
    pub faults: Option<String>,
    /// Graph's request quota, e.g. `100/5m`.
    #[arg(long)]
    pub graph_quota: Option<String>,
    /// A tenant set up wrong, failing as Microsoft's services fail: `expired-secret`,
    /// `no-service-principal` or `no-permission`.
    #[arg(long, value_name = "MISTAKE")]
    pub onboarding: Option<mailscope_simulator::http::Onboarding>,
    /// Refuse `GET /organization` (an app without `Organization.Read.All`).
    #[arg(long)]
    pub organization_forbidden: bool,
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
    /// Measure a whole dashboard instead (`overview`; with `--http` also
    /// `message-monitoring`): all its panels at once, warm, over the store of each size.
    #[arg(long)]
    pub dashboard: Option<String>,
    /// With `--dashboard`: load the dashboard through the real HTTP server, as the web page
    /// does (every panel, sparkline and variable list at once), column cache on.
    #[arg(long, requires = "dashboard")]
    pub http: bool,
    /// With `--http`: users loading the dashboard at the same time in each warm round (each
    /// with its own time range, so none is answered from another's cached results); the
    /// process's peak memory is reported next to its budget.
    #[arg(long, default_value_t = 1, requires = "http")]
    pub users: usize,
    /// With `--http`: measure over this store (e.g. one grown by `--grow`) instead of
    /// generating one; it must cover the bench's days.
    #[arg(long, value_name = "DIR", requires = "http")]
    pub store: Option<PathBuf>,
    /// Measure threat lookups instead: `threatip` and `threatlookup` over the store with a
    /// generated index of 100,000 indicators.
    #[arg(long, conflicts_with = "dashboard")]
    pub threat: bool,
    /// Appends instead: a collector poll, a status update of 1 % of a day and a re-ingest
    /// into the store of each size, with and without key runs (see BENCHMARKS.md).
    #[arg(long, conflicts_with_all = ["dashboard", "threat"])]
    pub append: bool,
    /// Growth instead: N tenants of `--records` messages each appended one after the other
    /// into one fresh store (every append touching every day), each append's rate and peak
    /// memory, then a poll and a status update of 1 % of a day into the grown store.
    #[arg(long, value_name = "N", conflicts_with_all = ["dashboard", "threat", "append"])]
    pub grow: Option<u32>,
    /// Python interpreter with the `duckdb` module.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Drop the page cache before each cold query run (Linux, needs root).
    #[arg(long)]
    pub drop_caches: bool,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub geoip: GeoipArgs,
}

/// Where the city database is: shared by every command that geolocates.
#[derive(Debug, Clone, Args)]
pub struct GeoipArgs {
    /// City database: a `.mmdb` file (DB-IP Lite or MaxMind GeoIP2/GeoLite2 City) or a folder
    /// with the DB-IP pair; default: the set-up's npm folder.
    #[arg(
        long = "geoip",
        visible_alias = "geoip-dir",
        env = "MAILSCOPE_GEOIP",
        value_name = "PATH"
    )]
    pub geoip_dir: Option<PathBuf>,
}

impl GeoipArgs {
    pub fn path(&self) -> Option<&std::path::Path> {
        self.geoip_dir.as_deref()
    }
}

/// Where the ASN database is: shared by every command that looks up networks.
#[derive(Debug, Clone, Args)]
pub struct AsnArgs {
    /// ASN database: the folder or a file of ip-location-db's ASN CSVs, or a GeoLite2-ASN /
    /// DB-IP ASN `.mmdb`; default: the set-up's npm folder.
    #[arg(long = "asn", env = "MAILSCOPE_ASN", value_name = "PATH")]
    pub path: Option<PathBuf>,
}

impl AsnArgs {
    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }
}

/// The memory a server process may use: shared by `serve` and `demo`.
#[derive(Debug, Clone, Args)]
pub struct MemoryArgs {
    /// The server's memory budget (e.g. 2GiB), shared by running queries (half; they spill
    /// or wait beyond it), decoded columns kept between queries (a quarter) and cached
    /// results; default: half of the machine's memory.
    #[arg(long, env = "MAILSCOPE_MEMORY", value_name = "SIZE")]
    pub memory: Option<String>,
    /// Memory for decoded columns kept between queries, instead of a quarter of --memory;
    /// 0 turns the column cache off.
    #[arg(long, env = "MAILSCOPE_CACHE_MIB", value_name = "MIB")]
    pub cache_mib: Option<usize>,
}

impl MemoryArgs {
    /// The budget of `--memory`, else half of the machine's.
    pub fn budget(&self) -> anyhow::Result<mailscope_service::MemoryBudget> {
        match self.memory.as_deref() {
            Some(text) => text
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--memory {e}")),
            None => Ok(mailscope_service::MemoryBudget::machine_default()),
        }
    }

    /// `--cache-mib` in bytes, when given.
    pub fn column_cache_bytes(&self) -> Option<usize> {
        self.cache_mib.map(|mib| mib.saturating_mul(1 << 20))
    }
}
