//! Rooms and members, the reads: a room by name, the chat list with
//! unread counts, the directory and member lists. Each sees one committed
//! snapshot; a room the reader may not know of answers as a missing one.

use super::rooms::{direct_key, no_such_room, not_member, room_info};
use crate::page::PageBuilder;
use crate::store::StoreError;
use crate::store::WriteError;
use crate::store::kv::{KvRead, ReadTx};
use crate::store::query::{self, Reader};
use crate::store::records::*;
use chat_protocol::{self as proto, Page, PageRequest, Timestamp, names};

/// Most events scanned per room to count unread messages at login. Beyond
/// it the count is a lower bound; clients show it as "N+".
pub const UNREAD_SCAN_LIMIT: usize = 50_000;

/// The room `name` (or `@user`, the direct room with them) as `user`
/// sees it; `None` when missing, deleted, or private to a non-member
/// (unless `admin`).
///
/// # Errors
/// A storage failure.
pub fn get(
    txn: &ReadTx,
    user: u64,
    admin: bool,
    name: &str,
) -> Result<Option<proto::RoomInfo>, WriteError> {
    let r = &Reader::open(txn)?;
    let key = match name.strip_prefix('@') {
        Some(peer) => match query::user_id(&r.usernames, peer)? {
            Some(p) => direct_key(user, p),
            None => return Ok(None),
        },
        None => names::canonical(name),
    };
    let Some(id) = r.room_names.get(key.as_str())?.map(|v| v.value()) else {
        return Ok(None);
    };
    let Some(room) = query::room(&r.rooms, id)?.filter(|r| !r.deleted) else {
        return Ok(None);
    };
    let member = query::member(&r.members, id, user)?.is_some();
    if !room.public && !member && !admin {
        return Ok(None);
    }
    Ok(Some(room_info(&r.users, id, &room, user)?))
}

/// The rooms `user` belongs to, with unread counts and last messages.
///
/// # Errors
/// A storage failure.
pub fn list_mine(txn: &ReadTx, user: u64) -> Result<Vec<proto::RoomSummary>, WriteError> {
    let r = &Reader::open(txn)?;
    let mut out = Vec::new();
    let blocked = query::blocked_by(&r.blocks, user)?;
    for id in query::rooms_of(&r.user_rooms, user)? {
        let (Some(room), Some(member)) = (
            query::room(&r.rooms, id)?,
            query::member(&r.members, id, user)?,
        ) else {
            continue;
        };
        out.push(summary(r, id, &room, &member, user, &blocked)?);
    }
    Ok(out)
}

/// As [`list_mine`], one page in room-id order.
///
/// # Errors
/// A storage failure.
pub fn list_mine_page(
    txn: &ReadTx,
    user: u64,
    page: PageRequest,
) -> Result<Page<proto::RoomSummary>, WriteError> {
    let r = &Reader::open(txn)?;
    let mut out = PageBuilder::new(page.limit);
    let blocked = query::blocked_by(&r.blocks, user)?;
    let from = page.after.map_or(0, |k| k.saturating_add(1));
    for entry in r.user_rooms.range((user, from)..=(user, u64::MAX))? {
        let id = entry?.0.value().1;
        let (Some(room), Some(member)) = (
            query::room(&r.rooms, id)?,
            query::member(&r.members, id, user)?,
        ) else {
            continue;
        };
        if !out.offer(id, summary(r, id, &room, &member, user, &blocked)?) {
            break;
        }
    }
    Ok(out.finish())
}

/// The public directory (group rooms, public, not archived or deleted),
/// or with `all` every room.
///
/// # Errors
/// A storage failure.
pub fn directory(txn: &ReadTx, user: u64, all: bool) -> Result<Vec<proto::RoomInfo>, WriteError> {
    let r = &Reader::open(txn)?;
    let mut out = Vec::new();
    for entry in r.rooms.iter()? {
        let (k, v) = entry?;
        let room: RoomRecord = decode(v.value())?;
        if all || in_directory(&room) {
            out.push(room_info(&r.users, k.value(), &room, user)?);
        }
    }
    Ok(out)
}

/// Whether `room` is listed in the public directory: a public group room,
/// neither archived nor deleted.
fn in_directory(room: &RoomRecord) -> bool {
    room.kind == RoomKindRecord::Group && room.public && !room.archived && !room.deleted
}

/// As [`directory`], one page in room-id order.
///
/// # Errors
/// A storage failure.
pub fn directory_page(
    txn: &ReadTx,
    user: u64,
    all: bool,
    page: PageRequest,
) -> Result<Page<proto::RoomInfo>, WriteError> {
    let r = &Reader::open(txn)?;
    let mut out = PageBuilder::new(page.limit);
    let from = page.after.map_or(0, |k| k.saturating_add(1));
    for entry in r.rooms.range(from..)? {
        let (k, v) = entry?;
        let room: RoomRecord = decode(v.value())?;
        if (all || in_directory(&room))
            && !out.offer(k.value(), room_info(&r.users, k.value(), &room, user)?)
        {
            break;
        }
    }
    Ok(out.finish())
}

/// The members of `room_id`, for a member (or `admin`).
///
/// # Errors
/// `NotFound` (a private room to a non-member), `NotMember`; a storage
/// failure.
pub fn members(
    txn: &ReadTx,
    user: u64,
    admin: bool,
    room_id: u64,
) -> Result<Vec<proto::MemberInfo>, WriteError> {
    let r = &Reader::open(txn)?;
    let Some(room) = query::room(&r.rooms, room_id)?.filter(|r| !r.deleted) else {
        return Err(no_such_room().into());
    };
    if query::member(&r.members, room_id, user)?.is_none() && !admin {
        return Err(if room.public {
            not_member()
        } else {
            no_such_room()
        }
        .into());
    }
    let mut out = Vec::new();
    for (uid, m) in query::members(&r.members, room_id)? {
        if let Some(u) = query::user(&r.users, uid)? {
            out.push(proto::MemberInfo {
                user: AuthorRecord::of(uid, &u).to_wire(),
                role: m.role.into(),
                joined_at: Timestamp(m.joined_at),
            });
        }
    }
    Ok(out)
}

/// As [`members`], one page in account-id order.
///
/// # Errors
/// As [`members`].
pub fn members_page(
    txn: &ReadTx,
    user: u64,
    admin: bool,
    room_id: u64,
    page: PageRequest,
) -> Result<Page<proto::MemberInfo>, WriteError> {
    let r = &Reader::open(txn)?;
    let Some(room) = query::room(&r.rooms, room_id)?.filter(|r| !r.deleted) else {
        return Err(no_such_room().into());
    };
    if query::member(&r.members, room_id, user)?.is_none() && !admin {
        return Err(if room.public {
            not_member()
        } else {
            no_such_room()
        }
        .into());
    }
    let mut out = PageBuilder::new(page.limit);
    let from = page.after.map_or(0, |k| k.saturating_add(1));
    for entry in r.members.range((room_id, from)..=(room_id, u64::MAX))? {
        let (k, v) = entry?;
        let uid = k.value().1;
        let m: MemberRecord = decode(v.value())?;
        if let Some(u) = query::user(&r.users, uid)? {
            let info = proto::MemberInfo {
                user: AuthorRecord::of(uid, &u).to_wire(),
                role: m.role.into(),
                joined_at: Timestamp(m.joined_at),
            };
            if !out.offer(uid, info) {
                break;
            }
        }
    }
    Ok(out.finish())
}

fn summary(
    r: &Reader,
    id: u64,
    room: &RoomRecord,
    member: &MemberRecord,
    me: u64,
    blocked: &std::collections::HashSet<u64>,
) -> Result<proto::RoomSummary, StoreError> {
    let (mut unread, mut mentions) = (0, 0);
    let from = member.read_seq + 1;
    for entry in r
        .events
        .range((id, from)..=(id, room.head))?
        .take(UNREAD_SCAN_LIMIT)
    {
        let (_, v) = entry?;
        let ev: EventRecord = decode(v.value())?;
        if let EventKindRecord::Message {
            mentions: m,
            deleted: None,
            ..
        } = &ev.kind
            && ev.sender.id != me
            && !blocked.contains(&ev.sender.id)
        {
            unread += 1;
            if m.contains(&me) {
                mentions += 1;
            }
        }
    }
    let mut last_message = None;
    for entry in r.events.range((id, 1)..=(id, room.head))?.rev().take(256) {
        let (k, v) = entry?;
        let ev: EventRecord = decode(v.value())?;
        if ev.is_message() && !blocked.contains(&ev.sender.id) {
            last_message = Some(ev.to_wire(id, k.value().1)?);
            break;
        }
    }
    Ok(proto::RoomSummary {
        room: room_info(&r.users, id, room, me)?,
        role: member.role.into(),
        read_seq: proto::Seq(member.read_seq),
        unread,
        mentions,
        last_message,
        last_activity: Timestamp(room.last_ts),
    })
}
