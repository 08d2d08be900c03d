//! Races that must not leave rights or deliveries behind (issue 17,
//! findings 4, 5 and 7), each run many times, bounded in count and time:
//! a subscribe racing a kick never outlives the membership, a subscribe
//! racing the room's last unsubscribe never misses an event, and a client
//! that goes away while its login is hashing never stays online.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use chat_client::{Connection, RoomStream, StreamEnd};
use chat_e2e::{
    PASSWORD, TestServer, WAIT, catch_up, next_event, public_room, spawn_server, spawn_server_with,
    wait_user_event,
};
use chat_protocol::{
    ErrorCode, IdempotencyKey, ModAction, Presence, RequestBody, RoomEventKind, RoomFrame, Seq,
    UserEvent,
};
use std::time::Duration;

/// A server whose send rate limit does not slow down a test that sends a
/// message per round.
async fn unthrottled() -> TestServer {
    spawn_server_with(|c| {
        c.limits.send_rate_per_sec = 10_000;
        c.limits.send_burst = 10_000;
        c.limits.write_rate_per_sec = 10_000;
        c.limits.write_burst = 10_000;
    })
    .await
}

/// Reads `stream` to its end and returns how it ended.
async fn end_of(stream: &mut RoomStream) -> Result<Option<RoomFrame>, StreamEnd> {
    loop {
        match tokio::time::timeout(WAIT, stream.next()).await {
            Ok(Ok(Some(_))) => continue,
            Ok(other) => return other,
            Err(_) => panic!("a kicked member's room stream was still open after {WAIT:?}"),
        }
    }
}

/// Eight connections of one member subscribe again and again while an
/// admin kicks the member, 25 times, so that subscribes straddle the kick's
/// commit: every subscription is refused, replaced by the connection's next
/// one, or ends with `Revoked`; none stays live after the kick.
#[tokio::test]
async fn subscribe_racing_kick_never_outlives_membership() {
    let server = unthrottled().await;
    let (owner, _) = server.user("owner").await;
    server.user("bob").await;
    let room = public_room(&owner, "ward-1").await;
    let mut bobs = Vec::new();
    for _ in 0..8 {
        bobs.push(server.login("bob").await.0);
    }
    let (mut revoked, mut refused, mut replaced) = (0, 0, 0);
    for round in 0..25 {
        bobs[0].join_room(room).await.unwrap();
        let head = owner
            .send(
                room,
                IdempotencyKey::random(),
                &format!("round {round}"),
                None,
            )
            .await
            .unwrap()
            .seq;
        let kicked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let subscribers: Vec<_> = bobs
            .iter()
            .cloned()
            .map(|b| {
                let kicked = kicked.clone();
                tokio::spawn(async move {
                    let mut streams = Vec::new();
                    let mut refusals = Vec::new();
                    // Subscribe until one attempt starts after the kick
                    // was acknowledged; that one must be refused.
                    loop {
                        let after_kick = kicked.load(std::sync::atomic::Ordering::SeqCst);
                        match b.subscribe(room, head).await {
                            Ok(s) => streams.push(s),
                            Err(e) => refusals.push(e),
                        }
                        if after_kick {
                            break;
                        }
                    }
                    (streams, refusals)
                })
            })
            .collect();
        owner
            .moderate(
                room,
                ModAction::Kick {
                    username: "bob".into(),
                },
                "",
            )
            .await
            .unwrap();
        kicked.store(true, std::sync::atomic::Ordering::SeqCst);
        for task in subscribers {
            let (streams, refusals) = task.await.unwrap();
            for e in refusals {
                assert_eq!(e.code(), Some(ErrorCode::NotFound), "round {round}: {e}");
                refused += 1;
            }
            let last = streams.len().saturating_sub(1);
            for (i, mut stream) in streams.into_iter().enumerate() {
                match end_of(&mut stream).await {
                    Err(StreamEnd::Revoked) => revoked += 1,
                    // Replaced by the same connection's next subscribe.
                    Err(StreamEnd::Unsubscribed) if i < last => replaced += 1,
                    other => panic!("round {round}: stream {i} of {last} ended {other:?}"),
                }
            }
        }
    }
    eprintln!("subscribe vs kick: {revoked} revoked, {replaced} replaced, {refused} refused");
}

/// The room's only subscriber unsubscribes while another connection
/// subscribes, 40 times: the new subscriber receives the next message
/// every time (no subscriber lands in an orphaned hub slot).
///
/// The hub's subscribe and remove are synchronous, so they can only race on
/// a runtime with several worker threads; chatd's test hook
/// `Config::fanout_join_delay` stalls each subscribe for 30 ms between
/// finding the room's slot and joining it, so the unsubscribe sent at the
/// same moment lands inside that window. With a hub that finds the slot
/// and joins it under separate locks, the last unsubscribe removes the
/// slot during the stall and this test fails in its first rounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscribe_racing_the_last_unsubscribe_never_misses_an_event() {
    let server = spawn_server_with(|c| {
        c.limits.send_rate_per_sec = 10_000;
        c.limits.send_burst = 10_000;
        c.fanout_join_delay = Some(Duration::from_millis(30));
    })
    .await;
    let (owner, _) = server.user("owner").await;
    let room = public_room(&owner, "ward-4").await;
    let a = server.login("owner").await.0;
    let b = server.login("owner").await.0;
    let mut leaving: (Connection, RoomStream) = {
        let s = a.subscribe(room, Seq(0)).await.unwrap();
        (a, s)
    };
    let mut joining = b;
    for round in 0..40 {
        let head = owner
            .send(
                room,
                IdempotencyKey::random(),
                &format!("before {round}"),
                None,
            )
            .await
            .unwrap()
            .seq;
        let (left, joined) =
            tokio::join!(leaving.0.unsubscribe(room), joining.subscribe(room, head));
        left.unwrap();
        let mut stream = joined.unwrap();
        catch_up(&mut stream).await;
        let text = format!("after {round}");
        owner
            .send(room, IdempotencyKey::random(), &text, None)
            .await
            .unwrap();
        let ev = next_event(&mut stream).await;
        assert!(
            matches!(&ev.kind, RoomEventKind::Message(m) if m.text == text),
            "round {round}: {ev:?}"
        );
        let next_joining = leaving.0;
        leaving = (joining, stream);
        joining = next_joining;
    }
}

/// Sends `Login` and, once a `Ping` sent after it is answered (so the
/// server has read the login and is hashing the password), closes the
/// connection.
async fn login_then_vanish(conn: &Connection) {
    let login = conn.request(RequestBody::Login {
        username: "alice".into(),
        password: PASSWORD.into(),
    });
    tokio::pin!(login);
    // One poll queues the frame; the answer is never awaited.
    tokio::select! {
        biased;
        _ = &mut login => panic!("the login answered before it was even sent"),
        () = std::future::ready(()) => {}
    }
    conn.ping().await.unwrap();
    conn.close("gone");
}

/// A client that closes while its login is still hashing leaves no session
/// and no presence behind: alice's real session ending takes her offline.
#[tokio::test]
async fn closing_during_login_never_leaves_the_user_online() {
    let server = spawn_server().await;
    let admin = server.admin().await;
    let (bob, _) = server.user("bob").await;
    admin
        .create_user("alice", Some(PASSWORD), "", "", false)
        .await
        .unwrap();
    let room = public_room(&bob, "ward-8").await;
    bob.add_member(room, "alice").await.unwrap();
    let mut events = bob.user_events().await.unwrap();
    let baseline = admin.server_stats().await.unwrap().sessions;
    for _ in 0..3 {
        let ghost = server.connect().await;
        login_then_vanish(&ghost).await;
    }
    // The real session starts after every ghost login was read, so its
    // hashing ends after theirs (same cost, started later).
    let (alice, _) = server.login("alice").await;
    alice.shutdown("done").await;
    wait_user_event(&mut events, |e| {
        matches!(e, UserEvent::Presence(p) if p.user.username == "alice" && p.presence == Presence::Offline)
    })
    .await;
    assert_eq!(admin.server_stats().await.unwrap().sessions, baseline);
    let seen = bob.presence(&["alice"]).await.unwrap();
    assert_eq!(seen[0].presence, Presence::Offline);
}
