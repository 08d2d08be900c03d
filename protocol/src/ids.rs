//! Identifier newtypes and the timestamp type shared by every message.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A user account's server-assigned id. Never reused after deletion.
///
/// Wire shape: a MessagePack unsigned integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub u64);

/// A room's server-assigned id (group rooms and direct rooms alike).
///
/// Wire shape: a MessagePack unsigned integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomId(pub u64);

/// A room event's sequence number.
///
/// Sequence numbers are per room, start at 1 and increase by exactly one per
/// stored event, so a client that has seen `n` knows it has seen everything
/// up to `n`. `Seq(0)` means "before the first event" and is what a client
/// passes as `since` to receive a room's whole history.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl Seq {
    /// The position before the first event of every room.
    pub const ZERO: Seq = Seq(0);

    /// The next sequence number.
    pub fn next(self) -> Seq {
        Seq(self.0.saturating_add(1))
    }
}

/// A message's globally unique id, a ULID (<https://github.com/ulid/spec>).
///
/// Wire shape: the 26-character Crockford base32 string form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub ulid::Ulid);

impl MessageId {
    /// A new id for a message stored at `ts`.
    pub fn new_at(ts: Timestamp) -> MessageId {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ts.0);
        MessageId(ulid::Ulid::from_datetime(at))
    }
}

/// A request's id, chosen by the client and echoed in its response.
///
/// Clients pick any value; ids only need to be unique among the requests a
/// connection has in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub u64);

/// A client-chosen key that makes a send idempotent.
///
/// If the same user sends twice with the same key, the second send returns
/// the first message and stores nothing. Keys are remembered for
/// [`crate::IDEMPOTENCY_TTL_MS`]. Length: 1 to [`IdempotencyKey::MAX_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(pub String);

impl IdempotencyKey {
    /// Longest accepted key, in bytes.
    pub const MAX_LEN: usize = 128;

    /// A fresh random key (a ULID string), as clients use by default.
    pub fn random() -> IdempotencyKey {
        IdempotencyKey(ulid::Ulid::new().to_string())
    }
}

/// A point in time: UTC milliseconds since the Unix epoch (1970-01-01T00:00:00Z).
///
/// Wire shape: a MessagePack unsigned integer.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current time from the system clock. A clock before 1970 reads as 0.
    pub fn now() -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

macro_rules! display_inner {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}
display_inner!(
    UserId,
    RoomId,
    Seq,
    MessageId,
    RequestId,
    IdempotencyKey,
    Timestamp
);
