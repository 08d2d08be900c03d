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
    write(
        &file,
        "banned_words = [\"alpha\"]\n[limits]\nmax_message_bytes = 1000\n",
    );
    let chatd = Chatd::start_with(dir.path(), "127.0.0.1:0", &["--config", "chatd.toml"]);
    let cfg = ClientConfig::new(
        chatd.addr.clone(),
        Trust::CaFile(ca_path(dir.path())),
        "reload-test",
    );
    let token = chat_e2e::read_token(&dir.path().join("data"));
    let admin = chat_client::connect(&cfg).await.unwrap();
    admin.authenticate(&token).await.unwrap();
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
