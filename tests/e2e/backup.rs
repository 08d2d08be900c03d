//! Backup and restore: `chatctl server backup` while a client sends,
//! `chatd restore` into a new data directory, a server started on it; and
//! the refusals (non-admin, damaged archive, non-empty target).
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use super::ctl_support::{Ctl, args, json_lines, ok};
use chat_e2e::{WAIT, public_room, spawn_server, spawn_server_with};
use chat_protocol::{ErrorCode, HistoryAnchor, IdempotencyKey, RoomEvent, RoomId, Seq};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Every event of `room`, oldest first, paged through `History`.
async fn full_history(conn: &chat_client::Connection, room: RoomId) -> Vec<RoomEvent> {
    let mut out: Vec<RoomEvent> = Vec::new();
    loop {
        let after = out.last().map_or(Seq(0), |e| e.seq);
        let page = conn
            .history(room, HistoryAnchor::After(after), 500)
            .await
            .unwrap();
        let more = page.has_more;
        out.extend(page.events);
        if !more {
            return out;
        }
    }
}

/// Runs `chatd restore FILE --data DIR` and returns (success, stdout + stderr).
async fn chatd_restore(file: &Path, data: &Path) -> (bool, String) {
    let out = tokio::process::Command::new(crate::bins::CHATD)
        .arg("restore")
        .arg(file)
        .arg("--data")
        .arg(data)
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Names in `dir` (to see that a refused restore left nothing behind).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The done-when test of issue 15's backup: a backup taken with `chatctl
/// server backup` while a client keeps sending restores (with `chatd
/// restore`) to a server whose history of every room is a prefix of the
/// source's that holds every message acked before the backup started, and
/// whose attachment downloads with the same hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_sending_restores_history_up_to_the_backup_point() {
    chat_e2e::redb_only!(
        "the backup archive holds the redb file; a PostgreSQL store is backed up with pg_dump"
    );
    let server = spawn_server_with(|c| {
        c.limits.send_rate_per_sec = 100_000;
        c.limits.send_burst = 100_000;
    })
    .await;
    let admin = server.admin().await;
    let (ana, _) = server.user("ana").await;
    let ward = public_room(&ana, "ward").await;
    let lab = public_room(&ana, "lab").await;
    admin.join_room(ward).await.unwrap();

    let files = tempfile::tempdir().unwrap();
    let bytes = noise(700 << 10, 3);
    let src = files.path().join("scan.bin");
    std::fs::write(&src, &bytes).unwrap();
    let up = ana.upload_path(ward, &src, None, |_, _| {}).await.unwrap();
    ana.send_with_attachments(
        ward,
        IdempotencyKey(ulid::Ulid::new().to_string()),
        "the scan",
        None,
        vec![up.attachment.id],
    )
    .await
    .unwrap();

    // A client that keeps sending to both rooms, recording every ack.
    let acked: Arc<Mutex<Vec<(RoomId, Seq)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let (count_tx, mut count_rx) = tokio::sync::watch::channel(0usize);
    let sender = {
        let (acked, stop) = (acked.clone(), stop.clone());
        let (ana, _) = server.login("ana").await;
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) && i < 20_000 {
                let room = if i.is_multiple_of(2) { ward } else { lab };
                let key = IdempotencyKey(ulid::Ulid::new().to_string());
                let ack = ana.send(room, key, &format!("m{i}"), None).await.unwrap();
                let n = {
                    let mut a = acked.lock().unwrap();
                    a.push((room, ack.seq));
                    a.len()
                };
                let _ = count_tx.send(n);
                i += 1;
            }
        })
    };
    tokio::time::timeout(WAIT, count_rx.wait_for(|n| *n >= 40))
        .await
        .unwrap()
        .unwrap();
    let before: Vec<(RoomId, Seq)> = acked.lock().unwrap().clone();

    let ctl = Ctl::new(&server);
    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("chatd.backup");
    let report = ok(args(
        ctl.admin(),
        &["--json", "server", "backup", archive.to_str().unwrap()],
    ))
    .await;
    let during = acked.lock().unwrap().len();
    stop.store(true, Ordering::SeqCst);
    sender.await.unwrap();
    let report = &json_lines(&report)[0];
    assert_eq!(
        report["bytes"].as_u64(),
        Some(std::fs::metadata(&archive).unwrap().len())
    );
    assert_eq!(report["files"].as_u64(), Some(1));
    assert!(
        during > before.len(),
        "the client kept sending while the backup ran"
    );
    let log = admin.moderation_log(None, 50).await.unwrap();
    assert!(
        log.iter()
            .any(|r| r.action == "backup" && r.actor.username == "admin"),
        "the backup is in the audit log: {log:?}"
    );

    let data = out.path().join("restored");
    let (restored_ok, text) = chatd_restore(&archive, &data).await;
    assert!(restored_ok, "{text}");
    assert!(text.contains("restored"), "{text}");

    let restored = spawn_server_with(|c| c.data_dir = data.clone()).await;
    let radmin = restored.admin().await;
    for room in [ward, lab] {
        let source = full_history(&admin, room).await;
        let copy = full_history(&radmin, room).await;
        assert!(
            source.starts_with(&copy),
            "room {room}: the restored history is not a prefix of the source's"
        );
        let head = copy.last().map_or(Seq(0), |e| e.seq);
        for (r, seq) in before.iter().filter(|(r, _)| *r == room) {
            assert!(
                *seq <= head,
                "room {r}: message {seq} was acked before the backup started but is not in it \
                 (restored head {head})"
            );
        }
    }

    let (rana, _) = restored.login("ana").await;
    let dest = out.path().join("scan.out");
    rana.download_to(ward, &up.attachment, &dest, |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        blake3::hash(&std::fs::read(&dest).unwrap()),
        blake3::hash(&bytes),
        "the restored server serves the same file"
    );
    // The index is rebuilt from the restored store.
    let hits = tokio::time::timeout(WAIT, async {
        loop {
            // Refused while the rebuild runs; found once it is done.
            if let Ok(found) = radmin
                .search(chat_protocol::SearchQuery::new("scan", 10))
                .await
                && !found.hits.is_empty()
            {
                return found;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    assert_eq!(hits.hits.len(), 1);
}

/// A non-admin is refused a backup (and gets no file); `chatd restore`
/// refuses a non-empty target, a cut archive and an altered one, each
/// with its remedy, and leaves no directory or temporary file behind;
/// the intact archive then restores into an empty directory.
#[tokio::test]
async fn backups_are_for_admins_and_bad_restores_leave_nothing() {
    chat_e2e::redb_only!(
        "the backup archive holds the redb file; a PostgreSQL store is backed up with pg_dump"
    );
    let server = spawn_server().await;
    let admin = server.admin().await;
    let (ana, _) = server.user("ana").await;
    let room = public_room(&ana, "ward").await;
    for i in 0..20 {
        ana.send(
            room,
            IdempotencyKey(ulid::Ulid::new().to_string()),
            &format!("m{i}"),
            None,
        )
        .await
        .unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let denied = out.path().join("denied.backup");
    let err = ana.backup_to(&denied, |_, _| {}).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    assert!(!denied.exists() && names(out.path()).is_empty());

    let archive = out.path().join("good.backup");
    let done = admin.backup_to(&archive, |_, _| {}).await.unwrap();
    assert!(done.events >= 20, "{done:?}");
    let again = admin.backup_to(&archive, |_, _| {}).await.unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");

    let targets = tempfile::tempdir().unwrap();
    let busy = targets.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("keep.txt"), "mine").unwrap();
    let (restored, text) = chatd_restore(&archive, &busy).await;
    assert!(!restored);
    assert!(
        text.contains("not an empty directory") && text.contains("move the"),
        "{text}"
    );
    assert_eq!(names(&busy), ["keep.txt"]);

    let whole = std::fs::read(&archive).unwrap();
    let cut = out.path().join("cut.backup");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let mut altered = whole.clone();
    let at = whole.len() * 3 / 4;
    altered[at] ^= 0x40;
    let flipped = out.path().join("altered.backup");
    std::fs::write(&flipped, &altered).unwrap();
    for bad in [&cut, &flipped] {
        let dest: PathBuf = targets.path().join("new");
        let (restored, text) = chatd_restore(bad, &dest).await;
        assert!(!restored, "{} restored", bad.display());
        assert!(
            text.contains("damaged") && text.contains("nothing was restored"),
            "{text}"
        );
        assert_eq!(
            names(targets.path()),
            ["busy"],
            "a refused restore left something behind"
        );
    }

    let empty = targets.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (restored, text) = chatd_restore(&archive, &empty).await;
    assert!(restored, "{text}");
    let back = spawn_server_with(|c| c.data_dir = empty.clone()).await;
    let (bana, _) = back.login("ana").await;
    assert_eq!(
        full_history(&bana, room).await,
        full_history(&ana, room).await,
        "nothing was sent after this backup, so the copy is whole"
    );
}

/// Figures for README/BENCHMARKS: backup and restore time and archive
/// size for `CHATD_BACKUP_FIGURES_N` messages (default 100,000) of about
/// 100 bytes in 10 rooms. Run with
/// `cargo test -p chat-e2e --test e2e backup_figures -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check; run by hand"]
async fn backup_figures() {
    let n: usize = std::env::var("CHATD_BACKUP_FIGURES_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let server = spawn_server().await;
    let admin = server.admin().await;
    let mut rooms = Vec::new();
    for i in 0..10 {
        rooms.push(public_room(&admin, &format!("room{i}")).await);
    }
    let text = "x".repeat(100);
    let started = std::time::Instant::now();
    // 64 senders in flight, each on its own share of the messages.
    let mut senders = tokio::task::JoinSet::new();
    for s in 0..64 {
        let (admin, text, rooms) = (admin.clone(), text.clone(), rooms.clone());
        senders.spawn(async move {
            for i in (s..n).step_by(64) {
                admin
                    .send(
                        rooms[i % rooms.len()],
                        IdempotencyKey(format!("f{i}")),
                        &text,
                        None,
                    )
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done.unwrap();
    }
    let sending = started.elapsed();
    let db = std::fs::metadata(server.config.data_dir.join(chatd::DB_FILE))
        .unwrap()
        .len();
    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("figures.backup");
    let started = std::time::Instant::now();
    let done = admin.backup_to(&archive, |_, _| {}).await.unwrap();
    let backup = started.elapsed();
    let started = std::time::Instant::now();
    let (restored, text) = chatd_restore(&archive, &out.path().join("restored")).await;
    let restore = started.elapsed();
    assert!(restored, "{text}");
    println!(
        "{n} messages sent in {sending:?}; chat.redb {db} bytes; backup {} bytes ({} events) in \
         {backup:?}; chatd restore in {restore:?}",
        done.bytes, done.events
    );
}
