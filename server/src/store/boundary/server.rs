//! Server counters, first start and backups: the boundary's traits and their redb implementation.

use super::*;

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
    /// `label`, or, when `reissue` is set, reissues that token for an
    /// admin never used; returns the token's secret if one was minted.
    /// Atomic: the account and its token are stored together.
    ///
    /// # Errors
    /// A storage failure.
    fn bootstrap_admin(
        &self,
        admin: UserRecord,
        label: String,
        reissue: bool,
    ) -> StoreFuture<'_, Option<String>>;
}

impl ServerState for Store {
    fn stored_counts(&self) -> StoreFuture<'_, ops::server::StoredCounts> {
        Box::pin(self.read_op(ops::server::counts))
    }

    fn no_users(&self) -> StoreFuture<'_, bool> {
        Box::pin(self.read_op(ops::server::no_users))
    }

    fn bootstrap_admin(
        &self,
        admin: UserRecord,
        label: String,
        reissue: bool,
    ) -> StoreFuture<'_, Option<String>> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::server::bootstrap_admin(ctx, &admin, &label, reissue)),
        )
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
    ) -> StoreFuture<'_, crate::store::snapshot::SnapshotFacts>;
}

impl Backup for Store {
    fn snapshot_to(
        &self,
        dest: std::path::PathBuf,
    ) -> StoreFuture<'_, crate::store::snapshot::SnapshotFacts> {
        Box::pin(self.read_op(move |txn| Ok(crate::store::snapshot::copy_to(txn, &dest)?)))
    }
}
