//! Wire views of users, rooms, members and messages.
//!
//! These are what travels, not what is stored: the server keeps its own
//! storage structs and converts, so either side can evolve.

use crate::{MessageId, RoomId, Seq, Timestamp, UserId};
use serde::{Deserialize, Serialize};

/// A user as shown to other users: enough to render a sender.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Author {
    /// The account id.
    pub id: UserId,
    /// The login name (see [`crate::names::validate_username`]).
    pub username: String,
    /// The name shown in clients; may contain any printable characters.
    pub display_name: String,
    /// Free-text organization, e.g. a hospital ward or team.
    pub org: String,
}

/// A user account. Everyone sees the public profile ([`Author`]: username,
/// display name, organization); the account fields are present only for
/// server admins and for the user themself, and absent (`None`, left out
/// of the encoding) for anyone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Public identity.
    pub author: Author,
    /// Whether this is a server admin; `None` when not shown to the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,
    /// Whether the account is disabled (cannot log in); `None` when not
    /// shown to the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// When the account was created; `None` when not shown to the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
}

impl UserInfo {
    /// Whether the account is known to be a server admin (`false` when the
    /// flag was not shown).
    pub fn is_admin(&self) -> bool {
        self.admin == Some(true)
    }

    /// Whether the account is known to be disabled.
    pub fn is_disabled(&self) -> bool {
        self.disabled == Some(true)
    }
}

/// A long-lived API token's metadata. The secret itself is shown only once,
/// at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The token's id, used to revoke it.
    pub id: u64,
    /// Owner of the token.
    pub user: Author,
    /// Free-text label, e.g. `alerts-bot`.
    pub label: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// Whether it is a long-lived API token (`true`) or a login session.
    pub api: bool,
}

/// Whether a room is a group room or a direct conversation of two users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RoomKind {
    /// A named room with any number of members.
    Group,
    /// A direct message room: exactly two members, one room per pair.
    Direct,
}

/// Who may join a group room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Visibility {
    /// Listed in the directory; anyone may join.
    Public,
    /// Unlisted; only those invited or added may join.
    Private,
}

/// A member's role in a room. Ordered by power: `Member < Admin < Owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Reads and sends.
    Member,
    /// Also moderates: invites, kicks, bans, mutes, changes the topic.
    Admin,
    /// Also archives, changes visibility and transfers ownership. One per room.
    Owner,
}

/// A room's description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// The room's id.
    pub id: RoomId,
    /// Group or direct.
    pub kind: RoomKind,
    /// Unique name of a group room; for a direct room, `@` and the peer's
    /// username as seen by the caller.
    pub name: String,
    /// Free-text topic; empty when unset.
    pub topic: String,
    /// Public or private (direct rooms are private).
    pub visibility: Visibility,
    /// When the room was created.
    pub created_at: Timestamp,
    /// Whether the room is archived (read-only).
    pub archived: bool,
    /// Number of current members.
    pub member_count: u32,
    /// Sequence number of the room's latest event; `Seq(0)` if none.
    pub head: Seq,
}

/// One entry of a user's chat list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    /// The room.
    pub room: RoomInfo,
    /// The caller's role in it.
    pub role: Role,
    /// Highest sequence number the caller has read.
    pub read_seq: Seq,
    /// Messages after `read_seq` that are not the caller's own.
    pub unread: u64,
    /// Unread messages that mention the caller.
    pub mentions: u64,
    /// The latest message, for a preview; `None` in a room with none.
    pub last_message: Option<crate::RoomEvent>,
    /// Time of the latest event, or the room's creation; the list is ordered
    /// by this, newest first.
    pub last_activity: Timestamp,
}

/// A room member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Who.
    pub user: Author,
    /// Their role.
    pub role: Role,
    /// When they joined.
    pub joined_at: Timestamp,
}

/// The acknowledgement of a stored message: returned only after the message
/// is durably committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageAck {
    /// Room the message went to.
    pub room: RoomId,
    /// Its sequence number in that room.
    pub seq: Seq,
    /// Its id.
    pub id: MessageId,
    /// When the server stored it.
    pub ts: Timestamp,
    /// `true` if the idempotency key was seen before and this is the
    /// original message, not a new one.
    pub duplicate: bool,
}

/// Where a history page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HistoryAnchor {
    /// The newest events, ending at the room's head.
    Latest,
    /// Events with a sequence number strictly below this one, newest last.
    Before(Seq),
    /// Events with a sequence number strictly above this one, oldest first.
    After(Seq),
}

/// A page of a room's history, oldest event first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    /// The room.
    pub room: RoomId,
    /// Events in ascending sequence order.
    pub events: Vec<crate::RoomEvent>,
    /// The room's head when the page was read.
    pub head: Seq,
    /// Whether more events exist beyond the page in the paging direction.
    pub has_more: bool,
}

/// Counts a server reports with `ServerStats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStats {
    /// Open QUIC connections.
    pub connections: u64,
    /// Authenticated sessions among them.
    pub sessions: u64,
    /// Rooms stored.
    pub rooms: u64,
    /// Users stored.
    pub users: u64,
    /// Room events stored (messages and other events).
    pub events: u64,
    /// Write transactions committed since start.
    pub commits: u64,
    /// Writes carried by those commits (a group commit carries several).
    pub writes: u64,
    /// Seconds since the server started.
    pub uptime_secs: u64,
    /// Failed password logins since start.
    #[serde(default)]
    pub failed_logins: u64,
    /// Logins refused by the failed-login throttle since start.
    #[serde(default)]
    pub throttled_logins: u64,
    /// Connections refused at the connection limit since start.
    #[serde(default)]
    pub refused_connections: u64,
    /// The store's state: `healthy`, or `degraded, not accepting writes
    /// for N s: <error>` after a disk fault until the database reopens.
    /// Empty from servers older than this field.
    #[serde(default)]
    pub storage: String,
    /// Idempotency records held; records older than the 7-day window are
    /// swept in the background.
    #[serde(default)]
    pub idempotency_keys: u64,
    /// Writes that failed on their own and were dropped from their batch
    /// (the rest of the batch was stored) since start.
    #[serde(default)]
    pub failed_writes: u64,
}

/// Facts about the server, from `ServerInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Software name and version.
    pub server: String,
    /// Negotiated protocol version.
    pub protocol_version: u32,
    /// Enforced limits.
    pub limits: crate::Limits,
}

/// Whether a user is reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Presence {
    /// At least one connection, not set away.
    Online,
    /// Connected but set away.
    Away,
    /// No connection.
    Offline,
}

/// A user's presence with last-seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceInfo {
    /// Who.
    pub user: Author,
    /// Their state.
    pub presence: Presence,
    /// When they were last connected (now, if connected); `None` if never.
    pub last_seen: Option<Timestamp>,
}

/// What a notification is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationKind {
    /// `from` mentioned the user in `room` at `seq`.
    Mention {
        /// The room.
        room: RoomId,
        /// The message.
        seq: Seq,
    },
    /// `from` sent the user their first direct message in `room`.
    DirectMessage {
        /// The direct room.
        room: RoomId,
        /// The message.
        seq: Seq,
    },
    /// `from` added the user to `room`.
    Invited {
        /// The room.
        room: RoomId,
        /// Its name.
        name: String,
    },
    /// `from` added the user as a contact.
    ContactAdded,
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Per-user increasing id.
    pub id: u64,
    /// Who caused it.
    pub from: Author,
    /// What happened.
    pub kind: NotificationKind,
    /// When, UTC ms.
    pub at: Timestamp,
    /// Whether the user marked it read.
    pub read: bool,
}

/// A contact with their presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The contact.
    pub user: Author,
    /// Their presence.
    pub presence: Presence,
    /// When last connected.
    pub last_seen: Option<Timestamp>,
}

/// One version of an edited message (audit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageVersion {
    /// The text of this version.
    pub text: String,
    /// When this version was written.
    pub at: Timestamp,
}

/// A message's full audit record: every version and, if deleted, the tombstone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageAudit {
    /// The message as stored now, with its current text even if deleted.
    pub event: crate::RoomEvent,
    /// Every version, oldest first; the last is the current text. When
    /// they would not fit in [`crate::MAX_PAGE_BYTES`], the oldest are
    /// left out and counted in `omitted_versions`.
    pub versions: Vec<MessageVersion>,
    /// How many of the oldest versions were left out to keep the answer
    /// within [`crate::MAX_PAGE_BYTES`]; 0 (and absent on the wire) when
    /// none were.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted_versions: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A moderation action in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerationRecord {
    /// Increasing id.
    pub id: u64,
    /// When.
    pub at: Timestamp,
    /// Who acted.
    pub actor: Author,
    /// The room, when the action concerned one.
    pub room: Option<RoomId>,
    /// The user acted upon, if any.
    pub target: Option<Author>,
    /// What was done, e.g. `ban`, `kick`, `mute`, `archive`, `delete-message`,
    /// `search-audit`, `access-export` (a declared access) or
    /// `read-deleted` (a server admin read deleted content).
    pub action: String,
    /// Why, as given (may be empty).
    pub reason: String,
}

/// Who has read a message: "seen by 3: alice, bob, carol".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadReceipts {
    /// Members whose `read_seq` is at or past the message.
    pub read_by: Vec<Author>,
    /// Members whose `delivered_seq` is at or past it but have not read it.
    pub delivered_to: Vec<Author>,
}
