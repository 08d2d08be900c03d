//! [`Action`]: everything that can change the [`crate::App`] — terminal
//! input, clock ticks, and what the network task reports.

use crate::state::{ConnectionStatus, Outgoing, Presence};
use chat_protocol::{
    Author, Contact, IdempotencyKey, MemberInfo, MessageAck, Role, RoomEvent, RoomId, RoomInfo,
    RoomSummary, Seq, UserEvent, UserId,
};
use crossterm::event::KeyEvent;
use std::time::Instant;

/// Which way the mouse wheel turned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wheel {
    /// Towards older messages.
    Up,
    /// Towards newer messages.
    Down,
}

/// How serious a status-line message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Information, e.g. "joined #ops".
    Info,
    /// Something failed or is not possible.
    Error,
}

/// One input to [`crate::update`].
// Actions are consumed as they arrive; boxing room events would allocate
// once per event for no measurable gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Action {
    // ----- terminal -----
    /// A key press (release events are filtered out by the caller).
    Key(KeyEvent),
    /// Bracketed paste: text inserted into the input as is.
    Paste(String),
    /// The mouse wheel turned over the conversation.
    Wheel(Wheel),
    /// The terminal now has this size, in cells.
    Resize {
        /// Columns.
        width: u16,
        /// Rows.
        height: u16,
    },
    /// The clock advanced (drives typing expiry and "reconnecting in Ns").
    Tick(Instant),

    // ----- network -----
    /// The connection state changed.
    Connection(ConnectionStatus),
    /// Logged in as this user.
    LoggedIn(Author),
    /// The chat list (answer to `ListMyRooms`).
    Rooms(Vec<RoomSummary>),
    /// An event on the user stream.
    User(UserEvent),
    /// A room became available through a command (`/join`, `/dm`, `/create`);
    /// the view switches to it.
    Opened {
        /// The room.
        room: RoomInfo,
        /// The caller's role in it.
        role: Role,
    },
    /// An event on a room stream, from catch-up or live.
    Room(RoomEvent),
    /// A room stream finished catching up to `head`.
    CaughtUp {
        /// The room.
        room: RoomId,
        /// Its head.
        head: Seq,
    },
    /// A page of older history arrived (answer to `Effect::LoadOlder`).
    OlderLoaded {
        /// The room.
        room: RoomId,
        /// Events, oldest first.
        events: Vec<RoomEvent>,
    },
    /// The answer to `Effect::Search`.
    SearchResults {
        /// The query it answers.
        query: String,
        /// The first page of hits.
        hits: Vec<chat_protocol::SearchHit>,
        /// Matching messages in all.
        total: u64,
    },
    /// A search failed.
    SearchFailed {
        /// The query.
        query: String,
        /// Why, as a sentence.
        error: String,
    },
    /// Loading older history failed.
    OlderFailed {
        /// The room.
        room: RoomId,
        /// Why, as a sentence.
        error: String,
    },
    /// A room's member list arrived.
    Members {
        /// The room.
        room: RoomId,
        /// Its members.
        members: Vec<MemberInfo>,
    },
    /// The server stored a message sent with `key`.
    Sent {
        /// The key the send carried.
        key: IdempotencyKey,
        /// The server's acknowledgement.
        ack: MessageAck,
    },
    /// A send failed; the message stays in the outbox.
    SendFailed {
        /// The key the send carried.
        key: IdempotencyKey,
        /// Why, as a sentence.
        error: String,
    },
    /// Someone is typing in a room until `until`.
    Typing {
        /// The room.
        room: RoomId,
        /// Their display name.
        user: String,
        /// When the indicator expires.
        until: Instant,
    },
    /// A user's presence changed.
    Presence {
        /// Who.
        user: Author,
        /// Their new presence.
        presence: Presence,
    },
    /// A member's receipt markers moved in a room.
    Receipt {
        /// The room.
        room: RoomId,
        /// Whose markers.
        user: UserId,
        /// Highest seq they have seen.
        read_seq: Seq,
    },
    /// The contact list arrived (answer to `Effect::LoadContacts`).
    Contacts(Vec<Contact>),
    /// Messages a previous run saved unsent; they are queued again with
    /// their original keys.
    OutboxRestored(Vec<Outgoing>),
    /// A message for the status line (a command's result or failure).
    Status(Level, String),
    /// Quit the application.
    Quit,
    /// An image attachment's preview, decoded off the UI thread, or why
    /// there is none.
    Preview {
        /// The attachment.
        id: chat_protocol::AttachmentId,
        /// The shrunk image, or the reason it could not be shown.
        result: Result<std::sync::Arc<image::RgbImage>, String>,
    },
}
