//! Messages: send (with idempotency keys), import, history, subscribe and
//! read markers.

use super::{Reply, refuse, require_admin};
use crate::session::Session;
use crate::store::boundary::StoreFuture;
use crate::store::records::View;
use chat_protocol::{
    self as proto, ErrorBody, ErrorCode, HistoryAnchor, IdempotencyKey, MessageAck, RequestId,
    ResponseBody, RoomId, Seq, Timestamp,
};
use std::sync::Arc;

use crate::store::ops::events::no_room;
pub use crate::store::ops::events::{send_job, send_job_with};

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
) -> Result<StoreFuture<'static, MessageAck>, ErrorBody> {
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
    // The rate limit was taken before dispatch (`handlers::rate`). The
    // boundary queues the send now, before this returns (its contract).
    Ok(session
        .shared
        .storage
        .send_message(a.user, room, key, text, reply_to, attachments))
}

/// Waits for a queued send's commit.
pub(super) async fn await_send(send: StoreFuture<'static, MessageAck>) -> Reply {
    let ack = send.await?;
    Ok(ResponseBody::Sent(ack))
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
        .shared
        .storage
        .import_message(a.user, room_id, username, ts, key, text)
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
        .shared
        .storage
        .history(a.user, a.admin, room_id, anchor, limit, view)
        .await?;
    // Recorded before the answer leaves: no deleted text is read unrecorded.
    super::audit_log::record_deleted_read(session, &a, room_id, &page.1).await?;
    Ok(ResponseBody::History(page.0))
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
        .shared
        .storage
        .member_head(a.user, room_id)
        .await?
        .ok_or_else(no_room)?;
    session.subscribe(sub, request, room_id, since)?;
    Ok(ResponseBody::Subscribed {
        room: RoomId(room_id),
        head: Seq(head),
    })
}
