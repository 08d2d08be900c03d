//! The gap rule, as pure state: the last sequence number delivered to the
//! local hub per room, and what to do with the next one that arrives.
//!
//! NATS core delivers at most once and may drop (a slow consumer, a
//! restart of nats-server loses whatever was in flight), and with several
//! writing nodes a room's events come from several publishers whose order
//! NATS does not relate. So a receiving node delivers seq `n` only right
//! after `n - 1`: an older or repeated seq is dropped, and a newer one
//! first has the missing seqs read from storage (see `relay.rs`).

use std::collections::HashMap;

/// What to do with a room event that arrived with `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `seq` is the next one: deliver it.
    Deliver,
    /// `seq` was delivered already (a duplicate or a late copy): drop it.
    Duplicate,
    /// Events after `after` and before `seq` are missing: read them from
    /// storage and deliver them first.
    Gap {
        /// The last seq delivered.
        after: u64,
    },
}

/// The last seq delivered to the local hub, per room.
#[derive(Debug, Default)]
pub struct Sequencer {
    last: HashMap<u64, u64>,
}

impl Sequencer {
    /// The last seq delivered in `room`; 0 for a room never seen, which is
    /// right for a room created after the node read its baseline (its
    /// events start at 1).
    pub fn last(&self, room: u64) -> u64 {
        self.last.get(&room).copied().unwrap_or(0)
    }

    /// What to do with `seq` of `room`.
    pub fn step(&self, room: u64, seq: u64) -> Step {
        let last = self.last(room);
        if seq <= last {
            Step::Duplicate
        } else if seq == last + 1 {
            Step::Deliver
        } else {
            Step::Gap { after: last }
        }
    }

    /// Records that everything up to `seq` of `room` was delivered (or
    /// needs no delivery: nobody on this node follows the room). Never
    /// moves backwards.
    pub fn advance(&mut self, room: u64, seq: u64) {
        let last = self.last.entry(room).or_insert(0);
        *last = (*last).max(seq);
    }

    /// Rooms tracked.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether no room is tracked.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_delivered_older_is_a_duplicate_newer_is_a_gap() {
        let mut s = Sequencer::default();
        assert_eq!(s.step(1, 1), Step::Deliver);
        s.advance(1, 1);
        assert_eq!(s.step(1, 1), Step::Duplicate);
        assert_eq!(s.step(1, 2), Step::Deliver);
        assert_eq!(s.step(1, 5), Step::Gap { after: 1 });
        s.advance(1, 5);
        assert_eq!(s.step(1, 3), Step::Duplicate);
        // Rooms are independent.
        assert_eq!(s.step(2, 1), Step::Deliver);
        assert_eq!(s.step(2, 2), Step::Gap { after: 0 });
    }

    #[test]
    fn advance_never_moves_backwards() {
        let mut s = Sequencer::default();
        s.advance(1, 10);
        s.advance(1, 4);
        assert_eq!(s.last(1), 10);
        assert_eq!(s.len(), 1);
    }
}
