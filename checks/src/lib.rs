//! Pure core of Tidewatch: metric, series-key and observation types, the profile a source returns,
//! explicit check expressions and their evaluation, judging a profile into result rows, bucket windows,
//! schema diffs and learned baselines with history replay.
//!
//! Architecture Invariant: this crate does no IO. No tokio, no sqlx, no files, no clock: time comes in as
//! arguments, so every function here is deterministic and testable on plain values.

pub mod baseline;
pub mod evaluate;
pub mod expr;
pub mod judge;
pub mod metric;
pub mod profile;
pub mod report;
pub mod schema;
pub mod series;
pub mod verdict;
pub mod window;

pub use metric::{Metric, Observation};
pub use profile::{Detail, Failure, Profile, Skipped};
pub use report::{ResultRow, ScanReport};
pub use schema::{next_snapshot, Column, SchemaDiff, TypeChange, UNKNOWN_TYPE};
pub use series::{SeriesKey, Target};
pub use verdict::{Direction, Expected, Status};
pub use window::{BucketCounts, CountedBucket, VolumeWindow};
