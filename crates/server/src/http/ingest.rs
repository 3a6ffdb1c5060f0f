//! `POST /api/v1/ingest`: a body in any reader format (auto-detected, or `?format=`), for
//! people who already export message trace elsewhere. One request is one atomic publish;
//! bad records are reported with their position and skipped, good ones kept.

use std::io::Cursor;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailscope_engine::schema::SourceMeta;
use mailscope_record::{Format, ReadOptions, open_reader, open_reader_as};
use serde::Deserialize;

use super::{AppState, coded_error, error};

/// Bad records described in the response; the rest are counted.
const SHOWN_ERRORS: u64 = 20;

#[derive(Debug, Deserialize)]
pub struct Params {
    /// A reader format name (`ndjson`, `graph-json`, …); detected when absent.
    format: Option<String>,
    source_category: Option<String>,
    /// Tenant domain for formats that carry none (Graph pages).
    organization: Option<String>,
    /// `_source` of the rows; `http-ingest` when absent.
    source: Option<String>,
    /// How CSV slash dates are read (`MM/dd/yyyy` or `dd/MM/yyyy`); each file's dates decide
    /// when absent.
    date_format: Option<String>,
}

pub async fn run(
    State(state): State<AppState>,
    Query(params): Query<Params>,
    body: Bytes,
) -> Response {
    if state.token.is_none() {
        return error(
            StatusCode::FORBIDDEN,
            "the ingest endpoint is off: start the server with an access token \
             (MAILSCOPE_TOKEN or --token-file)",
        );
    }
    let format = match params.format.as_deref().map(str::parse::<Format>) {
        None => None,
        Some(Ok(format)) => Some(format),
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let source = params.source.unwrap_or_else(|| "http-ingest".into());
    let meta = SourceMeta {
        source_category: params
            .source_category
            .unwrap_or_else(|| state.source_category.clone()),
        source: source.clone(),
        collector: "mailscope-http".into(),
    };
    let date_order = match params.date_format.as_deref().map(str::parse) {
        None => None,
        Some(Ok(order)) => Some(order),
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, e),
    };
    let options = ReadOptions {
        organization: params.organization,
        date_order,
        ..ReadOptions::default()
    };
    let body_bytes = body.len();
    let task = tokio::task::spawn_blocking(move || {
        let input = Box::new(Cursor::new(body));
        let reader = match format {
            Some(format) => open_reader_as(format, &source, input, options),
            None => open_reader(&source, input, options),
        };
        let reader = match reader {
            Ok(reader) => reader,
            Err(e) => return Ok(error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())),
        };
        // Held before the store's lock, so waiting for memory never blocks other writers.
        let _held = match state.memory.hold_waiting(
            "an ingest",
            crate::append::append_memory(body_bytes, state.memory.limit()),
            crate::append::APPEND_WAIT,
        ) {
            Ok(held) => held,
            Err(e) => {
                let mut busy = coded_error(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string());
                busy.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("30"),
                );
                return Ok(busy);
            }
        };
        let mut store = state
            .store
            .lock()
            .map_err(|_| anyhow::anyhow!("store lock poisoned"))?;
        let mut ingest = store.ingest(state.geo.clone(), meta);
        let mut errors = Vec::new();
        let (read, bad) = crate::append::push_reporting(&mut ingest, reader, |e, bad| {
            if bad <= SHOWN_ERRORS {
                errors.push(serde_json::json!({
                    "line": e.line,
                    "column": e.column,
                    "record": e.record,
                    "message": e.message,
                }));
            }
        })?;
        let report = ingest.commit()?;
        for (outcome, records) in [
            ("read", read),
            ("bad", bad),
            ("added", report.added),
            ("updated", report.updated),
            ("unchanged", report.unchanged),
            ("stale", report.stale),
        ] {
            state.metrics.ingested(outcome, records);
        }
        let status = if read == 0 && bad > 0 {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        let body = serde_json::json!({
            "read": read,
            "bad": bad,
            "added": report.added,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "stale": report.stale,
            "rows": report.rows_after,
            "errors": errors,
        });
        anyhow::Ok((status, axum::Json(body)).into_response())
    });
    match task.await {
        Ok(Ok(response)) => response,
        // The store failed (a write, a full disk): the details name files and go to the
        // log, with the request id the answer carries.
        Ok(Err(e)) => {
            tracing::error!(error = format!("{e:#}"), "ingest failed");
            coded_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "store_failed",
                "the ingest could not be stored; the server's log has the details",
            )
        }
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "ingest task failed"),
    }
}
