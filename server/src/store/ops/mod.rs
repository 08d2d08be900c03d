//! Typed store operations: every read and write of stored data that a
//! handler asks for, one function per operation, grouped by domain.
//!
//! An operation takes the writer's [`WriteCtx`](super::WriteCtx) (a write
//! job: it may run again if another job of its batch fails, so it must
//! not have side effects outside the transaction and its `ctx.effects`,
//! except the blob-store callbacks that attachments and retention take
//! over from the code they came from: placing a content-addressed blob
//! again is harmless, and removals run last in their job) or
//! a read transaction, plus typed arguments, and returns a typed result.
//! Rights that must hold atomically with the action (membership, role,
//! bans, the caller's token and account) are checked inside the operation.
//!
//! Handlers never call these directly: they call the async methods of
//! [`super::boundary`], which the redb store implements by running these
//! functions on the writer (group commit kept) or on the read path, and
//! which a PostgreSQL store will implement with the same contract.

pub mod attachments;
pub mod audit;
pub mod events;
pub mod lifecycle;
pub mod moderation;
pub mod notifications;
pub mod retention;
pub mod rights;
pub mod room_lists;
pub mod rooms;
pub mod search;
pub mod server;
pub mod social;
pub mod users;

/// Who acts: a session's user and the token it was opened or resumed
/// with. Operations re-read the caller's rights from storage in their own
/// transaction ([`rights::actor`]), so a right taken away is never used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The user id.
    pub user: u64,
    /// The id of the session's token.
    pub token: u64,
}

/// A refusal to hand back as [`super::WriteError::Rejected`].
pub(crate) fn refuse(
    code: chat_protocol::ErrorCode,
    message: impl Into<String>,
) -> super::WriteError {
    super::WriteError::Rejected(chat_protocol::ErrorBody::new(code, message))
}
