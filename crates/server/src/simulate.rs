//! `mailscope simulate`: Microsoft's token, Reporting Web Service and Graph message trace
//! endpoints, emulated over a synthetic tenant, for trying a collector without a tenant.

use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use chrono::{Duration, DurationRound, Utc};
use mailscope_simulator::TenantConfig;
use mailscope_simulator::http::{SimulatorConfig, serve};

use crate::cli::SimulateArgs;

pub fn run(args: &SimulateArgs) -> Result<ExitCode> {
    let start =
        Utc::now().duration_trunc(Duration::hours(1))? - Duration::days(i64::from(args.days));
    let mut config = SimulatorConfig::new(TenantConfig {
        seed: args.seed,
        messages: args.messages,
        start,
        // One day past now, so mail keeps arriving while the simulator runs.
        days: args.days + 1,
    });
    if let Some(spec) = &args.faults {
        config.faults = spec.parse().map_err(|e| anyhow!("--faults: {e}"))?;
    }
    config.onboarding = args.onboarding;
    config.organization_readable = !args.organization_forbidden;
    if let Some(quota) = &args.graph_quota {
        config.graph_quota = quota.parse().map_err(|e| anyhow!("--graph-quota: {e}"))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let simulator = serve(listener, config).await?;
        println!(
            "mailscope simulator: {} identities of {} on {}\n\n\
             # a collector configuration for it (mailscope collect --config FILE):\n\
             [[tenant]]\nname = \"simulated\"\napi = \"graph\"\ntenant_id = \"{}\"\n\
             client_id = \"{}\"\nclient_secret_env = \"MAILSCOPE_SIMULATOR_SECRET\"\n\
             organization = \"{}\"\nlogin_url = \"{}\"\napi_url = \"{}\"\n\n\
             # and export MAILSCOPE_SIMULATOR_SECRET={}",
            simulator.identities(),
            simulator.tenant().organization,
            simulator.base_url(),
            simulator.tenant_id(),
            simulator.client_id(),
            simulator.tenant().organization,
            simulator.base_url(),
            simulator.base_url(),
            simulator.client_secret(),
        );
        let _ = tokio::signal::ctrl_c().await;
        let stats = simulator.stats();
        simulator.shutdown().await?;
        eprintln!("{stats:?}");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
