use super::*;

const HOUR: i64 = 3_600;

fn run(kind: SeriesKind, params: Params, points: &[(i64, f64)]) -> Vec<Assessment> {
    let mut d = Detector::new(kind, params);
    points.iter().map(|&(t, v)| d.step(t, v)).collect()
}

#[test]
fn constant_series_never_alerts() {
    let pts: Vec<(i64, f64)> = (0..500).map(|i| (i * HOUR, 42.0)).collect();
    for kind in [SeriesKind::Volume, SeriesKind::Rate, SeriesKind::Generic] {
        let out = run(kind, Params::default_for(kind), &pts);
        assert!(out.iter().all(|a| !a.anomaly), "{kind}");
        assert!(out[0].learning && !out[499].learning);
    }
}
