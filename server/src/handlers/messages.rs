//! Messages: send (with idempotency keys), import, history, subscribe and
//! read markers.

use super::rooms::{load_room, load_user};
use super::{Reply, refuse, require_admin};
use crate::session::Session;
use crate::store::query;
use crate::store::records::*;
use crate::store::{WriteCtx, WriteError};
use chat_protocol::{
    self as proto, ErrorBody, ErrorCode, HistoryAnchor, IdempotencyKey, MessageAck, MessageId,
    RequestId, ResponseBody, RoomId, Seq, Timestamp,
};
use redb::ReadableTable;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Checks a message text against the server's limits.
pub(super) fn check_text(session: &Session, text: &str) -> Result<(), ErrorBody> {
    let max = session.shared.config.current().limits.max_message_bytes as usize;
    if text.len() > max {
        return Err(refuse(
            ErrorCode::TooLarge,
            format!(
                "message is {} bytes; the limit is {max}; split it or send a file",
                text.len()
            ),
        ));
    }
    if text.trim().is_empty() {
        return Err(refuse(
            ErrorCode::BadRequest,
            "message is empty; type something to send",
        ));
    }
    if let Some(word) =
        crate::content::banned_word(&session.shared.config.current().banned_words, text)
    {
        return Err(refuse(
            ErrorCode::ContentRejected,
            format!("message contains the banned word {word:?}; rephrase it"),
        ));
    }
    Ok(())
}

fn check_key(key: &IdempotencyKey) -> Result<(), ErrorBody> {
    if key.0.is_empty() || key.0.len() > IdempotencyKey::MAX_LEN {
        return Err(refuse(
            ErrorCode::BadRequest,
            format!(
                "idempotency key must be 1 to {} bytes; use a random ULID or UUID",
                IdempotencyKey::MAX_LEN
            ),
        ));
    }
    Ok(())
}

/// Checks and queues a send. Runs on the control-stream reader, so sends
/// from one connection are queued in the order they arrived.
///
/// # Errors
/// Authentication, size, content, key and rate-limit refusals.
pub(super) fn submit_send(
    session: &Arc<Session>,
    room: RoomId,
    key: IdempotencyKey,
    text: String,
    reply_to: Option<Seq>,
    attachments: Vec<proto::AttachmentId>,
) -> Result<oneshot::Receiver<Result<MessageAck, WriteError>>, ErrorBody> {
    let a = session.authed()?;
    if attachments.len() > proto::file::MAX_ATTACHMENTS {
        return Err(refuse(
            ErrorCode::TooLarge,
            format!(
                "a message carries at most {} files; send the rest in another message",
                proto::file::MAX_ATTACHMENTS
            ),
        ));
    }
    // A message with files may have no text.
    if attachments.is_empty() || !text.is_empty() {
        check_text(session, &text)?;
    }
    check_key(&key)?;
    // The rate limit was taken before dispatch (`handlers::rate`).
    Ok(session.shared.store.writer().submit(move |ctx| {
        send_job_with(
            ctx,
            a.user,
            room,
            &key,
            text.clone(),
            reply_to,
            &attachments,
        )
    }))
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

/// Waits for a queued send's commit.
pub(super) async fn await_send(rx: oneshot::Receiver<Result<MessageAck, WriteError>>) -> Reply {
    let ack = rx
        .await
        .map_err(|_| ErrorBody::from(crate::store::StoreError::WriterGone))??;
    Ok(ResponseBody::Sent(ack))
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
            super::notify::notify(ctx, user, &author, kind)?;
        }
    }
    if let (true, Some(peer)) = (first_direct, peer) {
        let kind = NotificationKindRecord::DirectMessage { room: room_id, seq };
        super::notify::notify(ctx, peer, &author, kind)?;
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

pub(super) async fn import(
    session: &Arc<Session>,
    room_id: u64,
    username: String,
    ts: Timestamp,
    key: IdempotencyKey,
    text: String,
) -> Reply {
    let a = require_admin(session).await?;
    check_key(&key)?;
    let max = session.shared.config.current().limits.max_message_bytes as usize;
    if text.len() > max {
        return Err(refuse(
            ErrorCode::TooLarge,
            format!("message is {} bytes; the limit is {max}", text.len()),
        ));
    }
    let ack = session
        .write(move |ctx| {
            let uid = query::user_id(&ctx.usernames, &username)?
                .ok_or_else(|| super::account::no_such_user(&username))?;
            let user = load_user(ctx, uid)?;
            let msg = NewMessage {
                author: AuthorRecord::of(uid, &user),
                key_owner: a.user,
                ts: ts.0,
                text: text.clone(),
                reply_to: None,
                check_member: false,
                attachments: Vec::new(),
            };
            store_message(ctx, room_id, &key, msg)
        })
        .await?;
    Ok(ResponseBody::Sent(ack))
}

pub(super) async fn history(
    session: &Arc<Session>,
    room_id: u64,
    anchor: HistoryAnchor,
    limit: u32,
    audit: bool,
) -> Reply {
    let a = super::access::fresh(session).await?;
    if audit && !a.admin {
        return Err(refuse(
            ErrorCode::Forbidden,
            "only server admins may read deleted messages (audit); drop the audit flag",
        ));
    }
    let view = View {
        reveal_deleted: audit,
        hidden: session
            .blocked
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
    };
    let max = session.shared.config.current().limits.max_history_page;
    if limit == 0 || limit > max {
        return Err(refuse(
            ErrorCode::BadRequest,
            format!("history limit must be 1 to {max}; page with before/after"),
        ));
    }
    let limit = limit as usize;
    let page = session
        .read(move |r| {
            let Some(room) = query::room(&r.rooms, room_id)?.filter(|r| !r.deleted || a.admin)
            else {
                return Ok(Err(no_room()));
            };
            if query::member(&r.members, room_id, a.user)?.is_none() && !a.admin {
                return Ok(Err(no_room()));
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
                    let evs =
                        query::events_rev(&r.events, room_id, 1, s.0.saturating_sub(1), limit)?;
                    let more = evs.last().is_some_and(|(s, _)| *s > 1);
                    (evs, more, true)
                }
                HistoryAnchor::After(s) => {
                    let evs =
                        query::events(&r.events, room_id, s.0.saturating_add(1), head, limit)?;
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
                let wire = ev.to_wire_for(room_id, seq, &view)?;
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
            Ok(Ok((
                proto::HistoryPage {
                    room: RoomId(room_id),
                    events,
                    head: Seq(head),
                    has_more,
                },
                revealed,
            )))
        })
        .await??;
    // Recorded before the answer leaves: no deleted text is read unrecorded.
    super::audit_log::record_deleted_read(session, &a, room_id, &page.1).await?;
    Ok(ResponseBody::History(page.0))
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

fn no_room() -> ErrorBody {
    refuse(
        ErrorCode::NotFound,
        "no such room, or you are not a member; check the room, or join it first",
    )
}

pub(super) async fn subscribe(
    session: &Arc<Session>,
    request: RequestId,
    room_id: u64,
    since: u64,
) -> Reply {
    let a = session.authed()?;
    // Register with the hub first, then check membership: every event
    // (a removal included) committed after the check reaches the
    // subscription, so catch-up plus live has no gap and a member removed
    // after the check loses the stream (see `Session::subscribe`).
    let sub = session.shared.hub.subscribe(room_id, a.user);
    let head = session
        .read(move |r| {
            let Some(room) = query::room(&r.rooms, room_id)?.filter(|r| !r.deleted) else {
                return Ok(None);
            };
            Ok(query::member(&r.members, room_id, a.user)?.map(|_| room.head))
        })
        .await?
        .ok_or_else(no_room)?;
    session.subscribe(sub, request, room_id, since)?;
    Ok(ResponseBody::Subscribed {
        room: RoomId(room_id),
        head: Seq(head),
    })
}
