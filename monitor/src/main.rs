use anyhow::Result;
use clap::{Parser, Subcommand};
use tidewatch::detect;

/// Tidewatch: a data observability monitor.
#[derive(Debug, Parser)]
#[command(name = "tidewatch", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the learned-baseline anomaly model over a `timestamp,value` CSV (strictly online).
    Detect(detect::DetectArgs),
    /// Score the anomaly model on the NAB corpus and print throughput.
    Nab(detect::NabArgs),
    /// Run the synthetic data-observability suite against two simple baselines.
    BenchDetectors(detect::BenchArgs),
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Detect(a) => detect::run_detect(&a),
        Command::Nab(a) => detect::run_nab(&a),
        Command::BenchDetectors(a) => detect::run_bench(&a),
    }
}
