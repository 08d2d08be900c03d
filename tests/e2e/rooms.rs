//! Rooms and direct rooms: create, join, leave, add, DMs, membership history.

use chat_e2e::{catch_up, next_event, public_room, spawn_server, texts};
use chat_protocol::{
    ErrorCode, HistoryAnchor, IdempotencyKey, RoomEventKind, RoomKind, Seq, UserEvent, Visibility,
};

#[tokio::test]
async fn create_join_leave_and_add() {
    let server = spawn_server().await;
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let (carol, _) = server.user("carol").await;

    let lobby = public_room(&alice, "lobby").await;
    let err = alice
        .create_room("Lobby", "", Visibility::Public)
        .await
        .expect_err("dup");
    assert_eq!(err.code(), Some(ErrorCode::Conflict));
    assert!(
        bob.public_rooms()
            .await
            .expect("directory")
            .iter()
            .any(|r| r.id == lobby)
    );

    bob.join_room(lobby).await.expect("join public");
    let members = alice.members(lobby).await.expect("members");
    let names: Vec<_> = members
        .iter()
        .map(|m| (m.user.username.as_str(), m.role))
        .collect();
    assert!(
        names.contains(&("alice", chat_protocol::Role::Owner)),
        "{names:?}"
    );
    assert!(
        names.contains(&("bob", chat_protocol::Role::Member)),
        "{names:?}"
    );

    bob.leave_room(lobby).await.expect("leave");
    let err = bob
        .send(lobby, IdempotencyKey::random(), "hi", None)
        .await
        .expect_err("left");
    assert_eq!(err.code(), Some(ErrorCode::NotMember));

    // Private rooms: hidden from the directory, joined only by being added.
    let ops = alice
        .create_room("ops", "on call", Visibility::Private)
        .await
        .expect("create")
        .id;
    assert!(
        !carol
            .public_rooms()
            .await
            .expect("dir")
            .iter()
            .any(|r| r.id == ops)
    );
    // A private room is not found for a non-member (see privacy.rs).
    let err = carol.join_room(ops).await.expect_err("private");
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    let err = carol.room_by_name("ops").await.expect_err("hidden");
    assert_eq!(err.code(), Some(ErrorCode::NotFound));

    let mut carol_events = carol.user_events().await.expect("user stream");
    alice.add_member(ops, "carol").await.expect("owner adds");
    let added = tokio::time::timeout(chat_e2e::WAIT, carol_events.next())
        .await
        .expect("event in time")
        .expect("stream open")
        .expect("event");
    assert!(
        matches!(added, UserEvent::RoomAdded { ref room, .. } if room.id == ops),
        "{added:?}"
    );
    assert_eq!(
        carol.room_by_name("ops").await.expect("visible now").id,
        ops
    );

    // A plain member may not add people to a private room.
    let (dave, _) = server.user("dave").await;
    drop(dave);
    let err = carol
        .add_member(ops, "dave")
        .await
        .expect_err("member cannot add");
    assert_eq!(err.code(), Some(ErrorCode::Forbidden));
}

#[tokio::test]
async fn first_direct_message_creates_the_room_for_both() {
    let server = spawn_server().await;
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let mut bob_events = bob.user_events().await.expect("user stream");

    let dm = alice.open_direct("bob").await.expect("open dm");
    assert_eq!(dm.kind, RoomKind::Direct);
    assert_eq!(dm.name, "@bob");
    alice
        .send(dm.id, IdempotencyKey::random(), "hello bob", None)
        .await
        .expect("send");

    let ev = tokio::time::timeout(chat_e2e::WAIT, bob_events.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("event");
    match ev {
        UserEvent::RoomAdded { room, .. } => {
            assert_eq!(room.id, dm.id);
            assert_eq!(room.name, "@alice");
        }
        other => panic!("expected RoomAdded, got {other:?}"),
    }
    let rooms = bob.my_rooms().await.expect("my rooms");
    let mine = rooms
        .iter()
        .find(|r| r.room.id == dm.id)
        .expect("dm listed for bob");
    assert_eq!(mine.unread, 1);
    assert_eq!(
        texts(&[mine.last_message.clone().expect("preview")]),
        ["hello bob"]
    );
    // One room per pair, whoever opens it.
    assert_eq!(bob.open_direct("alice").await.expect("same dm").id, dm.id);
    assert_eq!(bob.room_by_name("@alice").await.expect("by name").id, dm.id);
}

#[tokio::test]
async fn member_added_mid_conversation_pages_earlier_history() {
    let server = spawn_server().await;
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let room = alice
        .create_room("ward-3", "", Visibility::Private)
        .await
        .expect("room")
        .id;
    for i in 0..30 {
        alice
            .send(room, IdempotencyKey::random(), &format!("before {i}"), None)
            .await
            .expect("send");
    }
    let err = bob
        .history(room, HistoryAnchor::Latest, 10)
        .await
        .expect_err("not yet member");
    assert_eq!(err.code(), Some(ErrorCode::NotFound));

    alice.add_member(room, "bob").await.expect("add");
    // Page backwards from the newest, 10 at a time, like infinite scroll.
    let mut seen = Vec::new();
    let mut page = bob
        .history(room, HistoryAnchor::Latest, 10)
        .await
        .expect("latest");
    loop {
        let mut t = texts(&page.events);
        t.append(&mut seen);
        seen = t;
        if !page.has_more {
            break;
        }
        let oldest = page.events.first().expect("non-empty").seq;
        page = bob
            .history(room, HistoryAnchor::Before(oldest), 10)
            .await
            .expect("older");
    }
    let expected: Vec<String> = (0..30).map(|i| format!("before {i}")).collect();
    assert_eq!(seen, expected);

    // Forward paging gives the same messages in the same order.
    let mut forward = Vec::new();
    let mut after = Seq(0);
    loop {
        let page = bob
            .history(room, HistoryAnchor::After(after), 7)
            .await
            .expect("after");
        forward.extend(texts(&page.events));
        match page.events.last() {
            Some(e) if page.has_more => after = e.seq,
            _ => break,
        }
    }
    assert_eq!(forward, expected);

    // The new member's stream carries the join and then live messages.
    let mut stream = bob
        .subscribe(room, page_head(&bob, room).await)
        .await
        .expect("subscribe");
    let (_, _) = catch_up(&mut stream).await;
    alice
        .send(room, IdempotencyKey::random(), "welcome bob", None)
        .await
        .expect("send");
    let ev = next_event(&mut stream).await;
    assert!(matches!(ev.kind, RoomEventKind::Message(ref m) if m.text == "welcome bob"));
}

async fn page_head(c: &chat_client::Connection, room: chat_protocol::RoomId) -> Seq {
    c.history(room, HistoryAnchor::Latest, 1)
        .await
        .expect("head")
        .head
}
