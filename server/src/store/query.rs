//! Typed reads shared by read transactions and the writer.
//!
//! Every function is generic over [`KvRead`] (either engine's tables), so the writer
//! (inside its write transaction) and readers (inside read transactions)
//! share one implementation of each lookup.

use super::StoreError;
use super::kv::{KvKey, KvRead, ReadTable, ReadTx};
use super::records::*;
use super::tables::*;
use crate::fanout::Effect;
use chat_protocol as proto;

/// Value type of tables holding encoded records.
pub type Blob = &'static [u8];

/// Reads a record by key.
fn get<K, T>(t: &impl KvRead<K, Blob>, key: K::SelfType<'_>) -> Result<Option<T>, StoreError>
where
    K: KvKey,
    T: serde::de::DeserializeOwned,
{
    match t.get(key)? {
        Some(v) => Ok(Some(decode(v.value())?)),
        None => Ok(None),
    }
}

/// An account by id.
///
/// # Errors
/// A storage error or a corrupt record.
pub fn user(t: &impl KvRead<u64, Blob>, id: u64) -> Result<Option<UserRecord>, StoreError> {
    get(t, id)
}

/// A user id by username (any case).
///
/// # Errors
/// A storage error.
pub fn user_id(t: &impl KvRead<&'static str, u64>, name: &str) -> Result<Option<u64>, StoreError> {
    Ok(t.get(proto::names::canonical(name).as_str())?
        .map(|v| v.value()))
}

/// A room by id.
///
/// # Errors
/// A storage error or a corrupt record.
pub fn room(t: &impl KvRead<u64, Blob>, id: u64) -> Result<Option<RoomRecord>, StoreError> {
    get(t, id)
}

/// A membership.
///
/// # Errors
/// A storage error or a corrupt record.
pub fn member(
    t: &impl KvRead<(u64, u64), Blob>,
    room: u64,
    user: u64,
) -> Result<Option<MemberRecord>, StoreError> {
    get(t, (room, user))
}

/// A token by id.
///
/// # Errors
/// A storage error or a corrupt record.
pub fn token(t: &impl KvRead<u64, Blob>, id: u64) -> Result<Option<TokenRecord>, StoreError> {
    get(t, id)
}

/// Events of `room` with `from <= seq <= to`, ascending, at most `limit`.
///
/// # Errors
/// A storage error or a corrupt record.
pub fn events(
    t: &impl KvRead<(u64, u64), Blob>,
    room: u64,
    from: u64,
    to: u64,
    limit: usize,
) -> Result<Vec<(u64, EventRecord)>, StoreError> {
    scan(t, room, from, to, limit, false)
}

/// Events of `room` with `from <= seq <= to`, descending (newest first), at
/// most `limit`.
///
/// # Errors
/// A storage error or a corrupt record.
pub fn events_rev(
    t: &impl KvRead<(u64, u64), Blob>,
    room: u64,
    from: u64,
    to: u64,
    limit: usize,
) -> Result<Vec<(u64, EventRecord)>, StoreError> {
    scan(t, room, from, to, limit, true)
}

fn scan(
    t: &impl KvRead<(u64, u64), Blob>,
    room: u64,
    from: u64,
    to: u64,
    limit: usize,
    newest_first: bool,
) -> Result<Vec<(u64, EventRecord)>, StoreError> {
    if from > to {
        return Ok(Vec::new());
    }
    let range = t.range((room, from)..=(room, to))?;
    let entries: Box<dyn Iterator<Item = _>> = if newest_first {
        Box::new(range.rev())
    } else {
        Box::new(range)
    };
    entries
        .take(limit)
        .map(|entry| {
            let (k, v) = entry?;
            Ok((k.value().1, decode(v.value())?))
        })
        .collect()
}

/// The members of `room` with their records.
///
/// # Errors
/// A storage error or a corrupt record.
pub fn members(
    t: &impl KvRead<(u64, u64), Blob>,
    room: u64,
) -> Result<Vec<(u64, MemberRecord)>, StoreError> {
    let mut out = Vec::new();
    for entry in t.range((room, 0)..=(room, u64::MAX))? {
        let (k, v) = entry?;
        out.push((k.value().1, decode(v.value())?));
    }
    Ok(out)
}

/// Every room with its head sequence number, a deleted room's as 0 (its
/// search documents are gone, so it is never behind).
///
/// # Errors
/// A storage error or a record that does not decode.
pub fn room_heads(t: &impl KvRead<u64, Blob>) -> Result<Vec<(u64, u64)>, StoreError> {
    let mut heads = Vec::new();
    for entry in t.iter()? {
        let (k, v) = entry?;
        let rec: RoomRecord = super::records::decode(v.value())?;
        heads.push((k.value(), if rec.deleted { 0 } else { rec.head }));
    }
    Ok(heads)
}

/// The ids of the rooms `user` belongs to.
///
/// # Errors
/// A storage error.
pub fn rooms_of(t: &impl KvRead<(u64, u64), ()>, user: u64) -> Result<Vec<u64>, StoreError> {
    let mut out = Vec::new();
    for entry in t.range((user, 0)..=(user, u64::MAX))? {
        out.push(entry?.0.value().1);
    }
    Ok(out)
}

/// Number of rooms `user` belongs to.
///
/// # Errors
/// A storage error.
pub fn room_count(t: &impl KvRead<(u64, u64), ()>, user: u64) -> Result<usize, StoreError> {
    let mut n = 0;
    for entry in t.range((user, 0)..=(user, u64::MAX))? {
        entry?;
        n += 1;
    }
    Ok(n)
}

/// The users `user` blocks.
///
/// # Errors
/// A storage error.
pub fn blocked_by(
    t: &impl KvRead<(u64, u64), ()>,
    user: u64,
) -> Result<std::collections::HashSet<u64>, StoreError> {
    let mut out = std::collections::HashSet::new();
    for entry in t.range((user, 0)..=(user, u64::MAX))? {
        out.insert(entry?.0.value().1);
    }
    Ok(out)
}

/// Whether `blocker` blocks `blocked`.
///
/// # Errors
/// A storage error.
pub fn blocks(
    t: &impl KvRead<(u64, u64), ()>,
    blocker: u64,
    blocked: u64,
) -> Result<bool, StoreError> {
    Ok(t.get((blocker, blocked))?.is_some())
}

/// Opened read-only tables for a read transaction.
pub struct Reader<'t> {
    /// [`USERS`].
    pub users: ReadTable<'t, u64, Blob>,
    /// [`USERNAMES`].
    pub usernames: ReadTable<'t, &'static str, u64>,
    /// [`TOKENS`].
    pub tokens: ReadTable<'t, u64, Blob>,
    /// [`ROOMS`].
    pub rooms: ReadTable<'t, u64, Blob>,
    /// [`ROOM_NAMES`].
    pub room_names: ReadTable<'t, &'static str, u64>,
    /// [`MEMBERS`].
    pub members: ReadTable<'t, (u64, u64), Blob>,
    /// [`USER_ROOMS`].
    pub user_rooms: ReadTable<'t, (u64, u64), ()>,
    /// [`EVENTS`].
    pub events: ReadTable<'t, (u64, u64), Blob>,
    /// [`META`].
    pub meta: ReadTable<'t, &'static str, u64>,
    /// [`BLOCKS`].
    pub blocks: ReadTable<'t, (u64, u64), ()>,
    /// [`CONTACTS`].
    pub contacts: ReadTable<'t, (u64, u64), u64>,
    /// [`CONTACT_OF`].
    pub contact_of: ReadTable<'t, (u64, u64), ()>,
    /// [`NOTIFICATIONS`].
    pub notifications: ReadTable<'t, (u64, u64), Blob>,
    /// [`VERSIONS`].
    pub versions: ReadTable<'t, (u64, u64, u32), Blob>,
    /// [`MODLOG`].
    pub modlog: ReadTable<'t, u64, Blob>,
    /// [`BANS`].
    pub bans: ReadTable<'t, (u64, u64), Blob>,
}

impl<'t> Reader<'t> {
    /// Opens every table in `txn`. Opening is cheap (a root-page lookup).
    ///
    /// # Errors
    /// A storage error.
    pub fn open(txn: &'t ReadTx) -> Result<Reader<'t>, StoreError> {
        Ok(Reader {
            users: txn.open_table(USERS)?,
            usernames: txn.open_table(USERNAMES)?,
            tokens: txn.open_table(TOKENS)?,
            rooms: txn.open_table(ROOMS)?,
            room_names: txn.open_table(ROOM_NAMES)?,
            members: txn.open_table(MEMBERS)?,
            user_rooms: txn.open_table(USER_ROOMS)?,
            events: txn.open_table(EVENTS)?,
            meta: txn.open_table(META)?,
            blocks: txn.open_table(BLOCKS)?,
            contacts: txn.open_table(CONTACTS)?,
            contact_of: txn.open_table(CONTACT_OF)?,
            notifications: txn.open_table(NOTIFICATIONS)?,
            versions: txn.open_table(VERSIONS)?,
            modlog: txn.open_table(MODLOG)?,
            bans: txn.open_table(BANS)?,
        })
    }

    /// A counter from [`META`], 0 when unset.
    ///
    /// # Errors
    /// A storage error.
    pub fn counter(&self, name: &str) -> Result<u64, StoreError> {
        Ok(self.meta.get(name)?.map(|v| v.value()).unwrap_or(0))
    }

    /// The sum of counter `name` and of its per-node shards
    /// (`name:<shard>`, written by nodes sharing a PostgreSQL database;
    /// see `WriteCtx`'s `event_count_key`).
    ///
    /// # Errors
    /// A storage error.
    pub fn counter_sum(&self, name: &str) -> Result<u64, StoreError> {
        let shard_prefix = format!("{name}:");
        let mut total = 0u64;
        for row in self.meta.range(name..)? {
            let (key, value) = row?;
            let key = key.value();
            if key != name && !key.starts_with(&shard_prefix) {
                if key.starts_with(name) {
                    continue;
                }
                break;
            }
            total = total.saturating_add(value.value());
        }
        Ok(total)
    }
}

/// Appends `event` to `room`'s timeline inside the writer's transaction:
/// assigns the next seq, stores the event, updates the room's head and
/// queues the event for fan-out after commit (the publisher encodes its
/// frame). Returns the seq.
///
/// Call it last in a job, once nothing else can fail, and save `room` back
/// with [`super::WriteCtx::put_room`] (it is updated in place).
///
/// # Errors
/// A storage error or an encoding failure.
pub fn append(
    ctx: &mut super::WriteCtx<'_>,
    room_id: u64,
    room: &mut RoomRecord,
    event: EventRecord,
) -> Result<u64, StoreError> {
    let seq = room.head + 1;
    ctx.events
        .insert((room_id, seq), encode(&event)?.as_slice())?;
    room.head = seq;
    room.last_ts = room.last_ts.max(event.ts);
    ctx.count_event();
    if event.is_message() {
        room.message_count += 1;
    }
    ctx.effects.push(Effect::Room {
        room: room_id,
        seq,
        event: Box::new(event),
    });
    Ok(seq)
}
