//! `tidewatch detect`: the monitors' learned-baseline model run over a `timestamp,value` CSV, strictly
//! online, CSV out. The figures that measure the model (NAB scores, the synthetic suite) live in the
//! `tidewatch-lab` crate, which reads its CSV files with [`parse_row`].

use anyhow::{Context, Result};
use checks::baseline::calendar::Tz;
use checks::baseline::{Calendar, Direction, MinChange, Online, Params, SeriesKind};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

/// Runs the monitors' anomaly model over a `timestamp,value` CSV, strictly online.
#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// Kind of series: volume, freshness, rate, ratio or generic.
    #[arg(long)]
    pub kind: SeriesKind,
    /// Sensitivity in (0, 1), exclusive, as in the config; higher flags more: a point is an anomaly when
    /// its score is at least 1 - sensitivity (default: the monitors' default).
    #[arg(long, value_parser = parse_sensitivity)]
    pub sensitivity: Option<f64>,
    /// Which deviations count: both, up or down (default: the kind's).
    #[arg(long)]
    pub direction: Option<Direction>,
    /// The smallest deviation that may alert, as a monitor's `min_change:` for this kind: a number
    /// in the series' unit (0.005) or a percentage of the expected value (5%); give both to set
    /// both (default: the kind's).
    #[arg(long, value_parser = MinChange::parse)]
    pub min_change: Vec<MinChange>,
    /// The local clock of daily and weekly patterns and load schedules, as a monitor's `timezone:`
    /// (an IANA name; default UTC).
    #[arg(long, value_parser = parse_timezone)]
    pub timezone: Option<Tz>,
    /// Local dates treated like a Sunday, as a monitor's `holidays:` (comma-separated YYYY-MM-DD).
    #[arg(long, value_parser = parse_date, value_delimiter = ',')]
    pub holidays: Vec<chrono::NaiveDate>,
    /// Input CSV (default: stdin).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Output CSV (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// `--sensitivity`: a number strictly between 0 and 1, what a monitor's `sensitivity:` accepts.
fn parse_sensitivity(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if s > 0.0 && s < 1.0 => Ok(s),
        _ => Err(format!(
            "must be a number between 0 and 1 (exclusive), found \"{text}\""
        )),
    }
}

/// `--timezone`: an IANA name, what a monitor's `timezone:` accepts.
fn parse_timezone(text: &str) -> Result<Tz, String> {
    text.trim().parse::<Tz>().map_err(|_| {
        format!("unknown time zone \"{text}\" (expected an IANA name such as Europe/Berlin or UTC)")
    })
}

/// One `--holidays` date.
fn parse_date(text: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("a holiday must be a date such as 2026-12-25, found \"{text}\""))
}

/// The monitor parameters `detect` runs with: the kind's defaults and the flags, exactly as a
/// monitor with the same `sensitivity:`, `direction:`, `min_change:`, `timezone:` and `holidays:`
/// runs.
pub fn params_of(args: &DetectArgs) -> Result<Params> {
    let mut params = Params::default_for(args.kind);
    if let Some(s) = args.sensitivity {
        params.sensitivity = s;
    }
    if let Some(d) = args.direction {
        params.direction = d;
    }
    // At most one floor of each form, as a config's `min_change:` (a later one silently won).
    for (i, m) in args.min_change.iter().enumerate() {
        if let Some(earlier) = args.min_change[..i].iter().find(|e| e.same_form(*m)) {
            anyhow::bail!(
                "--min-change {earlier} and --min-change {m}: give at most one absolute floor and one percentage"
            );
        }
        m.apply(&mut params);
    }
    params.calendar = Calendar::new(args.timezone.unwrap_or(Tz::UTC))
        .with_holidays(args.holidays.iter().copied())
        .map_err(|e| anyhow::anyhow!("--holidays: {e}"))?;
    Ok(params)
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
    let params = params_of(args)?;
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
    let mut detector = Online::new(kind, params);
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
    use super::{parse_row, parse_sensitivity, trim_quotes};

    /// The config accepts a sensitivity in the open interval (0, 1); so does `--sensitivity`.
    #[test]
    fn sensitivity_is_in_the_open_unit_interval() {
        for ok in ["0.46", "1e-9", "0.999", " 0.5 "] {
            assert!(parse_sensitivity(ok).is_ok(), "{ok}");
        }
        for bad in ["0", "1", "-0.1", "1.5", "NaN", "inf", "high", ""] {
            assert!(parse_sensitivity(bad).is_err(), "{bad}");
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: DetectArgs,
    }

    fn args(flags: &[&str]) -> Result<DetectArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("detect").chain(flags.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn calendar_flags_give_the_monitor_calendar() {
        let a = args(&[
            "--kind",
            "volume",
            "--timezone",
            "Europe/Berlin",
            "--holidays",
            "2026-12-25,2026-12-26",
        ])
        .unwrap();
        let p = params_of(&a).unwrap();
        let want = Calendar::new(Tz::Europe__Berlin)
            .with_holidays([
                chrono::NaiveDate::from_ymd_opt(2026, 12, 25).unwrap(),
                chrono::NaiveDate::from_ymd_opt(2026, 12, 26).unwrap(),
            ])
            .unwrap();
        assert_eq!(p.calendar, want);
        // Without them: UTC and no holidays, as a monitor without `timezone:`.
        let p = params_of(&args(&["--kind", "volume"]).unwrap()).unwrap();
        assert_eq!(p.calendar, Calendar::utc());
    }

    #[test]
    fn min_change_flags_set_the_floors_a_monitor_would() {
        let p = params_of(&args(&["--kind", "rate"]).unwrap()).unwrap();
        assert_eq!((p.min_abs_change, p.min_rel_change), (0.001, 0.02));
        let a = args(&[
            "--kind",
            "rate",
            "--min-change",
            "0.01",
            "--min-change",
            "50%",
        ])
        .unwrap();
        let p = params_of(&a).unwrap();
        assert_eq!((p.min_abs_change, p.min_rel_change), (0.01, 0.5));
        let twice = args(&[
            "--kind",
            "rate",
            "--min-change",
            "1%",
            "--min-change",
            "0.01",
            "--min-change",
            "2.5%",
        ])
        .unwrap();
        let e = params_of(&twice).unwrap_err().to_string();
        assert_eq!(
            e,
            "--min-change 1% and --min-change 2.5%: give at most one absolute floor and one percentage"
        );
        let e = args(&["--kind", "rate", "--min-change=-1"]).unwrap_err();
        assert!(e.to_string().contains("found \"-1\""), "{e}");
        let e = args(&["--kind", "rate", "--min-change", "five%"]).unwrap_err();
        assert!(e.to_string().contains("percentage"), "{e}");
    }

    #[test]
    fn bad_calendar_flags_say_what_is_wrong() {
        let e = args(&["--kind", "volume", "--timezone", "Mars/Olympus"]).unwrap_err();
        assert!(
            e.to_string().contains("unknown time zone \"Mars/Olympus\""),
            "{e}"
        );
        let e = args(&["--kind", "volume", "--holidays", "2026-12-25,xmas"]).unwrap_err();
        assert!(e.to_string().contains("found \"xmas\""), "{e}");
    }

    #[test]
    fn the_calendar_reaches_the_model() {
        // Eight weeks of an hourly business-day series on Berlin time across the spring DST change:
        // on the Berlin clock the model's bands differ from the same model on UTC (the calendar's
        // own behaviour, DST and holidays, is tested in checks::baseline).
        let tz = Tz::Europe__Berlin;
        let start = 1_771_804_800; // 2026-02-23 00:00 UTC, a Monday
        let mut csv = String::new();
        for h in 0..(57 * 24) {
            let ts = start + h * 3600;
            let local = chrono::TimeZone::timestamp_opt(&tz, ts, 0).unwrap();
            let weekday = chrono::Datelike::weekday(&local).num_days_from_monday();
            let hour = chrono::Timelike::hour(&local);
            let busy = weekday < 5 && (8..18).contains(&hour);
            let v = if busy { 100 + (h % 7) } else { 3 + (h % 2) };
            csv.push_str(&format!("{ts},{v}\n"));
        }
        let run = |flags: &[&str]| {
            let a = args(&[&["--kind", "volume"], flags].concat()).unwrap();
            let mut out = Vec::new();
            stream_detect(csv.as_bytes(), &mut out, a.kind, params_of(&a).unwrap()).unwrap();
            String::from_utf8(out).unwrap()
        };
        let utc = run(&[]);
        assert_eq!(utc, run(&["--timezone", "UTC"]), "UTC is the default");
        assert_ne!(utc, run(&["--timezone", "Europe/Berlin"]));
    }
}
