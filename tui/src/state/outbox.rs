//! Messages typed locally that the server has not yet confirmed.
//!
//! Each keeps the [`IdempotencyKey`] it was created with for its whole life,
//! so however often it is retried the server stores it once. What is not
//! yet acknowledged is also kept on disk ([`crate::outbox_file`]), so
//! quitting or a crash loses nothing: the next start sends it again with the
//! same key. [`Outbox::revision`] tells `update` when to save it.

use chat_protocol::{IdempotencyKey, MessageAck, RoomId, Seq, Timestamp};

/// Where an outgoing message stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutgoingState {
    /// Waiting to be sent or for the server's acknowledgement.
    Pending,
    /// The last attempt failed with this reason; it is retried on reconnect.
    Failed(String),
    /// The server stored it at this seq; it leaves the outbox once the room
    /// stream delivers that seq.
    Acked(Seq),
}

/// One outgoing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The key every attempt carries.
    pub key: IdempotencyKey,
    /// The destination room.
    pub room: RoomId,
    /// The text as typed.
    pub text: String,
    /// The message it answers.
    pub reply_to: Option<Seq>,
    /// When it was typed (UTC ms).
    pub created: Timestamp,
    /// Its state.
    pub state: OutgoingState,
}

/// The queue of outgoing messages, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    items: Vec<Outgoing>,
    revision: u64,
}

impl Outbox {
    /// Queues a new message with a fresh key and returns a copy of it.
    pub fn push(
        &mut self,
        room: RoomId,
        text: String,
        reply_to: Option<Seq>,
        now: Timestamp,
    ) -> Outgoing {
        let item = Outgoing {
            key: IdempotencyKey::random(),
            room,
            text,
            reply_to,
            created: now,
            state: OutgoingState::Pending,
        };
        self.items.push(item.clone());
        self.revision += 1;
        item
    }

    /// Adds messages saved by an earlier run, as pending, skipping keys
    /// already queued; returns the ones added, oldest first.
    pub fn restore(&mut self, saved: Vec<Outgoing>) -> Vec<Outgoing> {
        let mut added = Vec::new();
        for mut o in saved {
            if self.items.iter().any(|i| i.key == o.key) {
                continue;
            }
            o.state = OutgoingState::Pending;
            added.push(o.clone());
            self.items.push(o);
        }
        if !added.is_empty() {
            self.revision += 1;
        }
        added
    }

    /// A counter that changes whenever the set of unsent messages or their
    /// states change, so the caller knows when to save them.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Messages the server has not acknowledged yet, oldest first: what
    /// must survive a restart.
    pub fn unsent(&self) -> impl Iterator<Item = &Outgoing> {
        self.items
            .iter()
            .filter(|o| !matches!(o.state, OutgoingState::Acked(_)))
    }

    /// Records a server acknowledgement. Returns `false` for an unknown key.
    pub fn acked(&mut self, key: &IdempotencyKey, ack: &MessageAck) -> bool {
        match self.items.iter_mut().find(|o| &o.key == key) {
            Some(o) => {
                o.state = OutgoingState::Acked(ack.seq);
                self.revision += 1;
                true
            }
            None => false,
        }
    }

    /// Records a failed attempt.
    pub fn failed(&mut self, key: &IdempotencyKey, reason: String) {
        if let Some(o) = self.items.iter_mut().find(|o| &o.key == key) {
            o.state = OutgoingState::Failed(reason);
            self.revision += 1;
        }
    }

    /// Drops the acked message stored at `seq` in `room`, now that the room
    /// stream has delivered it.
    pub fn delivered(&mut self, room: RoomId, seq: Seq) {
        let before = self.items.len();
        self.items
            .retain(|o| !(o.room == room && o.state == OutgoingState::Acked(seq)));
        if self.items.len() != before {
            self.revision += 1;
        }
    }

    /// Marks every unacknowledged message pending again and returns them,
    /// keys unchanged, for resending (after a reconnect).
    pub fn retry_all(&mut self) -> Vec<Outgoing> {
        let mut out = Vec::new();
        for o in &mut self.items {
            if !matches!(o.state, OutgoingState::Acked(_)) {
                o.state = OutgoingState::Pending;
                out.push(o.clone());
            }
        }
        if !out.is_empty() {
            self.revision += 1;
        }
        out
    }

    /// Replaces the entry with the same key (tests pin times with this).
    pub fn replace(&mut self, item: Outgoing) {
        if let Some(o) = self.items.iter_mut().find(|o| o.key == item.key) {
            *o = item;
        }
    }

    /// The messages waiting in `room`, oldest first.
    pub fn for_room(&self, room: RoomId) -> impl Iterator<Item = &Outgoing> {
        self.items.iter().filter(move |o| o.room == room)
    }

    /// Everything queued.
    pub fn iter(&self) -> impl Iterator<Item = &Outgoing> {
        self.items.iter()
    }
}
