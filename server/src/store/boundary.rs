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
use super::records::{AuthorRecord, UserRecord, View};
use super::retention::{Batch as RetentionBatch, KeepRecord, Scope as RetentionScopeRecord};
use super::{Store, WriteError};
use chat_protocol::audit::{AuditEntry, SignedTreeHead};
use chat_protocol::{self as proto, Page, PageRequest};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a boundary method returns: a boxed future (so the traits are
/// object-safe) of the operation's typed result.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, WriteError>> + Send + 'a>>;

/// Users and tokens ([`ops::users`], [`ops::rights`]): accounts,
/// usernames (unique, compared in canonical case), login and API tokens.
///
/// Contract: admin-only writes check that the caller is a server admin
/// now in the same transaction, and record an audit entry in it; writes
/// that take a right away (disable, password reset, token revoke, logout)
/// publish an account effect after the commit, so every session of the
/// account re-reads its rights. Secrets are never stored: tokens as a
/// digest, passwords as an argon2 hash computed by the caller.
pub trait UsersAndTokens: Send + Sync {
    /// The rights of `caller`'s session as storage has them now (its
    /// token exists and belongs to it, its account exists and is enabled,
    /// whether it is a server admin).
    ///
    /// # Errors
    /// A storage failure.
    fn rights(&self, caller: Caller) -> StoreFuture<'_, ops::rights::Rights>;

    /// An account by username (any case), with its id.
    ///
    /// # Errors
    /// A storage failure.
    fn user_by_name(&self, username: String) -> StoreFuture<'_, Option<(u64, UserRecord)>>;

    /// An account by id.
    ///
    /// # Errors
    /// A storage failure.
    fn user_by_id(&self, id: u64) -> StoreFuture<'_, Option<UserRecord>>;

    /// The account token `token_id` opens if `secret` matches it.
    ///
    /// # Errors
    /// A storage failure.
    fn user_by_token(
        &self,
        token_id: u64,
        secret: String,
    ) -> StoreFuture<'_, Option<(u64, UserRecord)>>;

    /// Stores a new token for `user`; returns its id and secret string.
    ///
    /// # Errors
    /// A storage failure.
    fn mint_token(&self, user: u64, label: String, api: bool) -> StoreFuture<'_, (u64, String)>;

    /// Ends `caller`'s login session (an API token stays).
    ///
    /// # Errors
    /// A storage failure.
    fn logout(&self, caller: Caller) -> StoreFuture<'_, ()>;

    /// A server admin creates an account; returns its id.
    ///
    /// # Errors
    /// `Unauthenticated`, `Forbidden`, `Conflict`; a storage failure.
    fn create_user(&self, caller: Caller, user: UserRecord) -> StoreFuture<'_, u64>;

    /// Accounts matching `needle` (lower case), as `viewer` may see them.
    ///
    /// # Errors
    /// A storage failure.
    fn users(
        &self,
        viewer: u64,
        viewer_admin: bool,
        needle: Option<String>,
    ) -> StoreFuture<'_, Vec<proto::UserInfo>>;

    /// As [`UsersAndTokens::users`], one page in account-id order.
    ///
    /// # Errors
    /// A storage failure.
    fn users_page(
        &self,
        viewer: u64,
        viewer_admin: bool,
        needle: Option<String>,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::UserInfo>>;

    /// A server admin changes account `id` (`new_hash` for a password).
    ///
    /// # Errors
    /// `Unauthenticated`, `Forbidden`, `NotFound`; a storage failure.
    fn update_user(
        &self,
        caller: Caller,
        id: u64,
        change: proto::UserChange,
        new_hash: Option<String>,
    ) -> StoreFuture<'_, UserRecord>;

    /// A server admin creates an API token for `target`.
    ///
    /// # Errors
    /// `Unauthenticated`, `Forbidden`; a storage failure.
    fn create_token(
        &self,
        caller: Caller,
        target: AuthorRecord,
        label: String,
    ) -> StoreFuture<'_, (u64, String)>;

    /// Tokens (of account `only`), without secrets.
    ///
    /// # Errors
    /// A storage failure.
    fn tokens(&self, only: Option<u64>) -> StoreFuture<'_, Vec<proto::TokenInfo>>;

    /// As [`UsersAndTokens::tokens`], one page in token-id order.
    ///
    /// # Errors
    /// A storage failure.
    fn tokens_page(
        &self,
        only: Option<u64>,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::TokenInfo>>;

    /// Revokes token `id` (its owner or a server admin).
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`, `Unauthenticated`; a storage failure.
    fn revoke_token(&self, caller: Caller, id: u64) -> StoreFuture<'_, ()>;

    /// The caller sets their own password hash; their other login
    /// sessions end.
    ///
    /// # Errors
    /// `Unauthenticated`; a storage failure.
    fn change_password(&self, caller: Caller, new_hash: String) -> StoreFuture<'_, ()>;

    /// The caller sets their own display name (empty: the username).
    ///
    /// # Errors
    /// `Unauthenticated`; a storage failure.
    fn set_display_name(&self, caller: Caller, display_name: String)
    -> StoreFuture<'_, UserRecord>;
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

    /// Events `from..=to` of `room` (at most `limit`, ascending) as `view`
    /// shows them, encoded as `RoomFrame::Event` frames: a subscription's
    /// catch-up page. With the live stream registered first, catch-up plus
    /// live has no gap (see `Session::subscribe`).
    ///
    /// # Errors
    /// A storage failure.
    fn catch_up(
        &self,
        room: u64,
        from: u64,
        to: u64,
        limit: usize,
        view: View,
    ) -> StoreFuture<'_, Vec<(u64, bytes::Bytes)>>;

    /// Every member's receipt markers as `RoomFrame::Receipt` frames, none
    /// for a room of more than `max_members`.
    ///
    /// # Errors
    /// A storage failure.
    fn room_receipts(&self, room: u64, max_members: usize) -> StoreFuture<'_, Vec<bytes::Bytes>>;
}

/// Contacts, blocks and presence visibility ([`ops::social`]). Who may
/// see whose presence is decided in storage, in one snapshot: a user sees
/// their own; others only with a shared room or mutual contacts, and
/// neither blocking the other.
pub trait ContactsAndPresence: Send + Sync {
    /// Who may see `user`'s presence, with `user`'s identity and stored
    /// last-seen time; `None` for a missing account.
    ///
    /// # Errors
    /// A storage failure.
    fn presence_watchers(&self, user: u64) -> StoreFuture<'_, Option<ops::social::Watchers>>;

    /// Records now as `user`'s last-seen time. Queued when called (as
    /// [`RoomEvents::send_message`]), so a later write sees it.
    ///
    /// # Errors
    /// A storage failure.
    fn record_last_seen(&self, user: u64) -> StoreFuture<'static, ()>;

    /// Of `usernames`, those whose presence `viewer` may see.
    ///
    /// # Errors
    /// A storage failure.
    fn presence_of(
        &self,
        viewer: u64,
        usernames: Vec<String>,
    ) -> StoreFuture<'_, Vec<ops::social::Seen>>;

    /// The wire identities of `ids`, in order (`None` for a missing one).
    ///
    /// # Errors
    /// A storage failure.
    fn authors(&self, ids: Vec<u64>) -> StoreFuture<'_, Vec<Option<proto::Author>>>;

    /// `user` adds `username` as a contact (notifying them); idempotent.
    ///
    /// # Errors
    /// `NotFound`, `BadRequest` (yourself); a storage failure.
    fn add_contact(&self, user: u64, username: String) -> StoreFuture<'_, ()>;

    /// `user` removes `username` from their contacts; idempotent.
    ///
    /// # Errors
    /// `NotFound`, `BadRequest`; a storage failure.
    fn remove_contact(&self, user: u64, username: String) -> StoreFuture<'_, ()>;

    /// `user`'s contacts, each with whether `user` may see their presence.
    ///
    /// # Errors
    /// A storage failure.
    fn contacts(&self, user: u64) -> StoreFuture<'_, Vec<(ops::social::Seen, bool)>>;

    /// `user` blocks or unblocks `username`; returns that user's id.
    ///
    /// # Errors
    /// `NotFound`, `BadRequest`; a storage failure.
    fn set_blocked(&self, user: u64, username: String, blocked: bool) -> StoreFuture<'_, u64>;

    /// The ids of the users `user` blocks.
    ///
    /// # Errors
    /// A storage failure.
    fn blocked_ids(&self, user: u64) -> StoreFuture<'_, std::collections::HashSet<u64>>;

    /// The accounts `user` blocks.
    ///
    /// # Errors
    /// A storage failure.
    fn blocked_users(&self, user: u64) -> StoreFuture<'_, Vec<proto::UserInfo>>;
}

/// Notifications ([`ops::notifications`], [`ops::social`]). Other
/// domains' writes store a notification in their own transaction and push
/// it to the user's sessions after the commit; a notification from a user
/// the recipient blocks is not stored.
pub trait Notifications: Send + Sync {
    /// `user`'s notifications, newest first, and the unread count.
    ///
    /// # Errors
    /// A storage failure.
    fn notifications(
        &self,
        user: u64,
        unread_only: bool,
    ) -> StoreFuture<'_, (Vec<proto::Notification>, u64)>;

    /// Marks `user`'s notifications up to id `up_to` read.
    ///
    /// # Errors
    /// A storage failure.
    fn mark_notifications_read(&self, user: u64, up_to: u64) -> StoreFuture<'_, ()>;
}

/// A message's life after it is sent, and receipts ([`ops::lifecycle`]).
/// Each write checks membership, mute, archive and role in its own
/// transaction and appends its room event (`Edited`, `Deleted`,
/// `Reaction`) with the room's next seq, as every room event.
pub trait MessageLifecycle: Send + Sync {
    /// `caller` edits their message at `seq` to `text`; the prior text is
    /// kept as a version.
    ///
    /// # Errors
    /// `NotFound`, `NotMember`, `Muted`, `Archived`, `Forbidden`,
    /// `BadRequest`; a storage failure.
    fn edit_message(
        &self,
        caller: Caller,
        room: u64,
        seq: u64,
        text: String,
    ) -> StoreFuture<'_, ()>;

    /// Deletes the message at `seq` (its sender, a room admin or owner, or
    /// a server admin); audited when not the sender's own.
    ///
    /// # Errors
    /// `NotFound`, `NotMember`, `Forbidden`, `Archived`; a storage failure.
    fn delete_message(&self, caller: Caller, room: u64, seq: u64) -> StoreFuture<'_, ()>;

    /// Toggles `caller`'s reaction `emoji` on the message at `seq`.
    ///
    /// # Errors
    /// `NotFound`, `NotMember`, `Muted`, `Archived`, `BadRequest`,
    /// `LimitExceeded` (over `max_reactions`); a storage failure.
    fn react(
        &self,
        caller: Caller,
        room: u64,
        seq: u64,
        emoji: String,
        max_reactions: usize,
    ) -> StoreFuture<'_, ()>;

    /// The audit view of the message at `seq` (deleted text and versions).
    ///
    /// # Errors
    /// A storage failure.
    fn message_audit(&self, room: u64, seq: u64) -> StoreFuture<'_, Option<proto::MessageAudit>>;

    /// Moves `caller`'s receipt marker forward to `seq` (never back) and
    /// tells the room after the commit.
    ///
    /// # Errors
    /// `NotFound`, `NotMember`; a storage failure.
    fn mark(
        &self,
        caller: Caller,
        room: u64,
        seq: proto::Seq,
        marker: ops::lifecycle::Marker,
    ) -> StoreFuture<'_, ()>;

    /// Who read and who received the message at `seq`, for a member or
    /// `admin`.
    ///
    /// # Errors
    /// A storage failure.
    fn read_by(
        &self,
        user: u64,
        admin: bool,
        room: u64,
        seq: u64,
    ) -> StoreFuture<'_, Option<proto::ReadReceipts>>;

    /// `user`'s identity if they are a member of `room` now (typing).
    ///
    /// # Errors
    /// A storage failure.
    fn member_author(&self, user: u64, room: u64) -> StoreFuture<'_, Option<proto::Author>>;
}

impl MessageLifecycle for Store {
    fn edit_message(
        &self,
        caller: Caller,
        room: u64,
        seq: u64,
        text: String,
    ) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::lifecycle::edit(ctx, caller, room, seq, &text)),
        )
    }

    fn delete_message(&self, caller: Caller, room: u64, seq: u64) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::lifecycle::delete(ctx, caller, room, seq)),
        )
    }

    fn react(
        &self,
        caller: Caller,
        room: u64,
        seq: u64,
        emoji: String,
        max_reactions: usize,
    ) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer().write(move |ctx| {
                ops::lifecycle::react(ctx, caller, room, seq, &emoji, max_reactions)
            }),
        )
    }

    fn message_audit(&self, room: u64, seq: u64) -> StoreFuture<'_, Option<proto::MessageAudit>> {
        Box::pin(self.read_op(move |txn| ops::lifecycle::message_audit(txn, room, seq)))
    }

    fn mark(
        &self,
        caller: Caller,
        room: u64,
        seq: proto::Seq,
        marker: ops::lifecycle::Marker,
    ) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::lifecycle::mark(ctx, caller, room, seq, marker)),
        )
    }

    fn read_by(
        &self,
        user: u64,
        admin: bool,
        room: u64,
        seq: u64,
    ) -> StoreFuture<'_, Option<proto::ReadReceipts>> {
        Box::pin(self.read_op(move |txn| ops::lifecycle::read_by(txn, user, admin, room, seq)))
    }

    fn member_author(&self, user: u64, room: u64) -> StoreFuture<'_, Option<proto::Author>> {
        Box::pin(self.read_op(move |txn| ops::lifecycle::member_author(txn, user, room)))
    }
}

/// Moderation ([`ops::moderation`]): actions on a room and its members,
/// each checked against the actor's rank (room role, or server admin) in
/// its own transaction and recorded in the audit trail there; and reading
/// that trail (server admins everything, room admins their room's).
pub trait Moderation: Send + Sync {
    /// `caller` applies `action` to `room` with `reason`; returns whether
    /// the caller lost access to the room.
    ///
    /// # Errors
    /// `NotFound`, `NotMember`, `Forbidden`, `Unauthenticated`; a storage
    /// failure.
    fn moderate(
        &self,
        caller: Caller,
        room: u64,
        action: proto::ModAction,
        reason: String,
    ) -> StoreFuture<'_, bool>;

    /// The audit trail newest first, at most `limit`; `None` when `user`
    /// may not read it.
    ///
    /// # Errors
    /// A storage failure.
    fn moderation_log(
        &self,
        user: u64,
        admin: bool,
        room: Option<proto::RoomId>,
        limit: u32,
    ) -> StoreFuture<'_, Option<Vec<proto::ModerationRecord>>>;

    /// As [`Moderation::moderation_log`], one page at a time.
    ///
    /// # Errors
    /// A storage failure.
    fn moderation_log_page(
        &self,
        user: u64,
        admin: bool,
        room: Option<proto::RoomId>,
        page: PageRequest,
    ) -> StoreFuture<'_, Option<Page<proto::ModerationRecord>>>;
}

impl Moderation for Store {
    fn moderate(
        &self,
        caller: Caller,
        room: u64,
        action: proto::ModAction,
        reason: String,
    ) -> StoreFuture<'_, bool> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::moderation::moderate(ctx, caller, room, &action, &reason)),
        )
    }

    fn moderation_log(
        &self,
        user: u64,
        admin: bool,
        room: Option<proto::RoomId>,
        limit: u32,
    ) -> StoreFuture<'_, Option<Vec<proto::ModerationRecord>>> {
        Box::pin(self.read_op(move |txn| ops::moderation::log(txn, user, admin, room, limit)))
    }

    fn moderation_log_page(
        &self,
        user: u64,
        admin: bool,
        room: Option<proto::RoomId>,
        page: PageRequest,
    ) -> StoreFuture<'_, Option<Page<proto::ModerationRecord>>> {
        Box::pin(self.read_op(move |txn| ops::moderation::log_page(txn, user, admin, room, page)))
    }
}

/// Retention ([`ops::retention`]): keep periods and legal holds, and
/// purge batches. Contract: a setting change is checked (server admin
/// now) and audited in its transaction; a purge batch removes at most
/// `max` messages of one room, leaves gapless stubs (seqs never change),
/// never touches a held room, and records its audit entry in the same
/// transaction.
pub trait Retention: Send + Sync {
    /// Sets or clears the keep period of `scope`.
    ///
    /// # Errors
    /// `Unauthenticated`, `Forbidden`, `NotFound`; a storage failure.
    fn set_retention(
        &self,
        caller: Caller,
        scope: RetentionScopeRecord,
        keep: Option<KeepRecord>,
    ) -> StoreFuture<'_, proto::RetentionInfo>;

    /// Sets or lifts the legal hold of `scope`, with `reason`.
    ///
    /// # Errors
    /// `Unauthenticated`, `Forbidden`, `NotFound`; a storage failure.
    fn set_legal_hold(
        &self,
        caller: Caller,
        scope: RetentionScopeRecord,
        hold: bool,
        reason: String,
    ) -> StoreFuture<'_, proto::RetentionInfo>;

    /// The settings of `scope`, and for a room the policy in force.
    ///
    /// # Errors
    /// `NotFound`; a storage failure.
    fn retention(&self, scope: RetentionScopeRecord) -> StoreFuture<'_, proto::RetentionInfo>;

    /// Every stored setting, rooms then organisations.
    ///
    /// # Errors
    /// A storage failure.
    fn retention_settings(&self) -> StoreFuture<'_, Vec<proto::RetentionSetting>>;

    /// The rooms with messages older than their keep period at `now`.
    ///
    /// # Errors
    /// A storage failure.
    fn rooms_to_purge(&self, now: u64) -> StoreFuture<'_, Vec<u64>>;

    /// Purges one batch of `room` (audited as `actor`); `gone` gets the
    /// blobs left unreferenced, once nothing in the batch can fail.
    ///
    /// # Errors
    /// A storage failure.
    fn purge_batch(
        &self,
        actor: AuthorRecord,
        room: u64,
        now: u64,
        max: u32,
        gone: Arc<ops::retention::BlobsGone>,
    ) -> StoreFuture<'_, RetentionBatch>;
}

impl Retention for Store {
    fn set_retention(
        &self,
        caller: Caller,
        scope: RetentionScopeRecord,
        keep: Option<KeepRecord>,
    ) -> StoreFuture<'_, proto::RetentionInfo> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::retention::set_keep(ctx, caller, &scope, keep)),
        )
    }

    fn set_legal_hold(
        &self,
        caller: Caller,
        scope: RetentionScopeRecord,
        hold: bool,
        reason: String,
    ) -> StoreFuture<'_, proto::RetentionInfo> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::retention::set_hold(ctx, caller, &scope, hold, &reason)),
        )
    }

    fn retention(&self, scope: RetentionScopeRecord) -> StoreFuture<'_, proto::RetentionInfo> {
        Box::pin(self.read_op(move |txn| ops::retention::get(txn, &scope)))
    }

    fn retention_settings(&self) -> StoreFuture<'_, Vec<proto::RetentionSetting>> {
        Box::pin(self.read_op(ops::retention::settings))
    }

    fn rooms_to_purge(&self, now: u64) -> StoreFuture<'_, Vec<u64>> {
        Box::pin(self.read_op(move |txn| ops::retention::rooms_to_purge(txn, now)))
    }

    fn purge_batch(
        &self,
        actor: AuthorRecord,
        room: u64,
        now: u64,
        max: u32,
        gone: Arc<ops::retention::BlobsGone>,
    ) -> StoreFuture<'_, RetentionBatch> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::retention::purge_batch(ctx, &actor, room, now, max, &*gone)),
        )
    }
}

/// Attachments ([`ops::attachments`]): file records, quotas, downloads and
/// the file collector. Contract: an upload is recorded only while its
/// uploader is a member of the room and within the quotas, in the same
/// transaction; its bytes are placed in the blob store inside that write
/// (a failure stores nothing); blobs are removed only after nothing
/// refers to them.
pub trait Attachments: Send + Sync {
    /// Refuses `user` unless a member of `room` now (a private room or a
    /// missing one answers `NotFound`, a public one `NotMember`).
    ///
    /// # Errors
    /// As above; a storage failure.
    fn require_member(&self, user: u64, room: u64) -> StoreFuture<'_, ()>;

    /// The files of `room`'s live messages, newest first.
    ///
    /// # Errors
    /// A storage failure.
    fn files(&self, room: u64) -> StoreFuture<'_, Vec<proto::FileEntry>>;

    /// Bytes stored by `user` and in `room`.
    ///
    /// # Errors
    /// A storage failure.
    fn file_usage(&self, user: u64, room: u64) -> StoreFuture<'_, (u64, u64)>;

    /// Records the upload `rec` and places its bytes with `place`; returns
    /// the attachment id.
    ///
    /// # Errors
    /// `NotFound`, `NotMember`, `QuotaExceeded`; a storage failure.
    fn store_upload(
        &self,
        rec: super::files::AttachmentRecord,
        quotas: super::files::Quotas,
        place: Arc<ops::attachments::PlaceBlob>,
    ) -> StoreFuture<'_, u64>;

    /// Attachment `id` and whether its message is deleted.
    ///
    /// # Errors
    /// A storage failure.
    fn attachment_for_download(
        &self,
        id: u64,
    ) -> StoreFuture<'_, Option<(super::files::AttachmentRecord, bool)>>;

    /// Runs the file collector with grace period `grace_ms`; `gone` gets
    /// the blobs to remove. Returns how many blobs were released.
    ///
    /// # Errors
    /// A storage failure.
    fn collect_files(
        &self,
        grace_ms: u64,
        gone: Arc<ops::attachments::BlobsGone>,
    ) -> StoreFuture<'_, usize>;
}

impl Attachments for Store {
    fn require_member(&self, user: u64, room: u64) -> StoreFuture<'_, ()> {
        Box::pin(self.read_op(move |txn| ops::attachments::require_member(txn, user, room)))
    }

    fn files(&self, room: u64) -> StoreFuture<'_, Vec<proto::FileEntry>> {
        Box::pin(self.read_op(move |txn| ops::attachments::list(txn, room)))
    }

    fn file_usage(&self, user: u64, room: u64) -> StoreFuture<'_, (u64, u64)> {
        Box::pin(self.read_op(move |txn| ops::attachments::usage(txn, user, room)))
    }

    fn store_upload(
        &self,
        rec: super::files::AttachmentRecord,
        quotas: super::files::Quotas,
        place: Arc<ops::attachments::PlaceBlob>,
    ) -> StoreFuture<'_, u64> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::attachments::store_upload(ctx, &rec, quotas, &*place)),
        )
    }

    fn attachment_for_download(
        &self,
        id: u64,
    ) -> StoreFuture<'_, Option<(super::files::AttachmentRecord, bool)>> {
        Box::pin(self.read_op(move |txn| ops::attachments::for_download(txn, id)))
    }

    fn collect_files(
        &self,
        grace_ms: u64,
        gone: Arc<ops::attachments::BlobsGone>,
    ) -> StoreFuture<'_, usize> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::attachments::collect_garbage(ctx, grace_ms, &*gone)),
        )
    }
}

/// Server counters and start-up ([`ops::server`]).
pub trait ServerState: Send + Sync {
    /// The stored counts (rooms, accounts, events, idempotency keys).
    ///
    /// # Errors
    /// A storage failure; `Unavailable` while the store recovers.
    fn stored_counts(&self) -> StoreFuture<'_, ops::server::StoredCounts>;

    /// Whether no account exists yet.
    ///
    /// # Errors
    /// A storage failure.
    fn no_users(&self) -> StoreFuture<'_, bool>;

    /// Creates the first admin account `admin` with an API token labelled
    /// `label`, or reissues that token for an admin never used; returns
    /// the token's secret if one was minted. Atomic: the account and its
    /// token are stored together.
    ///
    /// # Errors
    /// A storage failure.
    fn bootstrap_admin(&self, admin: UserRecord, label: String) -> StoreFuture<'_, Option<String>>;
}

impl ServerState for Store {
    fn stored_counts(&self) -> StoreFuture<'_, ops::server::StoredCounts> {
        Box::pin(self.read_op(ops::server::counts))
    }

    fn no_users(&self) -> StoreFuture<'_, bool> {
        Box::pin(self.read_op(ops::server::no_users))
    }

    fn bootstrap_admin(&self, admin: UserRecord, label: String) -> StoreFuture<'_, Option<String>> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::server::bootstrap_admin(ctx, &admin, &label)),
        )
    }
}

/// The search indexer's feed from the room event log. Unlike the other
/// domains these methods BLOCK: the indexer runs on its own thread, off
/// the async workers. Each call reads one committed snapshot.
pub trait SearchFeed: Send + Sync {
    /// Every room id, and the sum of their heads.
    ///
    /// # Errors
    /// A storage failure.
    fn index_rooms(&self) -> Result<(Vec<u64>, u64), WriteError>;

    /// The indexer's next step for `room` from position `from` (at most
    /// `chunk` events).
    ///
    /// # Errors
    /// A storage failure.
    fn index_step(
        &self,
        room: u64,
        from: u64,
        chunk: usize,
    ) -> Result<ops::search::IndexStep, WriteError>;
}

impl SearchFeed for Store {
    fn index_rooms(&self) -> Result<(Vec<u64>, u64), WriteError> {
        self.read_blocking(|txn| Ok(ops::search::index_rooms(txn)))?
    }

    fn index_step(
        &self,
        room: u64,
        from: u64,
        chunk: usize,
    ) -> Result<ops::search::IndexStep, WriteError> {
        self.read_blocking(|txn| Ok(ops::search::index_step(txn, room, from, chunk)))?
    }
}

/// Backups: a consistent copy of everything stored. The copy's format
/// is the backend's own (for redb, a redb file; a PostgreSQL backend
/// will need its own format and restore path).
pub trait Backup: Send + Sync {
    /// Copies one committed snapshot of the whole store into a new file
    /// at `dest`; returns what it holds.
    ///
    /// # Errors
    /// A storage failure, or `dest` cannot be written.
    fn snapshot_to(
        &self,
        dest: std::path::PathBuf,
    ) -> StoreFuture<'_, super::snapshot::SnapshotFacts>;
}

impl Backup for Store {
    fn snapshot_to(
        &self,
        dest: std::path::PathBuf,
    ) -> StoreFuture<'_, super::snapshot::SnapshotFacts> {
        Box::pin(self.read_op(move |txn| Ok(super::snapshot::copy_to(txn, &dest)?)))
    }
}

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

impl ContactsAndPresence for Store {
    fn presence_watchers(&self, user: u64) -> StoreFuture<'_, Option<ops::social::Watchers>> {
        Box::pin(self.read_op(move |txn| ops::social::watchers(txn, user)))
    }

    fn record_last_seen(&self, user: u64) -> StoreFuture<'static, ()> {
        let rx = self
            .writer()
            .submit(move |ctx| ops::social::touch_last_seen(ctx, user));
        Box::pin(async move {
            rx.await
                .unwrap_or(Err(WriteError::Store(super::StoreError::WriterGone)))
        })
    }

    fn presence_of(
        &self,
        viewer: u64,
        usernames: Vec<String>,
    ) -> StoreFuture<'_, Vec<ops::social::Seen>> {
        Box::pin(self.read_op(move |txn| ops::social::presence_of(txn, viewer, &usernames)))
    }

    fn authors(&self, ids: Vec<u64>) -> StoreFuture<'_, Vec<Option<proto::Author>>> {
        Box::pin(self.read_op(move |txn| ops::social::authors(txn, &ids)))
    }

    fn add_contact(&self, user: u64, username: String) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::social::add_contact(ctx, user, &username)),
        )
    }

    fn remove_contact(&self, user: u64, username: String) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::social::remove_contact(ctx, user, &username)),
        )
    }

    fn contacts(&self, user: u64) -> StoreFuture<'_, Vec<(ops::social::Seen, bool)>> {
        Box::pin(self.read_op(move |txn| ops::social::contacts(txn, user)))
    }

    fn set_blocked(&self, user: u64, username: String, blocked: bool) -> StoreFuture<'_, u64> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::social::set_blocked(ctx, user, &username, blocked)),
        )
    }

    fn blocked_ids(&self, user: u64) -> StoreFuture<'_, std::collections::HashSet<u64>> {
        Box::pin(self.read_op(move |txn| ops::social::blocked_ids(txn, user)))
    }

    fn blocked_users(&self, user: u64) -> StoreFuture<'_, Vec<proto::UserInfo>> {
        Box::pin(self.read_op(move |txn| ops::social::blocked_users(txn, user)))
    }
}

impl Notifications for Store {
    fn notifications(
        &self,
        user: u64,
        unread_only: bool,
    ) -> StoreFuture<'_, (Vec<proto::Notification>, u64)> {
        Box::pin(self.read_op(move |txn| ops::social::notifications(txn, user, unread_only)))
    }

    fn mark_notifications_read(&self, user: u64, up_to: u64) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::social::mark_notifications_read(ctx, user, up_to)),
        )
    }
}

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

    fn catch_up(
        &self,
        room: u64,
        from: u64,
        to: u64,
        limit: usize,
        view: View,
    ) -> StoreFuture<'_, Vec<(u64, bytes::Bytes)>> {
        Box::pin(self.read_op(move |txn| ops::events::catch_up(txn, room, from, to, limit, &view)))
    }

    fn room_receipts(&self, room: u64, max_members: usize) -> StoreFuture<'_, Vec<bytes::Bytes>> {
        Box::pin(self.read_op(move |txn| ops::events::receipts(txn, room, max_members)))
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

    fn user_by_name(&self, username: String) -> StoreFuture<'_, Option<(u64, UserRecord)>> {
        Box::pin(self.read_op(move |txn| ops::users::by_name(txn, &username)))
    }

    fn user_by_id(&self, id: u64) -> StoreFuture<'_, Option<UserRecord>> {
        Box::pin(self.read_op(move |txn| ops::users::by_id(txn, id)))
    }

    fn user_by_token(
        &self,
        token_id: u64,
        secret: String,
    ) -> StoreFuture<'_, Option<(u64, UserRecord)>> {
        Box::pin(self.read_op(move |txn| ops::users::by_token(txn, token_id, &secret)))
    }

    fn mint_token(&self, user: u64, label: String, api: bool) -> StoreFuture<'_, (u64, String)> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::users::mint_token(ctx, user, label.clone(), api)),
        )
    }

    fn logout(&self, caller: Caller) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::users::logout(ctx, caller)),
        )
    }

    fn create_user(&self, caller: Caller, user: UserRecord) -> StoreFuture<'_, u64> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::users::create(ctx, caller, &user)),
        )
    }

    fn users(
        &self,
        viewer: u64,
        viewer_admin: bool,
        needle: Option<String>,
    ) -> StoreFuture<'_, Vec<proto::UserInfo>> {
        Box::pin(
            self.read_op(move |txn| ops::users::list(txn, viewer, viewer_admin, needle.as_deref())),
        )
    }

    fn users_page(
        &self,
        viewer: u64,
        viewer_admin: bool,
        needle: Option<String>,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::UserInfo>> {
        Box::pin(self.read_op(move |txn| {
            ops::users::list_page(txn, viewer, viewer_admin, needle.as_deref(), page)
        }))
    }

    fn update_user(
        &self,
        caller: Caller,
        id: u64,
        change: proto::UserChange,
        new_hash: Option<String>,
    ) -> StoreFuture<'_, UserRecord> {
        Box::pin(
            self.writer().write(move |ctx| {
                ops::users::update(ctx, caller, id, &change, new_hash.as_deref())
            }),
        )
    }

    fn create_token(
        &self,
        caller: Caller,
        target: AuthorRecord,
        label: String,
    ) -> StoreFuture<'_, (u64, String)> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::users::create_token(ctx, caller, &target, &label)),
        )
    }

    fn tokens(&self, only: Option<u64>) -> StoreFuture<'_, Vec<proto::TokenInfo>> {
        Box::pin(self.read_op(move |txn| ops::users::tokens(txn, only)))
    }

    fn tokens_page(
        &self,
        only: Option<u64>,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::TokenInfo>> {
        Box::pin(self.read_op(move |txn| ops::users::tokens_page(txn, only, page)))
    }

    fn revoke_token(&self, caller: Caller, id: u64) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::users::revoke_token(ctx, caller, id)),
        )
    }

    fn change_password(&self, caller: Caller, new_hash: String) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::users::change_password(ctx, caller, &new_hash)),
        )
    }

    fn set_display_name(
        &self,
        caller: Caller,
        display_name: String,
    ) -> StoreFuture<'_, UserRecord> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::users::set_display_name(ctx, caller, &display_name)),
        )
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
