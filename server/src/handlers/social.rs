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

use super::{Reply, refuse};
use crate::session::Session;
use crate::shared::Shared;
use chat_protocol::{self as proto, ErrorCode, Presence, ResponseBody};
use std::sync::Arc;

/// Tells everyone on this node who may see `user` that their presence is
/// now `state` (the merged state: see `crate::presence`). Runs in the
/// background; a failure is logged, not reported.
///
/// This is the one user frame that does not travel on the bus: every node
/// derives its own watchers' announcements from its merged presence
/// (changes here, other nodes' messages and heartbeats, lapsed entries),
/// so a node's death is announced too, and each watcher hears each change
/// once, from the node it is connected to.
pub(crate) fn announce_presence(shared: Arc<Shared>, user: u64, state: Presence) {
    tokio::spawn(async move {
        let found = shared.storage.presence_watchers(user).await;
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
    // Queued now, in the order of the calls (see `RoomEvents::send_message`).
    let done = shared.storage.record_last_seen(user);
    tokio::spawn(async move {
        if let Err(e) = done.await {
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
        .shared
        .storage
        .presence_of(a.user, usernames)
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

pub(super) async fn add_contact(session: &Arc<Session>, username: String) -> Reply {
    let a = session.authed()?;
    session.shared.storage.add_contact(a.user, username).await?;
    Ok(ResponseBody::Ok)
}

pub(super) async fn remove_contact(session: &Arc<Session>, username: String) -> Reply {
    let a = session.authed()?;
    session
        .shared
        .storage
        .remove_contact(a.user, username)
        .await?;
    Ok(ResponseBody::Ok)
}

pub(super) async fn list_contacts(session: &Arc<Session>) -> Reply {
    let a = session.authed()?;
    let found = session.shared.storage.contacts(a.user).await?;
    let contacts = found
        .into_iter()
        .map(|((id, user, stored), visible)| {
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
        .shared
        .storage
        .set_blocked(a.user, username, blocked)
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
    let users = session.shared.storage.blocked_users(a.user).await?;
    Ok(ResponseBody::Users(users))
}

pub(super) async fn list_notifications(session: &Arc<Session>, unread_only: bool) -> Reply {
    let a = session.authed()?;
    let (items, unread) = session
        .shared
        .storage
        .notifications(a.user, unread_only)
        .await?;
    Ok(ResponseBody::Notifications { items, unread })
}

pub(super) async fn mark_notifications_read(session: &Arc<Session>, up_to: u64) -> Reply {
    let a = session.authed()?;
    session
        .shared
        .storage
        .mark_notifications_read(a.user, up_to)
        .await?;
    Ok(ResponseBody::Ok)
}

/// Tells `a`'s sessions that `b` is offline, and `b`'s that `a` is, with no
/// last-seen time (after a block, neither may see the other's presence).
async fn hide_presence(shared: &Arc<Shared>, a: u64, b: u64) {
    let (ua, ub) = match shared.storage.authors(vec![a, b]).await.as_deref() {
        Ok([Some(ua), Some(ub)]) => (ua.clone(), ub.clone()),
        _ => return,
    };
    for (to, rec) in [(a, &ub), (b, &ua)] {
        let event = proto::UserEvent::Presence(proto::PresenceInfo {
            user: rec.clone(),
            presence: Presence::Offline,
            last_seen: None,
        });
        if let Ok(frame) = proto::frame::encode(&event) {
            shared.fan_out(vec![crate::fanout::Effect::User { user: to, frame }]);
        }
    }
}
