//! Configuration: the validated, typed form of `tidewatch.yaml`.
//!
//! Loading happens in two stages (see `load`): the YAML is parsed into a tree that keeps line and column
//! of every node, then decoded and validated into these types while *every* problem is collected with its
//! place, so `tidewatch validate` reports them all at once.

mod interp;
mod load;

pub use interp::{interpolate, InterpError};
pub use load::service::{describe as describe_schedule, ApiConfig, ScheduleSpec, MIN_EVERY};
pub use load::{
    load, parse_str, ConfigError, ConfigErrors, DEFAULT_BUCKET, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_LOOKBACK, DEFAULT_RETENTION, DEFAULT_SENSITIVITY, DEFAULT_STATEMENT_TIMEOUT,
    DEFAULT_STORE_FILE,
};

use crate::ident::{Ident, TableRef};
use checks::expr::Check;
use checks::Direction;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A validated config file.
#[derive(Debug)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// State store URL: `sqlite://PATH` (relative paths resolve beside the config) or `postgres://…`.
    pub store: SecretString,
    /// History older than this is pruned from the state store after each scan (config `retention`,
    /// default 400 days). Keep it at least as long as every monitor's `lookback`.
    pub retention: Duration,
    /// Sources by name, in name order.
    pub sources: BTreeMap<String, Source>,
    /// Monitors in file order; names are unique.
    pub monitors: Vec<Monitor>,
    /// The `api:` block (listen address, tokens) for `tidewatch run`.
    pub api: Option<ApiConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
    Sqlite,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Postgres => "postgres",
            SourceKind::Mysql => "mysql",
            SourceKind::Sqlite => "sqlite",
        }
    }
}

#[derive(Debug)]
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
    /// Connection URL after `${VAR}` interpolation. Never printed.
    pub url: SecretString,
    /// Per-statement timeout (config `statement_timeout`, default 5 minutes).
    pub statement_timeout: Duration,
    /// Connect timeout (config `connect_timeout`, default 10 seconds).
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Monitor {
    pub name: String,
    /// Name of an entry in `Config::sources` (validated to exist).
    pub source: String,
    /// The table exactly as configured, e.g. `public.orders`: reported as `dataset`.
    pub dataset: String,
    pub table: TableRef,
    pub timestamp_column: Option<Ident>,
    /// Key columns for duplicate metrics; empty when not configured.
    pub key: Vec<Ident>,
    /// Columns to profile; `None` means every column of the table.
    pub columns: Option<Vec<Ident>>,
    pub checks: Vec<CheckSpec>,
    /// Width of a volume bucket (config `bucket`, default 1 hour).
    pub bucket: Duration,
    /// How readily the learned baseline flags a point (config `sensitivity`, in (0, 1), default 0.46):
    /// a point is an anomaly when its score is at least `1 - sensitivity`.
    pub sensitivity: f64,
    /// Which side of the learned band is an anomaly (config `direction`, default both).
    pub direction: Direction,
    /// How much history the baseline learns from (config `lookback`, default 28 days).
    pub lookback: Duration,
    /// History before this time is not learned from (config `baseline_since`, RFC 3339): set it after
    /// an intended change so the baseline starts over.
    pub baseline_since: Option<chrono::DateTime<chrono::Utc>>,
    /// When `tidewatch run` runs it (config `schedule` + `timezone`, or `every`); `None`: only on
    /// request.
    pub schedule: Option<ScheduleSpec>,
}

/// One explicit check as written in the file.
#[derive(Debug, Clone)]
pub struct CheckSpec {
    pub check: Check,
    /// The text as written, for messages.
    pub text: String,
    /// Where it stands in the file.
    pub place: Place,
}

/// A place in a file, 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

#[cfg(test)]
mod tests;
