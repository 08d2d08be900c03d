//! Contacts, blocks and presence visibility, and the notification list.
//!
//! Who sees whose presence (online, away, offline, last seen): a user sees
//! their own; anyone else sees it only if they share a room, or if each has
//! added the other as a contact, and neither blocks the other
//! ([`may_see_presence`]; the rule is explained in `handlers::social`).

use super::rooms::load_user;
use super::users::no_such_user;
use crate::store::kv::{KvRead, ReadTx};
use crate::store::query::{self, Reader};
use crate::store::records::*;
use crate::store::{StoreError, WriteCtx, WriteError};
use chat_protocol::{self as proto, ErrorBody, ErrorCode, Timestamp};
use std::collections::BTreeSet;

/// Most notifications one listing returns, newest first.
pub const MAX_LISTED_NOTIFICATIONS: usize = 500;

/// Who is told of a user's presence: their wire identity, their stored
/// last-seen time (ms since the Unix epoch) and the users who may see it.
pub type Watchers = (proto::Author, Option<u64>, BTreeSet<u64>);

/// A user found by a presence or contact read: id, wire identity, stored
/// last-seen time (ms since the Unix epoch).
pub type Seen = (u64, proto::Author, Option<u64>);

/// Whether `viewer` may see `user`'s presence and last-seen time (the rule
/// in the module doc).
///
/// # Errors
/// A storage error.
pub fn may_see_presence(r: &Reader, viewer: u64, user: u64) -> Result<bool, StoreError> {
    if viewer == user {
        return Ok(true);
    }
    if query::blocks(&r.blocks, viewer, user)? || query::blocks(&r.blocks, user, viewer)? {
        return Ok(false);
    }
    if r.contacts.get((viewer, user))?.is_some() && r.contacts.get((user, viewer))?.is_some() {
        return Ok(true);
    }
    for room in query::rooms_of(&r.user_rooms, viewer)? {
        if query::member(&r.members, room, user)?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The users who may see `user`'s presence (room peers and mutual
/// contacts, less blocks either way); `None` for a missing account.
///
/// # Errors
/// A storage failure.
pub fn watchers(txn: &ReadTx, user: u64) -> Result<Option<Watchers>, WriteError> {
    let r = Reader::open(txn)?;
    let Some(u) = query::user(&r.users, user)? else {
        return Ok(None);
    };
    let mut watchers = BTreeSet::new();
    for room in query::rooms_of(&r.user_rooms, user)? {
        for (member, _) in query::members(&r.members, room)? {
            watchers.insert(member);
        }
    }
    for entry in r.contact_of.range((user, 0)..=(user, u64::MAX))? {
        let owner = entry?.0.value().1;
        if r.contacts.get((user, owner))?.is_some() {
            watchers.insert(owner);
        }
    }
    let blocked = query::blocked_by(&r.blocks, user)?;
    let mut visible = BTreeSet::new();
    for w in watchers {
        if !blocked.contains(&w) && !query::blocks(&r.blocks, w, user)? {
            visible.insert(w);
        }
    }
    Ok(Some((
        AuthorRecord::of(user, &u).to_wire(),
        u.last_seen,
        visible,
    )))
}

/// Records now as `user`'s last-seen time (a missing account is skipped).
///
/// # Errors
/// A storage failure.
pub fn touch_last_seen(ctx: &mut WriteCtx<'_>, user: u64) -> Result<(), WriteError> {
    if let Some(mut u) = query::user(&ctx.users, user)? {
        u.last_seen = Some(Timestamp::now().0);
        ctx.users.insert(user, encode(&u)?.as_slice())?;
    }
    Ok(())
}

/// The users named in `usernames` whose presence `viewer` may see; the
/// others are left out, as unknown usernames are.
///
/// # Errors
/// A storage failure.
pub fn presence_of(
    txn: &ReadTx,
    viewer: u64,
    usernames: &[String],
) -> Result<Vec<Seen>, WriteError> {
    let r = &Reader::open(txn)?;
    let mut out = Vec::new();
    for name in usernames {
        if let Some(id) = query::user_id(&r.usernames, name)?
            && may_see_presence(r, viewer, id)?
            && let Some(u) = query::user(&r.users, id)?
        {
            out.push((id, AuthorRecord::of(id, &u).to_wire(), u.last_seen));
        }
    }
    Ok(out)
}

/// The wire identities of `ids` (`None` for a missing account), in order.
///
/// # Errors
/// A storage failure.
pub fn authors(txn: &ReadTx, ids: &[u64]) -> Result<Vec<Option<proto::Author>>, WriteError> {
    let r = Reader::open(txn)?;
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        out.push(query::user(&r.users, id)?.map(|u| AuthorRecord::of(id, &u).to_wire()));
    }
    Ok(out)
}

/// Resolves a username inside a writer job, refusing the caller themself.
fn other_user(ctx: &WriteCtx<'_>, me: u64, username: &str) -> Result<u64, WriteError> {
    let id = query::user_id(&ctx.usernames, username)?.ok_or_else(|| no_such_user(username))?;
    if id == me {
        return Err(ErrorBody::new(ErrorCode::BadRequest, "that is you; name another user").into());
    }
    Ok(id)
}

/// `user` adds `username` as a contact (a no-op if already one), and the
/// contact is notified.
///
/// # Errors
/// `NotFound`, `BadRequest` (yourself); a storage failure.
pub fn add_contact(ctx: &mut WriteCtx<'_>, user: u64, username: &str) -> Result<(), WriteError> {
    let id = other_user(ctx, user, username)?;
    if ctx.contacts.get((user, id))?.is_some() {
        return Ok(());
    }
    ctx.contacts.insert((user, id), Timestamp::now().0)?;
    ctx.contact_of.insert((id, user), ())?;
    let me = load_user(ctx, user)?;
    super::notifications::notify(
        ctx,
        id,
        &AuthorRecord::of(user, &me),
        NotificationKindRecord::ContactAdded,
    )?;
    Ok(())
}

/// `user` removes `username` from their contacts.
///
/// # Errors
/// `NotFound`, `BadRequest` (yourself); a storage failure.
pub fn remove_contact(ctx: &mut WriteCtx<'_>, user: u64, username: &str) -> Result<(), WriteError> {
    let id = other_user(ctx, user, username)?;
    ctx.contacts.remove((user, id))?;
    ctx.contact_of.remove((id, user))?;
    Ok(())
}

/// `user`'s contacts, each with whether `user` may see their presence.
///
/// # Errors
/// A storage failure.
pub fn contacts(txn: &ReadTx, user: u64) -> Result<Vec<(Seen, bool)>, WriteError> {
    let r = &Reader::open(txn)?;
    let mut out = Vec::new();
    for entry in r.contacts.range((user, 0)..=(user, u64::MAX))? {
        let id = entry?.0.value().1;
        if let Some(u) = query::user(&r.users, id)? {
            let visible = may_see_presence(r, user, id)?;
            out.push((
                (id, AuthorRecord::of(id, &u).to_wire(), u.last_seen),
                visible,
            ));
        }
    }
    Ok(out)
}

/// `user` blocks (or, with `blocked` false, unblocks) `username`; returns
/// that user's id.
///
/// # Errors
/// `NotFound`, `BadRequest` (yourself); a storage failure.
pub fn set_blocked(
    ctx: &mut WriteCtx<'_>,
    user: u64,
    username: &str,
    blocked: bool,
) -> Result<u64, WriteError> {
    let id = other_user(ctx, user, username)?;
    if blocked {
        ctx.blocks.insert((user, id), ())?;
    } else {
        ctx.blocks.remove((user, id))?;
    }
    Ok(id)
}

/// The ids of the users `user` blocks.
///
/// # Errors
/// A storage failure.
pub fn blocked_ids(txn: &ReadTx, user: u64) -> Result<std::collections::HashSet<u64>, WriteError> {
    Ok(query::blocked_by(&Reader::open(txn)?.blocks, user)?)
}

/// The accounts `user` blocks.
///
/// # Errors
/// A storage failure.
pub fn blocked_users(txn: &ReadTx, user: u64) -> Result<Vec<proto::UserInfo>, WriteError> {
    let r = Reader::open(txn)?;
    let mut out = Vec::new();
    for id in query::blocked_by(&r.blocks, user)? {
        if let Some(u) = query::user(&r.users, id)? {
            out.push(u.to_wire(id));
        }
    }
    Ok(out)
}

/// `user`'s notifications, newest first (only unread ones with
/// `unread_only`; at most [`MAX_LISTED_NOTIFICATIONS`]), and how many are
/// unread in all.
///
/// # Errors
/// A storage failure.
pub fn notifications(
    txn: &ReadTx,
    user: u64,
    unread_only: bool,
) -> Result<(Vec<proto::Notification>, u64), WriteError> {
    let r = Reader::open(txn)?;
    let mut items = Vec::new();
    let mut unread = 0;
    for entry in r.notifications.range((user, 0)..=(user, u64::MAX))?.rev() {
        let (k, v) = entry?;
        let n: NotificationRecord = decode(v.value())?;
        if !n.read {
            unread += 1;
        }
        if (!unread_only || !n.read) && items.len() < MAX_LISTED_NOTIFICATIONS {
            items.push(super::notifications::to_wire(k.value().1, &n));
        }
    }
    Ok((items, unread))
}

/// Marks `user`'s notifications with id `<= up_to` read.
///
/// # Errors
/// A storage failure.
pub fn mark_notifications_read(
    ctx: &mut WriteCtx<'_>,
    user: u64,
    up_to: u64,
) -> Result<(), WriteError> {
    let mut changed = Vec::new();
    for entry in ctx.notifications.range((user, 0)..=(user, up_to))? {
        let (k, v) = entry?;
        let mut n: NotificationRecord = decode(v.value())?;
        if !n.read {
            n.read = true;
            changed.push((k.value().1, n));
        }
    }
    for (id, n) in changed {
        ctx.notifications
            .insert((user, id), encode(&n)?.as_slice())?;
    }
    Ok(())
}
