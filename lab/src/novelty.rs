//! A novelty detector: an online adaptive-resonance (fuzzy ART, hyper-box) memory of the shapes of
//! recent windows at two time scales, fused with the point evidence of the seasonal residual model.
//!
//! - Scales: the series is downsampled by factors (default 1 and 4). A block keeps the extreme value
//!   furthest from the running mean (so a one-point spike survives downsampling), as ARTime does.
//! - Window: the last `window` block values; the current, partial block counts with the point being
//!   scored, so every point is scored at every scale at once (early detection).
//! - Memory: hyper-boxes in window space (fuzzy ART categories with complement coding). A completed
//!   window joins the box needing the least expansion whose total width stays within `vigilance` of
//!   the learned value range (running min..max) per value; otherwise it founds a new box (the least
//!   recently used one is recycled past `max_boxes`).
//! - Evidence per scale: the novelty distance `d` = mean per-value expansion the nearest box would
//!   need, in units of the value range, and its short-term mean over `short` points (an anomaly
//!   likelihood: sustained novelty in a noisy series is rarer than one novel point). Each gets a tail
//!   probability from the empirical distribution of its past values after the warm-up (log-spaced
//!   histogram, slowly forgetting), shrunk towards an exponential tail with the weight of
//!   `prior_weight` points, so a distance far beyond all history is very surprising even when the
//!   history is short. With `residual`, the [`GenericModel`]'s score (a seasonal residual's tail) is a
//!   further test. The tests are fused by the smallest `p` times their number (Bonferroni).
//! - Episodes: surprise (decades, `-log10 p`) is remembered as a peak halving every `peak_half_life`
//!   points; a point scores only when its surprise beats that peak by `margin` decades, so a new
//!   behaviour alerts at its onset rather than on every point until it has been learned.
//!
//! Pure, deterministic, std only; each point is scored from the past, then learned.
//!
//! A comparison model for `tidewatch-lab nab --model generic,novelty`: no monitor uses it.

use checks::baseline::{score_of_p, Assessment, GenericModel, Params, HALF_SCORE_DECADES};

/// Longest window a scale can use.
pub const MAX_WINDOW: usize = 16;
const TAIL_BINS: usize = 64;
/// Smallest distance the tail histogram resolves (in units of the value range).
const TAIL_FLOOR: f64 = 1e-4;
const TAIL_MEMORY: f64 = 5000.0;

/// Settings of a [`NoveltyModel`]; one set for every series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoveltyConfig {
    /// Downsampling factors; 0 switches a slot off.
    pub scales: [usize; 3],
    /// Block values per window (at most [`MAX_WINDOW`]).
    pub window: usize,
    /// Largest mean width of a box, as a fraction of the value range.
    pub vigilance: f64,
    /// Boxes kept per scale.
    pub max_boxes: usize,
    /// Points before the model may flag anything.
    pub warmup: usize,
    /// Half-life of an episode's peak surprise, in points.
    pub peak_half_life: f64,
    /// Weight, in points, of the exponential prior of the distance tail.
    pub prior_weight: f64,
    /// Distances are added to the tail histogram only after this many points.
    pub tail_after: usize,
    /// Points in the short-term mean of distances (anomaly likelihood); 0 switches it off.
    pub short: usize,
    /// Share of an excursion beyond the learned range that the range follows at once (1 = min/max).
    pub range_follow: f64,
    /// Also weigh the point evidence of the seasonal residual model ([`GenericModel`]).
    pub residual: bool,
    /// Within an episode a point scores only if its surprise beats the decayed peak by this many decades.
    pub margin: f64,
    /// Power of the Pareto prior tail `(1 + d / mean)^-power`; 0 uses the exponential `exp(-d / mean)`.
    pub pareto: f64,
}

impl Default for NoveltyConfig {
    fn default() -> Self {
        NoveltyConfig {
            scales: [1, 4, 0],
            window: 8,
            vigilance: 0.1,
            max_boxes: 16,
            warmup: 300,
            peak_half_life: 100.0,
            prior_weight: 5.0,
            tail_after: 300,
            short: 10,
            range_follow: 1.0,
            residual: true,
            margin: 0.5,
            pareto: 0.0,
        }
    }
}

fn tail_bin(d: f64) -> usize {
    if d <= TAIL_FLOOR {
        return 0;
    }
    ((4.0 * (d / TAIL_FLOOR).log2()) as usize + 1).min(TAIL_BINS - 1)
}

/// Empirical distribution of past novelty distances with an exponential prior.
#[derive(Debug, Clone)]
struct Tail {
    counts: [f64; TAIL_BINS],
    total: f64,
    sum: f64,
}

impl Tail {
    fn new() -> Tail {
        Tail {
            counts: [0.0; TAIL_BINS],
            total: 0.0,
            sum: 0.0,
        }
    }

    fn add(&mut self, d: f64) {
        self.counts[tail_bin(d)] += 1.0;
        self.total += 1.0;
        self.sum += d;
        if self.total > TAIL_MEMORY {
            for c in self.counts.iter_mut() {
                *c *= 0.5;
            }
            self.total *= 0.5;
            self.sum *= 0.5;
        }
    }

    /// `P(D >= d)`.
    fn p(&self, d: f64, prior_weight: f64, pareto: f64) -> f64 {
        if d <= TAIL_FLOOR {
            return 1.0;
        }
        let mean = if self.total > 0.0 {
            self.sum / self.total
        } else {
            0.0
        };
        let scale = mean.max(TAIL_FLOOR * 10.0);
        let prior = if pareto > 0.0 {
            (1.0 + d / scale).powf(-pareto)
        } else {
            (-d / scale).exp()
        };
        let above: f64 = self.counts[tail_bin(d)..].iter().sum();
        ((above + prior_weight * prior) / (self.total + prior_weight)).min(1.0)
    }
}

/// One time scale: block downsampling, the window, the box memory and its distance tail.
#[derive(Debug, Clone)]
struct Scale {
    factor: usize,
    block_n: usize,
    block_min: f64,
    block_max: f64,
    block_sum: f64,
    /// Running mean of block means (decides which extreme represents a block).
    avg: f64,
    blocks: u64,
    /// Completed block values, oldest first, the last `window` of them.
    recent: [f64; MAX_WINDOW],
    filled: usize,
    /// Box bounds, `window` values per box.
    lo: Vec<f64>,
    hi: Vec<f64>,
    /// Total width of each box (sum of `hi - lo`).
    width: Vec<f64>,
    used: Vec<u64>,
    tail: Tail,
    /// Last distances (ring) and their sum, and the distribution of their mean.
    ring: Vec<f64>,
    ring_at: usize,
    ring_sum: f64,
    tail_mean: Tail,
}

impl Scale {
    fn new(factor: usize) -> Scale {
        Scale {
            factor,
            block_n: 0,
            block_min: f64::INFINITY,
            block_max: f64::NEG_INFINITY,
            block_sum: 0.0,
            avg: 0.0,
            blocks: 0,
            recent: [0.0; MAX_WINDOW],
            filled: 0,
            lo: Vec::new(),
            hi: Vec::new(),
            width: Vec::new(),
            used: Vec::new(),
            tail: Tail::new(),
            ring: Vec::new(),
            ring_at: 0,
            ring_sum: 0.0,
            tail_mean: Tail::new(),
        }
    }

    /// The value representing the current block if it ended with `x`.
    fn representative(&self, x: f64) -> f64 {
        if self.factor <= 1 {
            return x;
        }
        let mn = self.block_min.min(x);
        let mx = self.block_max.max(x);
        let avg = if self.blocks == 0 {
            (self.block_sum + x) / (self.block_n + 1) as f64
        } else {
            self.avg
        };
        if (mx - avg).abs() >= (mn - avg).abs() {
            mx
        } else {
            mn
        }
    }

    /// The window ending with the block that `x` would complete, if enough blocks are known.
    fn window_with(&self, x: f64, w: usize, out: &mut [f64; MAX_WINDOW]) -> bool {
        if self.filled + 1 < w {
            return false;
        }
        out[..w - 1].copy_from_slice(&self.recent[MAX_WINDOW - (w - 1)..]);
        out[w - 1] = self.representative(x);
        true
    }

    /// Box needing the smallest total expansion to hold `win` (raw units): `(expansion, index)`,
    /// `(INFINITY, usize::MAX)` without boxes.
    fn nearest(&self, win: &[f64]) -> (f64, usize) {
        let w = win.len();
        let mut best = (f64::INFINITY, usize::MAX);
        for (k, (lo, hi)) in self
            .lo
            .chunks_exact(w)
            .zip(self.hi.chunks_exact(w))
            .enumerate()
        {
            let mut d = 0.0;
            for i in 0..w {
                d += (lo[i] - win[i]).max(win[i] - hi[i]).max(0.0);
                if d >= best.0 {
                    break;
                }
            }
            if d < best.0 {
                best = (d, k);
                if d == 0.0 {
                    break;
                }
            }
        }
        best
    }

    /// Adds a completed window to the memory; `nearest` is [`Scale::nearest`] of it, if known.
    ///
    /// The window joins the box needing the least expansion among those whose width after it stays
    /// within `max_width` (expansion adds exactly its amount to a box's width); if none, it founds a box.
    fn remember(
        &mut self,
        win: &[f64],
        nearest: Option<(f64, usize)>,
        max_width: f64,
        max_boxes: usize,
        clock: u64,
    ) {
        let w = win.len();
        let (d, k) = nearest.unwrap_or_else(|| self.nearest(win));
        let mut fit = (k < self.used.len() && self.width[k] + d <= max_width).then_some(k);
        if fit.is_none() {
            let mut best = f64::INFINITY;
            for (j, (lo, hi)) in self
                .lo
                .chunks_exact(w)
                .zip(self.hi.chunks_exact(w))
                .enumerate()
            {
                let room = max_width - self.width[j];
                let bound = best.min(room);
                if bound < 0.0 {
                    continue;
                }
                let mut e = 0.0;
                for i in 0..w {
                    e += (lo[i] - win[i]).max(win[i] - hi[i]).max(0.0);
                    if e > bound {
                        break;
                    }
                }
                if e <= room && e < best {
                    best = e;
                    fit = Some(j);
                }
            }
        }
        match fit {
            Some(k) => {
                let mut width = 0.0;
                let lo = &mut self.lo[k * w..(k + 1) * w];
                let hi = &mut self.hi[k * w..(k + 1) * w];
                for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(win) {
                    *l = l.min(v);
                    *h = h.max(v);
                    width += *h - *l;
                }
                self.width[k] = width;
                self.used[k] = clock;
            }
            None if self.used.len() < max_boxes.max(1) => {
                self.lo.extend_from_slice(win);
                self.hi.extend_from_slice(win);
                self.width.push(0.0);
                self.used.push(clock);
            }
            None => {
                let mut k = 0;
                for (i, &u) in self.used.iter().enumerate() {
                    if u < self.used[k] {
                        k = i;
                    }
                }
                self.lo[k * w..(k + 1) * w].copy_from_slice(win);
                self.hi[k * w..(k + 1) * w].copy_from_slice(win);
                self.width[k] = 0.0;
                self.used[k] = clock;
            }
        }
    }

    /// Adds `x` to the current block; true when the block completes.
    fn push(&mut self, x: f64) -> bool {
        self.block_n += 1;
        self.block_min = self.block_min.min(x);
        self.block_max = self.block_max.max(x);
        self.block_sum += x;
        if self.block_n < self.factor.max(1) {
            return false;
        }
        let rep = self.representative_complete();
        let mean = self.block_sum / self.block_n as f64;
        self.avg = if self.blocks == 0 {
            mean
        } else {
            0.5 * (self.avg + mean)
        };
        self.blocks += 1;
        self.recent.copy_within(1.., 0);
        self.recent[MAX_WINDOW - 1] = rep;
        self.filled = (self.filled + 1).min(MAX_WINDOW);
        self.block_n = 0;
        self.block_min = f64::INFINITY;
        self.block_max = f64::NEG_INFINITY;
        self.block_sum = 0.0;
        true
    }

    fn representative_complete(&self) -> f64 {
        if self.factor <= 1 {
            return self.block_max;
        }
        let avg = if self.blocks == 0 {
            self.block_sum / self.block_n as f64
        } else {
            self.avg
        };
        if (self.block_max - avg).abs() >= (self.block_min - avg).abs() {
            self.block_max
        } else {
            self.block_min
        }
    }
}

/// The novelty model of one series (see the module docs).
#[derive(Debug, Clone)]
pub struct NoveltyModel {
    params: Params,
    cfg: NoveltyConfig,
    n: usize,
    lo: f64,
    hi: f64,
    scales: Vec<Scale>,
    peak: f64,
    residual: Option<Box<GenericModel>>,
}

impl NoveltyModel {
    pub fn new(params: Params) -> NoveltyModel {
        NoveltyModel::with_config(params, NoveltyConfig::default())
    }

    pub fn with_config(params: Params, cfg: NoveltyConfig) -> NoveltyModel {
        let mut cfg = cfg;
        cfg.window = cfg.window.clamp(1, MAX_WINDOW);
        let scales = cfg
            .scales
            .iter()
            .filter(|&&f| f > 0)
            .map(|&f| Scale::new(f))
            .collect();
        NoveltyModel {
            params,
            cfg,
            n: 0,
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
            scales,
            peak: 0.0,
            residual: cfg.residual.then(|| Box::new(GenericModel::new(params))),
        }
    }

    pub fn is_learning(&self) -> bool {
        self.n < self.cfg.warmup.max(self.params.min_history)
    }

    /// Width of the learned value range, never zero.
    fn range(&self) -> f64 {
        let r = self.hi - self.lo;
        let floor = 1e-9_f64.max(1e-9 * self.hi.abs().max(self.lo.abs()));
        if r.is_finite() {
            r.max(floor)
        } else {
            floor
        }
    }

    fn peak_decay(&self) -> f64 {
        0.5f64.powf(1.0 / self.cfg.peak_half_life.max(1e-9))
    }

    /// Smallest tail probability over the scales (Bonferroni-corrected), and each scale's distance.
    /// `residual_score` is the residual model's score of the point, if it is used.
    fn evidence(&self, x: f64, residual_score: Option<f64>, near: &mut [(f64, usize); 3]) -> f64 {
        let w = self.cfg.window;
        let range = self.range();
        let mut win = [0.0; MAX_WINDOW];
        let mut p_min: f64 = 1.0;
        for (k, s) in self.scales.iter().enumerate() {
            near[k] = (0.0, usize::MAX);
            if !s.window_with(x, w, &mut win) {
                continue;
            }
            let (d, idx) = s.nearest(&win[..w]);
            if !d.is_finite() {
                continue;
            }
            near[k] = (d, idx);
            let d = d / (w as f64 * range);
            p_min = p_min.min(s.tail.p(d, self.cfg.prior_weight, self.cfg.pareto));
            if self.cfg.short > 0 && s.ring.len() == self.cfg.short {
                let oldest = s.ring[s.ring_at];
                let m = (s.ring_sum - oldest + d) / self.cfg.short as f64;
                p_min = p_min.min(s.tail_mean.p(m, self.cfg.prior_weight, self.cfg.pareto));
            }
        }
        let mut tests = self.scales.len() * if self.cfg.short > 0 { 2 } else { 1 };
        if let Some(sc) = residual_score {
            if sc > 0.0 {
                let decades = HALF_SCORE_DECADES * sc / (1.0 - sc).max(1e-12);
                p_min = p_min.min(10f64.powf(-decades));
            }
            tests += 1;
        }
        (p_min * tests.max(1) as f64).min(1.0)
    }

    fn verdict(&self, x: f64, p: f64) -> (Assessment, f64) {
        if self.is_learning() {
            return (Assessment::learning(), 0.0);
        }
        let decades = -p.max(1e-300).log10();
        let peak = self.peak * self.peak_decay();
        let min_change = self.params.min_change(0.5 * (self.lo + self.hi));
        let beyond = (x - self.hi).max(self.lo - x);
        let big_enough = min_change <= 0.0 || self.range() >= min_change || beyond >= min_change;
        let beats = if peak > 0.0 {
            decades > peak + self.cfg.margin
        } else {
            true
        };
        let score = if beats && big_enough {
            score_of_p(p)
        } else {
            0.0
        };
        let threshold = self.params.threshold();
        // Band: the learned range widened by the vigilance (a point inside it rarely founds a box).
        let margin = self.cfg.vigilance * self.range();
        (
            Assessment {
                score,
                anomaly: score >= threshold,
                lower: Some(self.lo - margin),
                upper: Some(self.hi + margin),
                learning: false,
                expected_false_alarms_per_week: None,
                evidence: checks::baseline::Evidence::Point,
            },
            decades,
        )
    }

    /// Scores the point from the past only.
    pub fn assess(&self, ts: i64, x: f64) -> Assessment {
        if !x.is_finite() {
            return Assessment {
                learning: self.is_learning(),
                ..Assessment::learning()
            };
        }
        let residual = self.residual.as_ref().map(|g| g.assess(ts, x).score);
        let mut near = [(0.0, usize::MAX); 3];
        let p = self.evidence(x, residual, &mut near);
        self.verdict(x, p).0
    }

    /// Learns from the point.
    pub fn learn(&mut self, ts: i64, x: f64) {
        if !x.is_finite() {
            return;
        }
        let residual = self.residual.as_ref().map(|g| g.assess(ts, x).score);
        if let Some(g) = &mut self.residual {
            g.learn(ts, x);
        }
        let mut near = [(0.0, usize::MAX); 3];
        let p = self.evidence(x, residual, &mut near);
        let decades = -p.max(1e-300).log10();
        self.update(x, &near, decades);
    }

    /// Scores the point, then learns from it (one pass; same result as `assess` then `learn`).
    pub fn step(&mut self, ts: i64, x: f64) -> Assessment {
        if !x.is_finite() {
            return self.assess(ts, x);
        }
        let residual = self.residual.as_mut().map(|g| g.step(ts, x).score);
        let mut near = [(0.0, usize::MAX); 3];
        let p = self.evidence(x, residual, &mut near);
        let (a, decades) = self.verdict(x, p);
        self.update(x, &near, decades);
        a
    }

    /// Learns the point; `near` holds each scale's nearest box to the window the point completes.
    fn update(&mut self, x: f64, near: &[(f64, usize); 3], decades: f64) {
        let range_before = self.range();
        if !self.is_learning() {
            self.peak = (self.peak * self.peak_decay()).max(decades);
        }
        self.n += 1;
        if self.n <= 1 || self.cfg.range_follow >= 1.0 {
            self.lo = self.lo.min(x);
            self.hi = self.hi.max(x);
        } else if x > self.hi {
            self.hi += self.cfg.range_follow * (x - self.hi);
        } else if x < self.lo {
            self.lo -= self.cfg.range_follow * (self.lo - x);
        }
        let range = self.range();
        let w = self.cfg.window;
        let max_width = self.cfg.vigilance * range * w as f64;
        let clock = self.n as u64;
        let track = self.n > self.cfg.tail_after;
        for (k, s) in self.scales.iter_mut().enumerate() {
            if s.filled + 1 >= w && !s.lo.is_empty() {
                let d = near[k].0 / (w as f64 * range_before);
                if track {
                    s.tail.add(d);
                }
                let short = self.cfg.short;
                if short > 0 {
                    if s.ring.len() < short {
                        s.ring.push(d);
                        s.ring_sum += d;
                    } else {
                        s.ring_sum += d - s.ring[s.ring_at];
                        s.ring[s.ring_at] = d;
                        s.ring_at = (s.ring_at + 1) % short;
                        if track {
                            s.tail_mean.add(s.ring_sum.max(0.0) / short as f64);
                        }
                    }
                }
            }
            if s.push(x) && s.filled >= w {
                let mut win = [0.0; MAX_WINDOW];
                win[..w].copy_from_slice(&s.recent[MAX_WINDOW - w..]);
                let known = (near[k].1 != usize::MAX).then_some(near[k]);
                s.remember(&win[..w], known, max_width, self.cfg.max_boxes, clock);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checks::baseline::SeriesKind;

    fn model() -> NoveltyModel {
        NoveltyModel::new(Params::default_for(SeriesKind::Generic))
    }

    fn noise(i: usize) -> f64 {
        // Deterministic pseudo-noise in [-1, 1).
        let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
        (h as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    #[test]
    fn constant_series_never_alerts_after_learning() {
        let mut m = model();
        for i in 0..3000 {
            let a = m.step(i * 60, 5.0);
            if i > 400 {
                assert!(!a.learning);
                assert!(!a.anomaly, "point {i} score {}", a.score);
            }
        }
    }

    #[test]
    fn spike_after_stable_period_is_an_anomaly() {
        let mut m = model();
        let mut any_before = false;
        for i in 0..2000 {
            let a = m.step(i * 60, 10.0 + noise(i as usize));
            any_before |= i > 1000 && a.anomaly;
        }
        assert!(!any_before);
        let a = m.step(2000 * 60, 100.0);
        assert!(a.anomaly, "score {}", a.score);
        assert!(a.upper.is_some_and(|u| u < 100.0));
    }

    /// NaN and infinite values are never anomalies and never learned: a model fed them stays in the
    /// state of one that never saw them, spike included.
    #[test]
    fn non_finite_values_are_not_learned() {
        let mut with = model();
        let mut without = model();
        let mut flagged = false;
        for i in 0..1500 {
            let x = if i == 1400 { 100.0 } else { 10.0 + noise(i) };
            if i % 7 == 0 {
                for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                    let a = with.step(i as i64, bad);
                    assert!(
                        !a.anomaly && a.score == 0.0 && a.lower.is_none() && a.upper.is_none(),
                        "{a:?}"
                    );
                    assert_eq!(a.learning, without.is_learning());
                }
                with.learn(i as i64, f64::NAN);
            }
            let (a, b) = (with.step(i as i64, x), without.step(i as i64, x));
            assert_eq!(a, b, "point {i}");
            flagged |= b.anomaly;
        }
        assert!(
            flagged,
            "the spike at 1400 is an anomaly, so the comparison covers one"
        );
    }

    #[test]
    fn assess_then_learn_equals_step() {
        let mut a = model();
        let mut b = model();
        for i in 0..1500 {
            let x = (i as f64 / 30.0).cos() * 3.0 + noise(i);
            let sa = a.step(i as i64, x).score;
            let sb = b.assess(i as i64, x).score;
            b.learn(i as i64, x);
            assert_eq!(sa, sb);
        }
    }
}
