//! Server facts and counters.

use super::{Reply, require_admin};
use crate::session::Session;
use crate::store::query::Reader;
use crate::store::tables::{IDEMPOTENCY, meta};
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

/// The server's counters. Answered even while the store is degraded (the
/// stored counts are then 0), since that is when an admin looks.
pub(super) async fn stats(session: &Arc<Session>) -> Reply {
    require_admin(session).await?;
    let counts = session
        .shared
        .store
        .read(|txn| {
            let r = Reader::open(txn)?;
            Ok((
                r.rooms.len()?,
                r.users.len()?,
                r.counter(meta::EVENT_COUNT)?,
                txn.open_table(IDEMPOTENCY)?.len()?,
            ))
        })
        .await;
    let (rooms, users, events, idempotency_keys) = match counts {
        Ok(c) => c,
        Err(crate::store::StoreError::Unavailable(_)) => (0, 0, 0, 0),
        Err(e) => return Err(e.into()),
    };
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
        storage: shared.store.health().describe(),
        idempotency_keys,
        failed_writes: w.failed_jobs.load(Ordering::Relaxed),
    }))
}
