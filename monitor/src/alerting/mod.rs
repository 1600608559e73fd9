//! Alerting, after a scan's results are stored: `map` turns result rows into alerts, `step` keeps
//! incidents and the grouping state and writes due notifications to the outbox (one transaction),
//! `deliver` sends the outbox, `cli` the `incidents`, `silence` and `alerts` commands.

pub mod cli;
pub mod deliver;
pub mod map;
pub mod step;

pub use deliver::{deliver, DeliverySummary};
pub use step::{run as route_and_enqueue, StepSummary};
