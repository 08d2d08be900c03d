//! The wire protocol shared by `chatd`, `chat-client`, `chat-tui` and `chatctl`.
//!
//! This crate is pure: it defines types and turns them into bytes and back.
//! It performs no I/O and knows nothing of QUIC, redb or terminals.
//!
//! # Identification
//!
//! Connections negotiate the ALPN id [`ALPN`] (`chat/1`) during the TLS 1.3
//! handshake. Inside it, the client's [`Hello`] offers a range of protocol
//! versions and the server answers [`Welcome`] with the highest common one,
//! or [`ServerFrame::Refused`] with [`ErrorCode::UnsupportedVersion`] naming
//! both ranges, then closes the connection.
//!
//! # Framing
//!
//! Every stream carries frames: a u32 big-endian length, then that many bytes
//! of MessagePack (see [`frame`]). Frames never depend on how the transport
//! chunks bytes.
//!
//! # Stream layout
//!
//! | stream | opened by | direction | carries |
//! |---|---|---|---|
//! | control | client, first | bi | [`ClientFrame`] up, [`ServerFrame`] down: `Hello`/`Welcome`, then requests and responses |
//! | room | server, one per subscribed room | uni | [`StreamHeader::Room`], then [`RoomFrame`]s in sequence order |
//! | user | server, one per session, after login | uni | [`StreamHeader::User`], then [`UserEvent`]s |
//! | file | client, one per transfer (after login) | bi | [`TransferRequest`] up, [`TransferReply`] down, then raw file bytes (see [`file`]) |
//!
//! The side that opens a stream writes first. Because each room has its own
//! stream, QUIC's per-stream flow control keeps a busy room from blocking a
//! quiet one, and a room stream that falls too far behind is reset with
//! [`codes::STREAM_LAGGED`]; the client resubscribes from its last
//! sequence number.
//!
//! # Ordering and delivery
//!
//! Each room event has a [`Seq`]: consecutive integers per room, starting
//! at one. A `Subscribe { since }` delivers every stored event after `since` in
//! order, then [`RoomFrame::CaughtUp`], then live events, with no gap and no
//! duplicate. Sends carry an [`IdempotencyKey`], so a client may retry a
//! send whose acknowledgement it did not see (at-least-once sending,
//! exactly-once storage).
//!
//! # Time
//!
//! Every [`Timestamp`] is UTC milliseconds since the Unix epoch.

pub mod audit;
pub mod error;
pub mod event;
pub mod file;
pub mod frame;
pub mod handshake;
pub mod ids;
pub mod model;
pub mod names;
pub mod request;
pub mod retention;
pub mod search;
pub mod text;

pub use error::{ErrorBody, ErrorCode, codes};
pub use event::{
    MessageEvent, ReactionCount, RoomEvent, RoomEventKind, RoomFrame, StreamHeader, Tombstone,
    UserEvent,
};
pub use file::{Attachment, AttachmentId, FileEntry, TransferReply, TransferRequest};
pub use frame::FrameError;
pub use handshake::{Hello, Limits, Welcome};
pub use ids::{IdempotencyKey, MessageId, RequestId, RoomId, Seq, Timestamp, UserId};
pub use model::*;
pub use request::{
    ClientFrame, ClientFrameEnvelope, MAX_PAGE_BYTES, MAX_PAGE_ITEMS, MAX_PRESENCE_QUERY,
    ModAction, Page, PageRequest, Request, RequestBody, RequestEnvelope, Response, ResponseBody,
    ServerFrame, UserChange,
};
pub use retention::{
    EffectiveRetention, Keep, LegalHold, PolicySource, PurgeReport, RetentionInfo, RetentionScope,
    RetentionSetting, RoomPurge,
};
pub use search::{SearchHit, SearchIndexStatus, SearchOrder, SearchPage, SearchQuery};

/// The ALPN protocol id negotiated in the TLS handshake (RFC 7301).
pub const ALPN: &[u8] = b"chat/1";

/// The protocol version this build speaks. Bumped on any incompatible change;
/// compatible additions (new optional fields, new request kinds) keep it.
pub const PROTOCOL_VERSION: u32 = 1;

/// How long the server remembers an idempotency key, in ms (7 days).
///
/// A client that retries after this long may store a duplicate. Seven days
/// covers a laptop closed over a long weekend with messages in its outbox.
pub const IDEMPOTENCY_TTL_MS: u64 = 7 * 24 * 60 * 60 * 1000;
