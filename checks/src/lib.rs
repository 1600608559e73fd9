//! Pure core of Tidewatch: metric and observation types, explicit check expressions, schema diffs,
//! evaluation into verdicts and learned baselines.
//!
//! Architecture Invariant: this crate does no IO. No tokio, no sqlx, no files, no clock: time comes in as
//! arguments, so every function here is deterministic and testable on plain values.

pub mod baseline;
pub mod evaluate;
pub mod expr;
pub mod metric;
pub mod schema;
pub mod series;
pub mod verdict;

pub use metric::{Metric, Observation};
pub use schema::{Column, SchemaDiff, TypeChange};
pub use series::{SeriesKey, Target};
pub use verdict::{Direction, Expected, Status};
