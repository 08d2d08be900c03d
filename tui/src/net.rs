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
//!
//! # Never giving up
//!
//! A [`Session`] stops for good on failures retrying the same connection
//! cannot fix: a changed or untrusted certificate, a refused handshake. A
//! person at a terminal can fix those (the server's certificate is put
//! back, the known-hosts line is removed), so this task then reports the
//! problem in words and starts a fresh session after a backoff, again and
//! again, until one connects; `/reconnect` starts one at once. Only a
//! refused login stops it: that needs a new login, which needs a restart.
//! A fresh session starts with no followed rooms and no queued sends; the
//! UI, seeing the new connection, subscribes and resends as after any
//! reconnect.

use crate::action::{Action, Level};
use crate::effect::Effect;
use crate::state::ConnectionStatus;
use chat_client::session::{Backoff, Session, SessionConfig, SessionEvent};
use chat_client::{ClientError, Connection};
use chat_protocol::{ErrorCode, IdempotencyKey, RoomFrame, RoomId, UserId, UserInfo};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

mod download;
mod lifecycle;
mod requests;
pub use download::download_dir;

pub use requests::HISTORY_PAGE;

/// How often the round-trip estimate is refreshed for the status line (2 s).
const RTT_EVERY: Duration = Duration::from_secs(2);

/// The network task's state.
pub struct Net {
    session: Session,
    /// How the session was started, with a token for the user logged in,
    /// so a fresh session can be started after the old one gave up.
    config: SessionConfig,
    server: String,
    actions: mpsc::Sender<Action>,
    /// Rooms the session follows (and therefore resumes by itself).
    followed: HashSet<RoomId>,
    /// Keys handed to the session and not refused; the session retries them.
    queued: HashSet<IdempotencyKey>,
    /// Round trip last reported, in ms; `None` while disconnected.
    rtt_ms: Option<u32>,
    connected: bool,
    /// Who is logged in, so the user's own typing frames are not shown.
    me: Option<UserId>,
    /// When to start a fresh session, after the last one gave up.
    restart_at: Option<tokio::time::Instant>,
    /// Fresh sessions started since the last successful connection.
    restarts: u32,
    /// Set once the login was refused: nothing more to try.
    logged_out: bool,
    /// Actions reported while the UI's queue was full, in order. While any
    /// wait here, no further session event is taken, so a stalled UI holds
    /// the session (and through QUIC flow control, the server) back
    /// instead of growing this task's memory.
    overflow: std::cell::RefCell<std::collections::VecDeque<Action>>,
}

/// What woke the run loop.
enum Step {
    Drain(mpsc::OwnedPermit<Action>),
    Effect(Option<Effect>),
    Event(Option<Box<SessionEvent>>),
    Restart,
    Rtt,
}

impl Net {
    /// A task for `session`, reporting to `actions`. `config` starts fresh
    /// sessions (give it a token, not a password). `server` is the address
    /// as the user gave it, for the status line.
    pub fn new(
        session: Session,
        config: SessionConfig,
        server: String,
        actions: mpsc::Sender<Action>,
    ) -> Net {
        Net {
            session,
            config,
            server,
            actions,
            followed: HashSet::new(),
            queued: HashSet::new(),
            rtt_ms: None,
            connected: false,
            me: None,
            restart_at: None,
            restarts: 0,
            logged_out: false,
            overflow: std::cell::RefCell::default(),
        }
    }

    /// Runs until `Effect::Quit` (or the UI drops its sender), then shuts the
    /// session down and waits (at most 2 s) for it to close the connection.
    /// `user` is who the first connection logged in as; `events` starts after
    /// that connection's `Connected`.
    pub async fn run(
        mut self,
        user: UserInfo,
        events: mpsc::Receiver<SessionEvent>,
        mut effects: mpsc::UnboundedReceiver<Effect>,
    ) {
        self.on_connected(user);
        let mut events = Some(events);
        let mut rtt = tokio::time::interval(RTT_EVERY);
        rtt.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let restart_at = self.restart_at;
            let backlog = !self.overflow.borrow().is_empty();
            let step = tokio::select! {
                permit = self.actions.clone().reserve_owned(), if backlog => match permit {
                    Ok(p) => Step::Drain(p),
                    Err(_) => break, // the UI is gone
                },
                effect = effects.recv() => Step::Effect(effect),
                event = next_event(&mut events), if !backlog => Step::Event(event.map(Box::new)),
                () = sleep_until(restart_at), if restart_at.is_some() => Step::Restart,
                _ = rtt.tick() => Step::Rtt,
            };
            match step {
                Step::Drain(permit) => {
                    if let Some(action) = self.overflow.borrow_mut().pop_front() {
                        permit.send(action);
                    }
                }
                Step::Effect(None | Some(Effect::Quit)) => break,
                Step::Effect(Some(Effect::Reconnect)) => events = self.reconnect_now(),
                Step::Effect(Some(effect)) => self.on_effect(effect),
                Step::Event(Some(event)) => self.on_event(*event),
                // The worker is gone without a word (it always says
                // `Stopped` first): treat it as a failure and start over.
                Step::Event(None) => {
                    events = None;
                    if self.restart_at.is_none() && !self.logged_out {
                        self.give_up_for_now("the connection task stopped".to_owned());
                    }
                }
                Step::Restart => events = Some(self.start_session()),
                Step::Rtt => self.refresh_rtt(),
            }
        }
        self.session.shutdown();
        if let Some(mut events) = events {
            let drain = async { while events.recv().await.is_some() {} };
            let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
        }
    }

    /// Hands `action` to the UI, or queues it behind the overflow when the
    /// UI's queue is full (see `overflow`).
    fn report(&self, action: Action) {
        let mut overflow = self.overflow.borrow_mut();
        if !overflow.is_empty() {
            overflow.push_back(action);
            return;
        }
        match self.actions.try_send(action) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(action)) => overflow.push_back(action),
            // The UI has quit; the loop ends on its next effect.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn on_connected(&mut self, user: UserInfo) {
        self.connected = true;
        self.restarts = 0;
        self.restart_at = None;
        self.me = Some(user.author.id);
        self.rtt_ms = self.session.connection().map(|c| rtt_ms(&c));
        self.report(Action::LoggedIn(user.author));
        self.report(Action::Connection(ConnectionStatus::Connected {
            server: self.server.clone(),
            rtt_ms: self.rtt_ms,
        }));
        self.request(|conn, actions| async move {
            match conn.my_rooms().await {
                Ok(rooms) => send(&actions, Action::Rooms(rooms)).await,
                Err(e) => send(&actions, failure(format!("could not list your rooms: {e}"))).await,
            }
        });
    }

    /// `/reconnect`: stops the session (connected or waiting to retry) and
    /// starts a fresh one now.
    fn reconnect_now(&mut self) -> Option<mpsc::Receiver<SessionEvent>> {
        if self.logged_out {
            self.report(failure(
                "the server refused the login; start chat-tui again to log in".into(),
            ));
            return None;
        }
        self.session.shutdown();
        self.restarts = 0;
        Some(self.start_session())
    }

    /// Starts a fresh session in place of the stopped one.
    fn start_session(&mut self) -> mpsc::Receiver<SessionEvent> {
        self.restart_at = None;
        self.connected = false;
        self.followed.clear();
        self.queued.clear();
        let (session, events) = Session::start(self.config.clone());
        self.session = session;
        events
    }

    /// The session gave up on a problem a person may fix: say so in words,
    /// and schedule a fresh session after the backoff for this attempt.
    fn give_up_for_now(&mut self, problem: String) {
        self.connected = false;
        self.restarts = self.restarts.saturating_add(1);
        let delay = Backoff::default().delay(self.restarts);
        self.restart_at = Some(tokio::time::Instant::now() + delay);
        self.report(Action::Connection(ConnectionStatus::Reconnecting {
            attempt: self.restarts,
            retry_at: Instant::now() + delay,
            problem: Some(problem),
        }));
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
                    problem: None,
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
                    problem: None,
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
            SessionEvent::Stopped { error } => self.on_stopped(error),
            // Room additions and removals sent while the user stream lagged
            // are lost: list the rooms again.
            SessionEvent::UserEventsLost => self.request(|conn, actions| async move {
                match conn.my_rooms().await {
                    Ok(rooms) => send(&actions, Action::Rooms(rooms)).await,
                    Err(e) => {
                        send(&actions, failure(format!("could not list your rooms: {e}"))).await
                    }
                }
            }),
            other => tracing::debug!(?other, "session event not used"),
        }
    }

    /// The session stopped by itself: a refused login ends the connection
    /// for good; anything else is retried with a fresh session.
    fn on_stopped(&mut self, error: Option<ClientError>) {
        self.connected = false;
        match error {
            Some(e @ ClientError::LoggedOut(_)) => {
                tracing::warn!(error = %e, "logged out by the server; not retrying");
                self.logged_out = true;
                self.report(Action::Connection(ConnectionStatus::Offline(format!(
                    "{e}. Quit and start chat-tui again to log in"
                ))));
            }
            Some(e)
                if matches!(
                    e.code(),
                    Some(ErrorCode::AuthFailed | ErrorCode::AccountDisabled)
                ) =>
            {
                tracing::warn!(error = %e, "login refused; not retrying");
                self.logged_out = true;
                self.report(Action::Connection(ConnectionStatus::Offline(format!(
                    "the server refused the login ({e}); the session may have been logged \
                     out or its token revoked. Quit and start chat-tui again to log in"
                ))));
            }
            Some(e) => {
                tracing::warn!(error = %e, "the session stopped; starting a fresh one later");
                self.give_up_for_now(problem_words(&e));
            }
            None => self.give_up_for_now("the connection task stopped".to_owned()),
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
}

/// A failure that stopped a session, as the banner says it: what happened,
/// what it may mean, and what to do.
pub fn problem_words(e: &ClientError) -> String {
    match e {
        ClientError::CertificateChanged {
            host,
            known,
            presented,
            known_hosts,
            line,
        } => format!(
            "the server at {host} presented a different certificate from the one you trusted \
             (SHA256 {} instead of {}). Someone may be intercepting the connection, or the \
             server's certificate was replaced; if that was expected, delete line {line} of {}",
            short(presented),
            short(known),
            known_hosts.display()
        ),
        ClientError::Tls { server, reason } => {
            format!("the certificate of {server} is not trusted: {reason}")
        }
        other => other.to_string(),
    }
}

/// The first eight bytes of a fingerprint, enough to compare by eye.
fn short(fingerprint: &str) -> String {
    let cut: String = fingerprint.chars().take(23).collect();
    if cut.len() < fingerprint.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

async fn next_event(events: &mut Option<mpsc::Receiver<SessionEvent>>) -> Option<SessionEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Reports a request's outcome, waiting while the UI catches up.
async fn send(actions: &mpsc::Sender<Action>, action: Action) {
    let _ = actions.send(action).await;
}

/// A transfer's progress callback that reports `"{verb} {name}: N %"` in
/// the status line at most every 10 % (and not at 100 %, which the caller
/// reports itself).
fn status_progress(
    actions: &mpsc::Sender<Action>,
    verb: &'static str,
    name: &str,
) -> impl FnMut(u64, u64) + Send + use<> {
    let (actions, name) = (actions.clone(), name.to_owned());
    let mut shown = 0;
    move |done: u64, total: u64| {
        let pct = (done.saturating_mul(100)).checked_div(total).unwrap_or(100);
        if pct >= shown + 10 && pct < 100 {
            shown = pct - pct % 10;
            let _ = actions.try_send(Action::Status(
                Level::Info,
                format!("{verb} {name}: {pct} %"),
            ));
        }
    }
}

fn failure(text: String) -> Action {
    Action::Status(Level::Error, text)
}

/// The connection's smoothed round-trip estimate, in whole ms.
fn rtt_ms(conn: &Connection) -> u32 {
    u32::try_from(conn.rtt().as_millis()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_certificate_is_explained_with_what_to_do() {
        let fp = |b: &str| vec![b; 32].join(":");
        let e = ClientError::CertificateChanged {
            host: "chat.example.org:4433".into(),
            known: fp("aa"),
            presented: fp("bb"),
            known_hosts: "/home/a/.local/share/chat/known_hosts".into(),
            line: 3,
        };
        let words = problem_words(&e);
        assert!(words.contains("different certificate"), "{words}");
        assert!(words.contains("SHA256 bb:bb:bb:bb:bb:bb:bb:bb…"), "{words}");
        assert!(
            words.contains("delete line 3 of /home/a/.local/share/chat/known_hosts"),
            "{words}"
        );
        let tls = ClientError::Tls {
            server: "h:1".into(),
            reason: "invalid peer certificate: UnknownIssuer".into(),
        };
        assert!(problem_words(&tls).starts_with("the certificate of h:1 is not trusted"));
    }
}
