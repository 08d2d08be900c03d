//! The search index after a SIGKILL: the real chatd process is killed
//! while its indexer catches up with a store it has not indexed yet, and
//! the restarted process completes the index from redb.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use crate::process::{Chatd, ca_path};
use crate::search::search_all;
use chat_client::{ClientConfig, Connection, Trust};
use chat_protocol::{IdempotencyKey, SearchQuery, Visibility};
use std::path::Path;

/// Messages stored before the index exists.
const MESSAGES: usize = 6000;

async fn admin(chatd: &Chatd, dir: &Path) -> Connection {
    let cfg = ClientConfig::new(
        chatd.addr.clone(),
        Trust::CaFile(ca_path(dir)),
        "search-crash-test",
    );
    let token = chat_e2e::read_token(&dir.join("data"));
    let admin = chat_client::connect(&cfg).await.expect("connect");
    admin.authenticate(&token).await.expect("admin");
    admin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_indexer_catches_up_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    // 1. A store with no index: chatd started with the index off.
    let chatd = Chatd::start_with(dir.path(), "127.0.0.1:0", &["--search", "false"]);
    let conn = admin(&chatd, dir.path()).await;
    let room = conn
        .create_room("ward", "", Visibility::Public)
        .await
        .unwrap()
        .id;
    for chunk in 0..MESSAGES / 500 {
        let mut tasks = Vec::new();
        for i in chunk * 500..(chunk + 1) * 500 {
            let conn = conn.clone();
            tasks.push(tokio::spawn(async move {
                conn.send(
                    room,
                    IdempotencyKey(format!("k{i}")),
                    &format!("obs {i}: 환자 체온 측정"),
                    None,
                )
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    }
    chatd.kill();

    // 2. With the index on, chatd indexes the whole store at start;
    // SIGKILL it while it does.
    let chatd = Chatd::start(dir.path(), "127.0.0.1:0");
    let conn = admin(&chatd, dir.path()).await;
    let status = conn.search_status().await.unwrap();
    eprintln!(
        "killed with {} of {MESSAGES} messages indexed and {} events behind",
        status.documents, status.events_behind
    );
    chatd.kill();

    // 3. The restarted chatd completes the index: every message, once.
    let chatd = Chatd::start(dir.path(), "127.0.0.1:0");
    let conn = admin(&chatd, dir.path()).await;
    let hits = search_all(&conn, SearchQuery::new("obs", 200)).await;
    assert_eq!(hits.len(), MESSAGES);
    let hits = search_all(&conn, SearchQuery::new("체온", 200)).await;
    assert_eq!(hits.len(), MESSAGES);
    let status = conn.search_status().await.unwrap();
    assert_eq!(status.documents, MESSAGES as u64);
    assert_eq!(status.events_behind, 0);

    // A rebuild from the store gives the same index.
    conn.reindex().await.unwrap();
    let hits = search_all(&conn, SearchQuery::new("obs", 200)).await;
    assert_eq!(hits.len(), MESSAGES);
    chatd.kill();
}
