//! Presence: online, away or offline, with last-seen, derived from each
//! user's authenticated sessions (several devices count as one user) and an
//! explicit "away" flag. Kept in memory; last-seen is also persisted on the
//! user's record when their last session ends, so it survives restarts.

use chat_protocol::{Presence, Timestamp};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default, Clone, Copy)]
struct Entry {
    sessions: usize,
    away: bool,
    last_seen: Option<u64>,
}

impl Entry {
    fn state(&self) -> Presence {
        match (self.sessions, self.away) {
            (0, _) => Presence::Offline,
            (_, true) => Presence::Away,
            (_, false) => Presence::Online,
        }
    }
}

/// Presence of every user seen since start.
#[derive(Debug, Default)]
pub struct Registry {
    users: Mutex<HashMap<u64, Entry>>,
}

impl Registry {
    fn update(&self, user: u64, f: impl FnOnce(&mut Entry)) -> Option<Presence> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let e = users.entry(user).or_default();
        let before = e.state();
        f(e);
        let after = e.state();
        (before != after).then_some(after)
    }

    /// A session of `user` logged in. Returns the new state if it changed.
    pub fn connected(&self, user: u64) -> Option<Presence> {
        self.update(user, |e| {
            e.sessions += 1;
            e.last_seen = Some(Timestamp::now().0);
        })
    }

    /// A session of `user` ended. Returns the new state if it changed.
    pub fn disconnected(&self, user: u64) -> Option<Presence> {
        self.update(user, |e| {
            e.sessions = e.sessions.saturating_sub(1);
            e.last_seen = Some(Timestamp::now().0);
            if e.sessions == 0 {
                // "Away" is a property of being connected; a user who comes
                // back starts online.
                e.away = false;
            }
        })
    }

    /// Sets or clears `user`'s explicit away flag.
    pub fn set_away(&self, user: u64, away: bool) -> Option<Presence> {
        self.update(user, |e| e.away = away)
    }

    /// `user`'s presence and last-seen as far as this process knows;
    /// `stored_last_seen` fills in for users not seen since start.
    pub fn get(&self, user: u64, stored_last_seen: Option<u64>) -> (Presence, Option<Timestamp>) {
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        match users.get(&user) {
            Some(e) => {
                let seen = if e.sessions > 0 {
                    Some(Timestamp::now().0)
                } else {
                    e.last_seen.or(stored_last_seen)
                };
                (e.state(), seen.map(Timestamp))
            }
            None => (Presence::Offline, stored_last_seen.map(Timestamp)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_count_as_one_user() {
        let r = Registry::default();
        assert_eq!(r.connected(1), Some(Presence::Online));
        assert_eq!(r.connected(1), None, "second device changes nothing");
        assert_eq!(r.set_away(1, true), Some(Presence::Away));
        assert_eq!(r.disconnected(1), None, "one device still connected");
        assert_eq!(r.disconnected(1), Some(Presence::Offline));
        assert!(r.get(1, None).1.is_some());
        assert_eq!(
            r.connected(1),
            Some(Presence::Online),
            "away resets on return"
        );
    }
}
