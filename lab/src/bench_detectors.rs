//! `tidewatch-lab bench detectors`: runs the synthetic data-observability suite ([`crate::synthetic`])
//! and prints its table and throughput. Figures for a person to read, never pass/fail.

use crate::synthetic;
use anyhow::Result;
use std::time::Instant;

/// Runs the synthetic data-observability suite: our detector against two simple baselines.
#[derive(Debug, clap::Args)]
pub struct DetectorsArgs {
    /// Seed of the generators.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Weeks per series.
    #[arg(long, default_value_t = 8)]
    pub weeks: u32,
}

/// `tidewatch-lab bench detectors`.
pub fn run(args: &DetectorsArgs) -> Result<()> {
    let started = Instant::now();
    let report = synthetic::run_suite(args.seed, args.weeks);
    let elapsed = started.elapsed().as_secs_f64();
    print!("{}", report.table());
    println!(
        "suite: {} points through 3 detectors in {:.3} s ({:.2} M points/s)",
        report.points,
        elapsed,
        3.0 * report.points as f64 / elapsed.max(1e-9) / 1e6
    );
    Ok(())
}
