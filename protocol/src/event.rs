//! Events the server pushes on room streams and the user stream.

use crate::model::{Author, Role, RoomInfo, RoomKind, Visibility};
use crate::{MessageId, RequestId, RoomId, Seq, Timestamp};
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
