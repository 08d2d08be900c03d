//! Retention requests (server admins): keep periods and legal holds per
//! room and per organisation, the settings in force, and a purge pass on
//! demand. The pass itself is here too, shared with the periodic job
//! (`crate::retention::purge_forever`): one writer job per batch, each
//! batch audited in its own transaction.

use super::access::admin_actor;
use super::notify::audit;
use super::{Reply, refuse, require_admin};
use crate::session::Session;
use crate::shared::Shared;
use crate::store::WriteCtx;
use crate::store::WriteError;
use crate::store::query;
use crate::store::records::AuthorRecord;
use crate::store::retention::{
    self as policy, Batch, HoldRecord, KeepRecord, RetentionRecord, RoomView, Scope, Source,
};
use chat_protocol::retention::{MAX_HOLD_REASON_BYTES, MAX_KEEP_DAYS};
use chat_protocol::{
    EffectiveRetention, ErrorBody, ErrorCode, Keep, LegalHold, PolicySource, PurgeReport,
    ResponseBody, RetentionInfo, RetentionScope, RetentionSetting, RoomId, RoomPurge, Seq,
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

fn keep_wire(k: KeepRecord) -> Keep {
    match k {
        KeepRecord::Forever => Keep::Forever,
        KeepRecord::Days(d) => Keep::Days(d),
    }
}

fn source_wire(s: Source) -> PolicySource {
    match s {
        Source::RoomHold => PolicySource::RoomHold,
        Source::OrgHold => PolicySource::OrgHold,
        Source::Room => PolicySource::Room,
        Source::Org => PolicySource::Org,
        Source::Default => PolicySource::Default,
    }
}

fn describe_keep(k: Option<KeepRecord>) -> String {
    match k {
        None => "no keep period (the next level decides)".into(),
        Some(KeepRecord::Forever) => "keep forever".into(),
        Some(KeepRecord::Days(d)) => format!("keep {d} days"),
    }
}

fn setting_wire(scope: RetentionScope, rec: Option<&RetentionRecord>) -> RetentionSetting {
    let scope = match (scope, rec) {
        (RetentionScope::Org(_), Some(r)) if !r.name.is_empty() => {
            RetentionScope::Org(r.name.clone())
        }
        (s, _) => s,
    };
    RetentionSetting {
        scope,
        keep: rec.and_then(|r| r.keep).map(keep_wire),
        hold: rec.and_then(|r| r.hold.as_ref()).map(|h| LegalHold {
            reason: h.reason.clone(),
            by: h.by.to_wire(),
            at: Timestamp(h.at),
        }),
    }
}

fn room_info(room: u64, view: RoomView, purged_below: u64) -> RetentionInfo {
    RetentionInfo {
        setting: setting_wire(RetentionScope::Room(RoomId(room)), view.room.as_ref()),
        org: Some(setting_wire(
            RetentionScope::Org(view.org.clone()),
            view.org_setting.as_ref(),
        )),
        effective: Some(EffectiveRetention {
            room: RoomId(room),
            org: view.org,
            keep: keep_wire(view.policy.keep),
            held: view.policy.held,
            source: source_wire(view.policy.source),
            purged_below: Seq(purged_below),
        }),
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

fn no_room(room: u64) -> ErrorBody {
    refuse(
        ErrorCode::NotFound,
        format!("there is no room with id {room}; check the name with `chatctl room list --all`"),
    )
}

/// The settings of `scope` as this transaction sees them; a room must exist.
fn info_in(ctx: &WriteCtx<'_>, scope: &Scope) -> Result<RetentionInfo, WriteError> {
    match scope {
        Scope::Room(room) => {
            let rec = ctx.room(*room)?.ok_or_else(|| no_room(*room))?;
            Ok(room_info(
                *room,
                policy::view_in(ctx, *room)?,
                rec.purged_below,
            ))
        }
        Scope::Org(name) => {
            let rec = policy::org_setting_in(ctx, name)?;
            Ok(RetentionInfo {
                setting: setting_wire(RetentionScope::Org(name.clone()), rec.as_ref()),
                org: None,
                effective: None,
            })
        }
    }
}

/// Where an audit record of `scope` goes, and the prefix of its reason.
fn audit_target(scope: &Scope) -> (Option<u64>, String) {
    match scope {
        Scope::Room(r) => (Some(*r), String::new()),
        Scope::Org(name) => (None, format!("organisation {name:?}: ")),
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
        .write(move |ctx| {
            let actor = admin_actor(ctx, &a)?;
            let actor = AuthorRecord::of(a.user, &actor);
            if let Scope::Room(room) = &scope {
                ctx.room(*room)?.ok_or_else(|| no_room(*room))?;
            }
            policy::update(ctx, &scope, |r| r.keep = keep)?;
            let (room, prefix) = audit_target(&scope);
            let action = if keep.is_some() {
                "retention-set"
            } else {
                "retention-clear"
            };
            audit(
                ctx,
                &actor,
                room,
                None,
                action,
                &format!("{prefix}{}", describe_keep(keep)),
            )?;
            info_in(ctx, &scope)
        })
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
        .write(move |ctx| {
            let actor = admin_actor(ctx, &a)?;
            let actor = AuthorRecord::of(a.user, &actor);
            if let Scope::Room(room) = &scope {
                ctx.room(*room)?.ok_or_else(|| no_room(*room))?;
            }
            let now = Timestamp::now().0;
            let by = actor.clone();
            let why = reason.clone();
            policy::update(ctx, &scope, move |r| {
                r.hold = hold.then_some(HoldRecord {
                    reason: why,
                    by,
                    at: now,
                });
            })?;
            let (room, prefix) = audit_target(&scope);
            let action = if hold {
                "legal-hold"
            } else {
                "legal-hold-release"
            };
            audit(
                ctx,
                &actor,
                room,
                None,
                action,
                &format!("{prefix}{reason}"),
            )?;
            info_in(ctx, &scope)
        })
        .await?;
    Ok(ResponseBody::Retention(info))
}

/// `GetRetention`: a scope's settings, and for a room the policy in force.
pub(super) async fn get_retention(session: &Arc<Session>, scope: RetentionScope) -> Reply {
    require_admin(session).await?;
    let scope = scope_of(&scope)?;
    let info = session
        .shared
        .store
        .read(move |txn| {
            Ok(match &scope {
                Scope::Room(room) => {
                    let r = crate::store::query::Reader::open(txn)?;
                    match query::room(&r.rooms, *room)? {
                        Some(rec) => Ok(room_info(
                            *room,
                            policy::view(txn, *room)?,
                            rec.purged_below,
                        )),
                        None => Err(no_room(*room)),
                    }
                }
                Scope::Org(name) => {
                    let rec = policy::org_setting(txn, name)?;
                    Ok(RetentionInfo {
                        setting: setting_wire(RetentionScope::Org(name.clone()), rec.as_ref()),
                        org: None,
                        effective: None,
                    })
                }
            })
        })
        .await??;
    Ok(ResponseBody::Retention(info))
}

/// `ListRetention`: every stored setting, rooms then organisations.
pub(super) async fn list_retention(session: &Arc<Session>) -> Reply {
    require_admin(session).await?;
    let (rooms, orgs) = session.shared.store.read(policy::list).await?;
    let mut out: Vec<RetentionSetting> = rooms
        .iter()
        .map(|(id, r)| setting_wire(RetentionScope::Room(RoomId(*id)), Some(r)))
        .collect();
    out.extend(
        orgs.iter()
            .map(|r| setting_wire(RetentionScope::Org(r.name.clone()), Some(r))),
    );
    Ok(ResponseBody::RetentionList(out))
}

/// `PurgeNow`: one pass, answered with what it removed.
pub(super) async fn purge_now(session: &Arc<Session>) -> Reply {
    let a = require_admin(session).await?;
    let user = a.user;
    let actor = session
        .read(move |r| query::user(&r.users, user))
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

fn audit_reason(b: &Batch) -> String {
    let source = b.source.map_or("policy", Source::name);
    format!(
        "purged {} messages, seq {}..={} (older than {} by the {source} of {} days); {} edit \
         versions and {} files removed",
        b.messages,
        b.first,
        b.last,
        Timestamp(b.cutoff),
        b.days,
        b.versions,
        b.files
    )
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
    let rooms = shared
        .store
        .read(move |txn| policy::rooms_to_purge(txn, now))
        .await?;
    let mut report = PurgeReport {
        now: Timestamp(now),
        rooms: Vec::new(),
    };
    for room in rooms {
        let mut total: Option<RoomPurge> = None;
        loop {
            let blobs = shared.files.blobs.clone();
            let actor = actor.clone();
            let b = shared
                .store
                .writer()
                .write(move |ctx| {
                    let b = policy::purge_batch(ctx, room, now, max)?;
                    if b.messages > 0 {
                        audit(
                            ctx,
                            &actor,
                            Some(room),
                            None,
                            "retention-purge",
                            &audit_reason(&b),
                        )?;
                        // Last, once nothing in this job can fail: as the
                        // file collector does, so no upload races the removal.
                        for hash in &b.blobs_gone {
                            if let Err(e) = blobs.remove(hash) {
                                tracing::warn!(error = %e, hash, "cannot remove a purged blob");
                            }
                        }
                    }
                    Ok(b)
                })
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
    Ok(report)
}
