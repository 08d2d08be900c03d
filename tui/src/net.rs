//! The network task: carries out [`Effect`]s with the [`Session`] and its
//! connection, and reports [`SessionEvent`]s and request results to the UI
//! as [`Action`]s. It owns no UI state; the UI owns no I/O.
//!
//! # Who resumes what
//!
//! The session already resumes every followed room from the last seq it
//! delivered and retries its outbox with the same idempotency keys. The UI
//! asks for both again after a reconnect (`Subscribe`, `Send`), because it
//! cannot know what the session did; this task drops those repeats: a room
//! the session still follows is not restarted, and a key the session already
//! holds is not queued twice.

use crate::action::{Action, Level};
use crate::effect::Effect;
use crate::state::ConnectionStatus;
use chat_client::Connection;
use chat_client::session::{Session, SessionEvent};
use chat_protocol::{
    HistoryAnchor, IdempotencyKey, Role, RoomFrame, RoomId, UserId, UserInfo, Visibility,
};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

mod lifecycle;

/// Events per page of older history (`Effect::LoadOlder`).
pub const HISTORY_PAGE: u32 = 50;

/// How often the round-trip estimate is refreshed for the status line (2 s).
const RTT_EVERY: Duration = Duration::from_secs(2);

/// The network task's state.
pub struct Net {
    session: Session,
    server: String,
    actions: mpsc::UnboundedSender<Action>,
    /// Rooms the session follows (and therefore resumes by itself).
    followed: HashSet<RoomId>,
    /// Keys handed to the session and not refused; the session retries them.
    queued: HashSet<IdempotencyKey>,
    /// Round trip last reported, in ms; `None` while disconnected.
    rtt_ms: Option<u32>,
    connected: bool,
    /// Who is logged in, so the user's own typing frames are not shown.
    me: Option<UserId>,
}

impl Net {
    /// A task for `session`, reporting to `actions`. `server` is the address
    /// as the user gave it, for the status line.
    pub fn new(session: Session, server: String, actions: mpsc::UnboundedSender<Action>) -> Net {
        Net {
            session,
            server,
            actions,
            followed: HashSet::new(),
            queued: HashSet::new(),
            rtt_ms: None,
            connected: false,
            me: None,
        }
    }

    /// Runs until `Effect::Quit` (or the UI drops its sender), then shuts the
    /// session down and waits (at most 2 s) for it to close the connection.
    /// `user` is who the first connection logged in as; `events` starts after
    /// that connection's `Connected`.
    pub async fn run(
        mut self,
        user: UserInfo,
        mut events: mpsc::Receiver<SessionEvent>,
        mut effects: mpsc::UnboundedReceiver<Effect>,
    ) {
        self.on_connected(user);
        let mut rtt = tokio::time::interval(RTT_EVERY);
        rtt.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                effect = effects.recv() => match effect {
                    None | Some(Effect::Quit) => break,
                    Some(effect) => self.on_effect(effect),
                },
                event = events.recv() => match event {
                    Some(event) => self.on_event(event),
                    // The worker is gone; nothing more will happen.
                    None => {
                        self.report(Action::Connection(ConnectionStatus::Offline(
                            "the connection task stopped".into(),
                        )));
                        break;
                    }
                },
                _ = rtt.tick() => self.refresh_rtt(),
            }
        }
        self.session.shutdown();
        let drain = async { while events.recv().await.is_some() {} };
        let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
    }

    fn report(&self, action: Action) {
        // The UI has quit if this fails; the loop ends on its next effect.
        let _ = self.actions.send(action);
    }

    fn on_connected(&mut self, user: UserInfo) {
        self.connected = true;
        self.me = Some(user.author.id);
        self.rtt_ms = self.session.connection().map(|c| rtt_ms(&c));
        self.report(Action::LoggedIn(user.author));
        self.report(Action::Connection(ConnectionStatus::Connected {
            server: self.server.clone(),
            rtt_ms: self.rtt_ms,
        }));
        self.request(|conn, actions| async move {
            match conn.my_rooms().await {
                Ok(rooms) => send(&actions, Action::Rooms(rooms)),
                Err(e) => send(&actions, failure(format!("could not list your rooms: {e}"))),
            }
        });
    }

    fn refresh_rtt(&mut self) {
        if !self.connected {
            return;
        }
        let Some(conn) = self.session.connection() else {
            return;
        };
        let now = Some(rtt_ms(&conn));
        if now != self.rtt_ms {
            self.rtt_ms = now;
            self.report(Action::Connection(ConnectionStatus::Connected {
                server: self.server.clone(),
                rtt_ms: now,
            }));
        }
    }

    /// Turns one session event into actions.
    pub fn on_event(&mut self, event: SessionEvent) {
        match event {
            SessionEvent::Connected { user, .. } => self.on_connected(user),
            SessionEvent::Disconnected { error } => {
                tracing::info!(%error, "disconnected");
                self.connected = false;
                // The session reconnects at once; the first attempt's
                // failure reports the backoff delay.
                self.report(Action::Connection(ConnectionStatus::Reconnecting {
                    attempt: 1,
                    retry_at: Instant::now(),
                }));
            }
            SessionEvent::Reconnecting {
                attempt,
                delay,
                error,
            } => {
                tracing::info!(%error, attempt, ?delay, "reconnect attempt failed");
                self.connected = false;
                self.report(Action::Connection(ConnectionStatus::Reconnecting {
                    attempt,
                    retry_at: Instant::now() + delay,
                }));
            }
            SessionEvent::Subscribed { room, head } => {
                tracing::debug!(%room, %head, "subscribed");
            }
            SessionEvent::Room(event) => self.report(Action::Room(event)),
            SessionEvent::CaughtUp { room, head } => {
                self.report(Action::CaughtUp { room, head });
            }
            SessionEvent::User(event) => self.report(Action::User(event)),
            SessionEvent::RoomClosed { room, reason } => {
                self.followed.remove(&room);
                tracing::info!(%room, ?reason, "room stream closed");
            }
            SessionEvent::FollowFailed { room, error } => {
                self.followed.remove(&room);
                self.report(failure(format!("cannot open room {room}: {error}")));
            }
            SessionEvent::Ephemeral { room, frame } => self.on_ephemeral(room, frame),
            SessionEvent::Sent { key, ack } => self.report(Action::Sent { key, ack }),
            SessionEvent::SendFailed { key, error } => {
                self.queued.remove(&key);
                self.report(Action::SendFailed {
                    key,
                    error: error.to_string(),
                });
            }
            SessionEvent::Stopped { error } => {
                self.connected = false;
                let why = error.map_or_else(|| "disconnected".to_owned(), |e| e.to_string());
                self.report(Action::Connection(ConnectionStatus::Offline(why)));
            }
            other => tracing::debug!(?other, "session event not used"),
        }
    }

    /// A receipt or typing frame from a room stream.
    fn on_ephemeral(&self, room: RoomId, frame: RoomFrame) {
        match frame {
            RoomFrame::Receipt { user, read_seq, .. } => self.report(Action::Receipt {
                room,
                user: user.id,
                read_seq,
            }),
            RoomFrame::Typing { user, expires_at } if Some(user.id) != self.me => {
                self.report(Action::Typing {
                    room,
                    user: user.display_name,
                    until: crate::update::expiry(expires_at, Instant::now()),
                });
            }
            _ => {}
        }
    }

    /// Carries out one effect (`Alert` and `Quit` belong to the terminal and
    /// the run loop and are ignored here).
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
                    send(
                        &actions,
                        match page {
                            Ok(page) => Action::OlderLoaded {
                                room,
                                events: page.events,
                            },
                            Err(e) => Action::OlderFailed {
                                room,
                                error: e.to_string(),
                            },
                        },
                    );
                });
            }
            Effect::MarkRead { room, seq } => self.quiet(move |conn| async move {
                if let Err(e) = conn.mark_read(room, seq).await {
                    tracing::debug!(%room, %seq, error = %e, "mark read failed");
                }
            }),
            Effect::LoadMembers { room } => self.request(move |conn, actions| async move {
                match conn.members(room).await {
                    Ok(members) => send(&actions, Action::Members { room, members }),
                    Err(e) => send(&actions, failure(format!("could not list members: {e}"))),
                }
            }),
            Effect::Join { name } => self.request(move |conn, actions| async move {
                let joined = async {
                    let room = conn.room_by_name(&name).await?;
                    conn.join_room(room.id).await
                };
                match joined.await {
                    Ok(room) => send(
                        &actions,
                        Action::Opened {
                            room,
                            role: Role::Member,
                        },
                    ),
                    Err(e) => send(&actions, failure(format!("cannot join {name}: {e}"))),
                }
            }),
            Effect::Leave { room } => {
                self.followed.remove(&room);
                self.session.unfollow(room);
                self.request(move |conn, actions| async move {
                    match conn.leave_room(room).await {
                        Ok(()) => send(
                            &actions,
                            Action::Status(Level::Info, "left the room".into()),
                        ),
                        Err(e) => send(&actions, failure(format!("cannot leave: {e}"))),
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
                    Ok(room) => send(
                        &actions,
                        Action::Opened {
                            room,
                            role: Role::Owner,
                        },
                    ),
                    Err(e) => send(&actions, failure(format!("cannot create {name}: {e}"))),
                }
            }),
            Effect::Invite { room, username } => self.request(move |conn, actions| async move {
                match conn.add_member(room, &username).await {
                    Ok(()) => send(
                        &actions,
                        Action::Status(Level::Info, format!("added {username}")),
                    ),
                    Err(e) => send(&actions, failure(format!("cannot add {username}: {e}"))),
                }
            }),
            Effect::OpenDirect { username } => self.request(move |conn, actions| async move {
                match conn.open_direct(&username).await {
                    Ok(room) => send(
                        &actions,
                        Action::Opened {
                            room,
                            role: Role::Member,
                        },
                    ),
                    Err(e) => send(&actions, failure(format!("cannot message {username}: {e}"))),
                }
            }),
            Effect::Edit { .. }
            | Effect::Delete { .. }
            | Effect::React { .. }
            | Effect::SetTopic { .. }
            | Effect::SetAway(_)
            | Effect::LoadContacts
            | Effect::LoadPresence { .. }
            | Effect::MarkDelivered { .. }
            | Effect::Typing { .. } => self.on_lifecycle_effect(effect),
            Effect::Alert { .. } | Effect::Quit => {}
        }
    }

    /// Runs a request on its own task so a slow answer never holds up
    /// events; reports "not connected" if there is no connection now.
    fn request<F, Fut>(&self, job: F)
    where
        F: FnOnce(Connection, mpsc::UnboundedSender<Action>) -> Fut + Send + 'static,
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
                _ => send(
                    &actions,
                    failure("not connected; try again once the status line says connected".into()),
                ),
            }
        });
    }
}

/// How long a request waits for the session to (re)connect before it is
/// reported as failed.
const REQUEST_CONNECT_WAIT: Duration = Duration::from_secs(5);

fn send(actions: &mpsc::UnboundedSender<Action>, action: Action) {
    let _ = actions.send(action);
}

fn failure(text: String) -> Action {
    Action::Status(Level::Error, text)
}

/// The connection's smoothed round-trip estimate, in whole ms.
fn rtt_ms(conn: &Connection) -> u32 {
    u32::try_from(conn.rtt().as_millis()).unwrap_or(u32::MAX)
}
