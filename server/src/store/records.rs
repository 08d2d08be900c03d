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
    /// When the user last disconnected, ms; `None` if never connected.
    #[serde(default)]
    pub last_seen: Option<u64>,
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
    /// Messages stored (not other events).
    #[serde(default)]
    pub message_count: u64,
    /// Deleted by a server admin: no members, not in the directory; the
    /// history stays for audit.
    #[serde(default)]
    pub deleted: bool,
    /// Retention: every message with a seq below this one is purged
    /// (`store::retention`); 0 when none is. Only moves forward.
    #[serde(default)]
    pub purged_below: u64,
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
    /// Highest seq the member's clients acknowledged; only moves forward.
    #[serde(default)]
    pub delivered_seq: u64,
    /// Muted members may read but not send.
    #[serde(default)]
    pub muted: bool,
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
        /// Last edit time, ms.
        #[serde(default)]
        edited_at: Option<u64>,
        /// Who deleted it and when; the text is kept for audit.
        #[serde(default)]
        deleted: Option<(AuthorRecord, u64)>,
        /// Reactions: emoji and the users, in order of first use.
        #[serde(default)]
        reactions: Vec<(String, Vec<u64>)>,
        /// Files attached at send time (see `store::files`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<super::files::AttachmentRef>,
    },
    /// A message was edited.
    Edited {
        /// Its seq.
        target: u64,
        /// The new text.
        text: String,
        /// Set when the target message is deleted: members then see this
        /// event without its text; the text stays for server-admin audit.
        #[serde(default)]
        redacted: bool,
    },
    /// A message was deleted.
    Deleted {
        /// Its seq.
        target: u64,
    },
    /// A reaction was toggled.
    Reaction {
        /// The message's seq.
        target: u64,
        /// The emoji.
        emoji: String,
        /// Added or removed.
        added: bool,
    },
    /// A member was kicked.
    Kicked {
        /// Who.
        user: AuthorRecord,
        /// Why.
        reason: String,
    },
    /// A member was banned.
    Banned {
        /// Who.
        user: AuthorRecord,
        /// Why.
        reason: String,
    },
    /// A ban was lifted.
    Unbanned {
        /// Who.
        user: AuthorRecord,
    },
    /// A member was muted or unmuted.
    Muted {
        /// Who.
        user: AuthorRecord,
        /// Muted or not.
        muted: bool,
    },
    /// A member's role changed.
    RoleChanged {
        /// Who.
        user: AuthorRecord,
        /// The new role.
        role: RoleRecord,
    },
    /// The topic changed.
    TopicChanged {
        /// The new topic.
        topic: String,
    },
    /// The visibility changed.
    VisibilityChanged {
        /// Public or not.
        public: bool,
    },
    /// The room was archived.
    Archived,
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
    /// Retention stub: a message (`edit_of: None`) or an edit of one
    /// (`edit_of: Some(message seq)`) whose content the retention policy
    /// removed (`store::retention`). The event's time and sender stay.
    Purged {
        /// For a purged edit, the seq of the message it edited.
        edit_of: Option<u64>,
        /// When the purge ran, ms.
        at: u64,
        /// The purged message's id (ULID string; empty for an edit), kept
        /// so a retried send with the same idempotency key is still
        /// answered with its original ack.
        #[serde(default)]
        id: String,
    },
}

/// An earlier version of an edited message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionRecord {
    /// The text then.
    pub text: String,
    /// When that text was written, ms.
    pub at: u64,
    /// The seq of the `Edited` event that replaced this text, so deleting
    /// the message can redact it. `None` in records written before it was
    /// kept (deletion then scans the room's later events).
    #[serde(default)]
    pub edit_seq: Option<u64>,
}

/// A room ban.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BanRecord {
    /// Why.
    pub reason: String,
    /// Who banned.
    pub by: u64,
    /// When, ms.
    pub at: u64,
}

/// What a stored notification is about.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum NotificationKindRecord {
    /// A mention.
    Mention {
        /// Room.
        room: u64,
        /// Message.
        seq: u64,
    },
    /// A first direct message.
    DirectMessage {
        /// Room.
        room: u64,
        /// Message.
        seq: u64,
    },
    /// Added to a room.
    Invited {
        /// Room.
        room: u64,
        /// Its name then.
        name: String,
    },
    /// Added as a contact.
    ContactAdded,
}

/// A stored notification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotificationRecord {
    /// Who caused it.
    pub from: AuthorRecord,
    /// What.
    pub kind: NotificationKindRecord,
    /// When, ms.
    pub at: u64,
    /// Marked read.
    pub read: bool,
}

/// A moderation audit record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModRecord {
    /// When, ms.
    pub at: u64,
    /// Who acted.
    pub actor: AuthorRecord,
    /// Room concerned.
    pub room: Option<u64>,
    /// User acted upon.
    pub target: Option<AuthorRecord>,
    /// What, e.g. `ban`.
    pub action: String,
    /// Why.
    pub reason: String,
}

/// What a reader may see of stored events.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Show deleted messages' text (server-admin audit).
    pub reveal_deleted: bool,
    /// Senders whose messages, edits and reactions show as `Hidden` (the
    /// reader blocked them).
    pub hidden: std::collections::HashSet<u64>,
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
    /// The wire view of this account with its account fields, for server
    /// admins and the user themself.
    pub fn to_wire(&self, id: u64) -> proto::UserInfo {
        proto::UserInfo {
            author: AuthorRecord::of(id, self).to_wire(),
            admin: Some(self.admin),
            disabled: Some(self.disabled),
            created_at: Some(proto::Timestamp(self.created_at)),
        }
    }

    /// The wire view of this account for another ordinary user: the public
    /// profile only (username, display name, organization).
    pub fn to_public_wire(&self, id: u64) -> proto::UserInfo {
        proto::UserInfo {
            author: AuthorRecord::of(id, self).to_wire(),
            admin: None,
            disabled: None,
            created_at: None,
        }
    }

    /// The wire view `viewer` may see: everything for server admins and
    /// the user themself, the public profile for anyone else.
    pub fn to_wire_for(&self, id: u64, viewer: u64, viewer_is_admin: bool) -> proto::UserInfo {
        if viewer_is_admin || viewer == id {
            self.to_wire(id)
        } else {
            self.to_public_wire(id)
        }
    }
}

impl EventRecord {
    /// The wire view of this event at `(room, seq)` for an ordinary reader:
    /// deleted text withheld, nothing hidden.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a malformed stored message id.
    pub fn to_wire(&self, room: u64, seq: u64) -> Result<proto::RoomEvent, StoreError> {
        self.to_wire_for(room, seq, &View::default())
    }

    /// The wire view of this event as `view` allows.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a malformed stored message id.
    pub fn to_wire_for(
        &self,
        room: u64,
        seq: u64,
        view: &View,
    ) -> Result<proto::RoomEvent, StoreError> {
        use proto::RoomEventKind as K;
        let hidden = self.hideable() && view.hidden.contains(&self.sender.id);
        let author = |a: &AuthorRecord| a.to_wire();
        let kind = if hidden {
            K::Hidden
        } else {
            match &self.kind {
                EventKindRecord::Message {
                    id,
                    text,
                    reply_to,
                    mentions,
                    edited_at,
                    deleted,
                    reactions,
                    attachments,
                } => K::Message(proto::MessageEvent {
                    id: proto::MessageId(
                        id.parse()
                            .map_err(|e| StoreError::Corrupt(format!("message id {id:?}: {e}")))?,
                    ),
                    text: if deleted.is_some() && !view.reveal_deleted {
                        String::new()
                    } else {
                        text.clone()
                    },
                    reply_to: reply_to.map(proto::Seq),
                    mentions: mentions.iter().map(|u| proto::UserId(*u)).collect(),
                    edited_at: edited_at.map(proto::Timestamp),
                    deleted: deleted.as_ref().map(|(by, at)| proto::Tombstone {
                        by: by.to_wire(),
                        at: proto::Timestamp(*at),
                    }),
                    reactions: reactions
                        .iter()
                        .filter(|(_, users)| !users.is_empty())
                        .map(|(emoji, users)| proto::ReactionCount {
                            emoji: emoji.clone(),
                            users: users.iter().map(|u| proto::UserId(*u)).collect(),
                        })
                        .collect(),
                    attachments: if deleted.is_some() && !view.reveal_deleted {
                        Vec::new()
                    } else {
                        attachments.iter().map(|a| a.to_wire()).collect()
                    },
                }),
                EventKindRecord::Created { name, direct } => K::Created {
                    kind: if *direct {
                        proto::RoomKind::Direct
                    } else {
                        proto::RoomKind::Group
                    },
                    name: name.clone(),
                },
                EventKindRecord::Joined { user, role } => K::Joined {
                    user: author(user),
                    role: (*role).into(),
                },
                EventKindRecord::Left { user } => K::Left { user: author(user) },
                EventKindRecord::Edited {
                    target,
                    text,
                    redacted,
                } => K::Edited {
                    target: proto::Seq(*target),
                    text: if *redacted && !view.reveal_deleted {
                        String::new()
                    } else {
                        text.clone()
                    },
                },
                EventKindRecord::Deleted { target } => K::Deleted {
                    target: proto::Seq(*target),
                },
                EventKindRecord::Reaction {
                    target,
                    emoji,
                    added,
                } => K::Reaction {
                    target: proto::Seq(*target),
                    emoji: emoji.clone(),
                    added: *added,
                },
                EventKindRecord::Kicked { user, reason } => K::Kicked {
                    user: author(user),
                    reason: reason.clone(),
                },
                EventKindRecord::Banned { user, reason } => K::Banned {
                    user: author(user),
                    reason: reason.clone(),
                },
                EventKindRecord::Unbanned { user } => K::Unbanned { user: author(user) },
                EventKindRecord::Muted { user, muted } => K::Muted {
                    user: author(user),
                    muted: *muted,
                },
                EventKindRecord::RoleChanged { user, role } => K::RoleChanged {
                    user: author(user),
                    role: (*role).into(),
                },
                EventKindRecord::TopicChanged { topic } => K::TopicChanged {
                    topic: topic.clone(),
                },
                EventKindRecord::VisibilityChanged { public } => K::VisibilityChanged {
                    visibility: if *public {
                        proto::Visibility::Public
                    } else {
                        proto::Visibility::Private
                    },
                },
                EventKindRecord::Archived => K::Archived,
                EventKindRecord::Purged { edit_of, at, .. } => K::Purged {
                    edit_of: edit_of.map(proto::Seq),
                    purged_at: proto::Timestamp(*at),
                },
            }
        };
        Ok(proto::RoomEvent {
            room: proto::RoomId(room),
            seq: proto::Seq(seq),
            ts: proto::Timestamp(self.ts),
            sender: self.sender.to_wire(),
            kind,
        })
    }

    /// Whether a reader who blocked the sender sees this as `Hidden`.
    pub fn hideable(&self) -> bool {
        matches!(
            self.kind,
            EventKindRecord::Message { .. }
                | EventKindRecord::Edited { .. }
                | EventKindRecord::Reaction { .. }
        )
    }

    /// Whether this is a message (counted for unread).
    pub fn is_message(&self) -> bool {
        matches!(self.kind, EventKindRecord::Message { .. })
    }
}

/// A message by "ana" whose time and text follow `seq`: the fixture of
/// the fan-out and bus unit tests.
#[cfg(test)]
pub(crate) fn test_message(seq: u64) -> EventRecord {
    EventRecord {
        ts: 1_700_000_000_000 + seq,
        sender: AuthorRecord {
            id: 7,
            username: "ana".into(),
            display_name: "Ana".into(),
            org: String::new(),
        },
        kind: EventKindRecord::Message {
            id: chat_protocol::MessageId::new_at(chat_protocol::Timestamp(1))
                .0
                .to_string(),
            text: format!("message {seq}"),
            reply_to: None,
            mentions: Vec::new(),
            edited_at: None,
            deleted: None,
            reactions: Vec::new(),
            attachments: Vec::new(),
        },
    }
}
