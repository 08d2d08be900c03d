//! The outbox: messages sent but not yet acknowledged, retried in order
//! with their original idempotency keys until the server acks them.

use chat_protocol::{IdempotencyKey, RoomId, Seq, Timestamp};
use std::collections::VecDeque;

/// One message waiting for its ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSend {
    /// The key every retry reuses, so the server stores it once.
    pub key: IdempotencyKey,
    /// The room.
    pub room: RoomId,
    /// The text.
    pub text: String,
    /// The message it answers.
    pub reply_to: Option<Seq>,
    /// When the user sent it (local clock).
    pub queued_at: Timestamp,
    /// How many times it was handed to the server so far.
    pub attempts: u32,
    /// Whether a send is in flight now.
    pub in_flight: bool,
}

/// Unacknowledged sends in the order the user made them. One is in flight
/// at a time, so messages are stored in the order they were written.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    queue: VecDeque<PendingSend>,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Outbox::default()
    }

    /// Queues a message. A key already queued is ignored (the caller is
    /// retrying the same message).
    pub fn push(&mut self, key: IdempotencyKey, room: RoomId, text: String, reply_to: Option<Seq>) {
        if self.queue.iter().any(|p| p.key == key) {
            return;
        }
        self.queue.push_back(PendingSend {
            key,
            room,
            text,
            reply_to,
            queued_at: Timestamp::now(),
            attempts: 0,
            in_flight: false,
        });
    }

    /// The next message to send, marked in flight; `None` if the queue is
    /// empty or its head is already in flight.
    pub fn next_to_send(&mut self) -> Option<PendingSend> {
        let head = self.queue.front_mut()?;
        if head.in_flight {
            return None;
        }
        head.in_flight = true;
        head.attempts += 1;
        Some(head.clone())
    }

    /// Removes an acknowledged (or permanently refused) message.
    pub fn remove(&mut self, key: &IdempotencyKey) -> Option<PendingSend> {
        let at = self.queue.iter().position(|p| &p.key == key)?;
        self.queue.remove(at)
    }

    /// A send failed transiently: it will be sent again with the same key.
    pub fn retry_later(&mut self, key: &IdempotencyKey) {
        if let Some(p) = self.queue.iter_mut().find(|p| &p.key == key) {
            p.in_flight = false;
        }
    }

    /// The connection dropped: nothing is in flight any more.
    pub fn reset_in_flight(&mut self) {
        for p in &mut self.queue {
            p.in_flight = false;
        }
    }

    /// A snapshot of every pending message, oldest first, e.g. for a UI.
    pub fn pending(&self) -> Vec<PendingSend> {
        self.queue.iter().cloned().collect()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> IdempotencyKey {
        IdempotencyKey(s.to_owned())
    }

    #[test]
    fn sends_in_order_one_at_a_time_with_stable_keys() {
        let mut o = Outbox::new();
        o.push(key("a"), RoomId(1), "one".into(), None);
        o.push(key("b"), RoomId(1), "two".into(), None);
        o.push(key("a"), RoomId(1), "dup".into(), None);
        assert_eq!(o.pending().len(), 2);
        let first = o.next_to_send().unwrap();
        assert_eq!((first.key.clone(), first.attempts), (key("a"), 1));
        assert!(o.next_to_send().is_none(), "one in flight at a time");
        // Connection lost: the same key is retried.
        o.reset_in_flight();
        let again = o.next_to_send().unwrap();
        assert_eq!((again.key.clone(), again.attempts), (key("a"), 2));
        o.retry_later(&key("a"));
        assert_eq!(o.next_to_send().unwrap().attempts, 3);
        assert_eq!(o.remove(&key("a")).unwrap().text, "one");
        assert_eq!(o.next_to_send().unwrap().key, key("b"));
        o.remove(&key("b"));
        assert!(o.is_empty());
    }
}
