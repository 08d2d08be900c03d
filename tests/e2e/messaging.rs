//! Ordered, durable, real-time messaging: same order for all, catch-up
//! after an absence, idempotent retries.

use chat_e2e::{catch_up, next_event, public_room, spawn_server, spawn_server_with, texts};
use chat_protocol::{IdempotencyKey, RoomEventKind, Seq};
use std::collections::HashSet;

#[tokio::test]
async fn three_clients_sending_concurrently_see_one_order() {
    let server = spawn_server().await;
    let (a, _) = server.user("alice").await;
    let (b, _) = server.user("bob").await;
    let (c, _) = server.user("carol").await;
    let room = public_room(&a, "triage").await;
    b.join_room(room).await.expect("join");
    c.join_room(room).await.expect("join");
    let head = a
        .history(room, chat_protocol::HistoryAnchor::Latest, 1)
        .await
        .expect("head")
        .head;

    let mut streams = Vec::new();
    for conn in [&a, &b, &c] {
        let mut s = conn.subscribe(room, head).await.expect("subscribe");
        catch_up(&mut s).await;
        streams.push(s);
    }
    const EACH: usize = 40;
    let senders = [
        ("alice", a.clone()),
        ("bob", b.clone()),
        ("carol", c.clone()),
    ]
    .map(|(name, conn)| {
        tokio::spawn(async move {
            for i in 0..EACH {
                conn.send(room, IdempotencyKey::random(), &format!("{name} {i}"), None)
                    .await
                    .expect("send");
            }
        })
    });
    let mut orders = Vec::new();
    for s in &mut streams {
        let mut seen = Vec::new();
        while seen.len() < 3 * EACH {
            let ev = next_event(s).await;
            if let RoomEventKind::Message(m) = &ev.kind {
                seen.push((ev.seq, m.text.clone()));
            }
        }
        orders.push(seen);
    }
    for t in senders {
        t.await.expect("sender");
    }
    assert_eq!(orders[0], orders[1]);
    assert_eq!(orders[1], orders[2]);
    // Consecutive sequence numbers, every message once, each sender's own
    // messages in the order sent.
    let seqs: Vec<u64> = orders[0].iter().map(|(s, _)| s.0).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    let unique: HashSet<_> = orders[0].iter().map(|(_, t)| t.clone()).collect();
    assert_eq!(unique.len(), 3 * EACH);
    for name in ["alice", "bob", "carol"] {
        let mine: Vec<_> = orders[0]
            .iter()
            .filter(|(_, t)| t.starts_with(name))
            .map(|(_, t)| t.clone())
            .collect();
        let sent: Vec<_> = (0..EACH).map(|i| format!("{name} {i}")).collect();
        assert_eq!(mine, sent);
    }
}

#[tokio::test]
async fn reconnecting_client_catches_up_exactly_what_it_missed_then_goes_live() {
    let server = spawn_server_with(|c| c.limits.send_burst = 1000).await;
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let room = public_room(&alice, "handover").await;
    bob.join_room(room).await.expect("join");

    let mut s = bob.subscribe(room, Seq(0)).await.expect("subscribe");
    let (_, head) = catch_up(&mut s).await;
    alice
        .send(room, IdempotencyKey::random(), "seen live", None)
        .await
        .expect("send");
    let last = next_event(&mut s).await.seq;
    assert_eq!(last, head.next());
    drop(s);
    drop(bob);

    for i in 0..100 {
        alice
            .send(room, IdempotencyKey::random(), &format!("missed {i}"), None)
            .await
            .expect("send");
    }
    let (bob, _) = server.login("bob").await;
    let mut s = bob.subscribe(room, last).await.expect("resubscribe");
    // Live sends race the catch-up on purpose.
    let live = {
        let alice = alice.clone();
        tokio::spawn(async move {
            for i in 0..20 {
                alice
                    .send(room, IdempotencyKey::random(), &format!("live {i}"), None)
                    .await
                    .expect("send");
            }
        })
    };
    let mut got = Vec::new();
    let mut expect_seq = last.next();
    while got.len() < 120 {
        let ev = next_event(&mut s).await;
        assert_eq!(ev.seq, expect_seq, "no gap, no duplicate");
        expect_seq = expect_seq.next();
        got.push(ev);
    }
    live.await.expect("live sender");
    let got = texts(&got);
    let missed: Vec<String> = (0..100).map(|i| format!("missed {i}")).collect();
    let lives: Vec<String> = (0..20).map(|i| format!("live {i}")).collect();
    assert_eq!(got[..100], missed[..]);
    assert_eq!(got[100..], lives[..]);
}

#[tokio::test]
async fn retried_idempotency_key_stores_one_message_across_restart() {
    let mut server = spawn_server().await;
    let (alice, _) = server.user("alice").await;
    let room = public_room(&alice, "pharmacy").await;
    let key = IdempotencyKey("order-7741".into());
    let first = alice
        .send(room, key.clone(), "2 units O-neg to theatre 4", None)
        .await
        .expect("send");
    assert!(!first.duplicate);
    let again = alice
        .send(room, key.clone(), "2 units O-neg to theatre 4", None)
        .await
        .expect("retry");
    assert!(again.duplicate);
    assert_eq!((again.seq, again.id), (first.seq, first.id));

    server.restart().await;
    let (alice, _) = server.login("alice").await;
    let after = alice
        .send(room, key.clone(), "2 units O-neg to theatre 4", None)
        .await
        .expect("retry after restart");
    assert!(after.duplicate);
    assert_eq!((after.seq, after.id), (first.seq, first.id));
    let page = alice
        .history(room, chat_protocol::HistoryAnchor::Latest, 100)
        .await
        .expect("history");
    assert_eq!(texts(&page.events), ["2 units O-neg to theatre 4"]);

    // The same key from another user is a different message.
    let (bob, _) = server.user("bob").await;
    bob.join_room(room).await.expect("join");
    let theirs = bob.send(room, key, "ack", None).await.expect("bob send");
    assert!(!theirs.duplicate);
}
