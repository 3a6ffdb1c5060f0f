//! The kill -9 test: a `mailscope ingest` killed at a random moment leaves the store as it
//! was before that file or as it is after it, never half of it, and a retry completes it.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampNanosecondType;
use mailscope_engine::schema;
use mailscope_engine::store::{Catalog, Store};
use mailscope_record::{ReadOptions, Record, Status, identity_key, open_reader};
use rand::{Rng, SeedableRng};

const CHUNKS: usize = 6;
const KILLS_PER_CHUNK: usize = 4;

fn mailscope() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mailscope"));
    // An explicit geolocation folder from the environment must not leak into the test.
    command.env_remove("MAILSCOPE_GEOIP_DIR");
    command
}

fn run_to_completion(data: &Path, chunk: &Path) -> Duration {
    let started = Instant::now();
    let output = mailscope()
        .arg("ingest")
        .arg("--data-dir")
        .arg(data)
        .arg(chunk)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "ingest of {} failed: {}",
        chunk.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

fn read_records(path: &Path) -> Vec<Record> {
    let input = Box::new(BufReader::new(File::open(path).unwrap()));
    open_reader(&path.display().to_string(), input, ReadOptions::default())
        .unwrap()
        .map(|item| item.unwrap())
        .collect()
}

/// The store's rule: the newest observation wins unless it has the same status or a less
/// final one.
fn fold_into(state: &mut HashMap<u128, Status>, records: &[Record]) {
    for record in records {
        let key = record.identity();
        match state.get(&key) {
            Some(current) if *current == record.status => {}
            Some(current) if record.status.finality() < current.finality() => {}
            _ => {
                state.insert(key, record.status.clone());
            }
        }
    }
}

struct Snapshot {
    statuses: HashMap<u128, Status>,
    /// Segments with a deletion vector.
    with_deletes: usize,
    /// Segment files no catalog names: what a writer killed after writing left behind.
    unreferenced: usize,
}

/// Checks everything a reader relies on and returns the stored (identity, status) pairs:
/// the catalog parses, every segment it names exists, reads and holds the rows the catalog
/// says, sorted by `Received` within its day, and no identity is stored twice.
/// The files written and synced beside a segment before the catalog names it: its key run,
/// its rollup (partial aggregates) and its deletion vector, which the catalog records.
pub(super) fn companions(
    dir: &Path,
    catalog: &Catalog,
    meta: &mailscope_engine::store::SegmentMeta,
) -> Vec<PathBuf> {
    let path = catalog.segment_path(dir, meta);
    let mut keys = path.as_os_str().to_owned();
    keys.push(".keys");
    let keys = std::path::PathBuf::from(keys);
    assert!(keys.exists(), "{} has no key run", meta.file);
    let rollup = mailscope_engine::store::rollup::path_for(&path);
    assert!(
        meta.rollup.is_some() && rollup.exists(),
        "{} has no rollup",
        meta.file
    );
    let mut files = vec![keys, rollup];
    if let Some(vector) = catalog.deletes_path(dir, meta) {
        assert!(vector.exists(), "{} has no deletion vector", meta.file);
        files.push(vector);
    }
    files
}

fn check_store(dir: &Path) -> Snapshot {
    let catalog = Catalog::load(dir).expect("CATALOG must always parse");
    // Every file the catalog names agrees with it: rows, key runs, and rollups recomputed
    // from the rows.
    let verified = mailscope_engine::store::verify(dir).expect("verify");
    assert!(
        verified.problems.is_empty(),
        "store verify: {:?}",
        verified.problems
    );
    let mut statuses = HashMap::new();
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
        let column = |name: &str| batch.column(batch.schema().index_of(name).unwrap()).clone();
        let ids = column(schema::MESSAGE_TRACE_ID);
        let recipients = column(schema::RECIPIENT_ADDRESS);
        let status_column = column(schema::STATUS);
        let received_column = column(schema::RECEIVED);
        let received = received_column.as_primitive::<TimestampNanosecondType>();
        assert!(
            received.values().windows(2).all(|w| w[0] <= w[1]),
            "{} unsorted",
            meta.file
        );
        assert_eq!(received.null_count(), 0);
        if meta.rows > 0 {
            assert_eq!(
                received.values().first(),
                Some(&meta.min_received),
                "{}",
                meta.file
            );
            assert_eq!(
                received.values().last(),
                Some(&meta.max_received),
                "{}",
                meta.file
            );
        }
        for row in 0..batch.num_rows() {
            let key = identity_key(
                ids.as_string::<i32>().value(row),
                recipients.as_string::<i32>().value(row),
            );
            let status = Status::parse(status_column.as_string::<i32>().value(row));
            assert!(
                statuses.insert(key, status).is_none(),
                "identity stored twice in {}",
                meta.file
            );
        }
        referenced.extend(super::crash::companions(dir, &catalog, meta));
        referenced.insert(path);
    }
    assert_eq!(statuses.len() as u64, catalog.rows());
    let mut unreferenced = 0;
    if let Ok(days) = std::fs::read_dir(dir.join("segments")) {
        for day in days.flatten() {
            for file in std::fs::read_dir(day.path()).unwrap().flatten() {
                unreferenced += usize::from(!referenced.contains(&file.path()));
            }
        }
    }
    Snapshot {
        statuses,
        with_deletes: catalog
            .segments
            .iter()
            .filter(|s| s.deletes.is_some())
            .count(),
        unreferenced,
    }
}

#[derive(Debug, Default)]
struct Tally {
    running_before: u64,
    running_after: u64,
    exited_first: u64,
    left_files: u64,
    with_deletes: usize,
}

/// A copy of a data directory (without its lock file).
fn copy_store(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_store(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn an_ingest_killed_at_any_moment_leaves_the_store_before_or_after_the_file_never_half() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant.ndjson");
    let status = mailscope()
        .args([
            "generate",
            "--seed",
            "3",
            "--messages",
            "60000",
            "--days",
            "4",
        ])
        .args([
            "--start",
            "2026-03-02T00:00:00Z",
            "--format",
            "ndjson",
            "--out",
        ])
        .arg(&tenant)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());

    // Split in observation order, one NDJSON record per line.
    let text = std::fs::read_to_string(&tenant).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 60_000, "{} lines", lines.len());
    let chunk_paths: Vec<PathBuf> = lines
        .chunks(lines.len().div_ceil(CHUNKS))
        .enumerate()
        .map(|(k, part)| {
            let path = work.path().join(format!("chunk-{k}.ndjson"));
            std::fs::write(&path, part.join("\n") + "\n").unwrap();
            path
        })
        .collect();
    assert_eq!(chunk_paths.len(), CHUNKS);
    // states[k]: the store after chunks 0..k.
    let mut states = vec![HashMap::new()];
    for path in &chunk_paths {
        let mut next = states.last().cloned().unwrap_or_default();
        fold_into(&mut next, &read_records(path));
        states.push(next);
    }
    assert_eq!(states[CHUNKS].len(), 60_000);

    // How long one ingest takes here, from a scratch store; refreshed by every full run.
    let mut typical = run_to_completion(&work.path().join("scratch"), &chunk_paths[0]);
    eprintln!(
        "setup {:.1} s; first ingest {:.0} ms",
        started.elapsed().as_secs_f64(),
        typical.as_secs_f64() * 1e3
    );

    let data = work.path().join("data");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b69_6c6c);
    let mut tally = Tally::default();
    for (k, chunk) in chunk_paths.iter().enumerate() {
        let mut applied = false;
        for attempt in 0..KILLS_PER_CHUNK {
            let limit = u64::try_from(typical.as_millis()).unwrap_or(u64::MAX);
            let delay = Duration::from_millis(rng.random_range(0..=limit));
            let mut child = mailscope()
                .arg("ingest")
                .arg("--data-dir")
                .arg(&data)
                .arg(chunk)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(delay);
            let exited_first = child.try_wait().unwrap().is_some();
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();

            let snapshot = check_store(&data);
            let after = snapshot.statuses == states[k + 1];
            let before = snapshot.statuses == states[k];
            assert!(
                before || after,
                "chunk {k}, kill {attempt} after {delay:?}: the store is neither before nor after \
                 the file ({} rows; before {}, after {})",
                snapshot.statuses.len(),
                states[k].len(),
                states[k + 1].len()
            );
            assert!(
                !(applied && before),
                "chunk {k}: a published file was undone"
            );
            applied |= after;
            match (exited_first, after) {
                (true, _) => tally.exited_first += 1,
                (false, false) => tally.running_before += 1,
                (false, true) => tally.running_after += 1,
            }
            tally.left_files += u64::from(snapshot.unreferenced > 0 && !exited_first);
            tally.with_deletes = tally.with_deletes.max(snapshot.with_deletes);
        }
        // The collector retries the file; that must complete it.
        typical = run_to_completion(&data, chunk);
        let snapshot = check_store(&data);
        assert!(
            snapshot.statuses == states[k + 1],
            "chunk {k}: the retry did not complete the file"
        );
    }

    assert!(
        tally.with_deletes > 0,
        "no append left a deletion vector: {tally:?}"
    );

    // Compaction killed at any moment: every kill leaves the same rows, each day merged or
    // not; the last run merges every day into one segment without deleted rows.
    let timing = work.path().join("compact-timing");
    copy_store(&data, &timing);
    let started_compact = Instant::now();
    let output = mailscope()
        .args(["store", "compact", "--data-dir"])
        .arg(&timing)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let compact_time = started_compact.elapsed();
    // Start over from the appended store: a fresh copy with deleted rows for each kill.
    for attempt in 0..KILLS_PER_CHUNK {
        let copy = work.path().join(format!("compact-{attempt}"));
        copy_store(&data, &copy);
        let limit = u64::try_from(compact_time.as_millis()).unwrap_or(u64::MAX);
        let delay = Duration::from_millis(rng.random_range(0..=limit));
        let mut command = mailscope();
        let mut child = command
            .args(["store", "compact", "--data-dir"])
            .arg(&copy)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap();
        child.wait().unwrap();
        let snapshot = check_store(&copy);
        assert!(
            snapshot.statuses == states[CHUNKS],
            "compaction killed after {delay:?} changed the rows"
        );
        let done = Command::new(env!("CARGO_BIN_EXE_mailscope"))
            .args(["store", "compact", "--data-dir"])
            .arg(&copy)
            .output()
            .unwrap();
        assert!(done.status.success());
        let snapshot = check_store(&copy);
        assert!(snapshot.statuses == states[CHUNKS]);
        assert_eq!(snapshot.with_deletes, 0);
    }

    // The finished store equals the fold of every chunk, and what the kills left behind is
    // garbage the collector may remove.
    let store = Store::open(&data).unwrap();
    store.collect_garbage(Duration::ZERO).unwrap();
    drop(store);
    let snapshot = check_store(&data);
    assert!(snapshot.statuses == states[CHUNKS]);
    assert_eq!(snapshot.unreferenced, 0);

    let kills = CHUNKS * KILLS_PER_CHUNK;
    eprintln!(
        "{kills} kills: {} mid-ingest before publish, {} mid-ingest after publish, {} after the \
         process had exited; {} left unpublished segment files; at most {} segments with \
         deleted rows; last ingest {:.0} ms; compaction {:.0} ms; total {:.1} s",
        tally.running_before,
        tally.running_after,
        tally.exited_first,
        tally.left_files,
        tally.with_deletes,
        typical.as_secs_f64() * 1e3,
        compact_time.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64()
    );
    assert!(
        tally.running_before + tally.running_after > 0,
        "no kill landed mid-ingest: {tally:?}"
    );
}
