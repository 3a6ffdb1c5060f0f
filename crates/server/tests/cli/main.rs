//! The `mailscope` binary end to end: generate, ingest and query against an independent
//! computation, every panel query, bad input, and kill -9 during ingest.

mod crash;
mod end_to_end;
