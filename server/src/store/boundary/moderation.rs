//! Moderation: the boundary's traits and their redb implementation.

use super::*;

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
