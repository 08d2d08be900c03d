//! Private data stays private (issue 17, findings 2, 3 and 6): a deleted
//! message's text reaches no member in any version, presence reaches only
//! people who share a room or are each other's contacts, account fields
//! are for admins, and a private room looks exactly like a missing one.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use chat_client::{ClientError, Connection};
use chat_e2e::{catch_up, spawn_server, wait_user_event};
use chat_protocol::{
    ErrorBody, HistoryAnchor, IdempotencyKey, ModAction, Presence, RequestBody, RoomEvent,
    RoomEventKind, RoomId, Seq, UserEvent, Visibility,
};

/// Every text a member could read in `events`, flattened for searching.
fn visible_text(events: &[RoomEvent]) -> String {
    format!("{events:?}")
}

/// Deleting an edited message hides every version from members: history,
/// catch-up and a member who joins later; server admins still read every
/// version through the audit path.
#[tokio::test]
async fn deleting_an_edited_message_hides_every_version() {
    let server = spawn_server().await;
    let admin = server.admin().await;
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let room = chat_e2e::public_room(&alice, "ward-9").await;
    bob.join_room(room).await.unwrap();
    let seq = alice
        .send(room, IdempotencyKey::random(), "bed 4: first-text", None)
        .await
        .unwrap()
        .seq;
    alice.edit(room, seq, "bed 4: second-text").await.unwrap();
    alice.edit(room, seq, "bed 4: third-text").await.unwrap();
    alice.delete(room, seq).await.unwrap();
    let secrets = ["first-text", "second-text", "third-text"];

    let page = bob.history(room, HistoryAnchor::Latest, 100).await.unwrap();
    let seen = visible_text(&page.events);
    assert!(
        page.events
            .iter()
            .any(|e| matches!(e.kind, RoomEventKind::Edited { .. })),
        "the edit events keep their seq"
    );
    for s in secrets {
        assert!(!seen.contains(s), "history shows {s}: {seen}");
    }

    let mut stream = bob.subscribe(room, Seq(0)).await.unwrap();
    let (events, _) = catch_up(&mut stream).await;
    let seen = visible_text(&events);
    for s in secrets {
        assert!(!seen.contains(s), "catch-up shows {s}: {seen}");
    }

    let (carol, _) = server.user("carol").await;
    carol.join_room(room).await.unwrap();
    let page = carol
        .history(room, HistoryAnchor::Latest, 100)
        .await
        .unwrap();
    let seen = visible_text(&page.events);
    for s in secrets {
        assert!(!seen.contains(s), "a later member sees {s}: {seen}");
    }

    let audit = admin
        .history_audit(room, HistoryAnchor::Latest, 100)
        .await
        .unwrap();
    let seen = visible_text(&audit.events);
    assert!(seen.contains("second-text") && seen.contains("third-text"));
    let versions = admin.message_audit(room, seq).await.unwrap().versions;
    let texts: Vec<&str> = versions.iter().map(|v| v.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "bed 4: first-text",
            "bed 4: second-text",
            "bed 4: third-text"
        ]
    );
}

async fn presence_of(conn: &Connection, name: &str) -> Option<Presence> {
    conn.presence(&[name])
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.user.username == name)
        .map(|p| p.presence)
}

/// A stranger learns nothing; a one-sided contact learns nothing; mutual
/// contacts and room-mates see presence; a block hides it both ways.
#[tokio::test]
async fn presence_reaches_only_room_mates_and_mutual_contacts() {
    let server = spawn_server().await;
    let (alice, _) = server.user("alice").await;
    let (mallory, _) = server.user("mallory").await;
    let (bob, _) = server.user("bob").await;

    assert_eq!(presence_of(&mallory, "alice").await, None, "a stranger");
    mallory.add_contact("alice").await.unwrap();
    assert_eq!(presence_of(&mallory, "alice").await, None, "one-sided");
    let contact = mallory.contacts().await.unwrap();
    assert_eq!(contact.len(), 1);
    assert_eq!(contact[0].presence, Presence::Offline);
    assert_eq!(contact[0].last_seen, None);

    alice.add_contact("mallory").await.unwrap();
    assert_eq!(
        presence_of(&mallory, "alice").await,
        Some(Presence::Online),
        "mutual contacts"
    );
    assert_eq!(
        mallory.contacts().await.unwrap()[0].presence,
        Presence::Online
    );

    let room = chat_e2e::public_room(&alice, "ward-2").await;
    bob.join_room(room).await.unwrap();
    assert_eq!(presence_of(&bob, "alice").await, Some(Presence::Online));

    alice.set_blocked("bob", true).await.unwrap();
    assert_eq!(presence_of(&bob, "alice").await, None, "blocked by alice");
    assert_eq!(presence_of(&alice, "bob").await, None, "alice blocked bob");
    assert_eq!(presence_of(&alice, "alice").await, Some(Presence::Online));
    alice.set_blocked("bob", false).await.unwrap();
    assert_eq!(presence_of(&bob, "alice").await, Some(Presence::Online));
}

/// Announcements follow the same rule. Watchers are told in user-id order
/// by one task, so once `zed` (created last, highest id) hears of alice
/// going away, a one-sided contact (lower id) would already have been
/// queued the same frame; their stream's next frame is a marker sent after.
#[tokio::test]
async fn presence_announcements_skip_strangers_one_sided_contacts_and_blocked_users() {
    let server = spawn_server().await;
    let (alice, _) = server.user("alice").await;
    let (mallory, _) = server.user("mallory").await;
    let (bob, _) = server.user("bob").await;
    let (zed, _) = server.user("zed").await;
    let room = chat_e2e::public_room(&alice, "ward-6").await;
    bob.join_room(room).await.unwrap();
    zed.join_room(room).await.unwrap();
    mallory.add_contact("alice").await.unwrap();
    bob.set_blocked("alice", true).await.unwrap();
    let mut mallory_events = mallory.user_events().await.unwrap();
    let mut bob_events = bob.user_events().await.unwrap();
    let mut zed_events = zed.user_events().await.unwrap();

    alice.set_away(true).await.unwrap();
    wait_user_event(&mut zed_events, |e| {
        matches!(e, UserEvent::Presence(p) if p.user.username == "alice" && p.presence == Presence::Away)
    })
    .await;
    // Markers: notifications stored after the announcement was queued.
    zed.add_contact("mallory").await.unwrap();
    zed.add_contact("bob").await.unwrap();
    for (name, events) in [("mallory", &mut mallory_events), ("bob", &mut bob_events)] {
        let ev = wait_user_event(events, |e| {
            matches!(e, UserEvent::Notification(_))
                || matches!(e, UserEvent::Presence(p) if p.user.username == "alice" && p.presence == Presence::Away)
        })
        .await;
        assert!(
            matches!(ev, UserEvent::Notification(_)),
            "{name} heard alice's presence: {ev:?}"
        );
    }
}

/// Non-admins see only the public profile of other users.
#[tokio::test]
async fn account_fields_are_shown_only_to_admins_and_the_user_themself() {
    let server = spawn_server().await;
    let admin = server.admin().await;
    let (bob, _) = server.user("bob").await;
    server.user("carol").await;
    admin
        .update_user("carol", chat_protocol::UserChange::Disabled(true))
        .await
        .unwrap();
    for u in bob.list_users(None).await.unwrap() {
        if u.author.username == "bob" {
            assert_eq!(u.admin, Some(false), "own account");
            continue;
        }
        assert_eq!(
            (u.admin, u.disabled, u.created_at),
            (None, None, None),
            "{} as bob sees it",
            u.author.username
        );
    }
    let carol = bob.get_user("carol").await.unwrap();
    assert_eq!((carol.admin, carol.disabled), (None, None));
    let root = admin.whoami().await.unwrap().author.username;
    assert_eq!(bob.get_user(&root).await.unwrap().admin, None);
    let carol = admin.get_user("carol").await.unwrap();
    assert_eq!((carol.admin, carol.disabled), (Some(false), Some(true)));
    assert_eq!(bob.whoami().await.unwrap().admin, Some(false));
}

fn refusal(r: Result<chat_protocol::ResponseBody, ClientError>) -> ErrorBody {
    match r {
        Err(ClientError::Server(body)) => body,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Every request about a room, as sent by a non-member, is answered the
/// same way for a private room as for a room that does not exist.
#[tokio::test]
async fn a_private_room_is_indistinguishable_from_a_missing_one() {
    let server = spawn_server().await;
    let (owner, _) = server.user("owner").await;
    let (mallory, _) = server.user("mallory").await;
    let private = owner
        .create_room("secret-ward", "", Visibility::Private)
        .await
        .unwrap()
        .id;
    owner
        .send(private, IdempotencyKey::random(), "hello", None)
        .await
        .unwrap();
    let missing = RoomId(private.0 + 1_000);
    let requests = |room: RoomId| -> Vec<(&'static str, RequestBody)> {
        let seq = Seq(2);
        vec![
            ("JoinRoom", RequestBody::JoinRoom { room }),
            ("LeaveRoom", RequestBody::LeaveRoom { room }),
            (
                "AddMember",
                RequestBody::AddMember {
                    room,
                    username: "mallory".into(),
                },
            ),
            ("ListMembers", RequestBody::ListMembers { room }),
            (
                "Send",
                RequestBody::Send {
                    room,
                    key: IdempotencyKey::random(),
                    text: "hi".into(),
                    reply_to: None,
                },
            ),
            (
                "History",
                RequestBody::History {
                    room,
                    anchor: HistoryAnchor::Latest,
                    limit: 10,
                    audit: false,
                },
            ),
            (
                "Subscribe",
                RequestBody::Subscribe {
                    room,
                    since: Seq(0),
                },
            ),
            ("MarkRead", RequestBody::MarkRead { room, seq }),
            ("MarkDelivered", RequestBody::MarkDelivered { room, seq }),
            (
                "Edit",
                RequestBody::Edit {
                    room,
                    seq,
                    text: "x".into(),
                },
            ),
            ("Delete", RequestBody::Delete { room, seq }),
            (
                "React",
                RequestBody::React {
                    room,
                    seq,
                    emoji: "+1".into(),
                },
            ),
            ("ReadBy", RequestBody::ReadBy { room, seq }),
            ("Typing", RequestBody::Typing { room }),
            (
                "Moderate",
                RequestBody::Moderate {
                    room,
                    action: ModAction::Kick {
                        username: "owner".into(),
                    },
                    reason: String::new(),
                },
            ),
            (
                "ModerationLog",
                RequestBody::ModerationLog {
                    room: Some(room),
                    limit: 10,
                },
            ),
        ]
    };
    for ((name, a), (_, b)) in requests(private).into_iter().zip(requests(missing)) {
        let (a, b) = (
            refusal(mallory.request(a).await),
            refusal(mallory.request(b).await),
        );
        assert_eq!(a, b, "{name}: private vs missing");
    }
    let by_name = |name: &str| RequestBody::GetRoom { name: name.into() };
    assert_eq!(
        refusal(mallory.request(by_name("secret-ward")).await),
        refusal(mallory.request(by_name("no-such-ward")).await),
        "GetRoom"
    );
    assert!(
        !mallory
            .public_rooms()
            .await
            .unwrap()
            .iter()
            .any(|r| r.id == private)
    );
}
