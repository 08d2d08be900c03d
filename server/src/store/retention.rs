//! Retention policies and the purge of one bounded batch.
//!
//! Settings live in [`ROOM_RETENTION`] and [`ORG_RETENTION`]. A room's
//! effective policy is decided by [`resolve`]: a legal hold on the room or
//! its organisation wins, then the room's keep period, then the
//! organisation's, then the default, keep forever. A room's organisation
//! is the one its creator had at creation, read from the room's `Created`
//! event (seq 1), so it never changes.
//!
//! [`purge_batch`] runs inside a writer job. It walks the room in seq
//! order from [`RoomRecord::purged_below`](super::records::RoomRecord),
//! turns every message older than the cutoff into an
//! [`EventKindRecord::Purged`] stub (its edits too), removes its versions
//! and attachment records, and stops at the first message still inside
//! the limit. Everything below `purged_below` is therefore purged, which
//! is what lets the search indexer drop a room's purged documents with one
//! range delete. Imported history older than messages after it waits
//! until the walk reaches it.

use super::files;
use super::kv::{KvKey, KvRead, ReadTx};
use super::query::{self, Blob};
use super::records::{AuthorRecord, EventKindRecord, EventRecord, VersionRecord, decode, encode};
use super::tables::{EVENTS, ORG_RETENTION, ROOM_RETENTION, ROOMS};
use super::{StoreError, WriteCtx, WriteError};
use serde::{Deserialize, Serialize};

/// One retention day, in ms (24 hours; no calendar, no time zone).
pub const DAY_MS: u64 = 86_400_000;

/// A keep period as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeepRecord {
    /// Never purged.
    Forever,
    /// Purged once older than this many days.
    Days(u32),
}

/// A legal hold as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldRecord {
    /// Why, as given.
    pub reason: String,
    /// Who set it.
    pub by: AuthorRecord,
    /// When, ms.
    pub at: u64,
}

/// The retention settings of one room or organisation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RetentionRecord {
    /// For an organisation: its name as first set (the key is normalised).
    /// Empty for rooms.
    #[serde(default)]
    pub name: String,
    /// The keep period set at this level, if any.
    #[serde(default)]
    pub keep: Option<KeepRecord>,
    /// The legal hold set at this level, if any.
    #[serde(default)]
    pub hold: Option<HoldRecord>,
}

impl RetentionRecord {
    fn is_empty(&self) -> bool {
        self.keep.is_none() && self.hold.is_none()
    }
}

/// Which level decided a room's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A hold on the room.
    RoomHold,
    /// A hold on the room's organisation.
    OrgHold,
    /// The room's keep period.
    Room,
    /// The organisation's keep period.
    Org,
    /// Nothing set: keep forever.
    Default,
}

impl Source {
    /// The lower-case name used in audit records and logs.
    pub fn name(self) -> &'static str {
        match self {
            Source::RoomHold => "room legal hold",
            Source::OrgHold => "organisation legal hold",
            Source::Room => "room policy",
            Source::Org => "organisation policy",
            Source::Default => "server default",
        }
    }
}

/// A room's effective policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The keep period in force ([`KeepRecord::Forever`] under a hold).
    pub keep: KeepRecord,
    /// Whether a legal hold stops every purge.
    pub held: bool,
    /// Which level decided.
    pub source: Source,
}

impl Policy {
    /// The keep period in days when the room is purged at all.
    pub fn purge_days(self) -> Option<u32> {
        match (self.held, self.keep) {
            (false, KeepRecord::Days(d)) => Some(d),
            _ => None,
        }
    }
}

/// The effective policy from a room's and its organisation's settings:
/// room hold, organisation hold, room keep period, organisation keep
/// period, then keep forever (tests: `retention_order_*` below and
/// `e2e::retention::effective_policy_order_hold_room_org_default`).
pub fn resolve(room: Option<&RetentionRecord>, org: Option<&RetentionRecord>) -> Policy {
    let held = |s: Source| Policy {
        keep: KeepRecord::Forever,
        held: true,
        source: s,
    };
    if room.is_some_and(|r| r.hold.is_some()) {
        return held(Source::RoomHold);
    }
    if org.is_some_and(|r| r.hold.is_some()) {
        return held(Source::OrgHold);
    }
    if let Some(keep) = room.and_then(|r| r.keep) {
        return Policy {
            keep,
            held: false,
            source: Source::Room,
        };
    }
    if let Some(keep) = org.and_then(|r| r.keep) {
        return Policy {
            keep,
            held: false,
            source: Source::Org,
        };
    }
    Policy {
        keep: KeepRecord::Forever,
        held: false,
        source: Source::Default,
    }
}

/// The key an organisation's settings are stored under: trimmed, NFKC,
/// lower case, as the search index matches organisations.
pub fn org_key(org: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    org.trim().nfkc().collect::<String>().to_lowercase()
}

/// What a setting applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A room by id.
    Room(u64),
    /// An organisation by name (any form; stored under [`org_key`]).
    Org(String),
}

/// Creates the retention tables if missing (called once at open).
///
/// # Errors
/// A storage error.
pub(super) fn create_tables(db: &redb::Database) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        txn.open_table(ROOM_RETENTION)?;
        txn.open_table(ORG_RETENTION)?;
    }
    txn.commit()?;
    Ok(())
}

fn read_record<K: KvKey>(
    t: &impl KvRead<K, Blob>,
    key: K::SelfType<'_>,
) -> Result<Option<RetentionRecord>, StoreError> {
    match t.get(key)? {
        Some(v) => Ok(Some(decode(v.value())?)),
        None => Ok(None),
    }
}

/// The organisation of `room`: its creator's at creation, from the
/// `Created` event; empty when the room has none.
///
/// # Errors
/// A storage error or a corrupt record.
pub fn room_org(events: &impl KvRead<(u64, u64), Blob>, room: u64) -> Result<String, StoreError> {
    Ok(match query::events(events, room, 1, 1, 1)?.pop() {
        Some((_, ev)) if matches!(ev.kind, EventKindRecord::Created { .. }) => ev.sender.org,
        _ => String::new(),
    })
}

/// Settings of a room, its organisation and their effective policy.
#[derive(Debug, Clone)]
pub struct RoomView {
    /// The room's own settings.
    pub room: Option<RetentionRecord>,
    /// The room's organisation, as recorded.
    pub org: String,
    /// The organisation's settings.
    pub org_setting: Option<RetentionRecord>,
    /// The policy in force.
    pub policy: Policy,
}

fn room_view(
    rooms: &impl KvRead<u64, Blob>,
    orgs: &impl KvRead<&'static str, Blob>,
    events: &impl KvRead<(u64, u64), Blob>,
    room: u64,
) -> Result<RoomView, StoreError> {
    let own = read_record(rooms, room)?;
    let org = room_org(events, room)?;
    let org_setting = read_record(orgs, org_key(&org).as_str())?;
    let policy = resolve(own.as_ref(), org_setting.as_ref());
    Ok(RoomView {
        room: own,
        org,
        org_setting,
        policy,
    })
}

/// A room's settings and effective policy as last committed.
///
/// # Errors
/// A storage error or a corrupt record.
pub fn view(txn: &ReadTx, room: u64) -> Result<RoomView, StoreError> {
    room_view(
        &txn.open_table(ROOM_RETENTION)?,
        &txn.open_table(ORG_RETENTION)?,
        &txn.open_table(EVENTS)?,
        room,
    )
}

/// A room's settings and effective policy inside a writer job.
///
/// # Errors
/// Storage failures.
pub fn view_in(ctx: &WriteCtx<'_>, room: u64) -> Result<RoomView, WriteError> {
    let rooms = ctx.txn.open_table(ROOM_RETENTION)?;
    let orgs = ctx.txn.open_table(ORG_RETENTION)?;
    Ok(room_view(&rooms, &orgs, &ctx.events, room)?)
}

/// An organisation's settings as last committed.
///
/// # Errors
/// A storage error or a corrupt record.
pub fn org_setting(txn: &ReadTx, org: &str) -> Result<Option<RetentionRecord>, StoreError> {
    read_record(&txn.open_table(ORG_RETENTION)?, org_key(org).as_str())
}

/// An organisation's settings inside a writer job.
///
/// # Errors
/// Storage failures.
pub fn org_setting_in(
    ctx: &WriteCtx<'_>,
    org: &str,
) -> Result<Option<RetentionRecord>, WriteError> {
    let t = ctx.txn.open_table(ORG_RETENTION)?;
    Ok(read_record(&t, org_key(org).as_str())?)
}

/// Every stored setting: rooms by id, then organisations by key.
///
/// # Errors
/// A storage error or a corrupt record.
#[allow(clippy::type_complexity)]
pub fn list(
    txn: &ReadTx,
) -> Result<(Vec<(u64, RetentionRecord)>, Vec<RetentionRecord>), StoreError> {
    let mut rooms = Vec::new();
    for entry in txn.open_table(ROOM_RETENTION)?.iter()? {
        let (k, v) = entry?;
        rooms.push((k.value(), decode(v.value())?));
    }
    let mut orgs = Vec::new();
    for entry in txn.open_table(ORG_RETENTION)?.iter()? {
        orgs.push(decode(entry?.1.value())?);
    }
    Ok((rooms, orgs))
}

/// Events a pass reads past a room's `purged_below` looking for its
/// oldest unpurged message before it leaves the decision to the writer job.
const PEEK_EVENTS: usize = 256;

/// The rooms a purge pass must visit at time `now` (ms): those whose
/// effective policy is a keep period with no hold and whose oldest
/// unpurged message is past it (or not found within [`PEEK_EVENTS`]
/// events), so a pass submits no writer job for a room with nothing to
/// purge. Empty at once when no setting names a keep period in days (the
/// default, keep forever, purges nothing).
///
/// # Errors
/// A storage error or a corrupt record.
pub fn rooms_to_purge(txn: &ReadTx, now: u64) -> Result<Vec<u64>, StoreError> {
    let (rooms, orgs) = list(txn)?;
    let any_days = rooms
        .iter()
        .map(|(_, r)| r)
        .chain(orgs.iter())
        .any(|r| matches!(r.keep, Some(KeepRecord::Days(_))));
    if !any_days {
        return Ok(Vec::new());
    }
    let settings = txn.open_table(ROOM_RETENTION)?;
    let org_settings = txn.open_table(ORG_RETENTION)?;
    let events = txn.open_table(EVENTS)?;
    let mut out = Vec::new();
    for entry in txn.open_table(ROOMS)?.iter()? {
        let (k, v) = entry?;
        let room = k.value();
        let Some(days) = room_view(&settings, &org_settings, &events, room)?
            .policy
            .purge_days()
        else {
            continue;
        };
        let record: super::records::RoomRecord = decode(v.value())?;
        let cutoff = now.saturating_sub(u64::from(days).saturating_mul(DAY_MS));
        let from = record.purged_below.max(1);
        if from > record.head {
            continue;
        }
        let peek = query::events(&events, room, from, record.head, PEEK_EVENTS)?;
        let oldest = peek
            .iter()
            .find(|(_, e)| matches!(e.kind, EventKindRecord::Message { .. }));
        match oldest {
            Some((_, e)) if e.ts >= cutoff => {}
            None if peek.len() < PEEK_EVENTS => {}
            _ => out.push(room),
        }
    }
    Ok(out)
}

/// Changes the settings of `scope` with `change` and stores them (an
/// empty record is removed). Returns the new settings.
///
/// # Errors
/// Storage failures.
pub fn update(
    ctx: &mut WriteCtx<'_>,
    scope: &Scope,
    change: impl FnOnce(&mut RetentionRecord),
) -> Result<RetentionRecord, WriteError> {
    match scope {
        Scope::Room(room) => {
            let mut t = ctx.txn.open_table(ROOM_RETENTION)?;
            let mut rec = read_record(&t, *room)?.unwrap_or_default();
            change(&mut rec);
            if rec.is_empty() {
                t.remove(*room)?;
            } else {
                t.insert(*room, encode(&rec)?.as_slice())?;
            }
            Ok(rec)
        }
        Scope::Org(name) => {
            let key = org_key(name);
            let mut t = ctx.txn.open_table(ORG_RETENTION)?;
            let mut rec = read_record(&t, key.as_str())?.unwrap_or_default();
            if rec.name.is_empty() {
                rec.name = name.trim().to_owned();
            }
            change(&mut rec);
            if rec.is_empty() {
                t.remove(key.as_str())?;
            } else {
                t.insert(key.as_str(), encode(&rec)?.as_slice())?;
            }
            Ok(rec)
        }
    }
}

/// What one [`purge_batch`] did in one room.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Lowest purged message seq (0 when none).
    pub first: u64,
    /// Highest purged message seq.
    pub last: u64,
    /// Messages purged.
    pub messages: u64,
    /// Edit versions removed.
    pub versions: u64,
    /// Attachment records removed.
    pub files: u64,
    /// Content hashes no attachment record names any more: the caller
    /// removes these blobs inside the same job.
    pub blobs_gone: Vec<String>,
    /// Whether the room has nothing more to purge now.
    pub done: bool,
    /// The keep period applied, in days (0 when the room is not purged).
    pub days: u32,
    /// Which level decided it.
    pub source: Option<Source>,
    /// Messages older than this time (ms) were purged.
    pub cutoff: u64,
}

/// Purges at most `max_messages` messages of `room` older than `now`
/// minus its keep period, re-reading the policy in this transaction so a
/// hold committed before it is always honoured. Examines at most
/// `8 * max_messages` events (at least 64), so one job stays short
/// whatever the room holds. Repeat until [`Batch::done`].
///
/// # Errors
/// Storage failures.
pub fn purge_batch(
    ctx: &mut WriteCtx<'_>,
    room_id: u64,
    now: u64,
    max_messages: u32,
) -> Result<Batch, WriteError> {
    let mut batch = Batch {
        done: true,
        ..Batch::default()
    };
    let Some(mut room) = ctx.room(room_id)? else {
        return Ok(batch);
    };
    let policy = view_in(ctx, room_id)?.policy;
    let Some(days) = policy.purge_days() else {
        return Ok(batch);
    };
    let cutoff = now.saturating_sub(u64::from(days).saturating_mul(DAY_MS));
    batch.days = days;
    batch.source = Some(policy.source);
    batch.cutoff = cutoff;
    let from = room.purged_below.max(1);
    if from > room.head {
        return Ok(batch);
    }
    let max_events = (max_messages as usize).saturating_mul(8).max(64);
    let events = query::events(&ctx.events, room_id, from, room.head, max_events)?;
    let mut next = from;
    let mut stopped = false;
    for (seq, ev) in events {
        if matches!(ev.kind, EventKindRecord::Message { .. }) {
            if ev.ts >= cutoff {
                stopped = true;
                break;
            }
            if batch.messages >= u64::from(max_messages) {
                break;
            }
            purge_message(ctx, room_id, seq, ev, now, room.head, &mut batch)?;
        }
        next = seq + 1;
    }
    batch.done = stopped || next > room.head;
    if next > room.purged_below {
        room.purged_below = next;
        ctx.put_room(room_id, &room);
    }
    Ok(batch)
}

/// Replaces the message at `seq` (and each of its edits) with a stub and
/// removes its versions and attachment records.
fn purge_message(
    ctx: &mut WriteCtx<'_>,
    room: u64,
    seq: u64,
    ev: EventRecord,
    now: u64,
    head: u64,
    batch: &mut Batch,
) -> Result<(), WriteError> {
    let EventKindRecord::Message {
        id, attachments, ..
    } = &ev.kind
    else {
        return Ok(());
    };
    let mut versions = Vec::new();
    let mut edits = Vec::new();
    let mut complete = true;
    for entry in ctx.versions.range((room, seq, 0)..=(room, seq, u32::MAX))? {
        let (k, v) = entry?;
        let v: VersionRecord = decode(v.value())?;
        versions.push(k.value().2);
        match v.edit_seq {
            Some(s) => edits.push(s),
            None => complete = false,
        }
    }
    if !complete {
        // Versions from before `edit_seq` was kept: find the edits by scan.
        edits.clear();
        for entry in ctx.events.range((room, seq + 1)..=(room, head))? {
            let (k, v) = entry?;
            let e: EventRecord = decode(v.value())?;
            if matches!(e.kind, EventKindRecord::Edited { target, .. } if target == seq) {
                edits.push(k.value().1);
            }
        }
    }
    for n in &versions {
        ctx.versions.remove((room, seq, *n))?;
    }
    for edit in edits {
        let Some((_, e)) = query::events(&ctx.events, room, edit, edit, 1)?.pop() else {
            continue;
        };
        if matches!(e.kind, EventKindRecord::Edited { target, .. } if target == seq) {
            let stub = EventRecord {
                ts: e.ts,
                sender: e.sender,
                kind: EventKindRecord::Purged {
                    edit_of: Some(seq),
                    at: now,
                    id: String::new(),
                },
            };
            ctx.events.insert((room, edit), encode(&stub)?.as_slice())?;
        }
    }
    let ids: Vec<u64> = attachments.iter().map(|a| a.id).collect();
    let (files, gone) = files::release(ctx, &ids)?;
    let stub = EventRecord {
        ts: ev.ts,
        sender: ev.sender,
        kind: EventKindRecord::Purged {
            edit_of: None,
            at: now,
            id: id.clone(),
        },
    };
    ctx.events.insert((room, seq), encode(&stub)?.as_slice())?;
    if batch.messages == 0 {
        batch.first = seq;
    }
    batch.last = seq;
    batch.messages += 1;
    batch.versions += versions.len() as u64;
    batch.files += files;
    batch.blobs_gone.extend(gone);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;

    fn keep(days: Option<u32>) -> RetentionRecord {
        RetentionRecord {
            keep: Some(days.map_or(KeepRecord::Forever, KeepRecord::Days)),
            ..RetentionRecord::default()
        }
    }

    fn held(mut r: RetentionRecord) -> RetentionRecord {
        r.hold = Some(HoldRecord {
            reason: "case 7".into(),
            by: AuthorRecord {
                id: 1,
                username: "root".into(),
                display_name: String::new(),
                org: String::new(),
            },
            at: 0,
        });
        r
    }

    #[test]
    fn retention_order_nothing_set_keeps_forever() {
        let p = resolve(None, None);
        assert_eq!(
            (p.keep, p.held, p.source),
            (KeepRecord::Forever, false, Source::Default)
        );
        assert_eq!(p.purge_days(), None);
    }

    #[test]
    fn retention_order_room_beats_org() {
        let p = resolve(Some(&keep(Some(30))), Some(&keep(Some(7))));
        assert_eq!((p.purge_days(), p.source), (Some(30), Source::Room));
        let p = resolve(Some(&keep(None)), Some(&keep(Some(7))));
        assert_eq!((p.purge_days(), p.source), (None, Source::Room));
        let p = resolve(Some(&RetentionRecord::default()), Some(&keep(Some(7))));
        assert_eq!((p.purge_days(), p.source), (Some(7), Source::Org));
    }

    #[test]
    fn retention_order_any_hold_beats_every_keep_period() {
        let p = resolve(Some(&held(keep(Some(1)))), Some(&keep(Some(1))));
        assert_eq!(
            (p.purge_days(), p.held, p.source),
            (None, true, Source::RoomHold)
        );
        let p = resolve(Some(&keep(Some(1))), Some(&held(keep(Some(1)))));
        assert_eq!(
            (p.purge_days(), p.held, p.source),
            (None, true, Source::OrgHold)
        );
    }

    #[test]
    fn org_keys_ignore_case_width_and_spaces() {
        assert_eq!(org_key("  Ward 3 "), org_key("ward 3"));
        assert_eq!(org_key("ＷＡＲＤ"), "ward");
    }
}
