//! The storage boundary: every read and write of stored data a handler
//! may ask for, as async methods grouped by domain, so that a storage
//! backend other than redb (PostgreSQL, issue 16) can serve the same
//! server.
//!
//! [`Boundary`] is the sum of the domain traits; [`crate::shared::Shared`]
//! holds it as `Arc<dyn Boundary>`. The redb [`Store`] implements every
//! domain by running the matching function of [`super::ops`] as a writer
//! job (so concurrent writes still group-commit, one fsync per batch) or in
//! a read transaction on the blocking pool.
//!
//! # The contract every backend keeps
//!
//! - **Atomicity.** A write operation is all or nothing: its rights checks
//!   (the caller's token and account, membership, role, bans), its reads
//!   and its writes happen in one transaction; a refusal
//!   ([`WriteError::Rejected`]) or a failure changes nothing.
//! - **Durability before answer.** A write returns only after its
//!   transaction committed durably; its fan-out effects (room events, user
//!   events) are published only after that commit, in commit order.
//! - **Ordering.** Room events get sequence numbers `head + 1, head + 2, …`
//!   inside the transaction that stores them: within a room, commit order
//!   equals sequence order, with no gap and no duplicate.
//! - **Idempotency.** An operation that takes an idempotency key stores at
//!   most one result per (user, key) and answers a retry with the first
//!   result.
//! - **Reads** see one committed snapshot and never wait for writes.
//! - **Errors.** [`WriteError::Rejected`] carries the refusal the client
//!   reads (a typed code and a sentence saying what to do);
//!   [`WriteError::Store`] is a storage failure, `Unavailable` when a retry
//!   may succeed (nothing was stored).
//!
//! Each domain's trait and its redb implementation live in
//! `boundary/<domain>.rs`. ARCHITECTURE.md ("Storage boundary") lists the
//! domains; the test `store::boundary_guard` keeps code outside `store/`
//! from reaching redb.

use super::ops::{self, Caller};
use super::records::{AuthorRecord, UserRecord, View};
use super::retention::{Batch as RetentionBatch, KeepRecord, Scope as RetentionScopeRecord};
use super::{Store, WriteError};
use chat_protocol::audit::{AuditEntry, SignedTreeHead};
use chat_protocol::{self as proto, Page, PageRequest};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

mod attachments;
mod audit;
mod events;
mod lifecycle;
mod moderation;
mod retention;
mod rooms;
mod search;
mod server;
mod social;
mod users;

pub use attachments::Attachments;
pub use audit::AuditLog;
pub use events::RoomEvents;
pub use lifecycle::MessageLifecycle;
pub use moderation::Moderation;
pub use retention::Retention;
pub use rooms::RoomsAndMembers;
pub use search::{SearchFeed, SearchPosition};
pub use server::{Backup, ServerState};
pub use social::{ContactsAndPresence, Notifications};
pub use users::UsersAndTokens;

/// What a boundary method returns: a boxed future (so the traits are
/// object-safe) of the operation's typed result.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, WriteError>> + Send + 'a>>;

/// Every domain of the storage boundary.
pub trait Boundary:
    UsersAndTokens
    + AuditLog
    + SearchPosition
    + RoomsAndMembers
    + RoomEvents
    + ContactsAndPresence
    + Notifications
    + MessageLifecycle
    + Moderation
    + Retention
    + Attachments
    + ServerState
    + SearchFeed
    + Backup
{
}

impl<T> Boundary for T where
    T: UsersAndTokens
        + AuditLog
        + SearchPosition
        + RoomsAndMembers
        + RoomEvents
        + ContactsAndPresence
        + Notifications
        + MessageLifecycle
        + Moderation
        + Retention
        + Attachments
        + ServerState
        + SearchFeed
        + Backup
{
}

impl Store {
    /// Runs a read operation in a read transaction on the blocking pool.
    async fn read_op<T, F>(&self, f: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnOnce(&redb::ReadTransaction) -> Result<T, WriteError> + Send + 'static,
    {
        self.read(move |txn| Ok(f(txn))).await?
    }
}
