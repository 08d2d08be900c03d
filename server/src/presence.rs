//! Presence: online, away or offline, with last-seen, derived from each
//! user's authenticated sessions (several devices count as one user) and an
//! explicit "away" flag. Kept in memory; last-seen is also persisted on the
//! user's record when their last session ends, so it survives restarts.
//!
//! With a bus (several nodes), a user's presence merges what this node
//! knows of its own sessions with what other nodes said of theirs
//! ([`Registry::remote`], [`Registry::heartbeat_from`]): online if any node
//! has a session of theirs that is not away, away if every node that has
//! one says away, offline otherwise. Another node's entries are kept until
//! that node says the user left or stops confirming them: each entry
//! lapses after [`MISSED_HEARTBEATS`] of the sending node's heartbeat
//! intervals without a heartbeat naming it ([`Registry::expire`]), so the
//! users of a node that dies go offline everywhere without any message
//! from it; a node that stops gracefully says so ([`Registry::leave`]),
//! and its users go offline at once. This node's own changes go out
//! through the sink set with
//! [`Registry::set_sink`], under the registry's lock, so a heartbeat never
//! overtakes a change made after its snapshot.

use crate::bus::wire::BusMessage;
use chat_protocol::{Presence, Timestamp};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Heartbeats of a node that may be missed before its users are taken as
/// gone: its entries lapse after this many of its heartbeat intervals.
pub const MISSED_HEARTBEATS: u32 = 3;

/// Users named in one heartbeat message at most; a node with more online
/// sends several (each refreshes the users it names), so no heartbeat
/// nears NATS's payload limit (1 MiB by default; 8,192 ids take < 80 KiB).
pub const HEARTBEAT_CHUNK: usize = 8_192;

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

/// What another node said of one user: connected there, away or not,
/// confirmed until `until`.
#[derive(Debug, Clone)]
struct RemoteEntry {
    node: Arc<str>,
    away: bool,
    until: Instant,
}

#[derive(Debug, Default)]
struct State {
    local: HashMap<u64, Entry>,
    remote: HashMap<u64, Vec<RemoteEntry>>,
}

impl State {
    /// The merged presence of `user` (see the module doc).
    fn merged(&self, user: u64) -> Presence {
        let local = self
            .local
            .get(&user)
            .map_or(Presence::Offline, Entry::state);
        if local == Presence::Online {
            return local;
        }
        let mut best = local;
        for r in self.remote.get(&user).into_iter().flatten() {
            if !r.away {
                return Presence::Online;
            }
            best = Presence::Away;
        }
        best
    }

    /// Sets what `node` says of `user` (`None`: not connected there).
    /// Returns the merged state if it changed.
    fn set_remote(
        &mut self,
        node: &str,
        user: u64,
        said: Option<(bool, Instant)>,
    ) -> Option<Presence> {
        let before = self.merged(user);
        let entries = self.remote.entry(user).or_default();
        let at = entries.iter().position(|r| &*r.node == node);
        match (said, at) {
            (Some((away, until)), Some(i)) => {
                entries[i].away = away;
                entries[i].until = until;
            }
            (Some((away, until)), None) => entries.push(RemoteEntry {
                node: node.into(),
                away,
                until,
            }),
            (None, Some(i)) => {
                entries.swap_remove(i);
            }
            (None, None) => {}
        }
        if entries.is_empty() {
            self.remote.remove(&user);
        }
        self.changed(user, before)
    }

    /// The merged state of `user` if it differs from `before`; a user who
    /// went offline gets a last-seen of now.
    fn changed(&mut self, user: u64, before: Presence) -> Option<Presence> {
        let after = self.merged(user);
        if after == before {
            return None;
        }
        if after == Presence::Offline {
            self.local.entry(user).or_default().last_seen = Some(Timestamp::now().0);
        }
        Some(after)
    }
}

/// Where this node's presence messages go (the bus's publisher).
pub type Sink = Box<dyn Fn(BusMessage) + Send + Sync>;

/// Presence of every user seen since start.
#[derive(Default)]
pub struct Registry {
    state: Mutex<State>,
    /// This node's id on the bus and where its messages go; unset without
    /// a bus.
    sink: OnceLock<(Arc<str>, Sink)>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("node", &self.sink.get().map(|(n, _)| n))
            .finish_non_exhaustive()
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends this node's presence changes and heartbeats, as node `node`,
    /// to `sink` (once; later calls are ignored). `sink` is called with
    /// the registry's lock held and must not block.
    pub fn set_sink(&self, node: &str, sink: Sink) {
        let _ = self.sink.set((node.into(), sink));
    }

    fn update(&self, user: u64, f: impl FnOnce(&mut Entry)) -> Option<Presence> {
        let mut state = self.lock();
        let before = state.merged(user);
        let e = state.local.entry(user).or_default();
        let local_before = e.state();
        f(e);
        let local_after = e.state();
        if local_before != local_after
            && let Some((node, sink)) = self.sink.get()
        {
            sink(BusMessage::Presence {
                node: node.to_string(),
                user,
                connected: local_after != Presence::Offline,
                away: local_after == Presence::Away,
            });
        }
        state.changed(user, before)
    }

    /// A session of `user` logged in here. Returns the merged state if it
    /// changed.
    pub fn connected(&self, user: u64) -> Option<Presence> {
        self.update(user, |e| {
            e.sessions += 1;
            e.last_seen = Some(Timestamp::now().0);
        })
    }

    /// A session of `user` here ended. Returns the merged state if it
    /// changed.
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

    /// Sets or clears `user`'s explicit away flag on this node. Returns the
    /// merged state if it changed.
    pub fn set_away(&self, user: u64, away: bool) -> Option<Presence> {
        self.update(user, |e| e.away = away)
    }

    /// Node `node` says `user` is connected there (`away` or not) or, with
    /// `connected` false, no longer is. The entry lapses after
    /// [`MISSED_HEARTBEATS`] × `every` unless a heartbeat confirms it.
    /// Returns the merged state if it changed.
    pub fn remote(
        &self,
        node: &str,
        user: u64,
        connected: bool,
        away: bool,
        every: Duration,
    ) -> Option<Presence> {
        let said = connected.then(|| (away, Instant::now() + every * MISSED_HEARTBEATS));
        self.lock().set_remote(node, user, said)
    }

    /// A heartbeat of node `node`, sent every `every`: the users it names
    /// are connected there (those in `away` are away) for another
    /// [`MISSED_HEARTBEATS`] × `every`. Returns the users whose merged
    /// state changed, with that state.
    pub fn heartbeat_from(
        &self,
        node: &str,
        every: Duration,
        online: &[u64],
        away: &[u64],
    ) -> Vec<(u64, Presence)> {
        let until = Instant::now() + every * MISSED_HEARTBEATS;
        let mut state = self.lock();
        let named = online.iter().map(|u| (*u, false));
        let named = named.chain(away.iter().map(|u| (*u, true)));
        named
            .filter_map(|(user, away)| {
                state
                    .set_remote(node, user, Some((away, until)))
                    .map(|p| (user, p))
            })
            .collect()
    }

    /// Drops other nodes' entries not confirmed by now. Returns the users
    /// whose merged state changed, with that state.
    pub fn expire(&self, now: Instant) -> Vec<(u64, Presence)> {
        let mut state = self.lock();
        let lapsed: Vec<(u64, Arc<str>)> = state
            .remote
            .iter()
            .flat_map(|(user, entries)| {
                entries
                    .iter()
                    .filter(|r| r.until <= now)
                    .map(|r| (*user, r.node.clone()))
            })
            .collect();
        lapsed
            .into_iter()
            .filter_map(|(user, node)| state.set_remote(&node, user, None).map(|p| (user, p)))
            .collect()
    }

    /// Sends this node's heartbeat to the sink (nothing without one): the
    /// users with a session here, in messages of at most
    /// [`HEARTBEAT_CHUNK`] users, saying the next comes within `every`.
    pub fn heartbeat(&self, every: Duration) {
        let Some((node, sink)) = self.sink.get() else {
            return;
        };
        let state = self.lock();
        let (mut online, mut away) = (Vec::new(), Vec::new());
        for (user, e) in &state.local {
            match e.state() {
                Presence::Online => online.push(*user),
                Presence::Away => away.push(*user),
                Presence::Offline => {}
            }
        }
        let every_ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
        // One message even when nobody is here: other nodes learn the node.
        let mut first = true;
        while first || !online.is_empty() || !away.is_empty() {
            first = false;
            let take = online.len().min(HEARTBEAT_CHUNK);
            let o: Vec<u64> = online.drain(..take).collect();
            let take = away.len().min(HEARTBEAT_CHUNK - o.len());
            let a: Vec<u64> = away.drain(..take).collect();
            sink(BusMessage::Heartbeat {
                node: node.to_string(),
                every_ms,
                online: o,
                away: a,
            });
        }
    }

    /// Node `node` said it is stopping: drops all its entries.
    /// Returns the users whose merged state changed, with that state.
    pub fn gone_from(&self, node: &str) -> Vec<(u64, Presence)> {
        let mut state = self.lock();
        let users: Vec<u64> = state
            .remote
            .iter()
            .filter(|(_, entries)| entries.iter().any(|r| &*r.node == node))
            .map(|(user, _)| *user)
            .collect();
        users
            .into_iter()
            .filter_map(|user| state.set_remote(node, user, None).map(|p| (user, p)))
            .collect()
    }

    /// Tells the other nodes (through the sink, if any) that this node is
    /// stopping, so its users go offline there at once rather than after
    /// their entries lapse.
    pub fn leave(&self) {
        if let Some((node, sink)) = self.sink.get() {
            let _state = self.lock();
            sink(BusMessage::Gone {
                node: node.to_string(),
            });
        }
    }

    /// `user`'s merged presence and last-seen as far as this process
    /// knows; `stored_last_seen` fills in for users not seen since start.
    pub fn get(&self, user: u64, stored_last_seen: Option<u64>) -> (Presence, Option<Timestamp>) {
        let state = self.lock();
        let merged = state.merged(user);
        if merged != Presence::Offline {
            return (merged, Some(Timestamp::now()));
        }
        let seen = state
            .local
            .get(&user)
            .and_then(|e| e.last_seen)
            .or(stored_last_seen);
        (merged, seen.map(Timestamp))
    }
}

/// Follows other nodes' presence on the bus, for as long as chatd runs:
/// merges their messages and heartbeats from `feed`, sends this node's
/// heartbeat every `presence_heartbeat_ms`, drops lapsed entries, and
/// announces every merged change to this node's watchers.
pub(crate) async fn follow_bus(
    shared: Arc<crate::shared::Shared>,
    mut feed: tokio::sync::mpsc::Receiver<BusMessage>,
) {
    let every = Duration::from_millis(shared.config.current().presence_heartbeat_ms.max(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let changes = tokio::select! {
            message = feed.recv() => match message {
                Some(message) => heard(&shared.presence, message),
                None => return,
            },
            _ = tick.tick() => {
                shared.presence.heartbeat(every);
                shared.presence.expire(Instant::now())
            }
        };
        for (user, state) in changes {
            crate::handlers::announce_presence(shared.clone(), user, state);
        }
    }
}

/// Merges one message from another node; returns the merged changes.
fn heard(registry: &Registry, message: BusMessage) -> Vec<(u64, Presence)> {
    match message {
        BusMessage::Presence {
            node,
            user,
            connected,
            away,
        } => {
            // Its heartbeat interval is not in this message: the entry
            // lapses after the default interval's allowance unless a
            // heartbeat (which carries the interval) confirms it first.
            let every = Duration::from_millis(crate::config::PRESENCE_HEARTBEAT_MS);
            registry
                .remote(&node, user, connected, away, every)
                .map(|p| (user, p))
                .into_iter()
                .collect()
        }
        BusMessage::Heartbeat {
            node,
            every_ms,
            online,
            away,
        } => registry.heartbeat_from(&node, Duration::from_millis(every_ms), &online, &away),
        BusMessage::Gone { node } => registry.gone_from(&node),
        _ => Vec::new(),
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

    #[test]
    fn other_nodes_merge_with_this_one_and_lapse_without_heartbeats() {
        let r = Registry::default();
        let every = Duration::from_millis(100);
        assert_eq!(
            r.heartbeat_from("b", every, &[7], &[8]),
            vec![(7, Presence::Online), (8, Presence::Away)]
        );
        assert_eq!(r.get(7, None).0, Presence::Online);
        // Online here and away there is online; leaving here changes
        // nothing while node b still has a session.
        assert_eq!(r.connected(8), Some(Presence::Online));
        assert_eq!(r.disconnected(8), Some(Presence::Away));
        assert_eq!(r.connected(7), None);
        assert_eq!(r.disconnected(7), None, "still connected on node b");
        // A node that stops takes its users with it at once.
        r.heartbeat_from("c", every, &[9], &[]);
        assert_eq!(r.gone_from("c"), vec![(9, Presence::Offline)]);
        // Node b says user 7 left: offline at once.
        assert_eq!(
            r.remote("b", 7, false, false, every),
            Some(Presence::Offline)
        );
        // Node b stops: its entries lapse after three intervals.
        let soon = Instant::now() + every;
        assert!(r.expire(soon).is_empty(), "one missed heartbeat is fine");
        let late = Instant::now() + every * (MISSED_HEARTBEATS + 1);
        assert_eq!(r.expire(late), vec![(8, Presence::Offline)]);
        assert_eq!(r.get(8, None).0, Presence::Offline);
        assert!(r.get(8, None).1.is_some(), "last seen when it lapsed");
    }

    #[test]
    fn own_changes_and_heartbeats_go_to_the_sink() {
        let r = Registry::default();
        let sent: Arc<Mutex<Vec<BusMessage>>> = Arc::default();
        let log = sent.clone();
        r.set_sink(
            "a-1",
            Box::new(move |m| log.lock().unwrap_or_else(|p| p.into_inner()).push(m)),
        );
        r.connected(3);
        r.connected(3);
        r.heartbeat(Duration::from_secs(5));
        r.disconnected(3);
        r.disconnected(3);
        let sent = sent.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let presence = |connected| BusMessage::Presence {
            node: "a-1".into(),
            user: 3,
            connected,
            away: false,
        };
        assert_eq!(
            sent,
            vec![
                presence(true),
                BusMessage::Heartbeat {
                    node: "a-1".into(),
                    every_ms: 5_000,
                    online: vec![3],
                    away: vec![],
                },
                presence(false),
            ]
        );
    }
}
