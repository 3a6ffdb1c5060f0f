//! `mailscope`: the command line and HTTP server over the engine, the readers, the collectors
//! and the simulator. Glue only: argument parsing, configuration, printing, HTTP.

mod allocator;
mod app;
mod append;
mod apps;
mod bench;
mod cli;
mod collect;
mod config;
mod demo;
mod explain;
mod export;
mod generate;
mod geodb;
mod http;
mod ingest;
mod logging;
mod progress;
mod query;
mod serve;
mod simulate;
mod store;
mod threat;
mod trace;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Serve(_) | Command::Demo(_) | Command::Collect(_)
    ) {
        allocator::run_tuned();
    }
    let result = match cli.command {
        Command::Generate(args) => generate::run(&args),
        Command::Ingest(args) => ingest::run(&args),
        Command::Query(args) => query::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Trace(args) => trace::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Collect(args) => collect::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::App(args) => apps::cli::run(&args),
        Command::Store(args) => store::run(&args),
        Command::Config(args) => config::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
