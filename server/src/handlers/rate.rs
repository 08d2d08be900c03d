//! The one rate limiter every write passes: each request kind belongs to a
//! [`RateClass`] ([`class_of`], a `match` without a catch-all, so a new
//! request kind does not compile until it is classified), and each class
//! has a token bucket per user with the budget from
//! [`crate::config::LimitsConfig`]. [`admit`] runs on the control-stream
//! reader before a request is dispatched, so a refused request does no
//! work at all.
//!
//! Buckets are per user, not per connection, so more devices do not raise
//! a user's budget. Server admins are exempt (imports and maintenance
//! scripts run as admins); failed logins have their own throttle
//! (`crate::login`).

use crate::config::LimitsConfig;
use chat_protocol::{ErrorBody, ErrorCode, RequestBody};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateClass {
    /// Messages (`Send`, `Import`).
    Send,
    /// Other stored changes: edits, deletions, reactions, joins, leaves,
    /// invitations, moderation, contacts, account and token changes, and
    /// a user's own password and display name.
    Write,
    /// Ephemeral or small signals: typing, read and delivery receipts,
    /// away. Best effort for clients: a refused one is replaced by the next.
    Signal,
    /// Creating a group room. Counts rooms created in the window, not
    /// rooms held, so leaving rooms does not let a user create more.
    RoomCreation,
    /// Reads and session requests: not rate limited (reads are bounded
    /// by the requests a connection may have in flight; logins by
    /// `crate::login`).
    Unlimited,
}

/// The class of every request kind. No catch-all arm: adding a request
/// kind to `chat-protocol` fails to compile here until it is classified.
pub fn class_of(body: &RequestBody) -> RateClass {
    use RateClass::*;
    match body {
        RequestBody::Send { .. }
        | RequestBody::Import { .. }
        | RequestBody::SendWithAttachments { .. } => Send,
        RequestBody::CreateRoom { .. } => RoomCreation,
        RequestBody::Edit { .. }
        | RequestBody::Delete { .. }
        | RequestBody::React { .. }
        | RequestBody::JoinRoom { .. }
        | RequestBody::LeaveRoom { .. }
        | RequestBody::AddMember { .. }
        | RequestBody::OpenDirect { .. }
        | RequestBody::CreateUser { .. }
        | RequestBody::UpdateUser { .. }
        | RequestBody::CreateToken { .. }
        | RequestBody::RevokeToken { .. }
        | RequestBody::AddContact { .. }
        | RequestBody::RemoveContact { .. }
        | RequestBody::SetBlocked { .. }
        | RequestBody::MarkNotificationsRead { .. }
        | RequestBody::Moderate { .. }
        | RequestBody::ChangePassword { .. }
        | RequestBody::SetDisplayName { .. }
        | RequestBody::Reindex => Write,
        // The tamper-evident audit log: a head is signed and stored, an
        // access is recorded; proofs and entries are reads.
        RequestBody::AuditHead | RequestBody::DeclareAccess { .. } => Write,
        RequestBody::AuditConsistency { .. }
        | RequestBody::AuditEntries { .. }
        | RequestBody::AuditHeads { .. } => Unlimited,
        // Retention (server admins, who are never rate limited; classified
        // for completeness): settings are writes, a purge pass too.
        RequestBody::SetRetention { .. }
        | RequestBody::SetLegalHold { .. }
        | RequestBody::PurgeNow => Write,
        RequestBody::GetRetention { .. } | RequestBody::ListRetention => Unlimited,
        RequestBody::Typing { .. }
        | RequestBody::MarkRead { .. }
        | RequestBody::MarkDelivered { .. }
        | RequestBody::SetAway { .. } => Signal,
        RequestBody::Login { .. }
        | RequestBody::Authenticate { .. }
        | RequestBody::Logout
        | RequestBody::WhoAmI
        | RequestBody::Ping
        | RequestBody::ListUsers { .. }
        | RequestBody::GetUser { .. }
        | RequestBody::ListTokens { .. }
        | RequestBody::GetRoom { .. }
        | RequestBody::ListMyRooms
        | RequestBody::ListPublicRooms
        | RequestBody::ListAllRooms
        | RequestBody::ListMembers { .. }
        | RequestBody::History { .. }
        | RequestBody::Subscribe { .. }
        | RequestBody::Unsubscribe { .. }
        | RequestBody::MessageAudit { .. }
        | RequestBody::ReadBy { .. }
        | RequestBody::ListNotifications { .. }
        | RequestBody::ListContacts
        | RequestBody::ListBlocked
        | RequestBody::GetPresence { .. }
        | RequestBody::ModerationLog { .. }
        | RequestBody::ServerInfo
        | RequestBody::ServerStats
        | RequestBody::ListUsersPage { .. }
        | RequestBody::ListMyRoomsPage { .. }
        | RequestBody::ListRoomsPage { .. }
        | RequestBody::ListMembersPage { .. }
        | RequestBody::ListTokensPage { .. }
        | RequestBody::ModerationLogPage { .. }
        | RequestBody::ListFiles { .. }
        // A search is a read: it counts among the connection's large
        // answers in flight (`RequestBody::may_answer_large`).
        | RequestBody::Search(_)
        | RequestBody::SearchStatus => Unlimited,
    }
}

/// A class's budget: a bucket of `burst` tokens that refills completely
/// every `window`, evenly (so `burst / window` is the sustained rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Requests allowed at once, at least 1.
    pub burst: u32,
    /// Time to refill `burst` tokens from empty.
    pub window: Duration,
}

impl Budget {
    /// `per_sec` sustained with bursts of `burst`.
    pub fn per_sec(per_sec: u32, burst: u32) -> Budget {
        let burst = burst.max(1);
        Budget {
            burst,
            window: Duration::from_secs_f64(f64::from(burst) / f64::from(per_sec.max(1))),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Most users with a bucket in one class before idle full buckets are
/// dropped, so the maps stay bounded.
const MAX_TRACKED: usize = 100_000;

/// Token buckets of all users for one class.
#[derive(Debug)]
struct Buckets {
    inner: Mutex<BucketsInner>,
}

#[derive(Debug)]
struct BucketsInner {
    burst: f64,
    /// Tokens added per ms.
    per_ms: f64,
    map: HashMap<u64, Bucket>,
}

impl Buckets {
    fn new(b: Budget) -> Buckets {
        let (burst, per_ms) = Buckets::rates(b);
        Buckets {
            inner: Mutex::new(BucketsInner {
                burst,
                per_ms,
                map: HashMap::new(),
            }),
        }
    }

    fn rates(b: Budget) -> (f64, f64) {
        let burst = f64::from(b.burst.max(1));
        let window_ms = (b.window.as_secs_f64() * 1000.0).max(1.0);
        (burst, burst / window_ms)
    }

    /// Gives the class a new budget (a configuration reload). Each user's
    /// tokens carry over, capped at the new burst.
    fn set(&self, b: Budget) {
        let (burst, per_ms) = Buckets::rates(b);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.burst = burst;
        inner.per_ms = per_ms;
        for bucket in inner.map.values_mut() {
            bucket.tokens = bucket.tokens.min(burst);
        }
    }

    /// Takes a token for `user` at `now`, or says how long to wait, in ms
    /// (at least 1).
    fn take(&self, user: u64, now: Instant) -> Result<(), u64> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (per_ms, burst) = (inner.per_ms, inner.burst);
        let map = &mut inner.map;
        if map.len() >= MAX_TRACKED && !map.contains_key(&user) {
            map.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * 1000.0 * per_ms
                    < burst
            });
        }
        let b = map.entry(user).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed_ms = now.saturating_duration_since(b.at).as_secs_f64() * 1000.0;
        b.tokens = (b.tokens + elapsed_ms * per_ms).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - b.tokens) / per_ms).ceil();
            // A float to integer `as` saturates; the bucket's window bounds it anyway.
            Err((wait as u64).max(1))
        }
    }
}

/// The limiter of one server: one set of buckets per limited class.
#[derive(Debug)]
pub struct Limiter {
    send: Buckets,
    write: Buckets,
    signal: Buckets,
    rooms: Buckets,
}

/// The budgets of `limits`: send, write, signal, room creation.
fn budgets(limits: &LimitsConfig) -> [Budget; 4] {
    [
        Budget::per_sec(limits.send_rate_per_sec, limits.send_burst),
        Budget::per_sec(limits.write_rate_per_sec, limits.write_burst),
        Budget::per_sec(limits.signal_rate_per_sec, limits.signal_burst),
        Budget {
            burst: limits.room_creations_per_day,
            window: Duration::from_secs(24 * 60 * 60),
        },
    ]
}

impl Limiter {
    /// Buckets with the budgets of `limits`.
    pub fn new(limits: &LimitsConfig) -> Limiter {
        let [send, write, signal, rooms] = budgets(limits);
        Limiter {
            send: Buckets::new(send),
            write: Buckets::new(write),
            signal: Buckets::new(signal),
            rooms: Buckets::new(rooms),
        }
    }

    /// Takes the budgets of `limits` (a configuration reload); users keep
    /// the tokens they have, up to the new bursts.
    pub fn set_limits(&self, limits: &LimitsConfig) {
        let [send, write, signal, rooms] = budgets(limits);
        self.send.set(send);
        self.write.set(write);
        self.signal.set(signal);
        self.rooms.set(rooms);
    }

    /// Takes one token of `class` for `user` at `now`.
    ///
    /// # Errors
    /// [`ErrorCode::RateLimited`] with `retry_after_ms` set (ms to wait
    /// until the next token) and a sentence naming the class.
    pub fn check(&self, class: RateClass, user: u64, now: Instant) -> Result<(), ErrorBody> {
        let (buckets, what) = match class {
            RateClass::Unlimited => return Ok(()),
            RateClass::Send => (
                &self.send,
                "sending messages too fast; retry with the same idempotency key",
            ),
            RateClass::Write => (
                &self.write,
                "changing things too fast (edits, deletions, reactions, joins and other writes)",
            ),
            RateClass::Signal => (&self.signal, "sending typing notices or receipts too fast"),
            RateClass::RoomCreation => (
                &self.rooms,
                "you created as many rooms as the server allows per day (leaving rooms does not \
                 give them back)",
            ),
        };
        buckets.take(user, now).map_err(|wait_ms| ErrorBody {
            code: ErrorCode::RateLimited,
            message: format!("{what}; wait {wait_ms} ms and try again"),
            retry_after_ms: Some(wait_ms),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;

    fn limits() -> LimitsConfig {
        LimitsConfig {
            send_rate_per_sec: 10,
            send_burst: 3,
            room_creations_per_day: 2,
            ..LimitsConfig::default()
        }
    }

    #[test]
    fn burst_then_refill() {
        let l = Limiter::new(&limits());
        let t0 = Instant::now();
        for _ in 0..3 {
            l.check(RateClass::Send, 1, t0).unwrap();
        }
        let e = l.check(RateClass::Send, 1, t0).unwrap_err();
        assert_eq!(e.code, ErrorCode::RateLimited);
        let wait = e.retry_after_ms.unwrap();
        assert!((1..=100).contains(&wait), "{wait}");
        assert!(
            l.check(RateClass::Send, 2, t0).is_ok(),
            "other users are unaffected"
        );
        assert!(
            l.check(RateClass::Write, 1, t0).is_ok(),
            "other classes are unaffected"
        );
        l.check(RateClass::Send, 1, t0 + Duration::from_millis(100))
            .unwrap();
    }

    /// A configuration reload (`crate::reload`) gives new budgets at once:
    /// a lower burst caps the tokens users hold, a higher one lets new
    /// users burst further.
    #[test]
    fn new_limits_apply_to_existing_buckets() {
        let l = Limiter::new(&limits());
        let t0 = Instant::now();
        l.check(RateClass::Send, 1, t0).unwrap();
        let mut lower = limits();
        lower.send_burst = 1;
        l.set_limits(&lower);
        l.check(RateClass::Send, 1, t0).unwrap();
        assert!(l.check(RateClass::Send, 1, t0).is_err(), "capped at 1");
        let mut higher = limits();
        higher.send_burst = 10;
        l.set_limits(&higher);
        for _ in 0..10 {
            l.check(RateClass::Send, 2, t0).unwrap();
        }
        assert!(l.check(RateClass::Send, 2, t0).is_err());
    }

    #[test]
    fn room_creation_refills_over_a_day() {
        let l = Limiter::new(&limits());
        let t0 = Instant::now();
        l.check(RateClass::RoomCreation, 1, t0).unwrap();
        l.check(RateClass::RoomCreation, 1, t0).unwrap();
        let wait = l
            .check(RateClass::RoomCreation, 1, t0)
            .unwrap_err()
            .retry_after_ms
            .unwrap();
        // Two per day: one token every 12 hours.
        assert!(
            wait > 11 * 3600 * 1000 && wait <= 12 * 3600 * 1000,
            "{wait}"
        );
        l.check(
            RateClass::RoomCreation,
            1,
            t0 + Duration::from_secs(12 * 3600),
        )
        .unwrap();
    }

    #[test]
    fn unlimited_is_never_refused() {
        let l = Limiter::new(&limits());
        let t0 = Instant::now();
        for _ in 0..10_000 {
            l.check(RateClass::Unlimited, 1, t0).unwrap();
        }
    }
}
