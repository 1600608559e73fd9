//! A port of the NAB v1.1 scorer (Numenta Anomaly Benchmark, `nab/sweeper.py`) over in-memory series.
//!
//! Rows are addressed by index; anomaly windows are inclusive index ranges. The rules:
//! - inside a window, a detection at relative position `y` (`-1` at the window's first row, `0` just past
//!   its last) is worth `tp * sigmoid(y) / sigmoid(-1)` with `sigmoid(y) = 2/(1+exp(5y)) - 1`; only the
//!   earliest detection of a window counts, and a window without one costs `-fn`;
//! - outside every window, a detection costs `fp * sigmoid(d)` where `d` is the distance after the end of
//!   the preceding window in window lengths (`-fp` before any window, and from `d >= 3` on);
//! - the first `min(floor(0.15 n), 750)` rows of a file are never scored;
//! - a corpus score is the sum over files, normalised as `100 (S - S_null) / (S_perfect - S_null)`.

/// One scoring profile (a NAB cost matrix).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub name: &'static str,
    pub tp_weight: f64,
    pub fn_weight: f64,
    pub fp_weight: f64,
}

/// The three published profiles.
pub const PROFILES: [Profile; 3] = [
    Profile {
        name: "standard",
        tp_weight: 1.0,
        fn_weight: 1.0,
        fp_weight: 0.11,
    },
    Profile {
        name: "reward_low_FP_rate",
        tp_weight: 1.0,
        fn_weight: 1.0,
        fp_weight: 0.22,
    },
    Profile {
        name: "reward_low_FN_rate",
        tp_weight: 1.0,
        fn_weight: 2.0,
        fp_weight: 0.11,
    },
];

/// An anomaly window: first and last row index, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: usize,
    pub end: usize,
}

/// One series of a corpus: a detector's score per row and the labelled windows (sorted, disjoint).
#[derive(Debug, Clone)]
pub struct ScoredSeries {
    pub scores: Vec<f64>,
    pub windows: Vec<Window>,
}

/// NAB's scaled sigmoid of a relative position.
pub fn scaled_sigmoid(position: f64) -> f64 {
    if position >= 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * position).exp()) - 1.0
    }
}

/// Rows at the start of a file that are never scored.
pub fn probationary_length(rows: usize) -> usize {
    ((0.15 * rows as f64).floor() as usize).min(750)
}

/// What a detection on one row is worth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowValue {
    /// Weighted score of a detection on this row.
    pub value: f64,
    /// Index of the window the row is in, if any.
    pub window: Option<usize>,
    /// Whether the row is in the probationary period (never scored).
    pub probationary: bool,
}

/// The value of a detection on every row of a file of `rows` rows (NAB's `calcSweepScore`).
pub fn row_values(rows: usize, windows: &[Window], profile: &Profile) -> Vec<RowValue> {
    let max_tp = scaled_sigmoid(-1.0);
    let probation = probationary_length(rows);
    let mut out = Vec::with_capacity(rows);
    let mut next = 0usize;
    let mut current: Option<(usize, Window)> = None;
    let mut previous: Option<Window> = None;
    for i in 0..rows {
        if current.is_none() && next < windows.len() && windows[next].start == i {
            current = Some((next, windows[next]));
            next += 1;
        }
        let (value, window) = match current {
            Some((k, w)) => {
                let width = (w.end - w.start + 1) as f64;
                let position = -((w.end as f64) - (i as f64) + 1.0) / width;
                (
                    scaled_sigmoid(position) * profile.tp_weight / max_tp,
                    Some(k),
                )
            }
            None => {
                let position = match previous {
                    None => 3.0,
                    Some(p) => {
                        let width = (p.end - p.start + 1) as f64;
                        (i as f64 - p.end as f64).abs() / (width - 1.0).max(1.0)
                    }
                };
                (scaled_sigmoid(position) * profile.fp_weight, None)
            }
        };
        out.push(RowValue {
            value,
            window,
            probationary: i < probation,
        });
        if let Some((_, w)) = current {
            if i == w.end {
                previous = Some(w);
                current = None;
            }
        }
    }
    out
}

/// Windows that contain at least one scored row (the others are ignored by NAB).
fn scored_windows(values: &[RowValue]) -> Vec<usize> {
    let mut ws: Vec<usize> = values
        .iter()
        .filter(|v| !v.probationary)
        .filter_map(|v| v.window)
        .collect();
    ws.dedup();
    ws
}

/// Raw score of one file: rows with `score >= threshold` are detections.
pub fn score_series(series: &ScoredSeries, profile: &Profile, threshold: f64) -> f64 {
    let values = row_values(series.scores.len(), &series.windows, profile);
    let mut best: Vec<Option<f64>> = vec![None; series.windows.len()];
    let mut fp = 0.0;
    for (v, &s) in values.iter().zip(&series.scores) {
        if v.probationary || s < threshold {
            continue;
        }
        match v.window {
            Some(k) => best[k] = Some(best[k].map_or(v.value, |b: f64| b.max(v.value))),
            None => fp += v.value,
        }
    }
    let windows: f64 = scored_windows(&values)
        .into_iter()
        .map(|k| best[k].map_or(-profile.fn_weight, |b| b.max(-profile.fn_weight)))
        .sum();
    fp + windows
}

/// Raw corpus score at one threshold.
pub fn score_corpus(corpus: &[ScoredSeries], profile: &Profile, threshold: f64) -> f64 {
    corpus
        .iter()
        .map(|s| score_series(s, profile, threshold))
        .sum()
}

/// Raw scores of the null detector (flags nothing) and the perfect detector (flags each window's rows,
/// so its earliest scored row counts).
pub fn null_and_perfect(corpus: &[ScoredSeries], profile: &Profile) -> (f64, f64) {
    let mut null = 0.0;
    let mut perfect = 0.0;
    for s in corpus {
        let n = s.scores.len();
        let mut ideal = vec![0.0; n];
        for w in &s.windows {
            for v in ideal.iter_mut().take(w.end + 1).skip(w.start) {
                *v = 1.0;
            }
        }
        let labelled = ScoredSeries {
            scores: ideal,
            windows: s.windows.clone(),
        };
        null += score_series(&labelled, profile, f64::INFINITY);
        perfect += score_series(&labelled, profile, 1.0);
    }
    (null, perfect)
}

/// `100 (raw - null) / (perfect - null)`.
pub fn normalise(raw: f64, null: f64, perfect: f64) -> f64 {
    if perfect == null {
        return 0.0;
    }
    100.0 * (raw - null) / (perfect - null)
}

/// The threshold that maximises a profile's corpus score, and that raw score.
///
/// Exact sweep (as NAB's `calcScoreByThreshold`, but over the whole corpus): every distinct score is a
/// candidate; rows are visited from the highest score down while the window maxima and the FP sum are
/// kept incrementally, so the cost is one sort. A threshold above every score is the null detector.
pub fn best_threshold(corpus: &[ScoredSeries], profile: &Profile) -> (f64, f64) {
    struct Row {
        score: f64,
        value: f64,
        window: Option<usize>,
    }
    let mut rows = Vec::new();
    let mut window_best: Vec<f64> = Vec::new();
    for s in corpus {
        let values = row_values(s.scores.len(), &s.windows, profile);
        let base = window_best.len();
        let mut is_scored = vec![false; s.windows.len()];
        for k in scored_windows(&values) {
            is_scored[k] = true;
        }
        for scored in &is_scored {
            // Unscored windows get a slot that never changes the total.
            window_best.push(if *scored { -profile.fn_weight } else { 0.0 });
        }
        for (v, &score) in values.iter().zip(&s.scores) {
            if v.probationary || score.is_nan() {
                continue;
            }
            let window = match v.window {
                Some(k) if is_scored[k] => Some(base + k),
                Some(_) => continue,
                None => None,
            };
            rows.push(Row {
                score,
                value: v.value,
                window,
            });
        }
    }
    rows.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut total: f64 = window_best.iter().sum();
    let mut best = (f64::INFINITY, total);
    let mut i = 0;
    while i < rows.len() {
        let t = rows[i].score;
        while i < rows.len() && rows[i].score == t {
            let r = &rows[i];
            match r.window {
                Some(k) => {
                    if r.value > window_best[k] {
                        total += r.value - window_best[k];
                        window_best[k] = r.value;
                    }
                }
                None => total += r.value,
            }
            i += 1;
        }
        if total > best.1 + 1e-12 {
            best = (t, total);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const STD: Profile = PROFILES[0];

    fn series(n: usize, windows: &[(usize, usize)], detections: &[usize]) -> ScoredSeries {
        let mut scores = vec![0.0; n];
        for &d in detections {
            scores[d] = 1.0;
        }
        ScoredSeries {
            scores,
            windows: windows
                .iter()
                .map(|&(start, end)| Window { start, end })
                .collect(),
        }
    }

    fn normalised(corpus: &[ScoredSeries], profile: &Profile) -> f64 {
        let (null, perfect) = null_and_perfect(corpus, profile);
        normalise(score_corpus(corpus, profile, 0.5), null, perfect)
    }

    #[test]
    fn null_detector_scores_zero_and_perfect_scores_hundred() {
        for p in &PROFILES {
            let null = vec![series(1000, &[(400, 499), (800, 899)], &[])];
            assert!(normalised(&null, p).abs() < 1e-9);
            let perfect = vec![series(1000, &[(400, 499), (800, 899)], &[400, 800])];
            assert!((normalised(&perfect, p) - 100.0).abs() < 1e-9);
        }
    }

    #[test]
    fn earlier_detection_in_window_scores_more_as_the_sigmoid_says() {
        let w = [(400, 499)];
        let early = score_series(&series(1000, &w, &[410]), &STD, 0.5);
        let late = score_series(&series(1000, &w, &[480]), &STD, 0.5);
        // Position of row i: -(499 - i + 1) / 100.
        let expect = |i: f64| scaled_sigmoid(-(499.0 - i + 1.0) / 100.0) / scaled_sigmoid(-1.0);
        assert!((early - expect(410.0)).abs() < 1e-12);
        assert!((late - expect(480.0)).abs() < 1e-12);
        assert!(early > late && late > 0.0);
        // Middle of the window is 2 sigmoid(2.5) - 1 over the maximum.
        let mid = score_series(&series(1000, &w, &[450]), &STD, 0.5);
        assert!((mid - 0.848_283_639_957_5 / 0.986_614_298_151_4).abs() < 1e-9);
        // A second, later detection in the same window adds nothing.
        let both = score_series(&series(1000, &w, &[410, 480]), &STD, 0.5);
        assert!((both - early).abs() < 1e-12);
    }

    #[test]
    fn false_positive_costs() {
        // Before any window: the full -fp weight (the missed window adds -fn).
        let before = score_series(&series(1000, &[(400, 499)], &[300]), &STD, 0.5);
        assert!((before - (-0.11 - 1.0)).abs() < 1e-12);
        // Just after a window: a small cost; far after: the full cost.
        let near = score_series(&series(1000, &[(400, 499)], &[400, 505]), &STD, 0.5);
        let far = score_series(&series(1000, &[(400, 499)], &[400, 900]), &STD, 0.5);
        let tp = 1.0;
        let d = 6.0 / 99.0;
        assert!((near - (tp + 0.11 * scaled_sigmoid(d))).abs() < 1e-12);
        assert!((far - (tp - 0.11)).abs() < 1e-12);
    }

    #[test]
    fn probationary_rows_are_ignored() {
        assert_eq!(probationary_length(1000), 150);
        assert_eq!(probationary_length(100_000), 750);
        let s = score_series(&series(1000, &[(400, 499)], &[10, 149]), &STD, 0.5);
        assert!((s + 1.0).abs() < 1e-12);
        let s = score_series(&series(1000, &[(400, 499)], &[150]), &STD, 0.5);
        assert!((s - (-1.0 - 0.11)).abs() < 1e-12);
    }

    #[test]
    fn best_threshold_matches_the_direct_score() {
        let mut scores = vec![0.0; 1000];
        scores[300] = 0.9; // fp
        scores[420] = 0.6; // tp
        scores[700] = 0.3; // fp
        let corpus = vec![ScoredSeries {
            scores,
            windows: vec![Window {
                start: 400,
                end: 499,
            }],
        }];
        let (t, raw) = best_threshold(&corpus, &STD);
        assert_eq!(t, 0.6);
        assert!((raw - score_corpus(&corpus, &STD, 0.6)).abs() < 1e-12);
        for cand in [0.0, 0.3, 0.9, 2.0] {
            assert!(score_corpus(&corpus, &STD, cand) <= raw + 1e-12);
        }
    }
}
