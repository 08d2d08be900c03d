//! Cross-node fan-out over NATS (issue 16, first slice): committed
//! effects of this node go out on per-room and per-user subjects, and
//! other nodes' effects come in and are handed to the local [`Hub`].
//!
//! NATS is a notification path, never the source of truth. NATS core
//! delivers at most once, so each room's events are delivered to the hub
//! in seq order exactly once by the gap rule ([`sequencer`]): an older or
//! repeated seq is dropped, a newer one waits until the missing ones were
//! read from storage ([`GapFill`]). What no later message reveals
//! (everything published while a node was disconnected, a dropped last
//! event) is found by re-reading room heads after a reconnect, after a
//! slow-consumer report, and every [`BusOptions::sweep_every`].
//!
//! Outgoing: [`Bus::tap`] replaces the hub as the writer's consumer
//! (`store::Writer::attach_tap`), on the publisher thread in commit order:
//! it encodes and queues each effect for NATS, and one task publishes.
//! Publishing never waits on NATS: while disconnected, or when the queue is
//! full, messages are dropped and counted (receivers fill room events from
//! storage). Then it hands the effects to the local hub, room events
//! through the same gap rule as remote ones (`delivery.rs`), so the hub
//! gets each seq once whichever path (own commit, NATS, storage) brought
//! it first. Subjects and message shapes are in [`wire`].
//!
//! Wired into chatd by `chatd --bus` (`lib.rs`): the writer's tap is
//! [`Bus::tap`], and every effect a handler makes outside the writer
//! (typing, presence hidden by a block) goes through `Shared::fan_out`,
//! which calls [`Bus::fan_out`]. Presence travels as [`BusMessage::Presence`],
//! [`BusMessage::Heartbeat`] and [`BusMessage::Gone`] on `<prefix>.node.<node>`
//! (`crate::presence`); [`Hooks`] hand those, and the rooms other nodes
//! wrote to, to the presence registry and the search indexer.

mod delivery;
pub mod gap_fill;
mod relay;
pub mod sequencer;
pub mod wire;

pub use gap_fill::{GapFill, RedbGapFill};

use crate::fanout::{Effect, Hub};
use bytes::Bytes;
use delivery::{Delivery, Item, Offered};
use relay::{Inputs, Relay, Resync};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use wire::BusMessage;

/// The subject of the relay's round trip to nats-server; nobody subscribes
/// to it, so the server answers "no responders".
pub const SYNC_SUBJECT: &str = "_chatd.bus.sync";

/// This node's own events that met a gap and wait for the relay to fill
/// it; past this the sweep fills them.
const LOCAL_GAP_QUEUE: usize = 4_096;

/// How to connect a node to the bus.
#[derive(Debug, Clone)]
pub struct BusOptions {
    /// nats-server's URL, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// First token of every subject (`<prefix>.room.<id>`), so several
    /// deployments can share one NATS. Default `chat`.
    pub prefix: String,
    /// The connection name nats-server shows (`/connz`). Default `chatd`.
    pub name: String,
    /// How often the heads of rooms with subscribers here are compared
    /// with storage; `None` turns the sweep off (tests of the reconnect
    /// path). Default 5 s.
    pub sweep_every: Option<Duration>,
    /// Longest wait between reconnect attempts; they start at 50 ms and
    /// double. Default 2 s.
    pub max_reconnect_delay: Duration,
    /// Messages queued for publishing before more are dropped. Default
    /// 65,536.
    pub outbound_queue: usize,
}

impl BusOptions {
    /// The defaults for `url`.
    pub fn new(url: impl Into<String>) -> BusOptions {
        BusOptions {
            url: url.into(),
            prefix: "chat".into(),
            name: "chatd".into(),
            sweep_every: Some(Duration::from_secs(5)),
            max_reconnect_delay: Duration::from_secs(2),
            outbound_queue: 65_536,
        }
    }
}

/// Why the bus could not start.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// nats-server could not be reached or refused the connection.
    #[error(
        "cannot connect to NATS at {url}: {cause}; is nats-server running there (Debian package \
         nats-server)? Check the URL"
    )]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        cause: String,
    },
    /// The subscription to the deployment's subjects failed.
    #[error("cannot subscribe to {subject} on NATS: {cause}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// Why.
        cause: String,
    },
    /// The rooms' heads could not be read from storage.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Counters of one node's bus.
#[derive(Debug, Default)]
pub struct BusStats {
    /// Messages handed to the NATS client.
    pub published: AtomicU64,
    /// Messages not published: disconnected, queue full, or refused.
    pub publish_dropped: AtomicU64,
    /// Messages received.
    pub received: AtomicU64,
    /// Room events delivered to the hub as they arrived.
    pub delivered: AtomicU64,
    /// Room events dropped as already delivered.
    pub duplicates: AtomicU64,
    /// Room events read from storage and delivered to fill a gap.
    pub filled: AtomicU64,
    /// Gap fills or head reads that failed (retried later).
    pub fill_errors: AtomicU64,
    /// Head comparisons after a reconnect or a slow-consumer report.
    pub resyncs: AtomicU64,
    /// Messages that did not decode.
    pub decode_errors: AtomicU64,
}

/// Where the relay hands what is not for the hub. Each hook must not
/// block (it runs on the receiving task).
#[derive(Default)]
pub struct Hooks {
    /// Told the room of every other node's event this node hears of
    /// (delivered here, filled from storage, or passed over because
    /// nobody here follows the room), and of rooms whose head moved while
    /// this node was disconnected: a follower of storage (the search
    /// indexer's feed) then reads their new events.
    pub room_changed: Option<Box<dyn Fn(u64) + Send + Sync>>,
    /// Given other nodes' [`BusMessage::Presence`],
    /// [`BusMessage::Heartbeat`] and [`BusMessage::Gone`] messages.
    pub presence: Option<Box<dyn Fn(BusMessage) + Send + Sync>>,
}

/// One queued outgoing message.
struct Outbound {
    subject: String,
    payload: Bytes,
    /// For a room event, (room, seq): sent as [`BusMessage::Head`] when
    /// the payload is too large for NATS.
    event: Option<(u64, u64)>,
    /// For [`Bus::flush`]'s marker (no payload): told once everything
    /// queued before it was flushed to nats-server.
    flushed: Option<tokio::sync::oneshot::Sender<()>>,
}

/// The outgoing side, cheap to clone: encodes effects and queues them for
/// the publishing task. Never blocks.
#[derive(Clone)]
pub struct Publisher {
    prefix: Arc<str>,
    tx: mpsc::Sender<Outbound>,
    stats: Arc<BusStats>,
    delivery: Arc<Delivery>,
    local_gaps: mpsc::Sender<(u64, u64)>,
}

impl Publisher {
    /// Queues `effects` for the other nodes, in order. Never blocks: when
    /// the queue is full a message is dropped and counted (receivers fill
    /// room events from storage).
    pub fn publish(&self, effects: &[Effect]) {
        for effect in effects {
            self.publish_one(effect);
        }
    }

    fn publish_one(&self, effect: &Effect) {
        let (subject, message) = match BusMessage::of_effect(&self.prefix, effect) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode an effect for the bus");
                self.stats.publish_dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let event = match &message {
            BusMessage::Event { room, seq, .. } => Some((*room, *seq)),
            _ => None,
        };
        let payload = match message.encode() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a bus message");
                self.stats.publish_dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let out = Outbound {
            subject,
            payload,
            event,
            flushed: None,
        };
        if self.tx.try_send(out).is_err() {
            self.stats.publish_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Queues `message` for the other nodes on `subject`. Never blocks:
    /// when the queue is full it is dropped and counted.
    pub fn send(&self, subject: String, message: &BusMessage) {
        let payload = match message.encode() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a bus message");
                self.stats.publish_dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let out = Outbound {
            subject,
            payload,
            event: None,
            flushed: None,
        };
        if self.tx.try_send(out).is_err() {
            self.stats.publish_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The subject prefix (`<prefix>` of every subject).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// This node's committed `effects`: published for the other nodes,
    /// then handed to the local hub, room events through the gap rule
    /// (a seq the relay already filled from storage is not delivered
    /// twice; one after a gap is filled by the relay). What the writer's
    /// tap runs ([`Bus::tap`]).
    pub fn commit(&self, effects: Vec<Effect>) {
        self.publish(&effects);
        self.deliver(effects);
    }

    /// The local half of [`Publisher::commit`]: hands `effects` to this
    /// node's hub only, room events through the gap rule.
    pub fn deliver(&self, effects: Vec<Effect>) {
        let hub = &self.delivery.hub;
        for effect in effects {
            match effect {
                Effect::Room { room, seq, event } => {
                    if let Offered::Gap { .. } = self.delivery.offer(room, seq, Item::Record(event))
                        && self.local_gaps.try_send((room, seq)).is_err()
                    {
                        // The sweep fills it.
                        self.stats.fill_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                other => hub.apply(vec![other]),
            }
        }
    }
}

/// A node's connection to the bus, with its receiving and publishing
/// tasks. Dropping it stops both.
pub struct Bus {
    publisher: Publisher,
    stats: Arc<BusStats>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Bus {
    /// Connects to NATS, subscribes to `<prefix>.>`, reads every room's
    /// head from `fill` as the baseline, and starts delivering other
    /// nodes' effects to `hub`. Returns once the subscription is in place
    /// at nats-server, so every effect published after this returns
    /// reaches `hub`.
    ///
    /// # Errors
    /// [`BusError::Connect`] when nats-server cannot be reached,
    /// [`BusError::Subscribe`], or [`BusError::Store`] when the heads
    /// cannot be read.
    pub async fn connect<G: GapFill>(
        options: BusOptions,
        hub: Arc<Hub>,
        fill: Arc<G>,
    ) -> Result<Bus, BusError> {
        Bus::connect_with(options, hub, fill, Hooks::default()).await
    }

    /// As [`Bus::connect`], handing presence messages and the rooms other
    /// nodes wrote to to `hooks`.
    ///
    /// # Errors
    /// As [`Bus::connect`].
    pub async fn connect_with<G: GapFill>(
        options: BusOptions,
        hub: Arc<Hub>,
        fill: Arc<G>,
        hooks: Hooks,
    ) -> Result<Bus, BusError> {
        let (resync_tx, resync_rx) = mpsc::channel(16);
        let max_delay = options.max_reconnect_delay;
        let connected_before = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let connect_options = async_nats::ConnectOptions::new()
            .name(&options.name)
            // A node never needs its own messages back: its hub has them.
            .no_echo()
            .max_reconnects(None)
            .reconnect_delay_callback(move |attempts| {
                let exp = u32::try_from(attempts.min(16)).unwrap_or(16);
                Duration::from_millis(50u64.saturating_mul(1 << exp)).min(max_delay)
            })
            .event_callback(move |event| {
                let tx = resync_tx.clone();
                // The first connection is covered by the baseline read in
                // `connect`; only later ones are reconnects.
                let reconnect = matches!(event, async_nats::Event::Connected)
                    && connected_before.swap(true, Ordering::Relaxed);
                async move {
                    let why = match event {
                        async_nats::Event::Connected if reconnect => Some(Resync::Reconnected),
                        async_nats::Event::SlowConsumer(_) => Some(Resync::Missed),
                        _ => None,
                    };
                    if let Some(why) = why {
                        // A full queue already holds a resync.
                        let _ = tx.try_send(why);
                    }
                }
            });
        let client = connect_options
            .connect(options.url.as_str())
            .await
            .map_err(|e| BusError::Connect {
                url: options.url.clone(),
                cause: e.to_string(),
            })?;
        let subject = format!("{}.>", options.prefix);
        let sub = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| BusError::Subscribe {
                subject,
                cause: e.to_string(),
            })?;
        relay::round_trip(&client).await;
        let stats = Arc::new(BusStats::default());
        let delivery = Arc::new(Delivery::new(hub, stats.clone()));
        let mut relay = Relay {
            delivery: delivery.clone(),
            fill,
            client: client.clone(),
            stats: stats.clone(),
            hooks,
        };
        relay.baseline().await?;
        let (stop, stop_rx) = watch::channel(false);
        let (tx, rx) = mpsc::channel(options.outbound_queue.max(1));
        let (gaps_tx, gaps_rx) = mpsc::channel(LOCAL_GAP_QUEUE);
        let inputs = Inputs {
            resync: resync_rx,
            local_gaps: gaps_rx,
            sweep_every: options.sweep_every,
            stop: stop_rx,
        };
        let receiving = tokio::spawn(relay.run(sub, inputs));
        let publishing = tokio::spawn(publish_loop(client, rx, stats.clone()));
        Ok(Bus {
            publisher: Publisher {
                prefix: options.prefix.into(),
                tx,
                stats: stats.clone(),
                delivery,
                local_gaps: gaps_tx,
            },
            stats,
            stop,
            tasks: vec![receiving, publishing],
        })
    }

    /// The outgoing side.
    pub fn publisher(&self) -> Publisher {
        self.publisher.clone()
    }

    /// Queues `effects` for the other nodes ([`Publisher::publish`]).
    pub fn publish(&self, effects: &[Effect]) {
        self.publisher.publish(effects);
    }

    /// Effects made outside the writer (typing, presence hidden by a
    /// block): published for the other nodes and handed to this node's
    /// hub, as the tap does for committed ones ([`Publisher::commit`]).
    pub fn fan_out(&self, effects: Vec<Effect>) {
        self.publisher.commit(effects);
    }

    /// The writer's tap (`store::Writer::attach_tap`, in place of
    /// `attach_hub`): every committed batch's effects, published in commit
    /// order and handed to the local hub ([`Publisher::commit`]).
    pub fn tap(&self) -> crate::store::writer::Tap {
        let publisher = self.publisher();
        Box::new(move |effects| publisher.commit(effects))
    }

    /// Waits, at most `wait`, until every message queued before this call
    /// has been written to nats-server (for a graceful stop: the last
    /// presence messages should not die with the process). Returns whether
    /// they were.
    pub async fn flush(&self, wait: Duration) -> bool {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let marker = Outbound {
            subject: String::new(),
            payload: Bytes::new(),
            event: None,
            flushed: Some(tx),
        };
        let queued = self.publisher.tx.send(marker);
        tokio::time::timeout(
            wait,
            async move { queued.await.is_ok() && rx.await.is_ok() },
        )
        .await
        .unwrap_or(false)
    }

    /// This node's counters.
    pub fn stats(&self) -> &BusStats {
        &self.stats
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Publishes queued messages in order; drops them while disconnected (the
/// receivers catch up from storage when this node is back).
async fn publish_loop(
    client: async_nats::Client,
    mut rx: mpsc::Receiver<Outbound>,
    stats: Arc<BusStats>,
) {
    while let Some(out) = rx.recv().await {
        if let Some(flushed) = out.flushed {
            if client.flush().await.is_ok() {
                let _ = flushed.send(());
            }
            continue;
        }
        if client.connection_state() != async_nats::connection::State::Connected {
            stats.publish_dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let max = client.server_info().max_payload;
        let payload = match out.event {
            Some((room, seq)) if out.payload.len() > max => {
                match (BusMessage::Head { room, seq }).encode() {
                    Ok(p) => p,
                    Err(_) => {
                        stats.publish_dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
            }
            _ => out.payload,
        };
        match client.publish(out.subject, payload).await {
            Ok(()) => stats.published.fetch_add(1, Ordering::Relaxed),
            Err(_) => stats.publish_dropped.fetch_add(1, Ordering::Relaxed),
        };
    }
}
