//! Properties of the generated tenant: determinism, exact counts, observation order, and
//! shares that make dashboards look like a real organisation's.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Datelike, TimeDelta, TimeZone, Timelike, Utc};
use mailscope_record::{Record, Status};
use mailscope_simulator::tenant::ip::{is_private, table_country};
use mailscope_simulator::{Error, Observation, TenantConfig, generate};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, 0, 0, 0).unwrap()
}

fn config(seed: u64, messages: u64, days: u32) -> TenantConfig {
    TenantConfig {
        seed,
        messages,
        start: start(),
        days,
    }
}

fn fingerprint(config: &TenantConfig, take: usize) -> u64 {
    let mut hasher = DefaultHasher::new();
    for observation in generate(config).unwrap().take(take) {
        format!("{:?}", observation).hash(&mut hasher);
    }
    hasher.finish()
}

#[test]
fn same_seed_same_stream_other_seed_other_tenant() {
    let a = config(7, 60_000, 7);
    assert_eq!(fingerprint(&a, 50_000), fingerprint(&a, 50_000));
    let b = config(8, 60_000, 7);
    assert_ne!(fingerprint(&a, 50_000), fingerprint(&b, 50_000));
    let (ga, gb) = (generate(&a).unwrap(), generate(&b).unwrap());
    assert_ne!(ga.tenant().organization, gb.tenant().organization);
}

/// Folds the stream: last observation wins per identity.
fn fold(
    observations: impl Iterator<Item = Observation>,
) -> (HashMap<(String, String), Record>, usize) {
    let mut last: Option<DateTime<Utc>> = None;
    let mut finals = HashMap::new();
    let mut count = 0;
    for observation in observations {
        if let Some(previous) = last {
            assert!(
                observation.observed_at >= previous,
                "observed_at went backwards"
            );
        }
        assert!(observation.observed_at >= observation.record.received);
        last = Some(observation.observed_at);
        count += 1;
        let key = (
            observation.record.message_trace_id.clone(),
            observation.record.recipient_address.clone(),
        );
        if let Some(earlier) = finals.get(&key) {
            let earlier: &Record = earlier;
            let mut same = earlier.clone();
            same.status = observation.record.status.clone();
            assert_eq!(
                same, observation.record,
                "re-observation changed more than the status"
            );
            assert!(earlier.status.finality() <= observation.record.status.finality());
        }
        finals.insert(key, observation.record);
    }
    (finals, count)
}

#[test]
fn exact_count_ordered_and_folds_to_final_records() {
    for (seed, messages, days) in [(1, 0, 1), (2, 1, 1), (3, 12_345, 3), (4, 40_000, 10)] {
        let config = config(seed, messages, days);
        let organization = generate(&config).unwrap().tenant().organization.clone();
        let (finals, observations) = fold(generate(&config).unwrap());
        assert_eq!(finals.len() as u64, messages, "seed {seed}");
        assert!(observations as u64 >= messages);
        let end = start() + TimeDelta::days(i64::from(days));
        for record in finals.values() {
            assert!(record.received >= start() && record.received < end);
            assert_eq!(record.organization, organization);
        }
        if messages > 10_000 {
            let late = observations as f64 / messages as f64 - 1.0;
            assert!((0.02..0.07).contains(&late), "re-observed share {late}");
        }
    }
}

#[test]
fn invalid_config_is_an_error() {
    assert_eq!(generate(&config(1, 10, 0)).unwrap_err(), Error::Days(0));
    assert!(matches!(
        generate(&config(1, u64::MAX, 1)),
        Err(Error::Messages(_))
    ));
    assert!(matches!(
        generate(&config(1, 10, 100_000)),
        Err(Error::Days(_))
    ));
    let far = TenantConfig {
        start: DateTime::<Utc>::MAX_UTC,
        ..config(1, 10, 1)
    };
    assert!(matches!(generate(&far), Err(Error::Range(_))));
}

#[test]
fn small_runs_have_every_status() {
    for seed in 0..5 {
        let (finals, _) = fold(generate(&config(seed, 10_000, 7)).unwrap());
        let statuses: HashSet<Status> = finals.values().map(|r| r.status.clone()).collect();
        for status in Status::KNOWN {
            assert!(statuses.contains(&status), "seed {seed} lacks {status}");
        }
    }
}

fn share(part: usize, whole: usize) -> f64 {
    part as f64 / whole as f64
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

#[test]
fn shares_look_like_a_real_tenant() {
    let seed = std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2025);
    let config = config(seed, 200_000, 28);
    let generator = generate(&config).unwrap();
    let tenant = generator.tenant().clone();
    let local = |at: DateTime<Utc>| generator.local_time(at);
    let probe = generate(&config).unwrap();
    let (finals, _) = fold(probe);
    let records: Vec<&Record> = finals.values().collect();
    let n = records.len();
    println!("tenant {tenant:?}\nspecial {:?}", generator.special_days());

    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for record in &records {
        *by_status.entry(record.status.to_string()).or_default() += 1;
    }
    for (status, count) in &by_status {
        println!("{status:>15} {:6.2}%", 100.0 * share(*count, n));
    }
    // The eight statuses of the Reporting Web Service and Graph's recalled.
    assert_eq!(by_status.len(), 9, "{by_status:?}");
    let pct = |s: &str| share(by_status.get(s).copied().unwrap_or(0), n);
    assert!((0.84..0.91).contains(&pct("Delivered")));
    // One internal message in 150 is recalled.
    assert!(
        (0.0005..0.006).contains(&pct("Recalled")),
        "{}",
        pct("Recalled")
    );
    assert!((0.02..0.045).contains(&pct("Failed")));
    assert!((0.015..0.045).contains(&pct("FilteredAsSpam")));
    assert!((0.007..0.025).contains(&pct("Quarantined")));
    assert!((0.008..0.025).contains(&pct("Expanded")));
    assert!((0.004..0.012).contains(&pct("Pending")));
    assert!((0.0008..0.004).contains(&pct("None")));

    // Direction by domain.
    let ours = |address: &str| {
        tenant
            .accepted_domains
            .iter()
            .any(|d| address.ends_with(&format!("@{d}")))
    };
    let (mut internal, mut inbound, mut outbound) = (0, 0, 0);
    for record in &records {
        match (
            ours(&record.sender_address),
            ours(&record.recipient_address),
        ) {
            (true, true) => internal += 1,
            (false, true) => inbound += 1,
            (true, false) => outbound += 1,
            _ => {}
        }
        if !ours(&record.recipient_address) {
            assert!(
                record.to_ip.is_some() || record.status == Status::Expanded,
                "outbound without ToIP"
            );
        } else {
            assert!(record.to_ip.is_none());
        }
        if record.subject.starts_with("Undeliverable: ") {
            assert!(record.sender_address.starts_with("postmaster@") && record.from_ip.is_none());
        }
    }
    println!(
        "internal {:.1}% inbound {:.1}% outbound {:.1}%",
        100.0 * share(internal, n),
        100.0 * share(inbound, n),
        100.0 * share(outbound, n)
    );
    assert!((0.48..0.62).contains(&share(internal, n)));
    assert!((0.23..0.32).contains(&share(inbound, n)));
    assert!((0.13..0.22).contains(&share(outbound, n)));

    // Weekly and daily rhythm, in the tenant's local time.
    let mut per_weekday = [0usize; 7];
    let mut per_hour = [0usize; 24];
    for record in &records {
        let at = local(record.received);
        per_weekday[at.weekday().num_days_from_monday() as usize] += 1;
        if at.weekday().num_days_from_monday() < 5 {
            per_hour[at.hour() as usize] += 1;
        }
    }
    let weekday = per_weekday[..5].iter().sum::<usize>() as f64 / 5.0;
    let weekend = per_weekday[5..].iter().sum::<usize>() as f64 / 2.0;
    println!(
        "weekend/weekday {:.2}, hourly {per_hour:?}",
        weekend / weekday
    );
    assert!((0.18..0.38).contains(&(weekend / weekday)));
    assert!(per_hour[10] > 5 * per_hour[3], "no business-hour peak");

    // Addresses: countries, IPv6, private, null.
    let from: Vec<Option<&String>> = records.iter().map(|r| r.from_ip.as_ref()).collect();
    let countries: HashSet<&str> = from
        .iter()
        .flatten()
        .filter_map(|ip| table_country(ip))
        .collect();
    let v6 = from.iter().flatten().filter(|ip| ip.contains(':')).count();
    let private = from.iter().flatten().filter(|ip| is_private(ip)).count();
    let null = from.iter().filter(|ip| ip.is_none()).count();
    println!(
        "countries {} {countries:?}\nIPv6 {:.1}% private {:.1}% null {:.1}%",
        countries.len(),
        100.0 * share(v6, n),
        100.0 * share(private, n),
        100.0 * share(null, n)
    );
    assert!(countries.len() >= 25);
    assert!((0.04..0.12).contains(&share(v6, n)));
    assert!(private > n / 100 && null > n / 100);

    // Recipients per message.
    let mut per_message: HashMap<&str, usize> = HashMap::new();
    for record in &records {
        *per_message.entry(&record.message_trace_id).or_default() += 1;
    }
    let multi = per_message.values().filter(|&&c| c > 1).count();
    let large = per_message.values().filter(|&&c| c >= 20).count();
    println!(
        "messages {} multi {:.1}% large {large}",
        per_message.len(),
        100.0 * share(multi, per_message.len())
    );
    assert!(multi > per_message.len() / 20 && large > 0);

    // Sizes: one per message.
    let mut sizes: Vec<i64> = records.iter().map(|r| r.size).collect();
    sizes.sort_unstable();
    let over_mb = share(sizes.iter().filter(|&&s| s > 1 << 20).count(), n);
    println!(
        "size median {} p99 {} max {} >1MB {:.2}%",
        percentile(&sizes, 0.5),
        percentile(&sizes, 0.99),
        sizes[n - 1],
        100.0 * over_mb
    );
    assert!((25_000..=55_000).contains(&percentile(&sizes, 0.5)));
    assert!((0.01..0.08).contains(&over_mb));
    assert!(sizes[n - 1] > 15_000_000);
}
