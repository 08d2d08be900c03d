//! The session worker: one task that connects, authenticates, follows
//! rooms and drains the outbox, and starts over when the connection drops.

use super::{Auth, Command, Outbox, SeqTracker, SessionConfig, SessionEvent, Verdict};
use crate::{ClientError, Connection, StreamEnd, connect};
use chat_protocol::{ErrorCode, IdempotencyKey, MessageAck, RoomFrame, RoomId, Seq, UserEvent};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Frames and results the worker buffers from its stream and send tasks
/// before they wait for it.
const FEED_BUFFER: usize = 1024;

type Reply = oneshot::Sender<Result<MessageAck, ClientError>>;

/// What the per-room, user-stream and send tasks report to the worker.
/// Room items carry the subscription generation so that items from a
/// replaced subscription are ignored; send results carry the connection
/// epoch for the same reason.
// A feed item lives only from its task to the worker; boxing the frame
// would allocate once per room event for no measurable gain.
#[allow(clippy::large_enum_variant)]
enum Feed {
    Subscribed {
        room: RoomId,
        generation: u64,
        head: Seq,
    },
    SubscribeFailed {
        room: RoomId,
        generation: u64,
        error: ClientError,
    },
    Frame {
        room: RoomId,
        generation: u64,
        frame: RoomFrame,
    },
    End {
        room: RoomId,
        generation: u64,
        end: Option<StreamEnd>,
    },
    User(UserEvent),
    UserLagged,
    SendResult {
        key: IdempotencyKey,
        epoch: u64,
        result: Result<MessageAck, ClientError>,
    },
}

/// Why serving a connection ended.
enum Exit {
    Shutdown,
    Lost(ClientError),
}

struct Worker {
    cfg: SessionConfig,
    cmds: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<SessionEvent>,
    conn_tx: watch::Sender<Option<Connection>>,
    outbox: Arc<Mutex<Outbox>>,
    replies: HashMap<IdempotencyKey, Reply>,
    tracker: SeqTracker,
    generations: HashMap<RoomId, u64>,
    next_generation: u64,
    epoch: u64,
    tasks: HashMap<RoomId, JoinHandle<()>>,
    user_task: Option<JoinHandle<()>>,
    feed_tx: mpsc::Sender<Feed>,
    feed_rx: mpsc::Receiver<Feed>,
}

pub(super) async fn run(
    cfg: SessionConfig,
    cmds: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<SessionEvent>,
    conn_tx: watch::Sender<Option<Connection>>,
    outbox: Arc<Mutex<Outbox>>,
) {
    // Bounded: when the worker falls behind, the stream tasks wait, and QUIC
    // flow control pushes back on the server (which lags the stream out
    // rather than buffer without end).
    let (feed_tx, feed_rx) = mpsc::channel(FEED_BUFFER);
    let mut w = Worker {
        cfg,
        cmds,
        events,
        conn_tx,
        outbox,
        replies: HashMap::new(),
        tracker: SeqTracker::new(),
        generations: HashMap::new(),
        next_generation: 0,
        epoch: 0,
        tasks: HashMap::new(),
        user_task: None,
        feed_tx,
        feed_rx,
    };
    let error = w.run().await;
    w.stop_tasks();
    for (_, reply) in w.replies.drain() {
        let _ = reply.send(Err(error.clone().unwrap_or_else(super::stopped)));
    }
    let _ = w.events.send(SessionEvent::Stopped { error }).await;
}

impl Worker {
    /// Runs until shutdown (`None`) or a failure retrying cannot fix.
    async fn run(&mut self) -> Option<ClientError> {
        let mut attempt = 0u32;
        loop {
            match self.connect_and_login().await {
                Ok(conn) => {
                    attempt = 0;
                    match self.serve(conn).await {
                        Exit::Shutdown => return None,
                        // The server ended the session on purpose (token
                        // revoked, account disabled): reconnecting with the
                        // same credentials cannot help.
                        Exit::Lost(error @ ClientError::LoggedOut(_)) => return Some(error),
                        Exit::Lost(error) => self.emit(SessionEvent::Disconnected { error }).await,
                    }
                }
                Err(error) if !error.is_transient() => return Some(error),
                Err(error) => {
                    attempt = attempt.saturating_add(1);
                    let delay = self.cfg.backoff.delay(attempt);
                    self.emit(SessionEvent::Reconnecting {
                        attempt,
                        delay,
                        error,
                    })
                    .await;
                    if !self.wait(delay).await {
                        return None;
                    }
                }
            }
        }
    }

    async fn connect_and_login(&mut self) -> Result<Connection, ClientError> {
        let conn = connect(&self.cfg.client).await?;
        let (user, token) = match &self.cfg.auth {
            Auth::Password { username, password } => conn.login(username, password).await?,
            Auth::Token(token) => (conn.authenticate(token).await?, None),
        };
        if let Some(token) = &token {
            // The password is used once; reconnects resume with the token.
            self.cfg.auth = Auth::Token(token.clone());
        }
        let welcome = conn.welcome().clone();
        self.emit(SessionEvent::Connected {
            welcome,
            user,
            token,
        })
        .await;
        Ok(conn)
    }

    /// Sleeps `delay` while still taking commands. `false` means shut down.
    async fn wait(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                cmd = self.cmds.recv() => match cmd {
                    None | Some(Command::Shutdown) => return false,
                    Some(cmd) => self.command(None, cmd),
                },
            }
        }
    }

    async fn serve(&mut self, conn: Connection) -> Exit {
        self.epoch += 1;
        let _ = self.conn_tx.send(Some(conn.clone()));
        if let Ok(mut o) = self.outbox.lock() {
            o.reset_in_flight();
        }
        let rooms: Vec<(RoomId, Seq)> = self.tracker.rooms().collect();
        for (room, since) in rooms {
            self.subscribe(&conn, room, since);
        }
        let (c, feed) = (conn.clone(), self.feed_tx.clone());
        self.user_task = Some(tokio::spawn(async move {
            // The server opens a new user stream after dropping a lagging
            // one; take each in turn.
            loop {
                let Ok(mut stream) = c.user_events().await else {
                    return;
                };
                let end = loop {
                    match stream.next().await {
                        Ok(Some(ev)) => {
                            if feed.send(Feed::User(ev)).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => return,
                        Err(end) => break end,
                    }
                };
                if end != StreamEnd::Lagged || feed.send(Feed::UserLagged).await.is_err() {
                    return;
                }
            }
        }));
        let exit = loop {
            self.pump_outbox(&conn);
            tokio::select! {
                cmd = self.cmds.recv() => match cmd {
                    None | Some(Command::Shutdown) => {
                        conn.close("session ended");
                        break Exit::Shutdown;
                    }
                    Some(cmd) => self.command(Some(&conn), cmd),
                },
                Some(feed) = self.feed_rx.recv() => self.feed(&conn, feed).await,
                error = conn.closed() => break Exit::Lost(error),
            }
        };
        let _ = self.conn_tx.send(None);
        self.stop_tasks();
        exit
    }

    fn stop_tasks(&mut self) {
        for (_, task) in self.tasks.drain() {
            task.abort();
        }
        if let Some(task) = self.user_task.take() {
            task.abort();
        }
    }

    fn command(&mut self, conn: Option<&Connection>, cmd: Command) {
        match cmd {
            Command::Follow(room, since) => {
                self.tracker.follow(room, since);
                if let Some(conn) = conn {
                    self.subscribe(conn, room, since);
                }
            }
            Command::Unfollow(room) => {
                self.tracker.unfollow(room);
                self.generations.remove(&room);
                if let Some(task) = self.tasks.remove(&room) {
                    task.abort();
                }
                if let Some(conn) = conn {
                    let conn = conn.clone();
                    tokio::spawn(async move {
                        let _ = conn.unsubscribe(room).await;
                    });
                }
            }
            Command::Send {
                pending: (key, room, text, reply_to),
                reply,
            } => {
                if let Ok(mut o) = self.outbox.lock() {
                    o.push(key.clone(), room, text, reply_to);
                }
                if let Some(reply) = reply {
                    self.replies.insert(key, reply);
                }
            }
            Command::Shutdown => {}
        }
    }

    /// Starts (or restarts) the subscription task for `room`.
    fn subscribe(&mut self, conn: &Connection, room: RoomId, since: Seq) {
        if let Some(task) = self.tasks.remove(&room) {
            task.abort();
        }
        self.next_generation += 1;
        let generation = self.next_generation;
        self.generations.insert(room, generation);
        let (conn, feed) = (conn.clone(), self.feed_tx.clone());
        let task = tokio::spawn(async move {
            let mut stream = match conn.subscribe(room, since).await {
                Ok(s) => s,
                Err(error) => {
                    let _ = feed
                        .send(Feed::SubscribeFailed {
                            room,
                            generation,
                            error,
                        })
                        .await;
                    return;
                }
            };
            let head = stream.head();
            let _ = feed
                .send(Feed::Subscribed {
                    room,
                    generation,
                    head,
                })
                .await;
            loop {
                let item = match stream.next().await {
                    Ok(Some(frame)) => Feed::Frame {
                        room,
                        generation,
                        frame,
                    },
                    Ok(None) => Feed::End {
                        room,
                        generation,
                        end: None,
                    },
                    Err(end) => Feed::End {
                        room,
                        generation,
                        end: Some(end),
                    },
                };
                let last = matches!(item, Feed::End { .. });
                if feed.send(item).await.is_err() || last {
                    return;
                }
            }
        });
        self.tasks.insert(room, task);
    }

    /// Hands the outbox head to the server if nothing is in flight.
    fn pump_outbox(&mut self, conn: &Connection) {
        let Some(p) = self.outbox.lock().ok().and_then(|mut o| o.next_to_send()) else {
            return;
        };
        let (conn, feed, epoch) = (conn.clone(), self.feed_tx.clone(), self.epoch);
        tokio::spawn(async move {
            let result = loop {
                let r = conn.send(p.room, p.key.clone(), &p.text, p.reply_to).await;
                match &r {
                    // Wait rather than spin: rate limits say how long; a server
                    // shutting down closes the connection soon, ending this loop.
                    Err(ClientError::Server(b))
                        if matches!(b.code, ErrorCode::RateLimited | ErrorCode::Unavailable) =>
                    {
                        let ms = b.retry_after_ms.unwrap_or(1000).clamp(10, 60_000);
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    _ => break r,
                }
            };
            let _ = feed
                .send(Feed::SendResult {
                    key: p.key,
                    epoch,
                    result,
                })
                .await;
        });
    }

    fn current(&self, room: RoomId, generation: u64) -> bool {
        self.generations.get(&room) == Some(&generation)
    }

    fn resubscribe(&mut self, conn: &Connection, room: RoomId) {
        if let Some(since) = self.tracker.last(room) {
            self.subscribe(conn, room, since);
        }
    }

    fn drop_room(&mut self, room: RoomId) {
        self.tracker.unfollow(room);
        self.generations.remove(&room);
        self.tasks.remove(&room);
    }

    async fn feed(&mut self, conn: &Connection, feed: Feed) {
        match feed {
            Feed::Frame {
                room,
                generation,
                frame,
            } if self.current(room, generation) => match frame {
                RoomFrame::Event(ev) => match self.tracker.accept(room, ev.seq) {
                    Verdict::New => self.emit(SessionEvent::Room(ev)).await,
                    Verdict::Duplicate | Verdict::NotFollowed => {}
                    Verdict::Gap { expected } => {
                        tracing::warn!(%room, %expected, got = %ev.seq, "gap in room stream; resubscribing");
                        self.resubscribe(conn, room);
                    }
                },
                RoomFrame::CaughtUp { head } => {
                    self.emit(SessionEvent::CaughtUp { room, head }).await
                }
                frame @ (RoomFrame::Receipt { .. } | RoomFrame::Typing { .. }) => {
                    self.emit(SessionEvent::Ephemeral { room, frame }).await
                }
                // `RoomStream::next` reports it as the stream's end.
                RoomFrame::Closed { .. } => {}
            },
            Feed::Subscribed {
                room,
                generation,
                head,
            } if self.current(room, generation) => {
                self.emit(SessionEvent::Subscribed { room, head }).await;
            }
            Feed::SubscribeFailed {
                room,
                generation,
                error,
            } if self.current(room, generation) => {
                // A lost connection is handled by `serve`; it resubscribes.
                if !matches!(error, ClientError::ConnectionLost(_)) {
                    self.drop_room(room);
                    self.emit(SessionEvent::FollowFailed { room, error }).await;
                }
            }
            Feed::End {
                room,
                generation,
                end,
            } if self.current(room, generation) => match end {
                Some(StreamEnd::Lagged | StreamEnd::Protocol(_) | StreamEnd::Reset(_)) => {
                    self.resubscribe(conn, room);
                }
                Some(StreamEnd::ConnectionLost(_)) => {}
                Some(reason @ (StreamEnd::Revoked | StreamEnd::Unsubscribed)) => {
                    self.drop_room(room);
                    self.emit(SessionEvent::RoomClosed { room, reason }).await;
                }
                None => {
                    self.drop_room(room);
                    let reason = StreamEnd::Unsubscribed;
                    self.emit(SessionEvent::RoomClosed { room, reason }).await;
                }
            },
            Feed::User(ev) => self.emit(SessionEvent::User(ev)).await,
            Feed::UserLagged => self.emit(SessionEvent::UserEventsLost).await,
            Feed::SendResult { key, epoch, result } => self.send_result(key, epoch, result).await,
            // Items from a replaced or cancelled subscription.
            Feed::Frame { .. }
            | Feed::Subscribed { .. }
            | Feed::SubscribeFailed { .. }
            | Feed::End { .. } => {}
        }
    }

    async fn send_result(
        &mut self,
        key: IdempotencyKey,
        epoch: u64,
        result: Result<MessageAck, ClientError>,
    ) {
        match result {
            Ok(ack) => {
                let removed = self.outbox.lock().ok().and_then(|mut o| o.remove(&key));
                if removed.is_none() {
                    return; // already acknowledged through an earlier attempt
                }
                if let Some(reply) = self.replies.remove(&key) {
                    let _ = reply.send(Ok(ack.clone()));
                }
                self.emit(SessionEvent::Sent { key, ack }).await;
            }
            // Failures from an earlier connection were already reset by `serve`.
            Err(_) if epoch != self.epoch => {}
            Err(e) if e.is_transient() => {
                if let Ok(mut o) = self.outbox.lock() {
                    o.retry_later(&key);
                }
            }
            Err(error) => {
                if let Ok(mut o) = self.outbox.lock() {
                    o.remove(&key);
                }
                if let Some(reply) = self.replies.remove(&key) {
                    let _ = reply.send(Err(error.clone()));
                }
                self.emit(SessionEvent::SendFailed { key, error }).await;
            }
        }
    }

    async fn emit(&self, event: SessionEvent) {
        // A consumer that dropped the receiver still has its handle's
        // `send` results; nothing else to do.
        let _ = self.events.send(event).await;
    }
}
