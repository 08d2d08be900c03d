//! The context a write job runs in: the open tables of the batch's write
//! transaction, plus the per-batch state that is written once at commit.
//!
//! Two things change on nearly every send and would otherwise be
//! re-encoded and re-inserted once per message: the room record (its head
//! seq, last activity and message count) and the server-wide event counter.
//! [`WriteCtx::put_room`] keeps changed rooms in memory and
//! [`WriteCtx::count_event`] adds to a counter; [`WriteCtx::flush`] writes
//! both into their tables once, just before the batch commits. A batch of
//! 500 messages to one room thus does one room insert instead of 500
//! (profile in BENCHMARKS.md, "Group-commit throughput").

use super::StoreError;
use super::query;
use super::records::{RoomRecord, encode};
use super::tables::*;
use crate::fanout::Effect;
use crate::store::kv::{KvRead, WriteTable, WriteTx};
use std::collections::HashMap;

/// The tables of one write transaction, opened once per batch.
///
/// Rooms are read and written only through [`WriteCtx::room`] and
/// [`WriteCtx::put_room`], so a job always sees the rooms that earlier jobs
/// of the same batch changed.
pub struct WriteCtx<'t> {
    /// [`META`].
    pub meta: WriteTable<'t, &'static str, u64>,
    /// [`USERS`].
    pub users: WriteTable<'t, u64, &'static [u8]>,
    /// [`USERNAMES`].
    pub usernames: WriteTable<'t, &'static str, u64>,
    /// [`TOKENS`].
    pub tokens: WriteTable<'t, u64, &'static [u8]>,
    /// [`ROOMS`]; private, see [`WriteCtx::room`].
    rooms: WriteTable<'t, u64, &'static [u8]>,
    /// [`ROOM_NAMES`].
    pub room_names: WriteTable<'t, &'static str, u64>,
    /// [`MEMBERS`].
    pub members: WriteTable<'t, (u64, u64), &'static [u8]>,
    /// [`USER_ROOMS`].
    pub user_rooms: WriteTable<'t, (u64, u64), ()>,
    /// [`EVENTS`].
    pub events: WriteTable<'t, (u64, u64), &'static [u8]>,
    /// [`IDEMPOTENCY`].
    pub idempotency: WriteTable<'t, (u64, &'static str), &'static [u8]>,
    /// [`VERSIONS`].
    pub versions: WriteTable<'t, (u64, u64, u32), &'static [u8]>,
    /// [`BANS`].
    pub bans: WriteTable<'t, (u64, u64), &'static [u8]>,
    /// [`BLOCKS`].
    pub blocks: WriteTable<'t, (u64, u64), ()>,
    /// [`CONTACTS`].
    pub contacts: WriteTable<'t, (u64, u64), u64>,
    /// [`CONTACT_OF`].
    pub contact_of: WriteTable<'t, (u64, u64), ()>,
    /// [`NOTIFICATIONS`].
    pub notifications: WriteTable<'t, (u64, u64), &'static [u8]>,
    /// [`MODLOG`].
    pub modlog: WriteTable<'t, u64, &'static [u8]>,
    /// The batch's transaction, for tables opened on demand by one job
    /// (the file tables of `store::files`), never held across jobs.
    pub(super) txn: &'t WriteTx,
    /// What to publish after the commit. Jobs push here only once they can
    /// no longer fail.
    pub effects: Vec<Effect>,
    /// Rooms changed in this batch, written to [`ROOMS`] by [`WriteCtx::flush`].
    dirty_rooms: HashMap<u64, RoomRecord>,
    /// The `META` row this batch's event count goes to:
    /// [`meta::EVENT_COUNT`] on redb, `event_count:<shard>` on PostgreSQL
    /// (`WriteTx::counter_shard`); readers sum them
    /// (`query::Reader::counter_sum`).
    event_count_key: String,
    /// Events appended in this batch, added to the event count row by
    /// [`WriteCtx::flush`].
    new_events: u64,
}

impl<'t> WriteCtx<'t> {
    pub(super) fn open(txn: &'t WriteTx) -> Result<WriteCtx<'t>, StoreError> {
        Ok(WriteCtx {
            meta: txn.open_table(META)?,
            users: txn.open_table(USERS)?,
            usernames: txn.open_table(USERNAMES)?,
            tokens: txn.open_table(TOKENS)?,
            rooms: txn.open_table(ROOMS)?,
            room_names: txn.open_table(ROOM_NAMES)?,
            members: txn.open_table(MEMBERS)?,
            user_rooms: txn.open_table(USER_ROOMS)?,
            events: txn.open_table(EVENTS)?,
            idempotency: txn.open_table(IDEMPOTENCY)?,
            versions: txn.open_table(VERSIONS)?,
            bans: txn.open_table(BANS)?,
            blocks: txn.open_table(BLOCKS)?,
            contacts: txn.open_table(CONTACTS)?,
            contact_of: txn.open_table(CONTACT_OF)?,
            notifications: txn.open_table(NOTIFICATIONS)?,
            modlog: txn.open_table(MODLOG)?,
            event_count_key: match txn.counter_shard() {
                Some(shard) => format!("{}:{shard}", meta::EVENT_COUNT),
                None => meta::EVENT_COUNT.to_string(),
            },
            txn,
            effects: Vec::new(),
            dirty_rooms: HashMap::new(),
            new_events: 0,
        })
    }

    /// A room by id (deleted ones included), as this batch last saved it.
    ///
    /// # Errors
    /// A storage error or a corrupt record.
    pub fn room(&self, id: u64) -> Result<Option<RoomRecord>, StoreError> {
        match self.dirty_rooms.get(&id) {
            Some(room) => Ok(Some(room.clone())),
            None => query::room(&self.rooms, id),
        }
    }

    /// Saves a room record; it reaches [`ROOMS`] when the batch commits.
    pub fn put_room(&mut self, id: u64, room: &RoomRecord) {
        match self.dirty_rooms.get_mut(&id) {
            Some(slot) => slot.clone_from(room),
            None => {
                self.dirty_rooms.insert(id, room.clone());
            }
        }
    }

    /// Counts one appended event towards [`meta::EVENT_COUNT`].
    pub fn count_event(&mut self) {
        self.new_events += 1;
    }

    /// Takes the next value of the counter `name` (starting at 1).
    ///
    /// # Errors
    /// A storage error.
    pub fn next_id(&mut self, name: &str) -> Result<u64, StoreError> {
        let next = self.meta.get(name)?.map(|v| v.value()).unwrap_or(1);
        self.meta.insert(name, next + 1)?;
        Ok(next)
    }

    /// Adds `delta` to the counter `name`.
    ///
    /// # Errors
    /// A storage error.
    pub fn bump(&mut self, name: &str, delta: u64) -> Result<(), StoreError> {
        let cur = self.meta.get(name)?.map(|v| v.value()).unwrap_or(0);
        self.meta.insert(name, cur + delta)?;
        Ok(())
    }

    /// Writes the batch's changed rooms and event count into their tables.
    /// The writer calls it once, after the last job and before the commit.
    ///
    /// # Errors
    /// A storage error or a record that cannot be encoded.
    pub(super) fn flush(&mut self) -> Result<(), StoreError> {
        for (id, room) in self.dirty_rooms.drain() {
            self.rooms.insert(id, encode(&room)?.as_slice())?;
        }
        if self.new_events > 0 {
            let n = std::mem::take(&mut self.new_events);
            let key = std::mem::take(&mut self.event_count_key);
            let bumped = self.bump(&key, n);
            self.event_count_key = key;
            bumped?;
        }
        Ok(())
    }
}
