//! The simulator's integration tests, one binary: the generated tenant, and the HTTP
//! endpoints driven over loopback the way the collectors will drive them.

mod auth;
mod faults;
mod generator;
mod graph;
mod rws;
mod support;
mod truth;
