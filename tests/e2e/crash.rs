//! Crash durability: SIGKILL the real `chatd` process right after acks,
//! restart it on the same data dir, and find every acknowledged message.

use crate::process::{Chatd, ca_path};
use chat_client::{ClientConfig, Trust};
use chat_protocol::{HistoryAnchor, IdempotencyKey, Seq, Visibility};

#[tokio::test]
async fn acknowledged_messages_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tmp");
    let chatd = Chatd::start(dir.path(), "127.0.0.1:0");
    let cfg = ClientConfig::new(
        chatd.addr.clone(),
        Trust::CaFile(ca_path(dir.path())),
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
    chatd.kill();
    assert_eq!(acked.len(), 300, "every send was acked before the kill");

    let chatd = Chatd::start(dir.path(), "127.0.0.1:0");
    let cfg = ClientConfig::new(
        chatd.addr.clone(),
        Trust::CaFile(ca_path(dir.path())),
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
    chatd.kill();
}
