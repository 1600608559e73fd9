//! Tidewatch's lab: the research and benchmark code behind the figures in the README, kept out of the
//! shipped `tidewatch` binary. Its own binary, `tidewatch-lab`, runs `nab`, `bench detectors`,
//! `bench profile`, `bench payload` and `bench metadata`.
//!
//! Architecture Invariant: nothing in `checks` or `monitor` depends on this crate; the lab measures the
//! product's models and pipeline through their public API (`checks::baseline`, `tidewatch::pipeline`).

pub mod bench_detectors;
pub mod bench_incremental;
pub mod bench_metadata;
pub mod bench_payload;
pub mod bench_profile;
pub mod bench_service;
pub mod generator;
pub mod nab;
pub mod nab_driver;
pub mod novelty;
pub mod scratch_db;
pub mod synthetic;
