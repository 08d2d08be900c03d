//! The error model: every failed request carries an [`ErrorCode`] that a
//! program can match on and a sentence that a person can act on.

use serde::{Deserialize, Serialize};

/// Why a request failed. Clients match on this, never on the message text.
///
/// Wire shape: the variant name as a MessagePack string. A code this build
/// does not know decodes as [`ErrorCode::Unknown`], so servers can add codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request was malformed or a field was out of range.
    BadRequest,
    /// The client and server share no protocol version.
    UnsupportedVersion,
    /// The request needs a logged-in session; log in or resume first.
    Unauthenticated,
    /// Wrong username, password or token.
    AuthFailed,
    /// The account is disabled by a server admin.
    AccountDisabled,
    /// The caller lacks the role or flag this action needs.
    Forbidden,
    /// The named user, room, message or token does not exist (or is not
    /// visible to the caller).
    NotFound,
    /// The thing to create already exists (a username, a room name).
    Conflict,
    /// A name breaks the naming rules (see [`crate::names`]).
    InvalidName,
    /// A text, key or password is longer than its limit.
    TooLarge,
    /// The caller sent too much too fast; retry after `retry_after_ms`
    /// (always set with this code). Each class of write (sends; other
    /// writes; typing and receipts; room creation) has its own budget.
    RateLimited,
    /// A configured count limit was reached (rooms per user, connections,
    /// streams per connection, reactions per message).
    LimitExceeded,
    /// The caller is not a member of the room.
    NotMember,
    /// The caller is banned from the room.
    Banned,
    /// The caller is muted in the room and may read but not send.
    Muted,
    /// The room is archived and read-only.
    Archived,
    /// The other user has blocked the caller.
    Blocked,
    /// The text was refused by a content rule (a banned word).
    ContentRejected,
    /// The server cannot take this now and nothing of it was stored: it is
    /// shutting down, or its storage is degraded after a disk fault.
    /// Retry later (a send with the same idempotency key); `retry_after_ms`
    /// may say when.
    Unavailable,
    /// The server failed; the message says what to report.
    Internal,
    /// The answer would not fit in a frame
    /// ([`crate::frame::MAX_FRAME_LEN`]); nothing was changed. Ask for
    /// less: the paged kind of a list request, or a smaller page.
    ResponseTooLarge,
    // Codes are encoded by name, so these file codes sit before `Unknown`
    // (serde requires `other` last) without changing any existing code.
    /// A file is larger than the server's `max_file_bytes`; nothing was sent.
    FileTooLarge,
    /// A file would take the uploader or the room past its storage quota.
    QuotaExceeded,
    /// The server does not accept files of this media type.
    MediaTypeRefused,
    /// The uploaded bytes do not match the declared size or hash; the
    /// partial upload was discarded, upload again from the start.
    HashMismatch,
    /// A code added by a newer server. Keep it last.
    #[serde(other)]
    Unknown,
}

/// The error half of a response: a code plus a human sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} ({code:?})")]
pub struct ErrorBody {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// What was wrong and what to do about it, for a person to read.
    pub message: String,
    /// For [`ErrorCode::RateLimited`]: how long to wait before retrying, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorBody {
    /// An error with `code` and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }
}

/// QUIC application error codes used to close connections and reset streams.
///
/// These travel in QUIC `CONNECTION_CLOSE` and `RESET_STREAM` frames
/// (RFC 9000 §19.19 and §19.4), not in MessagePack.
pub mod codes {
    /// Normal close by either side.
    pub const CLOSE_NORMAL: u32 = 0;
    /// The handshake failed (for example, no common protocol version).
    pub const CLOSE_HANDSHAKE: u32 = 1;
    /// The peer violated the protocol (a bad frame, a stream of the wrong kind).
    pub const CLOSE_PROTOCOL: u32 = 2;
    /// The server is shutting down; reconnect later.
    pub const CLOSE_SHUTDOWN: u32 = 3;
    /// The session was logged out or its token revoked.
    pub const CLOSE_LOGGED_OUT: u32 = 4;
    /// The server ended an established connection because it is overloaded.
    /// (A connection over the connection limit is refused earlier, before
    /// its handshake, with QUIC's own `CONNECTION_REFUSED`, RFC 9000 §20.1;
    /// chat-client reports both as "the server is at its connection limit".)
    pub const CLOSE_BUSY: u32 = 5;

    /// A room stream was reset because the subscriber fell too far behind
    /// (its bounded queue overflowed). The client resubscribes from the last
    /// sequence number it processed; nothing is lost.
    pub const STREAM_LAGGED: u32 = 16;
    /// A room stream ended because the user left, was kicked or banned, or
    /// the room was deleted.
    pub const STREAM_REVOKED: u32 = 17;
    /// A room stream ended because the client unsubscribed or resubscribed.
    pub const STREAM_UNSUBSCRIBED: u32 = 18;
    /// A transfer stream (a backup) was reset because the server failed
    /// part-way; the bytes received are incomplete and must be discarded.
    /// The server's log says why.
    pub const STREAM_TRANSFER_FAILED: u32 = 32;
}
