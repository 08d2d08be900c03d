//! Retention: the boundary's traits and their redb implementation.

use super::*;

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

    /// Purges one batch of `room` (audited as `actor`); the blobs it left
    /// unreferenced are noted for [`super::Attachments::remove_doomed_blobs`],
    /// which the caller runs after this returns.
    ///
    /// # Errors
    /// A storage failure.
    fn purge_batch(
        &self,
        actor: AuthorRecord,
        room: u64,
        now: u64,
        max: u32,
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
    ) -> StoreFuture<'_, RetentionBatch> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::retention::purge_batch(ctx, &actor, room, now, max)),
        )
    }
}
