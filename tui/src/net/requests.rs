//! Carrying out [`Effect`]s that are requests: each runs on its own task
//! with the current connection and reports its answer as an [`Action`].

use super::{Net, failure, send};
use crate::action::{Action, Level};
use crate::effect::Effect;
use chat_client::Connection;
use chat_protocol::{HistoryAnchor, Role, Visibility};
use std::time::Duration;
use tokio::sync::mpsc;

/// Events per page of older history (`Effect::LoadOlder`).
pub const HISTORY_PAGE: u32 = 50;

/// Hits asked for by `/search` (the pane shows the newest this many).
pub const SEARCH_PAGE: u32 = 50;

/// How long a request waits for the session to (re)connect before it is
/// reported as failed.
const REQUEST_CONNECT_WAIT: Duration = Duration::from_secs(5);

impl Net {
    /// Carries out one effect (`Alert`, `PersistOutbox`, `Reconnect` and
    /// `Quit` belong to the interface and the run loop and are ignored here).
    pub fn on_effect(&mut self, effect: Effect) {
        match effect {
            Effect::Send {
                room,
                key,
                text,
                reply_to,
            } => {
                if self.queued.insert(key.clone()) {
                    self.session.enqueue(room, key, text, reply_to);
                }
            }
            Effect::Subscribe { room, since } => {
                if self.followed.insert(room) {
                    self.session.follow(room, since);
                }
            }
            Effect::Search { query } => {
                self.request(move |conn, actions| async move {
                    let q = chat_protocol::SearchQuery::new(query.clone(), SEARCH_PAGE);
                    let action = match conn.search(q).await {
                        Ok(page) => Action::SearchResults {
                            query,
                            hits: page.hits,
                            total: page.total,
                        },
                        Err(e) => Action::SearchFailed {
                            query,
                            error: e.to_string(),
                        },
                    };
                    send(&actions, action).await;
                });
            }
            Effect::LoadAround { room, seq } => {
                self.request(move |conn, actions| async move {
                    // Half a page after the message, the rest before it.
                    let before =
                        chat_protocol::Seq(seq.0.saturating_add(HISTORY_PAGE as u64 / 2 + 1));
                    let page = conn
                        .history(room, HistoryAnchor::Before(before), HISTORY_PAGE)
                        .await;
                    send(&actions, older_page(room, page)).await;
                });
            }
            Effect::LoadOlder { room, before } => {
                if self.session.connection().is_none() {
                    self.report(Action::OlderFailed {
                        room,
                        error: "not connected".into(),
                    });
                    return;
                }
                self.request(move |conn, actions| async move {
                    let page = conn
                        .history(room, HistoryAnchor::Before(before), HISTORY_PAGE)
                        .await;
                    send(&actions, older_page(room, page)).await;
                });
            }
            Effect::Upload { room, path } => self.request(move |conn, actions| async move {
                let name = path
                    .file_name()
                    .map(|n| chat_protocol::text::display_safe(&n.to_string_lossy()).into_owned())
                    .unwrap_or_default();
                // Progress in the status line, at most every 10 %.
                let progress = super::status_progress(&actions, "uploading", &name);
                let sent = async {
                    let up = conn.upload_path(room, &path, None, progress).await?;
                    conn.send_with_attachments(
                        room,
                        chat_protocol::IdempotencyKey::random(),
                        "",
                        None,
                        vec![up.attachment.id],
                    )
                    .await
                }
                .await;
                let status = match sent {
                    Ok(_) => Action::Status(Level::Info, format!("sent {name}")),
                    Err(e) => Action::Status(Level::Error, format!("could not upload {name}: {e}")),
                };
                send(&actions, status).await;
            }),
            // A preview is background work: without a connection it fails
            // quietly (the app asks again after reconnecting) instead of
            // putting "not connected" in the status line.
            Effect::FetchPreview { room, attachment } => match self.session.connection() {
                Some(conn) => {
                    let actions = self.actions.clone();
                    tokio::spawn(super::download::preview(conn, actions, room, attachment));
                }
                None => self.report(Action::Preview {
                    id: attachment.id,
                    result: Err("not connected".into()),
                }),
            },
            Effect::Download { room, files, open } => {
                self.request(move |conn, actions| {
                    super::download::save(conn, actions, room, files, open)
                });
            }
            Effect::MarkRead { room, seq } => self.quiet(move |conn| async move {
                if let Err(e) = conn.mark_read(room, seq).await {
                    tracing::debug!(%room, %seq, error = %e, "mark read failed");
                }
            }),
            Effect::LoadMembers { room } => self.request(move |conn, actions| async move {
                match conn.members(room).await {
                    Ok(members) => send(&actions, Action::Members { room, members }).await,
                    Err(e) => send(&actions, failure(format!("could not list members: {e}"))).await,
                }
            }),
            Effect::Join { name } => self.request(move |conn, actions| async move {
                let joined = async {
                    let room = conn.room_by_name(&name).await?;
                    conn.join_room(room.id).await
                };
                match joined.await {
                    Ok(room) => {
                        send(
                            &actions,
                            Action::Opened {
                                room,
                                role: Role::Member,
                            },
                        )
                        .await
                    }
                    Err(e) => send(&actions, failure(format!("cannot join {name}: {e}"))).await,
                }
            }),
            Effect::Leave { room } => {
                self.followed.remove(&room);
                self.session.unfollow(room);
                self.request(move |conn, actions| async move {
                    match conn.leave_room(room).await {
                        Ok(()) => {
                            send(
                                &actions,
                                Action::Status(Level::Info, "left the room".into()),
                            )
                            .await
                        }
                        Err(e) => send(&actions, failure(format!("cannot leave: {e}"))).await,
                    }
                });
            }
            Effect::Create { name, private } => self.request(move |conn, actions| async move {
                let visibility = if private {
                    Visibility::Private
                } else {
                    Visibility::Public
                };
                match conn.create_room(&name, "", visibility).await {
                    Ok(room) => {
                        send(
                            &actions,
                            Action::Opened {
                                room,
                                role: Role::Owner,
                            },
                        )
                        .await
                    }
                    Err(e) => send(&actions, failure(format!("cannot create {name}: {e}"))).await,
                }
            }),
            Effect::Invite { room, username } => self.request(move |conn, actions| async move {
                match conn.add_member(room, &username).await {
                    Ok(()) => {
                        send(
                            &actions,
                            Action::Status(Level::Info, format!("added {username}")),
                        )
                        .await
                    }
                    Err(e) => send(&actions, failure(format!("cannot add {username}: {e}"))).await,
                }
            }),
            Effect::OpenDirect { username } => self.request(move |conn, actions| async move {
                match conn.open_direct(&username).await {
                    Ok(room) => {
                        send(
                            &actions,
                            Action::Opened {
                                room,
                                role: Role::Member,
                            },
                        )
                        .await
                    }
                    Err(e) => {
                        send(&actions, failure(format!("cannot message {username}: {e}"))).await
                    }
                }
            }),
            Effect::Edit { .. }
            | Effect::Delete { .. }
            | Effect::React { .. }
            | Effect::SetTopic { .. }
            | Effect::Moderate { .. }
            | Effect::ChangePassword { .. }
            | Effect::SetDisplayName(_)
            | Effect::SetAway(_)
            | Effect::LoadContacts
            | Effect::LoadPresence { .. }
            | Effect::MarkDelivered { .. }
            | Effect::Typing { .. } => self.on_lifecycle_effect(effect),
            Effect::Alert { .. } | Effect::PersistOutbox(_) | Effect::Reconnect | Effect::Quit => {}
        }
    }

    /// Runs a request on its own task so a slow answer never holds up
    /// events; reports "not connected" if there is no connection now.
    pub(super) fn request<F, Fut>(&self, job: F)
    where
        F: FnOnce(Connection, mpsc::Sender<Action>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let actions = self.actions.clone();
        if let Some(conn) = self.session.connection() {
            tokio::spawn(job(conn, actions));
            return;
        }
        // Just after (re)connecting, the session may not have published its
        // connection yet: wait for it briefly instead of failing the request.
        let session = self.session.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(REQUEST_CONNECT_WAIT, session.connected()).await {
                Ok(Ok(conn)) => job(conn, actions).await,
                _ => {
                    send(
                        &actions,
                        failure(
                            "not connected; try again once the status line says connected".into(),
                        ),
                    )
                    .await
                }
            }
        });
    }
}

/// The action for a page of older history: the events, or why not.
fn older_page(
    room: chat_protocol::RoomId,
    page: Result<chat_protocol::HistoryPage, chat_client::ClientError>,
) -> Action {
    match page {
        Ok(page) => Action::OlderLoaded {
            room,
            events: page.events,
        },
        Err(e) => Action::OlderFailed {
            room,
            error: e.to_string(),
        },
    }
}
