//! The engine's integration tests: the store's guarantees and query execution over a real
//! store. One binary, one module per area.

mod functions;
mod geo;
mod operators;
mod query;
mod rollup;
mod store;
