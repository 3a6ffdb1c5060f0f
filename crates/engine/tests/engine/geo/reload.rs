//! Replacing database files while the process runs: the next lookups use the new data, a
//! damaged replacement keeps the old data, and rows keep the answer they were stored with.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mailscope_engine::geo::{AsnDatabase, GeoDatabase};

use super::city::{write_dbip, write_maxmind};
use super::mmdb_writer::write_atomically;
use super::{lookup_by_ip, text};
use crate::query::{JSON, meta, record};

const FAST: Duration = Duration::from_millis(20);

/// Polls until `done` holds; fails after a generous bound (no timing is asserted).
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn city(db: &GeoDatabase, ip: &str) -> Option<String> {
    db.lookup_text(ip).and_then(|l| l.city.clone())
}

#[test]
fn a_replaced_maxmind_file_is_used_and_a_damaged_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("GeoLite2-City.mmdb");
    write_maxmind(&path, "London");
    let db = GeoDatabase::open_file(&path)
        .unwrap()
        .with_reload_interval(FAST);
    assert_eq!(city(&db, "81.2.69.144").as_deref(), Some("London"));
    write_maxmind(&path, "City of London");
    eventually("the new city", || {
        city(&db, "81.2.69.144").as_deref() == Some("City of London")
    });
    assert_eq!(db.info().generation, 2);
    write_atomically(&path, b"garbage, not a database");
    eventually("the failed reload", || db.info().last_error.is_some());
    assert_eq!(
        city(&db, "81.2.69.144").as_deref(),
        Some("City of London"),
        "the previous data stays in use"
    );
    assert_eq!(db.info().generation, 2);
    write_maxmind(&path, "Londinium");
    eventually("recovery", || {
        city(&db, "81.2.69.144").as_deref() == Some("Londinium")
    });
    assert_eq!(db.info().last_error, None);
}

#[test]
fn a_replaced_dbip_pair_reloads_and_stored_rows_keep_their_answer() {
    let dir = tempfile::tempdir().unwrap();
    write_dbip(dir.path(), "London");
    let geo = Arc::new(
        GeoDatabase::open_dir(dir.path())
            .unwrap()
            .with_reload_interval(FAST),
    );
    let store = tempfile::tempdir().unwrap();
    // Stored with the first data: enriched at ingest.
    let mut writer = mailscope_engine::store::Store::open(store.path()).unwrap();
    let mut ingest = writer.ingest(Some(Arc::clone(&geo)), meta());
    ingest
        .push(record(
            1,
            mailscope_record::Status::Delivered,
            "2026-10-24T10:00:00Z",
            Some("81.2.69.144"),
        ))
        .unwrap();
    ingest.commit().unwrap();
    drop(writer);
    let before = geo.version();
    write_dbip(dir.path(), "Westminster");
    eventually("the new city", || {
        city(&geo, "81.2.69.144").as_deref() == Some("Westminster")
    });
    assert_eq!(geo.version(), before, "same build epoch and type");
    let (rows, _) = lookup_by_ip(
        store.path(),
        "geo://location",
        &["city"],
        Some(Arc::clone(&geo)),
        None,
    );
    assert_eq!(
        rows["81.2.69.144"],
        [text("London")],
        "a stored row keeps its ingest-time answer"
    );
    // A computed IP is looked up at query time, with the new data.
    let query = format!(
        "{JSON} | \"81.2.69.144\" as ip | lookup city from geo://location on ip = ip | count by city"
    );
    let result = super::run(store.path(), &query, Some(geo), None);
    assert_eq!(result.rows[0][0], text("Westminster"));
}

#[test]
fn a_replaced_asn_csv_reloads_and_a_broken_one_keeps_the_old_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("asn-ipv4.csv");
    write_atomically(&path, b"8.8.8.0,8.8.8.255,15169,Google LLC\n");
    let asn = AsnDatabase::open_path(&path)
        .unwrap()
        .with_reload_interval(FAST);
    assert_eq!(asn.lookup_text("8.8.8.8").unwrap().number, 15169);
    write_atomically(&path, b"8.8.8.0,8.8.8.255,64500,Example Networks\n");
    eventually("the new AS", || {
        asn.lookup_text("8.8.8.8").map(|a| a.number) == Some(64500)
    });
    write_atomically(&path, b"nothing,usable,here\n");
    eventually("the failed reload", || asn.info().last_error.is_some());
    assert_eq!(asn.lookup_text("8.8.8.8").unwrap().number, 64500);
}
