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

use super::kv::ReadTx;
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
        F: FnOnce(&ReadTx) -> Result<T, WriteError> + Send + 'static,
    {
        self.read(move |txn| Ok(f(txn))).await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;
    use std::sync::atomic::Ordering;

    /// A store in a temporary directory, with the first admin (user 1)
    /// created through the boundary.
    async fn store_with_admin() -> (tempfile::TempDir, Store, Arc<dyn Boundary>) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let options = StoreOptions {
            check_integrity: false,
            ..StoreOptions::default()
        };
        let store = Store::open_with(&dir.path().join("t.redb"), options).expect("open");
        let storage: Arc<dyn Boundary> = Arc::new(store.clone());
        let admin = UserRecord {
            username: "admin".into(),
            display_name: "Admin".into(),
            org: String::new(),
            admin: true,
            disabled: false,
            password_hash: None,
            created_at: 1,
            last_seen: None,
        };
        storage
            .bootstrap_admin(admin, "test".into(), true)
            .await
            .expect("first admin");
        (dir, store, storage)
    }

    /// Writes through the boundary still group-commit: 200 concurrent
    /// operations share far fewer than 200 commits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_through_the_boundary_share_commits() {
        let (_dir, store, storage) = store_with_admin().await;
        let stats = store.writer().stats();
        let before = stats.commits.load(Ordering::SeqCst);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let storage = storage.clone();
            tasks.spawn(async move { storage.mint_token(1, format!("t{i}"), true).await });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("task").expect("mint");
        }
        let commits = stats.commits.load(Ordering::SeqCst) - before;
        assert!(
            commits < 100,
            "200 concurrent writes took {commits} commits; group commit is lost"
        );
        store.shutdown().await;
    }

    /// `send_message` queues its write when called, not when first polled
    /// (the contract that keeps a connection's sends in arrival order):
    /// two sends called in order get ascending seqs even when the second
    /// future is awaited first.
    #[tokio::test]
    async fn sends_are_ordered_by_call_not_by_poll() {
        let (_dir, store, storage) = store_with_admin().await;
        let room = storage
            .create_room(1, "order".into(), String::new(), true, 10)
            .await
            .expect("room");
        let send = |key: &str| {
            storage.send_message(
                1,
                room.id,
                proto::IdempotencyKey(key.into()),
                format!("message {key}"),
                None,
                Vec::new(),
            )
        };
        let first = send("a");
        let second = send("b");
        let second = second.await.expect("second send");
        let first = first.await.expect("first send");
        assert!(
            first.seq < second.seq,
            "the send called first got seq {:?}, the second {:?}",
            first.seq,
            second.seq
        );
        store.shutdown().await;
    }
}
