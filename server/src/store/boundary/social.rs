//! Contacts, presence and notifications: the boundary's traits and their redb implementation.

use super::*;

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
                .unwrap_or(Err(WriteError::Store(crate::store::StoreError::WriterGone)))
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
