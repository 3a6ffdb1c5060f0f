//! `mailscope demo`: the whole product on a simulated tenant. The emulated Microsoft Graph
//! API serves a realistic tenant (a few weeks of history up to now, mail still arriving); a
//! collector backfills it into the store through the real client code, the Overview
//! dashboard's panels are printed from the original app's queries, and then the server answers
//! the query API while the collector keeps polling.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Duration, DurationRound, Utc};
use mailscope_collect::{Api, Config, Secret, Shutdown};
use mailscope_engine::exec::QueryOptions;
use mailscope_engine::store::Store;
use mailscope_service::{QueryError, QueryRequest};
use mailscope_simulator::TenantConfig;
use mailscope_simulator::http::{SimulatorConfig, serve};
use serde_json::json;

use crate::app::{App, AppConfig};
use crate::cli::DemoArgs;
use crate::http::{self, AppState};
use crate::{apps, collect, geodb, query, threat};

/// The source category the original app's queries name.
const CATEGORY: &str = "Labs/MessageExchangeTraceLogs";
/// Marks a data directory as the demo's own, with the tenant it holds.
const MARKER: &str = "demo.json";

/// The prelude every panel of the original app starts with.
pub const PRELUDE: &str = r#"_sourceCategory=Labs/MessageExchangeTraceLogs
| json "Organization", "MessageId", "Received","SenderAddress", "RecipientAddress", "Subject", "Status", "ToIP", "FromIP", "Size", "MessageTraceId", "StartDate", "EndDate", "Index" as organization, message_id, received, sender_address, recipient_address, subject, status, toIP, fromIP, size, message_traceId, start_date, end_Date, index nodrop
| where status matches "*"
| where sender_address matches "*"
| where organization matches "*"
| lookup latitude, longitude, country_code, country_name, region, city, postal_code from geo://location on ip = fromIP"#;

const PANELS: [(&str, &str); 6] = [
    (
        "Delivered Messages",
        r#"| where status matches ("*Delivered*") | count(status)"#,
    ),
    (
        "Failed Messages",
        r#"| where status matches ("*Failed*") | count(status)"#,
    ),
    (
        "Total Message Size Transmitted (GB)",
        "| size/1Gi as gbytes | sum(gbytes) as totalbytes by _timeslice",
    ),
    (
        "Message Delivery Status",
        "| timeslice 1d | count by _timeslice, status | fillmissing timeslice, values all in status | transpose row _timeslice column status",
    ),
    (
        "Top 10 Organizations",
        "| count by organization | top 10 organization by _count",
    ),
    (
        "Top 10 Senders",
        "| count by sender_address | top 10 sender_address by _count",
    ),
];

pub fn run(args: &DemoArgs) -> Result<ExitCode> {
    crate::logging::init(crate::logging::LogFormat::Text);
    let geo = geodb::open(args.geoip.path())?;
    match &geo {
        Some(geo) => eprintln!("{}", geodb::describe(geo)),
        None => eprintln!("note: no geolocation database found (run the set-up: npm ci in web/)"),
    }
    let asn = geodb::open_asn(args.asn.path())?;
    let start = anchor(&args.data_dir, args)?;
    install_app(&args.data_dir)?;
    let store = Store::open(&args.data_dir)
        .with_context(|| format!("cannot open {}", args.data_dir.display()))?;
    let store = Arc::new(Mutex::new(store));
    let app = App::build(AppConfig {
        data_dir: args.data_dir.clone(),
        store: store.clone(),
        geo: geo.clone(),
        asn: asn.clone(),
        // The demo's feeds are set up once the simulator serves them.
        threat: None,
        token: None,
        max_ingest_bytes: 256 << 20,
        source_category: CATEGORY.into(),
        memory: args.memory.budget()?,
        column_cache_bytes: args.memory.column_cache_bytes(),
        query_timeout: http::QUERY_TIMEOUT,
    })?;
    let mut state = app.state.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let tenant_config = TenantConfig {
            seed: args.seed,
            messages: args.messages,
            start,
            // A day past now, so mail keeps arriving while the demo runs.
            days: args.days + 1,
        };
        // Threat feeds in every format, listing some of the tenant's spam senders, served by
        // the simulator like a publisher's site.
        let feeds = threat::DemoFeeds::new(&threat::spam_senders(&tenant_config)?, Utc::now());
        let mut simulated = SimulatorConfig::new(tenant_config);
        simulated.graph_page_size = 5000;
        simulated.files = feeds.files.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let simulator = serve(listener, simulated).await?;
        let threat = threat::open_feeds(&args.data_dir, feeds.configs(&simulator.base_url()))?;
        for (feed, outcome) in threat.refresh_due_feeds(Utc::now()).await {
            tracing::debug!(feed, ?outcome, "threat feed");
        }
        eprintln!("{}", threat::describe(&threat));
        let organization = simulator.tenant().organization.clone();
        let mut tenant = mailscope_collect::TenantConfig::new(
            "demo",
            Api::Graph,
            simulator.tenant_id(),
            simulator.client_id(),
            Secret::new(simulator.client_secret()),
        );
        tenant.login_url = url::Url::parse(&simulator.base_url())?;
        tenant.api_url = url::Url::parse(&simulator.base_url())?;
        // No organization configured: the collector learns the tenant's domain from Graph, as
        // it does for a user who sets none.
        tenant.source_category = CATEGORY.into();
        tenant.interval = std::time::Duration::from_secs(30);
        tenant.settle = std::time::Duration::from_secs(60);
        tenant.lookback = std::time::Duration::from_secs(2 * 3600);
        tenant.backfill = std::time::Duration::from_secs(86_400 * (u64::from(args.days) + 1));
        let config = Config {
            data_dir: None,
            tenants: vec![tenant],
        };
        eprintln!(
            "simulated Microsoft Graph at {} serving {} ({} identities); collecting...",
            simulator.base_url(),
            organization,
            simulator.identities()
        );
        let started = Instant::now();
        let (trigger, shutdown) = Shutdown::channel();
        let reports = collect::join_all(collect::spawn_all(
            &config,
            store.clone(),
            geo.clone(),
            None,
            &shutdown,
            true,
            // The backfill's collector is done before the server starts: only the polling
            // one is shown.
            &collect::Board::default(),
        ))
        .await?;
        for report in &reports {
            eprintln!(
                "{} in {:.1} s",
                collect::summary(report),
                started.elapsed().as_secs_f64()
            );
        }
        print_overview(&state, start).await?;
        if args.once {
            simulator.shutdown().await?;
            return anyhow::Ok(());
        }
        state.threat = Some(threat.clone());
        http::check_listen(&args.listen, None)?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (try --listen 127.0.0.1:0)",
                    args.listen
                )
            })?;
        // The backfill and the polls leave several segments a past day: compacted in the
        // background as `serve` does.
        let compaction = crate::serve::spawn_compaction(
            store.clone(),
            state.memory.clone(),
            std::time::Duration::from_secs(DEMO_COMPACT_INTERVAL_SECS),
            shutdown.clone(),
        );
        let polling = collect::spawn_all(
            &config,
            store,
            geo,
            Some(state.memory.clone()),
            &shutdown,
            false,
            &state.collectors,
        );
        let mut stop = shutdown.clone();
        let refresh = threat::spawn_refresh(threat, async move { stop.requested().await });
        eprintln!(
            "\nmailscope is serving the demo store and its dashboards (query API: POST \
             /api/v1/query); the collector polls the simulator every 30 s. Ctrl-C stops. Open:",
        );
        println!("http://{}/", listener.local_addr()?);
        let status_writer = state.collectors.spawn_writer(args.data_dir.clone());
        http::serve(listener, state, async move {
            let _ = tokio::signal::ctrl_c().await;
            trigger.shutdown();
        })
        .await?;
        collect::join_all(polling).await?;
        status_writer.finish()?;
        let _ = compaction.await;
        let _ = refresh.await;
        simulator.shutdown().await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Seconds between the demo's background compactions (`serve`'s default is 600): a demo is
/// watched for minutes, not days.
const DEMO_COMPACT_INTERVAL_SECS: u64 = 120;

/// Installs the Exchange app (latest version) for the demo's source category, unless it is
/// installed already (a restarted demo keeps the user's dashboards).
fn install_app(data_dir: &Path) -> Result<()> {
    let library = apps::library::Library::new(data_dir);
    let app = "microsoft-exchange-trace-logs";
    if apps::installed_version(&library, app)?.is_none() {
        let entry = apps::install(&library, app, CATEGORY, None)?;
        eprintln!(
            "installed the {} app {} for {CATEGORY}",
            entry.name, entry.latest
        );
    }
    Ok(())
}

/// The tenant's start: kept in the demo's marker so a restarted demo serves the same tenant
/// and its collector resumes from the store's checkpoint. A demo store made with other
/// parameters, or older than Graph's history, is rebuilt; a directory that is not a demo
/// store is refused, never deleted.
fn anchor(data_dir: &Path, args: &DemoArgs) -> Result<DateTime<Utc>> {
    let wanted = json!({ "seed": args.seed, "messages": args.messages, "days": args.days });
    let marker = data_dir.join(MARKER);
    match std::fs::read(&marker) {
        Ok(bytes) => {
            let saved: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let start = saved["start"]
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|s| s.to_utc());
            let same = ["seed", "messages", "days"]
                .iter()
                .all(|k| saved[*k] == wanted[*k]);
            match start {
                Some(start) if same && Utc::now() - start < Duration::days(80) => {
                    eprintln!("resuming the demo store in {}", data_dir.display());
                    return Ok(start);
                }
                _ => {
                    eprintln!("rebuilding the demo store in {}", data_dir.display());
                    std::fs::remove_dir_all(data_dir)
                        .with_context(|| format!("cannot remove {}", data_dir.display()))?;
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if data_dir
                .join(mailscope_engine::store::CATALOG_FILE)
                .exists()
            {
                bail!(
                    "{} holds a store that is not the demo's; give the demo another --data-dir",
                    data_dir.display()
                );
            }
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", marker.display())),
    }
    let start =
        Utc::now().duration_trunc(Duration::hours(1))? - Duration::days(i64::from(args.days));
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let mut saved = wanted;
    saved["start"] = json!(start.to_rfc3339());
    std::fs::write(&marker, serde_json::to_vec_pretty(&saved)?)
        .with_context(|| format!("cannot write {}", marker.display()))?;
    Ok(start)
}

/// Prints the Overview panels answered from the store, through the server's query service.
async fn print_overview(state: &AppState, start: DateTime<Utc>) -> Result<()> {
    let end = Utc::now() + Duration::hours(1);
    let options = QueryOptions {
        from: start,
        to: end,
        time_zone: chrono_tz::Tz::UTC,
        geo: state.geo.clone(),
        asn: None,
        threat: None,
        max_raw_rows: 0,
    };
    let mut out = std::io::stdout().lock();
    for (title, panel) in PANELS {
        let text = format!("{PRELUDE}\n{panel}");
        let started = Instant::now();
        let answer = state
            .queries
            .run(QueryRequest::new(text.clone(), options.clone()))
            .await
            .map_err(|e| match e {
                QueryError::Compile(d) => anyhow!(
                    d.iter()
                        .map(|d| d.render(&text))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
                e => anyhow!("{title}: {e}"),
            })?;
        writeln!(out, "\n== {title} ({} ms)", started.elapsed().as_millis())?;
        query::write_table(&mut out, &answer.table.result, options.time_zone)?;
    }
    if options.geo.is_some() {
        writeln!(
            out,
            "\nIP geolocation by DB-IP (db-ip.com), DB-IP Lite City, CC BY 4.0"
        )?;
    }
    writeln!(
        out,
        "\nquery the store with:\n  mailscope query --data-dir {} --from {} --to {} '<query>'",
        state.data_dir.display(),
        start.to_rfc3339(),
        end.to_rfc3339()
    )?;
    Ok(())
}
