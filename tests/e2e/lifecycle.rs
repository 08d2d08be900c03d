//! Edits, deletions, reactions, receipts, typing, unread counts and
//! notifications, with several real clients.

use chat_e2e::{catch_up, message_at, public_room, spawn_server, wait_room_frame, wait_user_event};
use chat_protocol::{
    ErrorCode, HistoryAnchor, IdempotencyKey, NotificationKind, RoomEventKind, RoomFrame, Seq,
    Timestamp, UserEvent,
};

fn code<T>(r: Result<T, chat_client::ClientError>) -> Option<ErrorCode> {
    r.err().and_then(|e| e.code())
}

#[tokio::test]
async fn edits_deletes_and_reactions_with_admin_audit() {
    let server = spawn_server().await;
    let admin = server.admin().await;
    let (alice, _) = server.user("alice").await;
    let (bob, bob_info) = server.user("bob").await;
    let room = public_room(&alice, "ward-7").await;
    bob.join_room(room).await.expect("join");
    let ack = alice
        .send(room, IdempotencyKey::random(), "BP 120/80", None)
        .await
        .expect("send");
    let seq = ack.seq;
    let mut stream = bob.subscribe(room, seq).await.expect("subscribe");
    catch_up(&mut stream).await;

    // Only the author edits.
    assert_eq!(
        code(bob.edit(room, seq, "hacked").await),
        Some(ErrorCode::Forbidden)
    );
    alice.edit(room, seq, "BP 125/80").await.expect("edit 1");
    alice.edit(room, seq, "BP 125/85").await.expect("edit 2");
    let f = wait_room_frame(
        &mut stream,
        |f| matches!(f, RoomFrame::Event(e) if matches!(e.kind, RoomEventKind::Edited { .. })),
    )
    .await;
    assert!(
        matches!(f, RoomFrame::Event(ref e) if e.kind == RoomEventKind::Edited { target: seq, text: "BP 125/80".into() })
    );
    let page = bob
        .history(room, HistoryAnchor::Latest, 50)
        .await
        .expect("history");
    let m = message_at(&page, seq);
    assert_eq!(m.text, "BP 125/85");
    assert!(m.edited_at.is_some());

    // Reactions toggle per user and count in the message state.
    bob.react(room, seq, "👍").await.expect("react");
    alice.react(room, seq, "👍").await.expect("react");
    bob.react(room, seq, "❤").await.expect("react");
    bob.react(room, seq, "❤").await.expect("toggle off");
    assert_eq!(
        code(bob.react(room, seq, "").await),
        Some(ErrorCode::BadRequest)
    );
    let m = message_at(
        &bob.history(room, HistoryAnchor::Latest, 50)
            .await
            .expect("h"),
        seq,
    );
    assert_eq!(m.reactions.len(), 1);
    assert_eq!(m.reactions[0].emoji, "👍");
    assert_eq!(m.reactions[0].users.len(), 2);

    // Replies name the seq they answer.
    let reply = bob
        .send(room, IdempotencyKey::random(), "noted", Some(seq))
        .await
        .expect("reply");
    let m = message_at(
        &bob.history(room, HistoryAnchor::Latest, 50)
            .await
            .expect("h"),
        reply.seq,
    );
    assert_eq!(m.reply_to, Some(seq));

    // Members cannot delete others' messages; the author can.
    assert_eq!(
        code(bob.delete(room, seq).await),
        Some(ErrorCode::Forbidden)
    );
    alice.delete(room, seq).await.expect("delete own");
    let f = wait_room_frame(
        &mut stream,
        |f| matches!(f, RoomFrame::Event(e) if matches!(e.kind, RoomEventKind::Deleted { .. })),
    )
    .await;
    assert!(
        matches!(f, RoomFrame::Event(ref e) if e.kind == RoomEventKind::Deleted { target: seq })
    );
    let m = message_at(
        &bob.history(room, HistoryAnchor::Latest, 50)
            .await
            .expect("h"),
        seq,
    );
    assert_eq!(m.text, "", "members see a tombstone, not the body");
    let tomb = m.deleted.expect("tombstone");
    assert_eq!(tomb.by.username, "alice");
    assert_eq!(
        code(alice.edit(room, seq, "undo").await),
        Some(ErrorCode::BadRequest)
    );

    // Server admins read every version and the deleted body; members cannot.
    assert_eq!(
        code(bob.message_audit(room, seq).await),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        code(bob.history_audit(room, HistoryAnchor::Latest, 50).await),
        Some(ErrorCode::Forbidden)
    );
    let audit = admin.message_audit(room, seq).await.expect("audit");
    let versions: Vec<_> = audit.versions.iter().map(|v| v.text.as_str()).collect();
    assert_eq!(versions, ["BP 120/80", "BP 125/80", "BP 125/85"]);
    let page = admin
        .history_audit(room, HistoryAnchor::Latest, 50)
        .await
        .expect("audit history");
    assert_eq!(message_at(&page, seq).text, "BP 125/85");

    // The owner may delete anyone's message; it lands in the audit trail.
    alice
        .delete(room, reply.seq)
        .await
        .expect("owner deletes bob's");
    let log = admin.moderation_log(Some(room), 10).await.expect("log");
    assert!(log.iter().any(|r| {
        r.action == "delete-message"
            && r.target
                .as_ref()
                .is_some_and(|t| t.id == bob_info.author.id)
    }));
}

#[tokio::test]
async fn receipts_seen_by_and_typing_reach_the_room() {
    let server = spawn_server().await;
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let (carol, _) = server.user("carol").await;
    let room = public_room(&alice, "icu").await;
    bob.join_room(room).await.expect("join");
    carol.join_room(room).await.expect("join");
    let ack = alice
        .send(room, IdempotencyKey::random(), "rounds at 9", None)
        .await
        .expect("send");
    let mut watch = alice.subscribe(room, ack.seq).await.expect("subscribe");
    catch_up(&mut watch).await;

    carol
        .mark_delivered(room, ack.seq)
        .await
        .expect("delivered");
    bob.mark_read(room, ack.seq).await.expect("read");
    // Right after catch-up come the current markers; then bob's new one.
    let f = wait_room_frame(
        &mut watch,
        |f| matches!(f, RoomFrame::Receipt { user, read_seq, .. } if user.username == "bob" && *read_seq == ack.seq),
    )
    .await;
    assert!(matches!(f, RoomFrame::Receipt { delivered_seq, .. } if delivered_seq == ack.seq));
    // Markers never move back.
    bob.mark_read(room, Seq(1))
        .await
        .expect("stale read is ignored");

    // A client subscribing later still learns the current markers.
    let mut late = carol
        .subscribe(room, ack.seq)
        .await
        .expect("late subscribe");
    let f = wait_room_frame(
        &mut late,
        |f| matches!(f, RoomFrame::Receipt { user, .. } if user.username == "bob"),
    )
    .await;
    assert!(matches!(f, RoomFrame::Receipt { read_seq, .. } if read_seq == ack.seq));

    let seen = alice.read_by(room, ack.seq).await.expect("read by");
    let read: Vec<_> = seen.read_by.iter().map(|a| a.username.as_str()).collect();
    let delivered: Vec<_> = seen
        .delivered_to
        .iter()
        .map(|a| a.username.as_str())
        .collect();
    assert_eq!(read, ["bob"]);
    assert_eq!(delivered, ["carol"]);

    bob.typing(room).await.expect("typing");
    let f = wait_room_frame(&mut watch, |f| matches!(f, RoomFrame::Typing { .. })).await;
    match f {
        RoomFrame::Typing { user, expires_at } => {
            assert_eq!(user.username, "bob");
            assert!(expires_at > Timestamp::now());
        }
        other => panic!("expected typing, got {other:?}"),
    }
    let (dave, _) = server.user("dave").await;
    assert_eq!(code(dave.typing(room).await), Some(ErrorCode::NotMember));
}

#[tokio::test]
async fn unread_mentions_and_notifications_after_days_offline() {
    let server = spawn_server_with_burst().await;
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let room = public_room(&alice, "oncology").await;
    bob.join_room(room).await.expect("join");
    let head = alice
        .history(room, HistoryAnchor::Latest, 1)
        .await
        .expect("h")
        .head;
    bob.mark_read(room, head).await.expect("caught up");
    drop(bob);

    // While bob is away: five messages, two mentioning him, one his own
    // from another device, and a first direct message from carol.
    for text in [
        "shift change",
        "@bob please check bed 4",
        "labs are back",
        "thanks @bob!",
        "ok",
    ] {
        alice
            .send(room, IdempotencyKey::random(), text, None)
            .await
            .expect("send");
    }
    let (bob_phone, _) = server.login("bob").await;
    bob_phone
        .send(room, IdempotencyKey::random(), "on my way", None)
        .await
        .expect("own message");
    drop(bob_phone);
    let (carol, _) = server.user("carol").await;
    let dm = carol.open_direct("bob").await.expect("dm");
    carol
        .send(dm.id, IdempotencyKey::random(), "are you free?", None)
        .await
        .expect("dm");

    let (bob, _) = server.login("bob").await;
    let rooms = bob.my_rooms().await.expect("chat list");
    let onc = rooms
        .iter()
        .find(|r| r.room.id == room)
        .expect("room listed");
    assert_eq!((onc.unread, onc.mentions), (5, 2));
    let d = rooms
        .iter()
        .find(|r| r.room.id == dm.id)
        .expect("dm listed");
    assert_eq!((d.unread, d.mentions), (1, 0));
    assert_eq!(rooms[0].room.id, dm.id, "newest activity first");

    let (items, unread) = bob.notifications(false).await.expect("notifications");
    assert_eq!(unread, 3, "{items:?}");
    let mentions = items
        .iter()
        .filter(|n| matches!(n.kind, NotificationKind::Mention { .. }))
        .count();
    assert_eq!(mentions, 2);
    assert!(
        items.iter().any(
            |n| matches!(n.kind, NotificationKind::DirectMessage { room, .. } if room == dm.id)
        )
    );
    let newest = items.iter().map(|n| n.id).max().expect("some");
    bob.mark_notifications_read(newest)
        .await
        .expect("mark read");
    assert_eq!(bob.notifications(true).await.expect("unread").1, 0);

    // Live notifications reach every device.
    let mut events = bob.user_events().await.expect("user stream");
    alice
        .send(room, IdempotencyKey::random(), "@bob one more", None)
        .await
        .expect("send");
    let ev = wait_user_event(&mut events, |e| matches!(e, UserEvent::Notification(_))).await;
    assert!(matches!(ev, UserEvent::Notification(ref n) if n.from.username == "alice"));

    // Reading clears the count.
    let head = bob
        .history(room, HistoryAnchor::Latest, 1)
        .await
        .expect("h")
        .head;
    bob.mark_read(room, head).await.expect("read");
    let onc = bob
        .my_rooms()
        .await
        .expect("list")
        .into_iter()
        .find(|r| r.room.id == room)
        .expect("room");
    assert_eq!((onc.unread, onc.mentions), (0, 0));
}

async fn spawn_server_with_burst() -> chat_e2e::TestServer {
    chat_e2e::spawn_server_with(|c| c.limits.send_burst = 500).await
}
