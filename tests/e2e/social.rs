//! Presence, contacts, user search and blocking, with several real clients.

use chat_e2e::{catch_up, next_event, public_room, spawn_server, wait_user_event};
use chat_protocol::{
    ErrorCode, HistoryAnchor, IdempotencyKey, NotificationKind, Presence, RoomEventKind, UserEvent,
};

fn code<T>(r: Result<T, chat_client::ClientError>) -> Option<ErrorCode> {
    r.err().and_then(|e| e.code())
}

fn presence_of(name: &'static str) -> impl FnMut(&UserEvent) -> bool {
    move |e| matches!(e, UserEvent::Presence(p) if p.user.username == name)
}

async fn next_presence(events: &mut chat_client::UserStream, name: &'static str) -> Presence {
    match wait_user_event(events, presence_of(name)).await {
        UserEvent::Presence(p) => p.presence,
        other => panic!("not presence: {other:?}"),
    }
}

#[tokio::test]
async fn presence_follows_devices_and_reaches_only_people_who_share_a_room() {
    let server = spawn_server().await;
    let admin = server.admin().await;
    admin
        .create_user("bob", Some(chat_e2e::PASSWORD), "", "", false)
        .await
        .expect("bob");
    let (alice, _) = server.user("alice").await;
    let (dave, _) = server.user("dave").await;
    let room = public_room(&alice, "ward-1").await;
    let (bob_laptop, _) = server.login("bob").await;
    bob_laptop.join_room(room).await.expect("bob joins");
    let mut watch = alice.user_events().await.expect("alice's user stream");
    let mut stranger = dave.user_events().await.expect("dave's user stream");
    drop(bob_laptop);
    // Bob's first "online" may or may not have reached alice (he joined the
    // room after logging in); wait for the "offline" that must.
    wait_user_event(&mut watch, |e| {
        matches!(e, UserEvent::Presence(p) if p.user.username == "bob" && p.presence == Presence::Offline)
    })
    .await;

    let (laptop, _) = server.login("bob").await;
    assert_eq!(next_presence(&mut watch, "bob").await, Presence::Online);
    let (phone, _) = server.login("bob").await;
    phone.set_away(true).await.expect("away");
    // A second device changes nothing; "away" does.
    assert_eq!(next_presence(&mut watch, "bob").await, Presence::Away);
    drop(laptop);
    drop(phone);
    assert_eq!(next_presence(&mut watch, "bob").await, Presence::Offline);
    let now = alice.presence(&["bob"]).await.expect("presence");
    assert_eq!(now[0].presence, Presence::Offline);
    assert!(now[0].last_seen.is_some());

    // Dave shares no room with bob: the first thing his stream carries is
    // a later notification, not any of bob's presence changes.
    alice.add_contact("dave").await.expect("contact");
    let first = wait_user_event(&mut stranger, |_| true).await;
    assert!(
        matches!(first, UserEvent::Notification(ref n) if n.kind == NotificationKind::ContactAdded),
        "{first:?}"
    );
}

#[tokio::test]
async fn contacts_and_user_search() {
    let server = spawn_server().await;
    let (alice, _) = server.user_in_org("alice", "Ward 3").await;
    let (bob, _) = server.user_in_org("bob", "Pharmacy").await;
    server.user_in_org("carol", "Ward 3").await;
    let mut bob_events = bob.user_events().await.expect("user stream");

    alice.add_contact("bob").await.expect("add");
    let ev = wait_user_event(&mut bob_events, |e| matches!(e, UserEvent::Notification(_))).await;
    assert!(
        matches!(ev, UserEvent::Notification(ref n) if n.kind == NotificationKind::ContactAdded && n.from.username == "alice")
    );
    let contacts = alice.contacts().await.expect("contacts");
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].user.username, "bob");
    // Presence is shared once bob adds alice back (see privacy.rs).
    assert_eq!(contacts[0].presence, Presence::Offline);
    bob.add_contact("alice").await.expect("add back");
    assert_eq!(
        alice.contacts().await.expect("contacts")[0].presence,
        Presence::Online
    );
    assert_eq!(
        code(alice.add_contact("alice").await),
        Some(ErrorCode::BadRequest)
    );
    assert_eq!(
        code(alice.add_contact("nobody").await),
        Some(ErrorCode::NotFound)
    );
    alice.remove_contact("bob").await.expect("remove");
    assert!(alice.contacts().await.expect("contacts").is_empty());

    let ward: Vec<_> = bob
        .list_users(Some("ward 3"))
        .await
        .expect("search")
        .into_iter()
        .map(|u| u.author.username)
        .collect();
    assert_eq!(ward, ["alice", "carol"]);
    let by_name: Vec<_> = bob
        .list_users(Some("CAR"))
        .await
        .expect("search")
        .into_iter()
        .map(|u| u.author.username)
        .collect();
    assert_eq!(by_name, ["carol"]);
}

#[tokio::test]
async fn blocking_refuses_direct_messages_and_hides_group_messages() {
    let server = spawn_server().await;
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let dm = alice.open_direct("bob").await.expect("dm before the block");
    let room = public_room(&alice, "general").await;
    bob.join_room(room).await.expect("join");

    bob.set_blocked("alice", true).await.expect("block");
    assert_eq!(
        bob.blocked().await.expect("list")[0].author.username,
        "alice"
    );
    assert_eq!(
        code(
            alice
                .send(dm.id, IdempotencyKey::random(), "hello?", None)
                .await
        ),
        Some(ErrorCode::Blocked)
    );
    let (carol, _) = server.user("carol").await;
    carol.set_blocked("alice", true).await.expect("block");
    assert_eq!(
        code(alice.open_direct("carol").await),
        Some(ErrorCode::Blocked)
    );
    // Bob may still write to alice; the block is his choice.
    bob.send(dm.id, IdempotencyKey::random(), "please stop", None)
        .await
        .expect("blocker may write");

    // In a shared group room, alice's messages reach bob as Hidden (same
    // seq, no content) and do not count as unread.
    let head = bob
        .history(room, HistoryAnchor::Latest, 1)
        .await
        .expect("h")
        .head;
    bob.mark_read(room, head).await.expect("read");
    let mut s = bob.subscribe(room, head).await.expect("subscribe");
    catch_up(&mut s).await;
    let ack = alice
        .send(room, IdempotencyKey::random(), "spam", None)
        .await
        .expect("send");
    let ev = next_event(&mut s).await;
    assert_eq!(ev.seq, ack.seq);
    assert_eq!(ev.kind, RoomEventKind::Hidden);
    let page = bob
        .history(room, HistoryAnchor::Latest, 10)
        .await
        .expect("history");
    assert!(
        page.events
            .iter()
            .any(|e| e.seq == ack.seq && e.kind == RoomEventKind::Hidden)
    );
    let summary = bob
        .my_rooms()
        .await
        .expect("rooms")
        .into_iter()
        .find(|r| r.room.id == room)
        .expect("room");
    assert_eq!(summary.unread, 0);

    bob.set_blocked("alice", false).await.expect("unblock");
    let page = bob
        .history(room, HistoryAnchor::Latest, 10)
        .await
        .expect("history");
    assert!(
        page.events
            .iter()
            .any(|e| e.seq == ack.seq && matches!(e.kind, RoomEventKind::Message(_)))
    );
    alice
        .send(dm.id, IdempotencyKey::random(), "sorry", None)
        .await
        .expect("unblocked");
}
