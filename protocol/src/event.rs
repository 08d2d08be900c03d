//! Events the server pushes on room streams and the user stream.

use crate::model::{Author, Role, RoomInfo, RoomKind, Visibility};
use crate::{MessageId, RequestId, RoomId, Seq, Timestamp, UserId};
use serde::{Deserialize, Serialize};

/// The first frame on every server-opened uni-stream: what the stream carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamHeader {
    /// The stream carries [`RoomFrame`]s of one room, starting after `since`.
    Room {
        /// The room.
        room: RoomId,
        /// The subscription's starting point, as the client asked.
        since: Seq,
        /// The id of the `Subscribe` request this stream answers, so a client
        /// that resubscribed can tell a new stream from an old one.
        request: RequestId,
    },
    /// The stream carries [`UserEvent`]s for the logged-in user.
    User,
}

/// A frame on a room stream, after its [`StreamHeader::Room`].
// Frames live only between decode and dispatch; boxing the large variant
// would cost every consumer's pattern match for no measurable gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomFrame {
    /// A stored event; sequence numbers on one stream are consecutive.
    Event(RoomEvent),
    /// Catch-up is complete: every stored event up to `head` has been sent,
    /// and what follows is live.
    CaughtUp {
        /// The room's head when catch-up ended.
        head: Seq,
    },
    /// A member's receipt markers moved (ephemeral: not stored as an event,
    /// no sequence number).
    Receipt {
        /// Whose markers.
        user: Author,
        /// Highest seq their clients acknowledged receiving.
        delivered_seq: Seq,
        /// Highest seq they have seen.
        read_seq: Seq,
    },
    /// A member is typing (ephemeral, never stored). Clients show it until
    /// `expires_at` unless refreshed.
    Typing {
        /// Who.
        user: Author,
        /// When the indicator lapses unless refreshed, UTC ms.
        expires_at: Timestamp,
    },
    /// The server ends the stream; the last frame before the stream's FIN.
    /// `code` is one of the `STREAM_*` codes in [`crate::codes`] and means
    /// what the same code means in a `RESET_STREAM`. Sent in-band because a
    /// reset discards data the client has not read yet, the stream header
    /// included (RFC 9000 §3.2), and a client must learn why its
    /// subscription ended even when that happens right after it began.
    Closed {
        /// Why, a `STREAM_*` code.
        code: u32,
    },
}

/// A stored room event. Every change to a room's timeline is one of these,
/// with the next sequence number of that room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomEvent {
    /// The room.
    pub room: RoomId,
    /// Its sequence number in the room.
    pub seq: Seq,
    /// When the server stored it (or, for imported history, the original time).
    pub ts: Timestamp,
    /// Who caused it, as they were named at the time.
    pub sender: Author,
    /// What happened.
    pub kind: RoomEventKind,
}

/// What a [`RoomEvent`] records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomEventKind {
    /// A message.
    Message(MessageEvent),
    /// The room was created.
    Created {
        /// Group or direct.
        kind: RoomKind,
        /// The name at creation.
        name: String,
    },
    /// `user` joined or was added (by the event's sender).
    Joined {
        /// The new member.
        user: Author,
        /// The role they got.
        role: Role,
    },
    /// `user` left, or was removed by the event's sender.
    Left {
        /// The former member.
        user: Author,
    },
    /// The topic changed.
    TopicChanged {
        /// The new topic.
        topic: String,
    },
    /// The visibility changed.
    VisibilityChanged {
        /// The new visibility.
        visibility: Visibility,
    },
    /// The message at `target` was edited by its author.
    Edited {
        /// The message's seq.
        target: Seq,
        /// The new text.
        text: String,
    },
    /// The message at `target` was deleted (by the event's sender).
    Deleted {
        /// The message's seq.
        target: Seq,
    },
    /// The event's sender toggled a reaction on `target`.
    Reaction {
        /// The message's seq.
        target: Seq,
        /// The emoji (any short text, at most 32 bytes).
        emoji: String,
        /// `true` when added, `false` when removed.
        added: bool,
    },
    /// `user` was removed by a moderator (the event's sender).
    Kicked {
        /// Who.
        user: Author,
        /// Why, as given.
        reason: String,
    },
    /// `user` was banned and removed; they cannot rejoin until unbanned.
    Banned {
        /// Who.
        user: Author,
        /// Why, as given.
        reason: String,
    },
    /// `user` may rejoin.
    Unbanned {
        /// Who.
        user: Author,
    },
    /// `user` was muted (may read, not send) or unmuted.
    Muted {
        /// Who.
        user: Author,
        /// Muted or not.
        muted: bool,
    },
    /// `user`'s role changed.
    RoleChanged {
        /// Who.
        user: Author,
        /// The new role.
        role: Role,
    },
    /// The room was archived and is read-only from now on.
    Archived,
    /// An event from a user the reader has blocked. Only its sequence
    /// number matters: clients count it as seen and show nothing.
    Hidden,
    /// A message (or an edit of one) removed by the room's retention
    /// policy (see [`crate::retention`]). The stub keeps the seq, time
    /// and sender; the text, versions, reactions and files are gone for
    /// everyone, server admins included.
    Purged {
        /// `None` in place of the message itself; for an edit, the seq of
        /// the message it edited (clients show nothing for these).
        edit_of: Option<Seq>,
        /// When the purge ran, UTC ms.
        purged_at: Timestamp,
    },
}

/// A message's content and its current state.
///
/// On the live stream a message arrives as sent; later changes arrive as
/// their own events. In history pages the server folds those changes in, so
/// `edited_at`, `deleted` and `reactions` show the state at read time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEvent {
    /// The message's id.
    pub id: MessageId,
    /// The text. Stored as sent, control characters included: clients render
    /// it through [`crate::text::display_safe`]. Empty once deleted.
    pub text: String,
    /// The sequence number of the message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Seq>,
    /// Users mentioned with `@username`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
    /// When it was last edited (history pages only; `None` if never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Timestamp>,
    /// Set once deleted; the text is then empty for everyone but server
    /// admins reading with `audit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Tombstone>,
    /// Reactions with their counts, in order of first use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionCount>,
    /// Files attached when it was sent. Empty for members once the message
    /// is deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::file::Attachment>,
}

/// Who deleted a message and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// Who deleted it.
    pub by: Author,
    /// When, UTC ms.
    pub at: Timestamp,
}

/// One emoji's reactions on a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionCount {
    /// The emoji.
    pub emoji: String,
    /// Who reacted with it.
    pub users: Vec<UserId>,
}

/// An event on the user stream: things addressed to the user, not a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserEvent {
    /// The user became a member of a room (created, joined, added, or a
    /// first direct message). Clients add it to the room list and may subscribe.
    RoomAdded {
        /// The room.
        room: RoomInfo,
        /// The user's role in it.
        role: Role,
    },
    /// The user is no longer a member of a room.
    RoomRemoved {
        /// The room.
        room: RoomId,
    },
    /// Someone the user shares a room with, or has as a contact, changed
    /// presence.
    Presence(crate::model::PresenceInfo),
    /// A stored notification (mention, new direct message, invitation,
    /// contact request). Delivered to all the user's connections.
    Notification(crate::model::Notification),
}

impl RoomEvent {
    /// The message id if this event is a message.
    pub fn message_id(&self) -> Option<MessageId> {
        match &self.kind {
            RoomEventKind::Message(m) => Some(m.id),
            _ => None,
        }
    }
}
