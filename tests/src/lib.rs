//! Shared helpers for the workspace tests. The store conformance suite itself lives in the store crate
//! (`tidewatch_store::conformance`, feature `conformance`); `tests/tests/store_*.rs` run it on each
//! backend with the fresh databases of [`db`].

pub mod db;
pub mod scan_suite;
pub mod streams;
pub mod warehouses;
