//! Who is typing in a room, each entry expiring at an instant.

use std::time::Instant;

/// The users typing in one room.
#[derive(Debug, Clone, Default)]
pub struct Typing {
    who: Vec<(String, Instant)>,
}

impl Typing {
    /// Records that `name` is typing until `until`.
    pub fn set(&mut self, name: String, until: Instant) {
        match self.who.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = until,
            None => self.who.push((name, until)),
        }
    }

    /// Forgets `name` (they sent their message).
    pub fn clear(&mut self, name: &str) {
        self.who.retain(|(n, _)| n != name);
    }

    /// Drops entries that expired at or before `now`.
    pub fn expire(&mut self, now: Instant) {
        self.who.retain(|(_, until)| *until > now);
    }

    /// Names typing at `now`, in the order they started.
    pub fn active(&self, now: Instant) -> Vec<&str> {
        self.who
            .iter()
            .filter(|(_, until)| *until > now)
            .map(|(n, _)| n.as_str())
            .collect()
    }
}
