//! The tamper-evident audit log, end to end: a real chatd (in process) and
//! the real `chatctl` binary. `chatctl audit verify` passes on an intact
//! log and fails, naming the first bad record, after the test alters one
//! stored audit record (or the stored tree state) directly in the redb
//! file while chatd is stopped; `chatctl export --reason` and reads of
//! deleted text are recorded in the log.
//!
//! The test opens chatd's database itself, as an attacker with disk access
//! would; nothing else outside `chatd::store` ever does.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use super::ctl_support::{Ctl, args, expect, json_lines, ok};
use chat_e2e::{TestServer, WAIT, public_room, spawn_server, spawn_server_with};
use chat_protocol::{HistoryAnchor, IdempotencyKey, ModAction, ModerationRecord};
use chatd::store::audit_tree::HeadRecord;
use chatd::store::records::{ModRecord, decode, encode};
use chatd::store::tables::{AUDIT_HEADS, AUDIT_NODES, MODLOG};
use redb::ReadableTable;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Accounts, a room, a ban and a kick: nine audit records.
async fn some_history(server: &TestServer) {
    for name in ["nurse1", "nurse2", "nurse3", "nurse4"] {
        server.user(name).await;
    }
    let (olivia, _) = server.user("olivia").await;
    let (otto, _) = server.user("otto").await;
    let (mia, _) = server.user("mia").await;
    let room = public_room(&olivia, "ward").await;
    otto.join_room(room).await.unwrap();
    mia.join_room(room).await.unwrap();
    let ban = |who: &str| ModAction::Ban {
        username: who.into(),
    };
    olivia.moderate(room, ban("otto"), "spam").await.unwrap();
    olivia
        .moderate(
            room,
            ModAction::Kick {
                username: "mia".into(),
            },
            "off topic",
        )
        .await
        .unwrap();
}

fn db_path(server: &TestServer) -> PathBuf {
    server.config.data_dir.join(chatd::DB_FILE)
}

fn audit_pub(server: &TestServer) -> PathBuf {
    server
        .config
        .cert_dir
        .join(chatd::audit_key::AUDIT_PUB_FILE)
}

/// `chatctl --json audit head`, saved to `name` in the temp home.
async fn save_head(ctl: &Ctl, name: &str) -> (PathBuf, Value) {
    let out = ok(args(ctl.admin(), &["--json", "audit", "head"])).await;
    let path = ctl.home.path().join(name);
    std::fs::write(&path, &out).unwrap();
    let head = json_lines(&out).remove(0);
    (path, head)
}

fn verify_args<'a>(head: &'a str, key: &'a str) -> Vec<&'a str> {
    vec!["--json", "audit", "verify", "--head", head, "--key", key]
}

async fn verify(ctl: &Ctl, head: &Path, key: &Path, code: i32) -> Value {
    let out = expect(
        args(
            ctl.admin(),
            &verify_args(head.to_str().unwrap(), key.to_str().unwrap()),
        ),
        None,
        code,
    )
    .await;
    json_lines(&out).remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_on_an_intact_log_and_names_the_first_altered_record() {
    chat_e2e::redb_only!("it tampers with the stored records by opening the redb file");
    let mut server = spawn_server().await;
    some_history(&server).await;
    let ctl = Ctl::new(&server);
    let (head_file, head) = save_head(&ctl, "head.json").await;
    let saved_size = head["tree_size"].as_u64().unwrap();
    assert!(saved_size >= 6, "{head}");
    // More records after the saved head: verify proves the log only grew.
    server.user("later").await;
    let key = audit_pub(&server);
    let report = verify(&ctl, &head_file, &key, 0).await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["records"].as_u64().unwrap() > saved_size, "{report}");

    // Alter record id 3 (leaf 2), inside the saved head, as an attacker
    // with the disk would: a plausible new reason, a valid record.
    server.stop().await;
    {
        let db = redb::Database::open(db_path(&server)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(MODLOG).unwrap();
            let mut rec: ModRecord = decode(t.get(3).unwrap().unwrap().value()).unwrap();
            rec.reason = "routine check".into();
            t.insert(3, encode(&rec).unwrap().as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    server.restart().await;
    let ctl = Ctl::new(&server);
    let report = verify(&ctl, &head_file, &key, 1).await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["first_bad"]["index"], 2, "{report}");
    assert_eq!(report["first_bad"]["id"], 3, "{report}");
    assert_eq!(report["bad_records"], 1, "{report}");
    // The text form names it too, and the exit code is 1.
    let out = expect(
        args(
            ctl.admin(),
            &[
                "audit",
                "verify",
                "--head",
                head_file.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ],
        ),
        None,
        1,
    )
    .await;
    assert!(out.contains("first bad record: index 2 (id 3)"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_the_stored_tree_state_fails_verification() {
    chat_e2e::redb_only!("it tampers with the stored records by opening the redb file");
    let mut server = spawn_server().await;
    some_history(&server).await;
    let ctl = Ctl::new(&server);
    let (head_file, _) = save_head(&ctl, "head.json").await;
    let key = audit_pub(&server);
    server.stop().await;
    {
        // Leaf 5's stored hash (node 10), records untouched.
        let db = redb::Database::open(db_path(&server)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(AUDIT_NODES).unwrap();
            assert!(t.get(10).unwrap().is_some());
            t.insert(10, [0xAB_u8; 32].as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    server.restart().await;
    let ctl = Ctl::new(&server);
    let report = verify(&ctl, &head_file, &key, 1).await;
    assert_eq!(report["ok"], false, "{report}");
    // The records still reproduce the signed root, so none is blamed: the
    // tree state is.
    assert_eq!(report["first_bad"], Value::Null, "{report}");
    assert!(
        report["failures"][0]
            .as_str()
            .unwrap()
            .contains("stored tree state is damaged"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_signed_by_another_key_is_refused() {
    let server = spawn_server().await;
    some_history(&server).await;
    let ctl = Ctl::new(&server);
    let (head_file, _) = save_head(&ctl, "head.json").await;
    let other = ctl.home.path().join("other.pub");
    std::fs::write(&other, format!("{}\n", "11".repeat(32))).unwrap();
    let out = expect(
        args(
            ctl.admin(),
            &verify_args(head_file.to_str().unwrap(), other.to_str().unwrap()),
        ),
        None,
        1,
    )
    .await;
    assert!(out.is_empty(), "{out}");
    // A forged head (its size changed) fails its own signature.
    let mut head: Value =
        serde_json::from_str(&std::fs::read_to_string(&head_file).unwrap()).unwrap();
    head["tree_size"] = Value::from(1);
    let forged = ctl.home.path().join("forged.json");
    std::fs::write(&forged, head.to_string()).unwrap();
    expect(
        args(
            ctl.admin(),
            &verify_args(
                forged.to_str().unwrap(),
                audit_pub(&server).to_str().unwrap(),
            ),
        ),
        None,
        1,
    )
    .await;
}

fn find<'a>(log: &'a [ModerationRecord], action: &str) -> &'a ModerationRecord {
    log.iter()
        .find(|r| r.action == action)
        .unwrap_or_else(|| panic!("no {action} in {log:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_need_a_reason_and_reads_of_deleted_text_are_recorded() {
    let server = spawn_server().await;
    let admin = server.admin().await;
    let (olivia, _) = server.user("olivia").await;
    let room = public_room(&olivia, "ward").await;
    let seq = olivia
        .send(room, IdempotencyKey::random(), "wrong patient", None)
        .await
        .unwrap()
        .seq;
    olivia.delete(room, seq).await.unwrap();
    let ctl = Ctl::new(&server);

    // An audit export without a reason is a usage error, and reads nothing.
    let before = admin.moderation_log(None, 1000).await.unwrap().len();
    let out = super::ctl_support::run(args(ctl.admin(), &["export"]), None).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--reason"));
    assert_eq!(
        admin.moderation_log(None, 1000).await.unwrap().len(),
        before
    );

    ok(args(
        ctl.admin(),
        &["export", "--room", "ward", "--reason", "records request 17"],
    ))
    .await;
    let log = admin.moderation_log(None, 1000).await.unwrap();
    let access = find(&log, "access-export");
    assert_eq!(access.reason, "records request 17");
    assert_eq!(access.room, Some(room));
    assert_eq!(access.actor.username, "admin");
    let read = find(&log, "read-deleted");
    assert_eq!(read.room, Some(room));
    assert!(
        read.reason.contains(&format!(
            "seq {}; declared export: records request 17",
            seq.0
        )),
        "{read:?}"
    );

    // Without a declared access, an audit read is still recorded, as such.
    let fresh = server.admin().await;
    fresh
        .history_audit(room, HistoryAnchor::Latest, 50)
        .await
        .unwrap();
    fresh.message_audit(room, seq).await.unwrap();
    let log = admin.moderation_log(None, 1000).await.unwrap();
    let undeclared: Vec<_> = log
        .iter()
        .filter(|r| r.action == "read-deleted" && r.reason.ends_with("no access declared"))
        .collect();
    assert_eq!(undeclared.len(), 2, "{log:#?}");
    // A member's history reveals nothing and records nothing.
    olivia
        .history(room, HistoryAnchor::Latest, 50)
        .await
        .unwrap();
    assert_eq!(
        admin.moderation_log(None, 1000).await.unwrap().len(),
        log.len()
    );

    // chatctl history --include-deleted --reason declares before reading.
    ok(args(
        ctl.admin(),
        &[
            "history",
            "ward",
            "--include-deleted",
            "--reason",
            "incident 4",
        ],
    ))
    .await;
    let log = admin.moderation_log(None, 1000).await.unwrap();
    assert!(
        log.iter()
            .any(|r| r.action == "access-history" && r.reason == "incident 4"),
        "{log:#?}"
    );
    assert!(
        log.iter().any(|r| r.action == "read-deleted"
            && r.reason == format!("seq {}; declared history: incident 4", seq.0)),
        "{log:#?}"
    );

    // Downloading a deleted message's file is a read of deleted content.
    admin.join_room(room).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("note.txt");
    std::fs::write(&path, b"wrong patient's note").unwrap();
    let up = olivia
        .upload_path(room, &path, None, |_, _| {})
        .await
        .unwrap();
    let with_file = olivia
        .send_with_attachments(
            room,
            IdempotencyKey::random(),
            "the note",
            None,
            vec![up.attachment.id],
        )
        .await
        .unwrap()
        .seq;
    olivia.delete(room, with_file).await.unwrap();
    admin
        .declare_access(Some(room), "download", "chart review")
        .await
        .unwrap();
    admin
        .download_to(room, &up.attachment, &dir.path().join("got.txt"), |_, _| {})
        .await
        .unwrap();
    let log = admin.moderation_log(None, 1000).await.unwrap();
    let file_read = format!(
        "file {} of seq {}; declared download: chart review",
        up.attachment.id.0, with_file.0
    );
    assert!(
        log.iter()
            .any(|r| r.action == "read-deleted" && r.reason == file_read),
        "{log:#?}"
    );

    // A non-admin cannot declare an access.
    let err = olivia
        .declare_access(None, "export", "curious")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(chat_protocol::ErrorCode::Forbidden));
    // A blank reason is refused by the server as well.
    let err = admin
        .declare_access(None, "export", "  ")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(chat_protocol::ErrorCode::BadRequest));

    // And the log with all these records verifies.
    let (head_file, _) = save_head(&ctl, "head.json").await;
    let report = verify(&ctl, &head_file, &audit_pub(&server), 0).await;
    assert_eq!(report["ok"], true, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_signed_at_intervals_are_checked_and_a_forged_one_is_caught() {
    chat_e2e::redb_only!("it tampers with the stored records by opening the redb file");
    let mut server = spawn_server_with(|c| c.audit_head_interval_ms = 50).await;
    some_history(&server).await;
    let admin = server.admin().await;
    let size = admin.audit_head().await.unwrap().tree_size;
    // `AuditHead` stores its head too; a new record then needs the timer.
    server.user("late").await;
    let deadline = Instant::now() + WAIT;
    while !admin
        .audit_heads_all()
        .await
        .unwrap()
        .iter()
        .any(|h| h.tree_size == size + 1)
    {
        assert!(
            Instant::now() < deadline,
            "no head was signed for {} records",
            size + 1
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ctl = Ctl::new(&server);
    let (head_file, _) = save_head(&ctl, "head.json").await;
    let key = audit_pub(&server);
    let report = verify(&ctl, &head_file, &key, 0).await;
    assert!(report["stored_heads"].as_u64().unwrap() >= 2, "{report}");

    // A stored head whose root was changed without the key is caught.
    server.stop().await;
    {
        let db = redb::Database::open(db_path(&server)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(AUDIT_HEADS).unwrap();
            let mut rec: HeadRecord = decode(t.get(size).unwrap().unwrap().value()).unwrap();
            rec.root = vec![0; 32];
            t.insert(size, encode(&rec).unwrap().as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    server.restart().await;
    let ctl = Ctl::new(&server);
    let report = verify(&ctl, &head_file, &key, 1).await;
    let failures = report["failures"].to_string();
    assert!(
        failures.contains(&format!("the stored head of size {size}")),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_or_garbled_record_is_named() {
    chat_e2e::redb_only!("it tampers with the stored records by opening the redb file");
    let mut server = spawn_server().await;
    some_history(&server).await;
    let ctl = Ctl::new(&server);
    let (head_file, _) = save_head(&ctl, "head.json").await;
    let key = audit_pub(&server);
    server.stop().await;
    {
        let db = redb::Database::open(db_path(&server)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(MODLOG).unwrap();
            t.insert(4, [0xFF_u8, 0x00].as_slice()).unwrap();
            t.remove(7).unwrap();
        }
        txn.commit().unwrap();
    }
    server.restart().await;
    let ctl = Ctl::new(&server);
    let report = verify(&ctl, &head_file, &key, 1).await;
    assert_eq!(report["first_bad"]["id"], 4, "{report}");
    assert!(
        report["first_bad"]["problem"]
            .as_str()
            .unwrap()
            .contains("cannot be read"),
        "{report}"
    );
    assert_eq!(report["bad_records"], 2, "{report}");
}

/// Figures for README ("Audit log"): `cargo test -p chat-e2e --test e2e
/// audit_log::verify_figures -- --ignored --nocapture`. Writes 20,000
/// audit records (topic changes) and times `chatctl audit verify`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn verify_figures() {
    let server = spawn_server().await;
    let admin = server.admin().await;
    let room = public_room(&admin, "ward").await;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..8 {
        let c = admin.clone();
        tasks.spawn(async move {
            for i in 0..2_500 {
                let action = ModAction::SetTopic {
                    topic: format!("topic {t}-{i}"),
                };
                c.moderate(room, action, "figures").await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let wrote = started.elapsed();
    let ctl = Ctl::new(&server);
    let (head_file, head) = save_head(&ctl, "head.json").await;
    let started = Instant::now();
    let report = verify(&ctl, &head_file, &audit_pub(&server), 0).await;
    let verified = started.elapsed();
    eprintln!(
        "FIGURES records={} write={wrote:?} verify={verified:?} db_bytes={}",
        head["tree_size"],
        std::fs::metadata(db_path(&server)).unwrap().len()
    );
    assert_eq!(report["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_requests_are_for_admins_and_check_their_ranges() {
    use chat_protocol::ErrorCode::{BadRequest, Forbidden};
    let server = spawn_server().await;
    some_history(&server).await;
    let admin = server.admin().await;
    let (olivia, _) = server.login("olivia").await;
    let code = |e: chat_client::ClientError| e.code();
    assert_eq!(
        code(olivia.audit_head().await.unwrap_err()),
        Some(Forbidden)
    );
    assert_eq!(
        code(olivia.audit_entries(1, 0, 1).await.unwrap_err()),
        Some(Forbidden)
    );
    assert_eq!(
        code(olivia.audit_consistency(1, 1).await.unwrap_err()),
        Some(Forbidden)
    );
    assert_eq!(
        code(olivia.audit_heads_all().await.unwrap_err()),
        Some(Forbidden)
    );
    let n = admin.audit_head().await.unwrap().tree_size;
    for (from, to) in [(0, n), (n, n + 1), (2, 1), (1, u64::MAX)] {
        let e = admin.audit_consistency(from, to).await.unwrap_err();
        assert_eq!(code(e), Some(BadRequest), "{from}..{to}");
    }
    for (size, from, limit) in [(0, 0, 1), (n + 1, 0, 1), (n, n, 1), (n, 0, 0), (n, 0, 257)] {
        let e = admin.audit_entries(size, from, limit).await.unwrap_err();
        assert_eq!(code(e), Some(BadRequest), "{size} {from} {limit}");
    }
    // A page near the end stops at the tree's size; proofs are 32-byte hashes.
    let page = admin.audit_entries(n, n - 2, 256).await.unwrap();
    assert_eq!(page.len(), 2);
    assert!(page.iter().all(|e| e.proof.iter().all(|h| h.len() == 32)));
    assert_eq!(page[1].record.as_ref().unwrap().id, n);
}

/// A room's owner reads the room's moderation records but not what server
/// admins did there as auditors: a declared access with its reason, an
/// audit search with its query, a legal hold. Those are for server admins
/// only, in both the plain and the paged log (before, every record scoped
/// to the room was shown to its admins, disclosing an investigation to the
/// people it may concern).
#[tokio::test]
async fn room_admins_do_not_see_server_admins_audit_reads_or_holds() {
    use chat_protocol::{Keep, PageRequest, RetentionScope, SearchQuery};
    let server = spawn_server().await;
    let admin = server.admin().await;
    let (olga, _) = server.user("olga").await;
    let room = public_room(&olga, "ward").await;
    olga.moderate(
        room,
        ModAction::SetTopic {
            topic: "night shift".into(),
        },
        "handover",
    )
    .await
    .unwrap();
    admin
        .declare_access(Some(room), "export", "case 17")
        .await
        .unwrap();
    let mut q = SearchQuery::new("handover", 5);
    q.room = Some(room);
    q.audit = true;
    admin.search(q).await.unwrap();
    admin
        .set_legal_hold(RetentionScope::Room(room), true, "matter 9")
        .await
        .unwrap();
    admin
        .set_retention(RetentionScope::Room(room), Some(Keep::Days(30)))
        .await
        .unwrap();

    let hidden = ["access-export", "search-audit", "legal-hold"];
    let all = admin.moderation_log(Some(room), 100).await.unwrap();
    for action in hidden {
        find(&all, action);
    }
    let owner = olga.moderation_log(Some(room), 100).await.unwrap();
    let paged = olga
        .moderation_log_page(Some(room), PageRequest::first())
        .await
        .unwrap()
        .items;
    for seen in [&owner, &paged] {
        let actions: Vec<&str> = seen.iter().map(|r| r.action.as_str()).collect();
        assert!(
            actions.contains(&"set-topic"),
            "the owner reads the room's moderation: {actions:?}"
        );
        assert!(
            actions.contains(&"retention-set"),
            "and its retention settings: {actions:?}"
        );
        for action in hidden {
            assert!(
                !actions.contains(&action),
                "{action} is for server admins only: {actions:?}"
            );
        }
    }
}
