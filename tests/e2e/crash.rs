//! Crash durability: SIGKILL the real `chatd` process right after acks,
//! restart it on the same data dir, and find every acknowledged message.

use chat_client::{ClientConfig, Trust};
use chat_protocol::{HistoryAnchor, IdempotencyKey, Seq, Visibility};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts the `chatd` binary in `dir` on port 0 and returns it with its address.
fn start_chatd(dir: &Path) -> (Child, String) {
    let bin = crate::bins::CHATD;
    let mut child = Command::new(bin)
        .current_dir(dir)
        .args(["--listen", "127.0.0.1:0", "--data", "data"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn chatd");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = listen_addr(&line) {
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(chat_e2e::WAIT)
        .expect("chatd logs its address");
    (child, addr)
}

/// The address in chatd's "chatd listening listen=ADDR" log line.
fn listen_addr(line: &str) -> Option<String> {
    if !line.contains("chatd listening") {
        return None;
    }
    let rest = &line[line.find("listen=")? + "listen=".len()..];
    let addr: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '\x1b')
        .collect();
    Some(addr)
}

#[tokio::test]
async fn acknowledged_messages_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut child, addr) = start_chatd(dir.path());
    let cfg = ClientConfig::new(
        addr,
        Trust::CaFile(dir.path().join("certs/ca.crt")),
        "crash-test",
    );
    let token = chat_e2e::read_token(&dir.path().join("data"));
    let admin = chat_client::connect(&cfg).await.expect("connect");
    admin.authenticate(&token).await.expect("admin");
    let room = admin
        .create_room("icu", "", Visibility::Public)
        .await
        .expect("room")
        .id;

    // Many sends in flight at once, so acks come from group commits.
    let mut tasks = Vec::new();
    for i in 0..300 {
        let admin = admin.clone();
        tasks.push(tokio::spawn(async move {
            admin
                .send(
                    room,
                    IdempotencyKey(format!("k{i}")),
                    &format!("obs {i}"),
                    None,
                )
                .await
                .map(|ack| (ack.seq, format!("obs {i}")))
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        if let Ok(Ok(a)) = t.await {
            acked.push(a);
        }
    }
    // Kill at once, with no chance to flush anything more.
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert_eq!(acked.len(), 300, "every send was acked before the kill");

    let (mut child, addr) = start_chatd(dir.path());
    let cfg = ClientConfig::new(
        addr,
        Trust::CaFile(dir.path().join("certs/ca.crt")),
        "crash-test",
    );
    let admin = chat_client::connect(&cfg).await.expect("reconnect");
    admin
        .authenticate(&token)
        .await
        .expect("admin after restart");
    let mut stored = std::collections::HashMap::new();
    let mut after = Seq(0);
    loop {
        let page = admin
            .history(room, HistoryAnchor::After(after), 500)
            .await
            .expect("history");
        for e in &page.events {
            if let chat_protocol::RoomEventKind::Message(m) = &e.kind {
                stored.insert(e.seq, m.text.clone());
            }
        }
        match page.events.last() {
            Some(e) if page.has_more => after = e.seq,
            _ => break,
        }
    }
    for (seq, text) in &acked {
        assert_eq!(
            stored.get(seq),
            Some(text),
            "acked message at seq {seq} survived"
        );
    }
    child.kill().expect("kill");
    let _ = child.wait();
}
