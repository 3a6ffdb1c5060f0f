//! Ground truth is what a correct, patient client reads: through every fault, on both APIs,
//! and while the tenant is still receiving mail.

use std::collections::HashMap;

use chrono::{TimeDelta, Utc};
use mailscope_record::{Format, Record};
use mailscope_simulator::http::{Audience, SimulatorConfig};

use crate::support::{
    Patient, by_identity, graph_window_url, rws_window_url, settled_tenant, start, tenant,
};

const DOCUMENTED_SPEC: &str = "429=0.2,500=0.05,503=0.05,timeout=0.02,truncate=0.02,html=0.02,\
                               expired-link=0.05,token-expiry=30s";

#[tokio::test]
async fn patient_clients_read_exactly_the_ground_truth_through_faults() {
    let mut config = SimulatorConfig::new(settled_tenant(51, 3_000));
    config.faults = format!("{DOCUMENTED_SPEC},retry-after=1s,stall=3s,seed=7")
        .parse()
        .unwrap();
    config.graph_page_size = 600;
    config.rws_page_size = 600;
    let simulator = start(config).await;
    let truth = simulator.ground_truth(Utc::now());
    let from = truth.first().unwrap().received - TimeDelta::minutes(1);
    let to = truth.last().unwrap().received + TimeDelta::minutes(1);
    let truth = by_identity(&truth);

    let mut rws = Patient::new(&simulator, Audience::Exchange, Format::ReportingJson);
    let read = by_identity(&rws.read_window(rws_window_url(&simulator, from, to)).await);
    // The Reporting Web Service shows a recalled message as delivered.
    assert_eq!(
        read,
        by_identity(&simulator.ground_truth_reporting(Utc::now()))
    );

    let mut graph = Patient::new(&simulator, Audience::Graph, Format::GraphJson);
    let read = by_identity(
        &graph
            .read_window(graph_window_url(&simulator, from, to, None))
            .await,
    );
    assert_eq!(read.len(), truth.len());
    for (identity, record) in &read {
        assert_eq!(record.status, truth[identity].status);
    }

    let stats = simulator.stats();
    let injected: u64 = mailscope_simulator::http::FaultKind::ALL
        .iter()
        .map(|kind| stats.fault(*kind))
        .sum();
    assert!(injected > 0, "no fault was injected: {stats:?}");
    println!(
        "rws trouble {:?}, graph trouble {:?}, {stats:?}",
        rws.trouble, graph.trouble
    );
    simulator.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_live_tenant_shows_what_was_observed_by_the_time_of_the_query() {
    // Mail from yesterday into tomorrow: rows appear and settle while the test runs.
    let simulator = start(SimulatorConfig::new(tenant(52, 20_000, 1, 2))).await;
    let start_of_tenant = Utc::now() - TimeDelta::days(1) - TimeDelta::minutes(1);
    let mut graph = Patient::new(&simulator, Audience::Graph, Format::GraphJson);
    let before = Utc::now();
    let to = before;
    let url = graph_window_url(&simulator, start_of_tenant, to, Some(5000));
    let read = by_identity(&graph.read_window(url).await);
    let after = Utc::now();
    let window = start_of_tenant..to + TimeDelta::milliseconds(1);
    let statuses = |records: Vec<Record>| -> HashMap<u128, Record> {
        records.into_iter().map(|r| (r.identity(), r)).collect()
    };
    let then = statuses(simulator.ground_truth_received(before, window.clone()));
    let later = statuses(simulator.ground_truth_received(after, window));
    assert!(!then.is_empty());
    // Nothing visible before the query is missing; nothing is invented; each status is one
    // the identity had at some instant during the query.
    for identity in then.keys() {
        assert!(read.contains_key(identity));
    }
    for (identity, record) in &read {
        let now = &later[identity].status;
        let earlier = then.get(identity).map(|r| &r.status);
        assert!(
            &record.status == now || Some(&record.status) == earlier,
            "{record:?}"
        );
    }
    // The tenant is not settled yet: some mail is still to come.
    assert!(simulator.settled_at().unwrap() > after);
    assert!(simulator.ground_truth(after).len() < simulator.identities());
}
