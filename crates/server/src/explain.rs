//! `mailscope explain`: the query as parsed (canonical text), its checked stages (IR) and,
//! with a store, DataFusion's logical and physical plans.

use std::process::ExitCode;

use anyhow::Result;
use chrono::{Duration, Utc};
use mailscope_engine::exec::QueryOptions;
use mailscope_service::QueryRequest;

use crate::cli::ExplainArgs;
use crate::query::{self, OutputFormat};

pub fn run(args: &ExplainArgs) -> Result<ExitCode> {
    let variables = query::parse_variables(&args.variables)?;
    let format = if args.json {
        OutputFormat::Json
    } else {
        OutputFormat::Table
    };
    let source = match mailscope_query::substitute_variables(&args.query, &variables) {
        Ok(text) => text,
        Err(diagnostics) => return Ok(query::report(&args.query, &diagnostics, format)),
    };
    let ast = match mailscope_query::parse(&source) {
        Ok(ast) => ast,
        Err(diagnostics) => return Ok(query::report(&source, &diagnostics, format)),
    };
    let ir = match mailscope_query::compile_with_variables(&args.query, &variables) {
        Ok(ir) => ir,
        Err(diagnostics) => return Ok(query::report(&args.query, &diagnostics, format)),
    };
    let plan = match &args.data_dir {
        Some(dir) => {
            let to = match &args.to {
                Some(text) => query::parse_time(text, "--to")?,
                None => Utc::now(),
            };
            let from = match &args.from {
                Some(text) => query::parse_time(text, "--from")?,
                None => to - Duration::days(30),
            };
            let options = QueryOptions {
                from,
                to,
                time_zone: query::parse_tz(&args.tz)?,
                geo: None,
                asn: None,
                threat: None,
                max_raw_rows: query::MAX_RAW_ROWS,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let service = crate::app::one_shot_service(&runtime, dir);
            let request = QueryRequest {
                text: args.query.clone(),
                variables: variables.clone(),
                options,
                id: None,
            };
            Some(runtime.block_on(service.explain(request))?)
        }
        None => None,
    };
    if args.json {
        let body = serde_json::json!({ "parsed": ast.to_string(), "stages": ir, "plan": plan });
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        println!("== parsed ==\n{ast}\n");
        println!("== stages ==\n{ir:#?}\n");
        match plan {
            Some(plan) => println!("== plan ==\n{plan}"),
            None => println!("== plan ==\n(give --data-dir to plan against a store)"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
