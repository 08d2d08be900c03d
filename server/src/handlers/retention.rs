//! Retention requests (server admins): keep periods and legal holds per
//! room and per organisation, the settings in force, and a purge pass on
//! demand. The pass itself is here too, shared with the periodic job
//! (`crate::retention::purge_forever`): one writer job per batch, each
//! batch audited in its own transaction.

use super::{Reply, refuse, require_admin};
use crate::session::Session;
use crate::shared::Shared;
use crate::store::WriteError;
use crate::store::records::AuthorRecord;
use crate::store::retention::{KeepRecord, Scope};
use chat_protocol::retention::{MAX_HOLD_REASON_BYTES, MAX_KEEP_DAYS};
use chat_protocol::{
    ErrorBody, ErrorCode, Keep, PurgeReport, ResponseBody, RetentionScope, RoomId, RoomPurge, Seq,
    Timestamp,
};
use std::sync::Arc;

/// Longest organisation name accepted in a retention scope, in bytes.
const MAX_ORG_BYTES: usize = 256;

/// The author the periodic purge job records in the audit trail: user id
/// 0, which no account has.
pub(crate) fn retention_actor() -> AuthorRecord {
    AuthorRecord {
        id: 0,
        username: "chatd".into(),
        display_name: "retention policy".into(),
        org: String::new(),
    }
}

/// Checks a scope from the wire and turns it into the store's.
fn scope_of(scope: &RetentionScope) -> Result<Scope, ErrorBody> {
    match scope {
        RetentionScope::Room(r) => Ok(Scope::Room(r.0)),
        RetentionScope::Org(name) => {
            let name = name.trim();
            if name.is_empty() {
                return Err(refuse(
                    ErrorCode::BadRequest,
                    "the organisation name is empty; give it as users have it (`chatctl user show`)",
                ));
            }
            if name.len() > MAX_ORG_BYTES {
                return Err(refuse(
                    ErrorCode::TooLarge,
                    format!("the organisation name is longer than {MAX_ORG_BYTES} bytes"),
                ));
            }
            Ok(Scope::Org(name.to_owned()))
        }
    }
}

/// `SetRetention`: sets or clears a keep period; audited.
pub(super) async fn set_retention(
    session: &Arc<Session>,
    scope: RetentionScope,
    keep: Option<Keep>,
) -> Reply {
    let a = session.authed()?;
    let keep = match keep {
        None => None,
        Some(Keep::Forever) => Some(KeepRecord::Forever),
        Some(Keep::Days(d)) if (1..=MAX_KEEP_DAYS).contains(&d) => Some(KeepRecord::Days(d)),
        Some(Keep::Days(d)) => {
            return Err(refuse(
                ErrorCode::BadRequest,
                format!(
                    "a keep period of {d} days is out of range; give 1 to {MAX_KEEP_DAYS} days, \
                     or keep forever"
                ),
            ));
        }
    };
    let scope = scope_of(&scope)?;
    let info = session
        .shared
        .storage
        .set_retention(a.caller(), scope, keep)
        .await?;
    Ok(ResponseBody::Retention(info))
}

/// `SetLegalHold`: sets or lifts a legal hold; audited with its reason.
pub(super) async fn set_legal_hold(
    session: &Arc<Session>,
    scope: RetentionScope,
    hold: bool,
    reason: String,
) -> Reply {
    let a = session.authed()?;
    let reason = reason.trim().to_owned();
    if hold && reason.is_empty() {
        return Err(refuse(
            ErrorCode::BadRequest,
            "a legal hold needs a reason (a case or matter reference); give --reason",
        ));
    }
    if reason.len() > MAX_HOLD_REASON_BYTES {
        return Err(refuse(
            ErrorCode::TooLarge,
            format!("the reason is longer than {MAX_HOLD_REASON_BYTES} bytes; shorten it"),
        ));
    }
    let scope = scope_of(&scope)?;
    let info = session
        .shared
        .storage
        .set_legal_hold(a.caller(), scope, hold, reason)
        .await?;
    Ok(ResponseBody::Retention(info))
}

/// `GetRetention`: a scope's settings, and for a room the policy in force.
pub(super) async fn get_retention(session: &Arc<Session>, scope: RetentionScope) -> Reply {
    require_admin(session).await?;
    let scope = scope_of(&scope)?;
    let info = session.shared.storage.retention(scope).await?;
    Ok(ResponseBody::Retention(info))
}

/// `ListRetention`: every stored setting, rooms then organisations.
pub(super) async fn list_retention(session: &Arc<Session>) -> Reply {
    require_admin(session).await?;
    let out = session.shared.storage.retention_settings().await?;
    Ok(ResponseBody::RetentionList(out))
}

/// `PurgeNow`: one pass, answered with what it removed.
pub(super) async fn purge_now(session: &Arc<Session>) -> Reply {
    let a = require_admin(session).await?;
    let user = a.user;
    let actor = session
        .shared
        .storage
        .user_by_id(user)
        .await?
        .map(|u| AuthorRecord::of(user, &u))
        .ok_or_else(|| {
            refuse(
                ErrorCode::Unauthenticated,
                "your account is gone; log in again",
            )
        })?;
    let report = purge_pass(&session.shared, &actor).await?;
    Ok(ResponseBody::Purged(report))
}

/// One purge pass over every room whose policy is a keep period: a
/// writer job per batch of at most `[retention] batch` messages, each
/// recording one audit record (action `retention-purge`, with the seq
/// range and counts) in the same transaction as the purge, so no purge
/// goes unrecorded. `actor` is the admin who asked, or
/// [`retention_actor`] for the periodic job.
///
/// # Errors
/// Storage failures; what earlier jobs purged stays purged.
pub(crate) async fn purge_pass(
    shared: &Arc<Shared>,
    actor: &AuthorRecord,
) -> Result<PurgeReport, WriteError> {
    let (now, max) = {
        let config = shared.config.current();
        (
            crate::retention::now(config.retention_clock.as_ref()),
            config.retention.batch,
        )
    };
    let rooms = shared.storage.rooms_to_purge(now).await?;
    let mut report = PurgeReport {
        now: Timestamp(now),
        rooms: Vec::new(),
    };
    for room in rooms {
        let mut total: Option<RoomPurge> = None;
        loop {
            let b = shared
                .storage
                .purge_batch(actor.clone(), room, now, max)
                .await?;
            if b.messages > 0 {
                shared.metrics.retention_purged.inc_by(b.messages);
                if let Some(search) = &shared.search {
                    search.touched([room]);
                }
                let t = total.get_or_insert(RoomPurge {
                    room: RoomId(room),
                    first: Seq(b.first),
                    last: Seq(b.last),
                    messages: 0,
                    versions: 0,
                    files: 0,
                });
                t.last = Seq(b.last);
                t.messages += b.messages;
                t.versions += b.versions;
                t.files += b.files;
            }
            if b.done {
                break;
            }
        }
        report.rooms.extend(total);
    }
    // The purged files leave the blob store only now that their batches
    // committed (a pass that purged no file has none to remove, and does
    // not wait for a running backup).
    if report.rooms.iter().any(|r| r.files > 0) {
        crate::files::remove_unreferenced_blobs(shared).await?;
    }
    Ok(report)
}
