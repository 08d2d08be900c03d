//! Moderation: kick, ban, unban, mute, roles, topic, visibility, ownership,
//! archive and delete, each checked against the actor's role and recorded
//! in the audit trail (who did what to whom, when and why).
//!
//! Rules: room admins and the owner moderate members ranked below them;
//! the owner alone sets roles, visibility and ownership and archives;
//! only server admins delete rooms. Server admins may do everything.

use super::{Reply, refuse};
use crate::session::Session;
use crate::store::ops::moderation::forbidden;
use chat_protocol::names::{self, MAX_TOPIC_LEN};
use chat_protocol::{self as proto, ErrorCode, ModAction, ResponseBody};
use std::sync::Arc;

/// Longest reason, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;

pub(super) async fn moderate(
    session: &Arc<Session>,
    room_id: u64,
    action: ModAction,
    reason: String,
) -> Reply {
    let a = session.authed()?;
    if reason.len() > MAX_REASON_BYTES {
        return Err(refuse(
            ErrorCode::TooLarge,
            format!("the reason is over {MAX_REASON_BYTES} bytes; shorten it"),
        ));
    }
    if let ModAction::SetTopic { topic } = &action {
        names::validate_label("topic", topic, MAX_TOPIC_LEN)?;
    }
    let left = session
        .shared
        .storage
        .moderate(a.caller(), room_id, action, reason)
        .await?;
    if left {
        session.unsubscribe(room_id);
    }
    Ok(ResponseBody::Ok)
}

pub(super) async fn log(session: &Arc<Session>, room: Option<proto::RoomId>, limit: u32) -> Reply {
    let a = super::access::fresh(session).await?;
    if !(1..=1000).contains(&limit) {
        return Err(refuse(ErrorCode::BadRequest, "limit must be 1 to 1000"));
    }
    let records = session
        .shared
        .storage
        .moderation_log(a.user, a.admin, room, limit)
        .await?
        .ok_or_else(|| forbidden("server admins, or the room's owner and admins for their room"))?;
    Ok(ResponseBody::ModerationLog(records))
}

/// `ModerationLogPage`: the audit trail newest first, one page at a time
/// (the cursor is the id of the oldest record returned), as far back as it
/// goes; refused as [`log`] refuses.
pub(super) async fn log_page(
    session: &Arc<Session>,
    room: Option<proto::RoomId>,
    page: proto::PageRequest,
) -> Reply {
    crate::page::check(&page)?;
    let a = super::access::fresh(session).await?;
    let records = session
        .shared
        .storage
        .moderation_log_page(a.user, a.admin, room, page)
        .await?
        .ok_or_else(|| forbidden("server admins, or the room's owner and admins for their room"))?;
    Ok(ResponseBody::ModerationLogPage(records))
}
