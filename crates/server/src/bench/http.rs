//! `mailscope bench --dashboard overview --http`: a whole Overview dashboard load the way the
//! web page does it, through the real HTTP server.
//!
//! The server is assembled as `mailscope serve` assembles it (same `AppState`, query service
//! with its result cache, the column cache on with the default budget) over the bench store,
//! listening on `127.0.0.1:0` in this process. The app is installed into the store's library
//! when it is not (latest version); the Overview definition is read through the API, and each
//! load fires at once every panel query, every `sparkline_query` and the value list of every
//! variable, over the bench's whole range with the variables at `*`.
//!
//! Loads: the first (column cache cold; the page cache may be warm), then `--runs` warm loads
//! whose `to` is one millisecond later each time so the result cache misses and the server
//! computes every query, then the last warm load again, answered from the result cache.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use comfy_table::Table;
use mailscope_engine::store::Store;
use serde_json::{Value as Json, json};

use super::{bench_store, gb, machine, median, ms};
use crate::app::{App, AppConfig};
use crate::cli::BenchArgs;
use crate::geodb;
use crate::http;

const APP: &str = "microsoft-exchange-trace-logs";
/// The source category of the bench store's rows (the collector's default).
const SOURCE_CATEGORY: &str = "o365/messagetrace";
/// What the page asks for: a page of 1000 rows per panel, 200 values per variable.
const PANEL_LIMIT: usize = 1000;
const VALUES_LIMIT: usize = 200;

/// One request of a load.
#[derive(Debug, Clone)]
enum Request {
    Query {
        label: String,
        query: String,
        /// The page's query id (panels only; sparklines go without).
        id: Option<String>,
    },
    Values {
        label: String,
        name: String,
    },
}

impl Request {
    fn label(&self) -> &str {
        match self {
            Request::Query { label, .. } | Request::Values { label, .. } => label,
        }
    }
}

/// What one request took and what the server said.
#[derive(Debug, Clone)]
struct Timed {
    seconds: f64,
    /// The server's own `elapsed_ms` (queries only).
    server_ms: Option<f64>,
    cached: Option<bool>,
    rows: usize,
}

#[derive(Debug)]
struct Load {
    seconds: f64,
    requests: Vec<Timed>,
}

pub fn run(args: &BenchArgs) -> Result<std::process::ExitCode> {
    let (start, end, work_dir) = super::time_range_and_work_dir(args)?;
    let geo = geodb::open(args.geoip.path())?;
    let asn = geodb::open_asn(None)?;
    // As `serve` does by default: half of the machine's memory, shared out.
    let memory = mailscope_service::MemoryBudget::machine_default();
    let budget = memory.column_cache();
    let machine = machine();
    let mut report = Vec::new();
    let stores: Vec<(u64, std::path::PathBuf)> = match &args.store {
        Some(dir) => {
            let rows = mailscope_engine::store::Catalog::load(dir)
                .with_context(|| format!("cannot read store {}", dir.display()))?
                .rows();
            vec![(rows, dir.clone())]
        }
        None => args
            .records
            .iter()
            .map(|&records| Ok((records, bench_store(&work_dir, records, args, start, &geo)?)))
            .collect::<Result<_>>()?,
    };
    for (records, store_dir) in stores {
        let measured = measure(args, &store_dir, geo.clone(), asn.clone(), start, end)?;
        print_report(args, records, budget, &memory, &measured);
        report.push(measured.to_json(records));
    }
    println!(
        "machine: {}, {} cores, {} GB memory; load average at the end: {}",
        machine.cpu,
        machine.cores,
        machine.memory_bytes.map_or_else(|| "unknown".into(), gb),
        load_average()
    );
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                format!("{}_http", args.dashboard.as_deref().unwrap_or("overview")): report
            }))?
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// `/proc/loadavg`'s first three figures.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".into())
}

struct Measured {
    dashboard_id: String,
    version: String,
    requests: Vec<Request>,
    cold: Load,
    warm: Vec<Load>,
    cached: Load,
    /// With several users: each round's wall time (every user's load at once) and the
    /// slowest user's load in it.
    rounds: Vec<(f64, f64)>,
    /// The process's peak resident memory at the end (`VmHWM`), bytes.
    peak_bytes: Option<u64>,
}

impl Measured {
    fn warm_seconds(&self) -> Vec<f64> {
        self.warm.iter().map(|l| l.seconds).collect()
    }

    fn to_json(&self, records: u64) -> Json {
        let warm = self.warm_seconds();
        let requests: Vec<Json> = self
            .requests
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let times: Vec<f64> = self.warm.iter().map(|l| l.requests[i].seconds).collect();
                json!({
                    "request": r.label(),
                    "cold_s": self.cold.requests[i].seconds,
                    "warm_s": times,
                    "warm_median_s": median(&times),
                    "cached_s": self.cached.requests[i].seconds,
                    "rows": self.cold.requests[i].rows,
                })
            })
            .collect();
        json!({
            "records": records,
            "dashboard": self.dashboard_id,
            "app_version": self.version,
            "requests_per_load": self.requests.len(),
            "cold_s": self.cold.seconds,
            "warm_s": warm,
            "warm_median_s": median(&warm),
            "warm_max_s": warm.iter().copied().reduce(f64::max),
            "cached_s": self.cached.seconds,
            "users": self.rounds.iter().map(|(wall, slowest)| json!({"round_s": wall, "slowest_user_s": slowest})).collect::<Vec<_>>(),
            "peak_bytes": self.peak_bytes,
            "requests": requests,
        })
    }
}

fn measure(
    args: &BenchArgs,
    store_dir: &Path,
    geo: Option<Arc<mailscope_engine::geo::GeoDatabase>>,
    asn: Option<Arc<mailscope_engine::geo::AsnDatabase>>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Measured> {
    let store = Store::open(store_dir)
        .with_context(|| format!("cannot open store {}", store_dir.display()))?;
    // The same assembly as `serve`.
    let app = App::build(AppConfig {
        data_dir: store_dir.to_path_buf(),
        store: Arc::new(Mutex::new(store)),
        geo,
        asn,
        threat: None,
        token: None,
        max_ingest_bytes: 0,
        source_category: SOURCE_CATEGORY.to_owned(),
        memory: mailscope_service::MemoryBudget::machine_default(),
        column_cache_bytes: None,
        query_timeout: http::QUERY_TIMEOUT,
    })?;
    let state = app.state.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let measured = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(http::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        let outcome = loads(args, address, start, end).await;
        let _ = stop.send(());
        server.await??;
        outcome
    });
    drop(runtime);
    drop(app);
    measured
}

async fn loads(
    args: &BenchArgs,
    address: SocketAddr,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Measured> {
    let key = args.dashboard.as_deref().unwrap_or("overview");
    let base = format!("http://{address}/api/v1");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let version = install(&client, &base).await?;
    let dashboards = get_json(&client, &format!("{base}/dashboards")).await?;
    let id = dashboards
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["app"]["id"] == APP && d["app"]["key"] == key)
        .and_then(|d| d["id"].as_str())
        .ok_or_else(|| anyhow!("no {key} dashboard of {APP} in the library"))?
        .to_owned();
    let definition = get_json(&client, &format!("{base}/dashboards/{id}")).await?;
    let requests = requests(&definition)?;
    let variables: BTreeMap<String, String> = definition["variables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .map(|name| (name.to_owned(), "*".to_owned()))
        .collect();
    eprintln!(
        "dashboard {id} ({APP} {version}): {} requests per load ({} variables at *)",
        requests.len(),
        variables.len()
    );
    let context = Page {
        client,
        base,
        dashboard: id.clone(),
        variables,
        from: start,
    };
    let cold = context.load(&requests, end, 0).await?;
    eprintln!("cold load: {}", ms(Some(cold.seconds)));
    let mut warm = Vec::with_capacity(args.runs);
    for run in 1..=args.runs {
        // One millisecond later each time: every result-cache key differs.
        let to = end + TimeDelta::milliseconds(run as i64);
        let load = context.load(&requests, to, run).await?;
        if let Some(hit) = load.requests.iter().position(|r| r.cached == Some(true)) {
            bail!(
                "warm load {run}: {} was answered from the result cache",
                requests[hit].label()
            );
        }
        eprintln!("warm load {run}: {}", ms(Some(load.seconds)));
        warm.push(load);
    }
    // The last warm load again: everything from the result cache.
    let last = end + TimeDelta::milliseconds(args.runs as i64);
    let cached = context.load(&requests, last, args.runs + 1).await?;
    eprintln!("cached load: {}", ms(Some(cached.seconds)));
    // Several users at once, each with a time range of its own; any failed request fails
    // the bench.
    let mut rounds = Vec::new();
    if args.users > 1 {
        for round in 0..args.runs {
            let started = Instant::now();
            let loads = futures::future::join_all((0..args.users).map(|user| {
                let offset = 1_000 + round * args.users + user;
                let to = end + TimeDelta::milliseconds(offset as i64);
                context.load(&requests, to, offset)
            }))
            .await;
            let wall = started.elapsed().as_secs_f64();
            let mut slowest: f64 = 0.0;
            for (user, load) in loads.into_iter().enumerate() {
                let load = load.with_context(|| format!("round {round}, user {user}"))?;
                slowest = slowest.max(load.seconds);
            }
            eprintln!(
                "{} users at once, round {}: {} (slowest user {})",
                args.users,
                round + 1,
                ms(Some(wall)),
                ms(Some(slowest))
            );
            rounds.push((wall, slowest));
        }
    }
    Ok(Measured {
        dashboard_id: id,
        version,
        requests,
        cold,
        warm,
        cached,
        rounds,
        peak_bytes: mailscope_service::process_status_bytes("VmHWM"),
    })
}

/// Installs the app (latest version) when it is not, or upgrades it to the latest; returns
/// the installed version.
async fn install(client: &reqwest::Client, base: &str) -> Result<String> {
    let apps = get_json(client, &format!("{base}/apps")).await?;
    let app = apps
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["id"] == APP)
        .ok_or_else(|| anyhow!("the server has no app {APP}"))?;
    let latest = app["latest"].as_str().unwrap_or_default().to_owned();
    match app["installed"]["version"].as_str() {
        Some(version) if version == latest => {}
        Some(version) => {
            eprintln!("upgrading {APP} {version} to {latest} in the bench store's library");
            send_json(
                client
                    .post(format!("{base}/apps/{APP}/upgrade"))
                    .json(&json!({})),
                "upgrade",
            )
            .await?;
        }
        None => {
            eprintln!("installing {APP} {latest} into the bench store's library");
            send_json(
                client
                    .post(format!("{base}/apps/{APP}/install"))
                    .json(&json!({ "source_category": SOURCE_CATEGORY })),
                "install",
            )
            .await?;
        }
    }
    Ok(latest)
}

async fn get_json(client: &reqwest::Client, url: &str) -> Result<Json> {
    send_json(client.get(url), url).await
}

async fn send_json(request: reqwest::RequestBuilder, what: &str) -> Result<Json> {
    let response = request.send().await.with_context(|| what.to_owned())?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        bail!("{what}: {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Every request of a load, in the page's order: each panel's query (then its sparkline),
/// then each variable's values.
fn requests(definition: &Json) -> Result<Vec<Request>> {
    let mut requests = Vec::new();
    for panel in definition["panels"].as_array().into_iter().flatten() {
        let id = panel["id"].as_str().unwrap_or("?");
        let query = panel["query"]
            .as_str()
            .ok_or_else(|| anyhow!("panel {id} has no query"))?;
        requests.push(Request::Query {
            label: format!("panel {id}"),
            query: query.to_owned(),
            id: Some(id.to_owned()),
        });
        if let Some(sparkline) = panel["visualization"]["options"]["sparkline_query"].as_str() {
            requests.push(Request::Query {
                label: format!("sparkline {id}"),
                query: sparkline.to_owned(),
                id: None,
            });
        }
    }
    for variable in definition["variables"].as_array().into_iter().flatten() {
        let name = variable["name"]
            .as_str()
            .ok_or_else(|| anyhow!("a variable without a name"))?;
        requests.push(Request::Values {
            label: format!("values {name}"),
            name: name.to_owned(),
        });
    }
    if requests.is_empty() {
        bail!("the dashboard has no panels");
    }
    Ok(requests)
}

/// What every request of a load shares.
struct Page {
    client: reqwest::Client,
    base: String,
    dashboard: String,
    variables: BTreeMap<String, String>,
    from: DateTime<Utc>,
}

impl Page {
    /// Fires every request at once and waits for all; `sequence` makes the query ids unique.
    async fn load(&self, requests: &[Request], to: DateTime<Utc>, sequence: usize) -> Result<Load> {
        let from = self.from.to_rfc3339_opts(SecondsFormat::Millis, true);
        let to = to.to_rfc3339_opts(SecondsFormat::Millis, true);
        let started = Instant::now();
        let tasks: Vec<_> = requests
            .iter()
            .map(|request| {
                let builder = match request {
                    Request::Query { query, id, .. } => {
                        let mut body = json!({
                            "query": query, "from": from, "to": to, "tz": "UTC",
                            "variables": self.variables, "limit": PANEL_LIMIT,
                        });
                        if let Some(id) = id {
                            body["id"] = json!(format!("panel-{id}-{sequence}"));
                        }
                        self.client.post(format!("{}/query", self.base)).json(&body)
                    }
                    Request::Values { name, .. } => self
                        .client
                        .get(format!(
                            "{}/dashboards/{}/variables/{name}/values",
                            self.base, self.dashboard
                        ))
                        .query(&[
                            ("from", from.as_str()),
                            ("to", to.as_str()),
                            ("limit", &VALUES_LIMIT.to_string()),
                        ]),
                };
                let label = request.label().to_owned();
                tokio::spawn(async move {
                    let begun = Instant::now();
                    let body = send_json(builder, &label).await?;
                    let seconds = begun.elapsed().as_secs_f64();
                    let rows = body["rows"]
                        .as_array()
                        .or_else(|| body["values"].as_array())
                        .map_or(0, Vec::len);
                    anyhow::Ok(Timed {
                        seconds,
                        server_ms: body["elapsed_ms"].as_f64(),
                        cached: body["cached"].as_bool(),
                        rows,
                    })
                })
            })
            .collect();
        let mut timed = Vec::with_capacity(tasks.len());
        for task in tasks {
            timed.push(task.await??);
        }
        Ok(Load {
            seconds: started.elapsed().as_secs_f64(),
            requests: timed,
        })
    }
}

fn print_report(
    args: &BenchArgs,
    records: u64,
    budget: usize,
    memory: &mailscope_service::MemoryBudget,
    m: &Measured,
) {
    let warm = m.warm_seconds();
    println!(
        "{} dashboard over HTTP ({APP} {}, dashboard {}), {records} records, {} days, \
         variables at *; {} requests per load; column cache budget {} MiB",
        args.dashboard.as_deref().unwrap_or("overview"),
        m.version,
        m.dashboard_id,
        args.days,
        m.requests.len(),
        budget >> 20
    );
    let mut loads = Table::new();
    loads.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    loads.set_header(["load", "time"]);
    loads.add_row([
        "first (column cache cold)".to_owned(),
        ms(Some(m.cold.seconds)),
    ]);
    loads.add_row([
        format!("warm, result cache missed: median of {}", warm.len()),
        ms(median(&warm)),
    ]);
    loads.add_row([
        format!("warm, result cache missed: max of {}", warm.len()),
        ms(warm.iter().copied().reduce(f64::max)),
    ]);
    loads.add_row([
        "answered from the result cache".to_owned(),
        ms(Some(m.cached.seconds)),
    ]);
    for (round, (wall, slowest)) in m.rounds.iter().enumerate() {
        loads.add_row([
            format!(
                "{} users at once, round {}: all / slowest user",
                args.users,
                round + 1
            ),
            format!("{} / {}", ms(Some(*wall)), ms(Some(*slowest))),
        ]);
    }
    println!("{loads}");
    println!(
        "peak resident memory of the process: {} (memory budget {:.2} GB: queries {:.2} GB, \
         column cache {:.2} GB)",
        m.peak_bytes
            .map_or_else(|| "unknown".into(), |b| format!("{:.2} GB", b as f64 / 1e9)),
        memory.total() as f64 / 1e9,
        memory.query_pool() as f64 / 1e9,
        memory.column_cache() as f64 / 1e9
    );
    // Requests, slowest (warm median) first.
    let mut rows: Vec<(usize, Option<f64>)> = (0..m.requests.len())
        .map(|i| {
            let times: Vec<f64> = m.warm.iter().map(|l| l.requests[i].seconds).collect();
            (i, median(&times))
        })
        .collect();
    rows.sort_by(|a, b| b.1.unwrap_or(0.0).total_cmp(&a.1.unwrap_or(0.0)));
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    table.set_header([
        "request",
        "first",
        "warm median",
        "warm max",
        "server (warm median)",
        "cached",
        "rows",
    ]);
    for (i, warm_median) in rows {
        let times: Vec<f64> = m.warm.iter().map(|l| l.requests[i].seconds).collect();
        let server: Vec<f64> = m
            .warm
            .iter()
            .filter_map(|l| l.requests[i].server_ms)
            .map(|t| t / 1e3)
            .collect();
        table.add_row([
            m.requests[i].label().to_owned(),
            ms(Some(m.cold.requests[i].seconds)),
            ms(warm_median),
            ms(times.iter().copied().reduce(f64::max)),
            ms(median(&server)),
            ms(Some(m.cached.requests[i].seconds)),
            m.cold.requests[i].rows.to_string(),
        ]);
    }
    println!("{table}");
    if let Some(cache) = mailscope_engine::exec::cache::active() {
        let stats = cache.stats();
        println!(
            "column cache: {} columns, {:.1} MB held, {} hits, {} misses, {} evictions",
            stats.columns,
            stats.used_bytes as f64 / 1e6,
            stats.hits,
            stats.misses,
            stats.evictions
        );
    }
}
