//! The tamper-evident audit log's requests (server admins only): the
//! signed tree head, consistency proofs, records with inclusion proofs,
//! declared accesses; the record of reads of deleted text; and the task
//! that signs a head at intervals. The tree itself is `store::audit_tree`.

use super::access::require_admin;
use super::{Reply, refuse};
use crate::session::{Authed, Session};
use crate::shared::Shared;
use chat_protocol::audit::{MAX_ACCESS_REASON_BYTES, MAX_AUDIT_ENTRIES};
use chat_protocol::{self as proto, ErrorBody, ErrorCode, ResponseBody, RoomId, Timestamp};
use std::sync::Arc;
use std::time::Duration;

/// Default of `Config::audit_head_interval_ms`: chatd signs and stores a
/// head every 60 s when the log has grown. `AuditHead` signs one on
/// demand as well.
pub const HEAD_INTERVAL_MS: u64 = 60_000;

/// Longest `purpose` of a `DeclareAccess`, in bytes.
pub const MAX_PURPOSE_BYTES: usize = 32;

/// `AuditHead`: signs the current head, stores it and returns it.
pub(super) async fn head(session: &Arc<Session>) -> Reply {
    require_admin(session).await?;
    let head = sign_and_store(&session.shared, true).await?;
    head.map(ResponseBody::AuditHead).ok_or_else(|| {
        ErrorBody::new(
            ErrorCode::Internal,
            "no tree head was signed; report this bug",
        )
    })
}

/// Signs the current head and stores it; with `always` false, only when
/// no head of this size is stored yet.
async fn sign_and_store(
    shared: &Arc<Shared>,
    always: bool,
) -> Result<Option<proto::audit::SignedTreeHead>, crate::store::WriteError> {
    let at = Timestamp::now();
    let key = shared.clone();
    let signer: Arc<crate::store::ops::audit::Signer> =
        Arc::new(move |size, root| key.audit_key.sign(size, root, at));
    shared.storage.audit_sign_head(always, signer).await
}

/// Signs and stores a head every `audit_head_interval_ms` when the log
/// grew.
pub(crate) async fn sign_heads_forever(shared: Arc<Shared>) {
    let every = Duration::from_millis(shared.config.current().audit_head_interval_ms.max(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match sign_and_store(&shared, false).await {
            Ok(Some(h)) => tracing::debug!(tree_size = h.tree_size, "signed an audit tree head"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not sign an audit tree head; will retry"),
        }
    }
}

/// `AuditHeads`: stored heads, smallest tree size first.
pub(super) async fn heads(session: &Arc<Session>, page: proto::PageRequest) -> Reply {
    crate::page::check(&page)?;
    require_admin(session).await?;
    let from = page.after.map_or(0, |a| a.saturating_add(1));
    // One more than the page holds, so that the page knows there is more.
    let heads = session
        .shared
        .storage
        .audit_heads(from, (page.limit as usize).saturating_add(1))
        .await?;
    let mut out = crate::page::PageBuilder::new(page.limit);
    for head in heads {
        if !out.offer(head.tree_size, head) {
            break;
        }
    }
    let out = out.finish();
    Ok(ResponseBody::AuditHeads(out))
}

/// `AuditConsistency`.
pub(super) async fn consistency(session: &Arc<Session>, from: u64, to: u64) -> Reply {
    require_admin(session).await?;
    let proof = session.shared.storage.audit_consistency(from, to).await?;
    Ok(ResponseBody::AuditConsistency(
        proof.into_iter().map(|h| h.to_vec()).collect(),
    ))
}

/// `AuditEntries`.
pub(super) async fn entries(
    session: &Arc<Session>,
    tree_size: u64,
    from: u64,
    limit: u32,
) -> Reply {
    require_admin(session).await?;
    if !(1..=MAX_AUDIT_ENTRIES).contains(&limit) {
        return Err(refuse(
            ErrorCode::BadRequest,
            format!("limit must be 1 to {MAX_AUDIT_ENTRIES}"),
        ));
    }
    let out = session
        .shared
        .storage
        .audit_entries(tree_size, from, limit)
        .await?;
    Ok(ResponseBody::AuditEntries(out))
}

/// `DeclareAccess`: records `access-<purpose>` with the reason and keeps
/// the declaration on the session for the reads that follow.
pub(super) async fn declare_access(
    session: &Arc<Session>,
    room: Option<RoomId>,
    purpose: String,
    reason: String,
) -> Reply {
    let a = require_admin(session).await?;
    if purpose.is_empty()
        || purpose.len() > MAX_PURPOSE_BYTES
        || !purpose
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(refuse(
            ErrorCode::BadRequest,
            format!(
                "the purpose must be 1 to {MAX_PURPOSE_BYTES} ASCII letters, digits or '-', \
                 e.g. export"
            ),
        ));
    }
    if reason.trim().is_empty() {
        return Err(refuse(
            ErrorCode::BadRequest,
            "an access needs a reason; say why (e.g. --reason \"records request 2024-17\")",
        ));
    }
    if reason.len() > MAX_ACCESS_REASON_BYTES {
        return Err(refuse(
            ErrorCode::TooLarge,
            format!("the reason is over {MAX_ACCESS_REASON_BYTES} bytes; shorten it"),
        ));
    }
    let action = format!("access-{purpose}");
    let (r, why) = (room.map(|r| r.0), reason.clone());
    session
        .shared
        .storage
        .audit_by_admin(a.caller(), r, action, why)
        .await?;
    *session
        .declared_access
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some(format!("{purpose}: {reason}"));
    Ok(ResponseBody::Ok)
}

/// Records that a server admin read deleted text: action `read-deleted`,
/// the room, the sequence numbers revealed and the access this connection
/// declared (or that it declared none).
pub(super) async fn record_deleted_read(
    session: &Arc<Session>,
    a: &Authed,
    room: u64,
    seqs: &[u64],
) -> Result<(), ErrorBody> {
    if seqs.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = seqs.iter().map(u64::to_string).collect();
    record_read(session, a, room, format!("seq {}", list.join(","))).await
}

/// Records that a server admin downloaded a file of a deleted message
/// (`read-deleted`, "file ID of seq N"), as [`record_deleted_read`].
///
/// # Errors
/// The write failed; the download must then not start.
pub(crate) async fn record_deleted_file_read(
    session: &Arc<Session>,
    a: &Authed,
    room: u64,
    attachment: u64,
    seq: Option<u64>,
) -> Result<(), ErrorBody> {
    let of = seq.map_or(String::new(), |s| format!(" of seq {s}"));
    record_read(session, a, room, format!("file {attachment}{of}")).await
}

async fn record_read(
    session: &Arc<Session>,
    a: &Authed,
    room: u64,
    what: String,
) -> Result<(), ErrorBody> {
    let declared = session
        .declared_access
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let reason = format!(
        "{what}; {}",
        match declared {
            Some(d) => format!("declared {d}"),
            None => "no access declared".into(),
        }
    );
    session
        .shared
        .storage
        .audit_by_admin(a.caller(), Some(room), "read-deleted".into(), reason)
        .await?;
    Ok(())
}
