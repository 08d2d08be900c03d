//! Retention (server admins): keep periods and legal holds per room and
//! per organisation, the settings in force, and purge batches, each
//! audited in the transaction that makes it (`crate::store::retention`
//! holds the policy and the purge itself).

use super::Caller;
use super::audit::record as audit;
use super::rights::admin_actor;
use crate::store::kv::ReadTx;
use crate::store::records::AuthorRecord;
use crate::store::retention::{
    self as policy, Batch, HoldRecord, KeepRecord, RetentionRecord, RoomView, Scope, Source,
};
use crate::store::{WriteCtx, WriteError, query};
use chat_protocol::{
    EffectiveRetention, ErrorBody, ErrorCode, Keep, LegalHold, PolicySource, RetentionInfo,
    RetentionScope, RetentionSetting, RoomId, Seq, Timestamp,
};

fn refuse(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(code, message)
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

/// A server admin (`caller`, checked now) sets or clears the keep period
/// of `scope` (a room must exist); audited. Returns the settings now.
///
/// # Errors
/// `Unauthenticated`, `Forbidden`, `NotFound`; a storage failure.
pub fn set_keep(
    ctx: &mut WriteCtx<'_>,
    caller: Caller,
    scope: &Scope,
    keep: Option<KeepRecord>,
) -> Result<RetentionInfo, WriteError> {
    let actor = admin_actor(ctx, caller)?;
    let actor = AuthorRecord::of(caller.user, &actor);
    if let Scope::Room(room) = scope {
        ctx.room(*room)?.ok_or_else(|| no_room(*room))?;
    }
    policy::update(ctx, scope, |r| r.keep = keep)?;
    let (room, prefix) = audit_target(scope);
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
    info_in(ctx, scope)
}

/// A server admin (`caller`, checked now) sets (`hold`) or lifts the legal
/// hold of `scope` with `reason`; audited. Returns the settings now.
///
/// # Errors
/// `Unauthenticated`, `Forbidden`, `NotFound`; a storage failure.
pub fn set_hold(
    ctx: &mut WriteCtx<'_>,
    caller: Caller,
    scope: &Scope,
    hold: bool,
    reason: &str,
) -> Result<RetentionInfo, WriteError> {
    let actor = admin_actor(ctx, caller)?;
    let actor = AuthorRecord::of(caller.user, &actor);
    if let Scope::Room(room) = scope {
        ctx.room(*room)?.ok_or_else(|| no_room(*room))?;
    }
    let now = Timestamp::now().0;
    let by = actor.clone();
    let why = reason.to_owned();
    policy::update(ctx, scope, move |r| {
        r.hold = hold.then_some(HoldRecord {
            reason: why,
            by,
            at: now,
        });
    })?;
    let (room, prefix) = audit_target(scope);
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
    info_in(ctx, scope)
}

/// The settings of `scope`, and for a room the policy in force.
///
/// # Errors
/// `NotFound` for a missing room; a storage failure.
pub fn get(txn: &ReadTx, scope: &Scope) -> Result<RetentionInfo, WriteError> {
    match scope {
        Scope::Room(room) => {
            let r = crate::store::query::Reader::open(txn)?;
            match query::room(&r.rooms, *room)? {
                Some(rec) => Ok(room_info(
                    *room,
                    policy::view(txn, *room)?,
                    rec.purged_below,
                )),
                None => Err(no_room(*room).into()),
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
    }
}

/// Every stored retention setting, rooms then organisations.
///
/// # Errors
/// A storage failure.
pub fn settings(txn: &ReadTx) -> Result<Vec<RetentionSetting>, WriteError> {
    let (rooms, orgs) = policy::list(txn)?;
    let mut out: Vec<RetentionSetting> = rooms
        .iter()
        .map(|(id, r)| setting_wire(RetentionScope::Room(RoomId(*id)), Some(r)))
        .collect();
    out.extend(
        orgs.iter()
            .map(|r| setting_wire(RetentionScope::Org(r.name.clone()), Some(r))),
    );
    Ok(out)
}

/// The rooms whose policy is a keep period with messages older than it
/// at `now` (ms since the Unix epoch).
///
/// # Errors
/// A storage failure.
pub fn rooms_to_purge(txn: &ReadTx, now: u64) -> Result<Vec<u64>, WriteError> {
    Ok(policy::rooms_to_purge(txn, now)?)
}

/// Purges one batch of at most `max` messages of `room` older than its
/// keep period at `now`, recording one audit record by `actor` in the same
/// transaction; the blobs no message refers to any more are noted for
/// `ops::attachments::remove_doomed_blobs`, which the caller runs after
/// this job committed.
///
/// # Errors
/// A storage failure.
pub fn purge_batch(
    ctx: &mut WriteCtx<'_>,
    actor: &AuthorRecord,
    room: u64,
    now: u64,
    max: u32,
) -> Result<Batch, WriteError> {
    let b = policy::purge_batch(ctx, room, now, max)?;
    if b.messages > 0 {
        super::audit::record(
            ctx,
            actor,
            Some(room),
            None,
            "retention-purge",
            &audit_reason(&b),
        )?;
        // Removed from the blob store only after this job committed
        // (`ops::attachments::remove_doomed_blobs`).
        crate::store::files::doom(ctx, &b.blobs_gone)?;
    }
    Ok(b)
}
