//! chatd with `config.bus` set, over a real private nats-server (issue 16):
//! what one node says on the bus, and what another node's messages do to
//! this node's clients. The other node is played by a raw NATS client that
//! publishes `chatd::bus::wire::BusMessage`s exactly as a node does, so
//! these tests need no shared store (the nodes here each have their own
//! redb; the binary refuses that combination, the library allows it).
//!
//! Each test starts its own nats-server with `nats_or_skip!`, so a machine
//! without it prints one line naming `apt-get install nats-server`.

use chat_client::{ClientError, StreamEnd};
use chat_e2e::{TestServer, WAIT, catch_up, nats_or_skip, spawn_server_with, wait_user_event};
use chat_protocol::{
    IdempotencyKey, ModAction, Presence, RoomFrame, Timestamp, UserChange, UserEvent,
};
use chatd::bus::wire::{BusMessage, node_subject, room_subject, user_subject};
use futures::StreamExt;
use std::time::{Duration, Instant};

/// Heartbeat interval of the chatd under test, and of the fake node.
const HEARTBEAT_MS: u64 = 100;

/// How soon a revocation from another node must end a session here.
const REVOKE_WITHIN: Duration = Duration::from_secs(2);

async fn node_with_bus(url: &str, tune: impl FnOnce(&mut chatd::Config)) -> TestServer {
    let url = url.to_owned();
    spawn_server_with(move |c| {
        c.bus = Some(url);
        c.node_name = "node-a".into();
        c.presence_heartbeat_ms = HEARTBEAT_MS;
        tune(c);
    })
    .await
}

/// A raw client subscribed to every subject of the deployment, with the
/// subscription in place at nats-server when this returns.
async fn listen(url: &str) -> (async_nats::Client, async_nats::Subscriber) {
    let client = async_nats::connect(url).await.expect("raw NATS client");
    let sub = client.subscribe("chat.>").await.expect("subscribe");
    client.flush().await.expect("flush");
    (client, sub)
}

/// The first bus message matching `pred`, with its subject.
async fn next_bus(
    sub: &mut async_nats::Subscriber,
    mut pred: impl FnMut(&str, &BusMessage) -> bool,
) -> (String, BusMessage) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let msg = tokio::time::timeout_at(deadline, sub.next())
            .await
            .expect("no matching bus message in time")
            .expect("subscription open");
        let Ok(message) = BusMessage::decode(&msg.payload) else {
            continue;
        };
        if pred(msg.subject.as_str(), &message) {
            return (msg.subject.to_string(), message);
        }
    }
}

fn room_frame(frame: &[u8]) -> RoomFrame {
    chat_protocol::frame::decode::<RoomFrame>(frame)
        .expect("a room frame")
        .expect("a whole frame")
        .0
}

async fn publish(client: &async_nats::Client, subject: String, message: BusMessage) {
    client
        .publish(subject, message.encode().expect("encode"))
        .await
        .expect("publish");
    client.flush().await.expect("flush");
}

#[tokio::test]
async fn typing_receipts_presence_and_account_changes_go_out_on_the_bus() {
    let nats = nats_or_skip!();
    let (_raw, mut bus) = listen(&nats.url()).await;
    let server = node_with_bus(&nats.url(), |_| {}).await;
    let admin = server.admin().await;
    let (alice, alice_info) = server.user("alice").await;
    let alice_id = alice_info.author.id.0;
    let (subject, _) = next_bus(
        &mut bus,
        |_, m| matches!(m, BusMessage::Presence { user, connected: true, .. } if *user == alice_id),
    )
    .await;
    assert!(subject.starts_with("chat.node.node-a-"), "{subject}");
    let (heartbeat_subject, _) = next_bus(&mut bus, |_, m| {
        matches!(m, BusMessage::Heartbeat { online, every_ms: HEARTBEAT_MS, .. } if online.contains(&alice_id))
    })
    .await;
    assert_eq!(heartbeat_subject, subject, "one subject per node");

    let room = chat_e2e::public_room(&alice, "bus-ward").await;
    let (bob, bob_info) = server.user("bob").await;
    let bob_id = bob_info.author.id.0;
    bob.join_room(room).await.expect("join");
    let room_sub = room_subject("chat", room.0);

    bob.typing(room).await.expect("typing");
    let (s, m) = next_bus(&mut bus, |_, m| {
        matches!(m, BusMessage::Ephemeral { frame, .. }
            if matches!(room_frame(frame), RoomFrame::Typing { user, .. } if user.username == "bob"))
    })
    .await;
    assert_eq!(s, room_sub);
    assert!(matches!(m, BusMessage::Ephemeral { room: r, .. } if r == room.0));

    let ack = alice
        .send(room, IdempotencyKey::random(), "rounds at 9", None)
        .await
        .expect("send");
    next_bus(&mut bus, |s, m| {
        s == room_sub && matches!(m, BusMessage::Event { seq, .. } if *seq == ack.seq.0)
    })
    .await;
    bob.mark_read(room, ack.seq).await.expect("read");
    next_bus(&mut bus, |s, m| {
        s == room_sub
            && matches!(m, BusMessage::Ephemeral { frame, .. }
                if matches!(room_frame(frame), RoomFrame::Receipt { user, read_seq, .. }
                    if user.username == "bob" && read_seq == ack.seq))
    })
    .await;

    alice
        .moderate(
            room,
            ModAction::Kick {
                username: "bob".into(),
            },
            "handover",
        )
        .await
        .expect("kick");
    next_bus(&mut bus, |s, m| {
        s == room_sub
            && *m
                == BusMessage::Revoke {
                    room: room.0,
                    user: bob_id,
                }
    })
    .await;

    admin
        .update_user("bob", UserChange::Disabled(true))
        .await
        .expect("disable");
    next_bus(&mut bus, |s, m| {
        s == user_subject("chat", bob_id) && *m == BusMessage::Account { user: bob_id }
    })
    .await;
    // Bob's session ends here, and the node says so.
    next_bus(
        &mut bus,
        |_, m| matches!(m, BusMessage::Presence { user, connected: false, .. } if *user == bob_id),
    )
    .await;
}

#[tokio::test]
async fn typing_and_revocations_from_another_node_reach_local_clients() {
    let nats = nats_or_skip!();
    let (raw, _) = listen(&nats.url()).await;
    let server = node_with_bus(&nats.url(), |_| {}).await;
    let (alice, alice_info) = server.user("alice").await;
    let (bob, bob_info) = server.user("bob").await;
    let room = chat_e2e::public_room(&alice, "bus-ward").await;
    bob.join_room(room).await.expect("join");
    let mut stream = bob
        .subscribe(room, chat_protocol::Seq(0))
        .await
        .expect("sub");
    catch_up(&mut stream).await;

    // Alice types on "another node": only the bus brings it here.
    let typing = chat_protocol::frame::encode(&RoomFrame::Typing {
        user: alice_info.author.clone(),
        expires_at: Timestamp(Timestamp::now().0 + 5_000),
    })
    .expect("encode");
    publish(
        &raw,
        room_subject("chat", room.0),
        BusMessage::Ephemeral {
            room: room.0,
            frame: typing,
        },
    )
    .await;
    chat_e2e::wait_room_frame(
        &mut stream,
        |f| matches!(f, RoomFrame::Typing { user, .. } if user.username == "alice"),
    )
    .await;

    // Bob was removed on "another node": his stream here ends.
    let sent = Instant::now();
    publish(
        &raw,
        room_subject("chat", room.0),
        BusMessage::Revoke {
            room: room.0,
            user: bob_info.author.id.0,
        },
    )
    .await;
    let end = loop {
        match tokio::time::timeout(REVOKE_WITHIN, stream.next()).await {
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => panic!("stream finished without a reason"),
            Ok(Err(end)) => break end,
            Err(_) => panic!("room stream still open {REVOKE_WITHIN:?} after the revoke"),
        }
    };
    assert_eq!(end, StreamEnd::Revoked);
    assert!(sent.elapsed() < REVOKE_WITHIN);
}

/// The test hook `account_effects_bus_only` keeps this node's own
/// "account changed" from its local sessions, as when another node
/// disabled the user in shared storage: only the bus message ends the
/// session.
#[tokio::test]
async fn an_account_change_from_another_node_ends_the_local_session_within_2_s() {
    let nats = nats_or_skip!();
    let (raw, mut bus) = listen(&nats.url()).await;
    let server = node_with_bus(&nats.url(), |c| c.account_effects_bus_only = true).await;
    let admin = server.admin().await;
    let (alice, alice_info) = server.user("alice").await;
    let alice_id = alice_info.author.id.0;
    admin
        .update_user("alice", UserChange::Disabled(true))
        .await
        .expect("disable");
    next_bus(&mut bus, |_, m| {
        *m == BusMessage::Account { user: alice_id }
    })
    .await;
    // Storage says disabled, but nothing told alice's session yet.
    alice
        .ping()
        .await
        .expect("alice's connection is still open");

    let sent = Instant::now();
    publish(
        &raw,
        user_subject("chat", alice_id),
        BusMessage::Account { user: alice_id },
    )
    .await;
    let err = tokio::time::timeout(REVOKE_WITHIN, alice.closed())
        .await
        .expect("alice's session ended within 2 s of the bus message");
    match err {
        ClientError::LoggedOut(reason) => assert!(reason.contains("disabled"), "{reason}"),
        other => panic!("expected LoggedOut, got {other:?}"),
    }
    assert!(sent.elapsed() < REVOKE_WITHIN);
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

/// Waits for `name`'s presence to be announced as `state`, skipping
/// earlier announcements (which may race the room that makes them
/// visible).
async fn wait_presence(events: &mut chat_client::UserStream, name: &'static str, state: Presence) {
    wait_user_event(events, move |e| {
        matches!(e, UserEvent::Presence(p) if p.user.username == name && p.presence == state)
    })
    .await;
}

#[tokio::test]
async fn a_user_on_another_node_is_online_here_until_its_heartbeats_stop() {
    let nats = nats_or_skip!();
    let (raw, _) = listen(&nats.url()).await;
    let server = node_with_bus(&nats.url(), |_| {}).await;
    let admin = server.admin().await;
    let bob = admin
        .create_user("bob", Some(chat_e2e::PASSWORD), "", "", false)
        .await
        .expect("bob");
    let bob_id = bob.author.id.0;
    let (alice, _) = server.user("alice").await;
    let room = chat_e2e::public_room(&alice, "bus-ward").await;
    alice.add_member(room, "bob").await.expect("bob joins");
    let mut watch = alice.user_events().await.expect("alice's user stream");
    let now = alice.presence(&["bob"]).await.expect("presence");
    assert_eq!(now[0].presence, Presence::Offline);

    // Node b says bob is online there, once.
    let node = "node-b-01";
    publish(
        &raw,
        node_subject("chat", node),
        BusMessage::Heartbeat {
            node: node.into(),
            every_ms: HEARTBEAT_MS,
            online: vec![bob_id],
            away: vec![],
        },
    )
    .await;
    let heard = Instant::now();
    assert_eq!(next_presence(&mut watch, "bob").await, Presence::Online);
    // Node b then falls silent (as a killed node does): bob lapses after
    // three missed heartbeats.
    assert_eq!(next_presence(&mut watch, "bob").await, Presence::Offline);
    let lapsed = heard.elapsed();
    assert!(
        lapsed >= Duration::from_millis(3 * HEARTBEAT_MS) - Duration::from_millis(50),
        "offline after {lapsed:?}, before three heartbeats were missed"
    );
    let now = alice.presence(&["bob"]).await.expect("presence");
    assert_eq!(now[0].presence, Presence::Offline);

    // A node that says bob left takes him offline at once, not after the
    // 15 s a presence message alone is trusted for.
    let say = |connected, away| BusMessage::Presence {
        node: node.into(),
        user: bob_id,
        connected,
        away,
    };
    publish(&raw, node_subject("chat", node), say(true, true)).await;
    assert_eq!(next_presence(&mut watch, "bob").await, Presence::Away);
    let now = alice.presence(&["bob"]).await.expect("presence");
    assert_eq!(now[0].presence, Presence::Away);
    let sent = Instant::now();
    publish(&raw, node_subject("chat", node), say(false, false)).await;
    assert_eq!(next_presence(&mut watch, "bob").await, Presence::Offline);
    assert!(sent.elapsed() < Duration::from_secs(5));

    // A node that stops gracefully takes its users offline at once, long
    // before a minute-long heartbeat interval would let them lapse.
    publish(
        &raw,
        node_subject("chat", node),
        BusMessage::Heartbeat {
            node: node.into(),
            every_ms: 60_000,
            online: vec![bob_id],
            away: vec![],
        },
    )
    .await;
    assert_eq!(next_presence(&mut watch, "bob").await, Presence::Online);
    let sent = Instant::now();
    publish(
        &raw,
        node_subject("chat", node),
        BusMessage::Gone { node: node.into() },
    )
    .await;
    assert_eq!(next_presence(&mut watch, "bob").await, Presence::Offline);
    assert!(sent.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_unreachable_nats_server_stops_the_start_naming_its_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = chatd::Config::for_tests(dir.path());
    config.bus = Some(url.clone());
    let err = match chatd::Server::start(config).await {
        Ok(_) => panic!("chatd started without its bus"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&url) && err.contains("nats-server"), "{err}");
}

#[test]
fn the_chatd_binary_refuses_a_bus_without_postgresql() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = std::process::Command::new(crate::bins::CHATD)
        .args(["--bus", "nats://127.0.0.1:4222", "--listen", "127.0.0.1:0"])
        .arg("--data")
        .arg(dir.path().join("data"))
        .arg("--cert-dir")
        .arg(dir.path().join("certs"))
        .env_remove("CHATD_CONFIG")
        .output()
        .expect("run chatd");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "chatd accepted --bus: {stderr}");
    assert!(
        stderr.contains("--bus needs --store postgres://…"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "refused before opening storage"
    );
}

/// Two real nodes on one nats-server, each with its own redb (the same
/// accounts created in the same order on both, so ids agree; the room
/// lives on node A, whose storage decides who watches whom). Bob on node B
/// is online for alice on node A, goes offline when his last session
/// there ends, and again when node B stops. Disabled on both (node B's
/// own change kept from its sessions by the test hook, standing in for
/// shared storage), he loses his session on B within 2 s of node A's
/// change.
#[tokio::test]
async fn two_nodes_share_presence_and_account_changes() {
    let nats = nats_or_skip!();
    let a = node_with_bus(&nats.url(), |_| {}).await;
    let mut b = node_with_bus(&nats.url(), |c| {
        c.node_name = "node-b".into();
        c.account_effects_bus_only = true;
    })
    .await;
    let (admin_a, admin_b) = (a.admin().await, b.admin().await);
    for admin in [&admin_a, &admin_b] {
        for name in ["alice", "bob"] {
            admin
                .create_user(name, Some(chat_e2e::PASSWORD), "", "", false)
                .await
                .expect("create");
        }
    }
    let (alice, alice_info) = a.login("alice").await;
    let bob_on_b = admin_b.get_user("bob").await.expect("bob on b");
    let bob_on_a = admin_a.get_user("bob").await.expect("bob on a");
    assert_eq!(bob_on_a.author.id, bob_on_b.author.id, "ids agree");
    assert_ne!(alice_info.author.id, bob_on_b.author.id);
    let room = chat_e2e::public_room(&alice, "bus-ward").await;
    alice.add_member(room, "bob").await.expect("bob joins");
    let mut watch = alice.user_events().await.expect("alice's user stream");

    // Bob logs in on B: alice on A sees him online, announced and asked.
    let (laptop, _) = b.login("bob").await;
    wait_presence(&mut watch, "bob", Presence::Online).await;
    let now = alice.presence(&["bob"]).await.expect("presence");
    assert_eq!(now[0].presence, Presence::Online, "online on node b");
    drop(laptop);
    let (phone, _) = b.login("bob").await;
    phone.set_away(true).await.expect("away");
    wait_presence(&mut watch, "bob", Presence::Away).await;
    phone.set_away(false).await.expect("back");
    wait_presence(&mut watch, "bob", Presence::Online).await;

    // Disabled on both stores; only node A's change wakes B's sessions.
    admin_b
        .update_user("bob", UserChange::Disabled(true))
        .await
        .expect("disable on b");
    phone
        .ping()
        .await
        .expect("bob's session on b is still open");
    let sent = Instant::now();
    admin_a
        .update_user("bob", UserChange::Disabled(true))
        .await
        .expect("disable on a");
    let err = tokio::time::timeout(REVOKE_WITHIN, phone.closed())
        .await
        .expect("bob's session on node b ended within 2 s of node a's change");
    assert!(matches!(err, ClientError::LoggedOut(_)), "{err:?}");
    assert!(sent.elapsed() < REVOKE_WITHIN);
    // His last sessions on B are gone: offline for alice on A.
    wait_presence(&mut watch, "bob", Presence::Offline).await;

    // Bob, re-enabled on B, comes back; stopping B takes him offline on A.
    admin_b
        .update_user("bob", UserChange::Disabled(false))
        .await
        .expect("enable on b");
    let (_again, _) = b.login("bob").await;
    wait_presence(&mut watch, "bob", Presence::Online).await;
    b.stop().await;
    wait_presence(&mut watch, "bob", Presence::Offline).await;
}
