//! Search position and the indexer feed: the boundary's traits and their redb implementation.

use super::*;

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
