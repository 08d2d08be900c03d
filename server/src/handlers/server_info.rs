//! Server facts and counters.

use super::{Reply, require_admin};
use crate::session::Session;
use crate::store::ops::server::StoredCounts;
use crate::store::{StoreError, WriteError};
use chat_protocol::{self as proto, ResponseBody};
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub(super) fn info(session: &Arc<Session>) -> ResponseBody {
    ResponseBody::ServerInfo(proto::ServerInfo {
        server: format!("chatd/{}", env!("CARGO_PKG_VERSION")),
        protocol_version: proto::PROTOCOL_VERSION,
        limits: session.shared.wire_limits(),
    })
}

/// The server's counters. Answered even while the store is degraded (the
/// stored counts are then 0), since that is when an admin looks.
pub(super) async fn stats(session: &Arc<Session>) -> Reply {
    require_admin(session).await?;
    let counts = match session.shared.storage.stored_counts().await {
        Ok(c) => c,
        Err(WriteError::Store(StoreError::Unavailable(_))) => StoredCounts::default(),
        Err(e) => return Err(e.into()),
    };
    let shared = &session.shared;
    let w = shared.store.writer().stats();
    Ok(ResponseBody::ServerStats(proto::ServerStats {
        connections: shared.connections.load(Ordering::Relaxed),
        sessions: shared.sessions.load(Ordering::Relaxed),
        rooms: counts.rooms,
        users: counts.users,
        events: counts.events,
        commits: w.commits.load(Ordering::Relaxed),
        writes: w.writes.load(Ordering::Relaxed),
        uptime_secs: shared.started.elapsed().as_secs(),
        failed_logins: shared.logins.failed.load(Ordering::Relaxed),
        throttled_logins: shared.logins.throttled.load(Ordering::Relaxed),
        refused_connections: shared.refused.load(Ordering::Relaxed),
        storage: shared.store.health().describe(),
        idempotency_keys: counts.idempotency_keys,
        failed_writes: w.failed_jobs.load(Ordering::Relaxed),
    }))
}
