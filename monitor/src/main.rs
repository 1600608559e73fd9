//! The `tidewatch` command line.

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tidewatch::output::{write_report, Format};

#[derive(Parser)]
#[command(
    name = "tidewatch",
    version,
    about = "Data observability monitor: profiles warehouse tables, checks them and learns what normal looks like"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a config file and report every problem at once with file:line:col.
    Validate {
        #[arg(short, long, default_value = "tidewatch.yaml")]
        config: PathBuf,
    },
    /// Run every monitor once, store the measurements and print the results.
    /// Exit code: 0 all good, 1 a check failed, the schema drifted or an anomaly, 2 config invalid or a measurement failed.
    Scan {
        #[arg(short, long, default_value = "tidewatch.yaml")]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Run only this monitor.
        #[arg(long)]
        monitor: Option<String>,
        /// Do not route alerts or deliver notifications (results are still stored).
        #[arg(long)]
        no_alerts: bool,
    },
    /// List incidents (newest first), or acknowledge / resolve one.
    Incidents {
        #[arg(short, long, default_value = "tidewatch.yaml", global = true)]
        config: PathBuf,
        /// Only incidents that are not resolved.
        #[arg(long)]
        open: bool,
        #[command(subcommand)]
        action: Option<IncidentAction>,
    },
    /// Mute alerts that match, for a while.
    Silence {
        #[arg(short, long, default_value = "tidewatch.yaml", global = true)]
        config: PathBuf,
        #[command(subcommand)]
        action: SilenceAction,
    },
    /// Check the alert wiring: send a test notification, or deliver what is pending.
    Alerts {
        #[arg(short, long, default_value = "tidewatch.yaml", global = true)]
        config: PathBuf,
        #[command(subcommand)]
        action: AlertsAction,
    },
    /// Print the SQL a scan would send to each monitor's warehouse (after its catalog read), without
    /// running it.
    Explain {
        #[arg(short, long, default_value = "tidewatch.yaml")]
        config: PathBuf,
        /// Only this monitor.
        #[arg(long)]
        monitor: Option<String>,
    },
    /// Mark an anomaly as expected (not an incident): it stays in the history and the baseline learns
    /// from it. Without --at, the newest measurement of the series is marked.
    Feedback {
        #[arg(short, long, default_value = "tidewatch.yaml")]
        config: PathBuf,
        #[arg(long)]
        monitor: String,
        #[arg(long)]
        metric: String,
        #[arg(long)]
        column: Option<String>,
        /// The measurement's time as the state store has it (RFC 3339, e.g. from `scan --format json`).
        #[arg(long)]
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Run the learned-baseline model over a `timestamp,value` CSV, strictly online.
    Detect(tidewatch::detect::DetectArgs),
    /// Write an example SQLite warehouse (a shop: six tables, weeks of hourly history, four injected
    /// incidents) and a config beside it, scan it, then serve the scheduler, API and dashboard over
    /// it until Ctrl-C (`--once`: exit after the scan). Exits 0 when the demo ran, whatever it found.
    Demo {
        /// Where to write warehouse.db, tidewatch.yaml and the state store.
        #[arg(long, default_value = "tidewatch-demo")]
        dir: PathBuf,
        /// Address of the API and dashboard (port 0: any free port).
        #[arg(long, default_value = tidewatch::service::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
        /// Scan once and exit, without serving.
        #[arg(long)]
        once: bool,
    },
    /// Run the service: every monitor on its `schedule:`/`every:`, the HTTP API, /metrics and the
    /// dashboard, until SIGTERM or Ctrl-C (running scans are drained first).
    Run {
        #[arg(short, long, default_value = "tidewatch.yaml")]
        config: PathBuf,
        /// Address to listen on (default: `api.listen`, else 127.0.0.1:8080; port 0: any free port).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
}

#[derive(Subcommand)]
enum IncidentAction {
    /// open -> acknowledged
    Ack {
        id: i64,
        /// Who (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// open | acknowledged -> resolved (a still failing check opens a new incident on its next scan)
    Resolve {
        id: i64,
        #[arg(long)]
        by: Option<String>,
    },
}

#[derive(Subcommand)]
enum SilenceAction {
    /// Add a silence: every --matcher must hold, e.g. --matcher 'dataset="public.orders"'.
    Add {
        #[arg(long = "matcher", required = true)]
        matchers: Vec<String>,
        /// How long, e.g. 30m, 2h, 1d.
        #[arg(long = "for")]
        duration: String,
        #[arg(long)]
        comment: String,
        /// Who (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Silences that have not ended (--all: every one).
    List {
        #[arg(long)]
        all: bool,
    },
    /// End a silence now.
    Expire { id: i64 },
}

#[derive(Subcommand)]
enum AlertsAction {
    /// Send one clearly marked test notification through every receiver (or one).
    Test {
        #[arg(long)]
        receiver: Option<String>,
    },
    /// Deliver pending notifications from the outbox, waiting at most --timeout for retries.
    Flush {
        #[arg(long, default_value = "30s")]
        timeout: String,
    },
}

fn who(by: Option<String>) -> String {
    by.or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "cli".to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A profile statement over a big table takes seconds by design: sqlx's slow-statement warnings
    // (the whole statement text each time) would bury the report. TIDEWATCH_LOG overrides this.
    // The service logs each run (info); one-shot commands only problems.
    let default_filter = match &cli.command {
        Command::Run { .. } => "info,sqlx::query=error",
        // The demo shows the service's runs and every alert routed and delivered.
        Command::Demo { .. } => "warn,tidewatch=info,sqlx::query=error",
        _ => "warn,sqlx::query=error",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TIDEWATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        // Escape codes only for a person at a terminal, never into a log file or collector.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Validate { config } => Ok(match load_config(&config) {
            Some(cfg) => {
                println!(
                    "{}: ok ({} sources, {} monitors)",
                    config.display(),
                    cfg.sources.len(),
                    cfg.monitors.len()
                );
                0
            }
            None => 2,
        }),
        Command::Scan {
            config,
            format,
            monitor,
            no_alerts,
        } => scan(&config, format, monitor.as_deref(), !no_alerts),
        Command::Explain { config, monitor } => explain(&config, monitor.as_deref()),
        Command::Incidents {
            config,
            open,
            action,
        } => {
            let Some(cfg) = load_config(&config) else {
                return Ok(2);
            };
            let said = runtime()?.block_on(async {
                let store = open_store(&cfg).await?;
                let now = chrono::Utc::now();
                use tidewatch::alerting::cli;
                let said = match action {
                    None => cli::list_incidents(&store, open).await,
                    Some(IncidentAction::Ack { id, by }) => {
                        cli::transition(&store, id, false, &who(by), now).await
                    }
                    Some(IncidentAction::Resolve { id, by }) => {
                        cli::transition(&store, id, true, &who(by), now).await
                    }
                };
                store.close().await;
                said
            })?;
            print!("{said}");
            if !said.ends_with('\n') {
                println!();
            }
            Ok(0)
        }
        Command::Silence { config, action } => {
            let Some(cfg) = load_config(&config) else {
                return Ok(2);
            };
            let said = runtime()?.block_on(async {
                let store = open_store(&cfg).await?;
                let now = chrono::Utc::now();
                use tidewatch::alerting::cli;
                let said = match action {
                    SilenceAction::Add {
                        matchers,
                        duration,
                        comment,
                        by,
                    } => {
                        cli::add_silence(&store, &matchers, &duration, &comment, &who(by), now)
                            .await
                    }
                    SilenceAction::List { all } => cli::list_silences(&store, all, now).await,
                    SilenceAction::Expire { id } => cli::expire_silence(&store, id, now).await,
                };
                store.close().await;
                said
            })?;
            print!("{said}");
            if !said.ends_with('\n') {
                println!();
            }
            Ok(0)
        }
        Command::Alerts { config, action } => {
            let Some(cfg) = load_config(&config) else {
                return Ok(2);
            };
            match action {
                AlertsAction::Test { receiver } => {
                    let (said, ok) = runtime()?.block_on(tidewatch::alerting::cli::send_test(
                        &cfg,
                        receiver.as_deref(),
                    ))?;
                    print!("{said}");
                    Ok(if ok { 0 } else { 1 })
                }
                AlertsAction::Flush { timeout } => {
                    let wait = alerts::route::parse_duration(&timeout)
                        .map_err(|e| anyhow::anyhow!("--timeout {timeout}: {e}"))?;
                    let Some(a) = &cfg.alerts else {
                        anyhow::bail!("{} has no alerts section", config.display());
                    };
                    let summary = runtime()?.block_on(async {
                        let store = open_store(&cfg).await?;
                        let deadline = tokio::time::Instant::now() + wait;
                        let s = tidewatch::alerting::deliver(&store, &a.notifiers, deadline)
                            .await
                            .context("delivering notifications");
                        store.close().await;
                        s
                    })?;
                    println!("alerts: {summary}");
                    Ok(0)
                }
            }
        }
        Command::Feedback {
            config,
            monitor,
            metric,
            column,
            at,
        } => {
            let Some(cfg) = load_config(&config) else {
                return Ok(2);
            };
            let said = runtime()?.block_on(async {
                let store = open_store(&cfg).await?;
                let said = tidewatch::feedback::mark_expected(
                    &store,
                    &monitor,
                    &metric,
                    column.as_deref(),
                    at,
                )
                .await;
                store.close().await;
                said
            })?;
            println!("{said}");
            Ok(0)
        }
        Command::Detect(a) => tidewatch::detect::run_detect(&a).map(|()| 0),
        Command::Run { config, listen } => {
            let Some(cfg) = load_config(&config) else {
                return Ok(2);
            };
            serve(cfg, listen)
        }
        Command::Demo { dir, listen, once } => {
            let rt = runtime()?;
            let prepared = rt.block_on(tidewatch::demo::prepare(&dir))?;
            let config = prepared.config;
            let mut out = std::io::stdout();
            // A closed stdout (`| head`) must not turn the demo into a panic.
            let _ = writeln!(out, "{}\nscan 2: every monitor\n", prepared.story);
            scan(&config, Format::Table, None, true)?;
            let _ = writeln!(out, "\n{}", tidewatch::demo::GUIDE);
            let _ = writeln!(
                out,
                "\nrun it again with: tidewatch scan -c {} [--format json]",
                config.display()
            );
            if once {
                return Ok(0);
            }
            let Some(cfg) = load_config(&config) else {
                return Ok(2);
            };
            let _ = writeln!(
                out,
                "serving the scheduler, API and dashboard (Ctrl-C to stop); the same as: tidewatch run -c {} --listen {listen}",
                config.display()
            );
            serve(cfg, Some(listen))
        }
    }
}

/// `tidewatch run`: the service until SIGTERM / Ctrl-C. Prints `listening on http://ADDR/` once bound.
fn serve(
    cfg: tidewatch::config::Config,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<u8> {
    let listen = match listen.or_else(|| cfg.api.as_ref().and_then(|a| a.listen)) {
        Some(a) => a,
        None => tidewatch::service::DEFAULT_LISTEN
            .parse()
            .context("the default listen address")?,
    };
    runtime()?.block_on(async {
        let store = std::sync::Arc::new(open_store(&cfg).await?);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let signal = shutdown.clone();
        tokio::spawn(async move {
            tidewatch::service::shutdown_signal().await;
            tracing::info!("shutting down: draining running scans");
            signal.cancel();
        });
        let served = tidewatch::service::run(
            std::sync::Arc::new(cfg),
            store.clone(),
            listen,
            shutdown,
            |addr| {
                let mut out = std::io::stdout();
                let _ = writeln!(out, "tidewatch: listening on http://{addr}/");
                let _ = out.flush();
            },
        )
        .await;
        store.close().await;
        served
    })?;
    Ok(0)
}

/// Loads and validates a config; on failure prints every problem (the caller exits 2).
fn load_config(path: &Path) -> Option<tidewatch::config::Config> {
    match tidewatch::config::load(path) {
        Ok(cfg) => Some(cfg),
        Err(errors) => {
            eprintln!("{errors}");
            None
        }
    }
}

async fn open_store(cfg: &tidewatch::config::Config) -> anyhow::Result<tidewatch::store::Store> {
    tidewatch::store::Store::connect(cfg.store.expose_secret())
        .await
        .context("opening the state store")
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("starting the async runtime")
}

fn explain(config: &Path, monitor: Option<&str>) -> anyhow::Result<u8> {
    let Some(cfg) = load_config(config) else {
        return Ok(2);
    };
    if let Some(name) = monitor {
        if !cfg.monitors.iter().any(|m| m.name == name) {
            anyhow::bail!("no monitor named {name} in {}", config.display());
        }
    }
    let mut out = std::io::stdout();
    let code = runtime()?.block_on(async {
        let store = open_store(&cfg).await?;
        let mut code = 0;
        for m in cfg
            .monitors
            .iter()
            .filter(|m| monitor.is_none_or(|o| m.name == o))
        {
            let request =
                tidewatch::pipeline::scan::request_for(&store, m, chrono::Utc::now()).await?;
            let _ = writeln!(out, "-- monitor {} ({}: {})", m.name, m.source, m.dataset);
            if let (Some(d), Some(source)) = (m.discover(), cfg.sources.get(&m.source)) {
                // One catalog statement for every table of the schemas (schemas bound as parameters).
                if let Some(sql) =
                    tidewatch::sources::warehouse::metadata::explain(source, &d.schemas)
                {
                    let _ = writeln!(out, "{sql};\n");
                }
                continue;
            }
            let (Some(source), Some(_)) = (cfg.sources.get(&m.source), m.table()) else {
                let _ = writeln!(out, "-- no SQL: a stream or reconcile monitor\n");
                continue;
            };
            match tidewatch::sources::warehouse::profile::explain(m, source, request).await {
                Ok(statements) => {
                    for sql in statements {
                        let _ = writeln!(out, "{sql};");
                    }
                }
                Err(e) => {
                    let _ = writeln!(out, "-- error: {e}");
                    code = 2;
                }
            }
            let _ = writeln!(out);
        }
        store.close().await;
        anyhow::Ok(code)
    })?;
    Ok(code)
}

fn scan(
    config: &Path,
    format: Format,
    monitor: Option<&str>,
    alerting: bool,
) -> anyhow::Result<u8> {
    let Some(cfg) = load_config(config) else {
        return Ok(2);
    };
    if let Some(name) = monitor {
        if !cfg.monitors.iter().any(|m| m.name == name) {
            anyhow::bail!("no monitor named {name} in {}", config.display());
        }
    }
    let rt = runtime()?;
    let (report, store) = rt.block_on(async {
        let store = open_store(&cfg).await?;
        let now = chrono::Utc::now();
        let report = tidewatch::pipeline::scan(&cfg, &store, monitor, now)
            .await
            .context("writing to the state store");
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                store.close().await;
                return Err(e);
            }
        };
        if let (Some(a), true) = (&cfg.alerts, alerting) {
            // A failure to route is loud but does not change the scan's exit code.
            match tidewatch::alerting::route_and_enqueue(
                &cfg,
                a,
                &store,
                &report.results,
                now,
                true,
            )
            .await
            {
                Ok(s) => tracing::info!(
                    firing = s.firing,
                    opened = s.opened,
                    resolved = s.resolved,
                    queued = s.queued,
                    "alerts routed"
                ),
                Err(e) => eprintln!("error: routing alerts: {e}"),
            }
        }
        anyhow::Ok((report, store))
    })?;
    let stdout = std::io::stdout();
    let color = stdout.is_terminal();
    let written = match write_report(&mut stdout.lock(), &report, format, color) {
        // A reader that stops early (`| head`) is not an error of the scan.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the report"),
    };
    rt.block_on(async {
        if let (Some(a), true) = (&cfg.alerts, alerting) {
            // Bounded: a receiver asking us to wait longer keeps its notification for the next run.
            let deadline = tokio::time::Instant::now() + a.flush_timeout;
            match tidewatch::alerting::deliver(&store, &a.notifiers, deadline).await {
                Ok(s) if s.pending > 0 || s.dead > 0 => eprintln!("alerts: {s}"),
                Ok(s) => tracing::info!("alerts: {s}"),
                Err(e) => eprintln!("error: delivering notifications: {e}"),
            }
        }
        store.close().await;
    });
    written?;
    Ok(report.exit_code() as u8)
}
