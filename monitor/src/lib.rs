//! Tidewatch monitor: config, sources (warehouse connectors), the scan pipeline and the CLI's pieces.
//! The `tidewatch` binary in `main.rs` is a thin CLI over this library.

pub mod alerting;
pub mod config;
pub mod demo;
pub mod detect;
pub mod feedback;
pub mod ident;
pub mod output;
pub mod pipeline;
pub mod secret;
pub mod service;
pub mod sources;

/// The state store (crate `tidewatch-store`), under its old path so `crate::store::…` keeps working.
pub use tidewatch_store as store;
