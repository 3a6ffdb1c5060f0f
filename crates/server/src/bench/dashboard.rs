//! `mailscope bench --dashboard overview`: the whole Overview dashboard (its nine panel
//! queries, filters at `*`) over a store, the way the page asks for it — all panels at
//! once — after one cold run. Reuses the generated file and store of `mailscope bench`.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Result, anyhow};
use comfy_table::Table;
use mailscope_engine::exec::{self, QueryOptions};
use mailscope_query::ir;
use serde_json::json;

use super::{bench_store, gb, machine, median, ms};
use crate::cli::BenchArgs;
use crate::geodb;

macro_rules! panel {
    ($title:literal, $file:literal) => {
        (
            $title,
            include_str!(concat!("../../../query/tests/queries/", $file, ".sumo")),
        )
    };
}

/// The Overview dashboard's panels, as the original app writes them.
pub const OVERVIEW: [(&str, &str); 9] = [
    panel!("Delivered Messages", "overview_delivered_messages"),
    panel!("Failed Messages", "overview_failed_messages"),
    panel!("Messages Received", "overview_messages_received"),
    panel!(
        "Total Message Size Transmitted",
        "overview_total_message_size"
    ),
    panel!(
        "Message Delivery Status",
        "overview_delivery_status_over_time"
    ),
    panel!(
        "Size of Message Transmitted",
        "overview_message_size_over_time"
    ),
    panel!(
        "Top 10 Message Status Count by Sender",
        "overview_top10_status_count_by_sender"
    ),
    panel!("Top 10 Organizations", "overview_top10_organizations"),
    panel!(
        "Frequency of Keywords in Subject",
        "overview_subject_keyword_frequency"
    ),
];

/// The dashboard's filters, all at `*`.
fn filters_at_star() -> BTreeMap<String, String> {
    ["status", "sender_address", "organization", "country"]
        .into_iter()
        .map(|name| (name.to_owned(), "*".to_owned()))
        .collect()
}

pub fn run(args: &BenchArgs) -> Result<std::process::ExitCode> {
    let (start, end, work_dir) = super::time_range_and_work_dir(args)?;
    let geo = geodb::open(args.geoip.path())?;
    let options = QueryOptions {
        from: start,
        to: end,
        time_zone: chrono_tz::UTC,
        geo: geo.clone(),
        asn: None,
        threat: None,
        max_raw_rows: 10_000,
    };
    let variables = filters_at_star();
    let panels: Vec<(&str, ir::Query)> = OVERVIEW
        .iter()
        .map(|(title, text)| {
            // The bench store's rows carry the collector's default source category.
            let text = text.replace(
                "_sourceCategory=Labs/MessageExchangeTraceLogs",
                "_sourceCategory=o365/messagetrace",
            );
            mailscope_query::compile_with_variables(&text, &variables)
                .map(|query| (*title, query))
                .map_err(|d| anyhow!("{title}: {}", d[0].render(&text)))
        })
        .collect::<Result<_>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let machine = machine();
    let mut report = Vec::new();
    for &records in &args.records {
        let store_dir = bench_store(&work_dir, records, args, start, &geo)?;
        let columns: Vec<String> = panels
            .iter()
            .map(|(_, query)| {
                runtime
                    .block_on(exec::explain(&store_dir, query, &options))
                    .map(|plan| scanned_columns(&plan))
                    .unwrap_or_else(|e| format!("({e})"))
            })
            .collect();
        // All panels at once, as the page asks for them; the first run is cold.
        let mut dashboard = Vec::with_capacity(args.runs + 1);
        let mut per_panel: Vec<Vec<f64>> = vec![Vec::new(); panels.len()];
        for _ in 0..=args.runs {
            let started = Instant::now();
            let timings = runtime.block_on(async {
                let tasks: Vec<_> = panels
                    .iter()
                    .map(|(title, query)| {
                        let (store_dir, query, options) =
                            (store_dir.clone(), query.clone(), options.clone());
                        let title = title.to_string();
                        tokio::spawn(async move {
                            let begun = Instant::now();
                            exec::execute(&store_dir, &query, &options)
                                .await
                                .map(|_| begun.elapsed().as_secs_f64())
                                .map_err(|e| anyhow!("{title}: {e}"))
                        })
                    })
                    .collect();
                let mut timings = Vec::new();
                for task in tasks {
                    timings.push(task.await??);
                }
                anyhow::Ok(timings)
            })?;
            dashboard.push(started.elapsed().as_secs_f64());
            for (i, t) in timings.into_iter().enumerate() {
                per_panel[i].push(t);
            }
        }
        // Each panel alone, warm.
        let mut alone = Vec::new();
        for (title, query) in &panels {
            let mut times = Vec::new();
            for _ in 0..args.runs {
                let begun = Instant::now();
                runtime
                    .block_on(exec::execute(&store_dir, query, &options))
                    .map_err(|e| anyhow!("{title}: {e}"))?;
                times.push(begun.elapsed().as_secs_f64());
            }
            alone.push(median(&times));
        }
        let warm = median(&dashboard[1..]);
        let mut table = Table::new();
        table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        table.set_header(["panel", "alone, warm median", "columns read"]);
        for (i, (title, _)) in panels.iter().enumerate() {
            table.add_row([title.to_string(), ms(alone[i]), columns[i].clone()]);
        }
        println!(
            "Overview dashboard, {records} records, {} days, filters at *",
            args.days
        );
        println!("{table}");
        println!(
            "all nine at once: cold {}, warm median {} over {} runs; one after another: {}",
            ms(dashboard.first().copied()),
            ms(warm),
            args.runs,
            ms(Some(alone.iter().flatten().sum())),
        );
        report.push(json!({
            "records": records,
            "dashboard_cold_s": dashboard.first(),
            "dashboard_warm_median_s": warm,
            "panels": panels.iter().enumerate().map(|(i, (title, _))| json!({
                "title": title, "alone_warm_median_s": alone[i], "columns": columns[i],
            })).collect::<Vec<_>>(),
        }));
    }
    println!(
        "machine: {}, {} cores, {} GB memory",
        machine.cpu,
        machine.cores,
        machine.memory_bytes.map_or_else(|| "unknown".into(), gb)
    );
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "overview": report }))?
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The columns the plan's Parquet scans read (`projection=[…]` of each data source).
fn scanned_columns(plan: &str) -> String {
    let mut columns: Vec<&str> = Vec::new();
    for line in plan.lines().filter(|l| l.contains("DataSourceExec")) {
        if let Some(list) = line
            .split_once("projection=[")
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(list, _)| list)
        {
            for column in list.split(", ") {
                if !columns.contains(&column) {
                    columns.push(column);
                }
            }
        }
    }
    columns.join(", ")
}
