//! Where a node reads the room events the bus did not bring: storage, the
//! source of truth every node reaches.
//!
//! [`GapFill`] is the boundary; [`RedbGapFill`] reads chatd's redb file.
//! The PostgreSQL store implements the same two reads (issue 16).

use crate::store::boundary::RoomEvents;
use crate::store::records::EventRecord;
use crate::store::{Store, StoreError, WriteError};
use std::future::Future;

/// Most events one [`GapFill::events`] call returns; callers page.
pub const FILL_PAGE: usize = 512;

/// Reads of committed room events for the bus's gap rule.
pub trait GapFill: Send + Sync + 'static {
    /// Events of `room` with `after < seq <= up_to`, ascending, at most
    /// [`FILL_PAGE`] of them.
    ///
    /// # Errors
    /// A storage error.
    fn events(
        &self,
        room: u64,
        after: u64,
        up_to: u64,
    ) -> impl Future<Output = Result<Vec<(u64, EventRecord)>, StoreError>> + Send;

    /// The head (last committed seq, 0 for none or a deleted room) of each
    /// of `rooms`, or of every room when `rooms` is `None`. Rooms that do
    /// not exist are left out.
    ///
    /// # Errors
    /// A storage error.
    fn heads(
        &self,
        rooms: Option<Vec<u64>>,
    ) -> impl Future<Output = Result<Vec<(u64, u64)>, StoreError>> + Send;
}

/// [`GapFill`] over chatd's redb store, each read in its own read
/// transaction on the blocking pool.
#[derive(Clone)]
pub struct RedbGapFill {
    store: Store,
}

impl RedbGapFill {
    /// Reads from `store`.
    pub fn new(store: Store) -> RedbGapFill {
        RedbGapFill { store }
    }
}

impl GapFill for RedbGapFill {
    async fn events(
        &self,
        room: u64,
        after: u64,
        up_to: u64,
    ) -> Result<Vec<(u64, EventRecord)>, StoreError> {
        RoomEvents::stored_events(&self.store, room, after, up_to, FILL_PAGE)
            .await
            .map_err(store_error)
    }

    async fn heads(&self, rooms: Option<Vec<u64>>) -> Result<Vec<(u64, u64)>, StoreError> {
        RoomEvents::heads_of(&self.store, rooms)
            .await
            .map_err(store_error)
    }
}

/// A read has no refusal: anything but a storage failure is a bug, kept
/// as a storage error with its message.
fn store_error(e: WriteError) -> StoreError {
    match e {
        WriteError::Store(e) => e,
        WriteError::Rejected(body) => StoreError::Corrupt(body.message),
    }
}
