//! `mailscope demo`: a realistic synthetic tenant (the last few weeks up to now) ingested
//! into a store with geolocation, then the Overview dashboard's panels answered from it with
//! the original app's own queries. The web dashboards and the simulated Microsoft APIs build
//! on this store in later versions.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{Duration, DurationRound, Utc};
use mailscope_engine::exec::{self, QueryOptions};
use mailscope_engine::schema::SourceMeta;
use mailscope_engine::store::Store;
use mailscope_simulator::TenantConfig;

use crate::cli::DemoArgs;
use crate::{geodb, query};

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
    let data_dir: PathBuf = args.data_dir.clone();
    let geo = geodb::open(args.geoip_dir.as_deref())?;
    let end = Utc::now().duration_trunc(Duration::hours(1))?;
    let start = end - Duration::days(i64::from(args.days));
    if !data_dir
        .join(mailscope_engine::store::CATALOG_FILE)
        .exists()
    {
        ingest_tenant(&data_dir, geo.clone(), start, args)?;
    } else {
        eprintln!("using the existing demo store in {}", data_dir.display());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let options = QueryOptions {
        from: start,
        to: end + Duration::hours(1),
        time_zone: chrono_tz::Tz::UTC,
        geo,
        max_raw_rows: 100,
    };
    let mut out = std::io::stdout().lock();
    for (title, panel) in PANELS {
        let text = format!("{PRELUDE}\n{panel}");
        let compiled = mailscope_query::compile(&text).map_err(|d| {
            anyhow::anyhow!(
                d.iter()
                    .map(|d| d.render(&text))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })?;
        let started = Instant::now();
        let result = runtime.block_on(exec::execute(&data_dir, &compiled, &options))?;
        writeln!(out, "\n== {title} ({} ms)", started.elapsed().as_millis())?;
        query::write_table(&mut out, &result, options.time_zone)?;
    }
    if options.geo.is_some() {
        writeln!(
            out,
            "\nIP geolocation by DB-IP (db-ip.com), DB-IP Lite City, CC BY 4.0"
        )?;
    }
    drop(out);
    eprintln!(
        "\nthe store is in {}; query it with:\n  mailscope query --data-dir {} --from {} --to {} '<query>'",
        data_dir.display(),
        data_dir.display(),
        start.to_rfc3339(),
        (end + Duration::hours(1)).to_rfc3339()
    );
    Ok(ExitCode::SUCCESS)
}

fn ingest_tenant(
    data_dir: &Path,
    geo: Option<Arc<mailscope_engine::geo::GeoDatabase>>,
    start: chrono::DateTime<Utc>,
    args: &DemoArgs,
) -> Result<()> {
    let started = Instant::now();
    let config = TenantConfig {
        seed: args.seed,
        messages: args.messages,
        start,
        days: args.days,
    };
    let generator = mailscope_simulator::generate(&config)?;
    let tenant = generator.tenant().organization.clone();
    let mut store =
        Store::open(data_dir).with_context(|| format!("cannot open {}", data_dir.display()))?;
    let meta = SourceMeta {
        source_category: "Labs/MessageExchangeTraceLogs".into(),
        source: "demo".into(),
        collector: "mailscope-demo".into(),
    };
    if let Some(geo) = &geo {
        geo.load()?;
    }
    let with_geo = geo.is_some();
    let mut ingest = store.ingest(geo, meta);
    let mut observations = 0u64;
    for observation in generator {
        ingest.push(observation.record)?;
        observations += 1;
    }
    let report = ingest.commit()?;
    eprintln!(
        "demo tenant {tenant}: {observations} observations -> {} rows ({} status updates) in {:.1} s{}",
        report.rows_after,
        report.updated,
        started.elapsed().as_secs_f64(),
        if with_geo {
            ", geolocated with DB-IP Lite"
        } else {
            ", without geolocation (run the set-up)"
        }
    );
    Ok(())
}
