//! The receiving side: one task takes every bus message in arrival order
//! and hands it to the local hub, room events through the gap rule
//! ([`super::sequencer`]), missing ones read from storage ([`GapFill`]).
//!
//! A message can be missed without any later one showing it (the last
//! event of a burst dropped, or everything published while this node was
//! disconnected), so the relay also re-reads the heads of the rooms it has
//! subscribers for: after every reconnect and slow-consumer report, and
//! every `sweep_every`.

use super::delivery::{Delivery, Item, Offered};
use super::gap_fill::GapFill;
use super::wire::BusMessage;
use super::{BusStats, Hooks, SYNC_SUBJECT};
use crate::fanout::Effect;
use crate::store::StoreError;
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Why the relay re-reads room heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resync {
    /// The connection to NATS was re-established: anything published
    /// while it was down never arrives, and account changes may have been
    /// missed too.
    Reconnected,
    /// The client dropped messages (a slow consumer).
    Missed,
}

/// Longest the relay waits for nats-server to answer its round trip after
/// a reconnect before reading heads anyway (the sweep covers the rest).
const SYNC_WAIT: Duration = Duration::from_secs(2);

pub(super) struct Relay<G> {
    pub delivery: Arc<Delivery>,
    pub fill: Arc<G>,
    pub client: async_nats::Client,
    pub stats: Arc<BusStats>,
    pub hooks: Hooks,
}

/// The relay's inputs besides NATS.
pub(super) struct Inputs {
    /// Reconnects and slow-consumer reports.
    pub resync: mpsc::Receiver<Resync>,
    /// (room, seq) of this node's own events that found a gap before them
    /// (another node's event not here yet): filled from storage up to and
    /// including seq.
    pub local_gaps: mpsc::Receiver<(u64, u64)>,
    /// Period of the sweep, if any.
    pub sweep_every: Option<Duration>,
    /// Set to stop.
    pub stop: watch::Receiver<bool>,
}

impl<G: GapFill> Relay<G> {
    /// Reads every room's head as the baseline: called after the
    /// subscription is in place, so every later event either arrives or
    /// shows up as a gap.
    pub async fn baseline(&mut self) -> Result<(), StoreError> {
        for (room, head) in self.fill.heads(None).await? {
            self.delivery.skip_to(room, head);
        }
        Ok(())
    }

    pub async fn run(mut self, mut sub: async_nats::Subscriber, mut inputs: Inputs) {
        let mut sweep = inputs.sweep_every.map(|every| {
            let mut t = tokio::time::interval(every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            tokio::select! {
                msg = sub.next() => match msg {
                    Some(msg) => self.on_message(&msg.payload).await,
                    None => return,
                },
                why = inputs.resync.recv() => match why {
                    Some(why) => self.resync(why).await,
                    None => return,
                },
                gap = inputs.local_gaps.recv() => match gap {
                    Some((room, seq)) => self.on_event(room, seq, None).await,
                    None => return,
                },
                _ = async {
                    match sweep.as_mut() {
                        Some(t) => { t.tick().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => {
                    let rooms = self.delivery.hub.rooms();
                    self.catch_up(Some(rooms)).await;
                }
                _ = inputs.stop.changed() => return,
            }
        }
    }

    async fn on_message(&mut self, payload: &[u8]) {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let message = match BusMessage::decode(payload) {
            Ok(m) => m,
            Err(e) => {
                self.stats.decode_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "ignoring a bus message that does not decode");
                return;
            }
        };
        let hub = &self.delivery.hub;
        match message {
            BusMessage::Event { room, seq, .. } => {
                self.room_changed(room);
                let live = message.live().map(Item::Live);
                self.on_event(room, seq, live).await;
            }
            BusMessage::Head { room, seq } => {
                self.room_changed(room);
                self.on_event(room, seq, None).await;
            }
            BusMessage::Ephemeral { room, frame } => hub.publish_ephemeral(room, frame),
            BusMessage::User { user, frame } => hub.publish_user(user, frame),
            BusMessage::Revoke { room, user } => hub.apply(vec![Effect::Revoke { room, user }]),
            BusMessage::Account { user } => hub.account_changed(user),
            BusMessage::Presence { .. }
            | BusMessage::Heartbeat { .. }
            | BusMessage::Gone { .. } => {
                if let Some(presence) = &self.hooks.presence {
                    presence(message);
                }
            }
        }
    }

    /// Tells the room-changed hook (the search indexer's feed) of `room`.
    fn room_changed(&self, room: u64) {
        if let Some(hook) = &self.hooks.room_changed {
            hook(room);
        }
    }

    /// The gap rule for event `seq` of `room`; `item` is `None` when the
    /// event itself must be read from storage too. After a gap the event
    /// is read from storage with the missing ones (it is committed: it was
    /// published after its commit).
    async fn on_event(&mut self, room: u64, seq: u64, item: Option<Item>) {
        if let Some(item) = item {
            match self.delivery.offer(room, seq, item) {
                Offered::Done => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Offered::Duplicate => return,
                Offered::Gap { .. } => {}
            }
        }
        self.fill_logged(room, seq).await;
    }

    /// [`Relay::fill`], logging and counting a failure (the event is then
    /// neither delivered nor passed over: the room's next event, or the
    /// sweep, tries again). Whether the room is delivered through `up_to`.
    async fn fill_logged(&mut self, room: u64, up_to: u64) -> bool {
        match self.fill(room, up_to).await {
            Ok(()) => true,
            Err(e) => {
                self.stats.fill_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, room, up_to, "cannot fill a gap from storage");
                false
            }
        }
    }

    /// Reads and delivers `room`'s events after the last delivered one up
    /// to `up_to`, page by page. Another path may deliver some meanwhile;
    /// those are dropped as duplicates.
    async fn fill(&mut self, room: u64, up_to: u64) -> Result<(), StoreError> {
        loop {
            let after = self.delivery.last(room);
            if after >= up_to {
                return Ok(());
            }
            let page = self.fill.events(room, after, up_to).await?;
            if page.is_empty() {
                return Err(StoreError::Corrupt(format!(
                    "room {room}: events {}..={up_to} are not in storage",
                    after + 1
                )));
            }
            for (seq, event) in page {
                match self
                    .delivery
                    .offer(room, seq, Item::Record(Box::new(event)))
                {
                    Offered::Done => {
                        self.stats.filled.fetch_add(1, Ordering::Relaxed);
                    }
                    Offered::Duplicate => {}
                    Offered::Gap { after } => {
                        return Err(StoreError::Corrupt(format!(
                            "room {room}: storage has no event {}",
                            after + 1
                        )));
                    }
                }
            }
        }
    }

    async fn resync(&mut self, why: Resync) {
        self.stats.resyncs.fetch_add(1, Ordering::Relaxed);
        if why == Resync::Reconnected {
            // The client re-sends its subscription before anything queued
            // after the reconnect; a round trip through nats-server proves
            // the server has it, so every event committed after the heads
            // are read below arrives or shows up as a gap.
            round_trip(&self.client).await;
        }
        // Account changes may be among what was lost (while disconnected,
        // or dropped as a slow consumer): every session here checks its
        // rights again.
        self.delivery.hub.all_accounts_changed();
        self.catch_up(None).await;
    }

    /// Compares rooms' heads in storage with what was delivered: rooms with
    /// subscribers here are filled, the others just move on. `None` reads
    /// every room.
    async fn catch_up(&mut self, rooms: Option<Vec<u64>>) {
        if rooms.as_ref().is_some_and(Vec::is_empty) {
            return;
        }
        let heads = match self.fill.heads(rooms).await {
            Ok(h) => h,
            Err(e) => {
                self.stats.fill_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "cannot read room heads to catch up the bus");
                return;
            }
        };
        for (room, head) in heads {
            if head <= self.delivery.last(room) {
                continue;
            }
            self.room_changed(room);
            if !self.delivery.hub.has_room(room) {
                self.delivery.skip_to(room, head);
            } else {
                self.fill_logged(room, head).await;
            }
        }
    }
}

/// A request nobody answers: nats-server's "no responders" reply comes
/// after it processed everything this client sent before, subscriptions
/// included. Gives up after [`SYNC_WAIT`].
pub(super) async fn round_trip(client: &async_nats::Client) {
    let request = client.request(SYNC_SUBJECT, bytes::Bytes::new());
    match tokio::time::timeout(SYNC_WAIT, request).await {
        Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {}
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "bus round trip failed"),
        Err(_) => tracing::debug!("bus round trip timed out"),
    }
}
