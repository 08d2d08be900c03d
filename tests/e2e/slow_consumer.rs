//! A client that stops reading its events (a bot busy elsewhere, a UI
//! that fell behind) holds a bounded backlog: the SDK's feed from its
//! stream tasks is bounded, so those tasks stop reading, QUIC flow control
//! pushes back on chatd, and chatd sheds the lagging room stream instead
//! of the client buffering without end. When the client reads again, it
//! catches up from its last sequence number and gets every message once,
//! in order (issue 11, finding 10: the client's feed channel was
//! unbounded).

use super::metrics::{scrape, server_with_metrics, value};
use chat_client::session::{Auth, Backoff, Session, SessionConfig, SessionEvent};
use chat_e2e::{WAIT, public_room};
use chat_protocol::{IdempotencyKey, RoomEventKind, Seq};
use std::time::{Duration, Instant};

/// Messages sent while the consumer does not read: more than the SDK's
/// buffers (1,024 feed items and 1,024 session events), the client's QUIC
/// stream window (1 MiB, about 1,000 of these) and chatd's per-subscriber
/// queue (4,096 events) hold together.
const FLOOD: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_stops_reading_is_lagged_by_the_server_and_then_catches_up() {
    let server = server_with_metrics(None).await;
    let metrics = server.metrics_addr.expect("metrics listener bound");
    let admin = server.admin().await;
    let room = public_room(&admin, "flood").await;

    let (session, mut events) = Session::start(SessionConfig {
        client: server.client_config(),
        auth: Auth::Token(server.admin_token.clone()),
        backoff: Backoff::default(),
    });
    session.follow(room, Seq(0));
    // Wait until the room stream is live, then stop reading.
    tokio::time::timeout(WAIT, async {
        while let Some(ev) = events.recv().await {
            if matches!(ev, SessionEvent::Room(ref e) if e.room == room) {
                return;
            }
        }
        panic!("the session ended before following the room");
    })
    .await
    .expect("the room's first event within the wait");
    let lagged_before = value(&scrape(metrics).await, "chatd_fanout_lagged_total", &[]);

    flood(&admin, room).await;

    // Back-pressure reaches chatd: it sheds the stream of the consumer that
    // is not reading. With an unbounded feed the client read on into its
    // own memory and chatd never saw it fall behind.
    wait_for_lag(
        metrics,
        lagged_before,
        "chatd never lagged the stream of a client that stopped reading: the client buffered every message",
    )
    .await;

    // Reading again, the consumer gets every message once, in room order.
    let mut seen = std::collections::HashSet::new();
    let mut last_seq = Seq(0);
    let drained = tokio::time::timeout(Duration::from_secs(120), async {
        while seen.len() < FLOOD {
            let Some(ev) = events.recv().await else {
                panic!("the session ended after {} of {FLOOD} messages", seen.len());
            };
            let SessionEvent::Room(e) = ev else { continue };
            assert!(
                e.seq > last_seq,
                "seq {} after {}: out of order or twice",
                e.seq.0,
                last_seq.0
            );
            last_seq = e.seq;
            if let RoomEventKind::Message(m) = &e.kind {
                let tag = m.text.split(' ').next().unwrap_or_default().to_owned();
                assert!(seen.insert(tag), "a message arrived twice");
            }
        }
    })
    .await;
    assert!(
        drained.is_ok(),
        "only {} of {FLOOD} messages arrived after reading resumed",
        seen.len()
    );
    session.shutdown();
}

/// The same through chat-tui's network task: a UI that stops taking
/// actions (a long redraw, a suspended terminal) holds the task's queue to
/// its bound; the task then stops taking session events, so chatd lags the
/// stream rather than chat-tui buffering it, and every message arrives once
/// the UI reads again (issue 11, finding 10: the action channel was
/// unbounded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_chat_tui_is_lagged_by_the_server_and_then_catches_up() {
    use chat_tui::action::Action;
    use chat_tui::effect::Effect;

    let server = server_with_metrics(None).await;
    let metrics = server.metrics_addr.expect("metrics listener bound");
    let admin = server.admin().await;
    let room = public_room(&admin, "flood").await;

    let config = SessionConfig {
        client: server.client_config(),
        auth: Auth::Token(server.admin_token.clone()),
        backoff: Backoff::default(),
    };
    let (session, mut events) = Session::start(config.clone());
    let user = tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await.expect("session events") {
                SessionEvent::Connected { user, .. } => return user,
                SessionEvent::Stopped { error } => panic!("session stopped: {error:?}"),
                _ => {}
            }
        }
    })
    .await
    .expect("connected within the wait");
    // The UI's queue, as chat-tui sizes it, read only when the test says.
    let (actions_tx, mut actions) = tokio::sync::mpsc::channel::<Action>(1024);
    let (effects, effects_rx) = tokio::sync::mpsc::unbounded_channel::<Effect>();
    let net = chat_tui::net::Net::new(session, config, server.addr.to_string(), actions_tx);
    let net_task = tokio::spawn(net.run(user, events, effects_rx));
    effects
        .send(Effect::Subscribe {
            room,
            since: Seq(0),
        })
        .expect("net task running");
    let lagged_before = value(&scrape(metrics).await, "chatd_fanout_lagged_total", &[]);

    flood(&admin, room).await;

    wait_for_lag(
        metrics,
        lagged_before,
        "chatd never lagged the stream of a chat-tui whose UI stopped reading: its network task buffered every message",
    )
    .await;

    let mut seen = std::collections::HashSet::new();
    let drained = tokio::time::timeout(Duration::from_secs(120), async {
        while seen.len() < FLOOD {
            let Some(action) = actions.recv().await else {
                panic!("the network task ended after {} of {FLOOD}", seen.len());
            };
            if let Action::Room(e) = action
                && let RoomEventKind::Message(m) = &e.kind
            {
                let tag = m.text.split(' ').next().unwrap_or_default().to_owned();
                seen.insert(tag);
            }
        }
    })
    .await;
    assert!(
        drained.is_ok(),
        "only {} of {FLOOD} messages reached the UI after it read again",
        seen.len()
    );
    drop(effects);
    let _ = tokio::time::timeout(WAIT, net_task).await;
}

/// Sends [`FLOOD`] messages of about 1 KiB to `room`, pipelined, and
/// waits for every ack.
async fn flood(admin: &chat_client::Connection, room: chat_protocol::RoomId) {
    let text = "x".repeat(1024);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..FLOOD {
        let (c, body) = (admin.clone(), format!("m{i} {text}"));
        tasks.spawn(async move {
            c.send(room, IdempotencyKey(format!("flood-{i}")), &body, None)
                .await
                .expect("send")
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("send task");
    }
}

/// Waits (at most [`WAIT`]) until chatd has lagged a subscriber since
/// `before` (`chatd_fanout_lagged_total`), panicking with `why` if not.
async fn wait_for_lag(metrics: std::net::SocketAddr, before: f64, why: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let lagged = value(&scrape(metrics).await, "chatd_fanout_lagged_total", &[]);
        if lagged > before {
            return;
        }
        assert!(Instant::now() < deadline, "{why} ({FLOOD} messages)");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
