//! Per-room last-seen sequence numbers: what makes resubscription free of
//! gaps and duplicates.

use chat_protocol::{RoomId, Seq};
use std::collections::HashMap;

/// What to do with an arriving event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The next event: deliver it.
    New,
    /// Already delivered (seq at or below the last seen): drop it.
    Duplicate,
    /// Events are missing between the last seen and this one: resubscribe
    /// from the last seen seq instead of delivering it.
    Gap {
        /// The seq that was expected.
        expected: Seq,
    },
    /// The room is not followed: drop it.
    NotFollowed,
}

/// The last delivered seq of each followed room.
#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    last: HashMap<RoomId, Seq>,
}

impl SeqTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        SeqTracker::default()
    }

    /// Starts (or restarts) following `room`, having seen everything up to
    /// `since`.
    pub fn follow(&mut self, room: RoomId, since: Seq) {
        self.last.insert(room, since);
    }

    /// Stops following `room`.
    pub fn unfollow(&mut self, room: RoomId) {
        self.last.remove(&room);
    }

    /// The last delivered seq, or `None` if `room` is not followed. This is
    /// the `since` of the next subscription.
    pub fn last(&self, room: RoomId) -> Option<Seq> {
        self.last.get(&room).copied()
    }

    /// The followed rooms and their last seqs.
    pub fn rooms(&self) -> impl Iterator<Item = (RoomId, Seq)> + '_ {
        self.last.iter().map(|(r, s)| (*r, *s))
    }

    /// Judges an event and, if it is [`Verdict::New`], records it as seen.
    pub fn accept(&mut self, room: RoomId, seq: Seq) -> Verdict {
        let Some(last) = self.last.get_mut(&room) else {
            return Verdict::NotFollowed;
        };
        if seq <= *last {
            Verdict::Duplicate
        } else if seq == last.next() {
            *last = seq;
            Verdict::New
        } else {
            Verdict::Gap {
                expected: last.next(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_each_seq_once_in_order() {
        let mut t = SeqTracker::new();
        let r = RoomId(1);
        assert_eq!(t.accept(r, Seq(1)), Verdict::NotFollowed);
        t.follow(r, Seq(3));
        assert_eq!(t.accept(r, Seq(2)), Verdict::Duplicate);
        assert_eq!(t.accept(r, Seq(3)), Verdict::Duplicate);
        assert_eq!(t.accept(r, Seq(4)), Verdict::New);
        assert_eq!(t.accept(r, Seq(4)), Verdict::Duplicate);
        assert_eq!(t.accept(r, Seq(6)), Verdict::Gap { expected: Seq(5) });
        assert_eq!(t.last(r), Some(Seq(4)));
        // A resubscription from 4 replays 3..=6; only 5 and 6 are new.
        let out: Vec<Verdict> = (3..=6).map(|s| t.accept(r, Seq(s))).collect();
        assert_eq!(
            out,
            [
                Verdict::Duplicate,
                Verdict::Duplicate,
                Verdict::New,
                Verdict::New
            ]
        );
        t.unfollow(r);
        assert_eq!(t.last(r), None);
    }
}
