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

/// Runs the seeded generator suite ([`crate::generator`]): per family, our detector beside a rolling
/// z-score, an Elementary-style z-score and a seasonal median/MAD.
#[derive(Debug, clap::Args)]
pub struct SuiteArgs {
    /// Seeds, `a-b` or `a,b,...`. Tune seeds: 1-20. Report seeds (never looked at while tuning):
    /// 1001-1040.
    #[arg(long, default_value = "1-20")]
    pub seeds: String,
    /// Weeks per series (daily volumes get at least 20).
    #[arg(long, default_value_t = 10)]
    pub weeks: u32,
    /// List our detector's alert episodes and the incidents of each series whose name starts with
    /// this (e.g. `freshness_business_hours`); for looking into tune seeds only.
    #[arg(long)]
    pub show: Option<String>,
}

/// `tidewatch-lab bench suite`.
pub fn run_suite(args: &SuiteArgs) -> Result<()> {
    let Some(seeds) = crate::generator::parse_seeds(&args.seeds) else {
        anyhow::bail!("bad --seeds `{}` (expected a-b or a,b,...)", args.seeds);
    };
    if let Some(prefix) = &args.show {
        crate::generator::show(&seeds, args.weeks, prefix);
    }
    let started = Instant::now();
    let report = crate::generator::run(&seeds, args.weeks);
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "generator suite: seeds {} ({} seeds), {} series ({} without incident), {} points, {} weeks",
        args.seeds,
        seeds.len(),
        report.series,
        report.clean_series,
        report.points,
        args.weeks
    );
    print!("{}", report.table());
    println!("({elapsed:.1} s)");
    Ok(())
}
