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
//! Not every domain is behind the boundary yet: ARCHITECTURE.md ("Storage
//! boundary") lists which are, and the test `store::boundary_guard` keeps
//! code outside `store/` from reaching redb except in the files its
//! allow-list names.

use super::ops::{self, Caller};
use super::records::View;
use super::{Store, WriteError};
use chat_protocol::audit::{AuditEntry, SignedTreeHead};
use chat_protocol::{self as proto, Page, PageRequest};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a boundary method returns: a boxed future (so the traits are
/// object-safe) of the operation's typed result.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, WriteError>> + Send + 'a>>;

/// Users and tokens: the rights a session holds now.
pub trait UsersAndTokens: Send + Sync {
    /// The rights of `caller`'s session as storage has them now (its
    /// token exists and belongs to it, its account exists and is enabled,
    /// whether it is a server admin).
    ///
    /// # Errors
    /// A storage failure.
    fn rights(&self, caller: Caller) -> StoreFuture<'_, ops::rights::Rights>;
}

/// Audit: the append-only trail of moderation, account and admin actions,
/// committed to by a Merkle tree whose heads the server signs.
///
/// Contract: a record and its tree leaf are written in the same
/// transaction as the action they record (operations of other domains
/// call [`ops::audit::record`] inside their own transaction); leaves are
/// never changed or removed; tree size only grows.
pub trait AuditLog: Send + Sync {
    /// Records `action` by `caller`, who must be a server admin now
    /// (checked in the same transaction), with `room` and `reason`.
    ///
    /// # Errors
    /// `Unauthenticated` or `Forbidden` refusals; a storage failure.
    fn audit_by_admin(
        &self,
        caller: Caller,
        room: Option<u64>,
        action: String,
        reason: String,
    ) -> StoreFuture<'_, ()>;

    /// Signs the current tree head with `signer` and stores it; with
    /// `always` false only when the log is non-empty and no head of its
    /// size is stored yet. Returns the head stored.
    ///
    /// # Errors
    /// A storage failure.
    fn audit_sign_head(
        &self,
        always: bool,
        signer: Arc<ops::audit::Signer>,
    ) -> StoreFuture<'_, Option<SignedTreeHead>>;

    /// Adds to the tree the records written before it existed; returns the
    /// tree size. Run once at start, before serving.
    ///
    /// # Errors
    /// A storage failure.
    fn audit_catch_up(&self) -> StoreFuture<'_, u64>;

    /// Stored signed heads with tree size `>= from`, smallest first, at
    /// most `limit`.
    ///
    /// # Errors
    /// A storage failure.
    fn audit_heads(&self, from: u64, limit: usize) -> StoreFuture<'_, Vec<SignedTreeHead>>;

    /// The consistency proof from tree size `from` to `to`.
    ///
    /// # Errors
    /// `BadRequest` unless `1 <= from <= to <=` the size now; a storage
    /// failure.
    fn audit_consistency(&self, from: u64, to: u64) -> StoreFuture<'_, Vec<[u8; 32]>>;

    /// Records `from..` of the tree of size `tree_size` with inclusion
    /// proofs, at most `limit` and one page's bytes.
    ///
    /// # Errors
    /// `BadRequest` for sizes out of range; a storage failure.
    fn audit_entries(
        &self,
        tree_size: u64,
        from: u64,
        limit: u32,
    ) -> StoreFuture<'_, Vec<AuditEntry>>;
}

/// Search position: what the store says about a search before and after
/// the full-text index is asked. The index is a cache of the room event
/// log; these reads see one committed snapshot each.
pub trait SearchPosition: Send + Sync {
    /// The scope of a search by `user` ([`ops::search::scope`]): the rooms
    /// to search, their heads, the sender resolved by username.
    ///
    /// # Errors
    /// `NotFound` for an unknown sender or a room the caller may not read
    /// (the same refusal as a missing room); a storage failure.
    fn search_scope(
        &self,
        user: u64,
        audit: bool,
        room: Option<u64>,
        sender: Option<String>,
    ) -> StoreFuture<'_, ops::search::Scope>;

    /// Every room with its head seq, a deleted room's as 0.
    ///
    /// # Errors
    /// A storage failure.
    fn room_heads(&self) -> StoreFuture<'_, Vec<(u64, u64)>>;

    /// The readable messages at `points` (room, seq), in that order;
    /// deleted messages, missing events and deleted rooms are left out.
    ///
    /// # Errors
    /// A storage failure.
    fn messages_at(
        &self,
        points: Vec<(u64, u64)>,
    ) -> StoreFuture<'_, Vec<ops::search::FoundMessage>>;
}

/// Rooms and members ([`ops::rooms`]). Each write checks, in its own
/// transaction, what must hold for it: the room exists and is not
/// deleted, the caller's membership and role, bans, the per-user room
/// limit (`limit`, rooms per user). A room the caller may not know of is
/// refused exactly as a missing one (`NotFound`). Membership changes
/// append `Joined`/`Left` room events (ordered as every room event) and
/// tell the user's sessions after the commit.
pub trait RoomsAndMembers: Send + Sync {
    /// Creates the public or private group room `name`, owned by `user`.
    ///
    /// # Errors
    /// `Conflict` for a taken name, `LimitExceeded`; a storage failure.
    fn create_room(
        &self,
        user: u64,
        name: String,
        topic: String,
        public: bool,
        limit: u32,
    ) -> StoreFuture<'_, proto::RoomInfo>;

    /// The room `name` (or `@username`, the direct room with them) as
    /// `user` sees it; `None` when missing, deleted or private to a
    /// non-member who is not `admin`.
    ///
    /// # Errors
    /// A storage failure.
    fn room_by_name(
        &self,
        user: u64,
        admin: bool,
        name: String,
    ) -> StoreFuture<'_, Option<proto::RoomInfo>>;

    /// The rooms `user` belongs to, with unread counts and last message.
    ///
    /// # Errors
    /// A storage failure.
    fn rooms_of(&self, user: u64) -> StoreFuture<'_, Vec<proto::RoomSummary>>;

    /// As [`RoomsAndMembers::rooms_of`], one page in room-id order.
    ///
    /// # Errors
    /// A storage failure.
    fn rooms_of_page(
        &self,
        user: u64,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::RoomSummary>>;

    /// The public directory, or with `all` every room.
    ///
    /// # Errors
    /// A storage failure.
    fn directory(&self, user: u64, all: bool) -> StoreFuture<'_, Vec<proto::RoomInfo>>;

    /// As [`RoomsAndMembers::directory`], one page in room-id order.
    ///
    /// # Errors
    /// A storage failure.
    fn directory_page(
        &self,
        user: u64,
        all: bool,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::RoomInfo>>;

    /// `user` joins `room`; a no-op for a member.
    ///
    /// # Errors
    /// `NotFound`, `Archived`, `Banned`, `LimitExceeded`; a storage failure.
    fn join_room(&self, user: u64, room: u64, limit: u32) -> StoreFuture<'_, proto::RoomInfo>;

    /// `user` leaves `room`.
    ///
    /// # Errors
    /// `NotFound`, `NotMember`, `BadRequest` (a direct room), `Forbidden`
    /// (the owner while others remain); a storage failure.
    fn leave_room(&self, user: u64, room: u64) -> StoreFuture<'_, ()>;

    /// `user` adds `username` to `room`; a no-op for a member.
    ///
    /// # Errors
    /// `NotFound`, `NotMember`, `Forbidden`, `Archived`, `Banned`,
    /// `LimitExceeded`; a storage failure.
    fn add_member(&self, user: u64, room: u64, username: String, limit: u32)
    -> StoreFuture<'_, ()>;

    /// The members of `room`, for a member or `admin`.
    ///
    /// # Errors
    /// `NotFound`, `NotMember`; a storage failure.
    fn members(&self, user: u64, admin: bool, room: u64)
    -> StoreFuture<'_, Vec<proto::MemberInfo>>;

    /// As [`RoomsAndMembers::members`], one page in account-id order.
    ///
    /// # Errors
    /// As [`RoomsAndMembers::members`].
    fn members_page(
        &self,
        user: u64,
        admin: bool,
        room: u64,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::MemberInfo>>;

    /// The direct room of `user` and `username`, created if missing.
    ///
    /// # Errors
    /// `NotFound`, `BadRequest`, `Blocked`, `LimitExceeded`; a storage
    /// failure.
    fn open_direct(
        &self,
        user: u64,
        username: String,
        limit: u32,
    ) -> StoreFuture<'_, proto::RoomInfo>;
}

/// Room events and idempotency ([`ops::events`]): the per-room event log.
///
/// Contract: a message is appended with seq `head + 1` of its room in the
/// transaction that checks the sender's membership, mute, the room's
/// archive flag and a direct peer's block; within a room commit order is
/// seq order, with no gap and no duplicate. An idempotency key stores at
/// most one message per (key owner, key) for [`proto::IDEMPOTENCY_TTL_MS`]:
/// a retry is answered with the first message's ack marked `duplicate`
/// (a key reused in another room is a `Conflict`).
pub trait RoomEvents: Send + Sync {
    /// Sends `text` (with `attachments`, the sender's unsent uploads to
    /// this room) to `room` as `user`, under idempotency key `key`.
    ///
    /// Unlike the other methods, the send is queued when this is CALLED,
    /// not when the future is first polled: sends from one connection are
    /// stored in the order they arrived. The future owns what it needs
    /// (`'static`), so the caller may hand it to another task.
    ///
    /// # Errors
    /// `NotFound`, `NotMember`, `Muted`, `Archived`, `Blocked`, `Conflict`
    /// (key used in another room), `BadRequest` (bad `reply_to`), the
    /// attachment refusals; a storage failure.
    fn send_message(
        &self,
        user: u64,
        room: proto::RoomId,
        key: proto::IdempotencyKey,
        text: String,
        reply_to: Option<proto::Seq>,
        attachments: Vec<proto::AttachmentId>,
    ) -> StoreFuture<'static, proto::MessageAck>;

    /// Imports a message sent as `username` at `ts` into `room` (a server
    /// admin's import; no membership check). `key` belongs to
    /// `admin_user`, so a re-run import stores nothing twice.
    ///
    /// # Errors
    /// `NotFound`, `Archived`, `Conflict`; a storage failure.
    fn import_message(
        &self,
        admin_user: u64,
        room: u64,
        username: String,
        ts: proto::Timestamp,
        key: proto::IdempotencyKey,
        text: String,
    ) -> StoreFuture<'_, proto::MessageAck>;

    /// A page of `room`'s events for `user` (a member, or `admin`) as
    /// `view` shows them, and the seqs of deleted texts it reveals.
    ///
    /// # Errors
    /// `NotFound`; a storage failure.
    fn history(
        &self,
        user: u64,
        admin: bool,
        room: u64,
        anchor: proto::HistoryAnchor,
        limit: usize,
        view: View,
    ) -> StoreFuture<'_, ops::events::HistoryRead>;

    /// `room`'s head if `user` is a member of it now, else `None`.
    ///
    /// # Errors
    /// A storage failure.
    fn member_head(&self, user: u64, room: u64) -> StoreFuture<'_, Option<u64>>;
}

/// Every domain of the storage boundary.
pub trait Boundary:
    UsersAndTokens + AuditLog + SearchPosition + RoomsAndMembers + RoomEvents
{
}

impl<T: UsersAndTokens + AuditLog + SearchPosition + RoomsAndMembers + RoomEvents> Boundary for T {}

impl RoomEvents for Store {
    fn send_message(
        &self,
        user: u64,
        room: proto::RoomId,
        key: proto::IdempotencyKey,
        text: String,
        reply_to: Option<proto::Seq>,
        attachments: Vec<proto::AttachmentId>,
    ) -> StoreFuture<'static, proto::MessageAck> {
        // Queued now, not at first poll (see the trait).
        let rx = self.writer().submit(move |ctx| {
            ops::events::send_job_with(ctx, user, room, &key, text.clone(), reply_to, &attachments)
        });
        Box::pin(async move {
            rx.await
                .unwrap_or(Err(WriteError::Store(super::StoreError::WriterGone)))
        })
    }

    fn import_message(
        &self,
        admin_user: u64,
        room: u64,
        username: String,
        ts: proto::Timestamp,
        key: proto::IdempotencyKey,
        text: String,
    ) -> StoreFuture<'_, proto::MessageAck> {
        Box::pin(self.writer().write(move |ctx| {
            ops::events::import(ctx, admin_user, room, &username, ts, &key, &text)
        }))
    }

    fn history(
        &self,
        user: u64,
        admin: bool,
        room: u64,
        anchor: proto::HistoryAnchor,
        limit: usize,
        view: View,
    ) -> StoreFuture<'_, ops::events::HistoryRead> {
        Box::pin(
            self.read_op(move |txn| {
                ops::events::history(txn, user, admin, room, anchor, limit, &view)
            }),
        )
    }

    fn member_head(&self, user: u64, room: u64) -> StoreFuture<'_, Option<u64>> {
        Box::pin(self.read_op(move |txn| ops::events::member_head(txn, user, room)))
    }
}

impl RoomsAndMembers for Store {
    fn create_room(
        &self,
        user: u64,
        name: String,
        topic: String,
        public: bool,
        limit: u32,
    ) -> StoreFuture<'_, proto::RoomInfo> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::rooms::create(ctx, user, &name, &topic, public, limit)),
        )
    }

    fn room_by_name(
        &self,
        user: u64,
        admin: bool,
        name: String,
    ) -> StoreFuture<'_, Option<proto::RoomInfo>> {
        Box::pin(self.read_op(move |txn| ops::rooms::get(txn, user, admin, &name)))
    }

    fn rooms_of(&self, user: u64) -> StoreFuture<'_, Vec<proto::RoomSummary>> {
        Box::pin(self.read_op(move |txn| ops::rooms::list_mine(txn, user)))
    }

    fn rooms_of_page(
        &self,
        user: u64,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::RoomSummary>> {
        Box::pin(self.read_op(move |txn| ops::rooms::list_mine_page(txn, user, page)))
    }

    fn directory(&self, user: u64, all: bool) -> StoreFuture<'_, Vec<proto::RoomInfo>> {
        Box::pin(self.read_op(move |txn| ops::rooms::directory(txn, user, all)))
    }

    fn directory_page(
        &self,
        user: u64,
        all: bool,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::RoomInfo>> {
        Box::pin(self.read_op(move |txn| ops::rooms::directory_page(txn, user, all, page)))
    }

    fn join_room(&self, user: u64, room: u64, limit: u32) -> StoreFuture<'_, proto::RoomInfo> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::rooms::join(ctx, user, room, limit)),
        )
    }

    fn leave_room(&self, user: u64, room: u64) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::rooms::leave(ctx, user, room)),
        )
    }

    fn add_member(
        &self,
        user: u64,
        room: u64,
        username: String,
        limit: u32,
    ) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::rooms::add(ctx, user, room, &username, limit)),
        )
    }

    fn members(
        &self,
        user: u64,
        admin: bool,
        room: u64,
    ) -> StoreFuture<'_, Vec<proto::MemberInfo>> {
        Box::pin(self.read_op(move |txn| ops::rooms::members(txn, user, admin, room)))
    }

    fn members_page(
        &self,
        user: u64,
        admin: bool,
        room: u64,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::MemberInfo>> {
        Box::pin(self.read_op(move |txn| ops::rooms::members_page(txn, user, admin, room, page)))
    }

    fn open_direct(
        &self,
        user: u64,
        username: String,
        limit: u32,
    ) -> StoreFuture<'_, proto::RoomInfo> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::rooms::open_direct(ctx, user, &username, limit)),
        )
    }
}

impl SearchPosition for Store {
    fn search_scope(
        &self,
        user: u64,
        audit: bool,
        room: Option<u64>,
        sender: Option<String>,
    ) -> StoreFuture<'_, ops::search::Scope> {
        Box::pin(
            self.read_op(move |txn| ops::search::scope(txn, user, audit, room, sender.as_deref())),
        )
    }

    fn room_heads(&self) -> StoreFuture<'_, Vec<(u64, u64)>> {
        Box::pin(self.read_op(ops::search::room_heads))
    }

    fn messages_at(
        &self,
        points: Vec<(u64, u64)>,
    ) -> StoreFuture<'_, Vec<ops::search::FoundMessage>> {
        Box::pin(self.read_op(move |txn| ops::search::messages_at(txn, &points)))
    }
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

impl UsersAndTokens for Store {
    fn rights(&self, caller: Caller) -> StoreFuture<'_, ops::rights::Rights> {
        Box::pin(self.read_op(move |txn| ops::rights::rights(txn, caller)))
    }
}

impl AuditLog for Store {
    fn audit_by_admin(
        &self,
        caller: Caller,
        room: Option<u64>,
        action: String,
        reason: String,
    ) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::audit::record_by_admin(ctx, caller, room, &action, &reason)),
        )
    }

    fn audit_sign_head(
        &self,
        always: bool,
        signer: Arc<ops::audit::Signer>,
    ) -> StoreFuture<'_, Option<SignedTreeHead>> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::audit::sign_head(ctx, always, &*signer)),
        )
    }

    fn audit_catch_up(&self) -> StoreFuture<'_, u64> {
        Box::pin(self.writer().write(ops::audit::catch_up))
    }

    fn audit_heads(&self, from: u64, limit: usize) -> StoreFuture<'_, Vec<SignedTreeHead>> {
        Box::pin(self.read_op(move |txn| ops::audit::heads(txn, from, limit)))
    }

    fn audit_consistency(&self, from: u64, to: u64) -> StoreFuture<'_, Vec<[u8; 32]>> {
        Box::pin(self.read_op(move |txn| ops::audit::consistency(txn, from, to)))
    }

    fn audit_entries(
        &self,
        tree_size: u64,
        from: u64,
        limit: u32,
    ) -> StoreFuture<'_, Vec<AuditEntry>> {
        Box::pin(self.read_op(move |txn| ops::audit::entries(txn, tree_size, from, limit)))
    }
}
