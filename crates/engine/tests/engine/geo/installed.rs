//! The real data installed by the set-up (`npm ci` in web/): DB-IP Lite City and the ASN
//! ranges of ip-location-db. CI sets `MAILSCOPE_REQUIRE_GEOIP`, so missing files fail there
//! and are skipped (with a note) elsewhere.

use std::path::PathBuf;
use std::sync::Arc;

use mailscope_engine::exec::Value;
use mailscope_engine::geo::{AsnDatabase, GeoDatabase, GeoSchema};

use super::{lookup_by_ip, store_ips};

fn package(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../web/node_modules/@ip-location-db")
        .join(name)
}

fn required<T>(what: &str, opened: mailscope_engine::Result<T>) -> Option<T> {
    match opened {
        Ok(value) => Some(value),
        Err(error) if std::env::var_os("MAILSCOPE_REQUIRE_GEOIP").is_some() => {
            panic!("the {what} is required here: {error} (run `npm ci` in web/)")
        }
        Err(error) => {
            eprintln!("skipping: {error}; run `npm ci` in web/ to install the {what}");
            None
        }
    }
}

#[test]
fn installed_dbip_locates_public_dns_addresses() {
    let Some(db) = required(
        "DB-IP Lite database",
        GeoDatabase::open_dir(&package("dbip-city-mmdb")),
    ) else {
        return;
    };
    let country = |ip: &str| db.lookup_text(ip).and_then(|l| l.country_code.clone());
    assert_eq!(country("8.8.8.8").as_deref(), Some("US"));
    // Anycast IPv6 resolvers (Google's, Cloudflare's) are placed in Canada by DB-IP Lite;
    // Deutsche Telekom's 2003::/19 is unambiguously German.
    assert_eq!(country("2003::1").as_deref(), Some("DE"));
    let info = db.info();
    assert_eq!(info.schema, Some(GeoSchema::DbIpLite));
    assert_eq!(info.ip_versions, [4, 6]);
    assert!(info.build_date.is_some(), "{info:?}");
}

#[test]
fn installed_asn_ranges_know_google() {
    let Some(db) = required(
        "ASN database",
        AsnDatabase::open_dir(&package("asn")).and_then(|db| db.load().map(|()| db)),
    ) else {
        return;
    };
    let google = |ip: &str| db.lookup_text(ip).map(|a| a.number);
    assert_eq!(google("8.8.8.8"), Some(15169));
    assert_eq!(google("2001:4860:4860::8888"), Some(15169));
    let info = db.info();
    assert!(
        info.ranges_ipv4 > 100_000 && info.ranges_ipv6 > 10_000,
        "{info:?}"
    );
    let store = tempfile::tempdir().unwrap();
    store_ips(store.path(), &["8.8.8.8"]);
    let (rows, _) = lookup_by_ip(
        store.path(),
        "asn://default",
        &["asn"],
        None,
        Some(Arc::new(db)),
    );
    assert_eq!(rows["8.8.8.8"], [Value::Int(15169)]);
}

/// The compiled index of the real files answers every address as the files do: random
/// addresses of the whole IPv4 space and of the allocated IPv6 space, and the addresses
/// around each of them (range edges are where a range table goes wrong).
#[test]
fn installed_dbip_index_answers_as_the_files_do() {
    let dir = package("dbip-city-mmdb");
    let Some(indexed) = required("DB-IP Lite database", GeoDatabase::open_dir(&dir)) else {
        return;
    };
    let in_memory = GeoDatabase::open_dir(&dir).unwrap().in_memory();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut located = 0;
    for n in 0..20_000 {
        let base: u128 = if n % 2 == 0 {
            u128::from(next() as u32)
        } else {
            // 2000::/3 with a random /48.
            (0x2000u128 << 112) | (u128::from(next() & 0x1fff_ffff_ffff) << 80)
        };
        for address in [base.wrapping_sub(1), base, base + 1] {
            let ip = if n % 2 == 0 {
                std::net::IpAddr::V4((address as u32).into())
            } else {
                std::net::IpAddr::V6(address.into())
            };
            let answer = indexed.lookup(ip);
            located += usize::from(answer.is_some());
            assert_eq!(answer, in_memory.lookup(ip), "{ip}");
        }
    }
    assert!(located > 10_000, "only {located} addresses located");
    assert!(indexed.info().index.is_some());
}
