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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64) -> Item {
        Item::Record(Box::new(crate::store::records::test_message(seq)))
    }

    #[test]
    fn each_seq_reaches_the_hub_once_and_in_order_whichever_path_offers_it() {
        let hub = Hub::new(16);
        let delivery = Delivery::new(hub.clone(), Arc::default());
        let mut sub = hub.subscribe(1, 10);
        assert_eq!(delivery.offer(1, 1, record(1)), Offered::Done);
        // Seq 3 before 2: nothing delivered until 2 is there.
        assert_eq!(delivery.offer(1, 3, record(3)), Offered::Gap { after: 1 });
        assert_eq!(delivery.offer(1, 2, record(2)), Offered::Done);
        assert_eq!(delivery.offer(1, 3, record(3)), Offered::Done);
        // A second path offering what was delivered changes nothing.
        assert_eq!(delivery.offer(1, 2, record(2)), Offered::Duplicate);
        let seqs: Vec<u64> = std::iter::from_fn(|| sub.rx.try_recv().ok().map(|l| l.seq)).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        assert_eq!(delivery.stats.duplicates.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_room_nobody_here_follows_just_moves_on() {
        let hub = Hub::new(16);
        let delivery = Delivery::new(hub, Arc::default());
        assert_eq!(delivery.offer(5, 9, record(9)), Offered::Done);
        assert_eq!(delivery.last(5), 9);
        assert_eq!(delivery.offer(5, 4, record(4)), Offered::Duplicate);
    }
}
