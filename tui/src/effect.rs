//! [`Effect`]: requests [`crate::update`] makes of the network task.
//! The UI never does I/O itself; it returns these and the run loop hands
//! them on.

use crate::state::Outgoing;
use chat_protocol::{IdempotencyKey, RoomId, Seq};

/// Why the terminal should alert the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// A message mentioned the user.
    Mention,
    /// A direct message arrived.
    Direct,
}

/// A request for the network task (or, for `Alert`, `PersistOutbox` and
/// `Quit`, the interface).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send a message. Retries carry the same `key`.
    Send {
        /// Destination.
        room: RoomId,
        /// Idempotency key, fixed for the message's life.
        key: IdempotencyKey,
        /// The text.
        text: String,
        /// The message it answers.
        reply_to: Option<Seq>,
    },
    /// Open (or reopen) a room's stream from `since`.
    Subscribe {
        /// The room.
        room: RoomId,
        /// Last seq already held; `Seq(0)` for everything.
        since: Seq,
    },
    /// Search the messages of the user's rooms; answered with
    /// `Action::SearchResults` or `Action::SearchFailed`.
    Search {
        /// The query as typed.
        query: String,
    },
    /// Fetch a page of history around `seq` (older and newer events), for
    /// a jump from search results; answered with `Action::OlderLoaded`.
    LoadAround {
        /// The room.
        room: RoomId,
        /// The message to show.
        seq: Seq,
    },
    /// Fetch the page of events just before `before`.
    LoadOlder {
        /// The room.
        room: RoomId,
        /// Exclusive upper bound: the oldest seq loaded.
        before: Seq,
    },
    /// Move the read marker to `seq`: the newest message on screen.
    MarkRead {
        /// The room.
        room: RoomId,
        /// Highest seq shown.
        seq: Seq,
    },
    /// Fetch a room's member list.
    LoadMembers {
        /// The room.
        room: RoomId,
    },
    /// Join a group room by name, then report `Action::Opened`.
    Join {
        /// Room name.
        name: String,
    },
    /// Leave a room.
    Leave {
        /// The room.
        room: RoomId,
    },
    /// Create a group room, then report `Action::Opened`.
    Create {
        /// Room name.
        name: String,
        /// Unlisted rather than public.
        private: bool,
    },
    /// Add a user to a room.
    Invite {
        /// The room.
        room: RoomId,
        /// Who.
        username: String,
    },
    /// Open the direct room with a user, then report `Action::Opened`.
    OpenDirect {
        /// The other user.
        username: String,
    },
    /// Replace the text of the caller's message at `seq`.
    Edit {
        /// The room.
        room: RoomId,
        /// The message.
        seq: Seq,
        /// The new text.
        text: String,
    },
    /// Delete the message at `seq`.
    Delete {
        /// The room.
        room: RoomId,
        /// The message.
        seq: Seq,
    },
    /// Toggle the caller's `emoji` reaction on the message at `seq`.
    React {
        /// The room.
        room: RoomId,
        /// The message.
        seq: Seq,
        /// The emoji.
        emoji: String,
    },
    /// Set the room's topic (a moderation action: room admins and owner).
    SetTopic {
        /// The room.
        room: RoomId,
        /// The new topic.
        topic: String,
    },
    /// A room moderation action (mute, unban, role, ...); `done` is the
    /// status line shown when the server accepts it.
    Moderate {
        /// The room.
        room: RoomId,
        /// What to do.
        action: chat_protocol::ModAction,
        /// What to say when done, e.g. "muted bob".
        done: String,
    },
    /// Change the caller's own password (`/password`).
    ChangePassword {
        /// The current password.
        old: Secret,
        /// The new one.
        new: Secret,
    },
    /// Change the caller's own display name (`/name`).
    SetDisplayName(String),
    /// Set (`true`) or clear the caller's away state.
    SetAway(bool),
    /// Fetch the contact list, then report `Action::Contacts`.
    LoadContacts,
    /// Acknowledge receipt of the room's events up to `seq`.
    MarkDelivered {
        /// The room.
        room: RoomId,
        /// Highest seq received.
        seq: Seq,
    },
    /// Tell the room the caller is typing (sent at most every
    /// `update::TYPING_EVERY`).
    Typing {
        /// The room.
        room: RoomId,
    },
    /// Fetch these users' presence, then report `Action::Presence` for each.
    LoadPresence {
        /// Usernames.
        usernames: Vec<String>,
    },
    /// Ring the terminal bell / send OSC 9 (if enabled in the config).
    Alert {
        /// The room the message arrived in.
        room: RoomId,
        /// Why.
        kind: AlertKind,
        /// Who sent it (display name as stored; made safe when written).
        from: String,
        /// Where: `#room` for a group room (as stored).
        place: String,
    },
    /// Save these unsent messages (the whole outbox, oldest first) to
    /// disk, replacing what was saved; see [`crate::outbox_file`].
    PersistOutbox(Vec<Outgoing>),
    /// Drop the connection (or the wait before the next attempt) and
    /// connect again now (`/reconnect`).
    Reconnect,
    /// Shut down: close the connection and restore the terminal.
    Quit,
    /// Upload a file to a room and send it as a message (`/upload PATH`);
    /// progress and the outcome come back as status lines.
    Upload {
        /// Destination.
        room: RoomId,
        /// The local file.
        path: std::path::PathBuf,
    },
    /// Save attachments of a room's message into the download folder
    /// (`/download`, `s` on a selected message), resuming from a `.part`
    /// file and verifying each hash; with `open`, hand the saved file to
    /// `xdg-open` (`/open`, `o`). Progress and the outcome come back as
    /// status lines.
    Download {
        /// The room the message is in (membership is checked on download).
        room: RoomId,
        /// The files, in message order.
        files: Vec<chat_protocol::Attachment>,
        /// Open the (first) saved file with `xdg-open` afterwards.
        open: bool,
    },
    /// Fetch an image attachment into the preview cache and decode it off
    /// the UI thread; the answer is `Action::Preview`.
    FetchPreview {
        /// The room the message is in.
        room: RoomId,
        /// The image.
        attachment: chat_protocol::Attachment,
    },
}

/// A password on its way to the server: its `Debug` form hides it, so no
/// log or panic message can show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}
