//! The `mailscope` binary end to end: generate, ingest and query against an independent
//! computation, every panel query, bad input, kill -9 during ingest, and the HTTP server.

mod crash;
mod end_to_end;
mod http;
mod panels;
