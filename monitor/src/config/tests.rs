//! Config loading tests. The environment is injected, never read from or written to the process.

use super::*;
use checks::expr::Op;
use checks::Metric;
use secrecy::ExposeSecret;
use std::path::Path;

const SECRET: &str = "postgres://tw:hunter2-very-secret@db.internal:5432/shop";

fn env(name: &str) -> Option<String> {
    match name {
        "SHOP_URL" => Some(SECRET.to_string()),
        "HOST" => Some("db.internal".to_string()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    parse_str(text, Path::new("/etc/tidewatch/tidewatch.yaml"), &env)
}

/// A config with one SQLite source and one table monitor `m`, its last line the monitor's
/// `table:` (a test appends the monitor's settings under test, four spaces in).
const ONE_MONITOR: &str = "version: 1
sources:
  s:
    kind: sqlite
    url: w.db
monitors:
  - name: m
    source: s
    table: t
";

fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("config parsed but should not have"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

const EXAMPLE: &str = r#"version: 1
store: sqlite://tidewatch-state.db        # default when absent
sources:
  shop:
    kind: postgres
    url: ${SHOP_URL}
    statement_timeout: 5m
    connect_timeout: 10s
monitors:
  - name: orders
    source: shop
    table: public.orders
    timestamp_column: created_at
    key: [id]
    columns: [email, amount, status]
    checks:
      - row_count > 0
      - null_rate(email) < 0.01
      - duplicate_count(id) = 0
      - freshness < 2h
"#;

#[test]
fn loads_the_documented_example() {
    let c = parse(EXAMPLE).unwrap();
    assert_eq!(c.path, Path::new("/etc/tidewatch/tidewatch.yaml"));
    assert_eq!(
        c.store.expose_secret(),
        "sqlite:///etc/tidewatch/tidewatch-state.db"
    );
    let shop = &c.sources["shop"];
    assert_eq!(shop.name, "shop");
    assert_eq!(shop.kind, SourceKind::Postgres);
    assert_eq!(shop.url.expose_secret(), SECRET);
    assert_eq!(shop.statement_timeout, Duration::from_secs(300));
    assert_eq!(shop.connect_timeout, Duration::from_secs(10));

    assert_eq!(c.monitors.len(), 1);
    let m = &c.monitors[0];
    assert_eq!(m.name, "orders");
    assert_eq!(m.source, "shop");
    assert_eq!(m.dataset, "public.orders");
    assert_eq!(
        m.table().unwrap().schema.as_ref().unwrap().as_str(),
        "public"
    );
    assert_eq!(m.table().unwrap().name.as_str(), "orders");
    assert_eq!(m.timestamp_column.as_ref().unwrap().as_str(), "created_at");
    assert_eq!(m.key, vec![Ident::new("id").unwrap()]);
    let cols: Vec<&str> = m
        .columns
        .as_ref()
        .unwrap()
        .iter()
        .map(Ident::as_str)
        .collect();
    assert_eq!(cols, ["email", "amount", "status"]);
    assert_eq!(m.bucket, DEFAULT_BUCKET);
    assert_eq!(m.lookback, Duration::from_secs(28 * 86_400));
    assert_eq!(m.sensitivity, checks::baseline::DEFAULT_SENSITIVITY);
    assert_eq!(m.direction, None);

    let checks: Vec<(Metric, Option<&str>, Op, f64)> = m
        .checks
        .iter()
        .map(|c| {
            (
                c.check.metric,
                c.check.column.as_deref(),
                c.check.op,
                c.check.threshold,
            )
        })
        .collect();
    assert_eq!(
        checks,
        [
            (Metric::RowCount, None, Op::Gt, 0.0),
            (Metric::NullRate, Some("email"), Op::Lt, 0.01),
            (Metric::DuplicateCount, Some("id"), Op::Eq, 0.0),
            (Metric::FreshnessSeconds, None, Op::Lt, 7200.0),
        ]
    );
    assert_eq!(m.checks[3].text, "freshness < 2h");
    assert_eq!((m.checks[3].place.line, m.checks[3].place.column), (20, 9));
    assert_eq!(
        m.checks[3].place.to_string(),
        "/etc/tidewatch/tidewatch.yaml:20:9"
    );
}

#[test]
fn defaults_and_optional_fields() {
    let text = r#"
version: 1
sources:
  wh:
    kind: sqlite
    url: data/warehouse.db
  my:
    kind: mariadb
    url: mariadb://u@${HOST}/db
monitors:
  - name: events.v2-raw
    source: wh
    table: events
    key: id
    columns: payload
    bucket: 15m
    lookback: 1w
    sensitivity: 0.7
    direction: up
"#;
    let c = parse(text).unwrap();
    assert_eq!(
        c.store.expose_secret(),
        "sqlite:///etc/tidewatch/tidewatch-state.db"
    );
    assert_eq!(c.sources["wh"].kind, SourceKind::Sqlite);
    assert_eq!(
        c.sources["wh"].url.expose_secret(),
        "sqlite:///etc/tidewatch/data/warehouse.db"
    );
    assert_eq!(c.sources["wh"].statement_timeout, DEFAULT_STATEMENT_TIMEOUT);
    assert_eq!(c.sources["my"].kind, SourceKind::Mysql);
    assert_eq!(
        c.sources["my"].url.expose_secret(),
        "mysql://u@db.internal/db"
    );
    let m = &c.monitors[0];
    assert_eq!(m.name, "events.v2-raw");
    assert!(m.table().unwrap().schema.is_none());
    assert_eq!(m.key, vec![Ident::new("id").unwrap()]);
    assert_eq!(m.columns, Some(vec![Ident::new("payload").unwrap()]));
    assert!(m.timestamp_column.is_none());
    assert!(m.checks.is_empty());
    assert_eq!(m.bucket, Duration::from_secs(900));
    assert_eq!(m.lookback, Duration::from_secs(7 * 86_400));
    assert_eq!(m.sensitivity, 0.7);
    assert_eq!(m.direction, Some(Direction::Up));
}

#[test]
fn store_urls() {
    let with_store =
        |store: &str| format!("version: 1\nstore: {store}\nsources: {{}}\nmonitors: []\n");
    let c = parse(&with_store("postgres://tw@${HOST}/state")).unwrap();
    assert_eq!(c.store.expose_secret(), "postgres://tw@db.internal/state");
    let c = parse(&with_store("sqlite:///var/lib/tw.db?mode=rwc")).unwrap();
    assert_eq!(c.store.expose_secret(), "sqlite:///var/lib/tw.db?mode=rwc");
    let c = parse(&with_store("sqlite://state/tw.db")).unwrap();
    assert_eq!(
        c.store.expose_secret(),
        "sqlite:///etc/tidewatch/state/tw.db"
    );
    assert_eq!(
        errors(&with_store("redis://x")),
        ["/etc/tidewatch/tidewatch.yaml:2:8: store must be a sqlite:// or postgres:// url"]
    );
}

#[test]
fn escaped_interpolation_is_literal() {
    let text = "version: 1\nstore: postgres://u:a$${b}@h/db\nsources: {}\nmonitors: []\n";
    assert_eq!(
        parse(text).unwrap().store.expose_secret(),
        "postgres://u:a${b}@h/db"
    );
}

/// Several independent problems come back together, each with its exact place.
#[test]
fn collects_every_error_with_its_place() {
    let text = r#"version: 1
sources:
  shop:
    kind: postgres
    url: ${SHOP_URL}
    colour: blue
monitors:
  - name: orders
    source: shop
    table: public.orders
    key: [id]
    checks:
      - row_count > 0
  - name: customers
    source: crm
    table: public.customers
    timestamp_column: updated_at
    columns: [email]
    checks:
      - nul_rate(email) < 1%
      - null_rate(phone) < 1%
      - freshness < 2 h
"#;
    assert_eq!(
        errors(text),
        [
            "/etc/tidewatch/tidewatch.yaml:6:5: unknown key \"colour\" in source \"shop\" \
             (expected one of kind, url, brokers, statement_timeout, connect_timeout, max_concurrent_scans)",
            "/etc/tidewatch/tidewatch.yaml:15:13: source \"crm\" is not defined (defined sources: shop)",
            "/etc/tidewatch/tidewatch.yaml:20:9: unknown metric \"nul_rate\" (expected one of row_count, \
             message_count, volume, freshness, schema, duplicate_count, duplicate_rate, \
             new_duplicate_count, null_count, null_rate, bucket_null_rate, distinct_count, min, max, mean, consumer_lag, \
             consumer_lag_seconds, parse_error_rate, late_rate, reconcile_gap, row_estimate, \
             size_bytes, rows_inserted, last_change_age_seconds)",
            "/etc/tidewatch/tidewatch.yaml:21:9: column \"phone\" is not in the monitor's columns (email)",
            "/etc/tidewatch/tidewatch.yaml:22:23: unexpected \"h\" after the value \"2\"",
        ]
    );
}

#[test]
fn check_error_column_is_advanced_by_the_offset() {
    let text = "version: 1\nsources: {s: {kind: sqlite, url: w.db}}\nmonitors:\n  - name: m\n    source: s\n    table: t\n    checks:\n      -   row_count >= ten\n      - 'row_count >= ten'\n      - \"row_count\\t>= ten\"\n      - >-\n        row_count\n        >= ten\n";
    assert_eq!(
        errors(text),
        [
            // plain: the scalar's start plus the offset
            "/etc/tidewatch/tidewatch.yaml:8:24: expected a number after \">=\", found \"ten\"",
            // quoted with the text as in the file: past the quote, plus the offset
            "/etc/tidewatch/tidewatch.yaml:9:23: expected a number after \">=\", found \"ten\"",
            // an escape makes the value differ from the file: the scalar's start
            "/etc/tidewatch/tidewatch.yaml:10:9: expected a number after \">=\", found \"ten\"",
            // folded over lines: the scalar's start
            "/etc/tidewatch/tidewatch.yaml:12:9: expected a number after \">=\", found \"ten\"",
        ]
    );
}

#[test]
fn missing_keys_point_at_the_enclosing_mapping() {
    let text = "sources:\n  shop:\n    url: postgres://x\nmonitors:\n  - name: a\n    table: t\n";
    assert_eq!(
        errors(text),
        [
            "/etc/tidewatch/tidewatch.yaml:1:1: missing required key \"version\" (this format is version 1)",
            "/etc/tidewatch/tidewatch.yaml:3:5: missing required key \"kind\" in source \"shop\"",
            "/etc/tidewatch/tidewatch.yaml:5:5: missing required key \"source\" in monitor \"a\"",
        ]
    );
}

#[test]
fn version_must_be_1() {
    let errs = errors("version: 2\nsources: {}\nmonitors: []\n");
    assert_eq!(
        errs,
        ["/etc/tidewatch/tidewatch.yaml:1:10: unsupported version \"2\" (expected 1)"]
    );
}

#[test]
fn wrong_types_and_unknown_values() {
    let text = r#"version: 1
sources:
  shop:
    kind: oracle
    url: x
    statement_timeout: soon
  lake:
    kind: sqlite
    url: [a]
monitors:
  name: orders
"#;
    assert_eq!(
        errors(text),
        [
            "/etc/tidewatch/tidewatch.yaml:4:11: unknown kind \"oracle\" (expected postgres, mysql, mariadb, sqlite, kafka or nats)",
            "/etc/tidewatch/tidewatch.yaml:6:24: invalid \"statement_timeout\": expected a duration \
             (e.g. 30s, 15m, 2h, 1d, 1w or 1h30m), found \"soon\"",
            "/etc/tidewatch/tidewatch.yaml:9:10: expected a string for \"url\", found a list",
            "/etc/tidewatch/tidewatch.yaml:11:3: expected a list for \"monitors\", found a mapping",
        ]
    );
}

#[test]
fn monitor_field_validation() {
    let text = r#"version: 1
sources:
  s:
    kind: sqlite
    url: w.db
monitors:
  - name: bad name!
    source: s
    table: .orders
    bucket: 0s
    lookback: 5x
    sensitivity: -1
    direction: sideways
    timestamp_column: ""
    key: []
  - name: twice
    source: s
    table: t
  - name: twice
    source: s
    table: t
    checks:
      - freshness < 1h
      - duplicate_count(id) = 0
      - volume > 0
      - null_rate(a, b) < 1
"#;
    assert_eq!(
        errors(text),
        [
            "/etc/tidewatch/tidewatch.yaml:7:11: invalid monitor name \"bad name!\" (use letters, digits, _, . and -)",
            "/etc/tidewatch/tidewatch.yaml:9:12: invalid \"table\": identifier is empty",
            "/etc/tidewatch/tidewatch.yaml:10:13: \"bucket\" must be longer than zero",
            "/etc/tidewatch/tidewatch.yaml:11:16: invalid \"lookback\": unknown duration unit \"x\" in \"5x\" \
             (expected s, m, h, d or w)",
            "/etc/tidewatch/tidewatch.yaml:12:18: \"sensitivity\" must be a number between 0 and 1 (exclusive), found \"-1\"",
            "/etc/tidewatch/tidewatch.yaml:13:16: unknown direction \"sideways\" (expected both, up or down)",
            "/etc/tidewatch/tidewatch.yaml:14:23: invalid \"timestamp_column\": identifier is empty",
            "/etc/tidewatch/tidewatch.yaml:15:10: \"key\" needs at least one column",
            "/etc/tidewatch/tidewatch.yaml:19:11: duplicate monitor name \"twice\" (first defined on line 16)",
            "/etc/tidewatch/tidewatch.yaml:23:9: freshness checks need \"timestamp_column\" on the monitor",
            "/etc/tidewatch/tidewatch.yaml:25:9: volume checks need \"timestamp_column\" on the monitor",
            "/etc/tidewatch/tidewatch.yaml:26:22: null_rate takes exactly one column, found 2",
        ]
    );
}

#[test]
fn any_column_set_can_be_checked_for_duplicates() {
    let text = "version: 1\nsources: {s: {kind: sqlite, url: w.db}}\nmonitors:\n  - name: m\n    source: s\n    table: t\n    key: [tenant, id]\n    checks:\n      - duplicate_rate(tenant, id) < 1%\n      - duplicate_count(customer_id) = 0\n      - duplicate_count(a, b) = 0\n      - duplicate_rate(customer_id) < 1%\n";
    let c = parse(text).unwrap();
    let sets: Vec<Vec<String>> = c.monitors[0]
        .key_sets()
        .iter()
        .map(|s| s.iter().map(|i| i.to_string()).collect())
        .collect();
    // The key first, then each other set once, in file order.
    assert_eq!(
        sets,
        [vec!["tenant", "id"], vec!["customer_id"], vec!["a", "b"]]
    );
    // Without a key, a check alone names the set.
    let text = "version: 1\nsources: {s: {kind: sqlite, url: w.db}}\nmonitors:\n  - name: m\n    source: s\n    table: t\n    checks: [duplicate_count(email) = 0]\n";
    assert_eq!(parse(text).unwrap().monitors[0].key_sets().len(), 1);
}

#[test]
fn new_data_duplicates_need_an_incremental_monitor() {
    let head = "version: 1\nsources: {s: {kind: sqlite, url: w.db}}\nmonitors:\n  - name: m\n    source: s\n    table: t\n    timestamp_column: ts\n";
    let c = parse(&format!(
        "{head}    mode: incremental\n    checks: [new_duplicate_count(order_id) = 0]\n"
    ))
    .unwrap();
    let sets: Vec<String> = c.monitors[0]
        .key_sets()
        .iter()
        .map(|s| s[0].to_string())
        .collect();
    assert_eq!(sets, ["order_id"], "the check's set is counted");
    let e = errors(&format!(
        "{head}    checks: [new_duplicate_count(order_id) = 0]\n"
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("new_duplicate_count is measured by mode: incremental scans"),
        "{e:?}"
    );
}

#[test]
fn sample_is_a_percentage() {
    let head = "version: 1\nsources: {s: {kind: postgres, url: 'postgres://h/db'}}\nmonitors:\n  - name: m\n    source: s\n    table: t\n";
    let c = parse(&format!("{head}    sample: 0.5%\n")).unwrap();
    assert_eq!(c.monitors[0].sample, Some(50));
    assert_eq!(parse(head).unwrap().monitors[0].sample, None);
    for bad in ["10", "150%", "0%", "abc%"] {
        let e = errors(&format!("{head}    sample: \"{bad}\"\n"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(
                "/etc/tidewatch/tidewatch.yaml:7:13: \"sample\" on a table is a percentage"
            ),
            "{e:?}"
        );
    }
}

#[test]
fn where_and_distinct_are_validated() {
    let text = "version: 1\nsources: {s: {kind: sqlite, url: w.db}}\nmonitors:\n  - name: m\n    source: s\n    table: t\n    where: \"status <> 'test'\"\n    distinct: [email]\n    checks: [distinct_count(city) > 0]\n";
    let c = parse(text).unwrap();
    let m = &c.monitors[0];
    assert_eq!(m.filter.as_deref(), Some("status <> 'test'"));
    assert!(m.wants_distinct("email") && m.wants_distinct("city"));
    assert!(!m.wants_distinct("country"));
    let text = "version: 1\nsources: {s: {kind: sqlite, url: w.db}}\nmonitors:\n  - name: m\n    source: s\n    table: t\n    where: \"1=1; DROP TABLE t\"\n    distinct: []\n";
    assert_eq!(
        errors(text),
        [
            "/etc/tidewatch/tidewatch.yaml:7:12: \"where\" must be one boolean SQL expression, without \";\"",
            "/etc/tidewatch/tidewatch.yaml:8:15: \"distinct\" needs at least one column",
        ]
    );
}

#[test]
fn secrets_never_appear_in_errors() {
    let text = r#"version: 1
store: ${STATE_URL}
sources:
  shop:
    kind: mysql
    url: ${SHOP_URL}
  other:
    kind: sqlite
    url: ${SHOP_URL}
monitors: []
"#;
    let errs = errors(text);
    assert_eq!(
        errs,
        [
            "/etc/tidewatch/tidewatch.yaml:2:8: environment variable STATE_URL is not set",
            "/etc/tidewatch/tidewatch.yaml:6:10: url scheme does not match kind mysql (expected mysql:// or mariadb://)",
            "/etc/tidewatch/tidewatch.yaml:9:10: url scheme does not match kind sqlite (expected sqlite:// or a file path)",
        ]
    );
    for e in &errs {
        assert!(!e.contains("hunter2"), "{e}");
        assert!(!e.contains("db.internal"), "{e}");
    }
    // Debug output of the loaded config redacts secrets too.
    let c = parse(EXAMPLE).unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn yaml_syntax_errors_are_one_error_with_a_place() {
    let errs = errors("version: 1\nsources:\n  shop: [a\nmonitors: []\n");
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("/etc/tidewatch/tidewatch.yaml:"),
        "{}",
        errs[0]
    );
    assert!(errs[0].contains("invalid yaml: "), "{}", errs[0]);

    assert_eq!(
        errors("version: 1\nversion: 1\nsources: {}\nmonitors: []\n"),
        ["/etc/tidewatch/tidewatch.yaml:2:1: duplicate key \"version\" (first on line 1)"]
    );
    assert_eq!(
        errors("- a\n- b\n"),
        ["/etc/tidewatch/tidewatch.yaml:1:1: the top level of the config must be a mapping"]
    );
}

#[test]
fn unreadable_file_is_one_error_naming_the_path() {
    let missing = std::env::temp_dir()
        .join("tidewatch-no-such-dir")
        .join("tidewatch.yaml");
    let e = load(&missing).unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert!(e.0[0].place.is_none());
    assert!(
        e.to_string()
            .starts_with(&format!("cannot read config file {}: ", missing.display())),
        "{e}"
    );
}

#[test]
fn load_reads_a_file_and_resolves_beside_it() {
    let dir = std::env::temp_dir().join(format!("tidewatch-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tw.yaml");
    std::fs::write(&file, "version: 1\nsources: {}\nmonitors: []\n").unwrap();
    let c = load(&file);
    std::fs::remove_dir_all(&dir).unwrap();
    let c = c.unwrap();
    assert_eq!(
        c.store.expose_secret(),
        format!("sqlite://{}", dir.join("tidewatch-state.db").display())
    );
}

#[test]
fn display_is_one_error_per_line() {
    let e = parse("sources: {}\nmonitors: []\nextra: 1\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/tidewatch/tidewatch.yaml:1:1: missing required key \"version\" (this format is version 1)\n\
         /etc/tidewatch/tidewatch.yaml:3:1: unknown key \"extra\" in the config (expected one of version, store, retention, sources, monitors, alerts, api)"
    );
}

#[test]
fn baseline_since_resets_the_learning_window() {
    let base = ONE_MONITOR;
    let cfg = parse(&format!(
        "{base}    baseline_since: 2026-11-20T06:00:00+01:00\n"
    ))
    .unwrap();
    assert_eq!(
        cfg.monitors[0].baseline_since.map(|t| t.to_rfc3339()),
        Some("2026-11-20T05:00:00+00:00".to_string())
    );
    assert!(parse(base).unwrap().monitors[0].baseline_since.is_none());
    assert_eq!(
        errors(&format!("{base}    baseline_since: yesterday\n")),
        ["/etc/tidewatch/tidewatch.yaml:10:21: \"baseline_since\" must be an RFC 3339 time such as 2026-11-20T00:00:00Z, found \"yesterday\""]
    );
}

#[test]
fn timezone_and_holidays_make_the_monitor_calendar() {
    let text = r#"version: 1
sources:
  s:
    kind: sqlite
    url: w.db
monitors:
  - name: local
    source: s
    table: t
    timezone: Europe/Berlin
    holidays: [2026-12-25, 2026-12-26]
  - name: plain
    source: s
    table: t
"#;
    let c = parse(text).unwrap();
    let local = &c.monitors[0].calendar;
    assert_eq!(local.tz().name(), "Europe/Berlin");
    assert_eq!(local.holidays().len(), 2);
    assert!(c.monitors[1].calendar.is_plain_utc());
    let p =
        crate::pipeline::learned::params_for(&c.monitors[0], checks::baseline::SeriesKind::Volume);
    assert_eq!(p.calendar, *local);

    let bad = errors(&format!(
        "{ONE_MONITOR}    timezone: Mars/Olympus\n    holidays: [2026-13-01]\n"
    ));
    assert!(
        bad.iter()
            .any(|e| e.contains("unknown time zone \"Mars/Olympus\"")),
        "{bad:?}"
    );
    assert!(
        bad.iter()
            .any(|e| e.contains("a holiday must be a date") && e.contains("2026-13-01")),
        "{bad:?}"
    );
}

#[test]
fn min_change_sets_the_floors_of_the_kinds_it_names() {
    use checks::baseline::{MinChange, SeriesKind};
    let c = parse(&format!(
        "{ONE_MONITOR}    min_change:\n      rate: 0.005\n      volume: [100, 10%]\n"
    ))
    .unwrap();
    let m = &c.monitors[0];
    assert_eq!(
        m.min_change,
        [
            (SeriesKind::Rate, MinChange::Absolute(0.005)),
            (SeriesKind::Volume, MinChange::Absolute(100.0)),
            (SeriesKind::Volume, MinChange::Relative(0.1)),
        ]
    );
    let params = |kind| crate::pipeline::learned::params_for(m, kind);
    let rate = params(SeriesKind::Rate);
    // The floor named changes; the other keeps the kind's default.
    assert_eq!((rate.min_abs_change, rate.min_rel_change), (0.005, 0.02));
    let volume = params(SeriesKind::Volume);
    assert_eq!((volume.min_abs_change, volume.min_rel_change), (100.0, 0.1));
    let generic = params(SeriesKind::Generic);
    let default = checks::baseline::Params::default_for(SeriesKind::Generic);
    assert_eq!(
        (generic.min_abs_change, generic.min_rel_change),
        (default.min_abs_change, default.min_rel_change)
    );

    let bad = errors(&format!(
        "{ONE_MONITOR}    min_change:\n      nulls: 0.01\n      rate: [1%, 2%]\n      volume: -3\n"
    ));
    assert_eq!(
        bad,
        [
            "/etc/tidewatch/tidewatch.yaml:11:7: unknown series kind \"nulls\" in \"min_change\" (expected one of volume, freshness, rate, ratio, generic)",
            "/etc/tidewatch/tidewatch.yaml:12:18: \"min_change.rate\" gives at most one absolute floor and one percentage",
            "/etc/tidewatch/tidewatch.yaml:13:15: \"min_change.volume\": expected a non-negative number in the series' unit (0.005) or a percentage of the expected value (5%), found \"-3\"",
        ]
    );
}
