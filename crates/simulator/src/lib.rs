//! Synthetic Exchange Online data for `mailscope generate`, `mailscope simulate`, tests,
//! benchmarks and the demo: the tenant generator ([`tenant`]) and the emulated Microsoft
//! endpoints that serve it over HTTP ([`http`]).

pub mod http;
pub mod tenant;

pub use tenant::{
    Error, Generator, MAX_DAYS, MAX_MESSAGES, Observation, SpecialDays, TenantConfig, TenantInfo,
    generate,
};
