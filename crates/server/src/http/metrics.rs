//! `GET /api/v1/metrics` in the Prometheus text format (version 0.0.4).
//!
//! Written by hand rather than with a metrics crate: the server has a dozen series, one
//! histogram and labels from a fixed set (route templates, status codes), which a few atomics
//! and a formatter cover without another dependency tree in the binary.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use mailscope_engine::exec::QueryInput;
use std::time::Duration;

use mailscope_collect::{CollectorState, TenantStatus};
use mailscope_service::ServiceStats;

/// Upper bounds of the query duration histogram, in seconds (the last one is the default
/// time limit).
const BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    durations: [AtomicU64; BUCKETS.len()],
    duration_count: AtomicU64,
    duration_micros: AtomicU64,
    running: AtomicI64,
    cancelled: AtomicU64,
    timed_out: AtomicU64,
    cache_hits: AtomicU64,
    cache_bytes: AtomicU64,
    /// Queries that ran, by input: rows, partial aggregates.
    inputs: [AtomicU64; 2],
    ingest: Mutex<BTreeMap<&'static str, u64>>,
}

/// What the store says at scrape time.
#[derive(Debug, Clone, Copy)]
pub struct StoreFigures {
    pub rows: u64,
    pub generation: u64,
    /// Rows deletion vectors hide, still in their segments until a merge.
    pub deleted_rows: u64,
    /// Segments with a deletion vector (answered from rows, not their rollups).
    pub segments_with_deletes: u64,
}

impl mailscope_service::Observer for Metrics {
    fn query_started(&self) {
        Metrics::query_started(self);
    }
    fn query_finished(&self) {
        Metrics::query_finished(self);
    }
    fn query_ran(&self, elapsed: Duration) {
        self.query_duration(elapsed);
    }
    fn query_cancelled(&self) {
        Metrics::query_cancelled(self);
    }
    fn query_timed_out(&self) {
        Metrics::query_timed_out(self);
    }
    fn cache_hit(&self) {
        Metrics::cache_hit(self);
    }
    fn cache_bytes(&self, bytes: usize) {
        Metrics::cache_bytes(self, bytes);
    }
    fn query_input(&self, input: QueryInput) {
        let index = usize::from(input == QueryInput::PartialAggregates);
        self.inputs[index].fetch_add(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub fn request(&self, route: &str, status: u16) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((route.to_owned(), status)).or_default() += 1;
        }
    }

    pub fn query_started(&self) {
        self.running.fetch_add(1, Ordering::Relaxed);
    }

    pub fn query_finished(&self) {
        self.running.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn query_duration(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.durations) {
            if seconds <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.duration_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn query_cancelled(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn query_timed_out(&self) {
        self.timed_out.fetch_add(1, Ordering::Relaxed);
    }

    pub fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn cache_bytes(&self, bytes: usize) {
        self.cache_bytes.store(bytes as u64, Ordering::Relaxed);
    }

    /// Records of one ingest request by outcome (`read`, `bad`, `added`, ...).
    pub fn ingested(&self, outcome: &'static str, records: u64) {
        if let Ok(mut ingest) = self.ingest.lock() {
            *ingest.entry(outcome).or_default() += records;
        }
    }

    pub fn render(
        &self,
        store: Option<StoreFigures>,
        service: Option<ServiceStats>,
        collectors: &[TenantStatus],
    ) -> String {
        let mut out = String::new();
        let _ = self.write(&mut out, store);
        if let Some(service) = service {
            let _ = write_service(&mut out, &service);
        }
        if !collectors.is_empty() {
            let _ = write_collectors(&mut out, collectors, chrono::Utc::now());
        }
        out
    }

    fn write(&self, out: &mut String, store: Option<StoreFigures>) -> std::fmt::Result {
        writeln!(
            out,
            "# HELP mailscope_http_requests_total HTTP requests answered, by route and status."
        )?;
        writeln!(out, "# TYPE mailscope_http_requests_total counter")?;
        if let Ok(requests) = self.requests.lock() {
            for ((route, status), count) in requests.iter() {
                writeln!(
                    out,
                    "mailscope_http_requests_total{{route=\"{}\",status=\"{status}\"}} {count}",
                    escape(route)
                )?;
            }
        }
        writeln!(
            out,
            "# HELP mailscope_query_duration_seconds Time queries took to run (cache hits excluded)."
        )?;
        writeln!(out, "# TYPE mailscope_query_duration_seconds histogram")?;
        for (bound, count) in BUCKETS.iter().zip(&self.durations) {
            writeln!(
                out,
                "mailscope_query_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            )?;
        }
        let count = self.duration_count.load(Ordering::Relaxed);
        writeln!(
            out,
            "mailscope_query_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        )?;
        let sum = self.duration_micros.load(Ordering::Relaxed) as f64 / 1e6;
        writeln!(out, "mailscope_query_duration_seconds_sum {sum}")?;
        writeln!(out, "mailscope_query_duration_seconds_count {count}")?;
        let gauges_and_counters: [(&str, &str, &str, i128); 5] = [
            (
                "mailscope_queries_running",
                "gauge",
                "Queries running now.",
                i128::from(self.running.load(Ordering::Relaxed)),
            ),
            (
                "mailscope_queries_cancelled_total",
                "counter",
                "Queries cancelled by a client.",
                i128::from(self.cancelled.load(Ordering::Relaxed)),
            ),
            (
                "mailscope_queries_timed_out_total",
                "counter",
                "Queries cancelled for running past the time limit.",
                i128::from(self.timed_out.load(Ordering::Relaxed)),
            ),
            (
                "mailscope_query_cache_hits_total",
                "counter",
                "Queries answered from the result cache.",
                i128::from(self.cache_hits.load(Ordering::Relaxed)),
            ),
            (
                "mailscope_query_cache_bytes",
                "gauge",
                "Approximate memory held by cached results.",
                i128::from(self.cache_bytes.load(Ordering::Relaxed)),
            ),
        ];
        for (name, kind, help, value) in gauges_and_counters {
            writeln!(out, "# HELP {name} {help}")?;
            writeln!(out, "# TYPE {name} {kind}")?;
            writeln!(out, "{name} {value}")?;
        }
        writeln!(
            out,
            "# HELP mailscope_query_inputs_total Queries that ran, by what answered them."
        )?;
        writeln!(out, "# TYPE mailscope_query_inputs_total counter")?;
        for (input, count) in [QueryInput::Rows, QueryInput::PartialAggregates]
            .into_iter()
            .zip(&self.inputs)
        {
            writeln!(
                out,
                "mailscope_query_inputs_total{{input=\"{}\"}} {}",
                input.as_str(),
                count.load(Ordering::Relaxed)
            )?;
        }
        if let Some(store) = store {
            writeln!(out, "# HELP mailscope_store_rows Rows in the store.")?;
            writeln!(out, "# TYPE mailscope_store_rows gauge")?;
            writeln!(out, "mailscope_store_rows {}", store.rows)?;
            writeln!(
                out,
                "# HELP mailscope_store_generation Publishes of the store so far."
            )?;
            writeln!(out, "# TYPE mailscope_store_generation gauge")?;
            writeln!(out, "mailscope_store_generation {}", store.generation)?;
            writeln!(
                out,
                "# HELP mailscope_store_deleted_rows Rows superseded and hidden by deletion vectors, kept in their segments until a merge."
            )?;
            writeln!(out, "# TYPE mailscope_store_deleted_rows gauge")?;
            writeln!(out, "mailscope_store_deleted_rows {}", store.deleted_rows)?;
            writeln!(
                out,
                "# HELP mailscope_store_segments_with_deletes Segments with a deletion vector: queries read their rows, not their partial aggregates."
            )?;
            writeln!(out, "# TYPE mailscope_store_segments_with_deletes gauge")?;
            writeln!(
                out,
                "mailscope_store_segments_with_deletes {}",
                store.segments_with_deletes
            )?;
        }
        writeln!(
            out,
            "# HELP mailscope_ingest_records_total Records posted to the ingest endpoint, by outcome."
        )?;
        writeln!(out, "# TYPE mailscope_ingest_records_total counter")?;
        if let Ok(ingest) = self.ingest.lock() {
            for (outcome, count) in ingest.iter() {
                writeln!(
                    out,
                    "mailscope_ingest_records_total{{outcome=\"{outcome}\"}} {count}"
                )?;
            }
        }
        Ok(())
    }
}

/// The query service's admission queue and memory pool.
fn write_service(out: &mut String, service: &ServiceStats) -> std::fmt::Result {
    let memory = &service.memory;
    let series: [(&str, &str, u64); 6] = [
        (
            "mailscope_queries_admitted",
            "Queries holding one of the places to run now.",
            service.running as u64,
        ),
        (
            "mailscope_queries_queued",
            "Queries waiting for a place to run.",
            service.queued as u64,
        ),
        (
            "mailscope_queries_max_running",
            "Places to run: queries beyond them wait.",
            service.max_running as u64,
        ),
        (
            "mailscope_query_memory_reserved_bytes",
            "Memory reserved by the operators of running queries.",
            memory.reserved_bytes as u64,
        ),
        (
            "mailscope_query_memory_limit_bytes",
            "The query memory pool's size (0: unbounded).",
            memory.limit_bytes.unwrap_or(0) as u64,
        ),
        (
            "mailscope_query_spill_bytes",
            "Bytes of temporary spill files on disk now.",
            memory.spilled_bytes,
        ),
    ];
    for (name, help, value) in series {
        writeln!(out, "# HELP {name} {help}")?;
        writeln!(out, "# TYPE {name} gauge")?;
        writeln!(out, "{name} {value}")?;
    }
    Ok(())
}

/// A label value: backslash, quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The collectors this process runs, one series per tenant.
fn write_collectors(
    out: &mut String,
    collectors: &[TenantStatus],
    now: chrono::DateTime<chrono::Utc>,
) -> std::fmt::Result {
    writeln!(
        out,
        "# HELP mailscope_collector_lag_seconds How far behind now each tenant's collection has reached."
    )?;
    writeln!(out, "# TYPE mailscope_collector_lag_seconds gauge")?;
    for status in collectors {
        if let Some(checkpoint) = status.checkpoint {
            writeln!(
                out,
                "mailscope_collector_lag_seconds{{tenant=\"{}\"}} {}",
                escape(&status.tenant),
                (now - checkpoint).num_seconds().max(0)
            )?;
        }
    }
    writeln!(
        out,
        "# HELP mailscope_collector_records_total Records each tenant's collector received and committed."
    )?;
    writeln!(out, "# TYPE mailscope_collector_records_total counter")?;
    for status in collectors {
        writeln!(
            out,
            "mailscope_collector_records_total{{tenant=\"{}\"}} {}",
            escape(&status.tenant),
            status.records
        )?;
    }
    writeln!(
        out,
        "# HELP mailscope_collector_polls_total Polls of each tenant, by outcome."
    )?;
    writeln!(out, "# TYPE mailscope_collector_polls_total counter")?;
    for status in collectors {
        let tenant = escape(&status.tenant);
        writeln!(
            out,
            "mailscope_collector_polls_total{{tenant=\"{tenant}\",outcome=\"ok\"}} {}",
            status.polls
        )?;
        writeln!(
            out,
            "mailscope_collector_polls_total{{tenant=\"{tenant}\",outcome=\"failed\"}} {}",
            status.failed_polls
        )?;
    }
    writeln!(
        out,
        "# HELP mailscope_collector_state Each tenant's collector state (1 for the current one)."
    )?;
    writeln!(out, "# TYPE mailscope_collector_state gauge")?;
    for status in collectors {
        for state in CollectorState::ALL {
            writeln!(
                out,
                "mailscope_collector_state{{tenant=\"{}\",state=\"{}\"}} {}",
                escape(&status.tenant),
                state.name(),
                u8::from(status.state == state)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_has_every_series() {
        let metrics = Metrics::default();
        metrics.request("/api/v1/query", 200);
        metrics.request("/api/v1/query", 200);
        metrics.query_duration(Duration::from_millis(300));
        metrics.ingested("added", 3);
        let text = metrics.render(
            Some(StoreFigures {
                rows: 5,
                generation: 2,
                deleted_rows: 1,
                segments_with_deletes: 1,
            }),
            Some(ServiceStats {
                backend: "local",
                running: 1,
                queued: 3,
                max_running: 2,
                memory: Default::default(),
            }),
            &[{
                let mut status = TenantStatus::new("contoso", "graph");
                status.state = CollectorState::Failing;
                status.records = 42;
                status.polls = 3;
                status.failed_polls = 1;
                status.checkpoint = Some(chrono::Utc::now() - chrono::TimeDelta::seconds(90));
                status
            }],
        );
        let lag = text
            .lines()
            .find_map(|l| l.strip_prefix("mailscope_collector_lag_seconds{tenant=\"contoso\"} "))
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or_default();
        assert!((90..100).contains(&lag), "{text}");
        for line in [
            "mailscope_collector_records_total{tenant=\"contoso\"} 42",
            "mailscope_collector_polls_total{tenant=\"contoso\",outcome=\"ok\"} 3",
            "mailscope_collector_polls_total{tenant=\"contoso\",outcome=\"failed\"} 1",
            "mailscope_collector_state{tenant=\"contoso\",state=\"failing\"} 1",
            "mailscope_collector_state{tenant=\"contoso\",state=\"collecting\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        for line in [
            "mailscope_http_requests_total{route=\"/api/v1/query\",status=\"200\"} 2",
            "mailscope_query_duration_seconds_bucket{le=\"0.25\"} 0",
            "mailscope_query_duration_seconds_bucket{le=\"0.5\"} 1",
            "mailscope_query_duration_seconds_bucket{le=\"+Inf\"} 1",
            "mailscope_query_duration_seconds_count 1",
            "mailscope_queries_running 0",
            "mailscope_store_rows 5",
            "mailscope_store_generation 2",
            "mailscope_store_deleted_rows 1",
            "mailscope_store_segments_with_deletes 1",
            "mailscope_ingest_records_total{outcome=\"added\"} 3",
            "mailscope_queries_queued 3",
            "mailscope_queries_admitted 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
    }
}
