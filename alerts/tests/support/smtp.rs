//! aiosmtpd on loopback, started as `python3 -m aiosmtpd -n -l 127.0.0.1:PORT`, optionally with
//! `smtp_handler.Recorder` (tests/smtp_handler.py) that writes each message down and answers 451 or
//! 550 for some recipients. Needs `pip install aiosmtpd`; fails saying so without it.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// An aiosmtpd process, killed when dropped.
pub struct Smtp {
    child: Child,
    pub port: u16,
    out: Option<PathBuf>,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(out) = &self.out {
            let _ = std::fs::remove_dir_all(out);
        }
    }
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `recorder`: use `smtp_handler.Recorder` instead of aiosmtpd's own handler.
pub fn start_smtp(recorder: bool) -> Smtp {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "these tests need python3 with aiosmtpd: pip install aiosmtpd"
    );
    // A port can be taken between finding it free and aiosmtpd binding it: try a few.
    for _ in 0..5 {
        let port = free_port();
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let out = recorder.then(|| {
            let dir =
                std::env::temp_dir().join(format!("tidewatch-smtp-{}-{port}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            dir
        });
        if let Some(dir) = &out {
            cmd.env("PYTHONPATH", handler_dir())
                .args(["-c", "smtp_handler.Recorder"])
                .arg(dir);
        }
        let child = cmd.spawn().expect("start python3 -m aiosmtpd");
        let mut smtp = Smtp { child, port, out };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return smtp;
            }
            if let Ok(Some(_)) = smtp.child.try_wait() {
                break; // exited: port taken or a broken install; try another port
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(smtp); // kills it before trying the next port
    }
    panic!("aiosmtpd did not start on loopback");
}

/// The directory of `smtp_handler.py` (`alerts/tests`), from the manifest directory of whichever
/// crate's test includes this file (the alerts crate, or the monitor's end-to-end test by
/// `#[path]`). Read at run time (cargo sets it for `cargo test`): a path baked in at build time
/// points into whichever checkout built the binary.
fn handler_dir() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../alerts/tests")
}

/// The messages the recorder wrote, oldest first (`<n>.json`, ordered by `n`: `10.json` comes
/// after `9.json`).
pub fn recorded(smtp: &Smtp) -> Vec<Value> {
    let dir = smtp.out.as_ref().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort_by_key(|p| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u32>().ok())
    });
    files
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}
