//! Check expressions: `metric(column) op value`, e.g. `null_rate(email) < 1%`, `freshness < 2h`.

use crate::metric::Metric;
use std::fmt;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "=",
            Op::Ne => "!=",
        }
    }

    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Op::Lt => left < right,
            Op::Le => left <= right,
            Op::Gt => left > right,
            Op::Ge => left >= right,
            Op::Eq => left == right,
            Op::Ne => left != right,
        }
    }
}

/// A parsed check. `column` is `None` for table metrics and the key columns joined by "," for duplicate
/// metrics, matching [`crate::Observation::column`]. `threshold` is in the metric's own unit: seconds for
/// durations, a fraction for percentages.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub metric: Metric,
    pub column: Option<String>,
    pub op: Op,
    pub threshold: f64,
}

impl Check {
    /// Whether the check holds for a measured value. NaN never holds.
    pub fn holds(&self, value: f64) -> bool {
        self.op.holds(value, self.threshold)
    }

    /// Whether this check applies to an observation of `metric` over `target` (key columns compare
    /// in their joined form `a,b`).
    pub fn applies_to(&self, metric: Metric, target: &crate::Target) -> bool {
        self.metric == metric && self.column == target.label()
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(
                f,
                "{}({}) {} {}",
                self.metric,
                c,
                self.op.as_str(),
                self.threshold
            ),
            None => write!(f, "{} {} {}", self.metric, self.op.as_str(), self.threshold),
        }
    }
}

/// Why a check expression or a duration did not parse. `offset` counts characters (not bytes) from the
/// start of the text and points at the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub offset: usize,
    pub message: String,
}

impl ExprError {
    fn new(offset: usize, message: impl Into<String>) -> Self {
        ExprError {
            offset,
            message: message.into(),
        }
    }
}

const OPERATORS: &str = "<, <=, >, >=, =, !=";
const DURATION_EXAMPLE: &str = "e.g. 30s, 15m, 2h, 1d, 1w or 1h30m";

/// The metrics that take a percentage, for messages: `a, b and c`.
fn ratio_metrics() -> String {
    let names: Vec<&str> = Metric::ALL
        .iter()
        .filter(|m| m.is_ratio())
        .map(|m| m.as_str())
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// Parses a check expression: `metric [ "(" column {"," column} ")" ] op value`.
///
/// Column metrics take exactly one column, key metrics (`duplicate_count`, `duplicate_rate`) one or more,
/// table metrics none. Values are numbers (`0`, `-1.5`, `1e6`, `1_000`), percentages (`1%`, ratio metrics
/// only) or durations (`30s`, `2h`, `1h30m`, duration metrics only; a plain number there means seconds).
pub fn parse(text: &str) -> Result<Check, ExprError> {
    let mut c = Cursor::new(text);
    c.skip_ws();
    let metric_start = c.pos;
    let name = c.take_while(|ch, i| {
        ch == '_' || ch.is_ascii_alphabetic() || (i > 0 && ch.is_ascii_digit())
    });
    if name.is_empty() {
        return Err(ExprError::new(
            metric_start,
            format!("expected a metric ({}), found {}", metric_list(), c.found()),
        ));
    }
    let metric = Metric::parse(&name).ok_or_else(|| {
        ExprError::new(
            metric_start,
            format!(
                "unknown metric \"{name}\" (expected one of {})",
                metric_list()
            ),
        )
    })?;
    let shown_name = if metric == Metric::FreshnessSeconds {
        "freshness"
    } else {
        metric.as_str()
    };

    c.skip_ws();
    let mut columns: Vec<(usize, String)> = Vec::new();
    if c.eat('(') {
        c.skip_ws();
        if !c.eat(')') {
            loop {
                c.skip_ws();
                let start = c.pos;
                columns.push((start, c.column()?));
                c.skip_ws();
                if c.eat(')') {
                    break;
                }
                if !c.eat(',') {
                    return Err(ExprError::new(
                        c.pos,
                        format!(
                            "expected \",\" or \")\" after a column name, found {}",
                            c.found()
                        ),
                    ));
                }
            }
        }
    }

    if metric.is_column_metric() {
        match columns.as_slice() {
            [] => {
                return Err(ExprError::new(
                    metric_start,
                    format!("{shown_name} needs a column: {shown_name}(email)"),
                ))
            }
            [_] => {}
            [_, (offset, _), ..] => {
                return Err(ExprError::new(
                    *offset,
                    format!(
                        "{shown_name} takes exactly one column, found {}",
                        columns.len()
                    ),
                ))
            }
        }
    } else if metric.is_key_metric() {
        if columns.is_empty() {
            return Err(ExprError::new(
                metric_start,
                format!("{shown_name} needs one or more key columns: {shown_name}(id)"),
            ));
        }
    } else if let Some((offset, _)) = columns.first() {
        return Err(ExprError::new(
            *offset,
            format!("{shown_name} is a table metric and takes no column"),
        ));
    }
    let column = if columns.is_empty() {
        None
    } else {
        Some(
            columns
                .into_iter()
                .map(|(_, name)| name)
                .collect::<Vec<_>>()
                .join(","),
        )
    };

    let written = c.slice(metric_start, c.pos).trim_end().to_string();
    c.skip_ws();
    let op = c.op().ok_or_else(|| {
        let message = if c.at_end() {
            format!("expected an operator ({OPERATORS}) after \"{written}\"")
        } else {
            format!(
                "expected an operator ({OPERATORS}) after \"{written}\", found {}",
                c.found()
            )
        };
        ExprError::new(c.pos, message)
    })?;

    c.skip_ws();
    let value_start = c.pos;
    let value = c.value().map_err(|e| match e {
        ValueError::Missing => ExprError::new(
            value_start,
            format!(
                "expected a number after \"{}\", found {}",
                op.as_str(),
                c.found()
            ),
        ),
        ValueError::Other(e) => e,
    })?;
    let value_text = c.slice(value_start, c.pos).to_string();
    let threshold = match value {
        Value::Number(n) => n,
        Value::Percent(p) if metric.is_ratio() => p,
        Value::Percent(_) => {
            return Err(ExprError::new(
                value_start,
                format!(
                    "\"{value_text}\" is a percentage, only {} take one",
                    ratio_metrics()
                ),
            ))
        }
        Value::Duration(d) if metric.is_duration() => d,
        Value::Duration(_) => {
            return Err(ExprError::new(
                value_start,
                format!("\"{value_text}\" is a duration, only freshness takes one"),
            ))
        }
    };

    c.skip_ws();
    if !c.at_end() {
        return Err(ExprError::new(
            c.pos,
            format!("unexpected {} after the value \"{value_text}\"", c.found()),
        ));
    }
    Ok(Check {
        metric,
        column,
        op,
        threshold,
    })
}

/// Parses a duration into seconds: `30s`, `15m`, `2h`, `1d`, `1w`, compounds like `1h30m` (largest unit
/// first), or a plain non-negative number of seconds. Surrounding whitespace is ignored.
pub fn parse_duration(text: &str) -> Result<f64, ExprError> {
    let mut c = Cursor::new(text);
    c.skip_ws();
    let start = c.pos;
    let value = match c.value() {
        Ok(v) => v,
        Err(ValueError::Missing) => {
            return Err(ExprError::new(
                start,
                format!(
                    "expected a duration ({DURATION_EXAMPLE}), found {}",
                    c.found()
                ),
            ))
        }
        Err(ValueError::Other(e)) => return Err(e),
    };
    let seconds = match value {
        Value::Number(n) | Value::Duration(n) => n,
        Value::Percent(_) => {
            return Err(ExprError::new(
                start,
                format!(
                    "\"{}\" is a percentage, expected a duration ({DURATION_EXAMPLE})",
                    c.slice(start, c.pos)
                ),
            ))
        }
    };
    if seconds < 0.0 {
        return Err(ExprError::new(start, "a duration cannot be negative"));
    }
    let end = c.pos;
    c.skip_ws();
    if !c.at_end() {
        return Err(ExprError::new(
            c.pos,
            format!(
                "unexpected {} after the duration \"{}\"",
                c.found(),
                c.slice(start, end)
            ),
        ));
    }
    Ok(seconds)
}

fn metric_list() -> String {
    Metric::ALL
        .iter()
        .map(|m| {
            if *m == Metric::FreshnessSeconds {
                "freshness"
            } else {
                m.as_str()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

enum Value {
    Number(f64),
    /// Already divided by 100.
    Percent(f64),
    /// In seconds.
    Duration(f64),
}

enum ValueError {
    /// No number starts here.
    Missing,
    Other(ExprError),
}

/// Seconds per duration unit, largest first.
const UNITS: [(char, f64); 5] = [
    ('w', 604_800.0),
    ('d', 86_400.0),
    ('h', 3_600.0),
    ('m', 60.0),
    ('s', 1.0),
];

struct Cursor {
    chars: Vec<char>,
    pos: usize,
}

impl Cursor {
    fn new(text: &str) -> Self {
        Cursor {
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn eat(&mut self, ch: char) -> bool {
        if self.peek() == Some(ch) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Takes characters while `f(char, index_in_run)` holds.
    fn take_while(&mut self, f: impl Fn(char, usize) -> bool) -> String {
        let start = self.pos;
        while let Some(ch) = self.peek() {
            if !f(ch, self.pos - start) {
                break;
            }
            self.pos += 1;
        }
        self.slice(start, self.pos)
    }

    fn slice(&self, from: usize, to: usize) -> String {
        self.chars[from.min(self.chars.len())..to.min(self.chars.len())]
            .iter()
            .collect()
    }

    /// What stands at the cursor, for messages: the next word in quotes, or "the end".
    fn found(&self) -> String {
        if self.at_end() {
            return "the end".to_string();
        }
        let mut word: String = self.chars[self.pos..]
            .iter()
            .take_while(|ch| !ch.is_whitespace())
            .take(20)
            .collect();
        if word.is_empty() {
            word = self.chars[self.pos].to_string();
        }
        format!("\"{word}\"")
    }

    /// A bare identifier `[A-Za-z_][A-Za-z0-9_$]*` or a double-quoted name with `""` for a quote.
    fn column(&mut self) -> Result<String, ExprError> {
        let start = self.pos;
        if self.eat('"') {
            let mut name = String::new();
            loop {
                match self.peek() {
                    None => {
                        return Err(ExprError::new(
                            start,
                            "unterminated quoted column name, expected a closing \"",
                        ))
                    }
                    Some('"') if self.peek_at(1) == Some('"') => {
                        name.push('"');
                        self.pos += 2;
                    }
                    Some('"') => {
                        self.pos += 1;
                        break;
                    }
                    Some(ch) => {
                        name.push(ch);
                        self.pos += 1;
                    }
                }
            }
            if name.is_empty() {
                return Err(ExprError::new(
                    start,
                    "a quoted column name cannot be empty",
                ));
            }
            return Ok(name);
        }
        let name = self.take_while(|ch, i| {
            ch == '_'
                || ch.is_ascii_alphabetic()
                || (i > 0 && (ch.is_ascii_digit() || ch == '$' || ch == '.'))
        });
        if name.is_empty() {
            return Err(ExprError::new(
                start,
                format!("expected a column name, found {}", self.found()),
            ));
        }
        Ok(name)
    }

    fn op(&mut self) -> Option<Op> {
        const TABLE: [(&str, Op); 8] = [
            ("<=", Op::Le),
            ("<>", Op::Ne),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<", Op::Lt),
            (">", Op::Gt),
            ("=", Op::Eq),
        ];
        for (text, op) in TABLE {
            let n = text.chars().count();
            if self.slice(self.pos, self.pos + n) == text {
                self.pos += n;
                return Some(op);
            }
        }
        None
    }

    /// A number `[-+]digits[.digits][e[-+]digits]` with `_` between digits, without a unit.
    fn number(&mut self) -> Result<f64, ValueError> {
        let start = self.pos;
        if matches!(self.peek(), Some('-' | '+')) {
            self.pos += 1;
        }
        if !self.peek().is_some_and(|ch| ch.is_ascii_digit()) {
            self.pos = start;
            return Err(ValueError::Missing);
        }
        self.digits();
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|ch| ch.is_ascii_digit()) {
            self.pos += 1;
            self.digits();
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let sign = usize::from(matches!(self.peek_at(1), Some('-' | '+')));
            if self.peek_at(1 + sign).is_some_and(|ch| ch.is_ascii_digit()) {
                self.pos += 1 + sign;
                self.digits();
            }
        }
        let text: String = self
            .slice(start, self.pos)
            .chars()
            .filter(|ch| *ch != '_')
            .collect();
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(ValueError::Other(ExprError::new(
                start,
                format!("\"{}\" is not a finite number", self.slice(start, self.pos)),
            ))),
        }
    }

    /// Digits with single underscores between them.
    fn digits(&mut self) {
        while let Some(ch) = self.peek() {
            if ch.is_ascii_digit()
                || (ch == '_' && self.peek_at(1).is_some_and(|next| next.is_ascii_digit()))
            {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// A number, a percentage or a (compound) duration.
    fn value(&mut self) -> Result<Value, ValueError> {
        let start = self.pos;
        let first = self.number()?;
        if self.eat('%') {
            return Ok(Value::Percent(first / 100.0));
        }
        if !self.peek().is_some_and(|ch| ch.is_ascii_alphabetic()) {
            return Ok(Value::Number(first));
        }
        if first < 0.0 || self.chars[start] == '+' {
            return Err(ValueError::Other(ExprError::new(
                start,
                "a duration cannot have a sign",
            )));
        }
        let mut total = 0.0;
        let mut amount = first;
        let mut last_unit: Option<usize> = None;
        loop {
            let unit_start = self.pos;
            let unit = self.take_while(|ch, _| ch.is_ascii_alphabetic());
            let index = match unit.chars().next() {
                Some(ch) if unit.chars().count() == 1 => UNITS.iter().position(|(u, _)| *u == ch),
                _ => None,
            };
            let Some(index) = index else {
                return Err(ValueError::Other(ExprError::new(
                    unit_start,
                    format!(
                        "unknown duration unit \"{unit}\" in \"{}\" (expected s, m, h, d or w)",
                        self.slice(start, self.pos)
                    ),
                )));
            };
            if last_unit.is_some_and(|last| index <= last) {
                return Err(ValueError::Other(ExprError::new(
                    unit_start,
                    format!(
                        "duration units must go from largest to smallest without repeats, found \"{}\"",
                        self.slice(start, self.pos)
                    ),
                )));
            }
            last_unit = Some(index);
            total += amount * UNITS[index].1;
            // Another `<number><unit>` part follows only if a digit does.
            if !self.peek().is_some_and(|ch| ch.is_ascii_digit()) {
                break;
            }
            let part_start = self.pos;
            amount = self.number().map_err(|_| {
                ValueError::Other(ExprError::new(
                    part_start,
                    "expected a number in the duration",
                ))
            })?;
            if !self.peek().is_some_and(|ch| ch.is_ascii_alphabetic()) {
                return Err(ValueError::Other(ExprError::new(
                    self.pos,
                    format!(
                        "expected a unit (s, m, h, d or w) after \"{}\"",
                        self.slice(start, self.pos)
                    ),
                )));
            }
        }
        Ok(Value::Duration(total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Check {
        match parse(text) {
            Ok(c) => c,
            Err(e) => panic!("{text:?} failed at {}: {}", e.offset, e.message),
        }
    }

    fn err(text: &str) -> ExprError {
        match parse(text) {
            Ok(c) => panic!("{text:?} parsed as {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_table_column_and_key_metrics() {
        assert_eq!(
            ok("row_count > 0"),
            Check {
                metric: Metric::RowCount,
                column: None,
                op: Op::Gt,
                threshold: 0.0
            }
        );
        assert_eq!(
            ok("null_rate(email) < 0.01"),
            Check {
                metric: Metric::NullRate,
                column: Some("email".into()),
                op: Op::Lt,
                threshold: 0.01
            }
        );
        assert_eq!(
            ok("duplicate_count(id) = 0"),
            Check {
                metric: Metric::DuplicateCount,
                column: Some("id".into()),
                op: Op::Eq,
                threshold: 0.0
            }
        );
        let composite = ok("duplicate_rate( tenant_id , order_id )<=1%");
        assert_eq!(composite.column.as_deref(), Some("tenant_id,order_id"));
        assert_eq!(composite.op, Op::Le);
        assert!((composite.threshold - 0.01).abs() < 1e-12);
    }

    #[test]
    fn whitespace_is_insignificant() {
        assert_eq!(ok("  min ( amount )>=-1.5  "), ok("min(amount) >= -1.5"));
        assert_eq!(ok("row_count()>0"), ok("row_count > 0"));
        assert_eq!(ok("\trow_count\n>\n0"), ok("row_count > 0"));
    }

    #[test]
    fn all_operators() {
        for (text, op) in [
            ("<", Op::Lt),
            ("<=", Op::Le),
            (">", Op::Gt),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<>", Op::Ne),
        ] {
            assert_eq!(ok(&format!("row_count {text} 5")).op, op, "{text}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(ok("row_count > 1e6").threshold, 1e6);
        assert_eq!(ok("row_count > 1_000").threshold, 1000.0);
        assert_eq!(ok("row_count > 1_000.5").threshold, 1000.5);
        assert_eq!(ok("mean(x) > -1.5").threshold, -1.5);
        assert_eq!(ok("mean(x) > +2").threshold, 2.0);
        assert_eq!(ok("mean(x) > 2.5E-3").threshold, 2.5e-3);
        assert_eq!(
            err("row_count > 1e999").message,
            "\"1e999\" is not a finite number"
        );
    }

    #[test]
    fn field_paths_are_column_names() {
        assert_eq!(
            ok("null_rate(user.email) < 2%").column.as_deref(),
            Some("user.email")
        );
        assert!(err("null_rate(.email) < 2%")
            .message
            .contains("column name"));
    }

    #[test]
    fn percentages_only_for_ratio_metrics() {
        assert!((ok("null_rate(email) < 0.5%").threshold - 0.005).abs() < 1e-12);
        let e = err("null_count(email) < 1%");
        assert_eq!(e.offset, 20);
        assert_eq!(
            e.message,
            "\"1%\" is a percentage, only duplicate_rate, null_rate, bucket_null_rate, parse_error_rate, \
             late_rate and reconcile_gap take one"
        );
    }

    #[test]
    fn durations_only_for_freshness() {
        assert_eq!(ok("freshness < 2h").threshold, 7200.0);
        assert_eq!(ok("freshness_seconds < 90").threshold, 90.0);
        assert_eq!(ok("freshness < 1h30m").threshold, 5400.0);
        assert_eq!(ok("freshness <= 1w2d").threshold, 9.0 * 86400.0);
        assert_eq!(ok("freshness < 30s").metric, Metric::FreshnessSeconds);
        let e = err("row_count > 2h");
        assert_eq!(e.offset, 12);
        assert_eq!(e.message, "\"2h\" is a duration, only freshness takes one");
    }

    #[test]
    fn duration_parser() {
        assert_eq!(parse_duration("30s"), Ok(30.0));
        assert_eq!(parse_duration("15m"), Ok(900.0));
        assert_eq!(parse_duration("2h"), Ok(7200.0));
        assert_eq!(parse_duration("1d"), Ok(86400.0));
        assert_eq!(parse_duration("1w"), Ok(604800.0));
        assert_eq!(parse_duration("28d"), Ok(28.0 * 86400.0));
        assert_eq!(parse_duration("1h30m15s"), Ok(5415.0));
        assert_eq!(parse_duration("1.5h"), Ok(5400.0));
        assert_eq!(parse_duration(" 300 "), Ok(300.0));

        let e = parse_duration("5x").unwrap_err();
        assert_eq!(
            (e.offset, e.message.as_str()),
            (
                1,
                "unknown duration unit \"x\" in \"5x\" (expected s, m, h, d or w)"
            )
        );
        let e = parse_duration("30m1h").unwrap_err();
        assert_eq!(e.offset, 4);
        assert_eq!(
            e.message,
            "duration units must go from largest to smallest without repeats, found \"30m1h\""
        );
        let e = parse_duration("1h30").unwrap_err();
        assert_eq!(
            (e.offset, e.message.as_str()),
            (4, "expected a unit (s, m, h, d or w) after \"1h30\"")
        );
        let e = parse_duration("-5m").unwrap_err();
        assert_eq!(
            (e.offset, e.message.as_str()),
            (0, "a duration cannot have a sign")
        );
        let e = parse_duration("-5").unwrap_err();
        assert_eq!(
            (e.offset, e.message.as_str()),
            (0, "a duration cannot be negative")
        );
        let e = parse_duration("soon").unwrap_err();
        assert_eq!(e.offset, 0);
        assert_eq!(
            e.message,
            "expected a duration (e.g. 30s, 15m, 2h, 1d, 1w or 1h30m), found \"soon\""
        );
        let e = parse_duration("5%").unwrap_err();
        assert_eq!(
            e.message,
            "\"5%\" is a percentage, expected a duration (e.g. 30s, 15m, 2h, 1d, 1w or 1h30m)"
        );
        let e = parse_duration("5m later").unwrap_err();
        assert_eq!(
            (e.offset, e.message.as_str()),
            (3, "unexpected \"later\" after the duration \"5m\"")
        );
        assert_eq!(
            parse_duration("").unwrap_err().message,
            "expected a duration (e.g. 30s, 15m, 2h, 1d, 1w or 1h30m), found the end"
        );
    }

    #[test]
    fn quoted_and_odd_columns() {
        assert_eq!(
            ok("null_rate(\"weird \"\"name\"\"\") < 1")
                .column
                .as_deref(),
            Some("weird \"name\"")
        );
        assert_eq!(
            ok("null_rate(\"Order Id\") < 1").column.as_deref(),
            Some("Order Id")
        );
        assert_eq!(ok("max(_a$1) < 1").column.as_deref(), Some("_a$1"));
        assert_eq!(
            ok("duplicate_count(\"a\", b) = 0").column.as_deref(),
            Some("a,b")
        );

        let e = err("null_rate(\"email) < 1");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (10, "unterminated quoted column name, expected a closing \"")
        );
        let e = err("null_rate(\"\") < 1");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (10, "a quoted column name cannot be empty")
        );
        let e = err("null_rate(1email) < 1");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (10, "expected a column name, found \"1email)\"")
        );
        let e = err("null_rate(email < 1");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (
                16,
                "expected \",\" or \")\" after a column name, found \"<\""
            )
        );
        let e = err("duplicate_count(a,) = 0");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (18, "expected a column name, found \")\"")
        );
    }

    #[test]
    fn metric_errors() {
        let e = err("nul_rate(email) < 1");
        assert_eq!(e.offset, 0);
        assert_eq!(
            e.message,
            "unknown metric \"nul_rate\" (expected one of row_count, message_count, volume, freshness, \
             schema, duplicate_count, duplicate_rate, new_duplicate_count, null_count, null_rate, \
             bucket_null_rate, \
             distinct_count, min, max, mean, consumer_lag, consumer_lag_seconds, parse_error_rate, \
             late_rate, reconcile_gap, row_estimate, size_bytes, rows_inserted, \
             last_change_age_seconds)"
        );
        let e = err("  rows > 1");
        assert_eq!(e.offset, 2);
        assert!(e.message.starts_with("unknown metric \"rows\""));
        let e = err("");
        assert_eq!(e.offset, 0);
        assert!(
            e.message.starts_with("expected a metric (row_count, "),
            "{}",
            e.message
        );
        assert!(e.message.ends_with("found the end"), "{}", e.message);
        let e = err("> 5");
        assert!(e.message.ends_with("found \">\""), "{}", e.message);
    }

    #[test]
    fn column_arity() {
        let e = err("null_rate < 0.01");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (0, "null_rate needs a column: null_rate(email)")
        );
        let e = err(" null_rate() < 0.01");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (1, "null_rate needs a column: null_rate(email)")
        );
        let e = err("mean(a, b) < 1");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (8, "mean takes exactly one column, found 2")
        );
        let e = err("duplicate_count = 0");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (
                0,
                "duplicate_count needs one or more key columns: duplicate_count(id)"
            )
        );
        let e = err("row_count(id) > 0");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (10, "row_count is a table metric and takes no column")
        );
        let e = err("freshness_seconds(ts) < 1h");
        assert_eq!(e.message, "freshness is a table metric and takes no column");
    }

    #[test]
    fn operator_and_value_errors() {
        let e = err("row_count");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (
                9,
                "expected an operator (<, <=, >, >=, =, !=) after \"row_count\""
            )
        );
        let e = err("null_rate(email) ~ 1");
        assert_eq!(e.offset, 17);
        assert_eq!(
            e.message,
            "expected an operator (<, <=, >, >=, =, !=) after \"null_rate(email)\", found \"~\""
        );
        let e = err("row_count >");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (11, "expected a number after \">\", found the end")
        );
        let e = err("row_count > lots");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (12, "expected a number after \">\", found \"lots\"")
        );
        let e = err("row_count >= 10 rows");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (16, "unexpected \"rows\" after the value \"10\"")
        );
        let e = err("row_count > 1 %");
        assert_eq!(e.offset, 14);
        let e = err("freshness < 2hours");
        assert_eq!(
            (e.offset, e.message.as_str()),
            (
                13,
                "unknown duration unit \"hours\" in \"2hours\" (expected s, m, h, d or w)"
            )
        );
    }

    #[test]
    fn offsets_count_characters_not_bytes() {
        let e = err("null_rate(\"ünïcödé\") ~ 1");
        assert_eq!(e.offset, 21);
    }
}
