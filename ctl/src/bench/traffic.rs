//! The message scenarios (`fanout`, `rooms`, `dm`): make the rooms,
//! subscribe every member, send open- or closed-loop, and time each
//! message from its intended send time to its ack and to every delivery.
//!
//! Each message's text starts with a tag `[b<sender>:<µs>] ` holding its
//! intended send time in µs after the phase started, so a receiver can time
//! it without any shared map, and a stalled sender shows up as latency
//! (no coordinated omission).

use super::corpus::Corpus;
use super::fleet::{Client, par};
use super::nodes::{self, Nodes};
use super::report::{BenchReport, Latencies};
use chat_client::StreamEnd;
use chat_protocol::{IdempotencyKey, RoomEventKind, RoomFrame, RoomId, Seq, Visibility};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};

/// Most sends in flight per sender in open loop; beyond it a sender waits
/// (and the wait counts as latency, since times run from the intended send).
const OPEN_LOOP_IN_FLIGHT: usize = 4096;
/// How long after the send phase receivers may take to get the rest.
const DRAIN: Duration = Duration::from_secs(10);
/// Setup requests in flight at once.
const SETUP_PARALLEL: usize = 32;

/// One room of a scenario: indexes into the client list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPlan {
    /// Members (the first creates the room), all subscribed.
    pub members: Vec<usize>,
    /// Members that send.
    pub senders: Vec<usize>,
    /// A direct room between the two members rather than a group room.
    pub direct: bool,
}

/// How to send.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Total target rate over all senders, msgs/s; 0 for closed loop.
    pub rate: u64,
    /// Closed loop: requests in flight per sender.
    pub in_flight: usize,
    /// Length of the send phase.
    pub duration: Duration,
}

#[derive(Default)]
struct SendStats {
    sent: AtomicU64,
    /// Acks per room, by plan index.
    acked: Vec<AtomicU64>,
    /// Acks per node the sender is connected to.
    acked_by_node: Vec<AtomicU64>,
    /// Latest ack, µs after the phase start.
    last_ack_us: AtomicU64,
    ack: Mutex<Latencies>,
    errors: Mutex<BenchReport>,
}

impl SendStats {
    fn record_ack(&self, room: usize, node: usize, intended: Instant, t0: Instant) {
        let now = Instant::now();
        if let Some(a) = self.acked.get(room) {
            a.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(a) = self.acked_by_node.get(node) {
            a.fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(now.duration_since(t0).as_micros()).unwrap_or(u64::MAX);
        self.last_ack_us.fetch_max(us, Ordering::Relaxed);
        if let Ok(mut h) = self.ack.lock() {
            h.record(now.duration_since(intended));
        }
    }

    fn record_error(&self, e: impl std::fmt::Display) {
        if let Ok(mut r) = self.errors.lock() {
            r.error(e);
        }
    }
}

/// What one subscriber saw.
#[derive(Default)]
struct Received {
    latencies: Latencies,
    /// Of them, messages whose sender is on another node.
    cross_node: Latencies,
    count: u64,
    lagged: u64,
    last_us: u64,
    errors: Vec<String>,
}

/// Creates the rooms, subscribes, runs the send phase and fills in
/// `report`'s message figures; for each node with a pid, its CPU time
/// from the first send to the last delivery. `clients[i]` is connected to
/// node `nodes.of(i)`.
///
/// # Errors
/// A failed room creation, join or subscription (setup), or `/proc`
/// unreadable; send and stream failures are counted in the report instead.
pub async fn run(
    clients: &[Client],
    nodes: &Nodes,
    plans: &[RoomPlan],
    prefix: &str,
    corpus: Arc<Corpus>,
    load: Load,
    report: &mut BenchReport,
) -> anyhow::Result<()> {
    let rooms = make_rooms(clients, plans, prefix).await?;
    let (done_tx, done_rx) = watch::channel(false);
    let stats = Arc::new(SendStats {
        acked: plans.iter().map(|_| AtomicU64::new(0)).collect(),
        acked_by_node: (0..nodes.len()).map(|_| AtomicU64::new(0)).collect(),
        ..SendStats::default()
    });
    let senders: Vec<(usize, usize)> = plans
        .iter()
        .enumerate()
        .flat_map(|(r, p)| p.senders.iter().map(move |&s| (r, s)))
        .collect();
    // The node of each sender, by its index in the message tags.
    let sender_nodes: Arc<Vec<usize>> =
        Arc::new(senders.iter().map(|&(_, s)| nodes.of(s)).collect());

    // Subscribe everyone before anything is sent.
    let mut subs = Vec::new();
    for (r, plan) in plans.iter().enumerate() {
        for &m in &plan.members {
            subs.push((r, m));
        }
    }
    let streams = par(subs.clone(), SETUP_PARALLEL, |_, (r, m)| {
        let conn = clients[m].conn.clone();
        let (room, head) = rooms[r];
        async move { Ok(conn.subscribe(room, head).await?) }
    })
    .await?;
    let probes = nodes.probe()?;
    let t0 = Instant::now();
    let deadline = t0 + load.duration + DRAIN;
    let mut receivers = tokio::task::JoinSet::new();
    for ((r, m), stream) in subs.into_iter().zip(streams) {
        let sub = Subscriber {
            conn: clients[m].conn.clone(),
            room: r,
            node: nodes.of(m),
            sender_nodes: sender_nodes.clone(),
        };
        let stats = stats.clone();
        let done = done_rx.clone();
        receivers.spawn(async move {
            let node = sub.node;
            (node, receive(sub, stream, stats, done, t0, deadline).await)
        });
    }

    let mut sending = tokio::task::JoinSet::new();
    let n = senders.len().max(1);
    for (i, &(r, s)) in senders.iter().enumerate() {
        let ctx = SenderCtx {
            client: clients[s].clone(),
            room: rooms[r].0,
            room_index: r,
            node: nodes.of(s),
            sender: i,
            corpus: corpus.clone(),
            stats: stats.clone(),
            t0,
            end: t0 + load.duration,
        };
        if load.rate == 0 {
            sending.spawn(send_closed(ctx, load.in_flight.max(1)));
        } else {
            let interval = Duration::from_secs_f64(n as f64 / load.rate as f64);
            let offset = interval.mul_f64(i as f64 / n as f64);
            sending.spawn(send_open(ctx, interval, offset));
        }
    }
    while let Some(r) = sending.join_next().await {
        if let Err(e) = r {
            stats.record_error(format!("a sender task failed: {e}"));
        }
    }
    let _ = done_tx.send(true);

    let mut delivered = Latencies::default();
    let mut cross_node = Latencies::default();
    let sending_clients: Vec<usize> = senders.iter().map(|&(_, s)| s).collect();
    let mut tallies = nodes::tallies(nodes, clients.len(), &sending_clients);
    let mut last_delivery_us = 0;
    while let Some(r) = receivers.join_next().await {
        match r {
            Ok((node, got)) => {
                delivered.merge(&got.latencies);
                cross_node.merge(&got.cross_node);
                if let Some(t) = tallies.get_mut(node) {
                    t.latencies.merge(&got.latencies);
                    t.deliveries += got.count;
                }
                report.deliveries += got.count;
                report.lagged += got.lagged;
                last_delivery_us = last_delivery_us.max(got.last_us);
                got.errors.into_iter().for_each(|e| report.error(e));
            }
            Err(e) => report.error(format!("a receiver task failed: {e}")),
        }
    }

    report.rooms = plans.len();
    report.senders = senders.len();
    report.sent = stats.sent.load(Ordering::Relaxed);
    report.acked = stats.acked.iter().map(|a| a.load(Ordering::Relaxed)).sum();
    report.expected_deliveries = plans
        .iter()
        .zip(&stats.acked)
        .map(|(p, a)| a.load(Ordering::Relaxed) * p.members.len() as u64)
        .sum();
    let last_ack_s = stats.last_ack_us.load(Ordering::Relaxed) as f64 / 1e6;
    report.acked_per_sec = rate(report.acked, last_ack_s);
    report.deliveries_per_sec = rate(report.deliveries, last_delivery_us as f64 / 1e6);
    if let Ok(h) = stats.ack.lock() {
        report.send_to_ack = h.summary();
    }
    report.send_to_deliver = delivered.summary();
    if nodes.len() > 1 {
        report.send_to_deliver_cross_node = cross_node.summary();
    }
    for (t, a) in tallies.iter_mut().zip(&stats.acked_by_node) {
        t.acked = a.load(Ordering::Relaxed);
    }
    let measured = nodes::finish(probes, &tallies, false)?;
    nodes::fill(report, nodes, &tallies, measured);
    if let Ok(errors) = stats.errors.lock() {
        report.errors += errors.errors;
        for e in &errors.error_samples {
            if report.error_samples.len() < 5 {
                report.error_samples.push(e.clone());
            }
        }
    }
    Ok(())
}

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

/// Creates every room, joins its members and returns each room's id and
/// head after the joins (where the subscriptions start).
async fn make_rooms(
    clients: &[Client],
    plans: &[RoomPlan],
    prefix: &str,
) -> anyhow::Result<Vec<(RoomId, Seq)>> {
    let ids = par(plans.to_vec(), SETUP_PARALLEL, |i, plan| {
        let creator = clients[plan.members[0]].conn.clone();
        let peer = plan
            .members
            .get(1)
            .map(|&m| clients[m].account.name.clone());
        let name = format!("{prefix}-r{i}");
        async move {
            let info = match (plan.direct, peer) {
                (true, Some(peer)) => creator.open_direct(&peer).await?,
                _ => creator.create_room(&name, "", Visibility::Public).await?,
            };
            Ok(info.id)
        }
    })
    .await?;
    let joins: Vec<(RoomId, usize)> = plans
        .iter()
        .zip(&ids)
        .filter(|(p, _)| !p.direct)
        .flat_map(|(p, &id)| p.members.iter().skip(1).map(move |&m| (id, m)))
        .collect();
    par(joins, SETUP_PARALLEL, |_, (id, m)| {
        let conn = clients[m].conn.clone();
        async move { Ok(conn.join_room(id).await.map(|_| ())?) }
    })
    .await?;
    let heads = par(plans.to_vec(), SETUP_PARALLEL, |i, plan| {
        let creator = clients[plan.members[0]].conn.clone();
        let id = ids[i];
        async move {
            let mine = creator.my_rooms().await?;
            let head = mine
                .iter()
                .find(|s| s.room.id == id)
                .map_or(Seq(0), |s| s.room.head);
            Ok((id, head))
        }
    })
    .await?;
    Ok(heads)
}

struct SenderCtx {
    client: Client,
    room: RoomId,
    room_index: usize,
    /// The node the sender is connected to.
    node: usize,
    sender: usize,
    corpus: Arc<Corpus>,
    stats: Arc<SendStats>,
    t0: Instant,
    end: Instant,
}

impl SenderCtx {
    fn text(&self, n: u64, intended: Instant) -> String {
        let us = intended.duration_since(self.t0).as_micros();
        let pick = self.corpus.pick((self.sender as u64) << 32 | n);
        format!("[b{}:{us}] {pick}", self.sender)
    }
}

/// Open loop: message `k` is due at `t0 + offset + k × interval`, sent then
/// (or as soon as possible after) without waiting for earlier acks.
async fn send_open(ctx: SenderCtx, interval: Duration, offset: Duration) {
    let ctx = Arc::new(ctx);
    let permits = Arc::new(Semaphore::new(OPEN_LOOP_IN_FLIGHT));
    let mut k: u32 = 0;
    loop {
        let intended = ctx.t0 + offset + interval * k;
        if intended >= ctx.end {
            break;
        }
        tokio::time::sleep_until(intended.into()).await;
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let text = ctx.text(u64::from(k), intended);
        let c = ctx.clone();
        tokio::spawn(async move {
            c.stats.sent.fetch_add(1, Ordering::Relaxed);
            match c
                .client
                .conn
                .send(c.room, IdempotencyKey::random(), &text, None)
                .await
            {
                Ok(_) => c.stats.record_ack(c.room_index, c.node, intended, c.t0),
                Err(e) => c.stats.record_error(e),
            }
            drop(permit);
        });
        k = k.saturating_add(1);
    }
    // Every permit back means every send has finished.
    let _ = permits.acquire_many(OPEN_LOOP_IN_FLIGHT as u32).await;
}

/// Closed loop: `in_flight` loops, each sending its next message as soon as
/// the previous one is acked.
async fn send_closed(ctx: SenderCtx, in_flight: usize) {
    let ctx = Arc::new(ctx);
    let mut loops = tokio::task::JoinSet::new();
    for w in 0..in_flight {
        let c = ctx.clone();
        loops.spawn(async move {
            let mut n = w as u64;
            while Instant::now() < c.end {
                let intended = Instant::now();
                let text = c.text(n, intended);
                c.stats.sent.fetch_add(1, Ordering::Relaxed);
                match c
                    .client
                    .conn
                    .send(c.room, IdempotencyKey::random(), &text, None)
                    .await
                {
                    Ok(_) => c.stats.record_ack(c.room_index, c.node, intended, c.t0),
                    Err(e) => {
                        c.stats.record_error(e);
                        if c.client.conn.is_closed() {
                            break;
                        }
                    }
                }
                n += in_flight as u64;
            }
        });
    }
    while loops.join_next().await.is_some() {}
}

/// The intended send time (µs after the phase start) of a tagged text.
pub fn parse_tag(text: &str) -> Option<u64> {
    parse_sender_tag(text).map(|(_, us)| us)
}

/// The sender index and intended send time (µs after the phase start) of
/// a tagged text.
pub fn parse_sender_tag(text: &str) -> Option<(usize, u64)> {
    let (tag, _) = text.strip_prefix("[b")?.split_once("] ")?;
    let (sender, us) = tag.split_once(':')?;
    Some((sender.parse().ok()?, us.parse().ok()?))
}

/// One subscribed member, as its receiver task sees it.
struct Subscriber {
    conn: chat_client::Connection,
    /// The room, by plan index.
    room: usize,
    /// The node the member is connected to.
    node: usize,
    /// The node of each sender, by sender index.
    sender_nodes: Arc<Vec<usize>>,
}

/// Reads one subscription until every acked message of its room has
/// arrived after the send phase, or `deadline`.
async fn receive(
    sub: Subscriber,
    mut stream: chat_client::RoomStream,
    stats: Arc<SendStats>,
    mut done: watch::Receiver<bool>,
    t0: Instant,
    deadline: Instant,
) -> Received {
    let Subscriber {
        conn,
        room,
        node,
        sender_nodes,
    } = sub;
    let mut got = Received::default();
    let mut last_seq = stream.since();
    let mut sending_over = false;
    loop {
        let expected = stats
            .acked
            .get(room)
            .map_or(0, |a| a.load(Ordering::Relaxed));
        if sending_over && got.count >= expected {
            break;
        }
        tokio::select! {
            frame = stream.next() => match frame {
                Ok(Some(RoomFrame::Event(e))) => {
                    last_seq = e.seq;
                    if let RoomEventKind::Message(m) = &e.kind
                        && let Some((sender, us)) = parse_sender_tag(&m.text)
                    {
                        let now = Instant::now();
                        let took = now.duration_since(t0 + Duration::from_micros(us));
                        got.latencies.record(took);
                        if sender_nodes.get(sender).is_some_and(|&n| n != node) {
                            got.cross_node.record(took);
                        }
                        got.count += 1;
                        got.last_us = u64::try_from(now.duration_since(t0).as_micros()).unwrap_or(u64::MAX);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(StreamEnd::Lagged) => {
                    got.lagged += 1;
                    match conn.subscribe(stream.room(), last_seq).await {
                        Ok(s) => stream = s,
                        Err(e) => {
                            got.errors.push(format!("resubscribing after lag: {e}"));
                            break;
                        }
                    }
                }
                Err(e) => {
                    got.errors.push(format!("room stream ended: {e}"));
                    break;
                }
            },
            changed = done.changed(), if !sending_over => {
                // A dropped sender also means the phase is over.
                let _ = changed;
                sending_over = true;
            }
            () = tokio::time::sleep_until(deadline.into()) => {
                got.errors.push(format!(
                    "a subscriber gave up {} s after the send phase with {} of {expected} messages",
                    DRAIN.as_secs(), got.count
                ));
                break;
            }
        }
    }
    got
}

/// The room layout of a message scenario over `clients` clients.
pub fn plan(
    scenario: super::Scenario,
    clients: usize,
    senders: usize,
    room_size: usize,
) -> Vec<RoomPlan> {
    use super::Scenario;
    match scenario {
        Scenario::Fanout => vec![RoomPlan {
            members: (0..clients).collect(),
            senders: (0..senders.clamp(1, clients.max(1))).collect(),
            direct: false,
        }],
        Scenario::Rooms => {
            let size = room_size.max(2);
            (0..clients / size)
                .map(|r| RoomPlan {
                    members: (r * size..(r + 1) * size).collect(),
                    senders: vec![r * size],
                    direct: false,
                })
                .collect()
        }
        Scenario::Dm => (0..clients / 2)
            .map(|p| RoomPlan {
                members: vec![2 * p, 2 * p + 1],
                senders: vec![2 * p, 2 * p + 1],
                direct: true,
            })
            .collect(),
        Scenario::Connect | Scenario::Catchup => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Scenario;
    use super::*;

    #[test]
    fn tags_round_trip() {
        assert_eq!(parse_tag("[b3:123456] hello there"), Some(123456));
        assert_eq!(parse_tag("hello"), None);
        assert_eq!(parse_tag("[b3:x] hello"), None);
        assert_eq!(parse_sender_tag("[b3:17] hi"), Some((3, 17)));
        assert_eq!(parse_sender_tag("[bx:17] hi"), None);
    }

    #[test]
    fn plans_cover_every_client() {
        let f = plan(Scenario::Fanout, 10, 3, 0);
        assert_eq!(
            (f.len(), f[0].members.len(), f[0].senders.len()),
            (1, 10, 3)
        );
        let r = plan(Scenario::Rooms, 10, 0, 5);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].members, vec![5, 6, 7, 8, 9]);
        let d = plan(Scenario::Dm, 4, 0, 0);
        assert_eq!(d[1].members, vec![2, 3]);
        assert!(d.iter().all(|p| p.direct && p.senders.len() == 2));
    }
}
