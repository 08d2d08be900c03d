//! A reconnecting session: one logical login that survives connection
//! loss, used by chat-tui and `chatctl tail --follow`.
//!
//! [`Session::start`] spawns a worker task that owns the [`Connection`].
//! When the connection drops, the worker reconnects with [`Backoff`],
//! authenticates again (a password is used once; its session token after
//! that), resubscribes every followed room from the last seq it delivered,
//! and drops replayed events ([`SeqTracker`]), so the [`SessionEvent`]
//! stream has no gap and no duplicate. Sends go through an [`Outbox`] and
//! are retried with the same idempotency key until acknowledged.
//!
//! Decisions live in plain structs (backoff, tracker, outbox) tested
//! without a network; `worker.rs` only wires them to I/O.

mod backoff;
mod outbox;
mod tracker;
mod worker;

pub use backoff::Backoff;
pub use outbox::{Outbox, PendingSend};
pub use tracker::{SeqTracker, Verdict};

use crate::{ClientConfig, ClientError, Connection, StreamEnd};
use chat_protocol::{
    IdempotencyKey, MessageAck, RoomEvent, RoomId, Seq, UserEvent, UserInfo, Welcome,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// How many events the session buffers for a slow consumer before the
/// worker waits (and QUIC flow control slows the server).
const EVENT_BUFFER: usize = 1024;

/// How a session logs in on each connection.
#[derive(Clone)]
pub enum Auth {
    /// Log in with a password on the first connection; later connections
    /// use the session token it returned. The password is then forgotten.
    Password {
        /// Username.
        username: String,
        /// Password.
        password: String,
    },
    /// A session or API token.
    Token(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Password { username, .. } => write!(f, "Password({username}, ***)"),
            Auth::Token(_) => f.write_str("Token(***)"),
        }
    }
}

/// Everything a session needs.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Where and how to connect.
    pub client: ClientConfig,
    /// How to log in.
    pub auth: Auth,
    /// The reconnect schedule.
    pub backoff: Backoff,
}

/// What a session reports, in order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SessionEvent {
    /// Connected and logged in.
    Connected {
        /// The server's welcome.
        welcome: Welcome,
        /// Who is logged in.
        user: UserInfo,
        /// A new session token after a password login (store it to resume
        /// later with [`Auth::Token`]); `None` otherwise.
        token: Option<String>,
    },
    /// An established connection was lost; reconnection follows.
    Disconnected {
        /// Why.
        error: ClientError,
    },
    /// A connection attempt failed; the next one starts after `delay`.
    Reconnecting {
        /// Failed attempts so far (1-based).
        attempt: u32,
        /// Wait before the next attempt.
        delay: Duration,
        /// Why the last attempt failed.
        error: ClientError,
    },
    /// A room subscription was accepted; catch-up follows.
    Subscribed {
        /// The room.
        room: RoomId,
        /// The room's head at subscription time.
        head: Seq,
    },
    /// A receipt or typing frame for a followed room: no sequence number,
    /// never stored, not replayed on reconnect.
    Ephemeral {
        /// The room.
        room: RoomId,
        /// [`chat_protocol::RoomFrame::Receipt`] or [`chat_protocol::RoomFrame::Typing`].
        frame: chat_protocol::RoomFrame,
    },
    /// A new room event (never one delivered before).
    Room(RoomEvent),
    /// A room's catch-up is complete; later events are live.
    CaughtUp {
        /// The room.
        room: RoomId,
        /// The head when catch-up ended.
        head: Seq,
    },
    /// A user event.
    User(UserEvent),
    /// The server dropped this session's user stream because it fell
    /// behind (`STREAM_LAGGED`), and a new one was taken; user events
    /// (notifications, presence, rooms added or removed) sent in between are
    /// lost. Refetch what depends on them (`ListNotifications`,
    /// `ListMyRooms`).
    UserEventsLost,
    /// The server ended a room's stream for good (left, kicked, deleted);
    /// the room is no longer followed.
    RoomClosed {
        /// The room.
        room: RoomId,
        /// Why.
        reason: StreamEnd,
    },
    /// Following a room failed (e.g. not a member); it is no longer followed.
    FollowFailed {
        /// The room.
        room: RoomId,
        /// Why.
        error: ClientError,
    },
    /// A queued message was stored.
    Sent {
        /// Its idempotency key.
        key: IdempotencyKey,
        /// The server's ack.
        ack: MessageAck,
    },
    /// A queued message was refused for good (e.g. muted, too large) and
    /// removed from the outbox.
    SendFailed {
        /// Its idempotency key.
        key: IdempotencyKey,
        /// Why.
        error: ClientError,
    },
    /// The session ended: `None` after [`Session::shutdown`] (or when every
    /// handle was dropped), otherwise a failure retrying cannot fix
    /// (certificate changed, wrong password, no common version).
    Stopped {
        /// Why, if it failed.
        error: Option<ClientError>,
    },
}

/// A command from a [`Session`] handle to its worker.
enum Command {
    Follow(RoomId, Seq),
    Unfollow(RoomId),
    Send {
        pending: (IdempotencyKey, RoomId, String, Option<Seq>),
        reply: Option<oneshot::Sender<Result<MessageAck, ClientError>>>,
    },
    Shutdown,
}

/// A handle to a running session. Cheap to clone; the session stops when
/// every handle is dropped or on [`Session::shutdown`].
#[derive(Clone)]
pub struct Session {
    cmds: mpsc::UnboundedSender<Command>,
    outbox: Arc<Mutex<Outbox>>,
    conn: watch::Receiver<Option<Connection>>,
}

impl Session {
    /// Starts the session's worker on the current tokio runtime and returns
    /// the handle and the event stream. The first connection is attempted
    /// at once; watch the events for `Connected` or `Stopped`.
    pub fn start(cfg: SessionConfig) -> (Session, mpsc::Receiver<SessionEvent>) {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::channel(EVENT_BUFFER);
        let (conn_tx, conn_rx) = watch::channel(None);
        let outbox = Arc::new(Mutex::new(Outbox::new()));
        tokio::spawn(worker::run(cfg, cmd_rx, ev_tx, conn_tx, outbox.clone()));
        let session = Session {
            cmds: cmd_tx,
            outbox,
            conn: conn_rx,
        };
        (session, ev_rx)
    }

    /// Follows `room`, delivering events after `since` (now and after every
    /// reconnect). Following a followed room restarts it from `since`.
    pub fn follow(&self, room: RoomId, since: Seq) {
        let _ = self.cmds.send(Command::Follow(room, since));
    }

    /// Stops following `room`.
    pub fn unfollow(&self, room: RoomId) {
        let _ = self.cmds.send(Command::Unfollow(room));
    }

    /// Queues a message and waits until the server stores it, retrying
    /// across reconnects with the same `key`. Dropping the future does not
    /// cancel the send: the message stays in the outbox and its result
    /// arrives as [`SessionEvent::Sent`] / [`SessionEvent::SendFailed`].
    ///
    /// # Errors
    /// The server's refusal (`ClientError::Server`) for failures a retry
    /// cannot fix; `ConnectionLost` if the session stops first.
    pub async fn send(
        &self,
        room: RoomId,
        key: IdempotencyKey,
        text: impl Into<String>,
        reply_to: Option<Seq>,
    ) -> Result<MessageAck, ClientError> {
        let (tx, rx) = oneshot::channel();
        let cmd = Command::Send {
            pending: (key, room, text.into(), reply_to),
            reply: Some(tx),
        };
        if self.cmds.send(cmd).is_err() {
            return Err(stopped());
        }
        rx.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Queues a message without waiting; see [`Session::send`].
    pub fn enqueue(
        &self,
        room: RoomId,
        key: IdempotencyKey,
        text: impl Into<String>,
        reply_to: Option<Seq>,
    ) {
        let _ = self.cmds.send(Command::Send {
            pending: (key, room, text.into(), reply_to),
            reply: None,
        });
    }

    /// Messages not yet acknowledged, oldest first (for a UI to show as
    /// pending).
    pub fn pending(&self) -> Vec<PendingSend> {
        self.outbox.lock().map(|o| o.pending()).unwrap_or_default()
    }

    /// The current connection, if connected and logged in, for requests the
    /// session does not wrap (history, room lists, ...).
    pub fn connection(&self) -> Option<Connection> {
        self.conn.borrow().clone()
    }

    /// Waits until the session is connected and logged in.
    ///
    /// # Errors
    /// `ConnectionLost` if the session stops first.
    pub async fn connected(&self) -> Result<Connection, ClientError> {
        let mut rx = self.conn.clone();
        let got = rx.wait_for(Option::is_some).await.map_err(|_| stopped())?;
        got.clone().ok_or_else(stopped)
    }

    /// Logs nothing out, closes the connection and stops the worker; the
    /// last event is `Stopped { error: None }`.
    pub fn shutdown(&self) {
        let _ = self.cmds.send(Command::Shutdown);
    }
}

fn stopped() -> ClientError {
    ClientError::ConnectionLost("the session has stopped".to_owned())
}
