//! Server facts and counters.

use super::{Reply, require_admin};
use crate::session::Session;
use crate::store::tables::meta;
use chat_protocol::{self as proto, ResponseBody};
use redb::ReadableTableMetadata;
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub(super) fn info(session: &Arc<Session>) -> ResponseBody {
    ResponseBody::ServerInfo(proto::ServerInfo {
        server: format!("chatd/{}", env!("CARGO_PKG_VERSION")),
        protocol_version: proto::PROTOCOL_VERSION,
        limits: session.shared.wire_limits(),
    })
}

pub(super) async fn stats(session: &Arc<Session>) -> Reply {
    require_admin(session).await?;
    let (rooms, users, events) = session
        .read(|r| {
            Ok((
                r.rooms.len()?,
                r.users.len()?,
                r.counter(meta::EVENT_COUNT)?,
            ))
        })
        .await?;
    let shared = &session.shared;
    let w = shared.store.writer().stats();
    Ok(ResponseBody::ServerStats(proto::ServerStats {
        connections: shared.connections.load(Ordering::Relaxed),
        sessions: shared.sessions.load(Ordering::Relaxed),
        rooms,
        users,
        events,
        commits: w.commits.load(Ordering::Relaxed),
        writes: w.writes.load(Ordering::Relaxed),
        uptime_secs: shared.started.elapsed().as_secs(),
        failed_logins: shared.logins.failed.load(Ordering::Relaxed),
        throttled_logins: shared.logins.throttled.load(Ordering::Relaxed),
        refused_connections: shared.refused.load(Ordering::Relaxed),
    }))
}
