//! Storage records: what chatd keeps in redb, separate from the wire types.
//!
//! Each record is MessagePack with named fields. A new field must be
//! `#[serde(default)]` so older records still decode.

use chat_protocol as proto;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::StoreError;

/// An account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    /// Login name as the user chose it (the index holds the lowercase form).
    pub username: String,
    /// Shown name.
    pub display_name: String,
    /// Organization, free text.
    pub org: String,
    /// Server-admin flag.
    pub admin: bool,
    /// Disabled accounts cannot authenticate.
    pub disabled: bool,
    /// Argon2id PHC string; `None` for token-only accounts.
    pub password_hash: Option<String>,
    /// Creation time, ms since the epoch.
    pub created_at: u64,
}

/// A session or API token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Owner.
    pub user: u64,
    /// SHA-256 of the secret part.
    pub digest: Vec<u8>,
    /// Free-text label.
    pub label: String,
    /// API token (long-lived) or login session.
    pub api: bool,
    /// Creation time, ms since the epoch.
    pub created_at: u64,
}

/// Room kinds as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomKindRecord {
    /// Named group room.
    Group,
    /// Direct room between two users.
    Direct,
}

/// A room.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomRecord {
    /// Group or direct.
    pub kind: RoomKindRecord,
    /// Name (group rooms); empty for direct rooms.
    pub name: String,
    /// Topic.
    pub topic: String,
    /// Public (joinable by anyone) or not.
    pub public: bool,
    /// Archived rooms are read-only.
    pub archived: bool,
    /// Creation time, ms.
    pub created_at: u64,
    /// Sequence number of the latest event.
    pub head: u64,
    /// Time of the latest event, ms.
    pub last_ts: u64,
    /// Current member count.
    pub member_count: u32,
    /// For direct rooms, the two user ids, smaller first.
    pub pair: Option<(u64, u64)>,
}

/// Member roles as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RoleRecord {
    /// Member.
    Member,
    /// Moderator.
    Admin,
    /// Owner.
    Owner,
}

/// A membership.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberRecord {
    /// Role.
    pub role: RoleRecord,
    /// Join time, ms.
    pub joined_at: u64,
    /// Highest seq the member has read; only moves forward.
    pub read_seq: u64,
}

/// A user as recorded on an event: their names at the time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorRecord {
    /// User id.
    pub id: u64,
    /// Username then.
    pub username: String,
    /// Display name then.
    pub display_name: String,
    /// Organization then.
    pub org: String,
}

/// A stored room event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRecord {
    /// Time, ms (original time for imported history).
    pub ts: u64,
    /// Who caused it.
    pub sender: AuthorRecord,
    /// What happened.
    pub kind: EventKindRecord,
}

/// What a stored event records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum EventKindRecord {
    /// A message.
    Message {
        /// ULID string.
        id: String,
        /// Text as sent.
        text: String,
        /// Seq of the message answered.
        reply_to: Option<u64>,
        /// User ids mentioned with `@username`.
        #[serde(default)]
        mentions: Vec<u64>,
    },
    /// Room created.
    Created {
        /// Name at creation.
        name: String,
        /// Direct room or not.
        direct: bool,
    },
    /// A member joined or was added.
    Joined {
        /// Who.
        user: AuthorRecord,
        /// Role given.
        role: RoleRecord,
    },
    /// A member left or was removed.
    Left {
        /// Who.
        user: AuthorRecord,
    },
}

/// An idempotency key's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// Room of the stored message.
    pub room: u64,
    /// Its seq.
    pub seq: u64,
    /// When the key may be forgotten, ms.
    pub expires_at: u64,
}

/// Encodes a record.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec_named(value).map_err(|e| StoreError::Corrupt(format!("encode: {e}")))
}

/// Decodes a record.
///
/// # Errors
/// [`StoreError::Corrupt`] when the bytes are not a `T`, which means the
/// file was damaged or written by an incompatible build.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("decode: {e}")))
}

impl From<RoleRecord> for proto::Role {
    fn from(r: RoleRecord) -> Self {
        match r {
            RoleRecord::Member => proto::Role::Member,
            RoleRecord::Admin => proto::Role::Admin,
            RoleRecord::Owner => proto::Role::Owner,
        }
    }
}

impl AuthorRecord {
    /// The wire view.
    pub fn to_wire(&self) -> proto::Author {
        proto::Author {
            id: proto::UserId(self.id),
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            org: self.org.clone(),
        }
    }

    /// The author snapshot of a user record.
    pub fn of(id: u64, user: &UserRecord) -> AuthorRecord {
        AuthorRecord {
            id,
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            org: user.org.clone(),
        }
    }
}

impl UserRecord {
    /// The wire view of this account.
    pub fn to_wire(&self, id: u64) -> proto::UserInfo {
        proto::UserInfo {
            author: AuthorRecord::of(id, self).to_wire(),
            admin: self.admin,
            disabled: self.disabled,
            created_at: proto::Timestamp(self.created_at),
        }
    }
}

impl EventRecord {
    /// The wire view of this event at `(room, seq)`.
    pub fn to_wire(&self, room: u64, seq: u64) -> Result<proto::RoomEvent, StoreError> {
        let kind = match &self.kind {
            EventKindRecord::Message {
                id, text, reply_to, ..
            } => proto::RoomEventKind::Message(proto::MessageEvent {
                id: proto::MessageId(
                    id.parse()
                        .map_err(|e| StoreError::Corrupt(format!("message id {id:?}: {e}")))?,
                ),
                text: text.clone(),
                reply_to: reply_to.map(proto::Seq),
            }),
            EventKindRecord::Created { name, direct } => proto::RoomEventKind::Created {
                kind: if *direct {
                    proto::RoomKind::Direct
                } else {
                    proto::RoomKind::Group
                },
                name: name.clone(),
            },
            EventKindRecord::Joined { user, role } => proto::RoomEventKind::Joined {
                user: user.to_wire(),
                role: (*role).into(),
            },
            EventKindRecord::Left { user } => proto::RoomEventKind::Left {
                user: user.to_wire(),
            },
        };
        Ok(proto::RoomEvent {
            room: proto::RoomId(room),
            seq: proto::Seq(seq),
            ts: proto::Timestamp(self.ts),
            sender: self.sender.to_wire(),
            kind,
        })
    }

    /// Whether this is a message (counted for unread).
    pub fn is_message(&self) -> bool {
        matches!(self.kind, EventKindRecord::Message { .. })
    }
}
