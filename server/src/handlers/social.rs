//! Presence, contacts, blocking and notifications.
//!
//! Who sees whose presence (online, away, offline, last seen): a user sees
//! their own; anyone else sees it only if they share a room, or if each has
//! added the other as a contact, and neither blocks the other. Adding a
//! contact needs no consent (as in Signal and KakaoTalk) but shares nothing
//! until the other side adds you back; a block hides presence both ways.
//! The same rule decides who gets presence announcements
//! ([`announce_presence`]), who `GetPresence` answers about, and what
//! `ListContacts` shows (tests: `e2e::security::presence_*`).

use super::account::no_such_user;
use super::{Reply, refuse};
use crate::session::Session;
use crate::shared::Shared;
use crate::store::query::{self, Reader};
use crate::store::records::*;
use crate::store::{StoreError, WriteError};
use chat_protocol::{self as proto, ErrorCode, Presence, ResponseBody, Timestamp};
use redb::ReadableTable;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Tells everyone who may see `user` that their presence is now `state`.
/// Runs in the background; a failure is logged, not reported.
pub(crate) fn announce_presence(shared: Arc<Shared>, user: u64, state: Presence) {
    tokio::spawn(async move {
        let found = shared
            .store
            .read(move |txn| {
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
                let watchers = visible;
                Ok(Some((
                    AuthorRecord::of(user, &u).to_wire(),
                    u.last_seen,
                    watchers,
                )))
            })
            .await;
        let (author, stored, watchers) = match found {
            Ok(Some(f)) => f,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot announce presence");
                return;
            }
        };
        let (_, last_seen) = shared.presence.get(user, stored);
        let event = proto::UserEvent::Presence(proto::PresenceInfo {
            user: author,
            presence: state,
            last_seen,
        });
        let Ok(frame) = proto::frame::encode(&event) else {
            return;
        };
        for w in watchers {
            shared.hub.publish_user(w, frame.clone());
        }
    });
}

/// Records `user`'s last-seen time on their account, in the background.
pub(crate) fn persist_last_seen(shared: &Arc<Shared>, user: u64) {
    let rx = shared.store.writer().submit(move |ctx| {
        if let Some(mut u) = query::user(&ctx.users, user)? {
            u.last_seen = Some(Timestamp::now().0);
            ctx.users.insert(user, encode(&u)?.as_slice())?;
        }
        Ok(())
    });
    tokio::spawn(async move {
        if let Ok(Err(e)) = rx.await {
            tracing::debug!(error = %e, "cannot record last-seen");
        }
    });
}

pub(super) async fn set_away(session: &Arc<Session>, away: bool) -> Reply {
    let a = session.authed()?;
    if let Some(state) = session.shared.presence.set_away(a.user, away) {
        announce_presence(session.shared.clone(), a.user, state);
    }
    Ok(ResponseBody::Ok)
}

/// Whether `viewer` may see `user`'s presence and last-seen time (the rule
/// in the module doc).
///
/// # Errors
/// A redb error.
pub(crate) fn may_see_presence(r: &Reader, viewer: u64, user: u64) -> Result<bool, StoreError> {
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

/// Answers only about users whose presence the caller may see; the others
/// are left out of the answer, as unknown usernames are.
pub(super) async fn get_presence(session: &Arc<Session>, usernames: Vec<String>) -> Reply {
    let a = session.authed()?;
    if usernames.len() > chat_protocol::MAX_PRESENCE_QUERY {
        return Err(refuse(
            ErrorCode::BadRequest,
            format!(
                "asked for the presence of {} users; ask for at most {} at a time",
                usernames.len(),
                chat_protocol::MAX_PRESENCE_QUERY
            ),
        ));
    }
    let users = session
        .read(move |r| {
            let mut out = Vec::new();
            for name in usernames {
                if let Some(id) = query::user_id(&r.usernames, &name)?
                    && may_see_presence(r, a.user, id)?
                    && let Some(u) = query::user(&r.users, id)?
                {
                    out.push((id, AuthorRecord::of(id, &u).to_wire(), u.last_seen));
                }
            }
            Ok(out)
        })
        .await?;
    let list = users
        .into_iter()
        .map(|(id, author, stored)| {
            let (presence, last_seen) = session.shared.presence.get(id, stored);
            proto::PresenceInfo {
                user: author,
                presence,
                last_seen,
            }
        })
        .collect();
    Ok(ResponseBody::Presence(list))
}

/// Resolves a username inside a writer job, refusing the caller themself.
fn other_user(
    ctx: &crate::store::WriteCtx<'_>,
    me: u64,
    username: &str,
) -> Result<u64, WriteError> {
    let id = query::user_id(&ctx.usernames, username)?.ok_or_else(|| no_such_user(username))?;
    if id == me {
        return Err(refuse(ErrorCode::BadRequest, "that is you; name another user").into());
    }
    Ok(id)
}

pub(super) async fn add_contact(session: &Arc<Session>, username: String) -> Reply {
    let a = session.authed()?;
    session
        .write(move |ctx| {
            let id = other_user(ctx, a.user, &username)?;
            if ctx.contacts.get((a.user, id))?.is_some() {
                return Ok(());
            }
            ctx.contacts.insert((a.user, id), Timestamp::now().0)?;
            ctx.contact_of.insert((id, a.user), ())?;
            let me = super::rooms::load_user(ctx, a.user)?;
            super::notify::notify(
                ctx,
                id,
                &AuthorRecord::of(a.user, &me),
                NotificationKindRecord::ContactAdded,
            )?;
            Ok(())
        })
        .await?;
    Ok(ResponseBody::Ok)
}

pub(super) async fn remove_contact(session: &Arc<Session>, username: String) -> Reply {
    let a = session.authed()?;
    session
        .write(move |ctx| {
            let id = other_user(ctx, a.user, &username)?;
            ctx.contacts.remove((a.user, id))?;
            ctx.contact_of.remove((id, a.user))?;
            Ok(())
        })
        .await?;
    Ok(ResponseBody::Ok)
}

pub(super) async fn list_contacts(session: &Arc<Session>) -> Reply {
    let a = session.authed()?;
    let found = session
        .read(move |r| {
            let mut out = Vec::new();
            for entry in r.contacts.range((a.user, 0)..=(a.user, u64::MAX))? {
                let id = entry?.0.value().1;
                if let Some(u) = query::user(&r.users, id)? {
                    let visible = may_see_presence(r, a.user, id)?;
                    out.push((id, AuthorRecord::of(id, &u).to_wire(), u.last_seen, visible));
                }
            }
            Ok(out)
        })
        .await?;
    let contacts = found
        .into_iter()
        .map(|(id, user, stored, visible)| {
            // A contact who has not added the caller back (or a block)
            // shows as offline with no last-seen time.
            let (presence, last_seen) = if visible {
                session.shared.presence.get(id, stored)
            } else {
                (Presence::Offline, None)
            };
            proto::Contact {
                user,
                presence,
                last_seen,
            }
        })
        .collect();
    Ok(ResponseBody::Contacts(contacts))
}

pub(super) async fn set_blocked(session: &Arc<Session>, username: String, blocked: bool) -> Reply {
    let a = session.authed()?;
    let id = session
        .write(move |ctx| {
            let id = other_user(ctx, a.user, &username)?;
            if blocked {
                ctx.blocks.insert((a.user, id), ())?;
            } else {
                ctx.blocks.remove((a.user, id))?;
            }
            Ok(id)
        })
        .await?;
    // This session hides the user at once; the user's other sessions pick
    // the change up when they next authenticate.
    {
        let mut set = session.blocked.write().unwrap_or_else(|p| p.into_inner());
        if blocked {
            set.insert(id);
        } else {
            set.remove(&id);
        }
    }
    if blocked {
        // A block hides presence both ways from now on: each side's clients
        // are told the other is offline, and hear nothing more.
        hide_presence(&session.shared, a.user, id).await;
    } else {
        // Unblocking may make presence visible again: re-announce both.
        for user in [a.user, id] {
            let (state, _) = session.shared.presence.get(user, None);
            announce_presence(session.shared.clone(), user, state);
        }
    }
    Ok(ResponseBody::Ok)
}

pub(super) async fn list_blocked(session: &Arc<Session>) -> Reply {
    let a = session.authed()?;
    let users = session
        .read(move |r| {
            let mut out = Vec::new();
            for id in query::blocked_by(&r.blocks, a.user)? {
                if let Some(u) = query::user(&r.users, id)? {
                    out.push(u.to_wire(id));
                }
            }
            Ok(out)
        })
        .await?;
    Ok(ResponseBody::Users(users))
}

pub(super) async fn list_notifications(session: &Arc<Session>, unread_only: bool) -> Reply {
    let a = session.authed()?;
    let (items, unread) = session
        .read(move |r| {
            let mut items = Vec::new();
            let mut unread = 0;
            for entry in r
                .notifications
                .range((a.user, 0)..=(a.user, u64::MAX))?
                .rev()
            {
                let (k, v) = entry?;
                let n: NotificationRecord = decode(v.value())?;
                if !n.read {
                    unread += 1;
                }
                if (!unread_only || !n.read) && items.len() < 500 {
                    items.push(super::notify::to_wire(k.value().1, &n));
                }
            }
            Ok::<_, StoreError>((items, unread))
        })
        .await?;
    Ok(ResponseBody::Notifications { items, unread })
}

pub(super) async fn mark_notifications_read(session: &Arc<Session>, up_to: u64) -> Reply {
    let a = session.authed()?;
    session
        .write(move |ctx| {
            let mut changed = Vec::new();
            for entry in ctx.notifications.range((a.user, 0)..=(a.user, up_to))? {
                let (k, v) = entry?;
                let mut n: NotificationRecord = decode(v.value())?;
                if !n.read {
                    n.read = true;
                    changed.push((k.value().1, n));
                }
            }
            for (id, n) in changed {
                ctx.notifications
                    .insert((a.user, id), encode(&n)?.as_slice())?;
            }
            Ok(())
        })
        .await?;
    Ok(ResponseBody::Ok)
}

/// Tells `a`'s sessions that `b` is offline, and `b`'s that `a` is, with no
/// last-seen time (after a block, neither may see the other's presence).
async fn hide_presence(shared: &Arc<Shared>, a: u64, b: u64) {
    let found = shared
        .store
        .read(move |txn| {
            let r = Reader::open(txn)?;
            Ok((query::user(&r.users, a)?, query::user(&r.users, b)?))
        })
        .await;
    let Ok((Some(ua), Some(ub))) = found else {
        return;
    };
    for (to, about, rec) in [(a, b, &ub), (b, a, &ua)] {
        let event = proto::UserEvent::Presence(proto::PresenceInfo {
            user: AuthorRecord::of(about, rec).to_wire(),
            presence: Presence::Offline,
            last_seen: None,
        });
        if let Ok(frame) = proto::frame::encode(&event) {
            shared.hub.publish_user(to, frame);
        }
    }
}
