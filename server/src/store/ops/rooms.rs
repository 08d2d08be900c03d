//! Rooms and members: creation, lookup, the chat list, the directory,
//! membership and direct rooms, with the membership, role, ban and limit
//! checks that must hold atomically with each change.

use super::users::no_such_user;
use crate::fanout::Effect;
use crate::page::PageBuilder;
use crate::store::query::{self, Blob, Reader};
use crate::store::records::*;
use crate::store::tables::meta;
use crate::store::{StoreError, WriteCtx, WriteError};
use chat_protocol::{
    self as proto, ErrorBody, ErrorCode, Page, PageRequest, Timestamp, Visibility, names,
};
use redb::{ReadTransaction, ReadableTable};

fn refuse(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(code, message)
}

/// Most events scanned per room to count unread messages at login. Beyond
/// it the count is a lower bound; clients show it as "N+".
pub const UNREAD_SCAN_LIMIT: usize = 50_000;

/// The name-index key of the direct room of two users.
pub fn direct_key(a: u64, b: u64) -> String {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    format!("dm:{lo}:{hi}")
}

/// The wire view of a room as `viewer` sees it (a direct room is named
/// after the other member).
pub fn room_info(
    users: &impl ReadableTable<u64, Blob>,
    id: u64,
    room: &RoomRecord,
    viewer: u64,
) -> Result<proto::RoomInfo, StoreError> {
    let name = match (room.kind, room.pair) {
        (RoomKindRecord::Direct, Some((a, b))) => {
            let peer = if a == viewer { b } else { a };
            let peer = query::user(users, peer)?
                .map(|u| u.username)
                .unwrap_or_default();
            format!("@{peer}")
        }
        _ => room.name.clone(),
    };
    Ok(proto::RoomInfo {
        id: proto::RoomId(id),
        kind: match room.kind {
            RoomKindRecord::Group => proto::RoomKind::Group,
            RoomKindRecord::Direct => proto::RoomKind::Direct,
        },
        name,
        topic: room.topic.clone(),
        visibility: if room.public {
            Visibility::Public
        } else {
            Visibility::Private
        },
        created_at: Timestamp(room.created_at),
        archived: room.archived,
        member_count: room.member_count,
        head: proto::Seq(room.head),
    })
}

/// The one refusal for a room the caller may not know of: missing,
/// deleted, or private without membership, in every request alike, so a
/// non-member cannot learn that a private room exists (test:
/// `e2e::security::a_private_room_is_indistinguishable_from_a_missing_one`).
pub fn no_such_room() -> ErrorBody {
    refuse(
        ErrorCode::NotFound,
        "no such room, or it is private and you are not a member; check the name or ask a member to add you",
    )
}

/// The refusal for a non-member of a public room.
pub fn not_member() -> ErrorBody {
    refuse(
        ErrorCode::NotMember,
        "you are not a member of this room; join it first (or ask a member to add you)",
    )
}

/// Loads a room inside a writer job; a deleted room is not found.
pub fn load_room(ctx: &WriteCtx<'_>, id: u64) -> Result<RoomRecord, WriteError> {
    ctx.room(id)?
        .filter(|r| !r.deleted)
        .ok_or_else(|| no_such_room().into())
}

/// Loads the room `user` acts in, with their membership, inside a writer
/// job. A missing or deleted room, and a private room `user` is not a member
/// of (unless `server_admin`), are all refused with [`no_such_room`]; a
/// non-member of a public room gets the room and `None`.
///
/// # Errors
/// [`ErrorCode::NotFound`] as above; a storage failure.
pub fn room_for(
    ctx: &WriteCtx<'_>,
    id: u64,
    user: u64,
    server_admin: bool,
) -> Result<(RoomRecord, Option<MemberRecord>), WriteError> {
    let room = load_room(ctx, id)?;
    let member = query::member(&ctx.members, id, user)?;
    if member.is_none() && !room.public && !server_admin {
        return Err(no_such_room().into());
    }
    Ok((room, member))
}

/// As [`room_for`], refusing non-members of public rooms with
/// [`ErrorCode::NotMember`].
///
/// # Errors
/// [`ErrorCode::NotFound`] or [`ErrorCode::NotMember`]; a storage failure.
pub fn member_room(
    ctx: &WriteCtx<'_>,
    id: u64,
    user: u64,
) -> Result<(RoomRecord, MemberRecord), WriteError> {
    match room_for(ctx, id, user, false)? {
        (room, Some(m)) => Ok((room, m)),
        (_, None) => Err(not_member().into()),
    }
}

/// Refuses a banned user.
pub fn check_not_banned(
    ctx: &WriteCtx<'_>,
    room: u64,
    user: u64,
    who: &str,
) -> Result<(), WriteError> {
    if ctx.bans.get((room, user))?.is_some() {
        return Err(refuse(
            ErrorCode::Banned,
            format!("{who} banned from this room; a room admin must unban first"),
        )
        .into());
    }
    Ok(())
}

/// Loads a user inside a writer job.
pub fn load_user(ctx: &WriteCtx<'_>, id: u64) -> Result<UserRecord, WriteError> {
    query::user(&ctx.users, id)?
        .ok_or_else(|| refuse(ErrorCode::NotFound, "your account no longer exists").into())
}

/// Checks the per-user room limit inside a writer job.
pub fn check_room_limit(
    ctx: &WriteCtx<'_>,
    user: u64,
    limit: u32,
    who: &str,
) -> Result<(), WriteError> {
    if query::room_count(&ctx.user_rooms, user)? >= limit as usize {
        return Err(refuse(
            ErrorCode::LimitExceeded,
            format!(
                "{who} already belong(s) to {limit} rooms, the server's limit; leave one first"
            ),
        )
        .into());
    }
    Ok(())
}

/// Adds `user` to `room` with `role`, appends the `Joined` event (sent by
/// `by`) and tells the user's sessions. The caller saves the room.
pub fn add_member(
    ctx: &mut WriteCtx<'_>,
    room_id: u64,
    room: &mut RoomRecord,
    user_id: u64,
    role: RoleRecord,
    by: &AuthorRecord,
    ts: u64,
) -> Result<(), WriteError> {
    let user = load_user(ctx, user_id)?;
    let rec = MemberRecord {
        role,
        joined_at: ts,
        read_seq: room.head,
        delivered_seq: room.head,
        muted: false,
    };
    ctx.members
        .insert((room_id, user_id), encode(&rec)?.as_slice())?;
    ctx.user_rooms.insert((user_id, room_id), ())?;
    room.member_count += 1;
    query::append(
        ctx,
        room_id,
        room,
        EventRecord {
            ts,
            sender: by.clone(),
            kind: EventKindRecord::Joined {
                user: AuthorRecord::of(user_id, &user),
                role,
            },
        },
    )?;
    let info = room_info(&ctx.users, room_id, room, user_id)?;
    let frame = proto::frame::encode(&proto::UserEvent::RoomAdded {
        room: info,
        role: role.into(),
    })
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    ctx.effects.push(Effect::User {
        user: user_id,
        frame,
    });
    if by.id != user_id && room.kind == RoomKindRecord::Group {
        let kind = NotificationKindRecord::Invited {
            room: room_id,
            name: room.name.clone(),
        };
        super::notifications::notify(ctx, user_id, by, kind)?;
    }
    Ok(())
}

/// Creates the group room `name` owned by `user` (who may belong to at
/// most `limit` rooms); returns its view.
///
/// # Errors
/// `Conflict` for a taken name, `LimitExceeded`; a storage failure.
pub fn create(
    ctx: &mut WriteCtx<'_>,
    user: u64,
    name: &str,
    topic: &str,
    public: bool,
    limit: u32,
) -> Result<proto::RoomInfo, WriteError> {
    let (name, topic) = (name.to_owned(), topic.to_owned());
    let canon = names::canonical(&name);
    if ctx.room_names.get(canon.as_str())?.is_some() {
        return Err(refuse(
            ErrorCode::Conflict,
            format!("a room named {name:?} exists; join it or choose another name"),
        )
        .into());
    }
    check_room_limit(ctx, user, limit, "you")?;
    let me = load_user(ctx, user)?;
    let author = AuthorRecord::of(user, &me);
    let id = ctx.next_id(meta::NEXT_ROOM)?;
    let now = Timestamp::now().0;
    let mut room = RoomRecord {
        kind: RoomKindRecord::Group,
        name: name.clone(),
        topic: topic.clone(),
        public,
        archived: false,
        created_at: now,
        head: 0,
        last_ts: now,
        member_count: 0,
        pair: None,
        message_count: 0,
        deleted: false,
        purged_below: 0,
    };
    ctx.room_names.insert(canon.as_str(), id)?;
    query::append(
        ctx,
        id,
        &mut room,
        EventRecord {
            ts: now,
            sender: author.clone(),
            kind: EventKindRecord::Created {
                name: name.clone(),
                direct: false,
            },
        },
    )?;
    add_member(ctx, id, &mut room, user, RoleRecord::Owner, &author, now)?;
    ctx.put_room(id, &room);
    Ok(room_info(&ctx.users, id, &room, user)?)
}

/// The room `name` (or `@user`, the direct room with them) as `user`
/// sees it; `None` when missing, deleted, or private to a non-member
/// (unless `admin`).
///
/// # Errors
/// A storage failure.
pub fn get(
    txn: &ReadTransaction,
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
pub fn list_mine(txn: &ReadTransaction, user: u64) -> Result<Vec<proto::RoomSummary>, WriteError> {
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
    txn: &ReadTransaction,
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
pub fn directory(
    txn: &ReadTransaction,
    user: u64,
    all: bool,
) -> Result<Vec<proto::RoomInfo>, WriteError> {
    let r = &Reader::open(txn)?;
    let mut out = Vec::new();
    for entry in r.rooms.iter()? {
        let (k, v) = entry?;
        let room: RoomRecord = decode(v.value())?;
        if all
            || (room.kind == RoomKindRecord::Group
                && room.public
                && !room.archived
                && !room.deleted)
        {
            out.push(room_info(&r.users, k.value(), &room, user)?);
        }
    }
    Ok(out)
}

/// As [`directory`], one page in room-id order.
///
/// # Errors
/// A storage failure.
pub fn directory_page(
    txn: &ReadTransaction,
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
        let listed = all
            || (room.kind == RoomKindRecord::Group
                && room.public
                && !room.archived
                && !room.deleted);
        if listed && !out.offer(k.value(), room_info(&r.users, k.value(), &room, user)?) {
            break;
        }
    }
    Ok(out.finish())
}

/// `user` joins `room_id` (public rooms only; not archived, not banned,
/// within `limit` rooms); joining again is a no-op. Returns the room.
///
/// # Errors
/// `NotFound`, `Archived`, `Banned`, `LimitExceeded`; a storage failure.
pub fn join(
    ctx: &mut WriteCtx<'_>,
    user: u64,
    room_id: u64,
    limit: u32,
) -> Result<proto::RoomInfo, WriteError> {
    // A private room is not found for a non-member, as everywhere.
    let (mut room, member) = room_for(ctx, room_id, user, false)?;
    if member.is_some() {
        return Ok(room_info(&ctx.users, room_id, &room, user)?);
    }
    if room.archived {
        return Err(refuse(
            ErrorCode::Archived,
            "this room is archived and takes no new members",
        )
        .into());
    }
    check_not_banned(ctx, room_id, user, "you are")?;
    check_room_limit(ctx, user, limit, "you")?;
    let me = load_user(ctx, user)?;
    let now = Timestamp::now().0;
    add_member(
        ctx,
        room_id,
        &mut room,
        user,
        RoleRecord::Member,
        &AuthorRecord::of(user, &me),
        now,
    )?;
    ctx.put_room(room_id, &room);
    Ok(room_info(&ctx.users, room_id, &room, user)?)
}

/// `user` leaves `room_id` (not a direct room; not the owner while others
/// remain).
///
/// # Errors
/// `NotFound`, `NotMember`, `BadRequest`, `Forbidden`; a storage failure.
pub fn leave(ctx: &mut WriteCtx<'_>, user: u64, room_id: u64) -> Result<(), WriteError> {
    let (mut room, member) = member_room(ctx, room_id, user)?;
    if room.kind == RoomKindRecord::Direct {
        return Err(refuse(
            ErrorCode::BadRequest,
            "a direct conversation cannot be left; hide it in your client instead",
        )
        .into());
    }
    if member.role == RoleRecord::Owner && room.member_count > 1 {
        return Err(refuse(
            ErrorCode::Forbidden,
            "the owner cannot leave while others remain; transfer ownership first",
        )
        .into());
    }
    let me = load_user(ctx, user)?;
    remove_member(
        ctx,
        room_id,
        &mut room,
        user,
        &AuthorRecord::of(user, &me),
        &me,
    )?;
    ctx.put_room(room_id, &room);
    Ok(())
}

/// `user` adds `username` to `room_id` (admins only in a private room;
/// not archived, target not banned and within `limit` rooms); adding a
/// member again is a no-op.
///
/// # Errors
/// `NotFound`, `NotMember`, `Forbidden`, `Archived`, `Banned`,
/// `LimitExceeded`; a storage failure.
pub fn add(
    ctx: &mut WriteCtx<'_>,
    user: u64,
    room_id: u64,
    username: &str,
    limit: u32,
) -> Result<(), WriteError> {
    let (mut room, member) = member_room(ctx, room_id, user)?;
    if room.kind == RoomKindRecord::Direct {
        return Err(refuse(
            ErrorCode::BadRequest,
            "a direct conversation has exactly two members; create a group room to add people",
        )
        .into());
    }
    if !room.public && member.role < RoleRecord::Admin {
        return Err(refuse(
            ErrorCode::Forbidden,
            "only admins and the owner may add people to a private room",
        )
        .into());
    }
    if room.archived {
        return Err(refuse(
            ErrorCode::Archived,
            "this room is archived and takes no new members",
        )
        .into());
    }
    let target = query::user_id(&ctx.usernames, username)?.ok_or_else(|| no_such_user(username))?;
    if query::member(&ctx.members, room_id, target)?.is_some() {
        return Ok(());
    }
    check_not_banned(ctx, room_id, target, &format!("{username} is"))?;
    check_room_limit(ctx, target, limit, username)?;
    let me = load_user(ctx, user)?;
    let now = Timestamp::now().0;
    add_member(
        ctx,
        room_id,
        &mut room,
        target,
        RoleRecord::Member,
        &AuthorRecord::of(user, &me),
        now,
    )?;
    ctx.put_room(room_id, &room);
    Ok(())
}

/// The members of `room_id`, for a member (or `admin`).
///
/// # Errors
/// `NotFound` (a private room to a non-member), `NotMember`; a storage
/// failure.
pub fn members(
    txn: &ReadTransaction,
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
    txn: &ReadTransaction,
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

/// The direct room of `user` and `username`, created if missing.
///
/// # Errors
/// `NotFound`, `BadRequest` (yourself), `Blocked`, `LimitExceeded`; a
/// storage failure.
pub fn open_direct(
    ctx: &mut WriteCtx<'_>,
    user: u64,
    username: &str,
    limit: u32,
) -> Result<proto::RoomInfo, WriteError> {
    let (id, room) = direct_room(ctx, user, username, limit)?;
    Ok(room_info(&ctx.users, id, &room, user)?)
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

/// Removes a member, appends `Left` (sent by `by`), ends their room streams
/// and tells their sessions. The caller saves the room.
pub fn remove_member(
    ctx: &mut WriteCtx<'_>,
    room_id: u64,
    room: &mut RoomRecord,
    user_id: u64,
    by: &AuthorRecord,
    user: &UserRecord,
) -> Result<(), WriteError> {
    ctx.members.remove((room_id, user_id))?;
    ctx.user_rooms.remove((user_id, room_id))?;
    room.member_count = room.member_count.saturating_sub(1);
    query::append(
        ctx,
        room_id,
        room,
        EventRecord {
            ts: Timestamp::now().0,
            sender: by.clone(),
            kind: EventKindRecord::Left {
                user: AuthorRecord::of(user_id, user),
            },
        },
    )?;
    let frame = proto::frame::encode(&proto::UserEvent::RoomRemoved {
        room: proto::RoomId(room_id),
    })
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    ctx.effects.push(Effect::Revoke {
        room: room_id,
        user: user_id,
    });
    ctx.effects.push(Effect::User {
        user: user_id,
        frame,
    });
    Ok(())
}

/// The direct room of `me` and `username`, created (with both members) if
/// it does not exist yet.
pub fn direct_room(
    ctx: &mut WriteCtx<'_>,
    me: u64,
    username: &str,
    limit: u32,
) -> Result<(u64, RoomRecord), WriteError> {
    let peer = query::user_id(&ctx.usernames, username)?.ok_or_else(|| no_such_user(username))?;
    if peer == me {
        return Err(refuse(
            ErrorCode::BadRequest,
            "you cannot open a direct conversation with yourself",
        )
        .into());
    }
    if query::blocks(&ctx.blocks, peer, me)? {
        return Err(refuse(
            ErrorCode::Blocked,
            format!("{username} does not accept direct messages from you"),
        )
        .into());
    }
    let key = direct_key(me, peer);
    if let Some(id) = ctx.room_names.get(key.as_str())?.map(|v| v.value()) {
        return Ok((id, load_room(ctx, id)?));
    }
    check_room_limit(ctx, me, limit, "you")?;
    check_room_limit(ctx, peer, limit, username)?;
    let me_rec = load_user(ctx, me)?;
    let author = AuthorRecord::of(me, &me_rec);
    let id = ctx.next_id(meta::NEXT_ROOM)?;
    let now = Timestamp::now().0;
    let mut room = RoomRecord {
        kind: RoomKindRecord::Direct,
        name: String::new(),
        topic: String::new(),
        public: false,
        archived: false,
        created_at: now,
        head: 0,
        last_ts: now,
        member_count: 0,
        pair: Some((me.min(peer), me.max(peer))),
        message_count: 0,
        deleted: false,
        purged_below: 0,
    };
    ctx.room_names.insert(key.as_str(), id)?;
    query::append(
        ctx,
        id,
        &mut room,
        EventRecord {
            ts: now,
            sender: author.clone(),
            kind: EventKindRecord::Created {
                name: String::new(),
                direct: true,
            },
        },
    )?;
    add_member(ctx, id, &mut room, me, RoleRecord::Member, &author, now)?;
    add_member(ctx, id, &mut room, peer, RoleRecord::Member, &author, now)?;
    ctx.put_room(id, &room);
    Ok((id, room))
}
