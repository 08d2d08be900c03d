//! Message lifecycle and receipts: the boundary's traits and their redb implementation.

use super::*;

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
