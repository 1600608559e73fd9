//! Report types: one result row per measurement, and a scan's report.

use crate::baseline::{Assessment, Evidence, Params};
use crate::evaluate::format_value;
use crate::{Expected, Metric, SeriesKey, Status, Target};
use serde::Serialize;

/// One line of the report: a measurement and its verdict. Field names and order are the public JSON
/// format (`target` is written as `column`: the column, field path or group, or the key columns joined
/// by `,`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultRow {
    pub monitor: String,
    pub source: String,
    pub dataset: String,
    pub metric: Metric,
    #[serde(rename = "column", serialize_with = "target_label")]
    pub target: Target,
    pub value: Option<f64>,
    pub status: Status,
    pub expected: Option<Expected>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// The learned baseline's anomaly score in [0, 1] (`None` without a learned verdict).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

fn target_label<S: serde::Serializer>(t: &Target, s: S) -> Result<S::Ok, S::Error> {
    t.label().serialize(s)
}

impl ResultRow {
    /// The series this row is a point of.
    pub fn key(&self) -> SeriesKey {
        SeriesKey::new(self.monitor.clone(), self.metric, self.target.clone())
    }

    /// The flat column label (see [`Target::label`]).
    pub fn column(&self) -> Option<String> {
        self.target.label()
    }

    /// Gives a row its learned verdict: the band, and pass or anomaly (or learning with the history
    /// count when the detector is not ready).
    pub fn apply_assessment(&mut self, a: &Assessment, points: usize, params: &Params) {
        if a.learning {
            self.status = Status::Learning;
            self.message = format!(
                "learning the baseline: {points} points of history, {} needed",
                params.min_history
            );
            return;
        }
        // A band never reaches values the metric cannot take (a NULL rate below 0 or above 1, a
        // negative count): the same band, shown within the metric's range. An infinite edge (a
        // model whose threshold lies beyond every deviation it can express, as just after a
        // 300-decade outage) is no edge: the state store keeps finite values only.
        let non_negative = !matches!(self.metric, Metric::Min | Metric::Max | Metric::Mean);
        let band = Expected {
            lower: a
                .lower
                .filter(|l| l.is_finite())
                .map(|l| if non_negative { l.max(0.0) } else { l }),
            upper: a.upper.filter(|u| u.is_finite()).map(|u| {
                if self.metric.is_ratio() {
                    u.min(1.0)
                } else {
                    u
                }
            }),
        };
        let a = &Assessment {
            lower: band.lower,
            upper: band.upper,
            ..*a
        };
        self.expected = (band.lower.is_some() || band.upper.is_some()).then_some(band);
        self.score = a.score.is_finite().then_some(a.score);
        let budget = a.expected_false_alarms_per_week.filter(|b| b.is_finite());
        if budget.is_some() || a.anomaly {
            let mut details = match self.details.take() {
                Some(serde_json::Value::Object(m)) => m,
                Some(other) => {
                    let mut m = serde_json::Map::new();
                    m.insert("profile".into(), other);
                    m
                }
                None => serde_json::Map::new(),
            };
            if let Some(budget) = budget {
                // What `sensitivity` means for this series: the false alarms a week its calibrated
                // threshold allows on clean data.
                details.insert(
                    "expected_false_alarms_per_week".into(),
                    serde_json::json!(budget),
                );
                details.insert("sensitivity".into(), serde_json::json!(params.sensitivity));
            }
            if a.anomaly {
                details.insert("evidence".into(), serde_json::json!(a.evidence.as_str()));
            }
            self.details = Some(serde_json::Value::Object(details));
        }
        let shown = |v: Option<f64>| v.map_or("…".to_string(), |v| display_value(self.metric, v));
        let band_text = format!("{} .. {}", shown(a.lower), shown(a.upper));
        if a.anomaly {
            self.status = Status::Anomaly;
            // Only a value outside the band is said to be: a shift alerts on values that each lie
            // inside it, and a record may too.
            let outside = self
                .value
                .is_some_and(|v| a.lower.is_some_and(|l| v < l) || a.upper.is_some_and(|u| v > u));
            let score = a.score;
            self.message = match (a.evidence, outside) {
                (Evidence::Shift { up }, _) => format!(
                    "sustained shift {}: recent values run {} the learned level (score {score:.2}); this value is {} the band {band_text}",
                    if up { "up" } else { "down" },
                    if up { "above" } else { "below" },
                    if outside { "outside" } else { "within" }
                ),
                (Evidence::Record { up }, true) => format!(
                    "outside the learned band {band_text} and {} every value seen before (score {score:.2})",
                    if up { "above" } else { "below" }
                ),
                (Evidence::Record { up }, false) => format!(
                    "{} every value seen before, within the learned band {band_text} (score {score:.2})",
                    if up { "above" } else { "below" }
                ),
                (Evidence::Point, _) => {
                    format!("outside the learned band {band_text} (score {score:.2})")
                }
            };
        } else {
            self.status = Status::Pass;
            self.message = format!("within the learned band {band_text}");
        }
    }
}

/// The outcome of one scan.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub run_id: i64,
    pub results: Vec<ResultRow>,
}

impl ScanReport {
    /// 0 when nothing is wrong, 1 when a check failed or something drifted, 2 when any measurement
    /// could not be taken (2 wins over 1).
    pub fn exit_code(&self) -> i32 {
        if self.results.iter().any(|r| r.status == Status::Error) {
            2
        } else if self.results.iter().any(|r| r.status.is_problem()) {
            1
        } else {
            0
        }
    }
}

/// Short human form of a value for tables: durations also in hours or days.
pub fn display_value(metric: Metric, v: f64) -> String {
    if metric.is_duration() {
        let human = if v.abs() >= 86400.0 {
            format!(" ({:.1}d)", v / 86400.0)
        } else if v.abs() >= 3600.0 {
            format!(" ({:.1}h)", v / 3600.0)
        } else if v.abs() >= 60.0 {
            format!(" ({:.1}m)", v / 60.0)
        } else {
            String::new()
        };
        return format!("{}s{human}", format_value(v.round()));
    }
    format_value(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_composite_key_is_written_as_one_column_label() {
        let row = ResultRow {
            monitor: "m".into(),
            source: "s".into(),
            dataset: "d".into(),
            metric: Metric::DuplicateCount,
            target: Target::Key(vec!["a".into(), "b".into()]),
            value: Some(1.0),
            status: Status::Pass,
            expected: None,
            message: String::new(),
            details: None,
            score: None,
        };
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["column"], "a,b");
        assert_eq!(json["metric"], "duplicate_count");
        // Field order is part of the format: serialize to text and find each name after the previous.
        let text = serde_json::to_string(&row).unwrap();
        let mut at = 0;
        for field in [
            "monitor", "source", "dataset", "metric", "column", "value", "status", "expected",
            "message",
        ] {
            let pos = text[at..]
                .find(&format!("\"{field}\":"))
                .unwrap_or_else(|| panic!("{field} out of order in {text}"));
            at += pos;
        }
        assert!(!text.contains("details"));
    }

    #[test]
    fn a_calibrated_verdict_says_its_false_alarm_budget() {
        let mut row = ResultRow {
            monitor: "m".into(),
            source: "s".into(),
            dataset: "d".into(),
            metric: Metric::Volume,
            target: Target::Table,
            value: Some(10.0),
            status: Status::Pass,
            expected: None,
            message: String::new(),
            details: Some(serde_json::json!({"bucket": "2026-01-01T00:00:00Z"})),
            score: None,
        };
        let a = Assessment {
            score: 0.2,
            anomaly: false,
            lower: Some(-5.0),
            upper: Some(15.0),
            learning: false,
            expected_false_alarms_per_week: Some(0.25),
            evidence: Evidence::Point,
        };
        let params = Params::default_for(crate::baseline::SeriesKind::Volume);
        row.apply_assessment(&a, 100, &params);
        let d = row.details.as_ref().unwrap();
        assert_eq!(d["expected_false_alarms_per_week"], 0.25);
        assert_eq!(d["sensitivity"], params.sensitivity);
        assert_eq!(
            d["bucket"], "2026-01-01T00:00:00Z",
            "earlier details are kept"
        );
        // Without calibration nothing is added.
        let mut plain = row.clone();
        plain.details = None;
        plain.apply_assessment(
            &Assessment {
                expected_false_alarms_per_week: None,
                ..a
            },
            100,
            &params,
        );
        assert_eq!(plain.details, None);
    }

    /// An alert says what it rests on: a shift alerts on values inside the band, and its message
    /// must not call them outside; `details.evidence` names the evidence for anomalies only.
    #[test]
    fn an_alert_says_whether_a_shift_a_record_or_the_value_made_it() {
        let row = |value: f64| ResultRow {
            monitor: "m".into(),
            source: "s".into(),
            dataset: "d".into(),
            metric: Metric::RowCount,
            target: Target::Table,
            value: Some(value),
            status: Status::Pass,
            expected: None,
            message: String::new(),
            details: None,
            score: None,
        };
        let params = Params::default_for(crate::baseline::SeriesKind::Volume);
        let a = Assessment {
            score: 0.7,
            anomaly: true,
            lower: Some(600.0),
            upper: Some(1400.0),
            learning: false,
            expected_false_alarms_per_week: Some(0.25),
            evidence: Evidence::Shift { up: false },
        };
        let message = |value: f64, a: &Assessment| {
            let mut r = row(value);
            r.apply_assessment(a, 100, &params);
            let evidence = r.details.as_ref().and_then(|d| d.get("evidence").cloned());
            (r.status, r.message, evidence)
        };
        let (status, text, evidence) = message(700.0, &a);
        assert_eq!(status, Status::Anomaly);
        assert_eq!(
            text,
            "sustained shift down: recent values run below the learned level (score 0.70); this value is within the band 600 .. 1400"
        );
        assert_eq!(evidence, Some(serde_json::json!("shift_down")));
        let with = |evidence| Assessment { evidence, ..a };
        let up = with(Evidence::Shift { up: true });
        assert!(message(1500.0, &up)
            .1
            .starts_with("sustained shift up: recent values run above"));
        assert!(message(1500.0, &up)
            .1
            .ends_with("this value is outside the band 600 .. 1400"));
        assert_eq!(
            message(300.0, &with(Evidence::Point)).1,
            "outside the learned band 600 .. 1400 (score 0.70)"
        );
        let record = with(Evidence::Record { up: true });
        assert_eq!(
            message(1500.0, &record).1,
            "outside the learned band 600 .. 1400 and above every value seen before (score 0.70)"
        );
        assert_eq!(
            message(1300.0, &record).1,
            "above every value seen before, within the learned band 600 .. 1400 (score 0.70)"
        );
        assert_eq!(
            message(1300.0, &record).2,
            Some(serde_json::json!("record_high"))
        );
        // A pass carries no evidence.
        let pass = Assessment {
            anomaly: false,
            score: 0.1,
            ..a
        };
        assert_eq!(message(1000.0, &pass).2, None);
    }

    /// A band edge at infinity (seen on the stalled table of `freshness_warm_start`, where the
    /// model's threshold lay beyond every deviation its tail could express) is reported as no
    /// edge, so the row can be stored; the verdict is unchanged.
    #[test]
    fn an_infinite_band_edge_is_no_edge() {
        let mut row = ResultRow {
            monitor: "m".into(),
            source: "s".into(),
            dataset: "d".into(),
            metric: Metric::RowCount,
            target: Target::Table,
            value: Some(0.0),
            status: Status::Pass,
            expected: None,
            message: String::new(),
            details: None,
            score: None,
        };
        let a = Assessment {
            score: 0.99,
            anomaly: true,
            lower: Some(f64::NEG_INFINITY),
            upper: Some(f64::INFINITY),
            learning: false,
            expected_false_alarms_per_week: None,
            evidence: Evidence::Point,
        };
        let params = Params::default_for(crate::baseline::SeriesKind::Volume);
        row.apply_assessment(&a, 100, &params);
        assert_eq!(row.expected, None);
        assert_eq!(row.status, Status::Anomaly);
        let mut half = row.clone();
        half.apply_assessment(
            &Assessment {
                lower: Some(5.0),
                ..a
            },
            100,
            &params,
        );
        let band = half.expected.unwrap();
        assert_eq!((band.lower, band.upper), (Some(5.0), None));
    }

    #[test]
    fn durations_read_in_hours_or_days() {
        assert_eq!(
            display_value(Metric::FreshnessSeconds, 7200.0),
            "7200s (2.0h)"
        );
        assert_eq!(display_value(Metric::RowCount, 7200.0), "7200");
    }
}
