//! Slow subscribers: a stalled reader is cut off as "lagged" without
//! holding up the writer or the other members, and loses nothing.

use chat_client::StreamEnd;
use chat_e2e::{catch_up, next_event, public_room, spawn_server_with};
use chat_protocol::{IdempotencyKey, RoomFrame, Seq};

#[tokio::test]
async fn stalled_subscriber_lags_while_others_keep_receiving() {
    let server = spawn_server_with(|c| {
        c.limits.subscriber_queue = 16;
        c.limits.send_rate_per_sec = 100_000;
        c.limits.send_burst = 100_000;
    })
    .await;
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let (carol, _) = server.user("carol").await;
    let room = public_room(&alice, "imaging").await;
    bob.join_room(room).await.expect("join");
    carol.join_room(room).await.expect("join");
    let head = alice
        .history(room, chat_protocol::HistoryAnchor::Latest, 1)
        .await
        .expect("head")
        .head;

    let mut stalled = bob.subscribe(room, head).await.expect("bob subscribes");
    let mut live = carol.subscribe(room, head).await.expect("carol subscribes");
    catch_up(&mut live).await;

    // Enough bytes to fill bob's client buffer, QUIC's stream window and
    // his server queue: 600 messages of 15 KiB is about 9 MiB.
    const N: usize = 600;
    let body = "x".repeat(15 * 1024);
    let sender = {
        let alice = alice.clone();
        tokio::spawn(async move {
            for i in 0..N {
                alice
                    .send(room, IdempotencyKey::random(), &format!("{i} {body}"), None)
                    .await
                    .expect("send");
            }
        })
    };
    // Carol reads everything while bob reads nothing.
    let mut last = head;
    for _ in 0..N {
        let ev = next_event(&mut live).await;
        assert_eq!(ev.seq, last.next());
        last = ev.seq;
    }
    sender
        .await
        .expect("sender finished: the writer was never held up");

    // Bob now drains what was buffered and finds the lagged reset.
    let mut bob_last = head;
    let end = loop {
        match tokio::time::timeout(chat_e2e::WAIT, stalled.next())
            .await
            .expect("in time")
        {
            Ok(Some(RoomFrame::Event(e))) => {
                assert_eq!(e.seq, bob_last.next());
                bob_last = e.seq;
            }
            Ok(Some(
                RoomFrame::CaughtUp { .. } | RoomFrame::Receipt { .. } | RoomFrame::Typing { .. },
            )) => {}
            Ok(None | Some(RoomFrame::Closed { .. })) => panic!("stream finished without lagging"),
            Err(e) => break e,
        }
    };
    assert_eq!(end, StreamEnd::Lagged);
    assert!(bob_last < last, "bob fell behind before the reset");

    // Resubscribing from his last seq gives him the rest, with no gap.
    let mut again = bob.subscribe(room, bob_last).await.expect("resubscribe");
    let (events, caught) = catch_up(&mut again).await;
    assert_eq!(caught, last);
    let seqs: Vec<Seq> = events.iter().map(|e| e.seq).collect();
    let want: Vec<Seq> = (bob_last.0 + 1..=last.0).map(Seq).collect();
    assert_eq!(seqs, want);
}
