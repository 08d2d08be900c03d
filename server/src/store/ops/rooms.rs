//! Rooms and members, the writes: creation, membership and direct rooms
//! (the reads are in `room_lists.rs`), with the membership, role, ban and limit
//! checks that must hold atomically with each change.

use super::users::no_such_user;
use crate::fanout::Effect;
use crate::store::kv::KvRead;
use crate::store::query::{self, Blob};
use crate::store::records::*;
use crate::store::tables::meta;
use crate::store::{StoreError, WriteCtx, WriteError};
use chat_protocol::{self as proto, ErrorBody, ErrorCode, Timestamp, Visibility, names};

fn refuse(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(code, message)
}

/// The name-index key of the direct room of two users.
pub fn direct_key(a: u64, b: u64) -> String {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    format!("dm:{lo}:{hi}")
}

/// The wire view of a room as `viewer` sees it (a direct room is named
/// after the other member).
pub fn room_info(
    users: &impl KvRead<u64, Blob>,
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
