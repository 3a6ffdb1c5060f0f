//! Running queries for the API: on a runtime of their own (never on the HTTP runtime's
//! threads), with a time limit, cancellable by a client-chosen id, and with finished results
//! kept for paging in a cache bounded in bytes and keyed by everything that decides the
//! result (query, range, time zone, variables, store generation).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailscope_engine::exec::{self, QueryOptions, QueryResult, Value};
use mailscope_engine::store::Catalog;
use mailscope_query::Diagnostic;
use tokio::task::AbortHandle;

use super::metrics::Metrics;

/// Rows a query without aggregation returns at most.
const MAX_RAW_ROWS: usize = 10_000;
/// Cached results larger than this share of the cache are not kept.
const LARGEST_SHARE: usize = 4;

/// A query as the API receives it (variables not yet substituted).
#[derive(Debug, Clone)]
pub struct QueryRequest {
    pub text: String,
    pub variables: BTreeMap<String, String>,
    /// Range, time zone and enrichment (`max_raw_rows` is set here).
    pub options: QueryOptions,
    /// The client's id, to cancel the query by.
    pub id: Option<String>,
}

/// A finished result in the shape of the API: JSON cells and one type per column.
#[derive(Debug)]
pub struct Table {
    pub columns: Vec<String>,
    pub types: Vec<&'static str>,
    pub rows: Vec<Vec<serde_json::Value>>,
    pub warnings: Vec<String>,
    /// Approximate memory held, for the cache's bound.
    pub bytes: usize,
}

#[derive(Debug)]
pub struct Answer {
    pub table: Arc<Table>,
    pub cached: bool,
    /// The keywords of the query's scope that a matching row contains (not those under an
    /// odd number of `NOT`s), for highlighting.
    pub keywords: Vec<String>,
}

/// The keywords a row found by `scope` contains: every keyword not negated.
pub fn positive_keywords(scope: &mailscope_query::ir::Scope) -> Vec<String> {
    use mailscope_query::ir::Scope;
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

#[derive(Debug)]
pub enum QueryError {
    /// The query does not compile.
    Compile(Vec<Diagnostic>),
    /// Another query with this id is running.
    DuplicateId(String),
    Cancelled,
    TimedOut(Duration),
    /// The query compiled but failed while running.
    Failed(String),
    /// Something in the server failed (a task panicked).
    Internal,
}

struct Running {
    abort: AbortHandle,
    cancelled: Arc<AtomicBool>,
}

pub struct QueryService {
    runtime: tokio::runtime::Handle,
    data_dir: PathBuf,
    timeout: Duration,
    running: Mutex<HashMap<String, Running>>,
    cache: Arc<Mutex<Cache>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for QueryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryService")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Stops a query when its request goes away (the client disconnected) and forgets its id.
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
        self.service.metrics.query_finished();
    }
}

/// The runtime queries run on: its own threads, so a long query never delays the HTTP
/// server. Dropped by the caller outside any async context.
pub fn query_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("mailscope-query")
        .enable_all()
        .build()
}

impl QueryService {
    pub fn new(
        runtime: tokio::runtime::Handle,
        data_dir: PathBuf,
        timeout: Duration,
        cache_bytes: usize,
        metrics: Arc<Metrics>,
    ) -> QueryService {
        QueryService {
            runtime,
            data_dir,
            timeout,
            running: Mutex::new(HashMap::new()),
            cache: Arc::new(Mutex::new(Cache::new(cache_bytes))),
            metrics,
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

    /// Spawns the query on the query runtime with its id claimed first, so a cancel sent
    /// right after the request finds it.
    fn start<F>(
        &self,
        id: Option<&str>,
        cancelled: &Arc<AtomicBool>,
        work: F,
    ) -> Result<tokio::task::JoinHandle<F::Output>, QueryError>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut running = self.running.lock().map_err(|_| QueryError::Internal)?;
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
        Ok(task)
    }

    pub async fn run(&self, request: QueryRequest) -> Result<Answer, QueryError> {
        let compiled = mailscope_query::compile_with_variables(&request.text, &request.variables)
            .map_err(QueryError::Compile)?;
        let keywords = positive_keywords(&compiled.scope);
        let cancelled = Arc::new(AtomicBool::new(false));
        let key_base = cache_key(&request);
        let mut options = request.options.clone();
        options.max_raw_rows = MAX_RAW_ROWS;
        let data_dir = self.data_dir.clone();
        let metrics = self.metrics.clone();
        let cache = self.cache.clone();
        let work = async move {
            // The generation the result belongs to; a publish while the query runs only
            // makes the cached result newer than its key says.
            let generation = Catalog::load(&data_dir)
                .map_err(|e| QueryError::Failed(e.to_string()))?
                .generation;
            let key = format!("{key_base}\u{0}{generation}");
            if let Some(table) = cache.lock().ok().and_then(|mut c| c.get(&key)) {
                metrics.cache_hit();
                return Ok(Answer {
                    table,
                    cached: true,
                    keywords,
                });
            }
            let started = Instant::now();
            let result = exec::execute(&data_dir, &compiled, &options)
                .await
                .map_err(|e| QueryError::Failed(e.to_string()))?;
            metrics.query_duration(started.elapsed());
            let table = Arc::new(table(result));
            if let Ok(mut cache) = cache.lock() {
                cache.put(key, table.clone());
                metrics.cache_bytes(cache.bytes);
            }
            Ok(Answer {
                table,
                cached: false,
                keywords,
            })
        };
        let task = self.start(request.id.as_deref(), &cancelled, work)?;
        self.metrics.query_started();
        let _guard = Guard {
            service: self,
            id: request.id.clone(),
            abort: task.abort_handle(),
        };
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(join)) if join.is_cancelled() && cancelled.load(Ordering::SeqCst) => {
                self.metrics.query_cancelled();
                Err(QueryError::Cancelled)
            }
            Ok(Err(_)) => Err(QueryError::Internal),
            Err(_) => {
                self.metrics.query_timed_out();
                Err(QueryError::TimedOut(self.timeout))
            }
        }
    }
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

/// Finished results by key, least recently used dropped first once over the byte bound.
#[derive(Debug)]
struct Cache {
    limit: usize,
    bytes: usize,
    clock: u64,
    entries: HashMap<String, (Arc<Table>, u64)>,
}

impl Cache {
    fn new(limit: usize) -> Cache {
        Cache {
            limit,
            bytes: 0,
            clock: 0,
            entries: HashMap::new(),
        }
    }

    fn size(key: &str, table: &Table) -> usize {
        key.len() + table.bytes
    }

    fn get(&mut self, key: &str) -> Option<Arc<Table>> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(key).map(|(table, used)| {
            *used = clock;
            table.clone()
        })
    }

    fn put(&mut self, key: String, table: Arc<Table>) {
        let size = Cache::size(&key, &table);
        if size > self.limit / LARGEST_SHARE {
            return;
        }
        self.clock += 1;
        if let Some((old, _)) = self.entries.insert(key.clone(), (table, self.clock)) {
            self.bytes -= Cache::size(&key, &old);
        }
        self.bytes += size;
        while self.bytes > self.limit {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((table, _)) = self.entries.remove(&oldest) {
                self.bytes -= Cache::size(&oldest, &table);
            }
        }
    }
}

fn cell(value: &Value) -> (serde_json::Value, Option<&'static str>, usize) {
    match value {
        Value::Null => (serde_json::Value::Null, None, 16),
        Value::Bool(b) => (serde_json::Value::Bool(*b), Some("bool"), 16),
        Value::Int(i) => (serde_json::Value::from(*i), Some("int"), 16),
        Value::Time(t) => (serde_json::Value::from(*t), Some("time"), 16),
        Value::Float(f) => (
            serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Some("float"),
            16,
        ),
        Value::Text(s) => (
            serde_json::Value::String(s.clone()),
            Some("text"),
            40 + s.len(),
        ),
    }
}

/// One type per column: the type of its values; `float` when ints and floats mix, `text`
/// for any other mix, `null` when every value is null.
fn combine(current: Option<&'static str>, next: &'static str) -> &'static str {
    match current {
        None => next,
        Some(same) if same == next => same,
        Some("int") if next == "float" => "float",
        Some("float") if next == "int" => "float",
        Some(_) => "text",
    }
}

fn table(result: QueryResult) -> Table {
    let mut types: Vec<Option<&'static str>> = vec![None; result.columns.len()];
    let mut bytes = 64;
    let mut rows = Vec::with_capacity(result.rows.len());
    for row in &result.rows {
        let mut cells = Vec::with_capacity(row.len());
        for (index, value) in row.iter().enumerate() {
            let (json, kind, size) = cell(value);
            if let (Some(kind), Some(slot)) = (kind, types.get_mut(index)) {
                *slot = Some(combine(*slot, kind));
            }
            bytes += size;
            cells.push(json);
        }
        bytes += 24;
        rows.push(cells);
    }
    bytes += result.columns.iter().map(|c| c.len() + 24).sum::<usize>();
    bytes += result.warnings.iter().map(|w| w.len() + 24).sum::<usize>();
    Table {
        columns: result.columns,
        types: types.into_iter().map(|t| t.unwrap_or("null")).collect(),
        rows,
        warnings: result.warnings,
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sized(bytes: usize) -> Arc<Table> {
        Arc::new(Table {
            columns: vec![],
            types: vec![],
            rows: vec![],
            warnings: vec![],
            bytes,
        })
    }

    #[test]
    fn the_cache_stays_under_its_bound_dropping_the_least_recently_used() {
        let mut cache = Cache::new(1000);
        cache.put("a".into(), sized(200));
        cache.put("b".into(), sized(200));
        cache.put("c".into(), sized(200));
        assert!(cache.get("a").is_some());
        cache.put("d".into(), sized(200));
        cache.put("e".into(), sized(200));
        assert!(cache.bytes <= 1000, "{}", cache.bytes);
        assert!(cache.get("a").is_some(), "recently used");
        assert!(cache.get("b").is_none(), "least recently used");
        cache.put("huge".into(), sized(600));
        assert!(cache.get("huge").is_none(), "larger than a quarter");
    }

    #[test]
    fn the_cache_key_names_reference_data_by_generation() {
        let request = |threat: Option<Arc<mailscope_threat::ThreatIndex>>| QueryRequest {
            text: "* | count".into(),
            variables: BTreeMap::new(),
            options: QueryOptions {
                from: chrono::DateTime::UNIX_EPOCH,
                to: chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(1),
                time_zone: chrono_tz::UTC,
                geo: None,
                asn: None,
                threat,
                max_raw_rows: 0,
            },
            id: None,
        };
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

    #[test]
    fn column_types_follow_the_values() {
        let result = QueryResult {
            columns: vec!["t".into(), "n".into(), "x".into(), "z".into()],
            rows: vec![
                vec![
                    Value::Time(1),
                    Value::Int(1),
                    Value::Text("a".into()),
                    Value::Null,
                ],
                vec![
                    Value::Time(2),
                    Value::Float(1.5),
                    Value::Int(2),
                    Value::Null,
                ],
            ],
            warnings: vec![],
        };
        assert_eq!(table(result).types, ["time", "float", "text", "null"]);
    }
}
