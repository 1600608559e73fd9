//! Connection failures are fast `error` results with clear messages and no secrets.

use checks::Status;
use sqlx::Connection;
use tidewatch_tests::db::unique_suffix;
use tidewatch_tests::scan_suite::{find, Workspace};
use tidewatch_tests::warehouses::MARIADB_ADMIN_URL;

fn config(kind: &str, url: &str) -> String {
    format!(
        "version: 1\nstore: sqlite://state.db\nsources:\n  wh:\n    kind: {kind}\n    url: '{url}'\n    connect_timeout: 1s\nmonitors:\n  - name: m\n    source: wh\n    table: t\n    checks: [row_count > 0]\n"
    )
}

#[tokio::test]
async fn wrong_password_on_mariadb() -> anyhow::Result<()> {
    let user = format!("tw_u_{}", unique_suffix());
    let mut admin = sqlx::MySqlConnection::connect(MARIADB_ADMIN_URL).await?;
    sqlx::raw_sql(&format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'right-Pw-1'; CREATE USER '{user}'@'localhost' IDENTIFIED BY 'right-Pw-1'"))
        .execute(&mut admin)
        .await?;
    let secret = "Wr0ngS3cretPw";
    let ws = Workspace::new();
    let report = ws
        .scan(&config(
            "mysql",
            &format!("mysql://{user}:{secret}@127.0.0.1:3306/test"),
        ))
        .await;
    sqlx::raw_sql(&format!(
        "DROP USER '{user}'@'%'; DROP USER '{user}'@'localhost'"
    ))
    .execute(&mut admin)
    .await?;
    let report = report?;
    let r = find(&report, "m", "row_count", None);
    assert_eq!(r.status, Status::Error);
    assert!(r.message.contains("Access denied"), "{}", r.message);
    let json = serde_json::to_string(&report)?;
    assert!(!json.contains(secret), "{json}");
    // The check that could not run is an error too, so the exit code says so.
    assert_eq!(report.exit_code(), 2);
    Ok(())
}

#[tokio::test]
async fn refused_port_is_an_error() -> anyhow::Result<()> {
    let ws = Workspace::new();
    let report = ws
        .scan(&config(
            "postgres",
            "postgres://postgres:Pw0rdX@127.0.0.1:1/x",
        ))
        .await?;
    let r = find(&report, "m", "row_count", None);
    assert_eq!(r.status, Status::Error);
    assert!(
        r.message.contains("cannot connect to source wh"),
        "{}",
        r.message
    );
    assert!(!serde_json::to_string(&report)?.contains("Pw0rdX"));
    Ok(())
}

/// A host that accepts TCP and then never answers: the connect timeout ends the wait.
#[tokio::test]
async fn silent_server_times_out() -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let holder = std::thread::spawn(move || {
        // Keep the accepted sockets open, say nothing; stop after the two connects we expect.
        let mut held = Vec::new();
        for stream in listener.incoming().take(2) {
            match stream {
                Ok(s) => held.push(s),
                Err(_) => break,
            }
        }
        std::thread::sleep(std::time::Duration::from_secs(3));
    });
    let ws = Workspace::new();
    for (kind, url) in [
        (
            "postgres",
            format!("postgres://postgres@127.0.0.1:{port}/x"),
        ),
        ("mysql", format!("mysql://root@127.0.0.1:{port}/x")),
    ] {
        let started = std::time::Instant::now();
        let report = ws.scan(&config(kind, &url)).await?;
        let r = find(&report, "m", "row_count", None);
        assert_eq!(r.status, Status::Error, "{kind}");
        assert!(
            r.message.contains("timed out after 1s"),
            "{kind}: {}",
            r.message
        );
        // Not a speed assertion: proof that the scan did not wait for the server.
        assert!(started.elapsed().as_secs() < 20, "{kind} hung");
    }
    drop(holder);
    Ok(())
}
