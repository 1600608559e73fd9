//! The `tidewatch-lab` command line: figures printed for a person to read, never pass/fail.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tidewatch-lab",
    version,
    about = "Tidewatch's lab (not shipped): NAB scores of the anomaly model, the synthetic detector suite and the profile benchmark"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score the anomaly model on the NAB corpus (../shared/nab) and print throughput.
    Nab(lab::nab_driver::NabArgs),
    /// Benchmarks: figures printed for a person to read, never pass/fail.
    Bench {
        #[command(subcommand)]
        bench: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Run the synthetic data-observability suite: our detector against a rolling z-score and a
    /// seasonal median/MAD baseline (precision, recall, delay, false alarms per series-week).
    Detectors(lab::bench_detectors::DetectorsArgs),
    /// Run the seeded generator suite per family: our detector beside a rolling z-score, an
    /// Elementary-style z-score and a seasonal median/MAD.
    Suite(lab::bench_detectors::SuiteArgs),
    /// Time `tidewatch scan` of a 21-column PostgreSQL table against one hand-written SQL statement
    /// computing the same metrics, and print the ratio of the medians per table size.
    Profile(lab::bench_profile::ProfileOptions),
    /// Time a `mode: incremental` scan of the newest hour of an indexed PostgreSQL table (1e7 rows by
    /// default) beside a full scan of it.
    Incremental(lab::bench_incremental::IncrementalArgs),
    /// One metadata cycle of a `discover:` monitor over 10,000 generated PostgreSQL tables, cold and
    /// warm: seconds per cycle and catalog statements sent.
    Metadata(lab::bench_metadata::MetadataOptions),
    /// Messages per second of the stream payload profile step (JSON → Arrow → metrics) on one core.
    Payload(lab::bench_payload::PayloadArgs),
    /// The service: /metrics render time for 10,000 series, API latency at 1,000 req/s on loopback,
    /// the idle scheduler's CPU with 1,000 monitors.
    Service(lab::bench_service::ServiceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A profile statement over a big table takes seconds by design: sqlx's slow-statement warnings
    // (the whole statement text each time) would bury the report. TIDEWATCH_LOG overrides this.
    let default_filter = "warn,sqlx::query=error";
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TIDEWATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Nab(a) => lab::nab_driver::run_nab(&a),
        Command::Bench {
            bench: BenchCommand::Detectors(a),
        } => lab::bench_detectors::run(&a),
        Command::Bench {
            bench: BenchCommand::Payload(a),
        } => lab::bench_payload::run(&a),
        Command::Bench {
            bench: BenchCommand::Suite(a),
        } => lab::bench_detectors::run_suite(&a),
        Command::Bench {
            bench: BenchCommand::Profile(opts),
        } => tokio::runtime::Runtime::new()
            .context("starting the async runtime")?
            .block_on(lab::bench_profile::profile(&opts)),
        Command::Bench {
            bench: BenchCommand::Incremental(a),
        } => tokio::runtime::Runtime::new()
            .context("starting the async runtime")?
            .block_on(lab::bench_incremental::run(&a)),
        Command::Bench {
            bench: BenchCommand::Metadata(opts),
        } => tokio::runtime::Runtime::new()
            .context("starting the async runtime")?
            .block_on(lab::bench_metadata::run(&opts)),
        Command::Bench {
            bench: BenchCommand::Service(a),
        } => tokio::runtime::Runtime::new()
            .context("starting the async runtime")?
            .block_on(lab::bench_service::run(&a)),
    }
}
