//! `tidewatch detect`, `tidewatch nab` and `tidewatch bench detectors`: the learned-baseline model run
//! over CSV files, and the figures that prove it (NAB scores, the synthetic suite, throughput).

use anyhow::{bail, Context, Result};
use checks::baseline::{Detector, Direction, NoveltyConfig, NoveltyModel, Params, SeriesKind};
use checks::nab::{self, ScoredSeries, Window};
use checks::synthetic;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Runs the monitors' anomaly model over a `timestamp,value` CSV, strictly online.
#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// Kind of series: volume, freshness, rate, ratio or generic.
    #[arg(long)]
    pub kind: SeriesKind,
    /// Sensitivity in [0, 1]; the anomaly threshold on the score is 1 - sensitivity.
    #[arg(long)]
    pub sensitivity: Option<f64>,
    /// Which deviations count: both, up or down (default: the kind's).
    #[arg(long)]
    pub direction: Option<Direction>,
    /// Input CSV (default: stdin).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Output CSV (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Scores the detector on the NAB corpus (dev half) under the three NAB profiles.
#[derive(Debug, clap::Args)]
pub struct NabArgs {
    /// The NAB folder with `data/`, `labels/combined_windows.json` and `profiles.json`.
    #[arg(long, default_value = "../shared/nab")]
    pub data: PathBuf,
    /// Sensitivity whose threshold is reported as the shipped default.
    #[arg(long)]
    pub sensitivity: Option<f64>,
    /// Also print each file's standard-profile raw score at the best threshold.
    #[arg(long)]
    pub per_file: bool,
    /// Model(s) to score: generic or novelty; repeat (or comma-separate) to compare them in one run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [NabModel::Generic])]
    pub model: Vec<NabModel>,
    /// Overrides of the novelty model's settings, `key=value,...` (scales=1:4:16, window, vigilance,
    /// max_boxes, warmup, peak_half_life, prior_weight, tail_after); for experiments.
    #[arg(long)]
    pub novelty_config: Option<String>,
    /// Write each file's scores (one per line) under this folder, as `<model>/<category>/<file>`.
    #[arg(long)]
    pub dump: Option<PathBuf>,
    /// With `--per-file`, also list each window's first detection and each false positive.
    #[arg(long)]
    pub windows: bool,
}

/// A model `tidewatch nab` can score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NabModel {
    /// The monitors' seasonal robust residual model.
    Generic,
    /// The multi-scale window novelty model.
    Novelty,
}

impl std::fmt::Display for NabModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NabModel::Generic => "generic",
            NabModel::Novelty => "novelty",
        })
    }
}

/// Parses `key=value,...` overrides of the novelty settings.
fn novelty_config(spec: Option<&str>) -> Result<NoveltyConfig> {
    let mut c = NoveltyConfig::default();
    let Some(spec) = spec else { return Ok(c) };
    for kv in spec.split(',').filter(|s| !s.trim().is_empty()) {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("novelty config: expected key=value, got `{kv}`");
        };
        let (k, v) = (k.trim(), v.trim());
        let num = |v: &str| -> Result<f64> {
            v.parse::<f64>()
                .with_context(|| format!("novelty config: bad number `{v}` for {k}"))
        };
        match k {
            "scales" => {
                let mut s = [0usize; 3];
                for (slot, f) in s.iter_mut().zip(v.split(':')) {
                    *slot = num(f)? as usize;
                }
                c.scales = s;
            }
            "window" => c.window = num(v)? as usize,
            "vigilance" => c.vigilance = num(v)?,
            "max_boxes" => c.max_boxes = num(v)? as usize,
            "warmup" => c.warmup = num(v)? as usize,
            "peak_half_life" => c.peak_half_life = num(v)?,
            "prior_weight" => c.prior_weight = num(v)?,
            "tail_after" => c.tail_after = num(v)? as usize,
            "short" => c.short = num(v)? as usize,
            "range_follow" => c.range_follow = num(v)?,
            "residual" => c.residual = num(v)? != 0.0,
            "margin" => c.margin = num(v)?,
            "pareto" => c.pareto = num(v)?,
            _ => bail!("novelty config: unknown key `{k}`"),
        }
    }
    Ok(c)
}

/// Runs the synthetic data-observability suite: our detector against two simple baselines.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Seed of the generators.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Weeks per series.
    #[arg(long, default_value_t = 8)]
    pub weeks: u32,
}

/// A CSV line that is not `timestamp,value`.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("line {line}: expected `timestamp,value`, got `{text}`")]
    Shape { line: usize, text: String },
    #[error("line {line}: bad timestamp `{text}` (expected YYYY-MM-DD HH:MM:SS, RFC 3339 or epoch seconds)")]
    Timestamp { line: usize, text: String },
    #[error("line {line}: bad value `{text}`")]
    Value { line: usize, text: String },
}

/// Parses `YYYY-MM-DD HH:MM:SS[.f]` (UTC), RFC 3339 or epoch seconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = trim(s);
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() {
            return Some(f.floor() as i64);
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp());
        }
    }
    None
}

/// One parsed row: timestamp, the value (NaN when empty or `nan`) and the value's original text.
pub type Row = (i64, f64, String);

/// Reads a `timestamp,value` CSV; the header line is optional, blank lines are skipped.
pub fn read_series(reader: impl Read) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (i, line) in BufReader::new(reader).lines().enumerate() {
        let line_no = i + 1;
        let line = line.with_context(|| format!("cannot read line {line_no}"))?;
        if let Some((ts, value, text)) = parse_row(line_no, &line, rows.is_empty())? {
            rows.push((ts, value, text.to_string()));
        }
    }
    Ok(rows)
}

/// Parses one CSV line: `None` for a blank line or (when `first`) the header; otherwise the timestamp,
/// the value (NaN when empty or `nan`) and the value's text as written.
pub fn parse_row(
    line_no: usize,
    line: &str,
    first: bool,
) -> Result<Option<(i64, f64, &str)>, CsvError> {
    let text = trim(line);
    if text.is_empty() {
        return Ok(None);
    }
    // Exactly one comma (byte scans: a comma is one byte in UTF-8 and never inside another character).
    let comma = text.bytes().position(|b| b == b',');
    let (t, v) = match comma {
        Some(i) if !text.as_bytes()[i + 1..].contains(&b',') => (&text[..i], &text[i + 1..]),
        _ => {
            return Err(CsvError::Shape {
                line: line_no,
                text: text.to_string(),
            })
        }
    };
    let (t, v) = (trim_quotes(trim(t)), trim_quotes(trim(v)));
    if first && t.eq_ignore_ascii_case("timestamp") {
        return Ok(None);
    }
    let ts = parse_timestamp(t).ok_or_else(|| CsvError::Timestamp {
        line: line_no,
        text: t.to_string(),
    })?;
    let value = if v.is_empty() || v.eq_ignore_ascii_case("nan") {
        f64::NAN
    } else {
        v.parse::<f64>().map_err(|_| CsvError::Value {
            line: line_no,
            text: v.to_string(),
        })?
    };
    Ok(Some((ts, value, v)))
}

/// `s.trim()`, with the ASCII white space stripped on bytes; only when a non-ASCII character is then
/// at either end does it defer to `str::trim` (which also knows Unicode white space).
fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    let ws = |c: &u8| matches!(c, b'\t'..=b'\r' | b' ');
    let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ws(c)).map_or(start, |i| i + 1);
    if (start < end) && (b[start] >= 0x80 || b[end - 1] >= 0x80) {
        return s.trim();
    }
    &s[start..end]
}

/// `s.trim_matches('"')`, on bytes.
fn trim_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b.iter().position(|&c| c != b'"').unwrap_or(b.len());
    let end = b.iter().rposition(|&c| c != b'"').map_or(start, |i| i + 1);
    &s[start..end]
}

/// `tidewatch detect`.
pub fn run_detect(args: &DetectArgs) -> Result<()> {
    let mut params = Params::default_for(args.kind);
    if let Some(s) = args.sensitivity {
        if !(0.0..=1.0).contains(&s) {
            bail!("sensitivity must be in [0, 1], got {s}");
        }
        params.sensitivity = s;
    }
    if let Some(d) = args.direction {
        params.direction = d;
    }
    let input: Box<dyn BufRead> = match &args.input {
        Some(p) => Box::new(BufReader::new(
            std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let source = args
        .input
        .as_ref()
        .map_or_else(|| "stdin".to_string(), |p| p.display().to_string());
    let out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    match stream_detect(
        input,
        BufWriter::with_capacity(1 << 16, out),
        args.kind,
        params,
    ) {
        Ok(()) => Ok(()),
        // A reader that stops early (`| head`) is not an error of the detector.
        Err(e) if is_broken_pipe(&e) => Ok(()),
        Err(e) => Err(e.context(format!("in {source}"))),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Streams rows through one detector: each output row uses only the rows up to it (strictly online),
/// and memory stays constant whatever the input's length.
fn stream_detect(
    mut input: impl BufRead,
    mut out: impl Write,
    kind: SeriesKind,
    params: Params,
) -> Result<()> {
    writeln!(out, "timestamp,value,anomaly_score,anomaly,lower,upper")?;
    let mut detector = Detector::new(kind, params);
    let mut line = String::new();
    let mut line_no = 0;
    let mut first = true;
    let mut row: Vec<u8> = Vec::with_capacity(128);
    let mut ints = itoa::Buffer::new();
    let mut floats = ryu::Buffer::new();
    loop {
        line.clear();
        line_no += 1;
        if input
            .read_line(&mut line)
            .with_context(|| format!("cannot read line {line_no}"))?
            == 0
        {
            break;
        }
        let Some((ts, value, text)) = parse_row(line_no, &line, first)? else {
            first = false;
            continue;
        };
        first = false;
        let a = detector.step(ts, value);
        row.clear();
        row.extend_from_slice(ints.format(ts).as_bytes());
        row.push(b',');
        row.extend_from_slice(text.as_bytes());
        row.push(b',');
        // Most points score exactly zero; any other score goes through `{:.6}`.
        if a.score.to_bits() == 0 {
            row.extend_from_slice(b"0.000000");
        } else {
            write!(row, "{:.6}", a.score)?;
        }
        row.extend_from_slice(if a.anomaly { b",1," } else { b",0," });
        if let Some(l) = a.lower {
            push_display_f64(&mut row, &mut floats, l);
        }
        row.push(b',');
        if let Some(u) = a.upper {
            push_display_f64(&mut row, &mut floats, u);
        }
        row.push(b'\n');
        out.write_all(&row)?;
    }
    out.flush().context("cannot write output")?;
    Ok(())
}

/// Appends `x` exactly as `format!("{x}")` writes it (shortest round-trip digits, never an exponent),
/// from ryu's shortest digits, which are the same digits as the standard library's.
fn push_display_f64(out: &mut Vec<u8>, ryu_buf: &mut ryu::Buffer, x: f64) {
    if !x.is_finite() {
        // Not reached by the detectors' bands; kept exact anyway.
        out.extend_from_slice(x.to_string().as_bytes());
        return;
    }
    let text = ryu_buf.format_finite(x).as_bytes();
    // Common case: plain `digits.digits`, which the standard library writes the same way.
    if !text.ends_with(b".0") && !text.contains(&b'e') {
        if let Some(point) = text.iter().position(|&c| c == b'.') {
            if !is_shortest_tie(x, (text.len() - point - 1) as i32) {
                out.extend_from_slice(text);
                return;
            }
        }
    }
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (mantissa, mut exp) = match text.iter().position(|&c| c == b'e') {
        Some(i) => {
            let (sign, digits) = match text[i + 1..].split_first() {
                Some((b'-', rest)) => (-1, rest),
                _ => (1, &text[i + 1..]),
            };
            let e = digits
                .iter()
                .fold(0i32, |e, &d| e * 10 + i32::from(d - b'0'));
            (&text[..i], sign * e)
        }
        None => (text, 0),
    };
    // `x = 0.DIGITS * 10^exp`, leading and trailing zeros dropped.
    let mut digits = [0u8; 32];
    let mut n = 0;
    let mut before_point = true;
    for &c in mantissa {
        if c == b'.' {
            before_point = false;
            continue;
        }
        if n == 0 && c == b'0' {
            if !before_point {
                exp -= 1;
            }
            continue;
        }
        digits[n] = c;
        n += 1;
        if before_point {
            exp += 1;
        }
    }
    while n > 0 && digits[n - 1] == b'0' {
        n -= 1;
    }
    // Where the exact value lies halfway between two shortest candidates, ryu rounds to even and the
    // standard library rounds up: leave those (rare) values to the standard library.
    if n > 0 && is_shortest_tie(x, n as i32 - exp) {
        out.extend_from_slice(x.to_string().as_bytes());
        return;
    }
    if negative {
        out.push(b'-');
    }
    let digits = &digits[..n];
    if n == 0 {
        out.push(b'0');
    } else if exp <= 0 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + exp.unsigned_abs() as usize, b'0');
        out.extend_from_slice(digits);
    } else if (exp as usize) < n {
        let (int, frac) = digits.split_at(exp as usize);
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
    } else {
        out.extend_from_slice(digits);
        out.resize(out.len() + exp as usize - n, b'0');
    }
}

/// Whether a non-zero finite `x` is exactly halfway between two decimals with `frac_digits` fractional
/// digits (or is a large integer, where this is not worked out). With `x = m * 2^q`, `m` odd and
/// `q < 0`, the exact decimal expansion has `-q` fractional digits and ends in 5, so the decimals one
/// digit shorter are both exactly half a unit away and no shorter ones can tie.
fn is_shortest_tie(x: f64, frac_digits: i32) -> bool {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (m, q) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    if m == 0 {
        return false;
    }
    let q = q + m.trailing_zeros() as i32;
    if q >= 0 {
        // An integer: below 2^53 its shortest text is itself, exactly.
        return x.abs() >= 9_007_199_254_740_992.0;
    }
    frac_digits == -q - 1
}

/// The scores of one run of the detector over a NAB folder.
struct NabRun {
    names: Vec<String>,
    corpus: Vec<ScoredSeries>,
    points: usize,
    seconds: f64,
}

fn nab_files(data: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let root = data.join("data");
    let cats =
        std::fs::read_dir(&root).with_context(|| format!("cannot list {}", root.display()))?;
    for cat in cats {
        let cat = cat?;
        if !cat.file_type()?.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(cat.path())? {
            let f = f?;
            let name = f.file_name().to_string_lossy().to_string();
            if name.ends_with(".csv") {
                names.push(format!("{}/{}", cat.file_name().to_string_lossy(), name));
            }
        }
    }
    names.sort();
    Ok(names)
}

fn run_nab_detector(data: &Path, model: NabModel, cfg: &NoveltyConfig) -> Result<NabRun> {
    let labels_path = data.join("labels/combined_windows.json");
    let labels: BTreeMap<String, Vec<[String; 2]>> = serde_json::from_str(
        &std::fs::read_to_string(&labels_path)
            .with_context(|| format!("cannot read {}", labels_path.display()))?,
    )
    .with_context(|| format!("cannot parse {}", labels_path.display()))?;
    let names = nab_files(data)?;
    let mut corpus = Vec::new();
    let mut points = 0;
    let mut seconds = 0.0;
    for name in &names {
        let path = data.join("data").join(name);
        let rows = read_series(
            std::fs::File::open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?,
        )
        .with_context(|| format!("in {}", path.display()))?;
        let ts: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let mut windows = Vec::new();
        for [a, b] in labels.get(name).map(Vec::as_slice).unwrap_or(&[]) {
            let (Some(a), Some(b)) = (parse_timestamp(a), parse_timestamp(b)) else {
                bail!("bad window [{a}, {b}] for {name}");
            };
            let start = ts.partition_point(|&t| t < a);
            let end = ts.partition_point(|&t| t <= b);
            if end > start {
                windows.push(Window {
                    start,
                    end: end - 1,
                });
            }
        }
        let started = Instant::now();
        let params = Params::default_for(SeriesKind::Generic);
        let scores: Vec<f64> = match model {
            NabModel::Generic => {
                let mut detector = Detector::new(SeriesKind::Generic, params);
                rows.iter().map(|r| detector.step(r.0, r.1).score).collect()
            }
            NabModel::Novelty => {
                let mut m = NoveltyModel::with_config(params, *cfg);
                rows.iter().map(|r| m.step(r.0, r.1).score).collect()
            }
        };
        seconds += started.elapsed().as_secs_f64();
        points += rows.len();
        corpus.push(ScoredSeries { scores, windows });
    }
    Ok(NabRun {
        names,
        corpus,
        points,
        seconds,
    })
}

fn read_profiles(data: &Path) -> Result<Vec<nab::Profile>> {
    let path = data.join("profiles.json");
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?,
    )
    .with_context(|| format!("cannot parse {}", path.display()))?;
    let mut out = Vec::new();
    for p in nab::PROFILES {
        let m = &v[p.name]["CostMatrix"];
        let w = |k: &str| {
            m[k].as_f64()
                .with_context(|| format!("{}: missing {k}", p.name))
        };
        out.push(nab::Profile {
            tp_weight: w("tpWeight")?,
            fn_weight: w("fnWeight")?,
            fp_weight: w("fpWeight")?,
            ..p
        });
    }
    Ok(out)
}

/// `tidewatch nab`.
pub fn run_nab(args: &NabArgs) -> Result<()> {
    let profiles = read_profiles(&args.data)?;
    let cfg = novelty_config(args.novelty_config.as_deref())?;
    let mut params = Params::default_for(SeriesKind::Generic);
    if let Some(s) = args.sensitivity {
        params.sensitivity = s;
    }
    let default_threshold = params.threshold();
    for (i, &model) in args.model.iter().enumerate() {
        let run = run_nab_detector(&args.data, model, &cfg)?;
        if i == 0 {
            let windows: usize = run.corpus.iter().map(|s| s.windows.len()).sum();
            println!(
                "NAB: {} files, {} rows, {} windows ({})",
                run.corpus.len(),
                run.points,
                windows,
                args.data.display()
            );
        }
        println!(
            "{:<20} {:>8} {:>10} {:>12} {:>10}",
            format!("[{model}] profile"),
            "best",
            "threshold",
            "default",
            "threshold"
        );
        for p in &profiles {
            let (null, perfect) = nab::null_and_perfect(&run.corpus, p);
            let (t, raw) = nab::best_threshold(&run.corpus, p);
            let at_default = nab::score_corpus(&run.corpus, p, default_threshold);
            println!(
                "{:<20} {:>8.1} {:>10.4} {:>12.1} {:>10.4}",
                p.name,
                nab::normalise(raw, null, perfect),
                t,
                nab::normalise(at_default, null, perfect),
                default_threshold
            );
        }
        if let Some(dir) = &args.dump {
            for (name, s) in run.names.iter().zip(&run.corpus) {
                let path = dir.join(model.to_string()).join(name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                let text: String = s.scores.iter().map(|v| format!("{v}\n")).collect();
                std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        if args.per_file {
            let p = &profiles[0];
            let (t, _) = nab::best_threshold(&run.corpus, p);
            for (name, s) in run.names.iter().zip(&run.corpus) {
                let detections = s.scores.iter().filter(|&&x| x >= t).count();
                println!(
                    "  {name:<60} windows {} raw {:>7.3} (null {:>5.1}) detections {detections}",
                    s.windows.len(),
                    nab::score_series(s, p, t),
                    -(s.windows.len() as f64)
                );
                if args.windows {
                    print_windows(s, p, t);
                }
            }
        }
        println!(
            "[{model}] throughput: {:.2} M points/s ({} points in {:.3} s, one core)",
            run.points as f64 / run.seconds.max(1e-9) / 1e6,
            run.points,
            run.seconds
        );
    }
    Ok(())
}

/// Each window's first detection (row, relative position, value) and each scored false positive.
fn print_windows(s: &ScoredSeries, p: &nab::Profile, t: f64) {
    let values = nab::row_values(s.scores.len(), &s.windows, p);
    for (k, w) in s.windows.iter().enumerate() {
        let first = (w.start..=w.end).find(|&i| s.scores[i] >= t && !values[i].probationary);
        let probation = values[w.end].probationary;
        match first {
            Some(i) => println!(
                "      window {k} [{}..{}] hit at {i} (y {:+.2}) worth {:.3} score {:.3}",
                w.start,
                w.end,
                -((w.end - i + 1) as f64) / (w.end - w.start + 1) as f64,
                values[i].value,
                s.scores[i]
            ),
            None => println!(
                "      window {k} [{}..{}] MISSED{} (max score {:.3})",
                w.start,
                w.end,
                if probation { " (probation)" } else { "" },
                s.scores[w.start..=w.end]
                    .iter()
                    .fold(0.0f64, |a, &b| a.max(b))
            ),
        }
    }
    let fps: Vec<String> = values
        .iter()
        .zip(&s.scores)
        .enumerate()
        .filter(|(_, (v, &x))| !v.probationary && v.window.is_none() && x >= t)
        .map(|(i, (v, x))| format!("{i}:{:.2}({x:.3})", v.value))
        .collect();
    if !fps.is_empty() {
        println!("      FP {}", fps.join(" "));
    }
}

/// `tidewatch bench detectors`.
pub fn run_bench(args: &BenchArgs) -> Result<()> {
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

#[cfg(test)]
mod float_text_tests {
    use super::push_display_f64;

    fn check(x: f64) {
        let mut out = Vec::new();
        push_display_f64(&mut out, &mut ryu::Buffer::new(), x);
        assert_eq!(
            String::from_utf8_lossy(&out),
            format!("{x}"),
            "bits {:#x}",
            x.to_bits()
        );
    }

    #[test]
    fn matches_display() {
        for x in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            1e-7,
            1e-5,
            123.456,
            1e15,
            1e16,
            1e17,
            1e21,
            1e22,
            1.5e300,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            100.0,
            120.5,
            // Exactly halfway between two 17-digit decimals.
            f64::from_bits(0x42a7_1d27_79a4_b7a0),
        ] {
            check(x);
        }
        // Deterministic pseudo-random bit patterns and decimal-looking values.
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..200_000u64 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            check(f64::from_bits(s));
            check((s % 1_000_000_007) as f64 / 1000.0 - 5e5);
            check((s >> 11) as f64 * 2f64.powi((i % 80) as i32 - 60));
        }
    }
}

#[cfg(test)]
mod csv_tests {
    use super::{parse_row, trim_quotes};

    #[test]
    fn trim_quotes_matches_trim_matches() {
        for s in [
            "", "\"", "\"\"", "a", "\"a\"", "\"\"a\"", "a\"b", "\"é\"", "é\"\"", "\" a \"",
        ] {
            assert_eq!(trim_quotes(s), s.trim_matches('"'), "{s:?}");
        }
    }

    #[test]
    fn trim_matches_str_trim() {
        for s in [
            "",
            " ",
            "\n",
            "a",
            " a\r\n",
            "\x0b1,2\x0c",
            "\u{a0}x\u{3000}",
            "\u{85}",
            "é ",
            " \u{2003}",
            "\x1c1\x1f",
        ] {
            assert_eq!(super::trim(s), s.trim(), "{s:?}");
        }
    }

    #[test]
    fn rows_need_exactly_one_comma() {
        assert!(parse_row(1, "1,2,3", false).is_err());
        assert!(parse_row(1, "12", false).is_err());
        assert_eq!(
            parse_row(1, " \"5\" , \"2.5\" ", false).ok().flatten(),
            Some((5, 2.5, "2.5"))
        );
        assert_eq!(
            parse_row(1, "5,", false).ok().flatten().map(|r| r.2),
            Some("")
        );
        assert_eq!(parse_row(1, "timestamp,value", true).ok().flatten(), None);
    }
}
