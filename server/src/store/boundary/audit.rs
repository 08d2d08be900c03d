//! Audit: the boundary's traits and their redb implementation.

use super::*;

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
