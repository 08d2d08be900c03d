//! Notifications: stored per user inside the writer's transaction and
//! pushed to every session of the user after the commit.

use crate::fanout::Effect;
use crate::store::kv::KvRead;
use crate::store::records::*;
use crate::store::{StoreError, WriteCtx, WriteError, query};
use chat_protocol::{self as proto, Timestamp};

/// The wire view of a stored notification.
pub fn to_wire(id: u64, n: &NotificationRecord) -> proto::Notification {
    use NotificationKindRecord as K;
    let kind = match &n.kind {
        K::Mention { room, seq } => proto::NotificationKind::Mention {
            room: proto::RoomId(*room),
            seq: proto::Seq(*seq),
        },
        K::DirectMessage { room, seq } => proto::NotificationKind::DirectMessage {
            room: proto::RoomId(*room),
            seq: proto::Seq(*seq),
        },
        K::Invited { room, name } => proto::NotificationKind::Invited {
            room: proto::RoomId(*room),
            name: name.clone(),
        },
        K::ContactAdded => proto::NotificationKind::ContactAdded,
    };
    proto::Notification {
        id,
        from: n.from.to_wire(),
        kind,
        at: Timestamp(n.at),
        read: n.read,
    }
}

/// Stores a notification for `user` and queues it for their sessions.
/// Skipped when `user` blocks the sender.
pub fn notify(
    ctx: &mut WriteCtx<'_>,
    user: u64,
    from: &AuthorRecord,
    kind: NotificationKindRecord,
) -> Result<(), WriteError> {
    if user == from.id || query::blocks(&ctx.blocks, user, from.id)? {
        return Ok(());
    }
    let id = ctx
        .notifications
        .range((user, 0)..=(user, u64::MAX))?
        .next_back()
        .transpose()?
        .map_or(1, |(k, _)| k.value().1 + 1);
    let rec = NotificationRecord {
        from: from.clone(),
        kind,
        at: Timestamp::now().0,
        read: false,
    };
    ctx.notifications
        .insert((user, id), encode(&rec)?.as_slice())?;
    let frame = proto::frame::encode(&proto::UserEvent::Notification(to_wire(id, &rec)))
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    ctx.effects.push(Effect::User { user, frame });
    Ok(())
}
