//! Tidewatch monitor: config, warehouse connectors and the `scan` pipeline.
//! The `tidewatch` binary in `main.rs` is a thin CLI over this library.

pub mod baseline;
pub mod bench;
pub mod config;
pub mod demo;
pub mod detect;
pub mod feedback;
pub mod ident;
pub mod output;
pub mod scan;
pub mod secret;
pub mod warehouse;

/// The state store (crate `tidewatch-store`), under its old path so `crate::store::…` keeps working.
pub use tidewatch_store as store;
