//! Printing scan reports: one JSON object, or an aligned table for people.

use checks::report::display_value;
use checks::Status;
use checks::{ResultRow, ScanReport};
use std::io::Write;

/// `--format` of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub fn write_report(
    out: &mut dyn Write,
    report: &ScanReport,
    format: Format,
    color: bool,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer(&mut *out, report)?;
            writeln!(out)
        }
        Format::Table => write_table(out, &report.results, color),
    }
}

fn expected_text(r: &ResultRow) -> String {
    match r.expected {
        None => String::new(),
        Some(e) => {
            let side = |v: Option<f64>| v.map(|v| display_value(r.metric, v));
            match (side(e.lower), side(e.upper)) {
                (Some(l), Some(u)) if l == u => format!("= {l}"),
                (Some(l), Some(u)) => format!("{l} .. {u}"),
                (Some(l), None) => format!(">= {l}"),
                (None, Some(u)) => format!("<= {u}"),
                (None, None) => String::new(),
            }
        }
    }
}

fn paint(status: Status, text: &str, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let code = match status {
        Status::Pass => "32",
        Status::Fail | Status::Error => "31",
        Status::Anomaly => "33",
        Status::Learning => "36",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn write_table(out: &mut dyn Write, rows: &[ResultRow], color: bool) -> std::io::Result<()> {
    let header = [
        "STATUS", "MONITOR", "METRIC", "COLUMN", "VALUE", "EXPECTED", "MESSAGE",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.status.to_string(),
                r.monitor.clone(),
                r.metric.to_string(),
                r.column().unwrap_or_default(),
                r.value
                    .map(|v| display_value(r.metric, v))
                    .unwrap_or_else(|| "-".into()),
                expected_text(r),
                r.message.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: &[String], status: Option<Status>| -> String {
        let mut s = String::new();
        for (i, (c, w)) in cols.iter().zip(widths).enumerate() {
            let last = i + 1 == cols.len();
            let padded = if last {
                c.clone()
            } else {
                format!("{c:<w$}  ")
            };
            match (i, status) {
                (0, Some(st)) => s.push_str(&paint(st, &padded, color)),
                _ => s.push_str(&padded),
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(&header.map(String::from), None))?;
    for (r, row) in rows.iter().zip(&cells) {
        writeln!(out, "{}", line(row, Some(r.status)))?;
    }
    let count = |st: Status| rows.iter().filter(|r| r.status == st).count();
    writeln!(
        out,
        "\n{} measurements: {} pass, {} fail, {} anomaly, {} learning, {} error",
        rows.len(),
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Anomaly),
        count(Status::Learning),
        count(Status::Error)
    )
}
