//! The service: compile, snapshot, cache, admission, run under a time limit, cancel.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailscope_engine::exec::{MemoryStats, QueryOptions};
use mailscope_query::Diagnostic;
use mailscope_query::ir::Scope;
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;
use tracing::Instrument;

use crate::backend::Backend;
use crate::cache::Cache;
use crate::table::Table;

/// How a service runs its queries.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The longest a query may run once admitted (waiting for a turn does not count);
    /// `None`: no limit.
    pub timeout: Option<Duration>,
    /// Memory for finished results kept for paging and repeated dashboard loads (0: none).
    pub cache_bytes: usize,
    /// Rows a query without aggregation returns at most.
    pub max_raw_rows: usize,
    /// Queries that run at once; the others wait in order of arrival.
    pub max_running: usize,
}

impl ServiceConfig {
    /// One query at a time, no cache, no time limit: a one-shot command.
    pub fn one_shot(max_raw_rows: usize) -> ServiceConfig {
        ServiceConfig {
            timeout: None,
            cache_bytes: 0,
            max_raw_rows,
            max_running: 1,
        }
    }
}

/// A query as a caller hands it over (variables not yet substituted).
#[derive(Debug, Clone)]
pub struct QueryRequest {
    pub text: String,
    pub variables: BTreeMap<String, String>,
    /// Range, time zone and enrichment; `max_raw_rows` is the service's.
    pub options: QueryOptions,
    /// The client's id, to cancel the query by.
    pub id: Option<String>,
}

impl QueryRequest {
    pub fn new(text: impl Into<String>, options: QueryOptions) -> QueryRequest {
        QueryRequest {
            text: text.into(),
            variables: BTreeMap::new(),
            options,
            id: None,
        }
    }
}

#[derive(Debug)]
pub struct Answer {
    pub table: Arc<Table>,
    pub cached: bool,
    /// The keywords of the query's scope that a matching row contains (not those under an
    /// odd number of `NOT`s), for highlighting.
    pub keywords: Vec<String>,
    /// The store generation the answer belongs to.
    pub generation: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query does not compile.
    #[error("the query does not compile: {}", .0.iter().map(|d| d.message.as_str()).collect::<Vec<_>>().join("; "))]
    Compile(Vec<Diagnostic>),
    /// Another query with this id is running.
    #[error("a query with id {0:?} is running already")]
    DuplicateId(String),
    #[error("the query was cancelled")]
    Cancelled,
    #[error("the query ran longer than {0:?} and was cancelled")]
    TimedOut(Duration),
    /// The query compiled but failed while running (a memory budget too small included).
    #[error(transparent)]
    Failed(#[from] mailscope_engine::Error),
    /// Something in the service failed (a task panicked).
    #[error("the query task failed: {0}")]
    Internal(String),
}

/// What the service reports as it works (the server's metrics implement it).
pub trait Observer: Send + Sync {
    fn query_started(&self) {}
    fn query_finished(&self) {}
    /// A query ran on the back end (cache hits excluded).
    fn query_ran(&self, _elapsed: Duration) {}
    /// What answered a query that ran: rows or partial aggregates.
    fn query_input(&self, _input: mailscope_engine::exec::QueryInput) {}
    fn query_cancelled(&self) {}
    fn query_timed_out(&self) {}
    fn cache_hit(&self) {}
    fn cache_bytes(&self, _bytes: usize) {}
}

impl Observer for () {}

/// What the service is doing now, for health and metrics.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ServiceStats {
    pub backend: &'static str,
    pub running: usize,
    pub queued: usize,
    pub max_running: usize,
    pub memory: MemoryStats,
}

struct Running {
    abort: AbortHandle,
    cancelled: Arc<AtomicBool>,
}

pub struct QueryService {
    runtime: tokio::runtime::Handle,
    backend: Arc<dyn Backend>,
    config: ServiceConfig,
    running: Mutex<HashMap<String, Running>>,
    cache: Arc<Mutex<Cache>>,
    admission: Arc<Semaphore>,
    queued: Arc<AtomicUsize>,
    observer: Arc<dyn Observer>,
    /// `config.max_running`, as the admission semaphore counts its permits.
    places: u32,
}

impl std::fmt::Debug for QueryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryService")
            .field("backend", &self.backend.name())
            .field("config", &self.config)
            .finish()
    }
}

/// Stops a query when its caller goes away (an HTTP client disconnected) and forgets its id.
struct Guard<'a> {
    service: &'a QueryService,
    id: Option<String>,
    abort: AbortHandle,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.abort.abort();
        if let Some(id) = &self.id
            && let Ok(mut running) = self.service.running.lock()
        {
            running.remove(id);
        }
        self.service.observer.query_finished();
    }
}

/// A runtime for queries: its own threads, so a long query never delays an HTTP server.
/// Dropped by the caller outside any async context.
pub fn query_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("mailscope-query")
        .enable_all()
        .build()
}

/// The keywords a row found by `scope` contains: every keyword not negated.
pub fn positive_keywords(scope: &Scope) -> Vec<String> {
    fn walk(scope: &Scope, negated: bool, out: &mut Vec<String>) {
        match scope {
            Scope::Keyword { pattern } if !negated && !out.contains(pattern) => {
                out.push(pattern.clone())
            }
            Scope::And(a, b) | Scope::Or(a, b) => {
                walk(a, negated, out);
                walk(b, negated, out);
            }
            Scope::Not(inner) => walk(inner, !negated, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(scope, false, &mut out);
    out
}

impl QueryService {
    /// Queries run as tasks on `runtime`.
    pub fn new(
        runtime: tokio::runtime::Handle,
        backend: Arc<dyn Backend>,
        config: ServiceConfig,
        observer: Arc<dyn Observer>,
    ) -> QueryService {
        let max_running = config.max_running.max(1);
        QueryService {
            runtime,
            backend,
            cache: Arc::new(Mutex::new(Cache::new(config.cache_bytes))),
            admission: Arc::new(Semaphore::new(max_running)),
            queued: Arc::new(AtomicUsize::new(0)),
            config: ServiceConfig {
                max_running,
                ..config
            },
            running: Mutex::new(HashMap::new()),
            observer,
            places: u32::try_from(max_running).unwrap_or(u32::MAX),
        }
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    pub fn stats(&self) -> ServiceStats {
        let max_running = self.config.max_running;
        ServiceStats {
            backend: self.backend.name(),
            running: max_running.saturating_sub(self.admission.available_permits()),
            queued: self.queued.load(Ordering::Relaxed),
            max_running,
            memory: self.backend.memory(),
        }
    }

    /// Cancels the running query started with `id`; false when none runs.
    pub fn cancel(&self, id: &str) -> bool {
        let Ok(running) = self.running.lock() else {
            return false;
        };
        match running.get(id) {
            Some(query) => {
                query.cancelled.store(true, Ordering::SeqCst);
                query.abort.abort();
                true
            }
            None => false,
        }
    }

    /// Compiles the request, answers from the cache or runs it on the back end.
    pub async fn run(&self, request: QueryRequest) -> Result<Answer, QueryError> {
        let compiled = mailscope_query::compile_with_variables(&request.text, &request.variables)
            .map_err(QueryError::Compile)?;
        let keywords = positive_keywords(&compiled.scope);
        let key_base = cache_key(&request);
        let mut options = request.options.clone();
        options.max_raw_rows = self.config.max_raw_rows;
        let backend = self.backend.clone();
        let observer = self.observer.clone();
        let cache = self.cache.clone();
        let admission = self.admission.clone();
        let queued = self.queued.clone();
        let limit = self.config.timeout;
        let places = self.places;
        let use_cache = self.config.cache_bytes > 0;
        let span = tracing::info_span!(
            "query",
            backend = backend.name(),
            generation = tracing::field::Empty,
            cached = tracing::field::Empty,
            rows = tracing::field::Empty,
            waited_ms = tracing::field::Empty,
            ran_ms = tracing::field::Empty,
        );
        let work = async move {
            let snapshot = backend.snapshot().await?;
            let generation = snapshot.generation();
            let span = tracing::Span::current();
            span.record("generation", generation);
            let key = format!("{key_base}\u{0}{}\u{0}{generation}", backend.name());
            if use_cache && let Some(table) = cache.lock().ok().and_then(|mut c| c.get(&key)) {
                observer.cache_hit();
                span.record("cached", true);
                tracing::debug!("query answered from the result cache");
                return Ok(Answer {
                    table,
                    cached: true,
                    keywords,
                    generation,
                });
            }
            let table = Arc::new(Table::new(
                admitted(
                    &admission,
                    places,
                    &queued,
                    limit,
                    || backend.execute(&snapshot, &compiled, &options),
                    observer.as_ref(),
                )
                .await?,
            ));
            span.record("cached", false);
            span.record("rows", table.result.rows.len());
            observer.query_input(table.result.input);
            tracing::debug!(input = table.result.input.as_str(), "query answered");
            if use_cache && let Ok(mut cache) = cache.lock() {
                cache.put(key, table.clone());
                observer.cache_bytes(cache.bytes);
            }
            Ok(Answer {
                table,
                cached: false,
                keywords,
                generation,
            })
        }
        .instrument(span);
        self.supervise(request.id.as_deref(), work).await
    }

    /// The plans the query would run, as text (see the engine's `explain`).
    pub async fn explain(&self, request: QueryRequest) -> Result<String, QueryError> {
        let compiled = mailscope_query::compile_with_variables(&request.text, &request.variables)
            .map_err(QueryError::Compile)?;
        let mut options = request.options.clone();
        options.max_raw_rows = self.config.max_raw_rows;
        let backend = self.backend.clone();
        let observer = self.observer.clone();
        let admission = self.admission.clone();
        let queued = self.queued.clone();
        let limit = self.config.timeout;
        let places = self.places;
        let work = async move {
            let snapshot = backend.snapshot().await?;
            let plan = admitted(
                &admission,
                places,
                &queued,
                limit,
                || backend.explain(&snapshot, &compiled, &options),
                observer.as_ref(),
            )
            .await?;
            Ok(format!(
                "-- back end: {}, store generation {}\n{plan}",
                backend.name(),
                snapshot.generation()
            ))
        };
        self.supervise(request.id.as_deref(), work).await
    }

    /// Runs `work` on the query runtime with its id claimed first (so a cancel sent right
    /// after the request finds it), under the time limit, stopped when the caller goes away.
    async fn supervise<T, F>(&self, id: Option<&str>, work: F) -> Result<T, QueryError>
    where
        F: std::future::Future<Output = Result<T, QueryError>> + Send + 'static,
        T: Send + 'static,
    {
        let cancelled = Arc::new(AtomicBool::new(false));
        let task = {
            let mut running = self.running.lock().map_err(|_| {
                QueryError::Internal("the registry of running queries is poisoned".into())
            })?;
            if let Some(id) = id
                && running.contains_key(id)
            {
                return Err(QueryError::DuplicateId(id.to_owned()));
            }
            let task = self.runtime.spawn(work);
            if let Some(id) = id {
                running.insert(
                    id.to_owned(),
                    Running {
                        abort: task.abort_handle(),
                        cancelled: cancelled.clone(),
                    },
                );
            }
            task
        };
        self.observer.query_started();
        let _guard = Guard {
            service: self,
            id: id.map(str::to_owned),
            abort: task.abort_handle(),
        };
        // The time limit is on running (see `admitted`), not on waiting for a turn: under
        // load a request waits rather than fails, for as long as its client waits.
        match task.await {
            Ok(answer) => answer,
            Err(join) if join.is_cancelled() && cancelled.load(Ordering::SeqCst) => {
                self.observer.query_cancelled();
                Err(QueryError::Cancelled)
            }
            Err(join) => Err(QueryError::Internal(join.to_string())),
        }
    }
}

/// Runs `work` once one of the service's `places` is free (counting the wait), under the
/// time limit. A query that runs out of memory while others run beside it is run again
/// alone, once every place is free: the pool is shared fairly, so what failed beside others
/// (a distinct count, which cannot spill) often fits with the pool to itself. The request
/// waits rather than fails, as it does for admission.
async fn admitted<T, F, Fut>(
    admission: &Semaphore,
    places: u32,
    queued: &AtomicUsize,
    limit: Option<std::time::Duration>,
    work: F,
    observer: &dyn Observer,
) -> Result<T, QueryError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = mailscope_engine::Result<T>>,
{
    let closed = || QueryError::Internal("the admission queue is closed".into());
    let waiting = Instant::now();
    queued.fetch_add(1, Ordering::Relaxed);
    let permit = admission.acquire().await;
    queued.fetch_sub(1, Ordering::Relaxed);
    let permit = permit.map_err(|_| closed())?;
    let span = tracing::Span::current();
    span.record("waited_ms", waiting.elapsed().as_millis() as u64);
    let started = Instant::now();
    let run = || async {
        match limit {
            Some(limit) => match tokio::time::timeout(limit, work()).await {
                Ok(result) => Ok(result),
                Err(_) => {
                    observer.query_timed_out();
                    Err(QueryError::TimedOut(limit))
                }
            },
            None => Ok(work().await),
        }
    };
    // Whether another query holds a place (this one holds one of its own).
    let others = || admission.available_permits() + 1 < places as usize;
    let beside_others = others();
    let mut result = run().await?;
    if matches!(result, Err(mailscope_engine::Error::MemoryBudget { .. }))
        && (beside_others || others())
    {
        drop(permit);
        tracing::info!("the query ran out of memory beside others; running it again alone");
        let _alone = admission.acquire_many(places).await.map_err(|_| closed())?;
        result = run().await?;
    }
    let elapsed = started.elapsed();
    span.record("ran_ms", elapsed.as_millis() as u64);
    observer.query_ran(elapsed);
    Ok(result?)
}

/// Everything but the store generation that decides a result, including the reference data
/// that answered: the threat index (a feed refresh builds a new one) and the geolocation and
/// ASN databases (a reload changes query-time lookups), each named by a generation id that
/// is unique in the process — never by an address, which a freed index's successor may reuse.
fn cache_key(request: &QueryRequest) -> String {
    let variables = serde_json::to_string(&request.variables).unwrap_or_default();
    let options = &request.options;
    let threat = options
        .threat
        .as_ref()
        .map_or(0, |index| index.generation());
    let geo = options
        .geo
        .as_ref()
        .map_or_else(String::new, |geo| geo.generation_id());
    let asn = options
        .asn
        .as_ref()
        .map_or_else(String::new, |asn| asn.generation_id());
    format!(
        "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{variables}\u{0}{threat}\u{0}{geo}\u{0}{asn}",
        request.text,
        options.from.timestamp_nanos_opt().unwrap_or(i64::MIN),
        options.to.timestamp_nanos_opt().unwrap_or(i64::MAX),
        options.time_zone.name(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(threat: Option<Arc<mailscope_threat::ThreatIndex>>) -> QueryOptions {
        QueryOptions {
            from: chrono::DateTime::UNIX_EPOCH,
            to: chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(1),
            time_zone: chrono_tz::UTC,
            geo: None,
            asn: None,
            threat,
            max_raw_rows: 0,
        }
    }

    #[test]
    fn the_cache_key_names_reference_data_by_generation() {
        let request = |threat| QueryRequest::new("* | count", options(threat));
        // Two indexes of the same feeds, built one after the other (the first freed, so its
        // successor may well reuse its address): different keys.
        let first = cache_key(&request(Some(Arc::new(
            mailscope_threat::ThreatIndex::new(Vec::new()),
        ))));
        let second = cache_key(&request(Some(Arc::new(
            mailscope_threat::ThreatIndex::new(Vec::new()),
        ))));
        assert_ne!(first, second);
        let index = Arc::new(mailscope_threat::ThreatIndex::new(Vec::new()));
        assert_eq!(
            cache_key(&request(Some(index.clone()))),
            cache_key(&request(Some(index)))
        );
        assert_ne!(cache_key(&request(None)), first);
    }

    /// A back end whose every query runs for `run_for`, then fails with "ran"; when
    /// `crowded`, with the budget error instead if another query ran beside it.
    #[derive(Default)]
    struct Mock {
        run_for: Duration,
        crowded: bool,
        running: AtomicUsize,
        runs: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Backend for Mock {
        fn name(&self) -> &'static str {
            "mock"
        }
        async fn snapshot(&self) -> mailscope_engine::Result<crate::Snapshot> {
            Ok(crate::Snapshot {
                data_dir: std::path::PathBuf::new(),
                catalog: mailscope_engine::store::Catalog::default(),
                lease: None,
            })
        }
        async fn execute(
            &self,
            _: &crate::Snapshot,
            _: &mailscope_query::ir::Query,
            _: &QueryOptions,
        ) -> mailscope_engine::Result<mailscope_engine::exec::QueryResult> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            let alone_at_start = self.running.fetch_add(1, Ordering::SeqCst) == 0;
            tokio::time::sleep(self.run_for).await;
            let alone = alone_at_start && self.running.load(Ordering::SeqCst) == 1;
            self.running.fetch_sub(1, Ordering::SeqCst);
            if self.crowded && !alone {
                Err(mailscope_engine::Error::MemoryBudget {
                    limit_bytes: 1 << 20,
                    detail: "Resources exhausted".into(),
                })
            } else {
                Err(mailscope_engine::Error::Query("ran".into()))
            }
        }
        async fn explain(
            &self,
            _: &crate::Snapshot,
            _: &mailscope_query::ir::Query,
            _: &QueryOptions,
        ) -> mailscope_engine::Result<String> {
            Ok(String::new())
        }
        fn memory(&self) -> mailscope_engine::exec::MemoryStats {
            mailscope_engine::exec::MemoryStats::default()
        }
    }

    fn config(timeout: Option<Duration>, max_running: usize) -> ServiceConfig {
        ServiceConfig {
            timeout,
            cache_bytes: 0,
            max_raw_rows: 10,
            max_running,
        }
    }

    /// The time limit is on running: queries queued behind others wait as long as they must
    /// and then run; one that runs past the limit is cancelled.
    #[test]
    fn waiting_for_a_turn_does_not_count_towards_the_time_limit() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let service = |run_for: Duration| {
            QueryService::new(
                runtime.handle().clone(),
                Arc::new(Mock {
                    run_for,
                    ..Mock::default()
                }),
                config(Some(Duration::from_millis(400)), 1),
                Arc::new(()),
            )
        };
        let quick = service(Duration::from_millis(150));
        let started = Instant::now();
        let answers = runtime.block_on(async {
            let run = || quick.run(QueryRequest::new("* | count", options(None)));
            tokio::join!(run(), run(), run(), run())
        });
        // One at a time: the last waited ~450 ms, longer than the limit, then ran 150 ms.
        assert!(started.elapsed() >= Duration::from_millis(600));
        for answer in [answers.0, answers.1, answers.2, answers.3] {
            let error = answer.unwrap_err();
            assert!(matches!(error, QueryError::Failed(_)), "{error}");
            assert_eq!(error.to_string(), "ran");
        }
        let slow = service(Duration::from_millis(800));
        let answer = runtime.block_on(slow.run(QueryRequest::new("* | count", options(None))));
        assert!(matches!(answer, Err(QueryError::TimedOut(_))), "{answer:?}");
    }

    /// Queries that run out of memory beside each other are run again alone, and answer.
    #[test]
    fn a_query_out_of_memory_beside_others_runs_again_alone() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let crowded = || Mock {
            run_for: Duration::from_millis(100),
            crowded: true,
            ..Mock::default()
        };
        let backend = Arc::new(crowded());
        let service = QueryService::new(
            runtime.handle().clone(),
            backend.clone(),
            config(None, 2),
            Arc::new(()),
        );
        let answers = runtime.block_on(async {
            let run = || service.run(QueryRequest::new("* | count", options(None)));
            tokio::join!(run(), run(), run())
        });
        for answer in [answers.0, answers.1, answers.2] {
            assert_eq!(answer.unwrap_err().to_string(), "ran");
        }
        assert!(backend.runs.load(Ordering::SeqCst) >= 4, "some ran twice");
        // Alone from the start, a query out of memory is not run again.
        let single = QueryService::new(
            runtime.handle().clone(),
            Arc::new(Mock {
                running: AtomicUsize::new(1),
                ..crowded()
            }),
            config(None, 2),
            Arc::new(()),
        );
        let answer = runtime.block_on(single.run(QueryRequest::new("* | count", options(None))));
        assert!(
            matches!(
                answer,
                Err(QueryError::Failed(
                    mailscope_engine::Error::MemoryBudget { .. }
                ))
            ),
            "{answer:?}"
        );
    }

    #[test]
    fn highlighted_keywords_leave_out_negated_ones() {
        let query = mailscope_query::compile(
            r#"_sourceCategory=x invoice "monthly report" NOT spam (a OR NOT (NOT b)) | count"#,
        )
        .expect("compiles");
        assert_eq!(
            positive_keywords(&query.scope),
            ["invoice", "monthly report", "a", "b"]
        );
    }
}
