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
