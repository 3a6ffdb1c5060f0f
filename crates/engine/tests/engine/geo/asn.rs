//! AS numbers from CSV ranges and from a MaxMind DB ASN file, through the API and queries.

use std::path::Path;
use std::sync::Arc;

use mailscope_engine::exec::Value;
use mailscope_engine::geo::AsnDatabase;

use super::city::{BUILD_EPOCH, write_dbip};
use super::mmdb_writer::{MmdbWriter, Value as V, map, text as mtext};
use super::{lookup_by_ip, run, store_ips, text};
use crate::query::JSON;

const IPV4_CSV: &str = "\
1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"
8.8.4.0,8.8.4.255,15169,Google LLC
8.8.8.0,8.8.8.255,15169,Google LLC
2.26.200.0,2.26.215.255,201907,\"LLC \"\"SPUTNIK\"\"\"
10.0.0.0,10.255.255.255,64512,Private Use
this is not a range
9.9.9.0,9.9.9.255,not-a-number,Quad9
9.9.8.0,9.9.7.255,19281,Backwards
8.8.8.128,8.8.9.255,64496,Overlapping
1.1.1.0,1.1.1.255,13335,\"unterminated
";

const IPV6_CSV: &str = "\
2001:4860::,2001:4860:4804:ffff:ffff:ffff:ffff:ffff,15169,Google LLC
2a02:8800::,2a02:8800:ffff:ffff:ffff:ffff:ffff:ffff,6830,Liberty Global B.V.
fc00::,fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,64512,Unique Local
2001:4860::,1.2.3.4,1,Mixed
";

fn write_csv(dir: &Path) {
    std::fs::write(dir.join("asn-ipv4.csv"), IPV4_CSV).unwrap();
    std::fs::write(dir.join("asn-ipv6.csv"), IPV6_CSV).unwrap();
}

fn number(db: &AsnDatabase, ip: &str) -> Option<(u32, Option<String>)> {
    db.lookup_text(ip)
        .map(|a| (a.number, a.organization.as_deref().map(str::to_owned)))
}

const MISSES: [&str; 11] = [
    "10.1.2.3",
    "192.168.1.1",
    "0.0.0.0",
    "240.0.0.1",
    "fd00::1",
    "::1",
    "999.1.1.1",
    "abc",
    "",
    "9.9.9.9",
    "8.8.5.1",
];

#[test]
fn csv_ranges_answer_ipv4_and_ipv6_and_malformed_lines_are_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(dir.path());
    let db = AsnDatabase::open_dir(dir.path()).unwrap();
    assert!(!db.info().loaded);
    db.load().unwrap();
    let google = Some((15169, Some("Google LLC".to_owned())));
    assert_eq!(number(&db, "8.8.8.8"), google);
    assert_eq!(number(&db, "8.8.8.255"), google, "inclusive end");
    assert_eq!(number(&db, "8.8.4.0"), google);
    assert_eq!(
        number(&db, "1.0.0.1"),
        Some((13335, Some("Cloudflare, Inc.".to_owned())))
    );
    assert_eq!(
        number(&db, "2.26.201.1"),
        Some((201907, Some("LLC \"SPUTNIK\"".to_owned())))
    );
    assert_eq!(number(&db, "2001:4860:4001::8888"), google);
    assert_eq!(number(&db, "::ffff:8.8.8.8"), google);
    assert_eq!(number(&db, "2a02:8800:1::5").map(|a| a.0), Some(6830));
    for miss in MISSES {
        assert_eq!(number(&db, miss), None, "{miss:?}");
    }
    let info = db.info();
    assert_eq!((info.ranges_ipv4, info.ranges_ipv6), (5, 3));
    assert_eq!(info.malformed_count, 6, "{:?}", info.malformed);
    let v4 = dir.path().join("asn-ipv4.csv").display().to_string();
    let v6 = dir.path().join("asn-ipv6.csv").display().to_string();
    for (file, line, reason) in [
        (&v4, 6, "expected 4 fields"),
        (&v4, 7, "not an AS number"),
        (&v4, 8, "ends before it starts"),
        (&v4, 10, "unterminated"),
        (&v6, 4, "mixes IPv4 and IPv6"),
        (&v4, 9, "overlaps"),
    ] {
        let prefix = format!("{file}:{line}: ");
        assert!(
            info.malformed
                .iter()
                .any(|m| m.starts_with(&prefix) && m.contains(reason)),
            "{prefix}{reason} in {:?}",
            info.malformed
        );
    }
}

#[test]
fn a_csv_without_any_usable_line_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("asn.csv");
    std::fs::write(&path, "garbage\n").unwrap();
    let error = AsnDatabase::open_path(&path).unwrap().load().unwrap_err();
    assert!(error.to_string().contains("no usable ASN range"), "{error}");
    assert!(error.to_string().starts_with("ASN database "), "{error}");
    assert!(AsnDatabase::open_dir(&dir.path().join("missing")).is_err());
}

fn write_mmdb(path: &Path, database_type: &str) {
    let record = |number: u32, organization: &str| {
        map(&[
            ("autonomous_system_number", V::U32(number)),
            ("autonomous_system_organization", mtext(organization)),
        ])
    };
    let mut db = MmdbWriter::new(database_type, 6, BUILD_EPOCH);
    db.insert("8.8.8.0/24", &record(15169, "Google LLC"))
        .insert("10.0.0.0/8", &record(64512, "Private"))
        .insert("2001:4860::/32", &record(15169, "Google LLC"))
        .insert("2a02:8800::/32", &record(6830, "Liberty Global B.V."))
        .insert("fc00::/7", &record(64512, "Private"));
    db.write(path);
}

#[test]
fn a_maxmind_asn_file_answers_ipv4_and_ipv6() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("GeoLite2-ASN.mmdb");
    write_mmdb(&path, "GeoLite2-ASN");
    for db in [
        AsnDatabase::open_path(&path).unwrap(),
        AsnDatabase::open_dir(dir.path()).unwrap(),
    ] {
        let google = Some((15169, Some("Google LLC".to_owned())));
        assert_eq!(number(&db, "8.8.8.8"), google);
        assert_eq!(number(&db, "2001:4860:4001::8888"), google);
        assert_eq!(number(&db, "2a02:8800:1::5").map(|a| a.0), Some(6830));
        for miss in MISSES {
            assert_eq!(number(&db, miss), None, "{miss:?}");
        }
        let info = db.info();
        assert_eq!(info.format, "mmdb");
        assert_eq!(info.database_type.as_deref(), Some("GeoLite2-ASN"));
        assert_eq!(
            info.build_date.as_deref(),
            Some("2026-06-05T12:00:00+00:00")
        );
    }
    let city = dir.path().join("city");
    std::fs::create_dir(&city).unwrap();
    write_dbip(&city, "London");
    let error = AsnDatabase::open_path(&city.join("dbip-city-ipv4.mmdb"))
        .unwrap()
        .load()
        .unwrap_err();
    assert!(error.to_string().contains("not an ASN database"), "{error}");
}

#[test]
fn queries_answer_asn_and_as_org_from_csv_and_mmdb() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(dir.path());
    let mmdb = dir.path().join("asn.mmdb");
    write_mmdb(&mmdb, "DBIP-ASN-Lite (compat=GeoLite2-ASN)");
    let store = tempfile::tempdir().unwrap();
    let mut ips = vec!["8.8.8.8", "2001:4860:4001::8888", "2a02:8800:1::5"];
    ips.extend(MISSES);
    store_ips(store.path(), &ips);
    for db in [
        AsnDatabase::open_dir(dir.path()).unwrap(),
        AsnDatabase::open_path(&mmdb).unwrap(),
    ] {
        let db = Arc::new(db);
        let (rows, warnings) = lookup_by_ip(
            store.path(),
            "asn://default",
            &["asn", "as_org"],
            None,
            Some(Arc::clone(&db)),
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        let google = vec![Value::Int(15169), text("Google LLC")];
        assert_eq!(rows["8.8.8.8"], google);
        assert_eq!(rows["2001:4860:4001::8888"], google);
        assert_eq!(rows["2a02:8800:1::5"][0], Value::Int(6830));
        for miss in MISSES {
            assert_eq!(rows[miss], vec![Value::Null, Value::Null], "{miss:?}");
        }
        // `geoip` takes the ASN columns as extra columns.
        let query = format!(
            "{JSON} | where fromIP = \"8.8.8.8\" | geoip fromIP asn, as_org | count by asn, as_org"
        );
        let result = run(store.path(), &query, None, Some(db));
        assert_eq!(
            result.rows,
            vec![vec![Value::Int(15169), text("Google LLC"), Value::Int(1)]]
        );
    }
}

#[test]
fn without_an_asn_database_the_columns_are_null_with_a_warning() {
    let store = tempfile::tempdir().unwrap();
    store_ips(store.path(), &["8.8.8.8"]);
    let (rows, warnings) = lookup_by_ip(
        store.path(),
        "asn://default",
        &["asn", "as_org"],
        None,
        None,
    );
    assert_eq!(rows["8.8.8.8"], vec![Value::Null, Value::Null]);
    assert!(
        warnings.iter().any(|w| w.contains("no ASN database")),
        "{warnings:?}"
    );
}
