//! The `tidewatch` binary as a user runs it: exit codes, formats, error places, secrets.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tidewatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidewatch"))
        .args(args)
        .output()
        .expect("run tidewatch")
}

/// A temp directory removed on drop, also when an assertion fails.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

fn temp_dir(tag: &str) -> TempDir {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("tw_cli_{tag}_{}_{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    TempDir(dir)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write file");
    p.display().to_string()
}

#[test]
fn validate_reports_every_problem_with_its_place() {
    let dir = temp_dir("validate");
    let cfg = write(
        &dir,
        "tidewatch.yaml",
        "version: 1
sources:
  shop:
    kind: postgres
    url: postgres://localhost/shop
    colour: blue
monitors:
  - name: orders
    source: shop
    table: public.orders
    checks:
      - null_rate(email) <> 0.01 extra
      - row_cnt > 0
  - name: other
    source: nowhere
    table: t
",
    );
    let out = tidewatch(&["validate", "-c", &cfg]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("{cfg}:6:5: unknown key \"colour\"")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{cfg}:12:")),
        "bad check place missing: {err}"
    );
    assert!(
        err.contains(&format!("{cfg}:13:9: unknown metric")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{cfg}:15:13: source \"nowhere\" is not defined")),
        "{err}"
    );
    // scan refuses the same file with the same exit code
    assert_eq!(tidewatch(&["scan", "-c", &cfg]).status.code(), Some(2));
}

#[test]
fn invalid_yaml_is_one_error_with_a_place() {
    let dir = temp_dir("yaml");
    let cfg = write(
        &dir,
        "tidewatch.yaml",
        "version: 1\nsources: [unclosed\nmonitors: []\n",
    );
    let out = tidewatch(&["validate", "-c", &cfg]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with(&format!("{cfg}:")), "{err}");
    let place: Vec<&str> = err[cfg.len() + 1..].splitn(3, ':').collect();
    assert!(
        place[0].parse::<usize>().is_ok() && place[1].parse::<usize>().is_ok(),
        "{err}"
    );
}

#[test]
fn demo_then_scan_json_and_table() {
    let dir = temp_dir("demo");
    let d = dir.display().to_string();
    let out = tidewatch(&["demo", "--dir", &d, "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("STATUS"));
    let cfg = dir.join("tidewatch.yaml").display().to_string();

    let out = tidewatch(&["scan", "-c", &cfg, "--format", "json"]);
    // The demo's orders loader: NULL emails, duplicated ids and a stall fail their checks (the other
    // incidents: monitor/tests/demo.rs).
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let results = v["results"].as_array().expect("results array");
    for r in results {
        for key in [
            "monitor", "source", "dataset", "metric", "column", "value", "status", "expected",
            "message",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
    }
    let find = |metric: &str, column: Option<&str>| {
        results
            .iter()
            .find(|r| {
                r["monitor"] == "orders" && r["metric"] == metric && r["column"].as_str() == column
            })
            .unwrap_or_else(|| panic!("{metric} missing"))
    };
    assert_eq!(find("null_rate", Some("email"))["status"], "fail");
    assert_eq!(find("duplicate_count", Some("id"))["status"], "fail");
    assert_eq!(find("duplicate_count", Some("id"))["value"], 12.0);
    assert_eq!(find("freshness_seconds", None)["status"], "fail");
    assert_eq!(find("row_count", None)["expected"]["lower"], 0.0);
    assert_eq!(find("schema", None)["details"]["columns"][0]["name"], "id");

    let out = tidewatch(&["scan", "-c", &cfg, "--monitor", "customers"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let table = text(&out.stdout);
    assert!(
        !table.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    assert!(table.lines().next().unwrap_or("").starts_with("STATUS"));
    assert!(!table.contains("orders"));

    // The stalled loader leaves the last complete hour empty: a volume anomaly against four weeks
    // of warm-started history (seasonal, growing). Marking it expected works once.
    assert_eq!(find("volume", None)["status"], "anomaly");
    let feedback = [
        "feedback",
        "-c",
        &cfg,
        "--monitor",
        "orders",
        "--metric",
        "volume",
    ];
    let out = tidewatch(&feedback);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("marked volume of orders at "),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&tidewatch(&feedback).stdout).contains("already marked expected"));
    let out = tidewatch(&[
        "feedback",
        "-c",
        &cfg,
        "--monitor",
        "orders",
        "--metric",
        "row_count",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is pass, not an anomaly"),
        "{}",
        text(&out.stderr)
    );

    let out = tidewatch(&["scan", "-c", &cfg, "--monitor", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no monitor named nope"));
}

#[test]
fn unset_variable_and_secrets_never_print() {
    let dir = temp_dir("secret");
    let cfg = write(
        &dir,
        "tidewatch.yaml",
        "version: 1
sources:
  shop:
    kind: postgres
    url: ${TW_CLI_TEST_URL}
monitors:
  - name: orders
    source: shop
    table: public.orders
",
    );
    let out = tidewatch(&["validate", "-c", &cfg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("TW_CLI_TEST_URL is not set"),
        "{}",
        text(&out.stderr)
    );

    // A real server refusing the login: the password must appear nowhere.
    let secret = "Sup3rS3cretPw";
    let out = Command::new(env!("CARGO_BIN_EXE_tidewatch"))
        .args(["scan", "-c", &cfg, "--format", "json"])
        .env(
            "TW_CLI_TEST_URL",
            format!("postgres://no_such_role_tw:{secret}@127.0.0.1:5432/postgres"),
        )
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(all.contains("\"status\":\"error\""), "{all}");
    assert!(!all.contains(secret), "secret leaked: {all}");
}

#[test]
fn explain_prints_one_profile_statement_per_monitor() {
    let dir = temp_dir("explain");
    let demo = dir.join("demo");
    let out = tidewatch(&["demo", "--dir", demo.to_str().unwrap(), "--once"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cfg = demo.join("tidewatch.yaml");
    let out = tidewatch(&["explain", "-c", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // One profile statement per monitor; besides it at most a grouped statement over just the
    // window (a stalled loader makes its table look stale, so its buckets are not inline).
    let statements: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("SELECT "))
        .collect();
    let grouped = statements
        .iter()
        .filter(|s| s.contains(" GROUP BY 1"))
        .count();
    assert_eq!(statements.len() - grouped, 6, "{stdout}");
    assert!(
        statements
            .iter()
            .filter(|s| s.contains(" GROUP BY 1"))
            .all(|s| s.contains(" WHERE ")),
        "{stdout}"
    );
    assert!(stdout.contains("-- monitor orders"), "{stdout}");
    assert!(stdout.contains("FROM \"orders\";"), "{stdout}");
    assert!(stdout.contains("FROM \"customers\";"), "{stdout}");
    assert!(stdout.contains("FROM \"events\";"), "{stdout}");
    // Only the keys and the column sets a duplicate check names are counted exactly (payments:
    // payment_id and order_id, customers: customer_id and email, one each for the other four): no
    // per-column COUNT(DISTINCT) by default.
    assert_eq!(stdout.matches("COUNT(DISTINCT").count(), 8, "{stdout}");
    let out = tidewatch(&["explain", "-c", cfg.to_str().unwrap(), "--monitor", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no monitor named nope"));
}
