//! `mailscope query`: compile, run, print as a table, JSON or CSV. Errors in the query are
//! printed as diagnostics (code, message, the source line and a caret under the span).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use mailscope_engine::exec::{QueryOptions, QueryResult, Value};
use mailscope_service::{QueryError, QueryRequest};

use crate::cli::{LookupArgs, QueryArgs};
use crate::geodb;

pub use crate::app::MAX_RAW_ROWS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

pub fn run(args: &QueryArgs) -> Result<ExitCode> {
    let format = match args.format.as_str() {
        "table" => OutputFormat::Table,
        "json" => OutputFormat::Json,
        "csv" => OutputFormat::Csv,
        other => bail!("--format {other:?}: expected table, json or csv"),
    };
    let from = parse_time(&args.from, "--from")?;
    let to = parse_time(&args.to, "--to")?;
    let time_zone = parse_tz(&args.tz)?;
    let variables = parse_variables(&args.variables)?;
    let options = lookup_options(&args.lookups, &args.data_dir, from, to, time_zone)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let service = crate::app::one_shot_service(&runtime, &args.data_dir);
    let request = QueryRequest {
        text: args.query.clone(),
        variables,
        options,
        id: None,
    };
    let answer = match runtime.block_on(service.run(request)) {
        Ok(answer) => answer,
        // Diagnostics point into the query as written, before variables are substituted.
        Err(QueryError::Compile(diagnostics)) => {
            return Ok(report(&args.query, &diagnostics, format));
        }
        Err(e) => return Err(e.into()),
    };
    let result = &answer.table.result;
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Json => writeln!(out, "{}", to_json(result))?,
        OutputFormat::Csv => write_csv(&mut out, result)?,
        OutputFormat::Table => write_table(&mut out, result, time_zone)?,
    }
    drop(out);
    for warning in &result.warnings {
        if format != OutputFormat::Json {
            eprintln!("warning: {warning}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The options of a one-shot query over `[from, to)`, its lookups reading the reference data
/// the arguments name.
pub fn lookup_options(
    lookups: &LookupArgs,
    data_dir: &std::path::Path,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    time_zone: Tz,
) -> Result<QueryOptions> {
    Ok(QueryOptions {
        from,
        to,
        time_zone,
        geo: geodb::open(lookups.geoip.path())?,
        asn: geodb::open_asn(lookups.asn.path())?,
        threat: crate::threat::open(data_dir, lookups.threat_config.as_deref())?
            .map(|store| store.index()),
        max_raw_rows: MAX_RAW_ROWS,
    })
}

/// `--var NAME=VALUE` arguments.
pub fn parse_variables(assignments: &[String]) -> Result<BTreeMap<String, String>> {
    let mut variables = BTreeMap::new();
    for assignment in assignments {
        let (name, value) = assignment
            .split_once('=')
            .with_context(|| format!("--var {assignment:?}: expected NAME=VALUE"))?;
        variables.insert(name.trim().to_owned(), value.to_owned());
    }
    Ok(variables)
}

pub fn parse_tz(name: &str) -> Result<Tz> {
    name.parse()
        .map_err(|_| anyhow::anyhow!("--tz {name:?} is not an IANA time zone"))
}

pub fn parse_time(text: &str, flag: &str) -> Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(text)
        .with_context(|| {
            format!("{flag} {text:?} is not an RFC 3339 time (e.g. 2026-10-01T00:00:00Z)")
        })?
        .to_utc())
}

pub fn report(
    source: &str,
    diagnostics: &[mailscope_query::Diagnostic],
    format: OutputFormat,
) -> ExitCode {
    if format == OutputFormat::Json {
        let body = serde_json::json!({ "errors": diagnostics });
        println!("{body}");
    } else {
        for diagnostic in diagnostics {
            eprintln!("{}", diagnostic.render(source));
        }
    }
    ExitCode::from(2)
}

pub fn to_json(result: &QueryResult) -> serde_json::Value {
    let rows: Vec<Vec<serde_json::Value>> = result
        .rows
        .iter()
        .map(|row| row.iter().map(Value::to_json).collect())
        .collect();
    serde_json::json!({ "columns": result.columns, "rows": rows, "warnings": result.warnings })
}

fn text(value: &Value, tz: Option<Tz>) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Text(s) => s.clone(),
        Value::Time(ms) => match tz.and_then(|tz| tz.timestamp_millis_opt(*ms).single()) {
            Some(time) => time.format("%Y-%m-%d %H:%M:%S %Z").to_string(),
            None => ms.to_string(),
        },
    }
}

fn write_csv(out: &mut dyn Write, result: &QueryResult) -> Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(&result.columns)?;
    for row in &result.rows {
        writer.write_record(row.iter().map(|v| text(v, None)))?;
    }
    writer.flush()?;
    Ok(())
}

pub fn write_table(out: &mut dyn Write, result: &QueryResult, tz: Tz) -> Result<()> {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(&result.columns);
    for row in &result.rows {
        table.add_row(row.iter().map(|v| text(v, Some(tz))));
    }
    writeln!(out, "{table}")?;
    writeln!(out, "{} rows", result.rows.len())?;
    Ok(())
}
