//! Room events: sending messages (with idempotency keys), importing,
//! history pages and the head a subscription starts from. Each message is
//! appended with the next seq of its room inside the writer's transaction
//! (`query::append`), after the membership, mute, archive and block
//! checks, in the same transaction.

use super::rooms::{load_room, load_user};
use super::users::no_such_user;
use crate::store::kv::{KvRead, ReadTx};
use crate::store::query::{self, Reader};
use crate::store::records::*;
use crate::store::tables::{EVENTS, ROOMS};
use crate::store::{WriteCtx, WriteError};
use chat_protocol::{
    self as proto, ErrorBody, ErrorCode, HistoryAnchor, IdempotencyKey, MessageAck, MessageId,
    RoomId, Seq, Timestamp,
};

fn refuse(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(code, message)
}

/// The writer job of a `Send`: what chatd runs inside the batch's write
/// transaction for each message a member sends. Public so the storage
/// benchmark (`server/benches/writer.rs`) measures exactly this.
///
/// Returns the original ack, marked `duplicate`, if `user` used `key`
/// before within [`proto::IDEMPOTENCY_TTL_MS`].
///
/// # Errors
/// [`WriteError::Rejected`] when the sender is not a member or is muted,
/// the room is archived or missing, a DM peer blocked the sender, the key
/// was used in another room, or `reply_to` is not a seq of this room;
/// [`WriteError::Store`] for a storage failure.
pub fn send_job(
    ctx: &mut WriteCtx<'_>,
    user: u64,
    room: RoomId,
    key: &IdempotencyKey,
    text: String,
    reply_to: Option<Seq>,
) -> Result<MessageAck, WriteError> {
    send_job_with(ctx, user, room, key, text, reply_to, &[])
}

/// [`send_job`] for a message with files: checks that `attachments` are
/// the sender's unsent uploads to this room, stores them in the message
/// event and marks them as carried by it.
///
/// # Errors
/// As [`send_job`], and the refusals of `store::files::claim`.
pub fn send_job_with(
    ctx: &mut WriteCtx<'_>,
    user: u64,
    room: RoomId,
    key: &IdempotencyKey,
    text: String,
    reply_to: Option<Seq>,
    attachments: &[proto::AttachmentId],
) -> Result<MessageAck, WriteError> {
    let me = load_user(ctx, user)?;
    let attachments = if attachments.is_empty() {
        Vec::new()
    } else {
        crate::store::files::claim(ctx, user, room.0, attachments)?
    };
    let msg = NewMessage {
        author: AuthorRecord::of(user, &me),
        key_owner: user,
        ts: Timestamp::now().0,
        text,
        reply_to,
        check_member: true,
        attachments,
    };
    store_message(ctx, room.0, key, msg)
}

/// A message to store.
struct NewMessage {
    author: AuthorRecord,
    /// Whose idempotency keys the key belongs to: the sender, or the admin
    /// running an import (so a re-run import stores nothing twice).
    key_owner: u64,
    ts: u64,
    text: String,
    reply_to: Option<Seq>,
    /// False only for server-admin imports.
    check_member: bool,
    /// Files claimed for this message (`store::files::claim`).
    attachments: Vec<crate::store::files::AttachmentRef>,
}

/// Stores a message, or returns the original if `key` was used before by
/// the same key owner.
fn store_message(
    ctx: &mut WriteCtx<'_>,
    room_id: u64,
    key: &IdempotencyKey,
    msg: NewMessage,
) -> Result<MessageAck, WriteError> {
    let NewMessage {
        author,
        key_owner,
        ts,
        text,
        reply_to,
        check_member,
        attachments,
    } = msg;
    let now = Timestamp::now().0;
    if let Some(prev) = ctx.idempotency.get((key_owner, key.0.as_str()))? {
        let prev: IdempotencyRecord = decode(prev.value())?;
        if prev.expires_at > now {
            return original(ctx, &prev, room_id);
        }
    }
    let mut room = load_room(ctx, room_id)?;
    if check_member {
        let (_, member) = super::rooms::member_room(ctx, room_id, author.id)?;
        if member.muted {
            return Err(refuse(
                ErrorCode::Muted,
                "you are muted in this room: you can read but not send; ask a room admin",
            )
            .into());
        }
    }
    if room.archived {
        return Err(refuse(ErrorCode::Archived, "this room is archived and read-only").into());
    }
    let peer = match (room.kind, room.pair) {
        (RoomKindRecord::Direct, Some((x, y))) => Some(if x == author.id { y } else { x }),
        _ => None,
    };
    if let Some(peer) = peer
        && query::blocks(&ctx.blocks, peer, author.id)?
    {
        return Err(refuse(
            ErrorCode::Blocked,
            "this user does not accept direct messages from you",
        )
        .into());
    }
    let first_direct = peer.is_some() && room.message_count == 0;
    if let Some(target) = reply_to
        && (target.0 == 0 || target.0 > room.head)
    {
        return Err(refuse(
            ErrorCode::BadRequest,
            format!(
                "reply_to {target} is not a message in this room (its head is {})",
                room.head
            ),
        )
        .into());
    }
    let mentions = mentions(ctx, &text)?;
    let id = MessageId::new_at(Timestamp(ts));
    let seq = query::append(
        ctx,
        room_id,
        &mut room,
        EventRecord {
            ts,
            sender: author.clone(),
            kind: EventKindRecord::Message {
                id: id.0.to_string(),
                text,
                reply_to: reply_to.map(|s| s.0),
                mentions: mentions.clone(),
                edited_at: None,
                deleted: None,
                reactions: Vec::new(),
                attachments: attachments.clone(),
            },
        },
    )?;
    ctx.put_room(room_id, &room);
    if !attachments.is_empty() {
        crate::store::files::link(ctx, &attachments, seq)?;
    }
    for user in mentions {
        if query::member(&ctx.members, room_id, user)?.is_some() {
            let kind = NotificationKindRecord::Mention { room: room_id, seq };
            super::notifications::notify(ctx, user, &author, kind)?;
        }
    }
    if let (true, Some(peer)) = (first_direct, peer) {
        let kind = NotificationKindRecord::DirectMessage { room: room_id, seq };
        super::notifications::notify(ctx, peer, &author, kind)?;
    }
    let rec = IdempotencyRecord {
        room: room_id,
        seq,
        expires_at: now.saturating_add(proto::IDEMPOTENCY_TTL_MS),
    };
    ctx.idempotency
        .insert((key_owner, key.0.as_str()), encode(&rec)?.as_slice())?;
    Ok(MessageAck {
        room: RoomId(room_id),
        seq: Seq(seq),
        id,
        ts: Timestamp(ts),
        duplicate: false,
    })
}

/// The ack of the message an idempotency key already stored.
fn original(
    ctx: &WriteCtx<'_>,
    prev: &IdempotencyRecord,
    room_id: u64,
) -> Result<MessageAck, WriteError> {
    if prev.room != room_id {
        return Err(refuse(
            ErrorCode::Conflict,
            "this idempotency key was already used for a message in another room; use a fresh key",
        )
        .into());
    }
    let ev = query::events(&ctx.events, prev.room, prev.seq, prev.seq, 1)?
        .pop()
        .ok_or_else(|| {
            crate::store::StoreError::Corrupt("idempotency key points at a missing event".into())
        })?;
    let id = match &ev.1.kind {
        // Purged by retention since: the stub keeps the id for this ack.
        EventKindRecord::Purged { id, .. } if !id.is_empty() => {
            proto::MessageId(id.parse().map_err(|e| {
                crate::store::StoreError::Corrupt(format!("purged message id {id:?}: {e}"))
            })?)
        }
        _ => {
            ev.1.to_wire(prev.room, prev.seq)?
                .message_id()
                .ok_or_else(|| {
                    crate::store::StoreError::Corrupt(
                        "idempotency key points at a non-message event".into(),
                    )
                })?
        }
    };
    Ok(MessageAck {
        room: RoomId(prev.room),
        seq: Seq(prev.seq),
        id,
        ts: Timestamp(ev.1.ts),
        duplicate: true,
    })
}

/// User ids named as `@username` in `text` (existing users only, once each).
fn mentions(ctx: &WriteCtx<'_>, text: &str) -> Result<Vec<u64>, WriteError> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices('@') {
        let preceded_by_word = text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric());
        if preceded_by_word {
            continue; // an e-mail address, not a mention
        }
        let name: String = text[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            .collect();
        let name = name.trim_end_matches(['.', '-']);
        if name.is_empty() {
            continue;
        }
        if let Some(id) = query::user_id(&ctx.usernames, name)?
            && !out.contains(&id)
        {
            out.push(id);
        }
    }
    Ok(out)
}

/// Stores an imported message (server admins): sent as `username` at
/// `ts`, with no membership check; `key` belongs to `admin_user`, so a
/// re-run import stores nothing twice.
///
/// # Errors
/// `NotFound` for an unknown user or room; `Archived`; a storage failure.
pub fn import(
    ctx: &mut WriteCtx<'_>,
    admin_user: u64,
    room_id: u64,
    username: &str,
    ts: Timestamp,
    key: &IdempotencyKey,
    text: &str,
) -> Result<MessageAck, WriteError> {
    let uid = query::user_id(&ctx.usernames, username)?.ok_or_else(|| no_such_user(username))?;
    let user = load_user(ctx, uid)?;
    let msg = NewMessage {
        author: AuthorRecord::of(uid, &user),
        key_owner: admin_user,
        ts: ts.0,
        text: text.to_owned(),
        reply_to: None,
        check_member: false,
        attachments: Vec::new(),
    };
    store_message(ctx, room_id, key, msg)
}

/// A history page and the seqs of the deleted texts it reveals (audit
/// reads, recorded by the caller before the page is answered).
pub type HistoryRead = (proto::HistoryPage, Vec<u64>);

/// A page of `room_id`'s events for `user` (a member, or `admin`) as
/// `view` shows them: from `anchor`, at most `limit` events and one
/// page's bytes.
///
/// # Errors
/// `NotFound` for a missing room or a non-member; a storage failure.
pub fn history(
    txn: &ReadTx,
    user: u64,
    admin: bool,
    room_id: u64,
    anchor: HistoryAnchor,
    limit: usize,
    view: &View,
) -> Result<HistoryRead, WriteError> {
    let r = &Reader::open(txn)?;
    let Some(room) = query::room(&r.rooms, room_id)?.filter(|r| !r.deleted || admin) else {
        return Err(no_room().into());
    };
    if query::member(&r.members, room_id, user)?.is_none() && !admin {
        return Err(no_room().into());
    }
    let head = room.head;
    // Events in reading order: newest first for `Latest` and
    // `Before`, oldest first for `After`.
    let (evs, mut has_more, backward) = match anchor {
        HistoryAnchor::Latest => {
            let evs = query::events_rev(&r.events, room_id, 1, head, limit)?;
            let more = evs.last().is_some_and(|(s, _)| *s > 1);
            (evs, more, true)
        }
        HistoryAnchor::Before(s) => {
            let evs = query::events_rev(&r.events, room_id, 1, s.0.saturating_sub(1), limit)?;
            let more = evs.last().is_some_and(|(s, _)| *s > 1);
            (evs, more, true)
        }
        HistoryAnchor::After(s) => {
            let evs = query::events(&r.events, room_id, s.0.saturating_add(1), head, limit)?;
            let more = evs.last().is_some_and(|(s, _)| *s < head);
            (evs, more, false)
        }
    };
    // Capped by bytes as well as count, keeping the events nearest
    // the anchor, so the page fits in a frame; the client pages on
    // while `has_more`. The first event always fits.
    let mut events = Vec::with_capacity(evs.len());
    let mut bytes = 0usize;
    // Events whose deleted text this page reveals (audit reads).
    let mut revealed = Vec::new();
    for (seq, ev) in evs {
        let wire = ev.to_wire_for(room_id, seq, view)?;
        let len = proto::frame::encoded_len(&wire);
        if !events.is_empty() && bytes.saturating_add(len) > proto::MAX_PAGE_BYTES {
            has_more = true;
            break;
        }
        bytes = bytes.saturating_add(len);
        events.push(wire);
        if view.reveal_deleted && reveals_deleted_text(&ev.kind) {
            revealed.push(seq);
        }
    }
    revealed.sort_unstable();
    if backward {
        events.reverse();
    }
    Ok((
        proto::HistoryPage {
            room: RoomId(room_id),
            events,
            head: Seq(head),
            has_more,
        },
        revealed,
    ))
}

/// Whether a server admin's audit view of this event shows text members
/// cannot see: a deleted message, or an edit of one.
fn reveals_deleted_text(kind: &EventKindRecord) -> bool {
    match kind {
        EventKindRecord::Message { deleted, .. } => deleted.is_some(),
        EventKindRecord::Edited { redacted, .. } => *redacted,
        _ => false,
    }
}

/// The refusal for a missing room or a non-member.
pub fn no_room() -> ErrorBody {
    refuse(
        ErrorCode::NotFound,
        "no such room, or you are not a member; check the room, or join it first",
    )
}

/// Stored events of `room_id` with `after < seq <= up_to`, ascending, at
/// most `limit`: what a node reads to fill a gap the bus left
/// (`bus::GapFill`).
///
/// # Errors
/// A storage failure.
pub fn stored_events(
    txn: &ReadTx,
    room_id: u64,
    after: u64,
    up_to: u64,
    limit: usize,
) -> Result<Vec<(u64, EventRecord)>, WriteError> {
    if after >= up_to {
        return Ok(Vec::new());
    }
    let events = txn.open_table(EVENTS)?;
    Ok(query::events(&events, room_id, after + 1, up_to, limit)?)
}

/// The head (last committed seq; 0 for a deleted room) of each of
/// `rooms`, or of every room when `rooms` is `None`; rooms that do not
/// exist are left out.
///
/// # Errors
/// A storage failure.
pub fn room_heads(txn: &ReadTx, rooms: Option<Vec<u64>>) -> Result<Vec<(u64, u64)>, WriteError> {
    let table = txn.open_table(ROOMS)?;
    match rooms {
        None => Ok(query::room_heads(&table)?),
        Some(ids) => {
            let mut heads = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(room) = query::room(&table, id)? {
                    heads.push((id, if room.deleted { 0 } else { room.head }));
                }
            }
            Ok(heads)
        }
    }
}

/// The head of `room_id` if `user` is a member of it now; `None` for a
/// missing or deleted room or a non-member.
///
/// # Errors
/// A storage failure.
pub fn member_head(txn: &ReadTx, user: u64, room_id: u64) -> Result<Option<u64>, WriteError> {
    let r = &Reader::open(txn)?;
    let Some(room) = query::room(&r.rooms, room_id)?.filter(|r| !r.deleted) else {
        return Ok(None);
    };
    Ok(query::member(&r.members, room_id, user)?.map(|_| room.head))
}

/// Events `from..=to` of `room_id` (at most `limit`), as `view` shows
/// them, each encoded as a `RoomFrame::Event` frame: a subscription's
/// catch-up page.
///
/// # Errors
/// A storage failure, or an event that does not encode.
pub fn catch_up(
    txn: &ReadTx,
    room_id: u64,
    from: u64,
    to: u64,
    limit: usize,
    view: &View,
) -> Result<Vec<(u64, bytes::Bytes)>, WriteError> {
    let r = Reader::open(txn)?;
    let page = query::events(&r.events, room_id, from, to, limit)?;
    page.into_iter()
        .map(|(seq, ev)| {
            let wire = ev.to_wire_for(room_id, seq, view)?;
            let frame = proto::frame::encode(&proto::RoomFrame::Event(wire))
                .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
            Ok((seq, frame))
        })
        .collect()
}

/// Every member's receipt markers in `room_id` as `RoomFrame::Receipt`
/// frames; none for a room of more than `max_members` members.
///
/// # Errors
/// A storage failure, or a frame that does not encode.
pub fn receipts(
    txn: &ReadTx,
    room_id: u64,
    max_members: usize,
) -> Result<Vec<bytes::Bytes>, WriteError> {
    let r = Reader::open(txn)?;
    let members = query::members(&r.members, room_id)?;
    if members.len() > max_members {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (uid, m) in members {
        let Some(u) = query::user(&r.users, uid)? else {
            continue;
        };
        let frame = proto::RoomFrame::Receipt {
            user: AuthorRecord::of(uid, &u).to_wire(),
            delivered_seq: Seq(m.delivered_seq),
            read_seq: Seq(m.read_seq),
        };
        out.push(
            proto::frame::encode(&frame)
                .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?,
        );
    }
    Ok(out)
}
