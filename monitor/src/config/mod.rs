//! Configuration: the validated, typed form of `tidewatch.yaml`.
//!
//! Loading happens in two stages (see `load`): the YAML is parsed into a tree that keeps line and column
//! of every node, then decoded and validated into these types while *every* problem is collected with its
//! place, so `tidewatch validate` reports them all at once.

mod interp;
mod load;

pub use interp::{interpolate, InterpError};
pub use load::alerts_section::{
    builtin_inhibit_rule, AlertsConfig, WarnSpec, AUTOMATIC_LABELS, DEFAULT_FLUSH_TIMEOUT,
};
pub use load::discover::{discovered_monitor, discovered_name, DiscoverSpec};
pub use load::service::{describe as describe_schedule, ApiConfig, ScheduleSpec, MIN_EVERY};
pub use load::stream::{
    KeySpec, PayloadFormat, ReconcileMonitor, StreamMonitor, DEFAULT_LATENESS_GRACE, DEFAULT_SAMPLE,
};
pub use load::{
    load, parse_str, ConfigError, ConfigErrors, DEFAULT_BUCKET, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_FULL_PROFILE_EVERY, DEFAULT_LOOKBACK, DEFAULT_RETENTION, DEFAULT_SENSITIVITY,
    DEFAULT_STATEMENT_TIMEOUT, DEFAULT_STORE_FILE,
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
    /// The `alerts:` section; `None` when absent (then nobody is notified).
    pub alerts: Option<AlertsConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
    Sqlite,
    /// Kafka (config `brokers`).
    Kafka,
    /// NATS JetStream (config `url`).
    Nats,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Postgres => "postgres",
            SourceKind::Mysql => "mysql",
            SourceKind::Sqlite => "sqlite",
            SourceKind::Kafka => "kafka",
            SourceKind::Nats => "nats",
        }
    }

    /// Whether the source is a message broker (topics and streams) rather than a warehouse.
    pub fn is_stream(self) -> bool {
        matches!(self, SourceKind::Kafka | SourceKind::Nats)
    }
}

#[derive(Debug)]
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
    /// Connection URL after `${VAR}` interpolation (Kafka: the `brokers` list). Never printed.
    pub url: SecretString,
    /// Per-statement timeout (config `statement_timeout`, default 5 minutes); for a broker, the bound
    /// of one whole profile.
    pub statement_timeout: Duration,
    /// Connect timeout (config `connect_timeout`, default 10 seconds).
    pub connect_timeout: Duration,
    /// Runs of this source's monitors at once under `tidewatch run` (config
    /// `max_concurrent_scans`, 1 to 64); `None`: the scheduler's default of 2.
    pub max_concurrent_scans: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Monitor {
    pub name: String,
    /// Name of an entry in `Config::sources` (validated to exist).
    pub source: String,
    /// The table, topic or stream exactly as configured, e.g. `public.orders`: reported as `dataset`.
    pub dataset: String,
    /// What the monitor measures: a table, a topic or stream, or a reconciliation of two monitors.
    pub target: MonitorTarget,
    pub timestamp_column: Option<Ident>,
    /// Key columns for duplicate metrics; empty when not configured.
    pub key: Vec<Ident>,
    /// Columns to profile; `None` means every column of the table.
    pub columns: Option<Vec<Ident>>,
    /// Columns that get an exact distinct count (config `distinct`), besides those a
    /// `distinct_count(col)` check names. The rest get none (or the warehouse's approximate one).
    pub distinct: Vec<Ident>,
    /// A boolean SQL expression (config `where`) that every statement over the table applies, so a
    /// partition or a slice can be watched. Written by the user; runs inside the read-only transaction.
    pub filter: Option<String>,
    /// `sample: 1%` (table monitors on warehouses with `TABLESAMPLE`): column statistics (NULL rates,
    /// min/max/mean) come from a block sample of the table; row count, duplicates, distinct counts
    /// asked for, freshness and buckets stay exact. Hundredths of a percent (1% = 100).
    pub sample: Option<u32>,
    /// `full` (default): every scan profiles the whole table. `incremental`: scans read only the new
    /// rows (the buckets being counted) and freshness; the table-wide profile runs every
    /// `full_profile_every`.
    pub mode: ProfileMode,
    pub full_profile_every: Duration,
    /// How late rows may arrive: the buckets of the last `lateness` are counted again on every scan
    /// (default 0: only the newest stored bucket is).
    pub lateness: Duration,
    pub checks: Vec<CheckSpec>,
    /// Width of a volume bucket (config `bucket`, default 1 hour).
    pub bucket: Duration,
    /// How readily the learned baseline flags a point (config `sensitivity`, in (0, 1), default 0.46):
    /// a point is an anomaly when its score is at least `1 - sensitivity`.
    pub sensitivity: f64,
    /// Which side of the learned band is an anomaly (config `direction`). Unset, each series
    /// takes its kind's default (`checks::baseline::Params::default_for`): up for the shares of
    /// bad rows or messages (null, duplicate, parse-error, late rates, reconcile gap), both for
    /// the rest; freshness alerts only on data too old whatever this says.
    pub direction: Option<Direction>,
    /// Config `min_change`: per kind of series, the smallest deviation that may alert, absolute
    /// (in the series' unit) or relative (`5%` of the expected value), in file order. A kind not
    /// named keeps its defaults (`checks::baseline::Params::default_for`).
    pub min_change: Vec<(checks::baseline::SeriesKind, checks::baseline::MinChange)>,
    /// How much history the baseline learns from (config `lookback`, default 28 days).
    pub lookback: Duration,
    /// History before this time is not learned from (config `baseline_since`, RFC 3339): set it after
    /// an intended change so the baseline starts over.
    pub baseline_since: Option<chrono::DateTime<chrono::Utc>>,
    /// When `tidewatch run` runs it (config `schedule` + `timezone`, or `every`); `None`: only on
    /// request.
    pub schedule: Option<ScheduleSpec>,
    /// Config `labels`: ride on every alert of the monitor (`severity` is its default severity).
    pub labels: alerts::LabelSet,
    /// `timezone:` and `holidays:` (see `load/calendar.rs`): the local clock of the learned baselines.
    pub calendar: checks::baseline::Calendar,
}

impl Monitor {
    /// The key column sets counted for duplicates: the monitor's `key`, then every other column set a
    /// `duplicate_count` / `duplicate_rate` check names, each once, in file order.
    pub fn key_sets(&self) -> Vec<Vec<Ident>> {
        let mut sets: Vec<Vec<Ident>> = Vec::new();
        if !self.key.is_empty() {
            sets.push(self.key.clone());
        }
        for c in self
            .checks
            .iter()
            .filter(|c| c.check.metric.is_key_metric())
        {
            let Some(label) = c.check.column.as_deref() else {
                continue;
            };
            let set: Option<Vec<Ident>> = label.split(',').map(|k| Ident::new(k).ok()).collect();
            if let Some(set) = set.filter(|s| !s.is_empty() && !sets.contains(s)) {
                sets.push(set);
            }
        }
        sets
    }

    /// Whether a column's exact distinct count is asked for (by `distinct:` or a check).
    pub fn wants_distinct(&self, column: &str) -> bool {
        self.distinct.iter().any(|d| d.as_str() == column)
            || self.checks.iter().any(|c| {
                c.check.metric == checks::Metric::DistinctCount
                    && c.check.column.as_deref() == Some(column)
            })
    }
}

/// How a monitor's scans read the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileMode {
    Full,
    Incremental,
}

/// What a monitor measures.
#[derive(Debug, Clone)]
pub enum MonitorTarget {
    /// A warehouse table (config `table`).
    Table(TableRef),
    /// A Kafka topic (config `topic`) or NATS JetStream stream (config `stream`).
    Stream(StreamMonitor),
    /// Per-bucket counts of a stream monitor against a table monitor (config `reconcile`); `source`
    /// is the stream monitor's source.
    Reconcile(ReconcileMonitor),
    /// A template over every table of some schemas, measured from the catalog (config `discover`, see
    /// `load/discover.rs`); each discovered table becomes a monitor of its own.
    Discover(Box<DiscoverSpec>),
}

impl Monitor {
    /// The table, when the monitor measures one.
    pub fn table(&self) -> Option<&TableRef> {
        match &self.target {
            MonitorTarget::Table(t) => Some(t),
            _ => None,
        }
    }

    /// Whether the pipeline should ask the source for per-bucket counts: a table with a timestamp
    /// column, or a stream (bucketed by broker time).
    pub fn is_bucketed(&self) -> bool {
        match &self.target {
            MonitorTarget::Table(_) => self.timestamp_column.is_some(),
            MonitorTarget::Stream(_) | MonitorTarget::Reconcile(_) => true,
            MonitorTarget::Discover(_) => false,
        }
    }

    /// The discovery spec, when the monitor is a `discover:` template.
    pub fn discover(&self) -> Option<&DiscoverSpec> {
        match &self.target {
            MonitorTarget::Discover(d) => Some(&**d),
            _ => None,
        }
    }
}

/// One explicit check as written in the file.
#[derive(Debug, Clone)]
pub struct CheckSpec {
    pub check: Check,
    /// The text as written, for messages.
    pub text: String,
    /// Where it stands in the file.
    pub place: Place,
    /// Config `severity` of a check written as a mapping: the severity of its failure's alert.
    pub severity: Option<alerts::Severity>,
    /// Config `warn`: an alert-only threshold on the same metric (see `alerting::map`).
    pub warn: Option<WarnSpec>,
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
