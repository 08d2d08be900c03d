//! Retention (issue 15) on a real chatd: keep periods per room and per
//! organisation, legal holds, the purge pass (on demand and periodic),
//! stubs with gapless seqs in history and catch-up, files, versions and
//! search documents removed, the audit trail, and chatctl.
//!
//! Ages are measured by the purge job against its own clock, which the
//! test hook `Config::retention_clock` moves 40 days ahead: messages sent
//! during the test are then 40 days old to the purge, and messages
//! imported with a time 35 days ahead are 5 days old.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use super::ctl_support::{Ctl, args, expect, json_lines, ok};
use chat_client::{ClientError, Connection};
use chat_e2e::{TestServer, WAIT, catch_up, public_room, spawn_server, spawn_server_with};
use chat_protocol::{
    ErrorCode, HistoryAnchor, IdempotencyKey, Keep, PolicySource, RetentionScope, RoomEvent,
    RoomEventKind, RoomId, Seq, Timestamp,
};
use chatd::retention::RetentionClock;
use std::path::{Path, PathBuf};

const DAY_MS: u64 = 86_400_000;

fn key() -> IdempotencyKey {
    IdempotencyKey(ulid::Ulid::new().to_string())
}

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::Server(b)) => b.code,
        other => panic!("expected a server refusal, got {other:?}"),
    }
}

/// A server whose purge job runs 40 days ahead of the wall clock.
async fn server_40_days_ahead() -> (TestServer, RetentionClock) {
    let clock = RetentionClock::default();
    clock.advance_days(40);
    let c = clock.clone();
    let server = spawn_server_with(move |cfg| cfg.retention_clock = Some(c)).await;
    (server, clock)
}

/// Every event of `room` through `conn`'s history, oldest first.
async fn all_events(conn: &Connection, room: RoomId, audit: bool) -> Vec<RoomEvent> {
    let mut out: Vec<RoomEvent> = Vec::new();
    let mut after = Seq(0);
    loop {
        let page = if audit {
            conn.history_audit(room, HistoryAnchor::After(after), 100)
                .await
        } else {
            conn.history(room, HistoryAnchor::After(after), 100).await
        }
        .expect("history");
        let Some(last) = page.events.last() else {
            break;
        };
        after = last.seq;
        out.extend(page.events);
        if !page.has_more {
            break;
        }
    }
    out
}

/// Asserts seqs are 1, 2, ... with no gap and no repeat.
fn assert_gapless(events: &[RoomEvent]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, Seq(i as u64 + 1), "seq {} at position {i}", e.seq);
    }
}

fn event_at(events: &[RoomEvent], seq: Seq) -> &RoomEvent {
    events.iter().find(|e| e.seq == seq).expect("event present")
}

fn is_message_stub(e: &RoomEvent) -> bool {
    matches!(e.kind, RoomEventKind::Purged { edit_of: None, .. })
}

fn text_of(e: &RoomEvent) -> Option<&str> {
    match &e.kind {
        RoomEventKind::Message(m) => Some(&m.text),
        _ => None,
    }
}

/// Every blob file under `data`.
fn blobs(data: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&data.join("files/blobs"), &mut out);
    out
}

/// Uploads a small file with `content` to `room` and sends it with `text`.
async fn send_with_file(conn: &Connection, room: RoomId, content: &str, text: &str) -> Seq {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.txt");
    std::fs::write(&path, content).unwrap();
    let up = conn
        .upload_path(room, &path, Some("text/plain"), |_, _| {})
        .await
        .expect("upload");
    conn.send_with_attachments(room, key(), text, None, vec![up.attachment.id])
        .await
        .expect("send with file")
        .seq
}

async fn send(conn: &Connection, room: RoomId, text: &str) -> Seq {
    conn.send(room, key(), text, None).await.expect("send").seq
}

async fn search_hits(admin: &Connection, text: &str) -> usize {
    let mut q = chat_protocol::SearchQuery::new(text, 50);
    q.audit = true;
    admin.search(q).await.expect("search").hits.len()
}

/// The Done-when case: a room policy (30 days) beats its organisation's
/// (365 days), an organisation's policy purges a room without its own, a
/// held room keeps everything; exactly the messages past the limit lose
/// their text, edit versions, files (records and blobs) and search
/// documents; the seqs stay gapless in history and catch-up for members
/// and admins alike; the pass is in the audit trail; a retried send is
/// still answered with its ack; and all of it survives a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_purges_exactly_the_old_messages_and_keeps_held_rooms_and_gapless_seqs() {
    let (mut server, _clock) = server_40_days_ahead().await;
    let admin = server.admin().await;
    let (ana, _) = server.user_in_org("ana", "Ward 7").await;
    let (bob, _) = server.user_in_org("bob", "Ward 9").await;
    let purge_now = Timestamp::now().0 + 40 * DAY_MS;
    let five_days_old = Timestamp(purge_now - 5 * DAY_MS);

    // Room `limited` (ana, Ward 7): room policy 30 days, org policy 365.
    let limited = public_room(&ana, "limited").await;
    bob.join_room(limited).await.unwrap();
    let m1 = send_with_file(&ana, limited, "zebra file body", "zebra crossing plan").await;
    ana.edit(limited, m1, "zebra crossing plan v2")
        .await
        .unwrap();
    ana.edit(limited, m1, "zebra crossing plan v3")
        .await
        .unwrap();
    bob.react(limited, m1, "👍").await.unwrap();
    let m2_key = key();
    let m2 = ana
        .send(limited, m2_key.clone(), "quagga note", None)
        .await
        .unwrap()
        .seq;
    let m3 = send(&bob, limited, "okapi to be deleted").await;
    bob.delete(limited, m3).await.unwrap();
    let y1 = admin
        .import(limited, "ana", five_days_old, key(), "young narwhal one")
        .await
        .unwrap()
        .seq;
    let y2 = admin
        .import(limited, "bob", five_days_old, key(), "young narwhal two")
        .await
        .unwrap()
        .seq;

    // Room `held` (ana): 30 days too, but under a legal hold.
    let held = public_room(&ana, "held").await;
    bob.join_room(held).await.unwrap();
    let h1 = send_with_file(&ana, held, "held file body", "zebra in held room").await;
    ana.edit(held, h1, "zebra in held room v2").await.unwrap();

    // Room `ward9` (bob, Ward 9): no room policy; Ward 9 keeps 30 days.
    let ward9 = public_room(&bob, "ward9").await;
    let w1 = send(&bob, ward9, "ward nine old").await;

    // Room `ward7` (ana, Ward 7): no room policy; Ward 7 keeps 365 days.
    let ward7 = public_room(&ana, "ward7").await;
    let s1 = send(&ana, ward7, "ward seven old").await;

    for room in [limited, held] {
        admin
            .set_retention(RetentionScope::Room(room), Some(Keep::Days(30)))
            .await
            .unwrap();
    }
    admin
        .set_legal_hold(RetentionScope::Room(held), true, "case 2026-114")
        .await
        .unwrap();
    admin
        .set_retention(RetentionScope::Org("ward 7".into()), Some(Keep::Days(365)))
        .await
        .unwrap();
    admin
        .set_retention(RetentionScope::Org("WARD 9".into()), Some(Keep::Days(30)))
        .await
        .unwrap();
    assert_eq!(
        search_hits(&admin, "zebra").await,
        2,
        "indexed before the purge"
    );
    // m1, m2, y1, y2, h1, w1, s1 (m3 is deleted: no document).
    assert_eq!(admin.search_status().await.unwrap().documents, 7);
    let blobs_before = blobs(&server.config.data_dir).len();
    assert_eq!(blobs_before, 2);

    let report = admin.purge_now().await.unwrap();
    let by_room = |r: RoomId| report.rooms.iter().find(|p| p.room == r);
    let lim = by_room(limited).expect("limited purged");
    assert_eq!((lim.first, lim.last), (m1, m3));
    assert_eq!((lim.messages, lim.versions, lim.files), (3, 2, 1));
    let w9 = by_room(ward9).expect("ward9 purged by its organisation's policy");
    assert_eq!((w9.first, w9.last, w9.messages), (w1, w1, 1));
    assert!(by_room(held).is_none(), "the legal hold wins");
    assert!(
        by_room(ward7).is_none(),
        "365 days keeps a 40-day-old message"
    );
    assert_eq!(report.messages(), 4);

    // A second pass finds nothing more.
    assert_eq!(admin.purge_now().await.unwrap().messages(), 0);

    let ids = Ids {
        limited,
        held,
        ward7,
        m: [m1, m2, m3],
        y: [y1, y2],
        h1,
        s1,
        m2_key,
    };
    check_purged(&server, &ids, "before restart").await;
    server.restart().await;
    check_purged(&server, &ids, "after restart").await;

    // The purge is in the audit trail, one record per room, with the range.
    let admin = server.admin().await;
    let log = admin.moderation_log(Some(limited), 100).await.unwrap();
    let purges: Vec<_> = log
        .iter()
        .filter(|r| r.action == "retention-purge")
        .collect();
    assert_eq!(purges.len(), 1, "{log:?}");
    let reason = &purges[0].reason;
    assert!(
        reason.contains(&format!("purged 3 messages, seq {}..={}", m1.0, m3.0)),
        "{reason}"
    );
    assert!(reason.contains("room policy of 30 days"), "{reason}");
    assert_eq!(
        purges[0].actor.username, "admin",
        "PurgeNow records its admin"
    );
    let all = admin.moderation_log(None, 200).await.unwrap();
    assert!(
        all.iter()
            .any(|r| r.action == "legal-hold" && r.reason == "case 2026-114")
    );
    assert!(
        all.iter()
            .any(|r| r.action == "retention-set" && r.reason.contains("organisation \"WARD 9\""))
    );
    let w9_log = admin.moderation_log(Some(ward9), 100).await.unwrap();
    assert!(
        w9_log.iter().any(|r| r.action == "retention-purge"
            && r.reason.contains("organisation policy of 30 days"))
    );
}

/// What [`check_purged`] looks at.
struct Ids {
    limited: RoomId,
    held: RoomId,
    ward7: RoomId,
    /// The old messages of `limited`: with a file and two edits, plain
    /// (sent with `m2_key`), deleted.
    m: [Seq; 3],
    /// The young (5-day-old) messages of `limited`.
    y: [Seq; 2],
    /// The held room's message.
    h1: Seq,
    /// ward7's message.
    s1: Seq,
    m2_key: IdempotencyKey,
}

/// Waits until an audit search for `text` finds `want` hits (the index
/// drops purged documents after the purge's commit).
async fn wait_hits(admin: &Connection, text: &str, want: usize, round: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let n = search_hits(admin, text).await;
        if n == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{round}: search for {text:?} finds {n}, not {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Everything the Done-when test checks after the purge, with fresh
/// connections (so it runs again after a restart).
async fn check_purged(server: &TestServer, ids: &Ids, round: &str) {
    let admin = server.admin().await;
    let (ana, _) = server.login("ana").await;
    let (bob, _) = server.login("bob").await;
    let [m1, m2, m3] = ids.m;
    let limited = ids.limited;
    // Members and admins (audit) see the same stubs, gapless.
    for (who, conn, audit) in [("member", &bob, false), ("admin", &admin, true)] {
        let events = all_events(conn, limited, audit).await;
        assert_gapless(&events);
        for seq in ids.m {
            let e = event_at(&events, seq);
            assert!(is_message_stub(e), "{round}, {who}: {seq} is a stub: {e:?}");
            assert_eq!(e.sender.username, if seq == m3 { "bob" } else { "ana" });
        }
        let edits = events
            .iter()
            .filter(|e| matches!(e.kind, RoomEventKind::Purged { edit_of: Some(t), .. } if t == m1))
            .count();
        assert_eq!(edits, 2, "{round}, {who}: both edits are stubs");
        assert!(
            !events
                .iter()
                .any(|e| matches!(&e.kind, RoomEventKind::Edited { .. })),
            "{round}, {who}: no edit text left"
        );
        assert_eq!(
            text_of(event_at(&events, ids.y[0])),
            Some("young narwhal one")
        );
        assert_eq!(
            text_of(event_at(&events, ids.y[1])),
            Some("young narwhal two")
        );
        let held_events = all_events(conn, ids.held, audit).await;
        assert_eq!(
            text_of(event_at(&held_events, ids.h1)),
            Some("zebra in held room v2"),
            "{round}, {who}: the held room keeps its text"
        );
    }
    // Catch-up replays the same stubs with no gap.
    let mut stream = bob.subscribe(limited, Seq(0)).await.unwrap();
    let (events, head) = catch_up(&mut stream).await;
    assert_gapless(&events);
    assert_eq!(events.last().unwrap().seq, head);
    assert!(is_message_stub(event_at(&events, m1)));
    drop(stream);

    // The admin's message audit has no versions left; the held one has.
    let audit = admin.message_audit(limited, m1).await.unwrap();
    assert!(audit.versions.is_empty(), "{round}: {audit:?}");
    assert!(matches!(audit.event.kind, RoomEventKind::Purged { .. }));
    let held_audit = admin.message_audit(ids.held, ids.h1).await.unwrap();
    assert_eq!(held_audit.versions.len(), 2, "{round}: original and edit");
    // Editing a purged message is refused as not found.
    assert_eq!(
        code(ana.edit(limited, m2, "again").await),
        ErrorCode::NotFound
    );

    // Files: the purged one is gone (record and blob), the held one stays.
    assert!(bob.list_files(limited).await.unwrap().is_empty());
    assert_eq!(bob.list_files(ids.held).await.unwrap().len(), 1);
    assert_eq!(blobs(&server.config.data_dir).len(), 1, "{round}");

    // The index itself dropped the purged documents (searches also
    // re-read hits from the store, so they alone would not show it).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let docs = admin.search_status().await.unwrap().documents;
        if docs == 4 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{round}: the index holds {docs} documents, not 4"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Search: only the held room's zebra is left.
    wait_hits(&admin, "zebra", 1, round).await;
    wait_hits(&admin, "quagga", 0, round).await;
    wait_hits(&admin, "narwhal", 2, round).await;

    // ward7 is untouched.
    let w7 = all_events(&ana, ids.ward7, false).await;
    assert_eq!(text_of(event_at(&w7, ids.s1)), Some("ward seven old"));

    // A retried send with the purged message's key gets its ack back.
    let again = ana
        .send(limited, ids.m2_key.clone(), "quagga note", None)
        .await
        .unwrap();
    assert!(again.duplicate, "{round}");
    assert_eq!(again.seq, m2);
}

/// Every retention request is for server admins only: an ordinary user
/// (even the room's owner) is refused `Forbidden` and nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_requests_are_refused_to_non_admins() {
    let (server, _clock) = server_40_days_ahead().await;
    let admin = server.admin().await;
    let (ana, _) = server.user_in_org("ana", "Ward 7").await;
    let room = public_room(&ana, "mine").await;
    send(&ana, room, "old").await;
    let scope = RetentionScope::Room(room);
    let org = RetentionScope::Org("Ward 7".into());
    assert_eq!(
        code(ana.set_retention(scope.clone(), Some(Keep::Days(1))).await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(ana.set_retention(org.clone(), Some(Keep::Days(1))).await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(ana.set_legal_hold(scope.clone(), true, "mine").await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(ana.get_retention(scope.clone()).await),
        ErrorCode::Forbidden
    );
    assert_eq!(code(ana.list_retention().await), ErrorCode::Forbidden);
    assert_eq!(code(ana.purge_now().await), ErrorCode::Forbidden);
    assert!(
        admin.list_retention().await.unwrap().is_empty(),
        "nothing was stored"
    );
    // Bad input from an admin gets a clear refusal.
    assert_eq!(
        code(
            admin
                .set_retention(scope.clone(), Some(Keep::Days(0)))
                .await
        ),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code(admin.set_legal_hold(scope, true, "  ").await),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code(
            admin
                .set_retention(RetentionScope::Room(RoomId(999)), Some(Keep::Forever))
                .await
        ),
        ErrorCode::NotFound
    );
}

/// The order that decides a room's policy, as `GetRetention` reports it:
/// nothing set → default (forever); org period → org; room period beats
/// it → room; `--forever` on the room beats an org period; an org hold
/// beats both periods; a room hold beats everything; releasing the holds
/// returns to the room period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn effective_policy_order_hold_room_org_default() {
    let server = spawn_server().await;
    let admin = server.admin().await;
    let (ana, _) = server.user_in_org("ana", "ICU").await;
    let room = public_room(&ana, "icu-night").await;
    let r = RetentionScope::Room(room);
    let o = RetentionScope::Org("icu".into());
    let eff = |admin: Connection, r: RetentionScope| async move {
        let e = admin.get_retention(r).await.unwrap().effective.unwrap();
        (e.keep, e.held, e.source)
    };
    assert_eq!(
        eff(admin.clone(), r.clone()).await,
        (Keep::Forever, false, PolicySource::Default)
    );
    admin
        .set_retention(o.clone(), Some(Keep::Days(90)))
        .await
        .unwrap();
    assert_eq!(
        eff(admin.clone(), r.clone()).await,
        (Keep::Days(90), false, PolicySource::Org)
    );
    admin
        .set_retention(r.clone(), Some(Keep::Days(30)))
        .await
        .unwrap();
    assert_eq!(
        eff(admin.clone(), r.clone()).await,
        (Keep::Days(30), false, PolicySource::Room)
    );
    admin
        .set_retention(r.clone(), Some(Keep::Forever))
        .await
        .unwrap();
    assert_eq!(
        eff(admin.clone(), r.clone()).await,
        (Keep::Forever, false, PolicySource::Room)
    );
    admin
        .set_retention(r.clone(), Some(Keep::Days(30)))
        .await
        .unwrap();
    admin
        .set_legal_hold(o.clone(), true, "audit 9")
        .await
        .unwrap();
    assert_eq!(
        eff(admin.clone(), r.clone()).await,
        (Keep::Forever, true, PolicySource::OrgHold)
    );
    admin
        .set_legal_hold(r.clone(), true, "case 1")
        .await
        .unwrap();
    assert_eq!(
        eff(admin.clone(), r.clone()).await,
        (Keep::Forever, true, PolicySource::RoomHold)
    );
    admin.set_legal_hold(r.clone(), false, "").await.unwrap();
    admin
        .set_legal_hold(o.clone(), false, "closed")
        .await
        .unwrap();
    assert_eq!(
        eff(admin.clone(), r.clone()).await,
        (Keep::Days(30), false, PolicySource::Room)
    );
    admin.set_retention(r.clone(), None).await.unwrap();
    let info = admin.get_retention(r).await.unwrap();
    assert_eq!(info.setting.keep, None);
    assert_eq!(info.effective.unwrap().source, PolicySource::Org);
    assert_eq!(info.org.unwrap().scope, RetentionScope::Org("icu".into()));
}

/// Without any request, the periodic job purges in bounded batches (two
/// messages per transaction here), one audit record per batch, and the
/// metrics counter counts the purged messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_job_purges_in_bounded_batches() {
    let clock = RetentionClock::default();
    clock.advance_days(40);
    let c = clock.clone();
    let server = spawn_server_with(move |cfg| {
        cfg.retention_clock = Some(c);
        cfg.retention.interval_ms = 50;
        cfg.retention.batch = 2;
        cfg.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await;
    let admin = server.admin().await;
    let (ana, _) = server.user("ana").await;
    let room = public_room(&ana, "busy").await;
    let mut seqs = Vec::new();
    for i in 0..5 {
        seqs.push(send(&ana, room, &format!("old {i}")).await);
    }
    admin
        .set_retention(RetentionScope::Room(room), Some(Keep::Days(7)))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let events = all_events(&ana, room, false).await;
        if seqs.iter().all(|s| is_message_stub(event_at(&events, *s))) {
            assert_gapless(&events);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not purged: {events:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let log = admin.moderation_log(Some(room), 100).await.unwrap();
    let purges: Vec<_> = log
        .iter()
        .filter(|r| r.action == "retention-purge")
        .collect();
    assert_eq!(purges.len(), 3, "5 messages in batches of 2: {purges:?}");
    assert!(purges.iter().all(|r| r.actor.username == "chatd"));
    let scrape = super::metrics::scrape(server.metrics_addr.expect("metrics listener")).await;
    assert_eq!(
        super::metrics::value(&scrape, "chatd_retention_purged_messages_total", &[]),
        5.0
    );
}

/// `chatctl retention set|hold|release|show|purge` with --json, and the
/// exit codes of the one table: 4 for a non-admin, 3 for an unknown
/// room, 2 for a bad period or a hold without a reason. The purge shows
/// in `chatctl history` as a stub line and in `--json` as `type: purged`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chatctl_sets_holds_shows_and_purges() {
    let (server, _clock) = server_40_days_ahead().await;
    let ctl = Ctl::new(&server);
    let admin = server.admin().await;
    let (ana, _) = server.user_in_org("ana", "Lab").await;
    let room = public_room(&ana, "lab-notes").await;
    let old = send(&ana, room, "centrifuge log").await;
    let (_, secret) = admin.create_token("ana", "cli").await.unwrap();
    let ana_token = ctl.token_file("ana.token", &secret);

    let set = ok(args(
        ctl.admin(),
        &[
            "--json",
            "retention",
            "set",
            "--room",
            "lab-notes",
            "--days",
            "30",
        ],
    ))
    .await;
    let set = &json_lines(&set)[0];
    assert_eq!(set["scope"], "room");
    assert_eq!(set["room"], "lab-notes");
    assert_eq!(set["keep"], "days");
    assert_eq!(set["keep_days"], 30);
    assert_eq!(set["source"], "room");
    assert_eq!(set["room_org"], "Lab");

    let hold = ok(args(
        ctl.admin(),
        &[
            "--json",
            "retention",
            "hold",
            "--org",
            "lab",
            "--reason",
            "inspection 4",
        ],
    ))
    .await;
    let hold = &json_lines(&hold)[0];
    assert_eq!(
        (hold["scope"].as_str(), hold["hold"].as_bool()),
        (Some("org"), Some(true))
    );
    assert_eq!(hold["hold_reason"], "inspection 4");
    let show = ok(args(
        ctl.admin(),
        &["--json", "retention", "show", "--room", "lab-notes"],
    ))
    .await;
    let show = &json_lines(&show)[0];
    assert_eq!(
        (show["held"].as_bool(), show["source"].as_str()),
        (Some(true), Some("org_hold"))
    );
    let purge = ok(args(ctl.admin(), &["--json", "retention", "purge"])).await;
    assert_eq!(json_lines(&purge)[0]["messages"], 0, "held: {purge}");

    ok(args(ctl.admin(), &["retention", "release", "--org", "lab"])).await;
    let purge = ok(args(ctl.admin(), &["--json", "retention", "purge"])).await;
    let purge = &json_lines(&purge)[0];
    assert_eq!(purge["messages"], 1, "{purge}");
    assert_eq!(purge["rooms"][0]["room"], "lab-notes");
    assert_eq!(purge["rooms"][0]["first_seq"], old.0);

    let list = ok(args(ctl.admin(), &["--json", "retention", "show"])).await;
    let list = json_lines(&list);
    // The org's record went with its hold (nothing else was set there).
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["room"], "lab-notes");

    let history = ok(args(ctl.admin(), &["history", "lab-notes"])).await;
    assert!(
        history.contains("(message purged by the retention policy)"),
        "{history}"
    );
    let history = ok(args(ctl.admin(), &["--json", "history", "lab-notes"])).await;
    let purged = json_lines(&history)
        .into_iter()
        .find(|e| e["seq"] == old.0)
        .unwrap();
    assert_eq!(purged["type"], "purged");
    assert!(purged["purged_at"].as_str().unwrap().ends_with('Z'));

    // Exit codes.
    expect(
        args(ctl.with_token(&ana_token), &["retention", "show"]),
        None,
        4,
    )
    .await;
    expect(
        args(
            ctl.admin(),
            &["retention", "set", "--room", "nowhere", "--days", "3"],
        ),
        None,
        3,
    )
    .await;
    expect(
        args(
            ctl.admin(),
            &["retention", "set", "--org", "lab", "--days", "0"],
        ),
        None,
        2,
    )
    .await;
    expect(
        args(
            ctl.admin(),
            &["retention", "hold", "--org", "lab", "--reason", ""],
        ),
        None,
        2,
    )
    .await;
}

/// Figures, not a check (ignored by default): 20,000 messages purged by
/// one pass in batches of 500 while another member sends to another
/// room; prints the pass's time and the sends' latencies. Run with
/// `cargo test --release -p chat-e2e --test e2e retention_purge_figures -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run by hand"]
async fn retention_purge_figures() {
    use std::time::{Duration, Instant};
    let (server, _clock) = server_40_days_ahead().await;
    let admin = server.admin().await;
    let (ana, _) = server.user("ana").await;
    let room = public_room(&ana, "big").await;
    let n = 20_000u64;
    let start = Instant::now();
    let mut importers = Vec::new();
    for w in 0..8u64 {
        let admin = admin.clone();
        importers.push(tokio::spawn(async move {
            for i in 0..n / 8 {
                let ts = Timestamp(1_000 + w * n + i);
                admin
                    .import(room, "ana", ts, key(), "an old message to purge")
                    .await
                    .unwrap();
            }
        }));
    }
    for t in importers {
        t.await.unwrap();
    }
    eprintln!("imported {n} messages in {:?}", start.elapsed());
    admin
        .set_retention(RetentionScope::Room(room), Some(Keep::Days(30)))
        .await
        .unwrap();
    let live = public_room(&ana, "live").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let (stop, ana) = (stop.clone(), ana.clone());
        tokio::spawn(async move {
            let mut lat = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let t = Instant::now();
                ana.send(live, key(), "live", None).await.unwrap();
                lat.push(t.elapsed());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            lat
        })
    };
    let start = Instant::now();
    let report = admin.purge_now().await.unwrap();
    let took = start.elapsed();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut lat = sender.await.unwrap();
    lat.sort();
    assert_eq!(report.messages(), n);
    eprintln!(
        "purged {} messages in {took:?} ({:.0}/s); {} sends meanwhile: p50 {:?}, max {:?}",
        report.messages(),
        report.messages() as f64 / took.as_secs_f64(),
        lat.len(),
        lat[lat.len() / 2],
        lat[lat.len() - 1],
    );
}

/// A legal hold also keeps a deleted message's files: the file collector
/// removes them after its grace everywhere else, but not in a held room,
/// until the hold is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legal_hold_keeps_deleted_messages_files_from_the_collector() {
    // The grace also covers an upload not yet sent: 2 s is far more than
    // an upload-then-send takes here.
    let server = spawn_server_with(|cfg| {
        cfg.files.gc_grace_ms = 2_000;
        cfg.files.gc_interval_ms = 50;
    })
    .await;
    let admin = server.admin().await;
    let (ana, _) = server.user("ana").await;
    let held = public_room(&ana, "evidence").await;
    let other = public_room(&ana, "scratch").await;
    admin
        .set_legal_hold(RetentionScope::Room(held), true, "case 77")
        .await
        .unwrap();
    let kept = send_with_file(&ana, held, "evidence bytes", "the scan").await;
    let gone = send_with_file(&ana, other, "scratch bytes", "a draft").await;
    ana.delete(held, kept).await.unwrap();
    ana.delete(other, gone).await.unwrap();
    let data = server.config.data_dir.clone();
    let held_blob = blake3::hash(b"evidence bytes").to_hex().to_string();
    let wait_blobs = |want: usize| {
        let data = data.clone();
        async move {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let now = blobs(&data);
                if now.len() == want {
                    return now;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{} blobs, not {want}: {now:?}",
                    now.len()
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    // The collector ran past both deletions: the unheld file went.
    let left = wait_blobs(1).await;
    assert!(
        left[0].ends_with(&held_blob),
        "the held room's file stays: {left:?}"
    );
    admin
        .set_legal_hold(RetentionScope::Room(held), false, "case closed")
        .await
        .unwrap();
    wait_blobs(0).await;
}

/// A purge batch whose commit fails (every database write failing, as on
/// a failing disk) removes no file: the attachment record it would have
/// dropped is still there after the rollback, and so is its blob. Files
/// leave the blob store only in a later writer job, after the purge
/// committed. (Before, the purge job removed the blob before its commit,
/// and a failed commit left a record naming a file that was gone.)
#[tokio::test]
async fn a_purge_whose_commit_fails_removes_no_file() {
    chat_e2e::redb_only!(
        "the disk-fault hook fails redb's file writes; PostgreSQL outages are tested in e2e::pg_store"
    );
    let clock = RetentionClock::default();
    clock.advance_days(40);
    let fault = chatd::store::fault::DiskFault::default();
    let (c, f) = (clock.clone(), fault.clone());
    let server = spawn_server_with(move |cfg| {
        cfg.retention_clock = Some(c);
        cfg.disk_fault = Some(f);
    })
    .await;
    let data = server.config.data_dir.clone();
    let admin = server.admin().await;
    let room = public_room(&admin, "scans").await;
    send_with_file(&admin, room, "scan bytes", "the scan").await;
    admin
        .set_retention(RetentionScope::Room(room), Some(Keep::Days(30)))
        .await
        .unwrap();
    assert_eq!(blobs(&data).len(), 1);

    fault.set_failing(true);
    let err = admin
        .purge_now()
        .await
        .expect_err("the purge cannot commit");
    assert_eq!(err.code(), Some(ErrorCode::Unavailable), "{err}");
    assert_eq!(
        blobs(&data).len(),
        1,
        "a purge that did not commit removed the file its record still names"
    );

    fault.set_failing(false);
    let deadline = std::time::Instant::now() + WAIT;
    let report = loop {
        match admin.purge_now().await {
            Ok(r) => break r,
            Err(e)
                if e.code() == Some(ErrorCode::Unavailable)
                    && std::time::Instant::now() < deadline =>
            {
                // The store reopens itself with backoff; ask again shortly.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the purge never worked again: {e}"),
        }
    };
    assert_eq!(report.messages(), 1, "{report:?}");
    assert!(
        blobs(&data).is_empty(),
        "once the purge committed, its file is removed"
    );
}
