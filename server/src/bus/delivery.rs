//! The one door into the local hub for room events when the bus is on:
//! this node's own committed events (from the writer's tap), other nodes'
//! events (from the relay) and events read from storage to fill a gap all
//! pass the gap rule here, under one lock, so the hub gets each seq of a
//! room once and in order whichever path brought it first.

use super::BusStats;
use super::sequencer::{Sequencer, Step};
use crate::fanout::{Effect, Hub, Live};
use crate::store::records::EventRecord;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// A room event on its way to the hub.
pub(super) enum Item {
    /// Encoded by the node that committed it.
    Live(Live),
    /// As stored; the hub encodes it if anyone here follows the room.
    Record(Box<EventRecord>),
}

/// What [`Delivery::offer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Offered {
    /// Delivered (or nobody here follows the room, so nothing was needed).
    Done,
    /// Already delivered; dropped.
    Duplicate,
    /// Events after `after` are missing; nothing was delivered.
    Gap {
        /// The last seq delivered.
        after: u64,
    },
}

pub(super) struct Delivery {
    pub hub: Arc<Hub>,
    pub stats: Arc<BusStats>,
    seq: Mutex<Sequencer>,
}

impl Delivery {
    pub fn new(hub: Arc<Hub>, stats: Arc<BusStats>) -> Delivery {
        Delivery {
            hub,
            stats,
            seq: Mutex::new(Sequencer::default()),
        }
    }

    fn seq(&self) -> std::sync::MutexGuard<'_, Sequencer> {
        self.seq.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last seq delivered in `room`.
    pub fn last(&self, room: u64) -> u64 {
        self.seq().last(room)
    }

    /// Records that `room` needs nothing delivered up to `head` (nobody
    /// here follows it, or the baseline).
    pub fn skip_to(&self, room: u64, head: u64) {
        self.seq().advance(room, head);
    }

    /// Delivers event `seq` of `room` if it is the next one. The check,
    /// the hand-over to the hub and the advance happen under one lock, so
    /// two paths offering the same seq deliver it once. Never blocks on
    /// anything but that lock (the hub's queues never wait).
    pub fn offer(&self, room: u64, seq: u64, item: Item) -> Offered {
        let mut state = self.seq();
        match state.step(room, seq) {
            Step::Duplicate => {
                self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                Offered::Duplicate
            }
            // Nobody here follows the room: nothing to deliver or fill. A
            // subscriber that joins later reads its catch-up from storage
            // after registering with the hub.
            Step::Gap { .. } | Step::Deliver if !self.hub.has_room(room) => {
                state.advance(room, seq);
                Offered::Done
            }
            Step::Gap { after } => Offered::Gap { after },
            Step::Deliver => {
                match item {
                    Item::Live(live) => self.hub.publish_live(room, live),
                    Item::Record(event) => self.hub.apply(vec![Effect::Room { room, seq, event }]),
                }
                state.advance(room, seq);
                Offered::Done
            }
        }
    }
}
