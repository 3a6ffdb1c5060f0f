//! Fetching one window: every page, in order, with retries. A window's records are returned
//! only when its last page has been read, so a failure anywhere leaves nothing half-done for
//! the caller to commit.
//!
//! Per page: 429, 408, 500, 502, 503 and 504, timeouts, connection errors, a truncated or
//! unparsable body and an HTML page served with 200 are retried with backoff (a 429's
//! `Retry-After` pauses the tenant's whole budget). A 401 gets one fresh token, then counts
//! as refused when it comes again right after (any other answer in between resets this). A
//! 400, 404 or 410 on a next link means the link expired: the window starts
//! over from its first page. Anything else is an error retrying cannot fix.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use mailscope_record::{ReadOptions, Record, open_reader_as};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use tokio::time::Instant;
use url::Url;

use crate::api::{self, Window};
use crate::config::TenantConfig;
use crate::error::{Error, Result};
use crate::http::{BodyError, describe_error_body, describe_transport, looks_like_html, read_body};
use crate::rate::RateLimiter;
use crate::retry::backoff;
use crate::token::{TokenClient, TokenError};

/// Largest error body read (only its message is kept).
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Largest `GET /organization` answer read (a tenant lists at most 5,000 domains).
const MAX_ORGANIZATION_BODY: usize = 4 * 1024 * 1024;

/// Counters of one collector, reported in [`crate::RunReport`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchCounters {
    /// Pages read successfully.
    pub pages: u64,
    /// API requests sent (every attempt).
    pub requests: u64,
    /// Attempts that failed and were retried.
    pub retries: u64,
    /// 429 answers.
    pub throttled: u64,
    /// 5xx answers.
    pub server_errors: u64,
    /// Next links that expired (each resumed or restarted its window).
    pub window_restarts: u64,
    /// Of those, the windows resumed where their pages had reached (not read again).
    pub window_resumes: u64,
    /// Records read from pages.
    pub records: u64,
    /// Records the reader skipped as malformed (logged).
    pub skipped_records: u64,
}

/// A fetched window, or the news that it holds more records than allowed.
#[derive(Debug)]
pub enum WindowFetch {
    Complete(Vec<Record>),
    TooMany {
        fetched: usize,
        /// The `Received` range of the records fetched before stopping.
        received: Option<(DateTime<Utc>, DateTime<Utc>)>,
    },
    /// The window's next links kept expiring before its last page
    /// ([`LINK_EXPIRIES_BEFORE_SPLIT`] restarts): a smaller window has fewer pages to read
    /// before its link expires.
    LinksExpiring {
        restarts: u32,
    },
}

/// Restarts of a window whose next links expired before it is split instead (when it can
/// be); a window that cannot be split fails after the retry policy's attempts.
pub const LINK_EXPIRIES_BEFORE_SPLIT: u32 = 3;

/// The API client of one tenant.
#[derive(Debug)]
pub struct Fetcher {
    config: Arc<TenantConfig>,
    /// Fills `Organization` on records that have none: the configured value, or the tenant's
    /// domain once learned ([`Fetcher::tenant_domain`]).
    pub organization: Option<String>,
    http: reqwest::Client,
    token: TokenClient,
    limiter: RateLimiter,
    pub counters: FetchCounters,
}

enum PageOutcome {
    Page {
        records: Vec<Record>,
        next: Option<Url>,
    },
    LinkExpired(String),
}

/// How one attempt ended, short of a page.
enum Failure {
    Retry {
        message: String,
        retry_after: Option<Duration>,
    },
    Unauthorized(String),
    Fatal(Error),
}

impl Fetcher {
    pub fn new(config: Arc<TenantConfig>) -> Result<Fetcher> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("mailscope/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| Error::Io {
                path: "http client".into(),
                message: describe_transport(&error),
            })?;
        let token = TokenClient::new(http.clone(), &config);
        Ok(Fetcher {
            limiter: RateLimiter::new(config.quota),
            organization: config.organization.clone(),
            config,
            http,
            token,
            counters: FetchCounters::default(),
        })
    }

    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    pub fn token_requests(&self) -> u64 {
        self.token.requests()
    }

    fn label(&self) -> &'static str {
        api::api_label(self.config.api)
    }

    /// The tenant's initial domain (`*.onmicrosoft.com`) from Graph `GET /organization`: what
    /// the Reporting Web Service writes as every row's `Organization`, so Graph rows and older
    /// rows of the same tenant share one value. One attempt; the message of a failure says
    /// what to do.
    pub async fn tenant_domain(&mut self) -> std::result::Result<String, String> {
        let token = self.token.token().await.map_err(|error| match error {
            TokenError::Transient { message, .. } | TokenError::Rejected(message) => message,
        })?;
        let url = api::organization_url(&self.config);
        let response = self
            .http
            .get(url)
            .bearer_auth(token.expose())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| describe_transport(&error))?;
        let status = response.status().as_u16();
        let body =
            read_body(response, MAX_ORGANIZATION_BODY)
                .await
                .map_err(|error| match error {
                    BodyError::TooLarge => {
                        format!("the answer is larger than {MAX_ORGANIZATION_BODY} bytes")
                    }
                    BodyError::Transport(message) => message,
                })?;
        if !(200..300).contains(&status) {
            let message = format!("HTTP {status}: {}", describe_error_body(&body));
            return Err(match status {
                401 | 403 => format!(
                    "{message}; grant the application permission Organization.Read.All (with \
                     admin consent), or set organization for the tenant in the configuration"
                ),
                _ => message,
            });
        }
        api::initial_domain(&body)
    }

    /// Reads every page of `window`. With `bound` (a window that can be split), stops once
    /// more than `bound` records have been read, or its next links expired
    /// [`LINK_EXPIRIES_BEFORE_SPLIT`] times without progress, and says so instead.
    ///
    /// A next link that expires does not lose the pages read: when they came in time order
    /// (Graph lists newest first), the window is asked again for the part not yet read
    /// ([`remaining`]) and the records kept, so a window converges one page at a time
    /// however often links expire. Rows at the boundary's second are read twice; identity
    /// makes that harmless.
    pub async fn fetch_window(
        &mut self,
        window: Window,
        bound: Option<usize>,
    ) -> Result<WindowFetch> {
        // Expiries since the last progress.
        let mut restarts = 0u32;
        // Records of the passes before a resume, and the part of the window left.
        let mut kept: Vec<Record> = Vec::new();
        let mut current = window;
        'window: loop {
            let mut records: Vec<Record> = Vec::new();
            let mut url = api::first_page_url(&self.config, current);
            let mut page_number = 0u64;
            loop {
                match self.page(&url, page_number).await? {
                    PageOutcome::Page {
                        records: page,
                        next,
                    } => {
                        records.extend(page);
                        if let Some(bound) = bound
                            && kept.len() + records.len() > bound
                        {
                            kept.extend(records);
                            return Ok(WindowFetch::TooMany {
                                fetched: kept.len(),
                                received: received_range(&kept),
                            });
                        }
                        match next {
                            Some(next) => {
                                url = next;
                                page_number += 1;
                            }
                            None => {
                                kept.extend(records);
                                return Ok(WindowFetch::Complete(kept));
                            }
                        }
                    }
                    PageOutcome::LinkExpired(message) => {
                        self.counters.window_restarts += 1;
                        if let Some(rest) = remaining(current, &records) {
                            self.counters.window_resumes += 1;
                            tracing::info!(%window, read = records.len(), rest = %rest, %message, "next link expired; resuming with the part not yet read");
                            kept.extend(records);
                            current = rest;
                            restarts = 0;
                            continue 'window;
                        }
                        restarts += 1;
                        if bound.is_some() && restarts >= LINK_EXPIRIES_BEFORE_SPLIT {
                            tracing::warn!(%window, restarts, %message, "next links keep expiring; splitting the window");
                            return Ok(WindowFetch::LinksExpiring { restarts });
                        }
                        if restarts >= self.config.retry.attempts {
                            return Err(Error::RetriesExhausted {
                                what: format!("window {window}"),
                                attempts: restarts,
                                last: format!("next link expired: {message}"),
                            });
                        }
                        tracing::warn!(%current, page = page_number, %message, "next link expired; restarting the window");
                        continue 'window;
                    }
                }
            }
        }
    }

    /// One page with retries.
    async fn page(&mut self, url: &Url, page_number: u64) -> Result<PageOutcome> {
        let mut attempt = 0u32;
        // Set by a 401 and cleared by any other answer: a second 401 in a row, with a token
        // fetched just before, is a refusal (a service principal not yet provisioned, a
        // missing role), not an expiry.
        let mut refreshed = false;
        loop {
            attempt += 1;
            let outcome = self.attempt(url, page_number).await;
            if !matches!(outcome, Err(Failure::Unauthorized(_))) {
                refreshed = false;
            }
            let (message, retry_after) = match outcome {
                Ok(outcome) => return Ok(outcome),
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::Unauthorized(_)) if !refreshed => {
                    // An expired or revoked token mid-paging: one fresh token, same page.
                    tracing::info!(page = page_number, "HTTP 401; refreshing the token");
                    refreshed = true;
                    self.token.invalidate().await;
                    attempt -= 1;
                    continue;
                }
                Err(Failure::Unauthorized(message)) => {
                    return Err(Error::Api {
                        api: self.label(),
                        status: 401,
                        message,
                    });
                }
                Err(Failure::Retry {
                    message,
                    retry_after,
                }) => (message, retry_after),
            };
            if attempt >= self.config.retry.attempts {
                return Err(Error::RetriesExhausted {
                    what: format!("{} page {page_number}", self.label()),
                    attempts: attempt,
                    last: message,
                });
            }
            self.counters.retries += 1;
            let delay = match retry_after {
                Some(wait) => {
                    // Everyone of this tenant waits, not just this request.
                    self.limiter.pause_until(Instant::now() + wait);
                    wait
                }
                None => backoff(&self.config.retry, attempt),
            };
            tracing::warn!(page = page_number, attempt, delay_ms = delay.as_millis() as u64, %message, "page failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(
        &mut self,
        url: &Url,
        page_number: u64,
    ) -> std::result::Result<PageOutcome, Failure> {
        // The budget first, the token second: a wait for the budget (a 429's pause) must not
        // age the token past its expiry before it is used.
        self.limiter.acquire().await;
        let token = match self.token.token().await {
            Ok(token) => token,
            Err(TokenError::Transient {
                message,
                retry_after,
            }) => {
                return Err(Failure::Retry {
                    message,
                    retry_after,
                });
            }
            Err(TokenError::Rejected(message)) => {
                return Err(Failure::Fatal(Error::Auth {
                    tenant: self.config.name.clone(),
                    message,
                }));
            }
        };
        self.counters.requests += 1;
        let mut request = self
            .http
            .get(url.clone())
            .bearer_auth(token.expose())
            .header(ACCEPT, "application/json");
        for (name, value) in api::extra_headers(self.config.api) {
            request = request.header(*name, *value);
        }
        let sent = request.send().await;
        let response = sent.map_err(|error| Failure::Retry {
            message: describe_transport(&error),
            retry_after: None,
        })?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return self.read_page(url, response).await;
        }
        let retry_after = crate::retry::retry_after(response.headers());
        let message = match read_body(response, MAX_ERROR_BODY).await {
            Ok(body) => describe_error_body(&body),
            Err(_) => "error body unreadable".to_owned(),
        };
        let message = format!("HTTP {status}: {message}");
        match status {
            401 => Err(Failure::Unauthorized(message)),
            429 => {
                self.counters.throttled += 1;
                Err(Failure::Retry {
                    message,
                    retry_after,
                })
            }
            408 | 500 | 502 | 503 | 504 => {
                if status >= 500 {
                    self.counters.server_errors += 1;
                }
                Err(Failure::Retry {
                    message,
                    retry_after,
                })
            }
            400 | 404 | 410 if page_number > 0 => Ok(PageOutcome::LinkExpired(message)),
            _ => Err(Failure::Fatal(Error::Api {
                api: self.label(),
                status,
                message,
            })),
        }
    }

    async fn read_page(
        &mut self,
        url: &Url,
        response: reqwest::Response,
    ) -> std::result::Result<PageOutcome, Failure> {
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = read_body(response, self.config.max_page_bytes)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge => Failure::Fatal(Error::PageTooLarge {
                    api: self.label(),
                    limit: self.config.max_page_bytes,
                }),
                BodyError::Transport(message) => Failure::Retry {
                    message: format!("reading the page: {message}"),
                    retry_after: None,
                },
            })?;
        if looks_like_html(content_type.as_deref(), &body) {
            return Err(Failure::Retry {
                message: format!(
                    "HTTP 200 with a web page instead of JSON ({})",
                    describe_error_body(&body)
                ),
                retry_after: None,
            });
        }
        // The envelope first: a body that is not whole JSON fails here, before any record
        // is kept.
        let next = api::next_link(&body).map_err(|message| Failure::Retry {
            message: format!("page is not valid JSON: {message}"),
            retry_after: None,
        })?;
        let next = match next {
            Some(link) => Some(api::resolve_link(url, &link, &self.config.api_url).map_err(
                |origin| {
                    Failure::Fatal(Error::ForeignLink {
                        api: self.label(),
                        origin,
                    })
                },
            )?),
            None => None,
        };
        let records = self.parse(body)?;
        self.counters.pages += 1;
        self.counters.records += records.len() as u64;
        Ok(PageOutcome::Page { records, next })
    }

    fn parse(&mut self, body: Vec<u8>) -> std::result::Result<Vec<Record>, Failure> {
        let options = ReadOptions {
            organization: self.organization.clone(),
            ..ReadOptions::default()
        };
        let format = api::page_format(&self.config);
        let reader = open_reader_as(format, self.label(), Box::new(Cursor::new(body)), options)
            .map_err(|error| Failure::Retry {
                message: error.to_string(),
                retry_after: None,
            })?;
        let mut records = Vec::new();
        for item in reader {
            match item {
                Ok(record) => records.push(record),
                Err(error) if error.fatal => {
                    return Err(Failure::Retry {
                        message: error.to_string(),
                        retry_after: None,
                    });
                }
                Err(error) => {
                    // One malformed row must not block the tenant forever; it is logged
                    // and counted, and the rest of the page is kept.
                    self.counters.skipped_records += 1;
                    tracing::warn!(%error, "skipped a malformed record");
                }
            }
        }
        Ok(records)
    }
}

/// The part of `window` not yet read, when the pages read (`records`, in the order they came)
/// were in time order: newest first, the window up to the second of the oldest read (whole
/// seconds, inclusive, as both APIs' filters take them); oldest first, from the second of the
/// newest. `None` when the order is not shown (fewer than two distinct times read) or is
/// neither, or the part left is not smaller (one second holds more than the pages read):
/// then the window starts over.
pub fn remaining(window: Window, records: &[Record]) -> Option<Window> {
    let (first, last) = (records.first()?.received, records.last()?.received);
    if first == last {
        return None;
    }
    let descending = records.windows(2).all(|w| w[0].received >= w[1].received);
    let ascending = records.windows(2).all(|w| w[0].received <= w[1].received);
    let whole = |t: DateTime<Utc>| t.with_nanosecond(0).unwrap_or(t);
    if descending {
        let end = if whole(last) == last {
            last
        } else {
            whole(last) + chrono::TimeDelta::seconds(1)
        };
        (end < window.end && end >= window.start).then_some(Window {
            start: window.start,
            end,
        })
    } else if ascending {
        let start = whole(last);
        (start > window.start && start <= window.end).then_some(Window {
            start,
            end: window.end,
        })
    } else {
        None
    }
}

fn received_range(records: &[Record]) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let first = records.iter().map(|record| record.received).min()?;
    let last = records.iter().map(|record| record.received).max()?;
    Some((first, last))
}

#[cfg(test)]
mod remaining_tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32, m: u32, s: u32, ms: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, 1, h, m, s).unwrap()
            + chrono::TimeDelta::milliseconds(i64::from(ms))
    }

    fn read(times: &[DateTime<Utc>]) -> Vec<Record> {
        times
            .iter()
            .map(|&received| Record {
                organization: String::new(),
                message_id: None,
                received,
                sender_address: "a@x".into(),
                recipient_address: "b@x".into(),
                subject: String::new(),
                status: mailscope_record::Status::Delivered,
                to_ip: None,
                from_ip: None,
                size: 0,
                message_trace_id: "t".into(),
                start_date: None,
                end_date: None,
                index: None,
            })
            .collect()
    }

    /// Newest first: what is left ends at the oldest read's second, rounded up so no row of
    /// that second is missed; oldest first: it starts at the newest read's second.
    #[test]
    fn the_part_left_is_what_the_pages_had_not_reached() {
        let window = Window {
            start: at(10, 0, 0, 0),
            end: at(12, 0, 0, 0),
        };
        let newest_first = read(&[at(11, 59, 0, 0), at(11, 30, 0, 0), at(11, 20, 5, 500)]);
        assert_eq!(
            remaining(window, &newest_first),
            Some(Window {
                start: window.start,
                end: at(11, 20, 6, 0)
            })
        );
        let on_the_second = read(&[at(11, 59, 0, 0), at(11, 20, 5, 0)]);
        assert_eq!(
            remaining(window, &on_the_second).map(|w| w.end),
            Some(at(11, 20, 5, 0))
        );
        let oldest_first = read(&[at(10, 0, 1, 0), at(10, 30, 7, 250)]);
        assert_eq!(
            remaining(window, &oldest_first),
            Some(Window {
                start: at(10, 30, 7, 0),
                end: window.end
            })
        );
        // Nothing shows the order: start over.
        assert_eq!(remaining(window, &read(&[])), None);
        assert_eq!(remaining(window, &read(&[at(11, 0, 0, 0)])), None);
        assert_eq!(
            remaining(window, &read(&[at(11, 0, 0, 0), at(11, 0, 0, 0)])),
            None
        );
        // Neither order.
        let mixed = read(&[at(11, 0, 0, 0), at(10, 0, 0, 0), at(11, 30, 0, 0)]);
        assert_eq!(remaining(window, &mixed), None);
        // No progress: the pages stayed in the window's last second.
        let stuck = read(&[at(11, 59, 59, 900), at(11, 59, 59, 100)]);
        assert_eq!(
            remaining(
                Window {
                    start: window.start,
                    end: at(12, 0, 0, 0)
                },
                &stuck
            ),
            None
        );
    }
}
