//! `mailscope bench`: ingest throughput and the seed query's latency on this machine, next to
//! DuckDB doing the same work on the same file in the same run (see BENCHMARKS.md).
//!
//! Per size: generate (or reuse) an NDJSON file, ingest it into a fresh store in-process,
//! time the seed query (one cold run, then warm runs), run the DuckDB side in a `python3`
//! subprocess, and check that both agree on the deduplicated counts.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, TimeDelta, Utc};
use comfy_table::Table;
use mailscope_engine::exec::{QueryOptions, QueryResult, Value, execute};
use mailscope_engine::geo::GeoDatabase;
use mailscope_engine::schema::SourceMeta;
use mailscope_engine::store::{Catalog, Store};
use mailscope_query::ir;
use mailscope_record::{Format, ReadOptions, RecordWriter, open_reader};
use mailscope_simulator::TenantConfig;
use serde_json::{Value as Json, json};

use crate::cli::BenchArgs;
use crate::geodb;

mod append;
mod dashboard;
mod grow;
mod http;
mod threat;

/// The DuckDB side; written next to the data so `python3` runs it from there.
const DUCKDB_SCRIPT: &str = include_str!("bench/duckdb_bench.py");
/// Named so that Python does not import the script itself as `duckdb`.
const DUCKDB_SCRIPT_NAME: &str = "duckdb_bench.py";
/// Start of every generated range: fixed, so files are reusable and results comparable.
const START: &str = "2025-01-01T00:00:00Z";

/// The seed query (the dashboard's original), and the same without the country filter, which
/// is what a user with every filter at `*` runs.
const SEED_QUERY: &str = r#"_sourceCategory=* | json "Organization", "MessageId", "Received","SenderAddress", "RecipientAddress", "Subject", "Status", "ToIP", "FromIP", "Size", "MessageTraceId", "StartDate", "EndDate", "Index" as organization, message_id, received, sender_address, recipient_address, subject, status, toIP, fromIP, size, message_traceId, start_date, end_Date, index nodrop | where status matches "*" | where sender_address matches "*" | where organization matches "*" | lookup latitude, longitude, country_code, country_name, region, city, postal_code from geo://location on ip = fromIP | where country_name matches "*" | timeslice 1d | count by _timeslice, status | fillmissing timeslice, values all in status | transpose row _timeslice column status"#;
const COUNTRY_FILTER: &str = r#" | where country_name matches "*""#;

/// Rough sizes for the pre-flight checks (measured: ~500 bytes a line; generous margins).
const NDJSON_BYTES_PER_RECORD: u64 = 600;
const STORED_BYTES_PER_RECORD: u64 = 250;
const DUCKDB_MEMORY_PER_RECORD: u64 = 800;

/// Timings of one query: the first run and the warm ones, seconds.
#[derive(Debug, Clone, Default)]
struct Timings {
    first: f64,
    warm: Vec<f64>,
}

impl Timings {
    fn min(&self) -> Option<f64> {
        self.warm.iter().copied().reduce(f64::min)
    }

    fn median(&self) -> Option<f64> {
        median(&self.warm)
    }

    fn to_json(&self) -> Json {
        json!({ "cold_s": self.first, "warm_s": self.warm, "warm_min_s": self.min(),
                "warm_median_s": self.median() })
    }
}

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

#[derive(Debug)]
struct DataFile {
    path: PathBuf,
    rows: u64,
    bytes: u64,
    /// None when an existing file was reused.
    generate_seconds: Option<f64>,
}

#[derive(Debug)]
struct IngestRun {
    seconds: f64,
    read: u64,
    bad: u64,
    rows_stored: u64,
    bytes_stored: u64,
    segments: usize,
    geo: bool,
}

#[derive(Debug)]
struct QueryRun {
    timings: Timings,
    result_rows: usize,
    /// Sum of every count in the transposed result.
    total: i64,
    /// (day ms, status) -> count, zero cells left out.
    grid: BTreeMap<(i64, String), i64>,
}

#[derive(Debug)]
struct DuckRun {
    version: String,
    threads: Json,
    rows: u64,
    ingest_seconds: f64,
    parquet_bytes: u64,
    load_seconds: f64,
    table: Timings,
    parquet: Timings,
    dedup: Timings,
    identities: i64,
    grid: BTreeMap<(i64, String), i64>,
}

#[derive(Debug)]
struct SizeRun {
    records: u64,
    data: DataFile,
    ingest: IngestRun,
    seed: Result<QueryRun, String>,
    seed_all: Result<QueryRun, String>,
    duck: Option<Result<DuckRun, String>>,
    check: String,
}

pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    if args.records.is_empty() || args.records.contains(&0) {
        bail!("--records needs one or more sizes above zero, e.g. 1000000,10000000");
    }
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if args.threat {
        return threat::run(args);
    }
    if args.append {
        return append::run(args);
    }
    if let Some(tenants) = args.grow {
        return grow::run(args, tenants);
    }
    match args.dashboard.as_deref() {
        None => {}
        Some("overview" | "message-monitoring") if args.http => return http::run(args),
        Some("overview") => return dashboard::run(args),
        Some(other) => bail!(
            "--dashboard {other:?}: `overview` is measured, and `message-monitoring` with --http"
        ),
    }
    let (start, end, work_dir) = time_range_and_work_dir(args)?;
    let geo = geodb::open(args.geoip.path())?;
    if geo.is_none() {
        eprintln!("note: no geolocation database found; ingest runs without geo (--geoip-dir)");
    }
    let seed_all_text = SEED_QUERY.replacen(COUNTRY_FILTER, "", 1);
    let seed_query = compile(SEED_QUERY);
    let seed_all_query = compile(&seed_all_text);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let options = QueryOptions {
        from: start,
        to: end,
        time_zone: chrono_tz::UTC,
        geo: geo.clone(),
        asn: None,
        threat: None,
        max_raw_rows: 10_000,
    };
    let machine = machine();
    let mut duck_available = !args.skip_duckdb;
    let mut results = Vec::new();
    for &records in &args.records {
        eprintln!("== {records} records ==");
        preflight(&work_dir, records, duck_available)?;
        let data = generated_file(&work_dir, records, args.days, args.seed, start)?;
        eprintln!(
            "file {}: {} rows, {} bytes",
            data.path.display(),
            data.rows,
            data.bytes
        );
        let store_dir = work_dir.join(format!("store-{records}"));
        let ingest = ingest(&data.path, &store_dir, geo.clone())?;
        eprintln!(
            "ingest: {} records in {:.2} s ({:.0}/s), {} rows, {} bytes stored",
            ingest.read,
            ingest.seconds,
            ingest.read as f64 / ingest.seconds,
            ingest.rows_stored,
            ingest.bytes_stored
        );
        let seed = time_query(&runtime, &store_dir, &seed_query, &options, args, "seed");
        let seed_all = time_query(
            &runtime,
            &store_dir,
            &seed_all_query,
            &options,
            args,
            "seed without country",
        );
        let duck = if duck_available {
            let parquet = work_dir.join(format!("duckdb-{records}.parquet"));
            let outcome = duckdb(&args.python, &work_dir, &data.path, &parquet, args.runs);
            if let Err(DuckError::Missing(detail)) = &outcome {
                eprintln!(
                    "DuckDB skipped: `{} -c 'import duckdb'` fails ({detail}); install it with \
                     `pip install duckdb`",
                    args.python
                );
                duck_available = false;
            }
            match outcome {
                Ok(run) => Some(Ok(run)),
                Err(DuckError::Missing(_)) => None,
                Err(DuckError::Failed(error)) => {
                    eprintln!("DuckDB failed: {error}");
                    Some(Err(error))
                }
            }
        } else {
            None
        };
        let check = check(records, &ingest, &seed_all, &duck);
        eprintln!("check: {check}");
        results.push(SizeRun {
            records,
            data,
            ingest,
            seed,
            seed_all,
            duck,
            check,
        });
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(args, &machine, &results))?
        );
    } else {
        print_report(args, &machine, &results);
    }
    Ok(ExitCode::SUCCESS)
}

/// The generated data's time range and the (created) work directory.
/// The store of `records` generated rows under `work_dir` (`store-<records>`), generating
/// and ingesting them unless a store of that size (with partial aggregates) is there already.
fn bench_store(
    work_dir: &Path,
    records: u64,
    args: &BenchArgs,
    start: DateTime<Utc>,
    geo: &Option<Arc<GeoDatabase>>,
) -> Result<PathBuf> {
    let data = generated_file(work_dir, records, args.days, args.seed, start)?;
    let store_dir = work_dir.join(format!("store-{records}"));
    // A store written without every level of partial aggregates is rebuilt.
    let levels = mailscope_engine::store::rollup::LEVELS.len();
    let stored = Catalog::load(&store_dir)
        .ok()
        .filter(|c| {
            c.segments
                .iter()
                .all(|s| s.rollup.as_ref().is_some_and(|r| r.has_level(levels - 1)))
        })
        .map_or(0, |c| c.rows());
    if stored != records {
        eprintln!(
            "ingesting {} into {}",
            data.path.display(),
            store_dir.display()
        );
        ingest(&data.path, &store_dir, geo.clone())?;
    }
    Ok(store_dir)
}

fn time_range_and_work_dir(args: &BenchArgs) -> Result<(DateTime<Utc>, DateTime<Utc>, PathBuf)> {
    let start = DateTime::parse_from_rfc3339(START)?.to_utc();
    let end = start
        .checked_add_signed(TimeDelta::days(i64::from(args.days)))
        .ok_or_else(|| anyhow!("--days {} is out of range", args.days))?;
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("cannot create {}", args.work_dir.display()))?;
    Ok((start, end, args.work_dir.canonicalize()?))
}

fn compile(text: &str) -> Result<ir::Query, String> {
    mailscope_query::compile(text).map_err(|diagnostics| {
        let messages: Vec<String> = diagnostics
            .iter()
            .map(|d| format!("{}: {}", d.code, d.message))
            .collect();
        format!("the query does not compile: {}", messages.join("; "))
    })
}

// ---------------------------------------------------------------------------------------------
// Machine

#[derive(Debug)]
struct Machine {
    cpu: String,
    cores: usize,
    memory_bytes: Option<u64>,
}

fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1);
    Machine {
        cpu,
        cores,
        memory_bytes: meminfo("MemTotal:"),
    }
}

/// A `/proc/meminfo` entry in bytes.
fn meminfo(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|line| line.starts_with(key))?;
    let kib: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Available bytes on the file system holding `dir`, from `df` (None when unknown).
fn disk_available(dir: &Path) -> Option<u64> {
    let output = Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let kib: u64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Refuses a size the disk cannot hold; warns when DuckDB's in-memory table may not fit.
fn preflight(work_dir: &Path, records: u64, duck: bool) -> Result<()> {
    let ndjson = work_dir.join(format!("bench-{records}.ndjson"));
    let mut needed = records.saturating_mul(STORED_BYTES_PER_RECORD * if duck { 2 } else { 1 });
    if !ndjson.is_file() {
        needed = needed.saturating_add(records.saturating_mul(NDJSON_BYTES_PER_RECORD));
    }
    if let Some(available) = disk_available(work_dir)
        && available < needed
    {
        bail!(
            "{records} records need about {} GB in {}, only {} GB are free; use fewer \
             --records or another --work-dir",
            gb(needed),
            work_dir.display(),
            gb(available)
        );
    }
    if duck
        && let Some(available) = meminfo("MemAvailable:")
        && available < records.saturating_mul(DUCKDB_MEMORY_PER_RECORD)
    {
        eprintln!(
            "warning: DuckDB's in-memory table of {records} records may need about {} GB, \
             {} GB are available",
            gb(records.saturating_mul(DUCKDB_MEMORY_PER_RECORD)),
            gb(available)
        );
    }
    Ok(())
}

fn gb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1e9)
}

// ---------------------------------------------------------------------------------------------
// Data

/// What a generated file was made from; a file is reused only when this matches.
fn sidecar(records: u64, days: u32, seed: u64, start: DateTime<Utc>) -> Json {
    json!({
        "generator": "mailscope-simulator",
        "mailscope_version": env!("CARGO_PKG_VERSION"),
        "format": "ndjson",
        "records": records,
        "days": days,
        "seed": seed,
        "start": start.to_rfc3339(),
    })
}

fn generated_file(
    work_dir: &Path,
    records: u64,
    days: u32,
    seed: u64,
    start: DateTime<Utc>,
) -> Result<DataFile> {
    let path = work_dir.join(format!("bench-{records}.ndjson"));
    let meta_path = work_dir.join(format!("bench-{records}.json"));
    let wanted = sidecar(records, days, seed, start);
    if let Some(existing) = reusable(&path, &meta_path, &wanted) {
        eprintln!("reusing {} (same parameters)", path.display());
        return Ok(existing);
    }
    eprintln!(
        "generating {records} identities over {days} days to {}",
        path.display()
    );
    let started = Instant::now();
    let config = TenantConfig {
        seed,
        messages: records,
        start,
        days,
    };
    let generator = mailscope_simulator::generate(&config)?;
    let partial = path.with_extension("ndjson.partial");
    let file =
        File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let mut writer = RecordWriter::new(Format::Ndjson, BufWriter::with_capacity(1 << 20, file))?;
    let mut progress = crate::progress::Generation::new(start, days, "generating");
    for observation in generator {
        writer.write(&observation.record)?;
        progress.observed(observation.record.received);
    }
    progress.finish();
    let rows = writer.count();
    writer.finish()?.flush()?;
    std::fs::rename(&partial, &path)?;
    let bytes = std::fs::metadata(&path)?.len();
    let mut meta = wanted;
    meta["rows"] = json!(rows);
    meta["bytes"] = json!(bytes);
    std::fs::write(&meta_path, serde_json::to_vec_pretty(&meta)?)?;
    Ok(DataFile {
        path,
        rows,
        bytes,
        generate_seconds: Some(started.elapsed().as_secs_f64()),
    })
}

fn reusable(path: &Path, meta_path: &Path, wanted: &Json) -> Option<DataFile> {
    let meta: Json = serde_json::from_slice(&std::fs::read(meta_path).ok()?).ok()?;
    let same = wanted
        .as_object()?
        .iter()
        .all(|(key, value)| meta.get(key) == Some(value));
    let bytes = meta.get("bytes")?.as_u64()?;
    let rows = meta.get("rows")?.as_u64()?;
    (same && std::fs::metadata(path).ok()?.len() == bytes).then(|| DataFile {
        path: path.to_path_buf(),
        rows,
        bytes,
        generate_seconds: None,
    })
}

// ---------------------------------------------------------------------------------------------
// mailscope

fn ingest(path: &Path, store_dir: &Path, geo: Option<Arc<GeoDatabase>>) -> Result<IngestRun> {
    if store_dir.exists() {
        std::fs::remove_dir_all(store_dir)
            .with_context(|| format!("cannot remove {}", store_dir.display()))?;
    }
    let geo_on = geo.is_some();
    let name = path.display().to_string();
    let started = Instant::now();
    let (read, bad) = {
        let mut store = Store::open(store_dir)?;
        let file = File::open(path).with_context(|| format!("cannot open {name}"))?;
        let input: Box<dyn Read + Send> = Box::new(BufReader::with_capacity(1 << 20, file));
        let reader =
            open_reader(&name, input, ReadOptions::default()).map_err(|e| anyhow!("{e}"))?;
        let meta = SourceMeta {
            source_category: "o365/messagetrace".into(),
            source: name.clone(),
            collector: "mailscope-bench".into(),
        };
        let mut ingest = store.ingest(geo, meta);
        let (read, bad) = crate::ingest::push_all(&mut ingest, reader, 5)?;
        ingest.commit()?;
        (read, bad)
    };
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    let catalog = Catalog::load(store_dir)?;
    Ok(IngestRun {
        seconds,
        read,
        bad,
        rows_stored: catalog.rows(),
        bytes_stored: catalog.segments.iter().map(|s| s.bytes).sum(),
        segments: catalog.segments.len(),
        geo: geo_on,
    })
}

fn time_query(
    runtime: &tokio::runtime::Runtime,
    store_dir: &Path,
    query: &Result<ir::Query, String>,
    options: &QueryOptions,
    args: &BenchArgs,
    label: &str,
) -> Result<QueryRun, String> {
    let query = query.as_ref().map_err(Clone::clone)?;
    if args.drop_caches {
        drop_caches();
    }
    let mut times = Vec::with_capacity(args.runs + 1);
    let mut last = None;
    for _ in 0..=args.runs {
        let started = Instant::now();
        let result = runtime
            .block_on(execute(store_dir, query, options))
            .map_err(|error| format!("{label}: {error}"))?;
        times.push(started.elapsed().as_secs_f64());
        last = Some(result);
    }
    let result = last.ok_or("no run")?;
    let (total, grid) = summarize(&result)?;
    let timings = Timings {
        first: times[0],
        warm: times[1..].to_vec(),
    };
    eprintln!(
        "{label}: cold {}, warm median {} ({} rows, total {total})",
        ms(Some(timings.first)),
        ms(timings.median()),
        result.rows.len()
    );
    Ok(QueryRun {
        timings,
        result_rows: result.rows.len(),
        total,
        grid,
    })
}

/// Drops the page cache before a cold run (Linux, as root); warns when it cannot.
fn drop_caches() {
    let synced = Command::new("sync").status().is_ok_and(|s| s.success());
    if !synced || std::fs::write("/proc/sys/vm/drop_caches", "3").is_err() {
        eprintln!("warning: cannot drop the page cache (needs root); cold = first run only");
    }
}

/// The sum of every count in a transposed `_timeslice × status` result, and its cells.
/// Total count and the count per (day, status) cell.
type Summary = (i64, BTreeMap<(i64, String), i64>);

fn summarize(result: &QueryResult) -> Result<Summary, String> {
    let slice = result
        .columns
        .iter()
        .position(|c| c == "_timeslice")
        .ok_or_else(|| format!("no _timeslice column in {:?}", result.columns))?;
    let mut grid = BTreeMap::new();
    let mut total = 0i64;
    for row in &result.rows {
        let day = match row.get(slice) {
            Some(Value::Time(ms) | Value::Int(ms)) => *ms,
            other => return Err(format!("unexpected _timeslice {other:?}")),
        };
        for (column, cell) in result
            .columns
            .iter()
            .zip(row)
            .enumerate()
            .filter_map(|(index, pair)| (index != slice).then_some(pair))
        {
            let count = match cell {
                Value::Int(n) => *n,
                Value::Float(f) if f.fract() == 0.0 => *f as i64,
                Value::Null => 0,
                other => return Err(format!("unexpected count {other:?} in {column}")),
            };
            total += count;
            if count != 0 {
                grid.insert((day, column.clone()), count);
            }
        }
    }
    Ok((total, grid))
}

// ---------------------------------------------------------------------------------------------
// DuckDB

#[derive(Debug)]
enum DuckError {
    /// `python3` or its `duckdb` module is not there.
    Missing(String),
    Failed(String),
}

fn duckdb(
    python: &str,
    work_dir: &Path,
    ndjson: &Path,
    parquet: &Path,
    runs: usize,
) -> Result<DuckRun, DuckError> {
    let script = work_dir.join(DUCKDB_SCRIPT_NAME);
    std::fs::write(&script, DUCKDB_SCRIPT)
        .map_err(|e| DuckError::Failed(format!("cannot write {}: {e}", script.display())))?;
    let _ = std::fs::remove_file(parquet);
    eprintln!("running DuckDB ({python} {})", script.display());
    let output = Command::new(python)
        .arg(&script)
        .arg(ndjson)
        .arg(parquet)
        .arg(runs.to_string())
        .current_dir(work_dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| DuckError::Missing(format!("cannot run {python}: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let parsed: Option<Json> = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok());
    if output.status.code() == Some(3) {
        let detail = parsed
            .as_ref()
            .and_then(|j| j.get("detail"))
            .and_then(Json::as_str)
            .unwrap_or("no module named duckdb");
        return Err(DuckError::Missing(detail.to_string()));
    }
    if !output.status.success() {
        return Err(DuckError::Failed(format!(
            "{python} exited with {}",
            output.status
        )));
    }
    let out = parsed.ok_or_else(|| DuckError::Failed("no JSON result from the script".into()))?;
    parse_duck(&out, parquet).map_err(DuckError::Failed)
}

fn parse_duck(out: &Json, parquet: &Path) -> Result<DuckRun, String> {
    let number = |key: &str| {
        out.get(key)
            .and_then(Json::as_f64)
            .ok_or(format!("no {key}"))
    };
    let timings = |key: &str| -> Result<Timings, String> {
        let query = out
            .get("queries")
            .and_then(|q| q.get(key))
            .ok_or(format!("no {key}"))?;
        let first = query
            .get("first")
            .and_then(Json::as_f64)
            .ok_or("no first")?;
        let warm = query
            .get("warm")
            .and_then(Json::as_array)
            .ok_or("no warm")?
            .iter()
            .filter_map(Json::as_f64)
            .collect();
        Ok(Timings { first, warm })
    };
    let mut grid = BTreeMap::new();
    for cell in out
        .get("dedup_grid")
        .and_then(Json::as_array)
        .ok_or("no dedup_grid")?
    {
        let (Some(day), Some(status), Some(count)) = (
            cell.get(0).and_then(Json::as_i64),
            cell.get(1).and_then(Json::as_str),
            cell.get(2).and_then(Json::as_i64),
        ) else {
            return Err(format!("bad grid cell {cell}"));
        };
        grid.insert((day, status.to_string()), count);
    }
    Ok(DuckRun {
        version: out
            .get("version")
            .and_then(Json::as_str)
            .unwrap_or("?")
            .to_string(),
        threads: out.get("threads").cloned().unwrap_or(Json::Null),
        rows: number("rows")? as u64,
        ingest_seconds: number("ingest_seconds")?.max(1e-9),
        parquet_bytes: std::fs::metadata(parquet).map(|m| m.len()).unwrap_or(0),
        load_seconds: number("load_seconds")?,
        table: timings("table")?,
        parquet: timings("parquet")?,
        dedup: timings("dedup_table")?,
        identities: number("identities")? as i64,
        grid,
    })
}

// ---------------------------------------------------------------------------------------------
// Agreement

/// Compares mailscope's seed query without the country filter (every identity) with
/// DuckDB's deduplicated count, and both with the generator's identity count.
fn check(
    records: u64,
    ingest: &IngestRun,
    seed_all: &Result<QueryRun, String>,
    duck: &Option<Result<DuckRun, String>>,
) -> String {
    let expected = records as i64;
    let mut problems = Vec::new();
    if ingest.rows_stored != records {
        problems.push(format!(
            "store holds {} rows, expected {records}",
            ingest.rows_stored
        ));
    }
    let query = seed_all.as_ref().ok();
    if let Some(query) = query
        && query.total != expected
    {
        problems.push(format!(
            "mailscope counts {}, expected {records}",
            query.total
        ));
    }
    if let Some(Ok(duck)) = duck {
        if duck.identities != expected {
            problems.push(format!(
                "DuckDB counts {} identities, expected {records}",
                duck.identities
            ));
        }
        if let Some(query) = query
            && query.grid != duck.grid
        {
            let differing = query
                .grid
                .iter()
                .filter(|(key, count)| duck.grid.get(*key) != Some(*count))
                .count()
                + duck
                    .grid
                    .keys()
                    .filter(|key| !query.grid.contains_key(*key))
                    .count();
            problems.push(format!("{differing} day×status cells differ from DuckDB's"));
        }
    }
    let compared = match (query.is_some(), matches!(duck, Some(Ok(_)))) {
        (true, true) => "mailscope vs DuckDB (dedup) vs generator, per day×status",
        (true, false) => "mailscope vs generator",
        (false, true) => "store rows vs DuckDB (dedup) vs generator (query not run)",
        (false, false) => "store rows vs generator (query not run)",
    };
    if problems.is_empty() {
        format!("OK ({compared}: {records} identities)")
    } else {
        format!("MISMATCH ({compared}): {}", problems.join("; "))
    }
}

// ---------------------------------------------------------------------------------------------
// Output

fn ms(seconds: Option<f64>) -> String {
    match seconds {
        Some(s) if s < 10.0 => format!("{:.1} ms", s * 1e3),
        Some(s) => format!("{s:.2} s"),
        None => "-".into(),
    }
}

fn per_second(count: u64, seconds: f64) -> String {
    group_thousands((count as f64 / seconds).round() as u64)
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn per_record(bytes: u64, records: u64) -> String {
    format!("{:.1}", bytes as f64 / records.max(1) as f64)
}

fn query_cells(query: &Result<QueryRun, String>) -> (String, String) {
    match query {
        Ok(q) => (
            ms(Some(q.timings.first)),
            format!("{} / {}", ms(q.timings.min()), ms(q.timings.median())),
        ),
        Err(_) => ("error".into(), "error".into()),
    }
}

fn print_report(args: &BenchArgs, machine: &Machine, results: &[SizeRun]) {
    println!(
        "machine: {} cores, {} GiB RAM, {}",
        machine.cores,
        machine.memory_bytes.map_or("?".into(), |b| format!(
            "{:.1}",
            b as f64 / (1u64 << 30) as f64
        )),
        machine.cpu
    );
    println!(
        "data: simulator seed {}, {} days from {START}; queries over [start, start + {} days), \
         UTC; {} warm runs after 1 cold{}",
        args.seed,
        args.days,
        args.days,
        args.runs,
        if args.drop_caches {
            " (page cache dropped)"
        } else {
            " (first run in this process)"
        }
    );
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    table.set_header(vec![
        "records",
        "system",
        "ingest rec/s",
        "bytes/rec",
        "query",
        "cold",
        "warm min / median",
    ]);
    for r in results {
        let n = group_thousands(r.records);
        let ingest_rate = per_second(r.ingest.read, r.ingest.seconds);
        let stored = per_record(r.ingest.bytes_stored, r.ingest.rows_stored);
        let geo = if r.ingest.geo {
            "mailscope (geo on)"
        } else {
            "mailscope (geo off)"
        };
        let (cold, warm) = query_cells(&r.seed);
        table.add_row(vec![
            n.clone(),
            geo.into(),
            ingest_rate,
            stored,
            "seed".into(),
            cold,
            warm,
        ]);
        let (cold, warm) = query_cells(&r.seed_all);
        table.add_row(vec![
            n.clone(),
            geo.into(),
            String::new(),
            String::new(),
            "seed, no country filter".into(),
            cold,
            warm,
        ]);
        match &r.duck {
            Some(Ok(d)) => {
                let label = format!("DuckDB {}", d.version);
                let rows = [
                    ("count by day, status (table)", &d.table),
                    ("count by day, status (Parquet)", &d.parquet),
                    ("dedup + count (table)", &d.dedup),
                ];
                for (i, (name, timings)) in rows.iter().enumerate() {
                    let (rate, bytes) = if i == 0 {
                        (
                            per_second(d.rows, d.ingest_seconds),
                            per_record(d.parquet_bytes, d.rows),
                        )
                    } else {
                        (String::new(), String::new())
                    };
                    table.add_row(vec![
                        n.clone(),
                        label.clone(),
                        rate,
                        bytes,
                        (*name).into(),
                        ms(Some(timings.first)),
                        format!("{} / {}", ms(timings.min()), ms(timings.median())),
                    ]);
                }
            }
            Some(Err(error)) => {
                table.add_row(vec![n.clone(), "DuckDB".into(), format!("failed: {error}")]);
            }
            None => {
                table.add_row(vec![n.clone(), "DuckDB".into(), "skipped".into()]);
            }
        }
    }
    println!("{table}");
    for r in results {
        println!();
        println!("{} records:", group_thousands(r.records));
        let generated = r
            .data
            .generate_seconds
            .map_or("reused".into(), |s| format!("generated in {s:.1} s"));
        println!(
            "  file: {} ({} rows, {:.1} MB, {generated})",
            r.data.path.display(),
            r.data.rows,
            r.data.bytes as f64 / 1e6
        );
        println!(
            "  mailscope ingest: {} observations read ({} bad) in {:.2} s; {} rows, {} segments, \
             {:.1} MB stored; geolocation {}",
            r.ingest.read,
            r.ingest.bad,
            r.ingest.seconds,
            r.ingest.rows_stored,
            r.ingest.segments,
            r.ingest.bytes_stored as f64 / 1e6,
            if r.ingest.geo { "on" } else { "off" }
        );
        for (name, query) in [("seed", &r.seed), ("seed, no country filter", &r.seed_all)] {
            match query {
                Ok(q) => println!(
                    "  {name}: {} result rows, counts sum to {}",
                    q.result_rows, q.total
                ),
                Err(error) => println!("  {name}: error: {error}"),
            }
        }
        if let Some(Ok(d)) = &r.duck {
            println!(
                "  DuckDB {} ({} threads): NDJSON -> Parquet zstd {:.2} s ({} rows, {:.1} MB); \
                 NDJSON -> in-memory table {:.2} s (not in the table)",
                d.version,
                d.threads,
                d.ingest_seconds,
                d.rows,
                d.parquet_bytes as f64 / 1e6,
                d.load_seconds
            );
        }
        println!("  check: {}", r.check);
    }
    println!();
    println!(
        "note: DuckDB neither deduplicates observations nor geolocates addresses; mailscope does \
         both at ingest (one row per identity; geo when on). DuckDB's plain count is over raw \
         observations; its dedup query is the one comparable to mailscope's result."
    );
    if results.iter().any(|r| r.duck.is_none()) && !args.skip_duckdb {
        println!("note: DuckDB was skipped: install the Python module with `pip install duckdb`");
    }
}

fn to_json(args: &BenchArgs, machine: &Machine, results: &[SizeRun]) -> Json {
    let query = |q: &Result<QueryRun, String>| match q {
        Ok(q) => json!({ "timings": q.timings.to_json(), "result_rows": q.result_rows,
                         "total": q.total }),
        Err(error) => json!({ "error": error }),
    };
    let sizes: Vec<Json> = results
        .iter()
        .map(|r| {
            let duck = match &r.duck {
                Some(Ok(d)) => json!({
                    "version": d.version,
                    "threads": d.threads,
                    "rows": d.rows,
                    "ingest_s": d.ingest_seconds,
                    "ingest_records_per_s": d.rows as f64 / d.ingest_seconds,
                    "parquet_bytes": d.parquet_bytes,
                    "parquet_bytes_per_record": d.parquet_bytes as f64 / d.rows.max(1) as f64,
                    "load_table_s": d.load_seconds,
                    "count_by_day_status_table": d.table.to_json(),
                    "count_by_day_status_parquet": d.parquet.to_json(),
                    "dedup_count_by_day_status_table": d.dedup.to_json(),
                    "identities": d.identities,
                }),
                Some(Err(error)) => json!({ "error": error }),
                None => Json::Null,
            };
            json!({
                "records": r.records,
                "file": { "path": r.data.path, "rows": r.data.rows, "bytes": r.data.bytes,
                          "generate_s": r.data.generate_seconds },
                "mailscope": {
                    "geo": r.ingest.geo,
                    "ingest_s": r.ingest.seconds,
                    "observations_read": r.ingest.read,
                    "bad": r.ingest.bad,
                    "ingest_records_per_s": r.ingest.read as f64 / r.ingest.seconds,
                    "rows_stored": r.ingest.rows_stored,
                    "segments": r.ingest.segments,
                    "bytes_stored": r.ingest.bytes_stored,
                    "bytes_per_record":
                        r.ingest.bytes_stored as f64 / r.ingest.rows_stored.max(1) as f64,
                    "seed_query": query(&r.seed),
                    "seed_query_without_country": query(&r.seed_all),
                },
                "duckdb": duck,
                "check": r.check,
                "check_ok": r.check.starts_with("OK"),
            })
        })
        .collect();
    json!({
        "machine": { "cpu": machine.cpu, "cores": machine.cores,
                     "memory_bytes": machine.memory_bytes },
        "parameters": { "seed": args.seed, "days": args.days, "start": START, "runs": args.runs,
                        "drop_caches": args.drop_caches },
        "sizes": sizes,
    })
}

/// The files under a store's `segments/` folder with their sizes.
fn store_files(store: &Path) -> Result<BTreeSet<(PathBuf, u64)>> {
    let mut files = BTreeSet::new();
    let root = store.join("segments");
    for day in std::fs::read_dir(&root)
        .with_context(|| format!("cannot read {}", root.display()))?
        .flatten()
    {
        for file in std::fs::read_dir(day.path())?.flatten() {
            files.insert((file.path(), file.metadata()?.len()));
        }
    }
    Ok(files)
}

/// Bytes the store's catalog counts for `day`.
fn day_bytes(store: &Path, day: &str) -> Result<u64> {
    let stats = mailscope_engine::store::stats(store)?;
    Ok(stats
        .days
        .iter()
        .find(|d| d.day == day)
        .map_or(0, |d| d.bytes))
}
