//! Synthetic Exchange Online data for `mailscope generate`, tests, benchmarks and the demo.
//! Today: the tenant generator ([`tenant`]); the emulated Microsoft endpoints come later.

pub mod tenant;

pub use tenant::{
    Error, Generator, MAX_DAYS, MAX_MESSAGES, Observation, SpecialDays, TenantConfig, TenantInfo,
    generate,
};
