//! Retention: how long a room's messages are kept, legal holds, and the
//! purge that removes what is past its time.
//!
//! A policy is set per room and per organisation by server admins. The
//! policy in force for a room (its *effective* policy) is decided in this
//! order, first match wins:
//!
//! 1. a legal hold on the room or on its organisation: nothing is purged;
//! 2. the room's own keep period;
//! 3. its organisation's keep period;
//! 4. the server default: keep forever.
//!
//! A room belongs to the organisation of the user who created it, as
//! recorded in its `Created` event. A purged message keeps its sequence
//! number, time and sender and arrives as [`crate::RoomEventKind::Purged`]:
//! its text, edit versions, reactions and files are gone for everyone,
//! server admins included.

use crate::model::Author;
use crate::{RoomId, Seq, Timestamp};
use serde::{Deserialize, Serialize};

/// Longest keep period accepted, in days (100 years).
pub const MAX_KEEP_DAYS: u32 = 36_500;

/// Longest legal-hold reason accepted, in bytes of UTF-8.
pub const MAX_HOLD_REASON_BYTES: usize = 1024;

/// What a retention setting applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RetentionScope {
    /// One room (any kind, deleted rooms included).
    Room(RoomId),
    /// Every room created by a member of this organisation. Matched after
    /// trimming, NFKC and lower case, so `Ward 3` and `ward 3` are one.
    Org(String),
}

/// How long messages are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Keep {
    /// Never purged.
    Forever,
    /// Purged once older than this many days (1 to [`MAX_KEEP_DAYS`]),
    /// counted from the message's time in 24-hour days.
    Days(u32),
}

/// A legal hold: while set, nothing in its scope is purged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalHold {
    /// Why, as given (a case or matter reference).
    pub reason: String,
    /// Who set it.
    pub by: Author,
    /// When.
    pub at: Timestamp,
}

/// The settings stored for one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionSetting {
    /// The scope. Org names are shown as first set.
    pub scope: RetentionScope,
    /// The keep period set here; `None` when this scope sets none (the
    /// next level decides).
    pub keep: Option<Keep>,
    /// The legal hold set here, if any.
    pub hold: Option<LegalHold>,
}

/// Which level decided a room's effective policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PolicySource {
    /// A legal hold on the room.
    RoomHold,
    /// A legal hold on the room's organisation.
    OrgHold,
    /// The room's keep period.
    Room,
    /// The organisation's keep period.
    Org,
    /// Nothing set: the server default, keep forever.
    Default,
}

/// The policy in force for one room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveRetention {
    /// The room.
    pub room: RoomId,
    /// The room's organisation (its creator's, at creation), as recorded.
    pub org: String,
    /// The keep period in force; [`Keep::Forever`] under a hold.
    pub keep: Keep,
    /// Whether a legal hold stops every purge.
    pub held: bool,
    /// Which level decided.
    pub source: PolicySource,
    /// Every message below this seq is purged (0 or 1: none).
    pub purged_below: Seq,
}

/// The answer to `GetRetention`: the scope's own settings and, for a room,
/// its organisation's settings and the effective policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionInfo {
    /// The settings of the scope asked about.
    pub setting: RetentionSetting,
    /// For a room: its organisation's settings.
    pub org: Option<RetentionSetting>,
    /// For a room: the policy in force.
    pub effective: Option<EffectiveRetention>,
}

/// What one purge pass removed in one room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomPurge {
    /// The room.
    pub room: RoomId,
    /// Lowest purged message seq.
    pub first: Seq,
    /// Highest purged message seq.
    pub last: Seq,
    /// Messages purged (each left as a stub with its seq).
    pub messages: u64,
    /// Edit versions removed.
    pub versions: u64,
    /// Attachment records removed (their blobs go when no record names them).
    pub files: u64,
}

/// The answer to `PurgeNow`: what the pass removed, room by room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    /// The time the pass measured ages against, UTC ms.
    pub now: Timestamp,
    /// Rooms where something was purged, by room id.
    pub rooms: Vec<RoomPurge>,
}

impl PurgeReport {
    /// Messages purged in all rooms.
    pub fn messages(&self) -> u64 {
        self.rooms.iter().map(|r| r.messages).sum()
    }
}
