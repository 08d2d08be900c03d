//! Configuration reload on SIGHUP, against the real `chatd` program with
//! a configuration file: new banned words and limits apply without a
//! restart; a broken file changes nothing and chatd keeps serving.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use super::process::{Chatd, ca_path};
use chat_client::{ClientConfig, ClientError, Connection, Trust};
use chat_protocol::{ErrorCode, IdempotencyKey, RoomId, Visibility};
use std::path::Path;

fn hangup(chatd: &Chatd) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &chatd.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -HUP failed");
}

/// Waits (blocking the worker, not the runtime) for a log line of `chatd`.
fn log(chatd: &Chatd, needle: &str) -> String {
    tokio::task::block_in_place(|| chatd.wait_for_log(needle))
}

async fn send(conn: &Connection, room: RoomId, text: &str) -> Result<(), ClientError> {
    conn.send(
        room,
        IdempotencyKey(ulid::Ulid::new().to_string()),
        text,
        None,
    )
    .await
    .map(|_| ())
}

async fn refused_with(conn: &Connection, room: RoomId, text: &str) -> Option<ErrorCode> {
    send(conn, room, text).await.err().and_then(|e| e.code())
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// Starts the real chatd in `dir` with `dir/chatd.toml` holding `toml`,
/// and logs in as its bootstrap admin.
async fn start(dir: &Path, toml: &str) -> (Chatd, ClientConfig, Connection) {
    write(&dir.join("chatd.toml"), toml);
    let chatd = Chatd::start_with(dir, "127.0.0.1:0", &["--config", "chatd.toml"]);
    let cfg = ClientConfig::new(
        chatd.addr.clone(),
        Trust::CaFile(ca_path(dir)),
        "reload-test",
    );
    let token = chat_e2e::read_token(&dir.join("data"));
    let admin = chat_client::connect(&cfg).await.unwrap();
    admin.authenticate(&token).await.unwrap();
    (chatd, cfg, admin)
}

/// issue 15, "Config reload on SIGHUP": the banned words and
/// `max_message_bytes` change on SIGHUP, seen through the protocol (sends
/// refused or accepted, the limits a new connection is told); a setting
/// fixed at start is named in the log and kept; a file with bad TOML, and
/// one with an invalid value, are refused with the reason in the log while
/// chatd keeps serving with the previous configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_banned_words_and_limits_and_a_broken_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chatd.toml");
    let (chatd, cfg, admin) = start(
        dir.path(),
        "banned_words = [\"alpha\"]\n[limits]\nmax_message_bytes = 1000\n",
    )
    .await;
    let room = admin
        .create_room("ward", "", Visibility::Public)
        .await
        .unwrap()
        .id;
    let long = "x".repeat(1500);
    assert_eq!(
        refused_with(&admin, room, "alpha beta").await,
        Some(ErrorCode::ContentRejected)
    );
    assert!(refused_with(&admin, room, &long).await.is_some());
    send(&admin, room, "beta").await.unwrap();
    assert_eq!(admin.welcome().limits.max_message_bytes, 1000);

    write(
        &file,
        "banned_words = [\"beta\"]\n[limits]\nmax_message_bytes = 2000\nsubscriber_queue = 7\n",
    );
    hangup(&chatd);
    let kept = log(&chatd, "applies only at restart");
    assert!(kept.contains("limits.subscriber_queue"), "{kept}");
    let line = log(&chatd, "configuration reloaded");
    assert!(
        line.contains("banned_words") && line.contains("limits.max_message_bytes"),
        "{line}"
    );
    assert_eq!(
        refused_with(&admin, room, "beta").await,
        Some(ErrorCode::ContentRejected),
        "the new banned word applies on the open connection"
    );
    send(&admin, room, "alpha").await.unwrap();
    send(&admin, room, &long).await.unwrap();
    let fresh = chat_client::connect(&cfg).await.unwrap();
    assert_eq!(fresh.welcome().limits.max_message_bytes, 2000);

    for broken in [
        "banned_words = [\"gamma\"\n[limits\n",
        "banned_words = [\"gamma\"]\n[limits]\nmax_message_bytes = 0\n",
    ] {
        write(&file, broken);
        hangup(&chatd);
        let failed = log(&chatd, "configuration reload failed");
        assert!(
            failed.contains("chatd.toml") || failed.contains("max_message_bytes"),
            "the log says why: {failed}"
        );
        send(&admin, room, "gamma").await.unwrap();
        assert_eq!(
            refused_with(&admin, room, "beta").await,
            Some(ErrorCode::ContentRejected),
            "the previous configuration is still in force"
        );
        send(&admin, room, &long).await.unwrap();
    }
    let again = chat_client::connect(&cfg).await.unwrap();
    assert_eq!(again.welcome().limits.max_message_bytes, 2000);
}

/// issue 15, "Config reload on SIGHUP … and retention": the purge job of
/// a chatd started with `[retention] interval_ms` of one hour takes a
/// reloaded interval of 100 ms at once (not after the old hour), and
/// purges imported messages from 2020 in a room kept 1 day; the message
/// sent now stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_a_new_retention_interval_to_the_purge_job() {
    use chat_protocol::retention::{Keep, RetentionScope};
    use chat_protocol::{HistoryAnchor, RoomEventKind, Seq, Timestamp};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chatd.toml");
    let (chatd, _, admin) = start(dir.path(), "[retention]\ninterval_ms = 3600000\n").await;
    let room = admin
        .create_room("archive", "", Visibility::Public)
        .await
        .unwrap()
        .id;
    // 2020-01-01T00:00:00Z onwards, one minute apart.
    for i in 0..3u64 {
        admin
            .import(
                room,
                "admin",
                Timestamp(1_577_836_800_000 + i * 60_000),
                IdempotencyKey(format!("old-{i}")),
                &format!("from 2020 #{i}"),
            )
            .await
            .unwrap();
    }
    send(&admin, room, "from today").await.unwrap();
    admin
        .set_retention(RetentionScope::Room(room), Some(Keep::Days(1)))
        .await
        .unwrap();

    write(&file, "[retention]\ninterval_ms = 100\n");
    hangup(&chatd);
    let line = log(&chatd, "configuration reloaded");
    assert!(line.contains("retention.interval_ms"), "{line}");

    let purged = |page: &chat_protocol::HistoryPage| {
        page.events
            .iter()
            .filter(|e| matches!(e.kind, RoomEventKind::Purged { .. }))
            .count()
    };
    let deadline = std::time::Instant::now() + chat_e2e::WAIT;
    let page = loop {
        let page = admin
            .history(room, HistoryAnchor::After(Seq(0)), 100)
            .await
            .unwrap();
        if purged(&page) == 3 || std::time::Instant::now() > deadline {
            break page;
        }
        // Polling the history is how an outside client sees the job run.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        purged(&page),
        3,
        "the job ran on the reloaded interval and purged the 2020 messages: {:?}",
        page.events
    );
    assert!(
        page.events
            .iter()
            .any(|e| matches!(&e.kind, RoomEventKind::Message(m) if m.text == "from today")),
        "the message sent today stays"
    );
}
