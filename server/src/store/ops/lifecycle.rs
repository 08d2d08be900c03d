//! A message's life after it is sent: edits (with every prior version
//! kept for audit), deletion (a tombstone for members, the body kept for
//! server admins), reactions, receipts and "seen by". Each write checks
//! membership, mute, archive and role in its own transaction.

use super::Caller;
use super::rooms::{load_room, load_user};
use crate::fanout::Effect;
use crate::store::kv::{KvRead, ReadTx};
use crate::store::query::{self, Reader};
use crate::store::records::*;
use crate::store::{StoreError, WriteCtx, WriteError};
use chat_protocol::{self as proto, ErrorBody, ErrorCode, Seq, Timestamp};

fn refuse(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(code, message)
}

/// Which receipt marker to move.
#[derive(Debug, Clone, Copy)]
pub enum Marker {
    /// Received by a client.
    Delivered,
    /// Read by the user.
    Read,
}

/// The refusal for a missing message.
pub fn no_message(seq: u64) -> ErrorBody {
    refuse(
        ErrorCode::NotFound,
        format!("there is no message at seq {seq} in this room; check the number"),
    )
}

/// Loads the message at `(room, seq)` inside a writer job.
fn load_message(ctx: &WriteCtx<'_>, room: u64, seq: u64) -> Result<EventRecord, WriteError> {
    let ev = query::events(&ctx.events, room, seq, seq, 1)?
        .pop()
        .map(|(_, e)| e)
        .ok_or_else(|| no_message(seq))?;
    if let EventKindRecord::Purged { at, .. } = ev.kind {
        return Err(refuse(
            ErrorCode::NotFound,
            format!(
                "the message at seq {seq} was purged by the room's retention policy at {}; its \
                 text, versions and files are gone",
                Timestamp(at)
            ),
        )
        .into());
    }
    if !ev.is_message() {
        return Err(refuse(
            ErrorCode::BadRequest,
            format!("the event at seq {seq} is not a message"),
        )
        .into());
    }
    Ok(ev)
}

/// The caller's membership, refusing non-members, muted members and archived rooms.
fn writable_member(
    ctx: &WriteCtx<'_>,
    room_id: u64,
    room: &RoomRecord,
    user: u64,
) -> Result<MemberRecord, WriteError> {
    let (_, m) = super::rooms::member_room(ctx, room_id, user)?;
    if room.archived {
        return Err(refuse(ErrorCode::Archived, "this room is archived and read-only").into());
    }
    if m.muted {
        return Err(refuse(
            ErrorCode::Muted,
            "you are muted in this room; ask a room admin",
        )
        .into());
    }
    Ok(m)
}

/// Marks every `Edited` event of the message at `seq` redacted, so members
/// reading history or catching up never see a deleted message's later text
/// (test: `e2e::security::deleting_an_edited_message_hides_every_version`).
fn redact_edits(ctx: &mut WriteCtx<'_>, room: u64, seq: u64, head: u64) -> Result<(), WriteError> {
    let mut known = Vec::new();
    let mut complete = true;
    for entry in ctx.versions.range((room, seq, 0)..=(room, seq, u32::MAX))? {
        let v: VersionRecord = decode(entry?.1.value())?;
        match v.edit_seq {
            Some(s) => known.push(s),
            None => complete = false,
        }
    }
    let edits: Vec<u64> = if complete {
        known
    } else {
        // Versions from before `edit_seq` was kept: find the edits by scan.
        let mut found = Vec::new();
        for entry in ctx.events.range((room, seq + 1)..=(room, head))? {
            let (k, v) = entry?;
            let ev: EventRecord = decode(v.value())?;
            if matches!(ev.kind, EventKindRecord::Edited { target, .. } if target == seq) {
                found.push(k.value().1);
            }
        }
        found
    };
    for edit in edits {
        let Some((_, mut ev)) = query::events(&ctx.events, room, edit, edit, 1)?.pop() else {
            continue;
        };
        if let EventKindRecord::Edited {
            target, redacted, ..
        } = &mut ev.kind
            && *target == seq
        {
            *redacted = true;
            ctx.events.insert((room, edit), encode(&ev)?.as_slice())?;
        }
    }
    Ok(())
}

/// `caller` edits their message at `seq` in `room_id` to `text` (a
/// writable member: not muted, room not archived); the prior text is kept
/// as a version and an `Edited` event is appended.
///
/// # Errors
/// `NotFound`, `NotMember`, `Muted`, `Archived`, `Forbidden` (not yours),
/// `BadRequest` (deleted or not a message); a storage failure.
pub fn edit(
    ctx: &mut WriteCtx<'_>,
    caller: Caller,
    room_id: u64,
    seq: u64,
    text: &str,
) -> Result<(), WriteError> {
    let mut room = load_room(ctx, room_id)?;
    writable_member(ctx, room_id, &room, caller.user)?;
    let mut ev = load_message(ctx, room_id, seq)?;
    if ev.sender.id != caller.user {
        return Err(refuse(ErrorCode::Forbidden, "you can only edit your own messages").into());
    }
    let now = Timestamp::now().0;
    let EventKindRecord::Message {
        text: current,
        edited_at,
        deleted,
        ..
    } = &mut ev.kind
    else {
        return Err(no_message(seq).into());
    };
    if deleted.is_some() {
        return Err(refuse(ErrorCode::BadRequest, "a deleted message cannot be edited").into());
    }
    let version = ctx
        .versions
        .range((room_id, seq, 0)..=(room_id, seq, u32::MAX))?
        .count() as u32;
    let mut prior = VersionRecord {
        text: std::mem::replace(current, text.to_owned()),
        at: edited_at.unwrap_or(ev.ts),
        edit_seq: None,
    };
    *edited_at = Some(now);
    ctx.events.insert((room_id, seq), encode(&ev)?.as_slice())?;
    let me = load_user(ctx, caller.user)?;
    let edit_seq = query::append(
        ctx,
        room_id,
        &mut room,
        EventRecord {
            ts: now,
            sender: AuthorRecord::of(caller.user, &me),
            kind: EventKindRecord::Edited {
                target: seq,
                text: text.to_owned(),
                redacted: false,
            },
        },
    )?;
    prior.edit_seq = Some(edit_seq);
    ctx.versions
        .insert((room_id, seq, version), encode(&prior)?.as_slice())?;
    ctx.put_room(room_id, &room);
    Ok(())
}

/// Deletes the message at `seq`: its sender, a room admin or owner, or a
/// server admin may. Members see a tombstone; the text is kept for server
/// admins' audit reads; earlier edits are redacted.
///
/// # Errors
/// `NotFound`, `NotMember`, `Forbidden`, `Archived`; a storage failure.
pub fn delete(
    ctx: &mut WriteCtx<'_>,
    caller: Caller,
    room_id: u64,
    seq: u64,
) -> Result<(), WriteError> {
    let (_, server_admin) = super::rights::actor(ctx, caller)?;
    let (mut room, member) = super::rooms::room_for(ctx, room_id, caller.user, server_admin)?;
    if member.is_none() && !server_admin {
        return Err(refuse(ErrorCode::NotMember, "you are not a member of this room").into());
    }
    let mut ev = load_message(ctx, room_id, seq)?;
    let own = ev.sender.id == caller.user;
    let moderator = member.as_ref().is_some_and(|m| m.role >= RoleRecord::Admin) || server_admin;
    if !own && !moderator {
        return Err(refuse(
            ErrorCode::Forbidden,
            "you can only delete your own messages; room admins and owners may delete any",
        )
        .into());
    }
    if room.archived && !server_admin {
        return Err(refuse(ErrorCode::Archived, "this room is archived and read-only").into());
    }
    let me = load_user(ctx, caller.user)?;
    let actor = AuthorRecord::of(caller.user, &me);
    let now = Timestamp::now().0;
    let target = ev.sender.clone();
    if let EventKindRecord::Message { deleted, .. } = &mut ev.kind {
        if deleted.is_some() {
            return Ok(());
        }
        *deleted = Some((actor.clone(), now));
    }
    ctx.events.insert((room_id, seq), encode(&ev)?.as_slice())?;
    redact_edits(ctx, room_id, seq, room.head)?;
    query::append(
        ctx,
        room_id,
        &mut room,
        EventRecord {
            ts: now,
            sender: actor.clone(),
            kind: EventKindRecord::Deleted { target: seq },
        },
    )?;
    ctx.put_room(room_id, &room);
    if !own {
        super::audit::record(
            ctx,
            &actor,
            Some(room_id),
            Some(target),
            "delete-message",
            &format!("seq {seq}"),
        )?;
    }
    Ok(())
}

/// Toggles `caller`'s reaction `emoji` on the message at `seq` (at most
/// `max_reactions` per message) and appends a `Reaction` event.
///
/// # Errors
/// `NotFound`, `NotMember`, `Muted`, `Archived`, `BadRequest`,
/// `LimitExceeded`; a storage failure.
pub fn react(
    ctx: &mut WriteCtx<'_>,
    caller: Caller,
    room_id: u64,
    seq: u64,
    emoji: &str,
    max_reactions: usize,
) -> Result<(), WriteError> {
    let mut room = load_room(ctx, room_id)?;
    writable_member(ctx, room_id, &room, caller.user)?;
    let mut ev = load_message(ctx, room_id, seq)?;
    let EventKindRecord::Message {
        reactions, deleted, ..
    } = &mut ev.kind
    else {
        return Err(no_message(seq).into());
    };
    if deleted.is_some() {
        return Err(refuse(
            ErrorCode::BadRequest,
            "a deleted message takes no reactions",
        )
        .into());
    }
    let existing = reactions
        .iter()
        .find(|(e, _)| *e == *emoji)
        .is_some_and(|(_, users)| users.contains(&caller.user));
    let count: usize = reactions.iter().map(|(_, users)| users.len()).sum();
    if !existing && count >= max_reactions {
        return Err(refuse(
            ErrorCode::LimitExceeded,
            format!(
                "this message already has {count} reactions, the server's limit per \
                 message; add to an existing reaction's count by removing yours first, \
                 or react to another message"
            ),
        )
        .into());
    }
    let added = match reactions.iter_mut().find(|(e, _)| *e == *emoji) {
        Some((_, users)) => match users.iter().position(|u| *u == caller.user) {
            Some(i) => {
                users.remove(i);
                false
            }
            None => {
                users.push(caller.user);
                true
            }
        },
        None => {
            reactions.push((emoji.to_owned(), vec![caller.user]));
            true
        }
    };
    reactions.retain(|(_, users)| !users.is_empty());
    ctx.events.insert((room_id, seq), encode(&ev)?.as_slice())?;
    let me = load_user(ctx, caller.user)?;
    query::append(
        ctx,
        room_id,
        &mut room,
        EventRecord {
            ts: Timestamp::now().0,
            sender: AuthorRecord::of(caller.user, &me),
            kind: EventKindRecord::Reaction {
                target: seq,
                emoji: emoji.to_owned(),
                added,
            },
        },
    )?;
    ctx.put_room(room_id, &room);
    Ok(())
}

/// A server admin's audit view of the message at `seq`: the event with
/// deleted text shown and its versions, newest first within one page's
/// bytes. `None` when there is no event at `seq`.
///
/// # Errors
/// A storage failure.
pub fn message_audit(
    txn: &ReadTx,
    room_id: u64,
    seq: u64,
) -> Result<Option<proto::MessageAudit>, WriteError> {
    let r = &Reader::open(txn)?;
    let Some((_, ev)) = query::events(&r.events, room_id, seq, seq, 1)?.pop() else {
        return Ok(None);
    };
    let view = View {
        reveal_deleted: true,
        ..View::default()
    };
    let mut versions = Vec::new();
    for entry in r
        .versions
        .range((room_id, seq, 0)..=(room_id, seq, u32::MAX))?
    {
        let v: VersionRecord = decode(entry?.1.value())?;
        versions.push(proto::MessageVersion {
            text: v.text,
            at: Timestamp(v.at),
        });
    }
    if let EventKindRecord::Message {
        text, edited_at, ..
    } = &ev.kind
    {
        versions.push(proto::MessageVersion {
            text: text.clone(),
            at: Timestamp(edited_at.unwrap_or(ev.ts)),
        });
    }
    // Newest versions first until the byte budget, so the answer
    // fits in a frame; the oldest left out are counted.
    let event = ev.to_wire_for(room_id, seq, &view)?;
    let mut budget = proto::MAX_PAGE_BYTES.saturating_sub(proto::frame::encoded_len(&event));
    let mut kept = 0;
    for v in versions.iter().rev() {
        let len = proto::frame::encoded_len(v);
        if kept > 0 && len > budget {
            break;
        }
        budget = budget.saturating_sub(len);
        kept += 1;
    }
    let omitted = versions.len() - kept;
    let versions = versions.split_off(omitted);
    Ok(Some(proto::MessageAudit {
        event,
        versions,
        omitted_versions: u32::try_from(omitted).unwrap_or(u32::MAX),
    }))
}

/// Moves `caller`'s receipt `marker` in `room_id` forward to `seq` (never
/// back, capped at the head; read implies delivered) and tells the room.
///
/// # Errors
/// `NotFound`, `NotMember`; a storage failure.
pub fn mark(
    ctx: &mut WriteCtx<'_>,
    caller: Caller,
    room_id: u64,
    seq: Seq,
    marker: Marker,
) -> Result<(), WriteError> {
    let (room, mut m) = super::rooms::member_room(ctx, room_id, caller.user)?;
    let seq = seq.0.min(room.head);
    let moved = match marker {
        Marker::Read if seq > m.read_seq => {
            m.read_seq = seq;
            // Whatever was read was also delivered.
            m.delivered_seq = m.delivered_seq.max(seq);
            true
        }
        Marker::Delivered if seq > m.delivered_seq => {
            m.delivered_seq = seq;
            true
        }
        _ => false,
    };
    if moved {
        ctx.members
            .insert((room_id, caller.user), encode(&m)?.as_slice())?;
        let me = load_user(ctx, caller.user)?;
        let frame = proto::frame::encode(&proto::RoomFrame::Receipt {
            user: AuthorRecord::of(caller.user, &me).to_wire(),
            delivered_seq: Seq(m.delivered_seq),
            read_seq: Seq(m.read_seq),
        })
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        ctx.effects.push(Effect::Ephemeral {
            room: room_id,
            frame,
        });
    }
    Ok(())
}

/// Who read, and who only received, the message at `seq`, for a member
/// (or `admin`); `None` for a non-member or no event at `seq`.
///
/// # Errors
/// A storage failure.
pub fn read_by(
    txn: &ReadTx,
    user: u64,
    admin: bool,
    room_id: u64,
    seq: u64,
) -> Result<Option<proto::ReadReceipts>, WriteError> {
    let r = &Reader::open(txn)?;
    if query::member(&r.members, room_id, user)?.is_none() && !admin {
        return Ok(None);
    }
    let Some((_, ev)) = query::events(&r.events, room_id, seq, seq, 1)?.pop() else {
        return Ok(None);
    };
    let mut out = proto::ReadReceipts {
        read_by: Vec::new(),
        delivered_to: Vec::new(),
    };
    for (uid, m) in query::members(&r.members, room_id)? {
        if uid == ev.sender.id {
            continue;
        }
        let Some(u) = query::user(&r.users, uid)? else {
            continue;
        };
        let who = AuthorRecord::of(uid, &u).to_wire();
        if m.read_seq >= seq {
            out.read_by.push(who);
        } else if m.delivered_seq >= seq {
            out.delivered_to.push(who);
        }
    }
    Ok(Some(out))
}

/// `user`'s wire identity if they are a member of `room_id` now.
///
/// # Errors
/// A storage failure.
pub fn member_author(
    txn: &ReadTx,
    user: u64,
    room_id: u64,
) -> Result<Option<proto::Author>, WriteError> {
    let r = &Reader::open(txn)?;
    if query::member(&r.members, room_id, user)?.is_none() {
        return Ok(None);
    }
    Ok(query::user(&r.users, user)?.map(|u| AuthorRecord::of(user, &u).to_wire()))
}
