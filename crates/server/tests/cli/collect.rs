//! `mailscope collect` end to end against the API simulator, which runs inside the test: a
//! collector killed with SIGKILL at random moments of a backfill and restarted leaves a
//! consistent store after every kill (the published rows are exactly the ground truth before
//! the published checkpoint) and, once a run finishes, exactly the ground truth; the client
//! secret never reaches the output; configuration errors name their place and create no
//! store; a run through every kind of fault ends equal to the ground truth.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::{Int64Type, TimestampNanosecondType};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use mailscope_engine::schema;
use mailscope_engine::store::{Catalog, Store};
use mailscope_record::{Record, Status, identity_key};
use mailscope_simulator::TenantConfig;
use mailscope_simulator::http::{Quota, Simulator, SimulatorConfig, Stats, serve};
use rand::{Rng, SeedableRng};

const BINARY: &str = env!("CARGO_BIN_EXE_mailscope");
const SECRET: &str = "Xk4~e2e-collector-secret-9137";
const SECRET_ENV: &str = "MAILSCOPE_E2E_CLIENT_SECRET";
const TENANT: &str = "e2e";
const CHECKPOINT_KEY: &str = "collect/e2e";

/// The simulator on a runtime of its own, which serves while the test thread sleeps, spawns
/// and kills collectors.
struct Running {
    simulator: Option<Simulator>,
    runtime: tokio::runtime::Runtime,
}

impl Running {
    /// A tenant whose every observation is already visible (mail received from 9 days ago
    /// until 1 day ago; statuses settle within hours), so the ground truth is final and a
    /// collection can equal it exactly.
    fn start(seed: u64, messages: u64, page_size: usize, faults: &str) -> Running {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let start = Utc::now()
            .duration_trunc(TimeDelta::hours(1))
            .expect("truncate")
            - TimeDelta::days(9);
        let mut config = SimulatorConfig::new(TenantConfig {
            seed,
            messages,
            start,
            days: 8,
        });
        config.client_secret = SECRET.to_owned();
        config.graph_page_size = page_size;
        // The quota is the collector's business elsewhere; here it would only slow the test.
        config.graph_quota = Quota {
            requests: 100_000,
            window: Duration::from_secs(300),
        };
        config.faults = faults.parse().expect("fault spec");
        let simulator = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            serve(listener, config).await.expect("simulator")
        });
        assert!(
            simulator.settled_at().is_some_and(|at| at < Utc::now()),
            "the simulated tenant must be settled"
        );
        Running {
            simulator: Some(simulator),
            runtime,
        }
    }

    fn simulator(&self) -> &Simulator {
        self.simulator.as_ref().expect("running")
    }

    fn stats(&self) -> Stats {
        self.simulator().stats()
    }

    /// Every identity with its final observation, at Graph's precision (milliseconds).
    fn truth(&self) -> HashMap<u128, Record> {
        self.simulator()
            .ground_truth(Utc::now())
            .into_iter()
            .map(|record| (record.identity(), record))
            .collect()
    }

    /// A collector configuration for this simulator; `extra` lines are appended to the tenant.
    fn write_config(&self, dir: &Path, extra: &str) -> PathBuf {
        let simulator = self.simulator();
        let base = simulator.base_url();
        let text = format!(
            "[[tenant]]\n\
             name = \"{TENANT}\"\n\
             api = \"graph\"\n\
             tenant_id = \"{}\"\n\
             client_id = \"{}\"\n\
             client_secret_env = \"{SECRET_ENV}\"\n\
             login_url = \"{base}\"\n\
             api_url = \"{base}\"\n\
             backfill = \"10d\"\n\
             settle = \"1m\"\n\
             quota = \"none\"\n\
             {extra}",
            simulator.tenant_id(),
            simulator.client_id(),
        );
        let path = dir.join("collect.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(simulator) = self.simulator.take() {
            let _ = self.runtime.block_on(simulator.shutdown());
        }
    }
}

/// `mailscope collect --config F --data-dir D --once`, run from `work` (so no geolocation
/// database is found near the working directory) with `secret` in the environment.
fn collect(work: &Path, config: &Path, data: &Path, secret: &str) -> Command {
    let mut command = Command::new(BINARY);
    command
        .arg("collect")
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .arg("--once")
        .current_dir(work)
        .env(SECRET_ENV, secret)
        .env_remove("MAILSCOPE_GEOIP_DIR")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

fn text(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// One stored row, as far as the comparison with the ground truth goes.
#[derive(Debug)]
struct Stored {
    status: Status,
    sender: String,
    size: i64,
    received: i64,
}

/// What a reader of the data directory sees.
struct StoreView {
    catalog: Catalog,
    rows: HashMap<u128, Stored>,
    /// Segment files the catalog names.
    referenced: BTreeSet<PathBuf>,
    /// Every segment file on disk.
    on_disk: BTreeSet<PathBuf>,
}

impl StoreView {
    fn collected_until(&self) -> Option<DateTime<Utc>> {
        let checkpoint = self.catalog.checkpoints.get(CHECKPOINT_KEY)?;
        let until = checkpoint["collected_until"]
            .as_str()
            .expect("collected_until is a string");
        Some(
            DateTime::parse_from_rfc3339(until)
                .expect("collected_until parses")
                .to_utc(),
        )
    }
}

/// Reads the store as a query would: the catalog parses, every segment it names exists and
/// reads with the row count the catalog says, and no identity is stored twice.
fn read_store(dir: &Path) -> StoreView {
    let catalog = Catalog::load(dir).expect("CATALOG must always parse");
    let mut rows = HashMap::new();
    let mut referenced = BTreeSet::new();
    for meta in &catalog.segments {
        let path = catalog.segment_path(dir, meta);
        assert!(
            path.is_file(),
            "catalog names a missing segment {}",
            meta.file
        );
        let batch = mailscope_engine::store::read_live(dir, &catalog, meta)
            .unwrap_or_else(|error| panic!("segment {} does not read: {error}", meta.file));
        assert_eq!(batch.num_rows() as u64, meta.live_rows(), "{}", meta.file);
        let column = |name: &str| {
            batch
                .column(batch.schema().index_of(name).expect("stored column"))
                .clone()
        };
        let (ids, recipients) = (
            column(schema::MESSAGE_TRACE_ID),
            column(schema::RECIPIENT_ADDRESS),
        );
        let (statuses, senders) = (column(schema::STATUS), column(schema::SENDER_ADDRESS));
        let (sizes, received) = (column(schema::SIZE), column(schema::RECEIVED));
        let sizes = sizes.as_primitive::<Int64Type>();
        let received = received.as_primitive::<TimestampNanosecondType>();
        for row in 0..batch.num_rows() {
            let key = identity_key(
                ids.as_string::<i32>().value(row),
                recipients.as_string::<i32>().value(row),
            );
            let stored = Stored {
                status: Status::parse(statuses.as_string::<i32>().value(row)),
                sender: senders.as_string::<i32>().value(row).to_owned(),
                size: sizes.value(row),
                received: received.value(row),
            };
            assert!(
                rows.insert(key, stored).is_none(),
                "identity stored twice (in {})",
                meta.file
            );
        }
        referenced.extend(super::crash::companions(dir, &catalog, meta));
        referenced.insert(path);
    }
    let mut on_disk = BTreeSet::new();
    if let Ok(days) = std::fs::read_dir(dir.join("segments")) {
        for day in days.flatten() {
            for file in std::fs::read_dir(day.path()).expect("day folder").flatten() {
                on_disk.insert(file.path());
            }
        }
    }
    StoreView {
        catalog,
        rows,
        referenced,
        on_disk,
    }
}

/// The stored row equals the ground truth's final observation of its identity.
fn assert_row_matches(stored: &Stored, expected: &Record) {
    let what = || {
        format!(
            "{} {}",
            expected.message_trace_id, expected.recipient_address
        )
    };
    assert_eq!(stored.status, expected.status, "status of {}", what());
    assert_eq!(
        stored.sender,
        expected.sender_address,
        "sender of {}",
        what()
    );
    assert_eq!(stored.size, expected.size, "size of {}", what());
    // Graph reports milliseconds; the simulator keeps 100 ns.
    let millis = expected.received.timestamp_millis() * 1_000_000;
    assert_eq!(stored.received, millis, "received of {}", what());
}

/// The store holds every identity of the ground truth once, with its final status.
fn assert_store_equals_truth(view: &StoreView, truth: &HashMap<u128, Record>) {
    assert_eq!(view.rows.len(), truth.len(), "identities in the store");
    for (key, expected) in truth {
        let stored = view.rows.get(key).unwrap_or_else(|| {
            panic!(
                "{} {} missing",
                expected.message_trace_id, expected.recipient_address
            )
        });
        assert_row_matches(stored, expected);
    }
}

/// A store left by a killed collector: its rows are exactly the ground truth received before
/// the published checkpoint (the windows are inclusive at whole seconds, so a row at the
/// checkpoint's own second may be there too) — never a row the checkpoint does not cover,
/// never a hole behind it.
fn assert_store_is_truth_before_checkpoint(view: &StoreView, truth: &HashMap<u128, Record>) {
    let Some(until) = view.collected_until() else {
        assert!(
            view.rows.is_empty(),
            "rows published without a checkpoint ({})",
            view.rows.len()
        );
        return;
    };
    for (key, stored) in &view.rows {
        let expected = truth
            .get(key)
            .unwrap_or_else(|| panic!("stored identity not in the ground truth: {stored:?}"));
        assert_row_matches(stored, expected);
        assert!(
            expected.received < until + TimeDelta::seconds(1),
            "a row received at {} is stored past the checkpoint {until}",
            expected.received
        );
    }
    for expected in truth.values().filter(|r| r.received < until) {
        assert!(
            view.rows.contains_key(&expected.identity()),
            "{} {} received at {} is missing behind the checkpoint {until}",
            expected.message_trace_id,
            expected.recipient_address,
            expected.received
        );
    }
}

#[derive(Debug, Default)]
struct Tally {
    /// Killed while running.
    kills: u32,
    /// Of those, killed after writing segment files the catalog does not name yet.
    mid_commit: u32,
    /// Of those, killed between writing `CATALOG.tmp` and renaming it.
    mid_publish: u32,
    /// Killed after publishing at least one window in that run.
    after_progress: u32,
    /// Runs that ended by themselves before the kill came.
    finished_first: u32,
}

#[test]
fn collector_killed_at_random_moments_resumes_and_ends_equal_to_ground_truth() {
    const KILLS: u32 = 24;
    let started = Instant::now();
    let running = Running::start(41, 30_000, 300, "none");
    let truth = running.truth();
    assert!(truth.len() >= 30_000, "{} identities", truth.len());
    let work = tempfile::tempdir().expect("temp dir");
    let config = running.write_config(
        work.path(),
        "window = \"4h\"\nlookback = \"1h\"\npage_size = 300\n",
    );
    let data = work.path().join("data");

    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b69_6c6c_2d39);
    let mut tally = Tally::default();
    let mut before = read_store(&data);
    let mut checkpoints = Vec::new();
    let mut last_temp_catalog = None;
    let mut run = 0;
    let mut cap_ms: u64 = 400;
    while tally.kills < KILLS {
        run += 1;
        assert!(
            run < 200,
            "the runs keep finishing before their kill: {tally:?}"
        );
        // Some kills right after start (opening the store, first token), most across the
        // backfill.
        // Once the backfill has caught up, runs end quickly: kills then fall within the
        // duration of the last run that ended by itself.
        let delay = if rng.random_bool(0.2) {
            rng.random_range(0..20.min(cap_ms))
        } else {
            rng.random_range(20.min(cap_ms - 1)..=cap_ms)
        };
        let log = work.path().join(format!("run-{run}.log"));
        let mut child = collect(work.path(), &config, &data, SECRET)
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("log file"))
            .spawn()
            .expect("start mailscope collect");
        let begun = Instant::now();
        let mut finished = false;
        while begun.elapsed() < Duration::from_millis(delay) {
            if child.try_wait().expect("try_wait").is_some() {
                finished = true;
                cap_ms = (begun.elapsed().as_millis() as u64 * 3 / 4).max(2);
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        let after = read_store(&data);
        if finished {
            tally.finished_first += 1;
            assert!(
                status.success(),
                "run {run} failed: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        } else {
            tally.kills += 1;
            let unpublished_new = after
                .on_disk
                .difference(&before.on_disk)
                .any(|file| !after.referenced.contains(file));
            // A temp catalog this run wrote and did not rename (an older one stays until the
            // next publish overwrites it).
            let temp_catalog = std::fs::read(data.join("CATALOG.tmp")).ok();
            let mid_publish = temp_catalog.is_some() && temp_catalog != last_temp_catalog;
            tally.mid_commit += u32::from(unpublished_new || mid_publish);
            tally.mid_publish += u32::from(mid_publish);
            tally.after_progress += u32::from(after.catalog.generation > before.catalog.generation);
            last_temp_catalog = temp_catalog;
        }
        assert_store_is_truth_before_checkpoint(&after, &truth);
        let until = after.collected_until();
        assert!(
            until >= before.collected_until(),
            "run {run}: the checkpoint moved back"
        );
        checkpoints
            .push(until.map_or_else(|| "-".to_owned(), |u| u.format("%d %H:%M").to_string()));
        before = after;
    }
    let killed_at = before.collected_until();

    let output = collect(work.path(), &config, &data, SECRET)
        .output()
        .expect("run mailscope collect");
    assert!(output.status.success(), "{}", text(&output));
    let view = read_store(&data);
    assert_store_equals_truth(&view, &truth);
    let until = view.collected_until().expect("a checkpoint");
    assert!(
        until > Utc::now() - TimeDelta::minutes(10),
        "checkpoint {until}"
    );
    // What the kills left behind is only garbage, which the next writer may delete.
    let store = Store::open(&data).expect("open store");
    store
        .collect_garbage(Duration::ZERO)
        .expect("collect garbage");
    drop(store);
    let view = read_store(&data);
    assert_store_equals_truth(&view, &truth);
    assert_eq!(view.on_disk, view.referenced, "files no catalog names");
    let stats = running.stats();
    eprintln!(
        "{} runs, {} SIGKILLs ({} mid-commit, {} of them between CATALOG.tmp and its rename; \
         {} after publishing a window), {} runs finished before their kill; checkpoint after \
         the kills {}, progress {}; {} identities equal to the ground truth; {} Graph requests; \
         {:.1} s",
        run + 1,
        tally.kills,
        tally.mid_commit,
        tally.mid_publish,
        tally.after_progress,
        tally.finished_first,
        killed_at.map_or_else(|| "none".to_owned(), |u| u.to_rfc3339()),
        checkpoints.join(" "),
        truth.len(),
        stats.graph_requests,
        started.elapsed().as_secs_f64()
    );
    assert!(
        tally.after_progress > 0,
        "no kill came after progress: {tally:?}"
    );
}

#[test]
fn client_secret_never_reaches_the_output_even_through_faults_and_refusals() {
    let running = Running::start(
        42,
        6_000,
        200,
        "token-expiry=100ms,500=0.1,html=0.05,seed=3",
    );
    let truth = running.truth();
    let work = tempfile::tempdir().expect("temp dir");
    let config = running.write_config(
        work.path(),
        "window = \"1d\"\npage_size = 200\nretry_initial = \"10ms\"\nretry_max = \"100ms\"\n\
         retry_attempts = 12\n",
    );
    let data = work.path().join("data");
    let output = collect(work.path(), &config, &data, SECRET)
        .env("RUST_LOG", "debug")
        .output()
        .expect("run mailscope collect");
    let shown = text(&output);
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains("DEBUG"), "debug logging is on: {shown}");
    assert!(
        !shown.contains(SECRET),
        "the secret is in the output: {shown}"
    );
    // Access tokens look like JWTs (a base64 `{"` header).
    assert!(!shown.contains("eyJ"), "a token is in the output: {shown}");
    assert_store_equals_truth(&read_store(&data), &truth);
    let stats = running.stats();
    assert!(stats.expired_tokens > 0, "{stats:?}");
    assert!(
        stats.fault_internal_error + stats.fault_html > 0,
        "{stats:?}"
    );

    let wrong = "Xk4~wrong-collector-secret-5521";
    let output = collect(work.path(), &config, &work.path().join("other"), wrong)
        .env("RUST_LOG", "debug")
        .output()
        .expect("run mailscope collect");
    let shown = text(&output);
    assert!(!output.status.success(), "{shown}");
    assert!(shown.contains("authentication failed"), "{shown}");
    assert!(
        !shown.contains(wrong),
        "the wrong secret is in the output: {shown}"
    );
    assert!(!shown.contains(SECRET), "{shown}");
}

/// `file:line:column: ` somewhere in `text`, for the file `collect.toml`.
fn place(text: &str) -> Option<(usize, usize)> {
    text.match_indices("collect.toml:").find_map(|(at, found)| {
        let mut parts = text[at + found.len()..].splitn(3, ':');
        let line = parts.next()?.parse().ok()?;
        let column = parts.next()?.parse().ok()?;
        Some((line, column))
    })
}

#[test]
fn configuration_errors_name_their_place_and_create_no_store() {
    let work = tempfile::tempdir().expect("temp dir");
    let minimal = format!(
        "[[tenant]]\n\
         name = \"{TENANT}\"\n\
         api = \"graph\"\n\
         tenant_id = \"6f0c1c52-2b1e-4c4b-9b1a-3f1e2d4c5b6a\"\n\
         client_id = \"0d3c5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f\"\n\
         client_secret_env = \"{SECRET_ENV}\"\n"
    );
    let cases = [
        (
            minimal.replace("api = \"graph\"", "api = graph"),
            (3, 7),
            "",
        ),
        (format!("{minimal}colour = \"blue\"\n"), (7, 1), "colour"),
        (
            format!("{minimal}window = \"30d\"\n"),
            (7, 10),
            "window may be at most 10d",
        ),
    ];
    for (text_of_file, expected_place, expected_words) in cases {
        let config = work.path().join("collect.toml");
        std::fs::write(&config, &text_of_file).expect("write config");
        let data = work.path().join("data");
        let output = collect(work.path(), &config, &data, SECRET)
            .output()
            .expect("run mailscope collect");
        let shown = text(&output);
        assert!(!output.status.success(), "{text_of_file}\n{shown}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(place(&stderr), Some(expected_place), "{shown}");
        assert!(stderr.contains(expected_words), "{shown}");
        assert!(
            !data.exists(),
            "a store was created for a bad configuration"
        );
    }
}

#[test]
fn collection_through_every_fault_equals_ground_truth() {
    let running = Running::start(
        43,
        8_000,
        250,
        "429=0.1,500=0.05,503=0.05,truncate=0.05,html=0.05,expired-link=0.05,\
         retry-after=1s,storm=2,seed=7",
    );
    let truth = running.truth();
    let work = tempfile::tempdir().expect("temp dir");
    let config = running.write_config(
        work.path(),
        "window = \"1d\"\npage_size = 250\nretry_initial = \"10ms\"\nretry_max = \"100ms\"\n\
         retry_attempts = 12\n",
    );
    let data = work.path().join("data");
    let output = collect(work.path(), &config, &data, SECRET)
        .output()
        .expect("run mailscope collect");
    assert!(output.status.success(), "{}", text(&output));
    assert_store_equals_truth(&read_store(&data), &truth);
    let stats = running.stats();
    let faults = stats.fault_throttled
        + stats.fault_internal_error
        + stats.fault_unavailable
        + stats.fault_truncated
        + stats.fault_html
        + stats.fault_expired_link;
    eprintln!("{faults} faults injected: {stats:?}");
    assert!(faults > 0, "{stats:?}");
}

/// `mailscope serve --collect`: the collectors' status (`GET /api/v1/collectors`, and the
/// health answer) shows a Graph tenant without a configured organization learning its
/// initial domain, and the rows it stored carry it.
#[test]
fn a_served_collector_shows_its_status_and_the_organization_it_learned() {
    let running = Running::start(31, 600, 1000, "none");
    let work = tempfile::tempdir().expect("temp dir");
    let secret = work.path().join("secret.txt");
    std::fs::write(&secret, SECRET).expect("write secret");
    let simulator = running.simulator();
    let base = simulator.base_url();
    let config = work.path().join("collect.toml");
    std::fs::write(
        &config,
        format!(
            "[[tenant]]\n\
             name = \"{TENANT}\"\n\
             api = \"graph\"\n\
             tenant_id = \"{}\"\n\
             client_id = \"{}\"\n\
             client_secret_file = \"{}\"\n\
             login_url = \"{base}\"\n\
             api_url = \"{base}\"\n\
             backfill = \"10d\"\n\
             settle = \"1m\"\n\
             quota = \"none\"\n",
            simulator.tenant_id(),
            simulator.client_id(),
            secret.display(),
        ),
    )
    .expect("write config");
    let data = work.path().join("store");
    let server = crate::http::serve_with(&data, None, &["--collect".as_ref(), config.as_ref()]);
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let url = format!("{}{path}", server.base);
        let client = client.clone();
        running.runtime.block_on(async move {
            let answer = client.get(url).send().await.expect("request");
            answer.json::<serde_json::Value>().await.expect("json")
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        let answer = get("/api/v1/collectors");
        let first = answer["collectors"][0].clone();
        if first["polls"].as_u64().unwrap_or(0) >= 1 {
            break first;
        }
        assert!(Instant::now() < deadline, "no poll finished: {answer}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let initial = simulator.tenant().organization.clone();
    assert_eq!(status["tenant"], TENANT, "{status}");
    assert_eq!(status["api"], "graph", "{status}");
    assert_eq!(status["state"], "collecting", "{status}");
    assert_eq!(status["organization"], initial.as_str(), "{status}");
    assert_eq!(status["organization_source"], "tenant", "{status}");
    assert!(status["checkpoint"].is_string(), "{status}");
    assert!(status["lag_seconds"].as_i64().is_some(), "{status}");
    assert!(status["records"].as_u64().unwrap_or(0) > 0, "{status}");
    assert_eq!(status["last_error"], serde_json::Value::Null, "{status}");
    let health = get("/api/v1/health");
    assert_eq!(health["collectors"][0]["organization"], initial.as_str());
    let url = format!("{}/api/v1/metrics", server.base);
    let metrics = running.runtime.block_on(async move {
        let answer = reqwest::get(url).await.expect("metrics");
        answer.text().await.expect("text")
    });
    let records = format!("mailscope_collector_records_total{{tenant=\"{TENANT}\"}} ");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with(&records) && !l.ends_with(" 0")),
        "{metrics}"
    );
    let collecting =
        format!("mailscope_collector_state{{tenant=\"{TENANT}\",state=\"collecting\"}} 1");
    assert!(metrics.lines().any(|l| l == collecting), "{metrics}");
    // Every stored row names the tenant.
    let body = serde_json::json!({
        "query": "* | json \"Organization\" as organization | count by organization",
        "from": (Utc::now() - TimeDelta::days(11)).to_rfc3339(),
        "to": Utc::now().to_rfc3339(),
    });
    let url = format!("{}/api/v1/query", server.base);
    let answer: serde_json::Value = running.runtime.block_on(async move {
        let answer = client.post(url).json(&body).send().await.expect("query");
        answer.json().await.expect("json")
    });
    let rows = answer["rows"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 1, "{answer}");
    assert_eq!(rows[0][0], initial.as_str(), "{answer}");
}

/// `mailscope collect status`: after a collection, each tenant with how far it reached, how
/// far behind now that is, and what its collector recorded when it stopped.
#[test]
fn collect_status_tells_where_each_tenant_stands() {
    let running = Running::start(33, 500, 1000, "none");
    let work = tempfile::tempdir().expect("temp dir");
    let config = running.write_config(work.path(), "");
    let data = work.path().join("store");
    let output = collect(work.path(), &config, &data, SECRET)
        .output()
        .expect("collect");
    assert!(output.status.success(), "{}", text(&output));
    let status = |json: bool| {
        let mut command = Command::new(BINARY);
        command.args(["collect", "status", "--data-dir"]).arg(&data);
        if json {
            command.arg("--json");
        }
        let output = command.output().expect("collect status");
        assert!(output.status.success(), "{}", text(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let answer: serde_json::Value = serde_json::from_str(&status(true)).expect("json");
    let tenants = answer.as_array().expect("an array");
    assert_eq!(tenants.len(), 1, "{answer}");
    let tenant = &tenants[0];
    let initial = running.simulator().tenant().organization.clone();
    assert_eq!(tenant["tenant"], TENANT, "{tenant}");
    assert_eq!(tenant["api"], "graph", "{tenant}");
    assert_eq!(tenant["state"], "stopped", "{tenant}");
    assert_eq!(tenant["organization"], initial.as_str(), "{tenant}");
    assert_eq!(tenant["organization_source"], "tenant", "{tenant}");
    assert_eq!(tenant["last_error"], serde_json::Value::Null, "{tenant}");
    let until = tenant["collected_until"].as_str().expect("a checkpoint");
    let until = DateTime::parse_from_rfc3339(until)
        .expect("a time")
        .to_utc();
    let lag = tenant["lag_seconds"].as_i64().expect("a lag");
    assert!(
        (lag - (Utc::now() - until).num_seconds()).abs() <= 60,
        "{tenant}"
    );
    // The simulated tenant's mail ends a day ago.
    let recent = running
        .truth()
        .values()
        .filter(|r| r.received >= Utc::now() - TimeDelta::hours(1))
        .count() as i64;
    assert_eq!(tenant["rows_last_hour"].as_i64(), Some(recent), "{tenant}");
    let table = status(false);
    assert!(
        table.contains(TENANT) && table.contains(&initial),
        "{table}"
    );

    // The recorded status is versioned; another version, or a damaged file, is named.
    let recorded = data.join("collectors.json");
    let written = std::fs::read_to_string(&recorded).expect("collectors.json");
    let saved: serde_json::Value = serde_json::from_str(&written).expect("json");
    assert_eq!(saved["format"], "mailscope-collectors");
    assert_eq!(saved["version"], 1);
    for (body, expected) in [
        (
            written.replace("\"version\": 1", "\"version\": 2"),
            "is not a collectors' status",
        ),
        (written[..written.len() / 2].to_owned(), "is damaged"),
    ] {
        std::fs::write(&recorded, body).expect("write");
        let output = Command::new(BINARY)
            .args(["collect", "status", "--data-dir"])
            .arg(&data)
            .output()
            .expect("collect status");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(expected) && stderr.contains("collectors.json"),
            "{stderr}"
        );
    }

    let empty = work.path().join("empty");
    let ingested = Command::new(BINARY)
        .args(["collect", "status", "--data-dir"])
        .arg(&empty)
        .output()
        .expect("collect status");
    assert!(
        !ingested.status.success(),
        "a missing store: {}",
        text(&ingested)
    );
}

/// Two tenants in one server: when an administrator revokes one tenant's permission mid-run,
/// that tenant shows the refusal with what to do while the other keeps collecting, and it
/// collects again once the permission is back.
#[test]
fn a_revoked_tenant_shows_the_hint_while_the_other_keeps_collecting() {
    let alpha = Running::start(35, 300, 1000, "none");
    let beta = Running::start(36, 300, 1000, "none");
    let work = tempfile::tempdir().expect("temp dir");
    let secret = work.path().join("secret.txt");
    std::fs::write(&secret, SECRET).expect("write secret");
    let tenant = |name: &str, running: &Running| {
        let simulator = running.simulator();
        let base = simulator.base_url();
        format!(
            "[[tenant]]\nname = \"{name}\"\napi = \"graph\"\ntenant_id = \"{}\"\n\
             client_id = \"{}\"\nclient_secret_file = \"{}\"\nlogin_url = \"{base}\"\n\
             api_url = \"{base}\"\nbackfill = \"10d\"\nsettle = \"1m\"\ninterval = \"1s\"\n\
             quota = \"none\"\n\n",
            simulator.tenant_id(),
            simulator.client_id(),
            secret.display(),
        )
    };
    let config = work.path().join("collect.toml");
    std::fs::write(
        &config,
        format!("{}{}", tenant("alpha", &alpha), tenant("beta", &beta)),
    )
    .expect("write config");
    let server = crate::http::serve_with(
        &work.path().join("store"),
        None,
        &["--collect".as_ref(), config.as_ref()],
    );
    let client = reqwest::Client::new();
    let statuses = || {
        let url = format!("{}/api/v1/collectors", server.base);
        let client = client.clone();
        alpha.runtime.block_on(async move {
            let answer = client.get(url).send().await.expect("request");
            let body: serde_json::Value = answer.json().await.expect("json");
            let find = |name: &str| {
                body["collectors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|s| s["tenant"] == name)
                    .cloned()
                    .unwrap_or_default()
            };
            (find("alpha"), find("beta"))
        })
    };
    let wait = |what: &str, done: &dyn Fn(&serde_json::Value, &serde_json::Value) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (a, b) = statuses();
            if done(&a, &b) {
                return (a, b);
            }
            assert!(Instant::now() < deadline, "{what}: alpha {a}, beta {b}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let polls = |s: &serde_json::Value| s["polls"].as_u64().unwrap_or(0);
    wait("both collect", &|a, b| {
        a["state"] == "collecting" && b["state"] == "collecting" && polls(a) >= 1 && polls(b) >= 1
    });

    beta.simulator()
        .set_onboarding(Some(mailscope_simulator::http::Onboarding::NoPermission));
    let (a, b) = wait("beta fails", &|_, b| b["state"] == "failing");
    let error = b["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("HTTP 403"), "{b}");
    assert!(error.contains("ExchangeMessageTrace.Read.All"), "{b}");
    let alpha_polls = polls(&a);
    wait("alpha keeps collecting", &|a, b| {
        polls(a) >= alpha_polls + 2 && a["state"] == "collecting" && b["state"] == "failing"
    });

    beta.simulator().set_onboarding(None);
    let beta_polls = polls(&b);
    let (_, b) = wait("beta collects again", &|_, b| {
        b["state"] == "collecting" && polls(b) > beta_polls
    });
    assert!(b["failed_polls"].as_u64().unwrap_or(0) >= 1, "{b}");
}
