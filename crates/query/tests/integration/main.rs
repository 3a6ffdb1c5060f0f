//! The query front end's integration tests: the app's panel queries (golden IR snapshots),
//! malformed queries, rendering, parse/print round trips and no-panic properties.

mod malformed;
mod operators;
mod panels;
mod properties;
mod render;
