//! The `mailscope` binary end to end: generate, ingest and query against an independent
//! computation, every panel query, bad input, kill -9 during ingest, the HTTP server, and the
//! collector against the API simulator (kill -9 during a backfill, secrets, faults).

mod api;
mod browser;
mod collect;
mod crash;
mod differential;
mod end_to_end;
mod http;
mod keyword;
mod maintain;
mod memory;
mod panels;
mod threat;
