//! Search position: what the store says about a search before and after
//! the index is asked (the rooms a caller may search, the rooms' heads the
//! index must reach, the stored messages behind the index's hits).

use super::refuse;
use crate::store::WriteError;
use crate::store::kv::{KvRead, ReadTx};
use crate::store::query::{self, Reader};
use crate::store::records::{AuthorRecord, EventKindRecord, EventRecord, RoomRecord, decode};
use chat_protocol::ErrorCode;

/// What the store says about a search before the index is asked.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The rooms to search; `None` for every room (an audit search).
    pub rooms: Option<Vec<u64>>,
    /// (room, head seq) the index must reach before the search runs.
    pub heads: Vec<(u64, u64)>,
    /// The sender filter, resolved to a user id.
    pub sender: Option<u64>,
}

/// The scope of a search by `user`: with `room`, that room (refused as
/// missing unless `user` is a member of it now, or `audit`); without it,
/// every room `user` is a member of, or with `audit` every room (deleted
/// ones included, so that waiting for their heads waits for their
/// documents to be dropped). `sender` is resolved by username.
///
/// # Errors
/// [`ErrorCode::NotFound`] for an unknown sender or a room the caller may
/// not read; a storage failure.
pub fn scope(
    txn: &ReadTx,
    user: u64,
    audit: bool,
    room: Option<u64>,
    sender: Option<&str>,
) -> Result<Scope, WriteError> {
    let r = Reader::open(txn)?;
    let sender = match sender {
        Some(name) => match query::user_id(&r.usernames, name)? {
            Some(id) => Some(id),
            None => return Err(super::users::no_such_user(name).into()),
        },
        None => None,
    };
    let mut rooms = Vec::new();
    let mut heads = Vec::new();
    let candidates = match room {
        Some(id) => vec![id],
        None if audit => Vec::new(),
        None => query::rooms_of(&r.user_rooms, user)?,
    };
    for id in candidates {
        let visible = query::room(&r.rooms, id)?.filter(|room| !room.deleted);
        let member = audit || query::member(&r.members, id, user)?.is_some();
        match visible {
            Some(rec) if member => {
                rooms.push(id);
                heads.push((id, rec.head));
            }
            // A room the caller cannot read answers as a missing one, as
            // everywhere else.
            _ if room.is_some() => {
                return Err(refuse(
                    ErrorCode::NotFound,
                    "no such room, or you are not a member; check the room, or join it first",
                ));
            }
            _ => {}
        }
    }
    if audit && room.is_none() {
        for entry in r.rooms.iter()? {
            let (k, v) = entry?;
            let rec: RoomRecord = decode(v.value())?;
            heads.push((k.value(), rec.head));
        }
    }
    Ok(Scope {
        rooms: (!audit || room.is_some()).then_some(rooms),
        heads,
        sender,
    })
}

/// Every room with its head seq, a deleted room's as 0.
///
/// # Errors
/// A storage failure.
pub fn room_heads(txn: &ReadTx) -> Result<Vec<(u64, u64)>, WriteError> {
    Ok(query::room_heads(&Reader::open(txn)?.rooms)?)
}

/// A stored message found by a search, as it is now.
#[derive(Debug, Clone)]
pub struct FoundMessage {
    /// Its room.
    pub room: u64,
    /// The room's name.
    pub room_name: String,
    /// Its seq.
    pub seq: u64,
    /// When it was sent, ms since the Unix epoch.
    pub ts: u64,
    /// Who sent it.
    pub sender: AuthorRecord,
    /// Its text now (edits applied).
    pub text: String,
}

/// The messages at `points` (room, seq), in that order, leaving out what
/// is no longer a readable message: a missing or deleted event, a deleted
/// message, a deleted room.
///
/// # Errors
/// A storage failure.
pub fn messages_at(txn: &ReadTx, points: &[(u64, u64)]) -> Result<Vec<FoundMessage>, WriteError> {
    let r = Reader::open(txn)?;
    let mut out = Vec::with_capacity(points.len());
    for &(room_id, seq) in points {
        let Some((_, ev)) = query::events(&r.events, room_id, seq, seq, 1)?.pop() else {
            continue;
        };
        let EventKindRecord::Message { text, deleted, .. } = ev.kind else {
            continue;
        };
        if deleted.is_some() {
            continue;
        }
        // The index may not yet have dropped a deleted room.
        let Some(room) = query::room(&r.rooms, room_id)?.filter(|r| !r.deleted) else {
            continue;
        };
        out.push(FoundMessage {
            room: room_id,
            room_name: room.name,
            seq,
            ts: ev.ts,
            sender: ev.sender,
            text,
        });
    }
    Ok(out)
}

/// Every room id, and the sum of their heads (the events a rebuild of the
/// search index reads at most).
///
/// # Errors
/// A storage failure.
pub fn index_rooms(txn: &ReadTx) -> Result<(Vec<u64>, u64), WriteError> {
    let r = Reader::open(txn)?;
    let mut out = Vec::new();
    let mut total = 0u64;
    for entry in r.rooms.iter()? {
        let (k, v) = entry?;
        let room: RoomRecord = decode(v.value())?;
        total += room.head;
        out.push(k.value());
    }
    Ok((out, total))
}

/// What the search indexer does next for one room.
#[derive(Debug)]
pub enum IndexStep {
    /// The room does not exist.
    Gone,
    /// The room was deleted at this head: drop its documents.
    Deleted(u64),
    /// The store is older than the index's position (a restored backup):
    /// index the room again from the start.
    Restart,
    /// New changes, the room's head and its retention floor.
    Apply(Vec<IndexChange>, u64, u64),
}

/// One room event as the search indexer sees it.
#[derive(Debug)]
pub enum IndexChange {
    /// An event that is not a message change.
    Skip(u64),
    /// A new message at this seq, in its current state.
    Add(u64, EventRecord),
    /// The message at `.0` changed (edit or deletion at `.2`); `.1` is its
    /// current state.
    Replace(u64, Option<EventRecord>, u64),
}

/// The indexer's next step for `room_id` from position `from`: at most
/// `chunk` events past it.
///
/// # Errors
/// A storage failure.
pub fn index_step(
    txn: &ReadTx,
    room_id: u64,
    from: u64,
    chunk: usize,
) -> Result<IndexStep, WriteError> {
    let r = Reader::open(txn)?;
    let Some(room) = query::room(&r.rooms, room_id)? else {
        return Ok(IndexStep::Gone);
    };
    if room.deleted {
        return Ok(IndexStep::Deleted(room.head));
    }
    if from > room.head {
        return Ok(IndexStep::Restart);
    }
    let events = query::events(&r.events, room_id, from + 1, room.head, chunk)?;
    let mut changes = Vec::with_capacity(events.len());
    for (seq, ev) in events {
        match &ev.kind {
            EventKindRecord::Message { .. } => changes.push(IndexChange::Add(seq, ev)),
            EventKindRecord::Edited { target, .. } | EventKindRecord::Deleted { target } => {
                let current = query::events(&r.events, room_id, *target, *target, 1)?
                    .pop()
                    .map(|(_, e)| e);
                changes.push(IndexChange::Replace(*target, current, seq));
            }
            _ => changes.push(IndexChange::Skip(seq)),
        }
    }
    Ok(IndexStep::Apply(changes, room.head, room.purged_below))
}
