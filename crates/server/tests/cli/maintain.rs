//! `mailscope store stats | verify | retain | vacuum` on a store built through the CLI:
//! figures that agree with the ingest, damage found and named by file, whole days dropped
//! by retention, replaced files removed by vacuum, bad arguments refused, and the server's
//! own retention and background compaction.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_mailscope");

fn mailscope(args: &[&str], data: &Path) -> Output {
    Command::new(BINARY)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("run mailscope")
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The start of the 30 days before today, as `generate --start` takes it.
fn thirty_days_ago() -> String {
    (chrono::Utc::now() - chrono::Duration::days(30))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string()
}

/// A store of `messages` generated messages over the 30 days before today.
fn store(dir: &Path, messages: &str) -> std::path::PathBuf {
    let file = generate(dir, "5", messages);
    let data = dir.join("data");
    ingest(&data, &file);
    data
}

/// `mailscope generate` of a tenant of `messages` over the 30 days before today, into a
/// file of `dir` named by its seed.
fn generate(dir: &Path, seed: &str, messages: &str) -> std::path::PathBuf {
    let file = dir.join(format!("tenant-{seed}.ndjson"));
    let generated = Command::new(BINARY)
        .args(["generate", "--seed", seed, "--messages", messages])
        .args(["--start", &thirty_days_ago(), "--days", "30", "--out"])
        .arg(&file)
        .output()
        .expect("generate");
    assert!(generated.status.success());
    file
}

/// `mailscope ingest` of `file` into `data`.
fn ingest(data: &Path, file: &Path) {
    let ingested = Command::new(BINARY)
        .args(["ingest", "--data-dir"])
        .arg(data)
        .arg(file)
        .output()
        .expect("ingest");
    assert!(
        ingested.status.success(),
        "{}",
        String::from_utf8_lossy(&ingested.stderr)
    );
}

#[test]
fn stats_and_verify_agree_with_the_ingest_and_damage_is_named_by_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = store(dir.path(), "20000");
    let stats = json(&mailscope(&["store", "stats", "--json"], &data));
    assert_eq!(stats["rows"], 20_000);
    let days = stats["days"].as_array().expect("days");
    assert!((30..=31).contains(&days.len()), "{stats}");
    let day_rows: u64 = days.iter().map(|d| d["rows"].as_u64().unwrap_or(0)).sum();
    assert_eq!(day_rows, 20_000);
    assert_eq!(stats["garbage_files"], 0);

    let clean = mailscope(&["store", "verify"], &data);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(String::from_utf8_lossy(&clean.stdout).contains("0 problems"));

    // Three kinds of damage, each on its own segment.
    let catalog: Value =
        serde_json::from_slice(&std::fs::read(data.join("CATALOG")).expect("catalog"))
            .expect("catalog json");
    let files: Vec<String> = catalog["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| s["file"].as_str().expect("file").to_owned())
        .collect();
    assert!(files.len() >= 3);
    let truncated = data.join(&files[0]);
    let bytes = std::fs::read(&truncated).expect("read");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("truncate");
    std::fs::remove_file(data.join(format!("{}.keys", files[1]))).expect("remove run");
    let run = data.join(format!("{}.keys", files[2]));
    let mut bytes = std::fs::read(&run).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&run, bytes).expect("write");

    let damaged = mailscope(&["store", "verify", "--json"], &data);
    assert_eq!(damaged.status.code(), Some(1));
    let report = json(&damaged);
    let problems = report["problems"].as_array().expect("problems");
    let about = |file: &str, words: &str| {
        problems
            .iter()
            .any(|p| p["file"] == file && p["message"].as_str().is_some_and(|m| m.contains(words)))
    };
    assert!(about(&files[0], "bytes, the catalog says"), "{report}");
    assert!(about(&files[1], "has no key run"), "{report}");
    assert!(about(&files[2], "key run is damaged"), "{report}");
    assert!(about(&files[0], "not a readable Parquet file"), "{report}");
    assert!(about(&files[2], "checksum mismatch"), "{report}");
    assert_eq!(problems.len(), 4, "{report}");
    // Messages name files relative to the data directory, never a path of the machine.
    assert!(
        !report.to_string().contains(&*dir.path().to_string_lossy()),
        "{report}"
    );
}

#[test]
fn retention_drops_whole_old_days_and_vacuum_removes_their_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = store(dir.path(), "5000");
    let before = json(&mailscope(&["store", "stats", "--json"], &data));
    let days = before["days"].as_array().expect("days").clone();
    let first_kept = (chrono::Utc::now().date_naive() - chrono::Days::new(10))
        .format("%Y-%m-%d")
        .to_string();
    let kept_rows: u64 = days
        .iter()
        .filter(|d| {
            d["day"]
                .as_str()
                .is_some_and(|day| day >= first_kept.as_str())
        })
        .map(|d| d["rows"].as_u64().unwrap_or(0))
        .sum();
    assert!(kept_rows > 0 && kept_rows < 5000);

    let retained = mailscope(&["store", "retain", "--keep-days", "10"], &data);
    assert!(retained.status.success());
    let after = json(&mailscope(&["store", "stats", "--json"], &data));
    assert_eq!(after["rows"], kept_rows);
    assert!(
        after["days"]
            .as_array()
            .expect("days")
            .iter()
            .all(|d| d["day"]
                .as_str()
                .is_some_and(|day| day >= first_kept.as_str())),
        "{after}"
    );
    // No reader held an older generation: the dropped days' files went with the publish.
    assert_eq!(after["garbage_files"], 0, "{after}");
    // The dropped days' rows are gone from queries too.
    let counted = Command::new(BINARY)
        .args(["query", "--format", "json", "--data-dir"])
        .arg(&data)
        .args([
            "--from",
            "2000-01-01T00:00:00Z",
            "--to",
            "2100-01-01T00:00:00Z",
        ])
        .arg("* | count")
        .output()
        .expect("query");
    assert_eq!(json(&counted)["rows"][0][0], kept_rows);

    // A file no catalog names and no record lists (a crash's leftover) waits the grace
    // period: vacuum keeps it; with none it removes it.
    let leftover = data
        .join("segments")
        .join(&first_kept)
        .join("g9999999999-00000.parquet");
    std::fs::create_dir_all(leftover.parent().expect("day folder")).expect("day folder");
    std::fs::write(&leftover, b"PAR1").expect("leftover");
    let kept = mailscope(&["store", "vacuum"], &data);
    assert!(kept.status.success());
    assert!(
        json(&mailscope(&["store", "stats", "--json"], &data))["garbage_files"].as_u64() > Some(0)
    );
    let vacuumed = mailscope(&["store", "vacuum", "--grace-minutes", "0"], &data);
    assert!(vacuumed.status.success());
    assert_eq!(
        json(&mailscope(&["store", "stats", "--json"], &data))["garbage_files"],
        0
    );
    assert!(mailscope(&["store", "verify"], &data).status.success());
}

#[test]
fn bad_arguments_and_a_missing_store_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nothing-here");
    let no_days = mailscope(&["store", "retain", "--keep-days", "ten"], &missing);
    assert_eq!(no_days.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_days.stderr).contains("--keep-days"));
    // An empty store verifies clean and has no rows.
    let empty = mailscope(&["store", "stats", "--json"], &missing);
    assert!(
        empty.status.success(),
        "{}",
        String::from_utf8_lossy(&empty.stderr)
    );
    assert_eq!(json(&empty)["rows"], 0);
    // A catalog that is not one is an error naming it.
    std::fs::create_dir_all(&missing).expect("dir");
    std::fs::write(missing.join("CATALOG"), b"{not json").expect("write");
    let garbage = mailscope(&["store", "verify"], &missing);
    assert_eq!(garbage.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&garbage.stderr).contains("CATALOG"),
        "{}",
        String::from_utf8_lossy(&garbage.stderr)
    );
}

#[test]
fn a_server_with_a_retention_drops_old_days_itself() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = store(dir.path(), "5000");
    let first_kept = (chrono::Utc::now().date_naive() - chrono::Days::new(7))
        .format("%Y-%m-%d")
        .to_string();
    let kept_rows: u64 = json(&mailscope(&["store", "stats", "--json"], &data))["days"]
        .as_array()
        .expect("days")
        .iter()
        .filter(|d| {
            d["day"]
                .as_str()
                .is_some_and(|day| day >= first_kept.as_str())
        })
        .map(|d| d["rows"].as_u64().unwrap_or(0))
        .sum();
    let server = crate::http::serve_with(&data, None, &["--retention-days".as_ref(), "7".as_ref()]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let health: Value = runtime.block_on(async {
            reqwest::get(format!("{}/api/v1/health", server.base))
                .await
                .expect("health")
                .json()
                .await
                .expect("json")
        });
        if health["rows"] == kept_rows {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "rows still {} where {kept_rows} should be kept",
            health["rows"]
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Segments per day (`YYYY-MM-DD` → count) named by the catalog.
fn segments_per_day(data: &Path) -> std::collections::BTreeMap<String, usize> {
    let catalog: Value =
        serde_json::from_slice(&std::fs::read(data.join("CATALOG")).expect("catalog"))
            .expect("catalog json");
    let mut days = std::collections::BTreeMap::new();
    for segment in catalog["segments"].as_array().expect("segments") {
        *days
            .entry(segment["day"].as_str().expect("day").to_owned())
            .or_insert(0) += 1;
    }
    days
}

/// Messages per day and status, as the one-shot CLI answers over the store as it is.
fn counts(data: &Path, from: &str, to: &str) -> Value {
    let output = Command::new(BINARY)
        .args(["query", "--format", "json", "--from", from, "--to", to, "--data-dir"])
        .arg(data)
        .arg("* | json \"Status\" as status | timeslice 1d | count by _timeslice, status | sort by _timeslice, status")
        .output()
        .expect("query");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    json(&output)
}

/// Four appends over the same 30 days leave four segments a day; a server compacts every
/// day before today into one segment of its rows in the background, the answers stay the
/// same, and the store verifies clean.
#[test]
fn a_server_compacts_crowded_past_days_in_the_background() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let start = thirty_days_ago();
    for seed in ["11", "12", "13", "14"] {
        ingest(&data, &generate(dir.path(), seed, "1500"));
    }
    let today = chrono::Utc::now().date_naive();
    let today = today.format("%Y-%m-%d").to_string();
    let before = segments_per_day(&data);
    let crowded = before
        .iter()
        .filter(|(day, n)| day.as_str() < today.as_str() && **n >= 4)
        .count();
    assert!(crowded >= 25, "{before:?}");
    let (from, to) = (start.as_str(), "2100-01-01T00:00:00Z");
    let expected = counts(&data, from, to);

    let server = crate::http::serve_with(
        &data,
        None,
        &["--compact-interval-secs".as_ref(), "1".as_ref()],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let now = segments_per_day(&data);
        if now
            .iter()
            .all(|(day, n)| day.as_str() >= today.as_str() || *n == 1)
        {
            // Days are never lost or added.
            assert_eq!(
                now.keys().collect::<Vec<_>>(),
                before.keys().collect::<Vec<_>>()
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "days still crowded: {now:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(counts(&data, from, to), expected);
    drop(server);
    let verified = mailscope(&["store", "verify"], &data);
    assert!(
        verified.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
}

/// Background compaction holds its memory in the queries' pool: under a budget whose pool
/// cannot spare a day's merge it waits (and says so) instead of outgrowing the budget.
#[test]
fn background_compaction_waits_when_the_memory_budget_cannot_spare_a_day() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    for seed in ["21", "22", "23", "24"] {
        ingest(&data, &generate(dir.path(), seed, "300"));
    }
    let before = segments_per_day(&data);
    assert!(before.values().any(|n| *n >= 4), "{before:?}");
    let server = crate::http::serve_with(
        &data,
        None,
        &[
            "--compact-interval-secs".as_ref(),
            "1".as_ref(),
            "--memory".as_ref(),
            "128MiB".as_ref(),
        ],
    );
    let waited = server
        .wait_for_log(
            "background compaction waits for memory",
            std::time::Duration::from_secs(60),
        )
        .expect("the compaction said it waits");
    assert!(waited.contains("memory budget"), "{waited}");
    assert_eq!(segments_per_day(&data), before);
}
