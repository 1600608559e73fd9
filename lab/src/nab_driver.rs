//! `tidewatch-lab nab`: the NAB driver. Reads the NAB corpus (data files, labelled windows, cost
//! profiles), runs a model over every file strictly online and scores the scores with [`crate::nab`].
//!
//! The files are parsed with `tidewatch detect`'s CSV parser ([`tidewatch::detect::parse_row`]), so a
//! NAB file reads exactly as `tidewatch detect --input` would read it.

use crate::nab::{self, ScoredSeries, Window};
use crate::novelty::{NoveltyConfig, NoveltyModel};
use anyhow::{bail, Context, Result};
use checks::baseline::{Online, Params, SeriesKind};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tidewatch::detect::{parse_row, parse_timestamp};

/// Scores the detector on the NAB corpus (dev half) under the three NAB profiles.
#[derive(Debug, clap::Args)]
pub struct NabArgs {
    /// The NAB folder with `data/`, `labels/combined_windows.json` and `profiles.json`.
    #[arg(long, default_value = "../shared/nab")]
    pub data: PathBuf,
    /// Sensitivity whose threshold is reported as the shipped default.
    #[arg(long)]
    pub sensitivity: Option<f64>,
    /// Also print each file's standard-profile raw score at the best threshold, and of the alerts.
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
    /// Cross-validate by file: `FOLDSxSHUFFLES` (e.g. `5x3`), folds stratified by category (the data/
    /// subfolders). The threshold is chosen on the training files of each fold only; the held-out
    /// fold is scored at that threshold and at the shipped default.
    #[arg(long)]
    pub cv: Option<String>,
}

/// A model `tidewatch-lab nab` can score.
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

/// One parsed row: timestamp, the value (NaN when empty or `nan`) and the value's original text.
type Row = (i64, f64, String);

/// Reads a `timestamp,value` CSV; the header line is optional, blank lines are skipped.
fn read_csv(reader: impl Read) -> Result<Vec<Row>> {
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

/// The scores of one run of the detector over a NAB folder.
struct NabRun {
    names: Vec<String>,
    corpus: Vec<ScoredSeries>,
    /// The same files with each point scored 1 when the model alerted on it (`anomaly`, the
    /// online calibration and the sampling-rate floor included) and 0 otherwise: what a monitor
    /// would have paged, scored by NAB at any threshold in (0, 1].
    alerts: Vec<ScoredSeries>,
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
    let mut alerts = Vec::new();
    let mut points = 0;
    let mut seconds = 0.0;
    for name in &names {
        let path = data.join("data").join(name);
        let rows = read_csv(
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
        let assessed: Vec<(f64, bool)> = match model {
            NabModel::Generic => {
                // What a monitor runs (and `tidewatch detect`): checks::baseline::Online.
                let mut detector = Online::new(SeriesKind::Generic, params);
                rows.iter()
                    .map(|r| {
                        let a = detector.step(r.0, r.1);
                        (a.score, a.anomaly)
                    })
                    .collect()
            }
            NabModel::Novelty => {
                let mut m = NoveltyModel::with_config(params, *cfg);
                rows.iter()
                    .map(|r| {
                        let a = m.step(r.0, r.1);
                        (a.score, a.anomaly)
                    })
                    .collect()
            }
        };
        let scores = assessed.iter().map(|a| a.0).collect();
        let flags = assessed.iter().map(|a| f64::from(u8::from(a.1))).collect();
        seconds += started.elapsed().as_secs_f64();
        points += rows.len();
        alerts.push(ScoredSeries {
            scores: flags,
            windows: windows.clone(),
        });
        corpus.push(ScoredSeries { scores, windows });
    }
    Ok(NabRun {
        names,
        corpus,
        alerts,
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

/// The threshold the alert corpus (scores 0 or 1) is read at.
const ALERTED: f64 = 0.5;

/// `tidewatch-lab nab`.
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
            "{:<20} {:>8} {:>10} {:>12} {:>10} {:>8}",
            format!("[{model}] profile"),
            "best",
            "threshold",
            "default",
            "threshold",
            "alerts"
        );
        for p in &profiles {
            let (null, perfect) = nab::null_and_perfect(&run.corpus, p);
            let (t, raw) = nab::best_threshold(&run.corpus, p);
            let at_default = nab::score_corpus(&run.corpus, p, default_threshold);
            let alerted = nab::score_corpus(&run.alerts, p, ALERTED);
            println!(
                "{:<20} {:>8.1} {:>10.4} {:>12.1} {:>10.4} {:>8.1}",
                p.name,
                nab::normalise(raw, null, perfect),
                t,
                nab::normalise(at_default, null, perfect),
                default_threshold,
                nab::normalise(alerted, null, perfect)
            );
        }
        if let Some(spec) = &args.cv {
            let (folds, shuffles) = parse_cv(spec)?;
            for p in &profiles {
                let cv = cross_validate(&run, p, folds, shuffles, default_threshold);
                println!(
                    "{}",
                    cv.line(&format!("[{model}] cv {folds}x{shuffles} {}", p.name))
                );
            }
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
            print_per_file(&run.names, &run.corpus, p, t, "detections", args.windows);
            println!("  the alerts themselves (what a monitor pages):");
            print_per_file(&run.names, &run.alerts, p, ALERTED, "alerts", args.windows);
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

/// Each file's standard-profile raw score at threshold `t` and how many points reach it, with
/// `windows` each window's first detection and each false positive too.
fn print_per_file(
    names: &[String],
    corpus: &[ScoredSeries],
    p: &nab::Profile,
    t: f64,
    what: &str,
    windows: bool,
) {
    for (name, s) in names.iter().zip(corpus) {
        let detections = s.scores.iter().filter(|&&x| x >= t).count();
        println!(
            "  {name:<60} windows {} raw {:>7.3} (null {:>5.1}) {what} {detections}",
            s.windows.len(),
            nab::score_series(s, p, t),
            -(s.windows.len() as f64)
        );
        if windows {
            print_windows(s, p, t);
        }
    }
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

/// Parses `FOLDSxSHUFFLES`.
fn parse_cv(spec: &str) -> Result<(usize, usize)> {
    let (f, r) = spec.split_once('x').unwrap_or((spec, "1"));
    let folds: usize = f
        .trim()
        .parse()
        .with_context(|| format!("cv: bad fold count `{f}`"))?;
    let shuffles: usize = r
        .trim()
        .parse()
        .with_context(|| format!("cv: bad shuffle count `{r}`"))?;
    if folds < 2 || shuffles < 1 {
        bail!("cv: need at least 2 folds and 1 shuffle, got `{spec}`");
    }
    Ok((folds, shuffles))
}

/// Held-out figures of a cross-validation: one entry per (shuffle, fold).
#[derive(Debug, Clone, Default)]
pub struct CvFigures {
    /// Normalised held-out score at the threshold chosen on the training files.
    pub chosen: Vec<f64>,
    /// Normalised held-out score at the shipped default threshold.
    pub default: Vec<f64>,
    /// The thresholds chosen on the training files.
    pub thresholds: Vec<f64>,
    /// Normalised held-out score of the alerts themselves (see `NabRun::alerts`).
    pub alerts: Vec<f64>,
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var.sqrt())
}

impl CvFigures {
    fn line(&self, label: &str) -> String {
        let (cm, cs) = mean_sd(&self.chosen);
        let (dm, ds) = mean_sd(&self.default);
        let (tm, ts) = mean_sd(&self.thresholds);
        let (am, asd) = mean_sd(&self.alerts);
        let lo = self.chosen.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self
            .chosen
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        format!(
            "{label:<34} held-out at chosen {cm:>5.1} ± {cs:>4.1} (min {lo:.1} max {hi:.1}) | at default {dm:>5.1} ± {ds:>4.1} | chosen threshold {tm:.3} ± {ts:.3} | alerts {am:>5.1} ± {asd:>4.1}"
        )
    }
}

/// Assigns files to `folds` folds, stratified by category (the part of the name before `/`): within
/// each category the files are shuffled (splitmix64 seeded by `seed`) and dealt round-robin, starting
/// where the previous category stopped so fold sizes stay even.
pub fn stratified_folds(names: &[String], folds: usize, seed: u64) -> Vec<usize> {
    let mut by_cat: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        by_cat
            .entry(n.split('/').next().unwrap_or(""))
            .or_default()
            .push(i);
    }
    let mut rng = crate::synthetic::Rng::new(seed);
    let mut out = vec![0; names.len()];
    let mut next = 0usize;
    for (_, mut files) in by_cat {
        for i in (1..files.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            files.swap(i, j);
        }
        for f in files {
            out[f] = next % folds;
            next += 1;
        }
    }
    out
}

/// k-fold-by-file cross-validation of the threshold under one profile.
fn cross_validate(
    run: &NabRun,
    profile: &nab::Profile,
    folds: usize,
    shuffles: usize,
    default_threshold: f64,
) -> CvFigures {
    let mut cv = CvFigures::default();
    for r in 0..shuffles {
        let fold_of = stratified_folds(&run.names, folds, 0xC0FF_EE00 + r as u64);
        for k in 0..folds {
            let alerts: Vec<ScoredSeries> = run
                .alerts
                .iter()
                .zip(&fold_of)
                .filter(|(_, &f)| f == k)
                .map(|(s, _)| s.clone())
                .collect();
            let (test, train): (Vec<_>, Vec<_>) =
                run.corpus.iter().zip(&fold_of).partition(|(_, &f)| f == k);
            let train: Vec<ScoredSeries> = train.into_iter().map(|(s, _)| s.clone()).collect();
            let test: Vec<ScoredSeries> = test.into_iter().map(|(s, _)| s.clone()).collect();
            if test.is_empty() || train.is_empty() {
                continue;
            }
            let (t, _) = nab::best_threshold(&train, profile);
            let (null, perfect) = nab::null_and_perfect(&test, profile);
            cv.chosen.push(nab::normalise(
                nab::score_corpus(&test, profile, t),
                null,
                perfect,
            ));
            cv.default.push(nab::normalise(
                nab::score_corpus(&test, profile, default_threshold),
                null,
                perfect,
            ));
            cv.thresholds.push(t);
            cv.alerts.push(nab::normalise(
                nab::score_corpus(&alerts, profile, ALERTED),
                null,
                perfect,
            ));
        }
    }
    cv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified_and_even() {
        let names: Vec<String> = (0..9)
            .map(|i| format!("a/{i}.csv"))
            .chain((0..4).map(|i| format!("b/{i}.csv")))
            .collect();
        let f = stratified_folds(&names, 5, 1);
        let mut sizes = [0; 5];
        for &k in &f {
            sizes[k] += 1;
        }
        assert!(sizes.iter().all(|&s| s == 2 || s == 3), "{sizes:?}");
        // Each category is spread over as many folds as it has files (up to 5).
        let cats_b: std::collections::BTreeSet<usize> = f[9..].iter().copied().collect();
        assert_eq!(cats_b.len(), 4);
        assert_ne!(f, stratified_folds(&names, 5, 2));
    }

    #[test]
    fn cv_spec_parses() {
        assert_eq!(parse_cv("5x3").ok(), Some((5, 3)));
        assert!(parse_cv("1x3").is_err());
    }

    #[test]
    fn novelty_overrides_set_their_fields_and_reject_the_rest() {
        let c = novelty_config(Some("scales=1:4:16, window=12,residual=0")).ok();
        let expected = NoveltyConfig {
            scales: [1, 4, 16],
            window: 12,
            residual: false,
            ..NoveltyConfig::default()
        };
        assert_eq!(c, Some(expected));
        assert_eq!(novelty_config(None).ok(), Some(NoveltyConfig::default()));
        for bad in ["window", "window=big", "colour=red"] {
            assert!(novelty_config(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn nab_csv_reads_as_tidewatch_detect_does() {
        let text = "timestamp,value\n2014-04-01 00:00:00,1.5\n\n2014-04-01 00:05:00,\n";
        let rows = read_csv(text.as_bytes()).ok().unwrap_or_default();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].0, rows[0].1), (1_396_310_400, 1.5));
        assert!(rows[1].0 == 1_396_310_700 && rows[1].1.is_nan());
        assert!(read_csv("1,2,3\n".as_bytes()).is_err());
    }
}
