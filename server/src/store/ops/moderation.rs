//! Moderation: kick, ban, unban, mute, roles, topic, visibility,
//! ownership, archive and delete, each checked against the actor's role
//! in the same transaction and recorded in the audit trail; and reading
//! that trail.

use super::Caller;
use super::rooms::{load_user, remove_member};
use super::users::no_such_user;
use crate::page::PageBuilder;
use crate::store::kv::{KvRead, ReadTx};
use crate::store::query::{self, Reader};
use crate::store::records::*;
use crate::store::{WriteCtx, WriteError};
use chat_protocol::{
    self as proto, ErrorBody, ErrorCode, ModAction, Page, PageRequest, Role, Timestamp, Visibility,
    names,
};

fn refuse(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(code, message)
}

/// The refusal for an action reserved to `what`.
pub fn forbidden(what: &str) -> ErrorBody {
    refuse(ErrorCode::Forbidden, format!("only {what} may do this"))
}

/// The actor's effective rank in the room: their role, or above any role
/// for server admins.
fn rank(
    ctx: &WriteCtx<'_>,
    room: u64,
    user: u64,
    server_admin: bool,
) -> Result<Option<u8>, WriteError> {
    if server_admin {
        return Ok(Some(3));
    }
    Ok(query::member(&ctx.members, room, user)?.map(|m| m.role as u8))
}

fn target(ctx: &WriteCtx<'_>, username: &str) -> Result<(u64, UserRecord), WriteError> {
    let id = query::user_id(&ctx.usernames, username)?.ok_or_else(|| no_such_user(username))?;
    Ok((id, load_user(ctx, id)?))
}

/// Applies one action; returns whether the actor lost access to the room.
fn apply(
    ctx: &mut WriteCtx<'_>,
    me: u64,
    server_admin: bool,
    room_id: u64,
    action: ModAction,
    reason: &str,
) -> Result<bool, WriteError> {
    let (mut room, _) = super::rooms::room_for(ctx, room_id, me, server_admin)?;
    let my_rank = rank(ctx, room_id, me, server_admin)?
        .ok_or_else(|| refuse(ErrorCode::NotMember, "you are not a member of this room"))?;
    let actor = AuthorRecord::of(me, &load_user(ctx, me)?);
    let now = Timestamp::now().0;
    let admin_rank = RoleRecord::Admin as u8;
    let owner_rank = RoleRecord::Owner as u8;
    let mut lost_access = false;
    let (event, target_author, name) = match action {
        ModAction::Kick { username } => {
            let (id, user) = target(ctx, &username)?;
            let m = query::member(&ctx.members, room_id, id)?.ok_or_else(|| {
                refuse(
                    ErrorCode::NotFound,
                    format!("{username} is not a member of this room"),
                )
            })?;
            check_over(my_rank, m.role as u8, admin_rank)?;
            let who = AuthorRecord::of(id, &user);
            remove_member(ctx, room_id, &mut room, id, &actor, &user)?;
            (
                Some(EventKindRecord::Kicked {
                    user: who.clone(),
                    reason: reason.into(),
                }),
                Some(who),
                "kick",
            )
        }
        ModAction::Ban { username } => {
            let (id, user) = target(ctx, &username)?;
            let member = query::member(&ctx.members, room_id, id)?;
            check_over(
                my_rank,
                member.as_ref().map_or(0, |m| m.role as u8),
                admin_rank,
            )?;
            let who = AuthorRecord::of(id, &user);
            if member.is_some() {
                remove_member(ctx, room_id, &mut room, id, &actor, &user)?;
            }
            let ban = BanRecord {
                reason: reason.into(),
                by: me,
                at: now,
            };
            ctx.bans.insert((room_id, id), encode(&ban)?.as_slice())?;
            (
                Some(EventKindRecord::Banned {
                    user: who.clone(),
                    reason: reason.into(),
                }),
                Some(who),
                "ban",
            )
        }
        ModAction::Unban { username } => {
            let (id, user) = target(ctx, &username)?;
            if my_rank < admin_rank {
                return Err(forbidden("room admins and the owner").into());
            }
            if ctx.bans.remove((room_id, id))?.is_none() {
                return Err(refuse(
                    ErrorCode::NotFound,
                    format!("{username} is not banned here"),
                )
                .into());
            }
            let who = AuthorRecord::of(id, &user);
            (
                Some(EventKindRecord::Unbanned { user: who.clone() }),
                Some(who),
                "unban",
            )
        }
        ModAction::Mute { username, muted } => {
            let (id, user) = target(ctx, &username)?;
            let mut m = query::member(&ctx.members, room_id, id)?.ok_or_else(|| {
                refuse(
                    ErrorCode::NotFound,
                    format!("{username} is not a member of this room"),
                )
            })?;
            check_over(my_rank, m.role as u8, admin_rank)?;
            m.muted = muted;
            ctx.members.insert((room_id, id), encode(&m)?.as_slice())?;
            let who = AuthorRecord::of(id, &user);
            (
                Some(EventKindRecord::Muted {
                    user: who.clone(),
                    muted,
                }),
                Some(who),
                if muted { "mute" } else { "unmute" },
            )
        }
        ModAction::SetRole { username, role } => {
            if my_rank < owner_rank {
                return Err(forbidden("the room owner").into());
            }
            let role = match role {
                Role::Member => RoleRecord::Member,
                Role::Admin => RoleRecord::Admin,
                Role::Owner => {
                    return Err(refuse(
                        ErrorCode::BadRequest,
                        "use TransferOwnership to change the owner",
                    )
                    .into());
                }
            };
            let (id, user) = target(ctx, &username)?;
            let mut m = query::member(&ctx.members, room_id, id)?.ok_or_else(|| {
                refuse(
                    ErrorCode::NotFound,
                    format!("{username} is not a member of this room"),
                )
            })?;
            if m.role == RoleRecord::Owner {
                return Err(refuse(
                    ErrorCode::Forbidden,
                    "the owner's role changes only by transferring ownership",
                )
                .into());
            }
            m.role = role;
            ctx.members.insert((room_id, id), encode(&m)?.as_slice())?;
            let who = AuthorRecord::of(id, &user);
            (
                Some(EventKindRecord::RoleChanged {
                    user: who.clone(),
                    role,
                }),
                Some(who),
                "set-role",
            )
        }
        ModAction::SetTopic { topic } => {
            if my_rank < admin_rank {
                return Err(forbidden("room admins and the owner").into());
            }
            room.topic = topic.clone();
            (
                Some(EventKindRecord::TopicChanged { topic }),
                None,
                "set-topic",
            )
        }
        ModAction::SetVisibility { visibility } => {
            if my_rank < owner_rank {
                return Err(forbidden("the room owner").into());
            }
            if room.kind == RoomKindRecord::Direct {
                return Err(refuse(
                    ErrorCode::BadRequest,
                    "a direct conversation is always private",
                )
                .into());
            }
            room.public = visibility == Visibility::Public;
            (
                Some(EventKindRecord::VisibilityChanged {
                    public: room.public,
                }),
                None,
                "set-visibility",
            )
        }
        ModAction::TransferOwnership { username } => {
            if my_rank < owner_rank {
                return Err(forbidden("the room owner").into());
            }
            let (id, user) = target(ctx, &username)?;
            let mut m = query::member(&ctx.members, room_id, id)?.ok_or_else(|| {
                refuse(
                    ErrorCode::NotFound,
                    format!("{username} is not a member of this room"),
                )
            })?;
            // Demote the current owner (whoever it is) to admin.
            for (uid, mut old) in query::members(&ctx.members, room_id)? {
                if old.role == RoleRecord::Owner && uid != id {
                    old.role = RoleRecord::Admin;
                    ctx.members
                        .insert((room_id, uid), encode(&old)?.as_slice())?;
                    let prev = AuthorRecord::of(uid, &load_user(ctx, uid)?);
                    query::append(
                        ctx,
                        room_id,
                        &mut room,
                        EventRecord {
                            ts: now,
                            sender: actor.clone(),
                            kind: EventKindRecord::RoleChanged {
                                user: prev,
                                role: RoleRecord::Admin,
                            },
                        },
                    )?;
                }
            }
            m.role = RoleRecord::Owner;
            ctx.members.insert((room_id, id), encode(&m)?.as_slice())?;
            let who = AuthorRecord::of(id, &user);
            (
                Some(EventKindRecord::RoleChanged {
                    user: who.clone(),
                    role: RoleRecord::Owner,
                }),
                Some(who),
                "transfer-ownership",
            )
        }
        ModAction::Archive => {
            if my_rank < owner_rank {
                return Err(forbidden("the room owner or a server admin").into());
            }
            if room.archived {
                return Ok(false);
            }
            room.archived = true;
            (Some(EventKindRecord::Archived), None, "archive")
        }
        ModAction::DeleteRoom => {
            if !server_admin {
                return Err(forbidden("server admins").into());
            }
            for (uid, _) in query::members(&ctx.members, room_id)? {
                let user = load_user(ctx, uid)?;
                remove_member(ctx, room_id, &mut room, uid, &actor, &user)?;
                lost_access |= uid == me;
            }
            let key = match room.pair {
                Some((x, y)) => super::rooms::direct_key(x, y),
                None => names::canonical(&room.name),
            };
            ctx.room_names.remove(key.as_str())?;
            room.deleted = true;
            (None, None, "delete-room")
        }
    };
    if let Some(kind) = event {
        query::append(
            ctx,
            room_id,
            &mut room,
            EventRecord {
                ts: now,
                sender: actor.clone(),
                kind,
            },
        )?;
    }
    ctx.put_room(room_id, &room);
    super::audit::record(ctx, &actor, Some(room_id), target_author, name, reason)?;
    Ok(lost_access)
}

/// Refuses unless the actor is at least a room admin and outranks the target.
fn check_over(actor: u8, target: u8, admin: u8) -> Result<(), WriteError> {
    if actor < admin {
        return Err(forbidden("room admins and the owner").into());
    }
    if target >= actor {
        return Err(refuse(
            ErrorCode::Forbidden,
            "you cannot moderate a member whose role is equal to or above yours",
        )
        .into());
    }
    Ok(())
}

/// `caller` applies the moderation `action` to `room_id` with `reason`,
/// checked against their rank now (room role, or server admin) and
/// audited in the same transaction. Returns whether the caller lost
/// access to the room (they deleted it, or left as its last member).
///
/// # Errors
/// `NotFound`, `NotMember`, `Forbidden`, `Unauthenticated`; a storage
/// failure.
pub fn moderate(
    ctx: &mut WriteCtx<'_>,
    caller: Caller,
    room_id: u64,
    action: &ModAction,
    reason: &str,
) -> Result<bool, WriteError> {
    let (_, server_admin) = super::rights::actor(ctx, caller)?;
    apply(
        ctx,
        caller.user,
        server_admin,
        room_id,
        action.clone(),
        reason,
    )
}

/// The audit trail newest first, at most `limit` (of `room` only, if
/// given): everything for a server admin (`admin`), a room's records for
/// its admins and owner; `None` when `user` may not read it.
///
/// # Errors
/// A storage failure.
pub fn log(
    txn: &ReadTx,
    user: u64,
    admin: bool,
    room: Option<proto::RoomId>,
    limit: u32,
) -> Result<Option<Vec<proto::ModerationRecord>>, WriteError> {
    let r = &Reader::open(txn)?;
    if !may_read_log(r, user, admin, room)? {
        return Ok(None);
    }
    let mut out = Vec::new();
    for entry in r.modlog.iter()?.rev() {
        if out.len() >= limit as usize {
            break;
        }
        let (k, v) = entry?;
        if let Some(wire) = shown(k.value(), decode(v.value())?, room, admin) {
            out.push(wire);
        }
    }
    Ok(Some(out))
}

/// Whether `user` may read the audit trail of `room` (every room's when
/// `None`): server admins always, a room's owner and admins its own.
fn may_read_log(
    r: &Reader,
    user: u64,
    admin: bool,
    room: Option<proto::RoomId>,
) -> Result<bool, WriteError> {
    if admin {
        return Ok(true);
    }
    let Some(room) = room else { return Ok(false) };
    let m = query::member(&r.members, room.0, user)?;
    Ok(m.is_some_and(|m| m.role >= RoleRecord::Admin))
}

/// Audit actions only server admins read, even in a room's log: what
/// server admins and auditors did (declared accesses, reads of deleted
/// text, audit searches, backups) and legal holds, so an investigation is
/// not disclosed to the admins of the room it concerns (test:
/// `e2e::audit_log::room_admins_do_not_see_server_admins_audit_reads_or_holds`).
pub fn server_admins_only(action: &str) -> bool {
    action.starts_with("access-")
        || matches!(
            action,
            "read-deleted" | "search-audit" | "backup" | "legal-hold" | "legal-hold-release"
        )
}

/// Record `id` as the wire shows it to a reader of `room`'s log (every
/// room's when `None`), or `None` when that reader does not see it.
fn shown(
    id: u64,
    rec: ModRecord,
    room: Option<proto::RoomId>,
    admin: bool,
) -> Option<proto::ModerationRecord> {
    if room.is_some_and(|r| rec.room != Some(r.0)) || (!admin && server_admins_only(&rec.action)) {
        return None;
    }
    Some(proto::ModerationRecord {
        id,
        at: Timestamp(rec.at),
        actor: rec.actor.to_wire(),
        room: rec.room.map(proto::RoomId),
        target: rec.target.map(|t| t.to_wire()),
        action: rec.action,
        reason: rec.reason,
    })
}

/// As [`log`], one page at a time (the cursor is the id of the oldest
/// record returned).
///
/// # Errors
/// A storage failure.
pub fn log_page(
    txn: &ReadTx,
    user: u64,
    admin: bool,
    room: Option<proto::RoomId>,
    page: PageRequest,
) -> Result<Option<Page<proto::ModerationRecord>>, WriteError> {
    let r = &Reader::open(txn)?;
    if !may_read_log(r, user, admin, room)? {
        return Ok(None);
    }
    let mut out = PageBuilder::new(page.limit);
    let below = page.after.unwrap_or(u64::MAX);
    for entry in r.modlog.range(..below)?.rev() {
        let (k, v) = entry?;
        let Some(wire) = shown(k.value(), decode(v.value())?, room, admin) else {
            continue;
        };
        if !out.offer(k.value(), wire) {
            break;
        }
    }
    Ok(Some(out.finish()))
}
