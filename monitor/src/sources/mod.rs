//! Sources: the one contract every connector implements.
//!
//! Given a monitor (and the bucket window the pipeline wants counted), a source returns a
//! [`checks::Profile`]: the schema (table columns or payload fields with types), the observations, the
//! per-bucket counts and the per-metric failures. A source knows nothing of baselines, stores or
//! alerts, and never fails as a whole: what it could not measure is a `Failure` inside the profile.
//!
//! Implementations: `warehouse` (PostgreSQL, MySQL/MariaDB, SQLite), `stream` (Kafka, NATS
//! JetStream) and `stream::reconcile` (a stream monitor against a table monitor).

pub mod stream;
pub mod warehouse;

use crate::config::{Config, Monitor, MonitorTarget, Source as SourceConfig};
use checks::{Profile, VolumeWindow};

/// What the pipeline asks of a source for one monitor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProfileRequest {
    /// The buckets to count, when the monitor has a time column.
    pub window: Option<VolumeWindow>,
    /// Measure only the new data (the window's rows and freshness) when the source can: an
    /// incremental scan of a `mode: incremental` monitor between full profiles.
    pub new_data_only: bool,
    /// The last scan saw a row at or after the window's start, so rows in the window are likely and
    /// the window is counted inside the profile statement. Otherwise (a stale table, a daily loader
    /// between loads) the profile leaves the per-bucket aggregates out and its `MAX(ts)` decides:
    /// no row inside the window means every bucket is empty; a row there costs one grouped, sargable
    /// statement over just the window.
    pub recent_rows: bool,
}
use std::future::Future;

/// A connector that can profile a monitor's dataset.
///
/// The future is not required to be `Send`: sqlx's executor traits defeat the compiler's proof for the
/// warehouse connector's futures (a known higher-ranked lifetime limitation), and the pipeline drives
/// all of a scan's profiles on one task anyway.
pub trait Source {
    /// Measures `monitor` once. `request.window` is the range of buckets to count, when the monitor
    /// has a time column; the profile's `buckets` answer it.
    fn profile(&self, monitor: &Monitor, request: ProfileRequest) -> impl Future<Output = Profile>;
}

/// A warehouse source: one connection per profile, closed after it.
pub struct WarehouseSource<'a> {
    pub config: &'a SourceConfig,
}

impl Source for WarehouseSource<'_> {
    fn profile(&self, monitor: &Monitor, request: ProfileRequest) -> impl Future<Output = Profile> {
        warehouse::profile::measure(monitor, self.config, request)
    }
}

/// A reconciliation of two other monitors of the config (`reconcile:`).
pub struct ReconcileSource<'a> {
    pub config: &'a Config,
}

/// The source a config entry describes.
pub enum Connector<'a> {
    Warehouse(WarehouseSource<'a>),
    /// Kafka or NATS JetStream.
    Stream(stream::StreamSource<'a>),
    Reconcile(ReconcileSource<'a>),
}

impl<'a> Connector<'a> {
    pub fn for_config(config: &'a SourceConfig) -> Connector<'a> {
        if config.kind.is_stream() {
            Connector::Stream(stream::StreamSource { config })
        } else {
            Connector::Warehouse(WarehouseSource { config })
        }
    }

    /// The connector that measures `monitor`; `None` when its source is not defined.
    pub fn for_monitor(config: &'a Config, monitor: &Monitor) -> Option<Connector<'a>> {
        match monitor.target {
            MonitorTarget::Reconcile(_) => Some(Connector::Reconcile(ReconcileSource { config })),
            _ => config
                .sources
                .get(&monitor.source)
                .map(Connector::for_config),
        }
    }
}

impl Source for Connector<'_> {
    async fn profile(&self, monitor: &Monitor, request: ProfileRequest) -> Profile {
        match self {
            Connector::Warehouse(w) => w.profile(monitor, request).await,
            Connector::Stream(s) => s.measure(monitor, request.window).await,
            Connector::Reconcile(r) => {
                stream::reconcile::measure(r.config, monitor, chrono::Utc::now().timestamp()).await
            }
        }
    }
}
