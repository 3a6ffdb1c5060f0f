//! The embedded store's guarantees: one row per identity, the status rules, idempotent
//! re-ingest, compaction, sorted day-partitioned segments whose catalog entries match the
//! data, atomic publish, garbage collection, the writer lock and the versioned catalog.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::TimestampNanosecondType;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use mailscope_engine::schema::{self, SourceMeta};
use mailscope_engine::store::{self, Catalog, IngestReport, SegmentMeta, Store, segment};
use mailscope_record::{Record, Status, identity_key};
use mailscope_simulator::{TenantConfig, generate};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn meta() -> SourceMeta {
    SourceMeta {
        source_category: "test/store".into(),
        source: "store.rs".into(),
        collector: "tests".into(),
    }
}

fn day_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
}

fn record(trace_id: &str, recipient: &str, status: Status, received: DateTime<Utc>) -> Record {
    Record {
        organization: "contoso.example".into(),
        message_id: Some(format!("<{trace_id}@contoso.example>")),
        received,
        sender_address: "alice@contoso.example".into(),
        recipient_address: recipient.into(),
        subject: format!("message {trace_id}"),
        status,
        to_ip: None,
        from_ip: Some("10.0.0.1".into()),
        size: 1_000,
        message_trace_id: trace_id.into(),
        start_date: None,
        end_date: None,
        index: None,
    }
}

/// `n` distinct identities on the first test day, one minute apart.
fn numbered(range: std::ops::Range<u32>, status: Status) -> Vec<Record> {
    range
        .map(|i| {
            record(
                &format!("00000000-0000-0000-0000-{i:012}"),
                &format!("user{i}@fabrikam.example"),
                status.clone(),
                day_start() + TimeDelta::minutes(i64::from(i)),
            )
        })
        .collect()
}

fn ingest(store: &mut Store, records: impl IntoIterator<Item = Record>) -> IngestReport {
    ingest_buffered(store, records, None)
}

/// An ingest whose buffer holds `buffer` bytes (`None`: the default); a tiny buffer writes
/// the rows in pieces merged at commit.
fn ingest_buffered(
    store: &mut Store,
    records: impl IntoIterator<Item = Record>,
    buffer: Option<usize>,
) -> IngestReport {
    let mut ingest = store.ingest(None, meta());
    if let Some(bytes) = buffer {
        ingest = ingest.with_buffer(bytes);
    }
    for record in records {
        ingest.push(record).unwrap();
    }
    ingest.commit().unwrap()
}

/// One stored row, as read back from the segment files.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    trace_id: String,
    recipient: String,
    status: Status,
    received: i64,
    size: i64,
}

fn text_column<'a>(batch: &'a RecordBatch, name: &str) -> &'a arrow::array::StringArray {
    batch
        .column(batch.schema().index_of(name).unwrap())
        .as_string::<i32>()
}

fn rows_of(batch: &RecordBatch) -> Vec<Row> {
    let ids = text_column(batch, schema::MESSAGE_TRACE_ID);
    let recipients = text_column(batch, schema::RECIPIENT_ADDRESS);
    let statuses = text_column(batch, schema::STATUS);
    let received = batch
        .column(batch.schema().index_of(schema::RECEIVED).unwrap())
        .as_primitive::<TimestampNanosecondType>();
    let sizes = batch
        .column(batch.schema().index_of(schema::SIZE).unwrap())
        .as_primitive::<arrow::datatypes::Int64Type>();
    (0..batch.num_rows())
        .map(|row| Row {
            trace_id: ids.value(row).to_string(),
            recipient: recipients.value(row).to_string(),
            status: Status::parse(statuses.value(row)),
            received: received.value(row),
            size: sizes.value(row),
        })
        .collect()
}

/// Every stored row, keyed by identity; panics if an identity is stored twice or a segment
/// disagrees with its catalog entry on the row count.
fn stored(dir: &Path) -> HashMap<u128, Row> {
    let catalog = Catalog::load(dir).unwrap();
    let mut rows = HashMap::new();
    for segment_meta in &catalog.segments {
        let batch = store::read_live(dir, &catalog, segment_meta).unwrap();
        assert_eq!(
            batch.num_rows() as u64,
            segment_meta.live_rows(),
            "{}",
            segment_meta.file
        );
        for row in rows_of(&batch) {
            let key = identity_key(&row.trace_id, &row.recipient);
            if let Some(previous) = rows.insert(key, row.clone()) {
                panic!("identity stored twice: {previous:?} and {row:?}");
            }
        }
    }
    assert_eq!(rows.len() as u64, catalog.rows());
    rows
}

fn stored_statuses(dir: &Path) -> HashMap<u128, Status> {
    stored(dir)
        .into_iter()
        .map(|(key, row)| (key, row.status))
        .collect()
}

/// The store's rule applied to one observation: what the stored row becomes.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Added,
    Updated,
    Unchanged,
    Stale,
}

fn apply(state: &mut HashMap<u128, Record>, record: &Record) -> Outcome {
    let key = record.identity();
    match state.get(&key) {
        None => {
            state.insert(key, record.clone());
            Outcome::Added
        }
        Some(current) if current.status == record.status => Outcome::Unchanged,
        Some(current) if record.status.finality() < current.status.finality() => Outcome::Stale,
        Some(_) => {
            state.insert(key, record.clone());
            Outcome::Updated
        }
    }
}

/// The straightforward fold: last observation wins unless it is less final (or the same).
fn fold<'a>(records: impl IntoIterator<Item = &'a Record>) -> HashMap<u128, Record> {
    let mut state = HashMap::new();
    for record in records {
        apply(&mut state, record);
    }
    state
}

fn statuses(state: &HashMap<u128, Record>) -> HashMap<u128, Status> {
    state
        .iter()
        .map(|(key, record)| (*key, record.status.clone()))
        .collect()
}

/// Every file under `segments/`, relative to the data directory.
fn segment_files(dir: &Path) -> BTreeSet<PathBuf> {
    let mut files = BTreeSet::new();
    let root = dir.join("segments");
    for day in std::fs::read_dir(&root).unwrap().flatten() {
        for file in std::fs::read_dir(day.path()).unwrap().flatten() {
            files.insert(file.path().strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    files
}

/// The segments the catalog names and the key run beside each.
fn referenced_files(dir: &Path) -> BTreeSet<PathBuf> {
    let catalog = Catalog::load(dir).unwrap();
    catalog
        .segments
        .iter()
        .flat_map(|s| {
            let segment = catalog
                .segment_path(dir, s)
                .strip_prefix(dir)
                .unwrap()
                .to_path_buf();
            let mut keys = segment.clone().into_os_string();
            keys.push(".keys");
            let mut rollup = segment.clone().into_os_string();
            rollup.push(".rollup");
            let rollup = s.rollup.as_ref().map(|_| PathBuf::from(rollup));
            let deletes = s.deletes.as_ref().map(|d| PathBuf::from(&d.file));
            [Some(segment), Some(PathBuf::from(keys)), rollup, deletes]
        })
        .flatten()
        .collect()
}

fn tenant(seed: u64, messages: u64, days: u32) -> Vec<Record> {
    let config = TenantConfig {
        seed,
        messages,
        start: day_start(),
        days,
    };
    generate(&config)
        .unwrap()
        .map(|observation| observation.record)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Identity and status rules
// ---------------------------------------------------------------------------------------

#[test]
fn reingesting_the_same_records_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let records = numbered(0..500, Status::Delivered);
    let first = ingest(&mut store, records.clone());
    assert_eq!((first.added, first.published), (500, true));
    let catalog = Catalog::load(dir.path()).unwrap();
    let files = segment_files(dir.path());
    let bytes: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(dir.path().join(f)).unwrap())
        .collect();

    let again = ingest(&mut store, records);

    assert_eq!(
        again.keys_read_from_segments, 0,
        "answered from the key run"
    );
    assert_eq!(
        again,
        IngestReport {
            unchanged: 500,
            rows_after: 500,
            key_blocks_read: again.key_blocks_read,
            key_runs_loaded: again.key_runs_loaded,
            ..IngestReport::default()
        },
        "a re-ingest must be reported as all unchanged and publish nothing"
    );
    assert_eq!(Catalog::load(dir.path()).unwrap(), catalog);
    assert_eq!(store.catalog().generation, catalog.generation);
    assert_eq!(segment_files(dir.path()), files);
    let bytes_after: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(dir.path().join(f)).unwrap())
        .collect();
    assert!(bytes == bytes_after, "segment files were rewritten");
}

#[test]
fn overlapping_batches_keep_one_row_per_identity() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let first = ingest(&mut store, numbered(0..100, Status::Delivered));
    let second = ingest(&mut store, numbered(50..150, Status::Delivered));
    let third = ingest(&mut store, numbered(0..150, Status::Delivered));

    assert_eq!((first.added, first.unchanged), (100, 0));
    assert_eq!(
        (second.added, second.unchanged, second.rows_after),
        (50, 50, 150)
    );
    assert_eq!(
        (third.added, third.unchanged, third.published),
        (0, 150, false)
    );
    let rows = stored(dir.path());
    assert_eq!(rows.len(), 150);
    let expected: BTreeSet<u128> = numbered(0..150, Status::Delivered)
        .iter()
        .map(Record::identity)
        .collect();
    assert_eq!(rows.keys().copied().collect::<BTreeSet<_>>(), expected);
}

#[test]
fn pending_then_delivered_keeps_one_row_with_the_final_status() {
    // Across two ingests: the stored Pending row is rewritten away.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    ingest(&mut store, numbered(0..10, Status::Pending));
    let report = ingest(&mut store, numbered(0..10, Status::Delivered));
    assert_eq!(
        (report.added, report.updated, report.rows_after),
        (0, 10, 10)
    );
    let rows = stored(dir.path());
    assert_eq!(rows.len(), 10);
    assert!(
        rows.values().all(|row| row.status == Status::Delivered),
        "{rows:?}"
    );

    // Within one ingest: the pending row never reaches a file.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let mut records = numbered(0..10, Status::Pending);
    records.extend(numbered(0..10, Status::Delivered));
    let report = ingest(&mut store, records);
    assert_eq!(
        (report.added, report.updated, report.rows_after),
        (10, 10, 10)
    );
    assert!(
        stored(dir.path())
            .values()
            .all(|row| row.status == Status::Delivered)
    );
}

#[test]
fn delivered_is_not_replaced_by_a_later_pending() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    ingest(&mut store, numbered(0..5, Status::Delivered));
    let catalog = Catalog::load(dir.path()).unwrap();
    let report = ingest(&mut store, numbered(0..5, Status::Pending));
    assert_eq!(
        (report.stale, report.updated, report.published),
        (5, 0, false)
    );
    assert_eq!(Catalog::load(dir.path()).unwrap(), catalog);

    // The same within one ingest, and GettingStatus is as stale as Pending.
    let mut records = numbered(10..15, Status::Delivered);
    records.extend(numbered(10..15, Status::Pending));
    records.extend(numbered(10..15, Status::GettingStatus));
    let report = ingest(&mut store, records);
    assert_eq!((report.added, report.stale), (5, 10));
    let rows = stored(dir.path());
    assert_eq!(rows.len(), 10);
    assert!(
        rows.values().all(|row| row.status == Status::Delivered),
        "{rows:?}"
    );
}

#[test]
fn gettingstatus_then_pending_then_failed() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let steps = [Status::GettingStatus, Status::Pending, Status::Failed];
    for (step, status) in steps.iter().enumerate() {
        let report = ingest(&mut store, numbered(0..3, status.clone()));
        let expected = if step == 0 { (3, 0) } else { (0, 3) };
        assert_eq!((report.added, report.updated), expected, "{status}");
        let rows = stored(dir.path());
        assert_eq!(rows.len(), 3);
        assert!(rows.values().all(|row| row.status == *status), "{rows:?}");
    }
    // Going back is stale at every step.
    let report = ingest(&mut store, numbered(0..3, Status::Pending));
    assert_eq!(report.stale, 3);
    let report = ingest(&mut store, numbered(0..3, Status::GettingStatus));
    assert_eq!(report.stale, 3);
    assert!(
        stored(dir.path())
            .values()
            .all(|row| row.status == Status::Failed)
    );
}

#[test]
fn identity_ignores_the_case_of_trace_id_and_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let at = day_start() + TimeDelta::hours(3);
    let trace = "3f2a9c1e-4b5d-4e6f-8a7b-9c0d1e2f3a4b";
    ingest(
        &mut store,
        [record(trace, "Bob@Fabrikam.example", Status::Pending, at)],
    );
    let report = ingest(
        &mut store,
        [
            record(
                &trace.to_uppercase(),
                "bob@fabrikam.EXAMPLE",
                Status::Delivered,
                at,
            ),
            record(trace, " BOB@FABRIKAM.EXAMPLE ", Status::Delivered, at),
        ],
    );
    assert_eq!((report.added, report.updated, report.unchanged), (0, 1, 1));
    let rows = stored(dir.path());
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = rows.values().next().unwrap();
    assert_eq!(row.status, Status::Delivered);
    // The replacing observation's spelling is the one kept.
    assert_eq!(
        (row.trace_id.as_str(), row.recipient.as_str()),
        (&*trace.to_uppercase(), "bob@fabrikam.EXAMPLE")
    );
}

// ---------------------------------------------------------------------------------------
// A generated tenant
// ---------------------------------------------------------------------------------------

#[test]
fn generated_tenant_in_overlapping_chunks_equals_the_fold() {
    let observations = tenant(11, 50_000, 7);
    assert!(observations.len() > 50_000);
    let expected = fold(&observations);
    assert_eq!(
        expected.len(),
        50_000,
        "the simulator makes one final row per identity"
    );
    // Some identities must really move through provisional statuses for this to test much.
    let provisional = observations
        .iter()
        .filter(|r| r.status.finality() < mailscope_record::Finality::Final)
        .count();
    assert!(provisional > 1_000, "{provisional}");

    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let chunks = 6;
    let step = observations.len().div_ceil(chunks);
    let overlap = step / 4;
    let mut replayed: Vec<&Record> = Vec::new();
    for chunk in 0..chunks {
        let from = (chunk * step).saturating_sub(overlap);
        let to = ((chunk + 1) * step).min(observations.len());
        let report = ingest(&mut store, observations[from..to].iter().cloned());
        replayed.extend(&observations[from..to]);
        assert!(
            chunk == 0 || report.unchanged > 0,
            "chunk {chunk} should overlap: {report:?}"
        );
        assert_eq!(
            report.rows_after,
            fold(replayed.iter().copied()).len() as u64
        );
    }

    let rows = stored(dir.path());
    assert_eq!(rows.len(), expected.len());
    assert_eq!(
        rows.iter()
            .map(|(k, r)| (*k, r.status.clone()))
            .collect::<HashMap<_, _>>(),
        statuses(&expected)
    );
    assert_eq!(
        statuses(&fold(replayed.iter().copied())),
        statuses(&expected)
    );
    for (key, row) in &rows {
        assert_eq!(
            row.received,
            expected[key].received.timestamp_nanos_opt().unwrap()
        );
    }
}

#[test]
fn an_append_larger_than_its_buffer_is_written_in_pieces_and_published_as_one_segment_a_day() {
    // A small buffer: each day is written in dozens of pieces (more than one merge takes at
    // once), provisional rows move between pieces, and a second, overlapping append
    // updates published rows while it writes pieces of its own.
    let observations = tenant(12, 20_000, 3);
    let expected = fold(&observations);
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let half = observations.len() / 2;
    let first = ingest_buffered(
        &mut store,
        observations[..half].iter().cloned(),
        Some(16 << 10),
    );
    assert!(first.pieces_written > 3 * 24, "{first:?}");
    let catalog = Catalog::load(dir.path()).unwrap();
    let days: BTreeSet<_> = observations[..half]
        .iter()
        .map(|r| r.received.date_naive())
        .collect();
    assert_eq!(
        catalog.segments.len(),
        days.len(),
        "one segment a day: {:?}",
        catalog.segments
    );
    assert_eq!(
        segment_files(dir.path()),
        referenced_files(dir.path()),
        "pieces removed"
    );
    assert_eq!(
        statuses(&fold(&observations[..half])),
        stored_statuses(dir.path())
    );

    let second = ingest_buffered(
        &mut store,
        observations[half / 2..].iter().cloned(),
        Some(16 << 10),
    );
    assert!(
        second.pieces_written > 0 && second.unchanged > 0,
        "{second:?}"
    );
    assert_eq!(second.rows_after, expected.len() as u64);
    assert_eq!(statuses(&expected), stored_statuses(dir.path()));
    let rows = stored(dir.path());
    for (key, row) in &rows {
        assert_eq!(
            row.received,
            expected[key].received.timestamp_nanos_opt().unwrap()
        );
    }
    assert_eq!(segment_files(dir.path()), referenced_files(dir.path()));
    let catalog = Catalog::load(dir.path()).unwrap();
    for segment_meta in &catalog.segments {
        check_segment(dir.path(), &catalog, segment_meta);
    }
    let verified = mailscope_engine::store::verify(dir.path()).unwrap();
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);
    assert_eq!(verified.garbage_files, 0);
}

#[test]
fn a_late_row_for_a_settled_day_finds_its_published_row_after_the_day_was_merged() {
    // Day 1 is published. An append with a small buffer updates some of its rows, moves on
    // to day 4 (day 1 settles: its pieces are merged and its key runs let go), then updates
    // other published rows of day 1 and rows it wrote itself there: every identity must
    // still be found, none stored twice.
    let id = |i: u32| format!("00000000-0000-0000-0000-{i:012}");
    let at =
        |day: i64, i: u32| day_start() + TimeDelta::days(day) + TimeDelta::seconds(i64::from(i));
    let row = |i: u32, day: i64, status: Status| {
        record(
            &id(i),
            &format!("user{i}@fabrikam.example"),
            status,
            at(day, i),
        )
    };
    let published: Vec<Record> = (0..2_000).map(|i| row(i, 0, Status::Pending)).collect();
    let mut observations: Vec<Record> = Vec::new();
    observations.extend((0..500).map(|i| row(i, 0, Status::Delivered)));
    observations.extend((2_000..3_000).map(|i| row(i, 0, Status::Pending)));
    observations.extend((10_000..14_000).map(|i| row(i, 3, Status::Delivered)));
    observations.extend((400..900).map(|i| row(i, 0, Status::Failed)));
    observations.extend((2_500..3_200).map(|i| row(i, 0, Status::Delivered)));

    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    ingest(&mut store, published.iter().cloned());
    let report = ingest_buffered(&mut store, observations.iter().cloned(), Some(16 << 10));
    assert!(report.pieces_written > 10, "{report:?}");
    let all: Vec<&Record> = published.iter().chain(&observations).collect();
    let expected = fold(all.iter().copied());
    assert_eq!(report.rows_after, expected.len() as u64);
    assert_eq!(stored_statuses(dir.path()), statuses(&expected));
    let verified = mailscope_engine::store::verify(dir.path()).unwrap();
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);
    // Merged as settled once; the rows that came after are merged at commit, not at
    // every flush.
    let catalog = Catalog::load(dir.path()).unwrap();
    let first_day = catalog
        .segments
        .iter()
        .filter(|s| s.day == "2026-03-02")
        .count();
    assert!(first_day <= 3, "{:?}", catalog.segments);
    let files = segment_files(dir.path());
    assert!(
        files
            .iter()
            .all(|f| !f.to_string_lossy().contains(".piece")),
        "{files:?}"
    );
    assert!(referenced_files(dir.path()).is_subset(&files));
}

// ---------------------------------------------------------------------------------------
// Segments, compaction and the catalog
// ---------------------------------------------------------------------------------------

#[test]
fn many_small_ingests_into_one_day_are_compacted_to_at_most_eight_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let mut all: Vec<Record> = Vec::new();
    let mut saw_compaction = false;
    for batch in 0..20u32 {
        let mut records = numbered(batch * 10..batch * 10 + 10, Status::Pending);
        if batch >= 5 {
            // Settle some rows written by an earlier ingest, so rewrites meet compaction.
            let earlier = batch - 5;
            records.extend(numbered(earlier * 10..earlier * 10 + 3, Status::Delivered));
        }
        all.extend(records.iter().cloned());
        ingest(&mut store, records);
        let segments = store.catalog().segments.len();
        assert!(segments <= 8, "after ingest {batch}: {segments} segments");
        // Each ingest writes 10 rows: a segment with more is a merge.
        saw_compaction |= store.catalog().segments.iter().any(|s| s.rows > 10);
        assert_eq!(
            stored_statuses(dir.path()),
            statuses(&fold(&all)),
            "after ingest {batch}"
        );
    }
    assert!(saw_compaction);
    assert_eq!(stored(dir.path()).len(), 200);
    // Everything the compactions replaced is garbage once the grace period is over.
    let removed = store.collect_garbage(Duration::ZERO).unwrap();
    assert!(removed > 0);
    assert_eq!(segment_files(dir.path()), referenced_files(dir.path()));
    assert_eq!(stored(dir.path()).len(), 200);
}

#[test]
fn segments_are_sorted_by_received_within_their_day_and_the_catalog_matches_the_data() {
    let observations = tenant(5, 6_000, 3);
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    // Several ingests with settling observations in later ones, so segments get rewritten.
    for chunk in observations.chunks(observations.len().div_ceil(4)) {
        ingest(&mut store, chunk.iter().cloned());
    }
    let catalog = Catalog::load(dir.path()).unwrap();
    assert_eq!(&catalog, store.catalog());
    let days: BTreeSet<&str> = catalog.segments.iter().map(|s| s.day.as_str()).collect();
    assert!(days.len() >= 3, "{days:?}");
    for segment_meta in &catalog.segments {
        check_segment(dir.path(), &catalog, segment_meta);
    }
    assert_eq!(stored(dir.path()).len(), 6_000);
}

fn check_segment(dir: &Path, catalog: &Catalog, segment_meta: &SegmentMeta) {
    let path = catalog.segment_path(dir, segment_meta);
    assert!(
        segment_meta
            .file
            .starts_with(&format!("segments/{}/", segment_meta.day)),
        "{segment_meta:?}"
    );
    let batch = segment::read(&path).unwrap();
    let received = batch
        .column(batch.schema().index_of(schema::RECEIVED).unwrap())
        .as_primitive::<TimestampNanosecondType>();
    assert_eq!(received.null_count(), 0);
    let values = received.values();
    assert!(!values.is_empty(), "{}: empty segment", segment_meta.file);
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "{}: not sorted by Received",
        segment_meta.file
    );
    let day = chrono::NaiveDate::parse_from_str(&segment_meta.day, "%Y-%m-%d").unwrap();
    let day_from = day
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_nanos_opt()
        .unwrap();
    let day_to = day_from + 86_400_000_000_000;
    assert!(
        values.iter().all(|v| (day_from..day_to).contains(v)),
        "{}: row outside its day",
        segment_meta.file
    );
    assert_eq!(
        segment_meta.min_received, values[0],
        "{}",
        segment_meta.file
    );
    assert_eq!(
        segment_meta.max_received,
        values[values.len() - 1],
        "{}",
        segment_meta.file
    );
    assert_eq!(segment_meta.rows, values.len() as u64);
    assert_eq!(segment_meta.bytes, std::fs::metadata(&path).unwrap().len());
}

// ---------------------------------------------------------------------------------------
// Atomic publish, garbage and the lock
// ---------------------------------------------------------------------------------------

#[test]
fn an_abandoned_ingest_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    ingest(&mut store, numbered(0..50, Status::Pending));
    let catalog = Catalog::load(dir.path()).unwrap();
    let files = segment_files(dir.path());
    {
        let mut abandoned = store.ingest(None, meta());
        for record in numbered(0..100, Status::Delivered) {
            abandoned.push(record).unwrap();
        }
        // Dropped without commit.
    }
    assert_eq!(Catalog::load(dir.path()).unwrap(), catalog);
    assert_eq!(store.catalog(), &catalog);
    assert!(
        stored(dir.path())
            .values()
            .all(|row| row.status == Status::Pending)
    );
    store.collect_garbage(Duration::ZERO).unwrap();
    assert_eq!(segment_files(dir.path()), files);
    // The store is still writable and the next ingest sees the published state only.
    let report = ingest(&mut store, numbered(0..100, Status::Delivered));
    assert_eq!(
        (report.added, report.updated, report.rows_after),
        (50, 50, 100)
    );
}

#[test]
fn a_failed_commit_publishes_nothing_and_its_files_are_collected() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    ingest(&mut store, numbered(0..50, Status::Pending));
    let catalog = Catalog::load(dir.path()).unwrap();
    let referenced = referenced_files(dir.path());
    assert_eq!(
        referenced.len(),
        3,
        "one segment, its key run and its rollup"
    );
    let victim = dir.path().join(
        referenced
            .iter()
            .find(|f| f.extension().is_some_and(|e| e == "parquet"))
            .unwrap(),
    );
    let saved = std::fs::read(&victim).unwrap();

    let mut doomed = store.ingest(None, meta());
    // Settles two fifths of the stored rows (so the commit must rewrite the victim segment,
    // too much of it for a deletion vector) ...
    for record in numbered(0..20, Status::Delivered) {
        doomed.push(record).unwrap();
    }
    // ... and adds rows on another day, written to a new segment before that rewrite.
    for mut record in numbered(100..110, Status::Delivered) {
        record.received += TimeDelta::days(1);
        doomed.push(record).unwrap();
    }
    std::fs::write(&victim, b"not parquet").unwrap();
    assert!(
        doomed.commit().is_err(),
        "the rewrite of a corrupt segment must fail"
    );
    std::fs::write(&victim, &saved).unwrap();

    assert_eq!(Catalog::load(dir.path()).unwrap(), catalog);
    assert_eq!(store.catalog(), &catalog);
    let leftovers: Vec<PathBuf> = segment_files(dir.path())
        .difference(&referenced)
        .cloned()
        .collect();
    assert!(
        !leftovers.is_empty(),
        "the failed commit should have written its new segment"
    );
    // Within the grace period nothing is collected: a reader may still be using a file.
    assert_eq!(
        store.collect_garbage(Duration::from_secs(3_600)).unwrap(),
        0
    );
    assert_eq!(
        store.collect_garbage(Duration::ZERO).unwrap(),
        leftovers.len()
    );
    assert_eq!(segment_files(dir.path()), referenced);
    assert_eq!(stored(dir.path()).len(), 50);
    // A retry succeeds and reuses nothing stale.
    let report = ingest(&mut store, numbered(0..20, Status::Delivered));
    assert_eq!((report.updated, report.rows_after), (20, 50));
}

#[test]
fn files_left_by_a_crashed_writer_are_collected_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    ingest(&mut store, numbered(0..20, Status::Delivered));
    let referenced = referenced_files(dir.path());
    // What a writer killed between writing a segment and publishing leaves behind: a
    // segment of the next generation (perhaps half written) and a temporary catalog.
    let next = store.catalog().generation + 1;
    let day_dir = dir.path().join("segments/2026-03-05");
    std::fs::create_dir_all(&day_dir).unwrap();
    std::fs::write(
        day_dir.join(format!("g{next:010}-00000.parquet")),
        b"PAR1 half written",
    )
    .unwrap();
    std::fs::write(dir.path().join("CATALOG.tmp"), b"{\"format\":").unwrap();
    drop(store);

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        segment_files(dir.path()).len(),
        referenced.len() + 1,
        "young garbage is kept"
    );
    assert_eq!(store.collect_garbage(Duration::ZERO).unwrap(), 1);
    assert_eq!(segment_files(dir.path()), referenced);
    assert!(!day_dir.exists(), "an emptied day directory is removed");
    assert_eq!(stored(dir.path()).len(), 20);
    drop(store);

    // The next ingest reuses the unpublished generation's names without harm.
    let mut store = Store::open(dir.path()).unwrap();
    ingest(&mut store, numbered(20..30, Status::Delivered));
    assert_eq!(stored(dir.path()).len(), 30);
}

#[test]
fn a_second_open_while_the_store_is_open_fails_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let error = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(error, mailscope_engine::Error::Locked { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("locked"), "{message}");
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    drop(store);
    Store::open(dir.path()).expect("the lock is released when the store is dropped");
}

// ---------------------------------------------------------------------------------------
// Random observation sequences
// ---------------------------------------------------------------------------------------

fn any_status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::GettingStatus),
        Just(Status::Pending),
        Just(Status::Delivered),
        Just(Status::Failed),
        Just(Status::FilteredAsSpam),
        Just(Status::Quarantined),
        Just(Status::Expanded),
        Just(Status::None),
        Just(Status::Recalled),
        Just(Status::Other("unknownFutureValue".into())),
    ]
}

/// (identity 0..6, upper-case spelling?, status); identities spread over two days.
fn observations() -> impl Strategy<Value = Vec<(u8, bool, Status)>> {
    prop::collection::vec((0u8..6, any::<bool>(), any_status()), 1..40)
}

fn observation_record(position: usize, (identity, upper, status): &(u8, bool, Status)) -> Record {
    let trace = format!("a1b2c3d4-0000-4000-8000-{identity:012}");
    let recipient = format!("Recipient{identity}@Example.COM");
    let received = day_start() + TimeDelta::hours(i64::from(*identity) * 9);
    let (trace, recipient) = if *upper {
        (trace.to_uppercase(), recipient.to_uppercase())
    } else {
        (trace, recipient.to_lowercase())
    };
    let mut record = record(&trace, &recipient, status.clone(), received);
    // Which observation a stored row came from.
    record.size = position as i64;
    record
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_observation_sequences_are_stored_as_their_fold_and_reingest_is_idempotent(
        sequence in observations(),
        cuts in prop::collection::vec(0usize..40, 0..3),
        buffer in prop_oneof![Just(None), Just(Some(1usize)), Just(Some(3_000usize))],
    ) {
        let records: Vec<Record> =
            sequence.iter().enumerate().map(|(i, o)| observation_record(i, o)).collect();
        let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c % (records.len() + 1)).collect();
        bounds.extend([0, records.len()]);
        bounds.sort_unstable();
        bounds.dedup();

        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let mut model: HashMap<u128, Record> = HashMap::new();
        for window in bounds.windows(2) {
            let batch = &records[window[0]..window[1]];
            let mut expected = IngestReport::default();
            // What is published when the batch starts: an identity that this batch moves
            // away from its published row and then back to that row's status keeps the
            // published row (nothing to rewrite).
            let published = model.clone();
            for record in batch {
                let key = record.identity();
                let moved = published.get(&key).is_some_and(|p| model.get(&key) != Some(p));
                match apply(&mut model, record) {
                    Outcome::Added => expected.added += 1,
                    Outcome::Updated => {
                        match published.get(&key) {
                            Some(p) if moved && p.status == record.status => {
                                // Net effect on the published row: none.
                                model.insert(key, p.clone());
                                expected.updated = expected.updated.saturating_sub(1);
                                expected.unchanged += 1;
                            }
                            _ => expected.updated += 1,
                        }
                    }
                    Outcome::Unchanged => expected.unchanged += 1,
                    Outcome::Stale => expected.stale += 1,
                }
            }
            let report = ingest_buffered(&mut store, batch.iter().cloned(), buffer);
            prop_assert_eq!(
                (report.added, report.updated, report.unchanged, report.stale, report.rows_after),
                (expected.added, expected.updated, expected.unchanged, expected.stale, model.len() as u64)
            );
        }
        let rows = stored(dir.path());
        let expected: HashMap<u128, (Status, i64)> =
            model.iter().map(|(k, r)| (*k, (r.status.clone(), r.size))).collect();
        let actual: HashMap<u128, (Status, i64)> =
            rows.iter().map(|(k, r)| (*k, (r.status.clone(), r.size))).collect();
        prop_assert_eq!(&actual, &expected);
        let statuses = |rows: &HashMap<u128, Record>| -> HashMap<u128, Status> {
            rows.iter().map(|(k, r)| (*k, r.status.clone())).collect()
        };
        prop_assert_eq!(statuses(&model), statuses(&fold(&records)));

        // Ingesting the whole sequence again changes nothing: an identity that passes
        // through other statuses of the same finality comes back to its published row.
        let catalog = Catalog::load(dir.path()).unwrap();
        let again = ingest_buffered(&mut store, records.iter().cloned(), buffer);
        prop_assert_eq!(again.added, 0);
        prop_assert!(!again.published);
        prop_assert_eq!(Catalog::load(dir.path()).unwrap(), catalog);
        let rows = stored(dir.path());
        let actual: HashMap<u128, (Status, i64)> =
            rows.iter().map(|(k, r)| (*k, (r.status.clone(), r.size))).collect();
        prop_assert_eq!(&actual, &expected);
    }
}

// ---------------------------------------------------------------------------------------
// The versioned catalog
// ---------------------------------------------------------------------------------------

const CATALOG_V1: &str = include_str!("data/catalog-v1.json");

fn catalog_v1() -> Catalog {
    let segment = |file: &str, day: &str, rows, min_received, max_received, bytes| SegmentMeta {
        file: file.into(),
        day: day.into(),
        rows,
        min_received,
        max_received,
        bytes,
        rollup: None,
        deletes: None,
    };
    Catalog {
        format: "mailscope-catalog".into(),
        version: 1,
        generation: 7,
        segments: vec![
            segment(
                "segments/2026-03-02/g0000000005-00000.parquet",
                "2026-03-02",
                41_230,
                1_772_409_600_000_000_000,
                1_772_495_999_000_000_000,
                2_315_744,
            ),
            segment(
                "segments/2026-03-03/g0000000007-00001.parquet",
                "2026-03-03",
                38_977,
                1_772_496_000_000_000_000,
                1_772_582_398_000_000_000,
                2_190_118,
            ),
        ],
        checkpoints: Default::default(),
    }
}

#[test]
fn a_version_1_catalog_is_read_back_and_published_as_the_current_version() {
    let catalog = Catalog::parse(CATALOG_V1.as_bytes()).unwrap();
    assert_eq!(catalog, catalog_v1());
    assert_eq!(catalog.rows(), 80_207);
    // The checked-in file is what `publish` writes today but for the version (its segments
    // have no rollups, which version 2 leaves out), so a format change shows up here.
    let dir = tempfile::tempdir().unwrap();
    catalog.publish(dir.path()).unwrap();
    let written = std::fs::read_to_string(dir.path().join("CATALOG")).unwrap();
    assert_eq!(
        written.trim_end(),
        CATALOG_V1.trim_end().replacen(
            "\"version\": 1,",
            &format!("\"version\": {},", store::CATALOG_VERSION),
            1
        )
    );
    let reread = Catalog::load(dir.path()).unwrap();
    assert_eq!(reread.version, store::CATALOG_VERSION);
    assert_eq!(reread.segments, catalog.segments);
}

#[test]
fn a_checkpoint_is_published_with_its_records_and_only_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let position = |n: u32| serde_json::json!({"version": 1, "until": n});

    // Records and checkpoint in one commit.
    let mut first = store.ingest(None, meta());
    for record in numbered(0..10, Status::Delivered) {
        first.push(record).unwrap();
    }
    first.set_checkpoint("tenant-a", position(10));
    first.commit().unwrap();
    assert_eq!(store.checkpoint("tenant-a"), Some(&position(10)));

    // An abandoned ingest moves neither the data nor the checkpoint.
    {
        let mut abandoned = store.ingest(None, meta());
        for record in numbered(10..20, Status::Delivered) {
            abandoned.push(record).unwrap();
        }
        abandoned.set_checkpoint("tenant-a", position(20));
    }
    let reopened = |dir: &Path| Catalog::load(dir).unwrap();
    assert_eq!(reopened(dir.path()).checkpoints["tenant-a"], position(10));
    assert_eq!(reopened(dir.path()).rows(), 10);

    // A window with no new records still advances its checkpoint, and other collectors'
    // checkpoints are kept.
    let mut empty = store.ingest(None, meta());
    empty.set_checkpoint("tenant-b", position(3));
    let report = empty.commit().unwrap();
    assert!(report.published);
    let mut again = store.ingest(None, meta());
    again.set_checkpoint("tenant-a", position(11));
    again
        .push(numbered(0..1, Status::Delivered).remove(0))
        .unwrap();
    again.commit().unwrap();
    let catalog = reopened(dir.path());
    assert_eq!(catalog.checkpoints["tenant-a"], position(11));
    assert_eq!(catalog.checkpoints["tenant-b"], position(3));
    assert_eq!(catalog.rows(), 10);
    drop(store);
    assert_eq!(
        Store::open(dir.path()).unwrap().checkpoint("tenant-b"),
        Some(&position(3))
    );
}

#[test]
fn catalogs_that_are_garbage_or_newer_are_refused() {
    let newer = CATALOG_V1.replace(
        "\"version\": 1,",
        &format!("\"version\": {},", store::CATALOG_VERSION + 1),
    );
    assert_ne!(newer, CATALOG_V1);
    let error = Catalog::parse(newer.as_bytes()).unwrap_err();
    assert!(error.contains("newer"), "{error}");

    let truncated = &CATALOG_V1[..CATALOG_V1.len() / 2];
    assert!(Catalog::parse(truncated.as_bytes()).is_err());
    assert!(Catalog::parse(b"").is_err());
    assert!(Catalog::parse(b"\x00\xffPAR1").is_err());
    let other = CATALOG_V1.replace("mailscope-catalog", "something-else");
    assert!(
        Catalog::parse(other.as_bytes())
            .unwrap_err()
            .contains("not a mailscope catalog")
    );

    // `Store::open` reports a damaged catalog rather than starting empty.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("CATALOG"), truncated).unwrap();
    let error = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(error, mailscope_engine::Error::Catalog { .. }),
        "{error:?}"
    );
}

#[test]
fn a_small_append_into_a_large_day_reads_a_few_blocks_of_key_runs_not_the_day() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    ingest(&mut store, by_second(0..50_000, Status::Pending));
    // A poll's worth: 100 new identities and 50 status changes of stored ones.
    let mut poll = by_second(50_000..50_100, Status::Delivered);
    poll.extend(by_second(0..50, Status::Delivered));
    let report = ingest(&mut store, poll);
    assert_eq!((report.added, report.updated), (100, 50));
    assert_eq!(report.keys_read_from_segments, 0);
    assert_eq!(report.key_runs_loaded, 0);
    // One block per stored identity looked up, plus the filter's rare false positives.
    assert!(
        (50..56).contains(&report.key_blocks_read),
        "{}",
        report.key_blocks_read
    );
    let rows = stored(dir.path());
    assert_eq!(rows.len(), 50_100);
    let delivered = rows
        .values()
        .filter(|r| r.status == Status::Delivered)
        .count();
    assert_eq!(delivered, 150);
}

#[test]
fn segments_without_key_runs_are_read_as_before_and_give_the_same_store() {
    let records = tenant(7, 3_000, 3);
    let (half, rest) = records.split_at(records.len() / 2);
    let build = |drop_runs: bool| {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        ingest(&mut store, half.to_vec());
        if drop_runs {
            // What a store written before key runs existed looks like.
            for file in segment_files(dir.path()) {
                if file.extension().is_some_and(|e| e == "keys") {
                    std::fs::remove_file(dir.path().join(file)).unwrap();
                }
            }
        }
        let report = ingest(&mut store, rest.to_vec());
        (dir, report)
    };
    let (with_runs, report) = build(false);
    assert_eq!(report.keys_read_from_segments, 0);
    let (without_runs, legacy) = build(true);
    assert!(legacy.keys_read_from_segments > 0);
    assert_eq!(
        (legacy.added, legacy.updated, legacy.unchanged, legacy.stale),
        (report.added, report.updated, report.unchanged, report.stale)
    );
    assert_eq!(
        stored_statuses(with_runs.path()),
        stored_statuses(without_runs.path())
    );
    assert_eq!(stored_statuses(with_runs.path()), statuses(&fold(&records)));
    // A damaged key run is not trusted: the segment's own columns answer.
    let damaged = segment_files(with_runs.path())
        .into_iter()
        .find(|f| f.extension().is_some_and(|e| e == "keys"))
        .unwrap();
    std::fs::write(with_runs.path().join(&damaged), b"MSKEYS garbage").unwrap();
    let mut store = Store::open(with_runs.path()).unwrap();
    let again = ingest(&mut store, records.clone());
    assert!(again.keys_read_from_segments > 0);
    assert_eq!(again.added, 0);
    assert_eq!(stored_statuses(with_runs.path()), statuses(&fold(&records)));
}

#[test]
fn compaction_and_rewrites_stream_across_batches_and_keep_every_row_in_order() {
    // Ten ingests into one day (so the tenth compacts nine segments and more), each adding
    // 3,000 rows interleaved in time with the others and settling rows of earlier ones: the
    // merge crosses many of its 8,192-row batches with deletions in each.
    let at = |i: u32| {
        day_start() + TimeDelta::milliseconds(i64::from(i % 30_000) * 2_000 + i64::from(i / 30_000))
    };
    let row = |i: u32, status: Status| {
        record(
            &format!("00000000-0000-0000-0000-{i:012}"),
            &format!("user{i}@fabrikam.example"),
            status,
            at(i),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let mut all = Vec::new();
    for batch in 0..10u32 {
        let mut records: Vec<Record> = (0..3_000u32)
            .map(|k| row(k * 10 + batch, Status::Pending))
            .collect();
        if batch > 0 {
            // Settle every 7th row of the previous ingests.
            records.extend(
                (0..batch * 3_000)
                    .step_by(7)
                    .map(|n| row((n % 3_000) * 10 + n / 3_000, Status::Delivered)),
            );
        }
        all.extend(records.clone());
        ingest(&mut store, records);
        assert_eq!(
            stored_statuses(dir.path()),
            statuses(&fold(&all)),
            "after ingest {batch}"
        );
    }
    let catalog = Catalog::load(dir.path()).unwrap();
    assert!(catalog.segments.len() <= 8, "{}", catalog.segments.len());
    let verified = mailscope_engine::store::verify(dir.path()).unwrap();
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);
    assert_eq!(verified.rows, 30_000);
}

// ---------------------------------------------------------------------------------------
// Partial aggregates (rollups)
// ---------------------------------------------------------------------------------------

/// A level with more groups than a rollup batch holds is written in several batches (one
/// row group still): verify rebuilds it in one go from the rows and finds the same file.
#[test]
fn a_rollup_level_larger_than_a_batch_is_written_in_batches_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let rows = mailscope_engine::store::rollup::BATCH_GROUPS as u32 + 4_464;
    ingest(
        &mut store,
        (0..rows).map(|i| {
            record(
                &format!("00000000-0000-0000-0001-{i:012}"),
                &format!("user{i}@fabrikam.example"),
                Status::Delivered,
                day_start() + TimeDelta::seconds(i64::from(i)),
            )
        }),
    );
    let catalog = Catalog::load(dir.path()).unwrap();
    assert_eq!(catalog.segments.len(), 1);
    let rollup = catalog.segments[0].rollup.as_ref().expect("a rollup");
    // The recipient level (by day): one group per recipient.
    let recipient_level = mailscope_engine::store::rollup::LEVELS
        .iter()
        .position(|l| l.dims.iter().any(|d| d == "RecipientAddress"))
        .expect("a recipient level");
    assert_eq!(rollup.rows[recipient_level], u64::from(rows));
    let verified = mailscope_engine::store::verify(dir.path()).unwrap();
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);
}

#[test]
fn every_segment_has_a_rollup_that_verify_recomputes_from_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    ingest(&mut store, tenant(5, 3_000, 3));
    // An update rewrites a segment: its rollup is rebuilt with it.
    ingest(&mut store, numbered(0..40, Status::Pending));
    ingest(&mut store, numbered(0..40, Status::Delivered));
    let catalog = Catalog::load(dir.path()).unwrap();
    assert!(catalog.segments.len() >= 3);
    for segment in &catalog.segments {
        let rollup = segment.rollup.as_ref().expect("a rollup");
        assert_eq!(
            rollup.rows.len(),
            mailscope_engine::store::rollup::LEVELS.len()
        );
        // Level 1 refines level 0; no level but the word level (a row per word) has more
        // rows than the segment.
        assert!(rollup.rows[0] > 0 && rollup.rows[0] <= rollup.rows[1]);
        for (level, rows) in mailscope_engine::store::rollup::LEVELS
            .iter()
            .zip(&rollup.rows)
        {
            assert!(*rows > 0 && (level.words || *rows <= segment.rows));
        }
    }
    assert!(
        mailscope_engine::store::verify(dir.path())
            .unwrap()
            .problems
            .is_empty()
    );

    // One segment's rollup replaced by another's, then a torn one: both are reported,
    // naming the segment.
    let path = |s: &mailscope_engine::store::SegmentMeta| {
        let mut name = catalog.segment_path(dir.path(), s).into_os_string();
        name.push(".rollup");
        PathBuf::from(name)
    };
    let (first, second) = (&catalog.segments[0], &catalog.segments[1]);
    std::fs::copy(path(second), path(first)).unwrap();
    let problems = mailscope_engine::store::verify(dir.path())
        .unwrap()
        .problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].file, first.file);
    assert!(
        problems[0].message.contains("rollup does not match"),
        "{problems:?}"
    );
    let bytes = std::fs::read(path(second)).unwrap();
    std::fs::write(path(first), &bytes[..bytes.len() / 2]).unwrap();
    let problems = mailscope_engine::store::verify(dir.path())
        .unwrap()
        .problems;
    assert!(
        problems[0].message.contains("rollup cannot be read"),
        "{problems:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Deletion vectors (merge on read)
// ---------------------------------------------------------------------------------------

/// `n` distinct identities on the first test day, one second apart.
fn by_second(range: std::ops::Range<u32>, status: Status) -> Vec<Record> {
    range
        .map(|i| {
            record(
                &format!("00000000-0000-0000-0000-{i:012}"),
                &format!("user{i}@fabrikam.example"),
                status.clone(),
                day_start() + TimeDelta::seconds(i64::from(i)),
            )
        })
        .collect()
}

/// `count by status` over the test day, answered by the one-shot engine (Parquet with row
/// selections), as sorted (status, count) pairs.
fn counted_by_status(dir: &Path) -> Vec<(String, i64)> {
    counted_by_status_in(&mailscope_engine::exec::Snapshot::load(dir).unwrap())
}

/// [`counted_by_status`] over a snapshot taken earlier.
fn counted_by_status_in(snapshot: &mailscope_engine::exec::Snapshot) -> Vec<(String, i64)> {
    let query =
        mailscope_query::compile(r#"* | json "Status" as status | count by status"#).unwrap();
    let options = mailscope_engine::exec::QueryOptions {
        from: day_start() - TimeDelta::days(1),
        to: day_start() + TimeDelta::days(7),
        time_zone: chrono_tz::UTC,
        geo: None,
        asn: None,
        threat: None,
        max_raw_rows: 1_000,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime
        .block_on(mailscope_engine::exec::Engine::default().execute(snapshot, &query, &options))
        .unwrap();
    let mut counts: Vec<(String, i64)> = result
        .rows
        .iter()
        .map(|row| match (&row[0], &row[1]) {
            (mailscope_engine::exec::Value::Text(s), mailscope_engine::exec::Value::Int(n)) => {
                (s.clone(), *n)
            }
            other => panic!("unexpected row {other:?}"),
        })
        .collect();
    counts.sort();
    counts
}

fn fold_counts(state: &HashMap<u128, Record>) -> Vec<(String, i64)> {
    let mut counts: HashMap<String, i64> = HashMap::new();
    for record in state.values() {
        *counts.entry(record.status.as_str().to_owned()).or_default() += 1;
    }
    let mut counts: Vec<(String, i64)> = counts.into_iter().collect();
    counts.sort();
    counts
}

/// Bytes of the files the catalog names for one day.
fn day_bytes(dir: &Path) -> u64 {
    referenced_files(dir)
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).unwrap().len())
        .sum()
}

#[test]
fn a_status_update_to_a_few_rows_writes_a_deletion_vector_not_the_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let first = by_second(0..50_000, Status::GettingStatus);
    let mut all = first.clone();
    ingest(&mut store, first);
    let catalog = Catalog::load(dir.path()).unwrap();
    assert_eq!(catalog.segments.len(), 1);
    let original = catalog.segments[0].clone();
    let bytes_before = day_bytes(dir.path());

    // 1 % of the day's rows change status.
    let update = by_second(0..500, Status::Pending);
    all.extend(update.iter().cloned());
    let report = ingest(&mut store, update);
    assert_eq!((report.updated, report.deletion_vectors_written), (500, 1));
    let catalog = Catalog::load(dir.path()).unwrap();
    let kept = catalog
        .segments
        .iter()
        .find(|s| s.file == original.file)
        .expect("the segment is not rewritten");
    let deletes = kept.deletes.as_ref().expect("a deletion vector");
    assert_eq!((deletes.rows, kept.live_rows()), (500, 49_500));
    assert_eq!(catalog.rows(), 50_000);
    // Its new rows, key run and rollup (eleven levels, each with at least a row group's
    // footprint), and the vector: a few percent of the day.
    assert!(
        report.bytes_written * 15 < bytes_before,
        "wrote {} bytes of a {bytes_before}-byte day",
        report.bytes_written
    );
    assert_eq!(stored_statuses(dir.path()), statuses(&fold(&all)));
    assert_eq!(counted_by_status(dir.path()), fold_counts(&fold(&all)));

    // The same rows again, further on: the key runs still list them in the first segment,
    // as deleted rows; the lookup passes over those to the live ones.
    let again = by_second(0..500, Status::Delivered);
    all.extend(again.iter().cloned());
    let report = ingest(&mut store, again);
    assert_eq!((report.added, report.updated), (0, 500));
    // More of the first segment: its vector grows (a new file; the old one is garbage).
    let more = by_second(10_000..10_300, Status::Failed);
    all.extend(more.iter().cloned());
    let report = ingest(&mut store, more);
    assert_eq!((report.updated, report.deletion_vectors_written), (300, 1));
    let catalog = Catalog::load(dir.path()).unwrap();
    let kept = catalog
        .segments
        .iter()
        .find(|s| s.file == original.file)
        .unwrap();
    assert_eq!(kept.deletes.as_ref().unwrap().rows, 800);
    assert_eq!(stored_statuses(dir.path()), statuses(&fold(&all)));
    assert_eq!(counted_by_status(dir.path()), fold_counts(&fold(&all)));
    let verified = mailscope_engine::store::verify(dir.path()).unwrap();
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);
    assert_eq!(verified.rows, 50_000);
    store.collect_garbage(Duration::ZERO).unwrap();
    assert_eq!(segment_files(dir.path()), referenced_files(dir.path()));

    // Re-ingesting everything changes nothing.
    let report = ingest(&mut store, all.clone());
    assert!(!report.published);
    assert_eq!(stored_statuses(dir.path()), statuses(&fold(&all)));
}

#[test]
fn a_segment_that_would_lose_a_fifth_of_its_rows_is_rewritten_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let mut all = by_second(0..1_000, Status::Pending);
    ingest(&mut store, all.clone());
    let original = Catalog::load(dir.path()).unwrap().segments[0].file.clone();
    let small = by_second(0..150, Status::Delivered);
    all.extend(small.iter().cloned());
    assert_eq!(ingest(&mut store, small).deletion_vectors_written, 1);
    // 150 + 60 of 1,000 is over a fifth: rewritten, and every row's segment has no vector.
    let large = by_second(300..360, Status::Delivered);
    all.extend(large.iter().cloned());
    let report = ingest(&mut store, large);
    assert_eq!(report.deletion_vectors_written, 0);
    let catalog = Catalog::load(dir.path()).unwrap();
    assert!(catalog.segments.iter().all(|s| s.file != original));
    assert!(catalog.segments.iter().all(|s| s.deletes.is_none()));
    assert_eq!(catalog.rows(), 1_000);
    assert_eq!(stored_statuses(dir.path()), statuses(&fold(&all)));
    assert_eq!(counted_by_status(dir.path()), fold_counts(&fold(&all)));
}

#[test]
fn a_damaged_deletion_vector_is_reported_and_stops_appends_to_its_day() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    ingest(&mut store, by_second(0..1_000, Status::Pending));
    ingest(&mut store, by_second(0..10, Status::Delivered));
    let catalog = Catalog::load(dir.path()).unwrap();
    let segment = catalog
        .segments
        .iter()
        .find(|s| s.deletes.is_some())
        .unwrap();
    let vector = catalog.deletes_path(dir.path(), segment).unwrap();
    let mut bytes = std::fs::read(&vector).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&vector, &bytes).unwrap();
    let problems = mailscope_engine::store::verify(dir.path())
        .unwrap()
        .problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].file, segment.file);
    assert!(
        problems[0]
            .message
            .contains("deletion vector cannot be read"),
        "{problems:?}"
    );
    // An append to that day cannot know which rows are live: it fails, publishing nothing.
    let mut append = store.ingest(None, meta());
    let error = append
        .push(by_second(20..21, Status::Delivered).remove(0))
        .unwrap_err()
        .to_string();
    assert!(error.contains("checksum mismatch"), "{error}");
    drop(append);
    assert_eq!(Catalog::load(dir.path()).unwrap(), catalog);
}

#[test]
fn a_crowded_day_merges_its_smallest_segments_not_the_whole_day() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let mut all = by_second(0..2_000, Status::Delivered);
    assert_eq!(
        all[0].received.date_naive(),
        all[1_999].received.date_naive()
    );
    ingest(&mut store, all.clone());
    let large = Catalog::load(dir.path()).unwrap().segments[0].file.clone();
    let mut merges = 0;
    for poll in 0..30u32 {
        let records = by_second(2_000 + poll * 10..2_010 + poll * 10, Status::Delivered);
        all.extend(records.iter().cloned());
        let before = store.catalog().segments.len();
        ingest(&mut store, records);
        let catalog = Catalog::load(dir.path()).unwrap();
        assert!(
            catalog.segments.len() <= 8,
            "{} segments",
            catalog.segments.len()
        );
        merges += usize::from(catalog.segments.len() <= before);
        assert!(
            catalog.segments.iter().any(|s| s.file == large),
            "poll {poll} rewrote the day's large segment"
        );
    }
    assert!(merges >= 3, "{merges} merges");
    assert_eq!(stored_statuses(dir.path()), statuses(&fold(&all)));
    assert!(
        mailscope_engine::store::verify(dir.path())
            .unwrap()
            .problems
            .is_empty()
    );
}

/// The background compaction's choice: the crowded day first (most segments), never
/// "today", nothing when no day needs it; compacting the chosen days one at a time ends
/// with the same rows as before, each past day in one segment.
#[test]
fn the_day_to_compact_is_the_most_crowded_before_today() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let records = tenant(12, 3_000, 3);
    // Day 1 and 2 in many appends, day 3 ("today") too; day 1 the most crowded.
    let days: Vec<String> = (0..3)
        .map(|d| {
            (day_start() + TimeDelta::days(d))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect();
    let on = |day: usize| {
        records
            .iter()
            .filter(|r| r.received.format("%Y-%m-%d").to_string() == days[day])
            .cloned()
            .collect::<Vec<_>>()
    };
    for (day, appends) in [(0usize, 6usize), (1, 4), (2, 7)] {
        let rows = on(day);
        for chunk in rows.chunks(rows.len() / appends + 1) {
            ingest(&mut store, chunk.iter().cloned());
        }
    }
    let today = (day_start() + TimeDelta::days(2)).date_naive();
    let counts = counted_by_status(dir.path());
    assert_eq!(store.compaction_candidate(today, 4), Some(days[0].clone()));
    assert_eq!(store.compaction_candidate(today, 7), None);
    let mut done = mailscope_engine::store::Compacted::default();
    store.compact_day(&days[0], &mut done).unwrap();
    assert_eq!(done.days, 1);
    assert_eq!(store.compaction_candidate(today, 4), Some(days[1].clone()));
    store.compact_day(&days[1], &mut done).unwrap();
    assert_eq!(
        store.compaction_candidate(today, 4),
        None,
        "today is left alone"
    );
    let catalog = Catalog::load(dir.path()).unwrap();
    let per_day = |day: &str| catalog.segments.iter().filter(|s| s.day == day).count();
    assert_eq!((per_day(&days[0]), per_day(&days[1])), (1, 1));
    assert!(per_day(&days[2]) >= 7);
    assert_eq!(counted_by_status(dir.path()), counts);
    assert!(
        mailscope_engine::store::verify(dir.path())
            .unwrap()
            .problems
            .is_empty()
    );
}

#[test]
fn compaction_leaves_one_segment_a_day_without_deleted_rows_and_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let records = tenant(11, 4_000, 3);
    let mut all = Vec::new();
    for chunk in records.chunks(records.len() / 12 + 1) {
        all.extend(chunk.iter().cloned());
        ingest(&mut store, chunk.iter().cloned());
    }
    let updates: Vec<Record> = records
        .iter()
        .step_by(60)
        .map(|r| Record {
            status: if r.status == Status::Failed {
                Status::Delivered
            } else {
                Status::Failed
            },
            ..r.clone()
        })
        .collect();
    all.extend(updates.iter().cloned());
    ingest(&mut store, updates);
    let before = Catalog::load(dir.path()).unwrap();
    assert!(before.segments.iter().any(|s| s.deletes.is_some()));
    let counts = counted_by_status(dir.path());
    assert_eq!(counts, fold_counts(&fold(&all)));

    let done = store.compact().unwrap();
    let after = Catalog::load(dir.path()).unwrap();
    let days: BTreeSet<&str> = after.segments.iter().map(|s| s.day.as_str()).collect();
    assert_eq!(after.segments.len(), days.len(), "one segment a day");
    assert!(after.segments.iter().all(|s| s.deletes.is_none()));
    assert_eq!(
        (done.segments_before, done.segments_after),
        (before.segments.len(), days.len())
    );
    assert!(done.deleted_rows_dropped > 0);
    assert_eq!(after.rows(), before.rows());
    assert_eq!(after.checkpoints, before.checkpoints);
    assert_eq!(stored_statuses(dir.path()), statuses(&fold(&all)));
    assert_eq!(counted_by_status(dir.path()), counts);
    assert!(
        mailscope_engine::store::verify(dir.path())
            .unwrap()
            .problems
            .is_empty()
    );
    // A second compaction has nothing to do.
    assert_eq!(store.compact().unwrap().days, 0);
    store.collect_garbage(Duration::ZERO).unwrap();
    assert_eq!(segment_files(dir.path()), referenced_files(dir.path()));
}

/// A day larger than the most a compaction writes into one segment is written as several,
/// in consecutive `Received` ranges, each within the bound (plus one merge batch): the
/// rows are the same, the store verifies, and a second compaction leaves the day alone.
#[test]
fn a_day_larger_than_a_compacted_segment_is_compacted_into_several() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.set_compacted_segment_rows(40_000);
    // Six appends of 15,000 rows each (small: under half the bound), interleaved in time.
    let row = |i: u32, status: Status| {
        record(
            &format!("00000000-0000-0000-0001-{i:012}"),
            &format!("user{i}@fabrikam.example"),
            status,
            day_start() + TimeDelta::milliseconds(i64::from(i) * 500),
        )
    };
    for k in 0..6u32 {
        ingest(
            &mut store,
            (0..15_000u32).map(|n| row(n * 6 + k, Status::Pending)),
        );
    }
    // A thousand rows settle: their pending rows are deleted (a deletion vector), the
    // delivered ones stored in a seventh segment.
    ingest(
        &mut store,
        (0..1_000u32).map(|n| row(n * 6, Status::Delivered)),
    );
    let before = counted_by_status(dir.path());
    assert_eq!(
        before,
        [
            ("Delivered".to_string(), 1_000),
            ("Pending".to_string(), 89_000)
        ]
    );
    assert_eq!(store.catalog().segments.len(), 7);
    let done = store.compact().unwrap();
    assert_eq!(done.days, 1);
    let segments = store.catalog().segments.clone();
    assert_eq!(segments.len(), 3, "{segments:?}");
    assert_eq!(segments.iter().map(|s| s.rows).sum::<u64>(), 90_000);
    assert!(segments.iter().all(|s| s.deletes.is_none()));
    for pair in segments.windows(2) {
        assert!(pair[0].max_received <= pair[1].min_received, "{pair:?}");
    }
    for segment in &segments {
        assert!(segment.rows <= 40_000 + 8_192, "{segment:?}");
        assert_eq!(segment.day, "2026-03-02");
    }
    assert_eq!(counted_by_status(dir.path()), before);
    let verified = mailscope_engine::store::verify(dir.path()).unwrap();
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);
    // Two full segments and a small remainder: nothing left to merge.
    assert_eq!(store.compact().unwrap().days, 0);
    assert_eq!(
        store.compaction_candidate(chrono::NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(), 2),
        None
    );
}

/// Sets the modification time of `files` (relative to `dir`) to `age` ago.
fn written_ago<'a>(dir: &Path, files: impl IntoIterator<Item = &'a PathBuf>, age: Duration) {
    let then = std::time::SystemTime::now() - age;
    for file in files {
        std::fs::File::options()
            .write(true)
            .open(dir.join(file))
            .unwrap()
            .set_modified(then)
            .unwrap();
    }
}

/// A damaged record of retired files never lets a file go early: the files it should list
/// (here written two hours ago and replaced now) count as having left now, and the record
/// is written anew, versioned.
#[test]
fn a_damaged_record_of_retired_files_makes_replaced_files_wait_a_full_grace() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    ingest(&mut store, numbered(0..100, Status::Pending));
    let written = referenced_files(dir.path());
    // A reader keeps the replaced files past the publish.
    let reader = mailscope_engine::exec::Snapshot::load(dir.path()).unwrap();
    ingest(&mut store, numbered(0..50, Status::Delivered));
    drop(reader);
    let replaced: Vec<PathBuf> = written
        .difference(&referenced_files(dir.path()))
        .cloned()
        .collect();
    assert_eq!(replaced.len(), 3, "{replaced:?}");
    written_ago(dir.path(), &replaced, Duration::from_secs(7_200));
    let record_path = dir.path().join("RETIRED");
    for damage in [
        &b"{\"files\": {\"segments/"[..],
        br#"{"format":"mailscope-retired","version":99,"files":{}}"#,
    ] {
        std::fs::write(&record_path, damage).unwrap();
        assert_eq!(
            store
                .collect_garbage(mailscope_engine::store::GARBAGE_GRACE)
                .unwrap(),
            0,
            "nothing goes before a full grace"
        );
        assert!(replaced.iter().all(|f| dir.path().join(f).exists()));
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
        assert_eq!(record["format"], "mailscope-retired");
        assert_eq!(record["version"], 2);
        assert_eq!(record["files"].as_object().unwrap().len(), 3, "{record}");
        assert!(record.get("generations").is_none(), "{record}");
    }
    // The rebuilt record is used: past the grace they go.
    assert_eq!(store.collect_garbage(Duration::ZERO).unwrap(), 3);
    assert_eq!(segment_files(dir.path()), referenced_files(dir.path()));
}

/// A reader's lease keeps the files of its generation while it reads; once no reader of an
/// older generation is left, the next collection removes them, with no grace to wait. A
/// reader of the new generation pins nothing replaced.
#[test]
fn replaced_files_stay_while_a_reader_of_their_generation_holds_its_lease() {
    use mailscope_engine::exec::Snapshot;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    ingest(&mut store, numbered(0..100, Status::Pending));
    let written = referenced_files(dir.path());
    let reader = Snapshot::load(dir.path()).unwrap();
    let leased = reader.lease.as_ref().expect("a lease").generation();
    assert_eq!(leased, reader.generation());
    ingest(&mut store, numbered(0..50, Status::Delivered));
    let replaced: Vec<PathBuf> = written
        .difference(&referenced_files(dir.path()))
        .cloned()
        .collect();
    assert_eq!(replaced.len(), 3, "segment, key run, rollup: {replaced:?}");
    assert!(
        replaced.iter().all(|f| dir.path().join(f).exists()),
        "the reader of the first generation may still read them"
    );
    // The reader still answers from its generation, the store from the new one.
    assert_eq!(
        counted_by_status_in(&reader),
        [("Pending".to_string(), 100)]
    );
    assert_eq!(
        counted_by_status(dir.path()),
        [("Delivered".to_string(), 50), ("Pending".to_string(), 50)]
    );
    let newer = Snapshot::load(dir.path()).unwrap();
    assert_eq!(store.collect_garbage(store::GARBAGE_GRACE).unwrap(), 0);
    let clone = reader.clone();
    drop(reader);
    assert_eq!(
        store.collect_garbage(store::GARBAGE_GRACE).unwrap(),
        0,
        "a clone of the snapshot holds the lease"
    );
    drop(clone);
    assert_eq!(store.collect_garbage(store::GARBAGE_GRACE).unwrap(), 3);
    assert_eq!(segment_files(dir.path()), referenced_files(dir.path()));
    // Without a reader of an older generation, a publish removes what it replaces at once.
    drop(newer);
    let before = referenced_files(dir.path());
    ingest(&mut store, numbered(50..100, Status::Delivered));
    assert_ne!(before, referenced_files(dir.path()));
    assert_eq!(segment_files(dir.path()), referenced_files(dir.path()));
    let leases: Vec<_> = std::fs::read_dir(dir.path().join(store::leases::LEASES_DIR))
        .unwrap()
        .collect();
    assert!(leases.is_empty(), "a collection removes released leases");
}

#[test]
fn a_replaced_file_waits_the_grace_from_when_it_left_the_catalog_not_from_when_it_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    ingest(&mut store, numbered(0..100, Status::Pending));
    let written = referenced_files(dir.path());
    // Written two hours ago.
    written_ago(dir.path(), &written, Duration::from_secs(7_200));
    // Replaced now (half its rows settle: rewritten) while a reader of the previous
    // catalog holds its lease: the files stay.
    let reader = mailscope_engine::exec::Snapshot::load(dir.path()).unwrap();
    ingest(&mut store, numbered(0..50, Status::Delivered));
    drop(reader);
    // As a version before leases recorded them: when they left, not at which generation.
    // A reader without a lease may be reading them: they wait the grace.
    let record_path = dir.path().join("RETIRED");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    assert_eq!(record["generations"].as_object().unwrap().len(), 3);
    record["version"] = serde_json::json!(1);
    record.as_object_mut().unwrap().remove("generations");
    std::fs::write(&record_path, serde_json::to_vec(&record).unwrap()).unwrap();
    let now_referenced = referenced_files(dir.path());
    let replaced: Vec<&PathBuf> = written.difference(&now_referenced).collect();
    assert_eq!(
        replaced.len(),
        3,
        "segment, key run and rollup: {replaced:?}"
    );
    assert!(replaced.iter().all(|f| dir.path().join(f).exists()));
    assert_eq!(
        store
            .collect_garbage(mailscope_engine::store::GARBAGE_GRACE)
            .unwrap(),
        0
    );
    // Once they left longer ago than the grace, the next collection removes them, and
    // forgets them.
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    for file in &replaced {
        let key = file.to_string_lossy().replace('\\', "/");
        let left = record["files"][&key].as_i64().expect("recorded");
        record["files"][&key] = serde_json::json!(left - 3_600_000);
    }
    std::fs::write(&record_path, serde_json::to_vec(&record).unwrap()).unwrap();
    assert_eq!(
        store
            .collect_garbage(mailscope_engine::store::GARBAGE_GRACE)
            .unwrap(),
        3
    );
    assert_eq!(segment_files(dir.path()), referenced_files(dir.path()));
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    assert!(record["files"].as_object().unwrap().is_empty(), "{record}");
}

/// A recall replaces the delivery of the same identity, in one ingest or later, and the
/// delivery read again (an old file, an overlapping window) never brings it back; a status
/// Graph hides (`unknownFutureValue`) does not replace it either.
#[test]
fn a_recalled_message_stays_recalled() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let delivered = numbered(0..4, Status::Delivered);
    let recalled: Vec<Record> = delivered[..2]
        .iter()
        .map(|r| Record {
            status: Status::Recalled,
            ..r.clone()
        })
        .collect();
    ingest(&mut store, delivered.clone());
    ingest(&mut store, recalled.clone());
    ingest(&mut store, delivered.clone());
    let hidden: Vec<Record> = recalled
        .iter()
        .map(|r| Record {
            status: Status::Other("unknownFutureValue".into()),
            ..r.clone()
        })
        .collect();
    ingest(&mut store, hidden);
    // In one ingest too: the recall first, then the delivery.
    let mut both = numbered(10..11, Status::Recalled);
    both.extend(numbered(10..11, Status::Delivered));
    ingest(&mut store, both);
    let statuses = stored_statuses(dir.path());
    let of = |r: &Record| statuses[&r.identity()].clone();
    assert_eq!(of(&delivered[0]), Status::Recalled);
    assert_eq!(of(&delivered[1]), Status::Recalled);
    assert_eq!(of(&delivered[2]), Status::Delivered);
    assert_eq!(
        of(&numbered(10..11, Status::Delivered)[0]),
        Status::Recalled
    );
    assert_eq!(statuses.len(), 5);
}

// ---------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------

/// The export reads every live row of a range once, as the record the fold of what was
/// ingested holds (rows replaced by a later status are left out), and a Parquet export reads
/// back as the same records.
#[test]
fn an_export_reads_every_live_row_of_a_range_as_the_records_ingested() {
    use mailscope_engine::exec::Snapshot;
    use mailscope_engine::store::export::{ParquetExport, records_of, rows_in_range};

    let dir = tempfile::tempdir().unwrap();
    let records = tenant(31, 3_000, 3);
    let (first, second) = records.split_at(records.len() / 2);
    let mut store = Store::open(dir.path()).unwrap();
    ingest(&mut store, first.to_vec());
    // The second part settles statuses of the first: some stored rows get deleted.
    ingest(&mut store, second.to_vec());
    drop(store);
    let catalog = Catalog::load(dir.path()).unwrap();
    assert!(
        catalog.segments.iter().any(|s| s.deletes.is_some()),
        "the fixture must have replaced rows"
    );
    let expected = fold(&records);
    let snapshot = Snapshot::load(dir.path()).unwrap();
    let nanos = |t: DateTime<Utc>| t.timestamp_nanos_opt().unwrap();
    let read = |from: DateTime<Utc>, to: DateTime<Utc>| {
        let mut got: Vec<Record> = Vec::new();
        let rows = rows_in_range(&snapshot, nanos(from), nanos(to), |batch| {
            got.extend(records_of(&batch)?);
            Ok(())
        })
        .unwrap();
        assert_eq!(rows, got.len() as u64);
        got
    };
    let everything = read(day_start(), day_start() + TimeDelta::days(4));
    assert_eq!(everything.len(), expected.len(), "every identity once");
    for record in &everything {
        assert_eq!(Some(record), expected.get(&record.identity()));
    }
    // One day: exactly the identities received in it.
    let (from, to) = (
        day_start() + TimeDelta::days(1),
        day_start() + TimeDelta::days(2),
    );
    let day = read(from, to);
    let mut wanted: Vec<&Record> = expected
        .values()
        .filter(|r| r.received >= from && r.received < to)
        .collect();
    wanted.sort_by_key(|r| r.identity());
    let mut got: Vec<&Record> = day.iter().collect();
    got.sort_by_key(|r| r.identity());
    assert_eq!(got, wanted);

    let path = dir.path().join("day.parquet");
    let mut parquet = ParquetExport::new(std::fs::File::create(&path).unwrap()).unwrap();
    rows_in_range(&snapshot, nanos(from), nanos(to), |batch| {
        parquet.write(&batch)
    })
    .unwrap();
    parquet.finish().unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut back: Vec<Record> = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        assert_eq!(
            text_column(&batch, schema::SOURCE_CATEGORY).value(0),
            "test/store"
        );
        back.extend(records_of(&batch).unwrap());
    }
    assert_eq!(back, day);
}
