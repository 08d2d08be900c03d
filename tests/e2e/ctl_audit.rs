//! chatctl audit: `history --include-edits` and `export` as a server admin
//! (every edit version, deleted text with its tombstone, membership
//! events, moderation records, private and deleted rooms), and what a user
//! who is not an admin gets instead.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use super::ctl_support::{Ctl, args, expect, json_lines, ok, run};
use chat_e2e::{TestServer, public_room, spawn_server};
use chat_protocol::{IdempotencyKey, ModAction, Seq, Visibility};
use serde_json::Value;

/// What the SDK set up: the seqs of the twice-edited and the deleted message.
struct Fixture {
    edited: Seq,
    deleted: Seq,
}

/// `audit-room` (public, owned by olivia): a message edited twice, one
/// deleted, otto joins, speaks and is banned for "spam"; `secret` (private,
/// olivia's, the admin not a member) with one message; `gone`, deleted by
/// the admin.
async fn fixture(server: &TestServer) -> Fixture {
    let admin = server.admin().await;
    let (olivia, _) = server.user("olivia").await;
    let (otto, _) = server.user("otto").await;
    let room = public_room(&olivia, "audit-room").await;
    let send = async |c: &chat_client::Connection, room, text: &str| {
        c.send(room, IdempotencyKey::random(), text, None)
            .await
            .unwrap()
            .seq
    };
    let edited = send(&olivia, room, "dose 5 mg").await;
    olivia.edit(room, edited, "dose 10 mg").await.unwrap();
    olivia.edit(room, edited, "dose 15 mg").await.unwrap();
    let deleted = send(&olivia, room, "wrong patient, sorry").await;
    olivia.delete(room, deleted).await.unwrap();
    otto.join_room(room).await.unwrap();
    send(&otto, room, "buy cheap pills").await;
    olivia
        .moderate(
            room,
            ModAction::Ban {
                username: "otto".into(),
            },
            "spam",
        )
        .await
        .unwrap();

    let secret = olivia
        .create_room("secret", "", Visibility::Private)
        .await
        .unwrap()
        .id;
    send(&olivia, secret, "private note").await;

    let gone = admin
        .create_room("gone", "", Visibility::Public)
        .await
        .unwrap()
        .id;
    send(&admin, gone, "before deletion").await;
    admin
        .moderate(gone, ModAction::DeleteRoom, "test")
        .await
        .unwrap();
    Fixture { edited, deleted }
}

fn find<'a>(lines: &'a [Value], pred: impl Fn(&Value) -> bool, what: &str) -> &'a Value {
    lines
        .iter()
        .find(|v| pred(v))
        .unwrap_or_else(|| panic!("no {what} in {lines:#?}"))
}

fn version_texts(v: &Value) -> Vec<&str> {
    v["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("no versions: {v}"))
        .iter()
        .map(|x| {
            assert!(x["created_at"].as_str().unwrap().ends_with('Z'), "{x}");
            x["text"].as_str().unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_history_with_edits_and_full_export() {
    let server = spawn_server().await;
    let f = fixture(&server).await;
    let ctl = Ctl::new(&server);

    // history --include-edits: every version, oldest first, last = current.
    let hist = ok(args(
        ctl.admin(),
        &["--json", "history", "audit-room", "--include-edits"],
    ))
    .await;
    let hist = json_lines(&hist);
    let m = find(&hist, |v| v["seq"] == f.edited.0, "edited message");
    assert_eq!(m["text"], "dose 15 mg");
    assert_eq!(version_texts(m), ["dose 5 mg", "dose 10 mg", "dose 15 mg"]);
    // Messages never edited carry no versions.
    let plain = find(&hist, |v| v["text"] == "buy cheap pills", "otto's message");
    assert!(plain.get("versions").is_none(), "{plain}");
    // CSV: one `version` row per version after the message.
    let csv = ok(args(
        ctl.admin(),
        &["history", "audit-room", "--include-edits", "--csv"],
    ))
    .await;
    let versions: Vec<&str> = csv.lines().filter(|l| l.contains(",version,")).collect();
    assert_eq!(versions.len(), 3, "{csv}");
    assert!(versions[0].ends_with(",version,dose 5 mg"), "{csv}");

    // export: everything.
    let out = ok(args(ctl.admin(), &["--json", "export", "--reason", "test"])).await;
    let lines = json_lines(&out);
    for name in ["audit-room", "secret", "gone"] {
        find(
            &lines,
            |v| v["type"] == "room" && v["room"] == name,
            &format!("room line for {name}"),
        );
    }
    find(
        &lines,
        |v| v["text"] == "private note",
        "the private room's message",
    );
    find(
        &lines,
        |v| v["text"] == "before deletion",
        "the deleted room's message",
    );
    let in_room = |v: &Value| v["room"] == "audit-room";
    let m = find(
        &lines,
        |v| in_room(v) && v["type"] == "message" && v["seq"] == f.edited.0,
        "edited message",
    );
    assert_eq!(version_texts(m), ["dose 5 mg", "dose 10 mg", "dose 15 mg"]);
    assert!(m["room_id"].is_u64(), "{m}");
    let d = find(
        &lines,
        |v| in_room(v) && v["type"] == "message" && v["seq"] == f.deleted.0,
        "deleted message",
    );
    assert_eq!(d["text"], "wrong patient, sorry");
    assert_eq!(d["deleted_by"], "olivia");
    assert!(d["deleted_at"].as_str().unwrap().ends_with('Z'), "{d}");
    // Membership changes.
    find(
        &lines,
        |v| in_room(v) && v["type"] == "joined" && v["user"] == "otto",
        "otto joined",
    );
    find(
        &lines,
        |v| in_room(v) && v["type"] == "banned" && v["user"] == "otto" && v["reason"] == "spam",
        "otto banned",
    );
    // Moderation records, after every room's events, with stable fields.
    let ban = find(
        &lines,
        |v| v["type"] == "moderation" && v["action"] == "ban",
        "ban record",
    );
    assert_eq!(ban["actor"], "olivia");
    assert_eq!(ban["target"], "otto");
    assert_eq!(ban["reason"], "spam");
    assert_eq!(ban["room"], "audit-room");
    assert!(
        ban["id"].is_u64() && ban["created_at"].as_str().unwrap().ends_with('Z'),
        "{ban}"
    );
    find(
        &lines,
        |v| v["type"] == "moderation" && v["action"] == "delete-room" && v["room"] == "gone",
        "room deletion record",
    );
    let first_mod = lines
        .iter()
        .position(|v| v["type"] == "moderation")
        .unwrap();
    assert!(lines[first_mod..].iter().all(|v| v["type"] == "moderation"));

    // export --room: that room only, its moderation records only.
    let out = ok(args(
        ctl.admin(),
        &["--json", "export", "--room", "secret", "--reason", "test"],
    ))
    .await;
    let lines = json_lines(&out);
    assert!(lines.iter().all(|v| v["room"] == "secret"), "{lines:#?}");
    find(
        &lines,
        |v| v["text"] == "private note",
        "the private message",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_is_for_server_admins() {
    let server = spawn_server().await;
    let f = fixture(&server).await;
    let ctl = Ctl::new(&server);
    // bob: a plain member of audit-room.
    let (bob_conn, _) = server.user("bob").await;
    let room = bob_conn.room_by_name("audit-room").await.unwrap();
    bob_conn.join_room(room.id).await.unwrap();
    let admin = server.admin().await;
    let (_, secret) = admin.create_token("bob", "audit").await.unwrap();
    let bob = ctl.token_file("bob.token", &secret);

    // Edit versions and deleted text: refused with exit 4 and a reason.
    for extra in ["--include-edits", "--include-deleted"] {
        let out = run(
            args(ctl.with_token(&bob), &["history", "audit-room", extra]),
            None,
        )
        .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{extra}: {stderr}");
        assert!(stderr.contains("server admins"), "{extra}: {stderr}");
    }

    // export: what bob may see, and a note saying what is missing.
    let out = run(args(ctl.with_token(&bob), &["--json", "export"]), None).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("not a server admin"), "{stderr}");
    assert!(
        stderr.contains("moderation actions are not in this export"),
        "{stderr}"
    );
    let lines = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert!(lines.iter().all(|v| v["room"] != "secret"), "{lines:#?}");
    assert!(
        lines.iter().all(|v| v["type"] != "moderation"),
        "{lines:#?}"
    );
    let m = find(
        &lines,
        |v| v["room"] == "audit-room" && v["seq"] == f.edited.0,
        "edited message",
    );
    assert_eq!(m["text"], "dose 15 mg");
    assert!(m.get("versions").is_none(), "{m}");
    let d = find(
        &lines,
        |v| v["room"] == "audit-room" && v["seq"] == f.deleted.0,
        "deleted message",
    );
    assert_eq!(d["text"], "");
    assert_eq!(d["deleted_by"], "olivia");
    expect(
        args(ctl.with_token(&bob), &["export", "--room", "secret"]),
        None,
        3,
    )
    .await;
}
