//! The query front end's integration tests: the app's panel queries (golden IR snapshots),
//! malformed queries, rendering, parse/print round trips, no-panic properties and the Java
//! regex dialect.

mod malformed;
mod operators;
mod panels;
mod properties;
mod regex;
mod render;
