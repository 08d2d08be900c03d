//! What `chatd` writes to its log when it is not on a terminal.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Piped to a file or a log collector, chatd's log carries no ANSI colour
/// codes, even without NO_COLOR (issue 12, chatctl list point 10).
#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(crate::bins::CHATD)
        .current_dir(dir.path())
        .args(["--listen", "127.0.0.1:0", "--data", "data"])
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let listening = line.contains("listening");
            if tx.send(line).is_err() || listening {
                return;
            }
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(chat_e2e::WAIT) {
        let done = line.contains("listening");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines.iter().any(|l| l.contains("listening")),
        "no listening line: {lines:?}"
    );
    for l in &lines {
        assert!(!l.contains('\u{1b}'), "colour code in a piped log: {l:?}");
    }
}
