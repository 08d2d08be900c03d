//! Cross-node fan-out over a real, private nats-server (issue 16, first
//! slice): two nodes in one process, each a hub with its own bus
//! connection, over one redb store that both reach (the PostgreSQL store is
//! built separately). Node A's writer commits; node B's hub must see every
//! event of the room exactly once, in order, with no gap, whatever NATS
//! drops.
//!
//! Each test starts its own nats-server with `nats_or_skip!`, so a machine
//! without it prints one line naming `apt-get install nats-server`.

use chat_e2e::nats::NatsServer;
use chat_e2e::{WAIT, nats_or_skip};
use chat_protocol::{IdempotencyKey, RoomId};
use chatd::bus::{Bus, BusOptions, Publisher, RedbGapFill};
use chatd::fanout::{Effect, Hub, Subscription};
use chatd::store::records::*;
use chatd::store::writer::Tap;
use chatd::store::{Store, StoreError, WriteCtx, query};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The room every test writes to.
const ROOM: u64 = 1;
/// Users 1..=SENDERS, all members of [`ROOM`].
const SENDERS: u64 = 4;

/// Two nodes over one store.
struct Nodes {
    store: Store,
    hub_a: Arc<Hub>,
    hub_b: Arc<Hub>,
    bus_a: Bus,
    bus_b: Bus,
    _dir: tempfile::TempDir,
}

/// Sweep period of the checks: often, so sweeps interleave with live
/// events (each path must leave the hub the same sequence).
const TEST_SWEEP: Option<Duration> = Some(Duration::from_millis(50));

fn options(nats: &NatsServer, name: &str, sweep: Option<Duration>) -> BusOptions {
    let mut o = BusOptions::new(nats.url());
    o.name = name.into();
    o.max_reconnect_delay = Duration::from_millis(100);
    // `None` where the sweep would hide a broken reconnect path.
    o.sweep_every = sweep;
    o
}

fn seed(ctx: &mut WriteCtx<'_>) -> Result<(), StoreError> {
    for id in 1..=SENDERS {
        let user = UserRecord {
            username: format!("sender{id}"),
            display_name: format!("Sender {id}"),
            org: String::new(),
            admin: false,
            disabled: false,
            password_hash: None,
            created_at: 0,
            last_seen: None,
        };
        ctx.users.insert(id, encode(&user)?.as_slice())?;
        ctx.usernames.insert(user.username.as_str(), id)?;
        let member = MemberRecord {
            role: RoleRecord::Member,
            joined_at: 0,
            read_seq: 0,
            delivered_seq: 0,
            muted: false,
        };
        ctx.members
            .insert((ROOM, id), encode(&member)?.as_slice())?;
    }
    ctx.put_room(
        ROOM,
        &RoomRecord {
            kind: RoomKindRecord::Group,
            name: "ward-7".into(),
            topic: String::new(),
            public: true,
            archived: false,
            created_at: 0,
            head: 0,
            last_ts: 0,
            member_count: u32::try_from(SENDERS).unwrap_or(u32::MAX),
            pair: None,
            message_count: 0,
            deleted: false,
            purged_below: 0,
        },
    );
    Ok(())
}

/// Opens the store, seeds [`ROOM`], connects node B then node A, and
/// gives A's committed effects to `tap` (made from A's publisher) in place
/// of A's hub, as a node on the bus runs.
async fn nodes(
    nats: &NatsServer,
    sweep: Option<Duration>,
    tap: impl FnOnce(Publisher) -> Tap,
) -> Nodes {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("chat.redb")).expect("open store");
    store
        .writer()
        .write(|ctx| Ok(seed(ctx)?))
        .await
        .expect("seed");
    let hub_a = Hub::new(65_536);
    let hub_b = Hub::new(65_536);
    let fill = Arc::new(RedbGapFill::new(store.clone()));
    let bus_b = Bus::connect(options(nats, "node-b", sweep), hub_b.clone(), fill.clone())
        .await
        .expect("node B joins the bus");
    let bus_a = Bus::connect(options(nats, "node-a", sweep), hub_a.clone(), fill)
        .await
        .expect("node A joins the bus");
    store.writer().attach_tap(tap(bus_a.publisher()));
    Nodes {
        store,
        hub_a,
        hub_b,
        bus_a,
        bus_b,
        _dir: dir,
    }
}

fn plain_tap(publisher: Publisher) -> Tap {
    Box::new(move |effects| publisher.commit(effects))
}

impl Nodes {
    /// `per_sender` messages from each of the [`SENDERS`] at once, each
    /// sender waiting for its ack before the next; node A commits them.
    async fn send(&self, per_sender: u64) {
        for t in self.start_sending(per_sender) {
            t.await.expect("sender task");
        }
    }

    /// As [`Nodes::send`], without waiting: the senders' tasks.
    fn start_sending(&self, per_sender: u64) -> Vec<tokio::task::JoinHandle<()>> {
        (1..=SENDERS)
            .map(|user| {
                let writer = self.store.writer().clone();
                tokio::spawn(async move {
                    for i in 0..per_sender {
                        let key = IdempotencyKey::random();
                        let text = format!("sender {user} message {i}");
                        writer
                            .write(move |ctx| {
                                chatd::send_job(ctx, user, RoomId(ROOM), &key, text.clone(), None)
                            })
                            .await
                            .expect("send commits");
                    }
                })
            })
            .collect()
    }

    /// The room's head in storage.
    async fn head(&self) -> u64 {
        self.store
            .read(|txn| {
                let rooms = txn.open_table(chatd::store::tables::ROOMS)?;
                Ok(query::room(&rooms, ROOM)?.map_or(0, |r| r.head))
            })
            .await
            .expect("read head")
    }
}

/// Takes room events from `sub` until seq `up_to` arrives; returns every
/// seq taken (ephemeral frames aside), in arrival order.
async fn take_until(sub: &mut Subscription, up_to: u64) -> Vec<(u64, bytes::Bytes)> {
    let mut got = Vec::new();
    loop {
        let live = tokio::time::timeout(WAIT, sub.rx.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "waited {WAIT:?} for seq {up_to}; got {} events, last {:?}",
                    got.len(),
                    got.last().map(|(s, _)| *s)
                )
            })
            .expect("subscription open");
        if live.seq == 0 {
            continue;
        }
        got.push((live.seq, live.frame));
        if live.seq >= up_to {
            return got;
        }
    }
}

fn seqs(events: &[(u64, bytes::Bytes)]) -> Vec<u64> {
    events.iter().map(|(s, _)| *s).collect()
}

/// Every event committed on node A reaches node B's hub once, in order,
/// with no gap: 4 senders at once, 100 messages each, and the frames are
/// byte for byte those node A's hub queues for its own subscribers.
#[tokio::test]
async fn every_event_committed_on_one_node_reaches_the_other_once_in_order() {
    let nats = nats_or_skip!();
    let nodes = nodes(&nats, TEST_SWEEP, plain_tap).await;
    let mut on_a = nodes.hub_a.subscribe(ROOM, 100);
    let mut on_b = nodes.hub_b.subscribe(ROOM, 100);
    nodes.send(100).await;
    let total = nodes.head().await;
    assert_eq!(total, 4 * 100);
    let b = take_until(&mut on_b, total).await;
    assert_eq!(seqs(&b), (1..=total).collect::<Vec<_>>());
    let a = take_until(&mut on_a, total).await;
    assert_eq!(seqs(&a), seqs(&b));
    if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
        panic!("frames differ at {}: {:?} vs {:?}", i, a[i], b[i]);
    }
    // Nothing trails the last one: the next events are the next thing seen.
    nodes.send(1).await;
    let next = take_until(&mut on_b, total + SENDERS).await;
    assert_eq!(
        seqs(&next),
        (total + 1..=total + SENDERS).collect::<Vec<_>>()
    );
    // (The sweep may fill an event before its NATS copy arrives; the copy
    // is then dropped as a duplicate, so that counter is not checked.)
    assert_eq!(nodes.bus_b.stats().decode_errors.load(Ordering::Relaxed), 0);
}

/// nats-server killed and restarted mid-stream: what node A committed
/// while it was down never travels, yet node B's hub ends with the same
/// gapless sequence, filled from storage when it reconnects (the sweep is
/// off, so nothing but the reconnect path can fill it).
#[tokio::test]
async fn a_nats_restart_mid_stream_leaves_no_gap_on_the_other_node() {
    let mut nats = nats_or_skip!();
    let nodes = nodes(&nats, None, plain_tap).await;
    let mut on_b = nodes.hub_b.subscribe(ROOM, 100);
    nodes.send(25).await;
    let mut got = take_until(&mut on_b, 100).await;
    nats.stop();
    // Committed while the bus is down: acked, stored, never published.
    nodes.send(25).await;
    assert_eq!(nodes.head().await, 200);
    nats.restart();
    // No later event shows the gap; only the reconnect check fills it.
    got.extend(take_until(&mut on_b, 200).await);
    nodes.send(25).await;
    got.extend(take_until(&mut on_b, 300).await);
    assert_eq!(seqs(&got), (1..=300).collect::<Vec<_>>());
    let stats = nodes.bus_b.stats();
    assert!(
        stats.filled.load(Ordering::Relaxed) >= 100,
        "the events committed during the outage came from storage"
    );
    assert!(stats.resyncs.load(Ordering::Relaxed) >= 1);
}

/// nats-server killed while 4 senders send 500 messages each, and
/// restarted while they go on: events in flight are lost with it, yet node
/// B's hub shows the same 2,000 events, each once and in order (sweep off:
/// later events and the reconnect check fill the gaps).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_while_four_senders_send_leaves_no_gap() {
    let mut nats = nats_or_skip!();
    let nodes = nodes(&nats, None, plain_tap).await;
    let mut on_a = nodes.hub_a.subscribe(ROOM, 100);
    let mut on_b = nodes.hub_b.subscribe(ROOM, 100);
    let senders = nodes.start_sending(500);
    let mut got = take_until(&mut on_b, 100).await;
    nats.stop();
    let head_at_stop = nodes.head().await;
    // Node A goes on committing while the bus is down.
    take_until(&mut on_a, head_at_stop + 200).await;
    nats.restart();
    for t in senders {
        t.await.expect("sender task");
    }
    assert_eq!(nodes.head().await, 2_000);
    got.extend(take_until(&mut on_b, 2_000).await);
    assert_eq!(seqs(&got), (1..=2_000).collect::<Vec<_>>());
    if head_at_stop <= 1_800 {
        assert!(
            nodes.bus_b.stats().filled.load(Ordering::Relaxed) >= 200,
            "the events committed during the outage came from storage"
        );
    }
}

/// A room event published twice (a retried publish, a late copy) is
/// delivered once: repeats of an old and of the newest event are dropped,
/// and the next event follows without anything in between.
#[tokio::test]
async fn a_duplicate_publish_is_delivered_once() {
    let nats = nats_or_skip!();
    let nodes = nodes(&nats, TEST_SWEEP, plain_tap).await;
    let mut on_b = nodes.hub_b.subscribe(ROOM, 100);
    nodes.send(10).await;
    let got = take_until(&mut on_b, 40).await;
    assert_eq!(seqs(&got), (1..=40).collect::<Vec<_>>());
    let again = nodes
        .store
        .read(|txn| {
            let events = txn.open_table(chatd::store::tables::EVENTS)?;
            let mut out = query::events(&events, ROOM, 40, 40, 1)?;
            out.extend(query::events(&events, ROOM, 17, 17, 1)?);
            Ok(out)
        })
        .await
        .expect("read events");
    let effects: Vec<Effect> = again
        .into_iter()
        .map(|(seq, event)| Effect::Room {
            room: ROOM,
            seq,
            event: Box::new(event),
        })
        .collect();
    nodes.bus_a.publish(&effects);
    nodes.bus_a.publish(&effects);
    nodes.send(1).await;
    let next = take_until(&mut on_b, 40 + SENDERS).await;
    assert_eq!(seqs(&next), (41..=40 + SENDERS).collect::<Vec<_>>());
    assert!(nodes.bus_b.stats().duplicates.load(Ordering::Relaxed) >= 4);
}

/// An account change committed on node A (a token revoked, a user
/// disabled) wakes that user's sessions on node B within 2 s.
#[tokio::test]
async fn an_account_change_on_one_node_wakes_sessions_on_the_other_within_2_s() {
    let nats = nats_or_skip!();
    let nodes = nodes(&nats, TEST_SWEEP, plain_tap).await;
    let wake = Arc::new(tokio::sync::Notify::new());
    let session = nodes.hub_b.add_session(3, wake.clone());
    let started = Instant::now();
    nodes
        .store
        .writer()
        .write(|ctx| {
            ctx.effects.push(Effect::Account { user: 3 });
            Ok(())
        })
        .await
        .expect("commit");
    tokio::time::timeout(Duration::from_secs(2), wake.notified())
        .await
        .expect("node B's session of user 3 is woken within 2 s");
    eprintln!("account change reached node B in {:?}", started.elapsed());
    nodes.hub_b.remove_session(3, session);
}

/// Typing and receipts (ephemeral room frames), user-stream frames
/// (presence, notifications) and the end of a removed member's streams
/// published on node A reach node B's hub as they were sent.
#[tokio::test]
async fn ephemeral_user_and_revoke_messages_reach_the_other_hub() {
    let nats = nats_or_skip!();
    let nodes = nodes(&nats, TEST_SWEEP, plain_tap).await;
    let mut member = nodes.hub_b.subscribe(ROOM, 2);
    let (user_tx, mut user_rx) = tokio::sync::mpsc::channel(8);
    nodes
        .hub_b
        .add_user_sink(3, user_tx, Arc::new(tokio::sync::Notify::new()));
    let typing = bytes::Bytes::from_static(b"typing frame");
    let presence = bytes::Bytes::from_static(b"presence frame");
    nodes.bus_a.publish(&[
        Effect::Ephemeral {
            room: ROOM,
            frame: typing.clone(),
        },
        Effect::User {
            user: 3,
            frame: presence.clone(),
        },
    ]);
    let live = tokio::time::timeout(WAIT, member.rx.recv())
        .await
        .expect("the typing frame arrives")
        .expect("subscription open");
    assert_eq!((live.seq, live.frame), (0, typing));
    let frame = tokio::time::timeout(WAIT, user_rx.recv())
        .await
        .expect("the user frame arrives")
        .expect("sink open");
    assert_eq!(frame, presence);
    nodes.bus_a.publish(&[Effect::Revoke {
        room: ROOM,
        user: 2,
    }]);
    let end = tokio::time::timeout(WAIT, member.rx.recv())
        .await
        .expect("the subscription ends");
    assert!(end.is_none());
    assert_eq!(member.end(), chatd::fanout::End::Revoked);
}

/// An event too large for nats-server's `max_payload` travels as a `Head`
/// notice, and the other node reads it from storage: here every event is
/// (the server's limit is 64 bytes).
#[tokio::test]
async fn events_too_large_for_nats_are_read_from_storage() {
    let nats = nats_or_skip!("max_payload: 64\n");
    let nodes = nodes(&nats, None, plain_tap).await;
    let mut on_b = nodes.hub_b.subscribe(ROOM, 100);
    nodes.send(5).await;
    let got = take_until(&mut on_b, 20).await;
    assert_eq!(seqs(&got), (1..=20).collect::<Vec<_>>());
    assert_eq!(nodes.bus_b.stats().filled.load(Ordering::Relaxed), 20);
}

/// Publish→remote-hub latency over loopback: 4 senders, 2,500 messages
/// each; from the moment node A's tap hands a committed event to its bus to
/// the moment node B's hub queues it. Run with
/// `cargo test --release -p chat-e2e --test e2e nats_bus::measure -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check; see BENCHMARKS.md"]
async fn measure_publish_to_remote_hub_latency() {
    let nats = nats_or_skip!();
    let sent: Arc<std::sync::Mutex<std::collections::HashMap<u64, Instant>>> = Arc::default();
    let stamps = sent.clone();
    // The default sweep (5 s): what is measured is the NATS path.
    let sweep = BusOptions::new("").sweep_every;
    let nodes = nodes(&nats, sweep, move |publisher| {
        Box::new(move |effects: Vec<Effect>| {
            let now = Instant::now();
            {
                let mut s = stamps.lock().unwrap_or_else(|p| p.into_inner());
                for e in &effects {
                    if let Effect::Room { seq, .. } = e {
                        s.insert(*seq, now);
                    }
                }
            }
            publisher.commit(effects);
        })
    })
    .await;
    let mut on_b = nodes.hub_b.subscribe(ROOM, 100);
    let per_sender = 2_500;
    let total = SENDERS * per_sender;
    let receiver = tokio::spawn(async move {
        let mut at = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        while at.len() < usize::try_from(total).unwrap_or(0) {
            let live = tokio::time::timeout(WAIT, on_b.rx.recv())
                .await
                .expect("events keep coming")
                .expect("subscription open");
            at.push((live.seq, Instant::now()));
        }
        at
    });
    let started = Instant::now();
    nodes.send(per_sender).await;
    let elapsed = started.elapsed();
    let received = receiver.await.expect("receiver");
    let sent = sent.lock().unwrap_or_else(|p| p.into_inner());
    let mut hist = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
    for (seq, at) in &received {
        let from = sent.get(seq).expect("every received seq was published");
        let micros = at.duration_since(*from).as_micros();
        hist.record(u64::try_from(micros).unwrap_or(u64::MAX))
            .expect("record");
    }
    let stats = nodes.bus_b.stats();
    eprintln!(
        "{total} events in {elapsed:?} ({:.0} acked/s); publish->remote hub: p50 {} us, p99 {} \
         us, max {} us; delivered {} filled {} duplicates {}",
        total as f64 / elapsed.as_secs_f64(),
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.max(),
        stats.delivered.load(Ordering::Relaxed),
        stats.filled.load(Ordering::Relaxed),
        stats.duplicates.load(Ordering::Relaxed),
    );
    assert_eq!(
        received.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
}
