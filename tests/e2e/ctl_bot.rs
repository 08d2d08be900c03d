//! The bot pipeline: `chatctl tail --follow --json` in the background sees
//! every `chatctl send`, across a server restart, without gap or duplicate.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use super::ctl_support::{Ctl, args, json_lines, ok};
use chat_e2e::{WAIT, spawn_server};
use serde_json::Value;
use std::io::BufRead;
use std::process::{Child, Stdio};
use std::sync::mpsc;

/// A background `tail --follow` whose stdout lines arrive on a channel.
struct Tail {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Tail {
    fn start(mut cmd: std::process::Command) -> Tail {
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("tail starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Tail { child, lines }
    }

    /// The next JSON line, waiting at most [`WAIT`].
    async fn next(&mut self) -> Value {
        let line = tokio::task::block_in_place(|| self.lines.recv_timeout(WAIT))
            .expect("a line from tail within the wait");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// Lines until the message with `text`, inclusive.
    async fn until(&mut self, text: &str) -> Vec<Value> {
        let mut got = Vec::new();
        loop {
            let v = self.next().await;
            let done = v["text"] == text;
            got.push(v);
            if done {
                return got;
            }
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follow_survives_a_restart() {
    let mut server = spawn_server().await;
    let ctl = Ctl::new(&server);
    let room = ok(args(ctl.admin(), &["--json", "room", "create", "ops"])).await;
    let head = json_lines(&room)[0]["head"].as_u64().unwrap();

    let mut tail = Tail::start(args(
        ctl.admin(),
        &[
            "tail",
            "ops",
            "--follow",
            "--json",
            "--since",
            &head.to_string(),
        ],
    ));
    ok(args(ctl.admin(), &["send", "ops", "before restart"])).await;
    let got = tail.until("before restart").await;
    assert_eq!(got.len(), 1, "{got:?}");
    let first = &got[0];
    assert_eq!(first["room"], "ops");
    assert_eq!(first["type"], "message");
    assert_eq!(first["sender"], "admin");
    assert_eq!(first["seq"], head + 1);
    assert!(first["id"].as_str().is_some_and(|id| id.len() == 26));
    assert!(
        first["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    for field in ["display_name", "org"] {
        assert!(first.get(field).is_some(), "{field} missing: {first}");
    }

    server.restart().await;
    // Sent while tail may still be reconnecting: it must catch up.
    ok(args(ctl.admin(), &["send", "ops", "after restart 1"])).await;
    ok(args(ctl.admin(), &["send", "ops", "after restart 2"])).await;
    let got = tail.until("after restart 2").await;
    let texts: Vec<&str> = got.iter().map(|v| v["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["after restart 1", "after restart 2"]);
    let seqs: Vec<u64> = got.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [head + 2, head + 3]);

    // Nothing repeats later either: the next line is the next message.
    ok(args(ctl.admin(), &["send", "ops", "last"])).await;
    let got = tail.until("last").await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["seq"], head + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_without_follow_prints_and_exits() {
    let server = spawn_server().await;
    let ctl = Ctl::new(&server);
    ok(args(ctl.admin(), &["room", "create", "ops"])).await;
    for i in 0..3 {
        ok(args(ctl.admin(), &["send", "ops", &format!("m{i}")])).await;
    }
    let out = ok(args(ctl.admin(), &["--json", "tail", "ops", "-n", "2"])).await;
    let texts: Vec<String> = json_lines(&out)
        .iter()
        .map(|v| v["text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(texts, ["m1", "m2"]);
    // --since 0 gives the whole room, non-message events with a type.
    let out = ok(args(
        ctl.admin(),
        &["--json", "tail", "ops", "--since", "0"],
    ))
    .await;
    let all = json_lines(&out);
    assert_eq!(all[0]["type"], "created");
    assert!(
        all.iter()
            .any(|v| v["type"] == "joined" && v["user"] == "admin")
    );
    assert_eq!(all.iter().filter(|v| v["type"] == "message").count(), 3);
}
