//! A message's life after it is sent: edits (with every prior version kept
//! for audit), deletion (a tombstone for members, the body kept for server
//! admins), reactions, receipts, "seen by", and typing indicators.

use super::messages::check_text;
use super::{Reply, refuse, require_admin};
use crate::session::Session;
use crate::store::ops::lifecycle::no_message;
use chat_protocol::{self as proto, ErrorCode, ResponseBody, Seq, Timestamp};
use std::sync::Arc;

/// How long a typing indicator lasts unless refreshed, in ms. Clients send
/// `Typing` again every few seconds while the user keeps typing.
pub const TYPING_TTL_MS: u64 = 6_000;

/// Longest reaction, in bytes (an emoji with modifiers is at most ~30).
pub const MAX_EMOJI_BYTES: usize = 32;

pub(super) async fn edit(session: &Arc<Session>, room_id: u64, seq: u64, text: String) -> Reply {
    let a = session.authed()?;
    check_text(session, &text)?;
    session
        .shared
        .storage
        .edit_message(a.caller(), room_id, seq, text)
        .await?;
    Ok(ResponseBody::Ok)
}

pub(super) async fn delete(session: &Arc<Session>, room_id: u64, seq: u64) -> Reply {
    let a = session.authed()?;
    session
        .shared
        .storage
        .delete_message(a.caller(), room_id, seq)
        .await?;
    Ok(ResponseBody::Ok)
}

pub(super) async fn react(session: &Arc<Session>, room_id: u64, seq: u64, emoji: String) -> Reply {
    let a = session.authed()?;
    let emoji = emoji.trim().to_string();
    if emoji.is_empty()
        || emoji.len() > MAX_EMOJI_BYTES
        || emoji.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(refuse(
            ErrorCode::BadRequest,
            format!(
                "a reaction is one emoji or word of 1 to {MAX_EMOJI_BYTES} bytes without spaces"
            ),
        ));
    }
    let max_reactions = session
        .shared
        .config
        .current()
        .limits
        .max_reactions_per_message as usize;
    session
        .shared
        .storage
        .react(a.caller(), room_id, seq, emoji, max_reactions)
        .await?;
    Ok(ResponseBody::Ok)
}

pub(super) async fn message_audit(session: &Arc<Session>, room_id: u64, seq: u64) -> Reply {
    let a = require_admin(session).await?;
    let audit = session
        .shared
        .storage
        .message_audit(room_id, seq)
        .await?
        .ok_or_else(|| no_message(seq))?;
    // Recorded before the answer leaves: no deleted text is read unrecorded.
    if let proto::RoomEventKind::Message(m) = &audit.event.kind
        && m.deleted.is_some()
    {
        super::audit_log::record_deleted_read(session, &a, room_id, &[seq]).await?;
    }
    Ok(ResponseBody::Audit(audit))
}

pub(super) use crate::store::ops::lifecycle::Marker;

/// Moves a receipt marker forward (never back) and tells the room.
pub(super) async fn mark(session: &Arc<Session>, room_id: u64, seq: Seq, marker: Marker) -> Reply {
    let a = session.authed()?;
    session
        .shared
        .storage
        .mark(a.caller(), room_id, seq, marker)
        .await?;
    Ok(ResponseBody::Ok)
}

pub(super) async fn read_by(session: &Arc<Session>, room_id: u64, seq: u64) -> Reply {
    let a = super::access::fresh(session).await?;
    let receipts = session
        .shared
        .storage
        .read_by(a.user, a.admin, room_id, seq)
        .await?
        .ok_or_else(|| no_message(seq))?;
    Ok(ResponseBody::Receipts(receipts))
}

pub(super) async fn typing(session: &Arc<Session>, room_id: u64) -> Reply {
    let a = session.authed()?;
    let me = session
        .shared
        .storage
        .member_author(a.user, room_id)
        .await?
        .ok_or_else(|| refuse(ErrorCode::NotMember, "you are not a member of this room"))?;
    let frame = proto::frame::encode(&proto::RoomFrame::Typing {
        user: me,
        expires_at: Timestamp(Timestamp::now().0 + TYPING_TTL_MS),
    })
    .map_err(super::internal)?;
    session
        .shared
        .fan_out(vec![crate::fanout::Effect::Ephemeral {
            room: room_id,
            frame,
        }]);
    Ok(ResponseBody::Ok)
}
