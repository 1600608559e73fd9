//! High availability for real: two `tidewatch run` processes on one fresh PostgreSQL store, monitors
//! `every: 5s`. Every scheduled slot is claimed exactly once, executed exactly once (one stored run
//! per claim), none is missed; after one process is stopped, the other runs every slot alone.

mod support;

use std::time::Duration;
use support::{write_warehouse, PgDb, Proc, TempDir};

const MONITORS: [&str; 3] = ["items_a", "items_b", "items_c"];

/// scheduled_for, holder, outcome, run_id
type ClaimRow = (
    chrono::DateTime<chrono::Utc>,
    String,
    Option<String>,
    Option<i64>,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_run_each_slot_exactly_once() {
    let dir = TempDir::new("ha");
    let db = PgDb::create().await;
    write_warehouse(&dir.join("warehouse.db")).await;
    let mut cfg = format!(
        "version: 1\nstore: {}\nsources:\n  wh:\n    kind: sqlite\n    url: sqlite://warehouse.db\nmonitors:\n",
        db.url
    );
    for m in MONITORS {
        cfg.push_str(&format!(
            "  - name: {m}\n    source: wh\n    table: items\n    every: 5s\n    checks:\n      - row_count > 0\n"
        ));
    }
    let config = dir.join("tidewatch.yaml");
    std::fs::write(&config, cfg).expect("config");
    let config = config.display().to_string();

    let mut a = Proc::start(&["run", "-c", &config], &dir);
    let mut b = Proc::start(&["run", "-c", &config], &dir);
    let started = chrono::Utc::now();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(
        a.terminate(),
        "process a did not stop cleanly:\n{}",
        a.stderr()
    );
    let a_stopped = chrono::Utc::now();
    tokio::time::sleep(Duration::from_secs(15)).await;
    // b still serves its API over the shared store.
    let runs: serde_json::Value = reqwest::get(b.url("/api/v1/runs?limit=5"))
        .await
        .expect("runs request")
        .json()
        .await
        .expect("runs json");
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(5), "{runs}");
    assert!(
        b.terminate(),
        "process b did not stop cleanly:\n{}",
        b.stderr()
    );

    let store = sqlx::PgPool::connect(&db.url).await.expect("store");
    let a_holder = format!("run pid {} %", a.pid());
    let b_holder = format!("run pid {} %", b.pid());
    for m in MONITORS {
        let rows: Vec<ClaimRow> = sqlx::query_as(
            "SELECT scheduled_for, holder, outcome, run_id FROM scheduled_runs \
                 WHERE monitor = $1 ORDER BY scheduled_for",
        )
        .bind(m)
        .fetch_all(&store)
        .await
        .expect("scheduled runs");
        // ~45 s at one slot per 5 s.
        assert!(rows.len() >= 7, "{m}: only {} slots: {rows:?}", rows.len());
        // No slot missed: consecutive claims are exactly one period apart, first to last.
        for w in rows.windows(2) {
            assert_eq!(
                w[1].0 - w[0].0,
                chrono::Duration::seconds(5),
                "{m}: gap or duplicate between {} and {}",
                w[0].0,
                w[1].0
            );
        }
        assert!(
            rows[0].0 <= started + chrono::Duration::seconds(6),
            "{m}: first slot late"
        );
        // Every claim finished (both processes drained before exiting) and ran a scan.
        for r in &rows {
            assert_eq!(r.2.as_deref(), Some("ok"), "{m}: {r:?}");
        }
        // Executed exactly once: one stored run with measurements per claim, and no other.
        let (claims, executed): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM scheduled_runs WHERE monitor = $1), \
                    (SELECT count(DISTINCT run_id) FROM measurements WHERE monitor = $1)",
        )
        .bind(m)
        .fetch_one(&store)
        .await
        .expect("counts");
        assert_eq!(claims, executed, "{m}");
        let (linked,): (i64,) = sqlx::query_as(
            "SELECT count(DISTINCT s.run_id) FROM scheduled_runs s \
             JOIN measurements x ON x.run_id = s.run_id AND x.monitor = s.monitor WHERE s.monitor = $1",
        )
        .bind(m)
        .fetch_one(&store)
        .await
        .expect("linked");
        assert_eq!(
            linked, claims,
            "{m}: each claim points at its own stored run"
        );
        // After a stopped, b ran every slot.
        for r in rows
            .iter()
            .filter(|r| r.0 > a_stopped + chrono::Duration::seconds(1))
        {
            assert!(
                r.1.starts_with(b_holder.trim_end_matches('%')),
                "{m}: {r:?}"
            );
        }
    }
    // Both processes did part of the work while both ran.
    let (holders,): (i64,) = sqlx::query_as(
        "SELECT count(DISTINCT holder) FROM scheduled_runs WHERE holder LIKE $1 OR holder LIKE $2",
    )
    .bind(&a_holder)
    .bind(&b_holder)
    .fetch_one(&store)
    .await
    .expect("holders");
    assert_eq!(holders, 2);
    store.close().await;
}
