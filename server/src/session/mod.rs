//! One task per QUIC connection: the handshake, the control stream, and the
//! streams the server opens for the client.
//!
//! The control stream's reader runs in the connection task. Each request is
//! answered by its own task (at most [`MAX_IN_FLIGHT`] per connection), and
//! every response goes through one writer task, so a slow request never
//! holds up the others. Sends are the exception: their write job is queued
//! to the storage writer by the reader itself, before the next frame is
//! read, so a client's pipelined sends are stored in the order it sent them.

mod guard;
pub mod io;
mod room_stream;
mod user_stream;

use crate::handlers;
use crate::shared::Shared;
use bytes::Bytes;
use chat_protocol::{
    self as proto, ClientFrame, ErrorBody, ErrorCode, RequestId, ServerFrame, codes,
};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::Instrument;

/// Most requests one connection may have in flight; further frames wait
/// (QUIC flow control then slows the client down).
pub const MAX_IN_FLIGHT: usize = 256;

/// How long a client has to open its control stream and say `Hello`, in ms.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

/// The authenticated identity of a session.
#[derive(Debug, Clone)]
pub struct Authed {
    /// User id.
    pub user: u64,
    /// Username.
    pub username: String,
    /// Server admin.
    pub admin: bool,
    /// The token the session was opened or resumed with.
    pub token_id: u64,
}

/// Whether the session is logged in, and whether its connection has ended.
#[derive(Default)]
struct AuthState {
    authed: Option<Authed>,
    /// Set once by the connection's clean-up. A login that finishes after
    /// it (the password was still hashing when the client went away) must
    /// not mark the user online, since no clean-up would ever undo it.
    closed: bool,
    /// Ends the session's rights guard (see `guard`).
    guard: Option<oneshot::Sender<()>>,
}

/// A live room subscription on this connection.
struct SubHandle {
    request: RequestId,
    cancel: oneshot::Sender<()>,
}

/// One connection's state.
pub struct Session {
    /// Server state.
    pub shared: Arc<Shared>,
    /// The QUIC connection.
    pub conn: quinn::Connection,
    auth: Mutex<AuthState>,
    subs: Mutex<HashMap<u64, SubHandle>>,
    out: mpsc::Sender<Bytes>,
    user_stream: Mutex<Option<oneshot::Sender<()>>>,
    /// Users this session's user blocks: their messages, edits and
    /// reactions reach this session as `Hidden`.
    pub blocked: Arc<std::sync::RwLock<std::collections::HashSet<u64>>>,
}

impl Session {
    /// The session's identity. `admin` is the flag as last checked: the
    /// rights guard refreshes it whenever the account changes, and
    /// admin-only actions check it again where they are applied
    /// (`handlers::require_admin`, `handlers::actor`).
    ///
    /// # Errors
    /// [`ErrorCode::Unauthenticated`] before login.
    pub fn authed(&self) -> Result<Authed, ErrorBody> {
        self.auth
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .authed
            .clone()
            .ok_or_else(|| {
                ErrorBody::new(
                    ErrorCode::Unauthenticated,
                    "log in first (Login with a password, or Authenticate with a token)",
                )
            })
    }

    /// Marks the session logged in with the users it blocks, opens its user
    /// stream, starts its rights guard and announces the user's presence.
    /// Does nothing once the connection has ended.
    pub fn set_authed(self: &Arc<Self>, authed: Authed, blocked: std::collections::HashSet<u64>) {
        let user = authed.user;
        tracing::debug!(user = %authed.username, admin = authed.admin, "authenticated");
        *self.blocked.write().unwrap_or_else(|p| p.into_inner()) = blocked;
        let (guard_stop, guard_stopped) = oneshot::channel();
        let was = {
            let mut state = self.auth.lock().unwrap_or_else(|p| p.into_inner());
            if state.closed {
                tracing::debug!("login finished after the connection ended; ignored");
                return;
            }
            if let Some(old) = state.guard.replace(guard_stop) {
                let _ = old.send(());
            }
            let was = state.authed.replace(authed.clone());
            if was.is_none() {
                self.shared.sessions.fetch_add(1, Ordering::Relaxed);
            }
            was
        };
        if let Some(prev) = &was {
            self.presence_left(prev.user);
        }
        if let Some(state) = self.shared.presence.connected(user) {
            crate::handlers::announce_presence(self.shared.clone(), user, state);
        }
        tokio::spawn(guard::run(self.clone(), authed, guard_stopped).in_current_span());
        let (cancel, cancelled) = oneshot::channel();
        if let Some(old) = self
            .user_stream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(cancel)
        {
            let _ = old.send(());
        }
        tokio::spawn(user_stream::run(self.clone(), user, cancelled).in_current_span());
    }

    fn presence_left(&self, user: u64) {
        if let Some(state) = self.shared.presence.disconnected(user) {
            crate::handlers::announce_presence(self.shared.clone(), user, state);
            crate::handlers::persist_last_seen(&self.shared, user);
        }
    }

    /// Ends the session's login (the connection stays open).
    pub fn clear_authed(&self) {
        self.end_login(false);
    }

    /// Ends the login, its streams and its guard; with `closing`, also
    /// refuses every later login on this connection.
    fn end_login(&self, closing: bool) {
        let (was, guard) = {
            let mut state = self.auth.lock().unwrap_or_else(|p| p.into_inner());
            state.closed |= closing;
            (state.authed.take(), state.guard.take())
        };
        if let Some(g) = guard {
            let _ = g.send(());
        }
        if let Some(prev) = was {
            self.shared.sessions.fetch_sub(1, Ordering::Relaxed);
            self.presence_left(prev.user);
        }
        if let Some(c) = self
            .user_stream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = c.send(());
        }
        for (_, sub) in self.subs.lock().unwrap_or_else(|p| p.into_inner()).drain() {
            let _ = sub.cancel.send(());
        }
    }

    /// Updates the cached admin flag after the guard re-read the account.
    fn refresh_admin(&self, user: u64, admin: bool) {
        let mut state = self.auth.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = state.authed.as_mut().filter(|a| a.user == user) {
            a.admin = admin;
        }
    }

    /// Closes the connection because its login is no longer valid; the
    /// client shows `reason`.
    fn log_out(&self, reason: &str) {
        tracing::info!(reason, "closing a session whose rights were taken away");
        self.conn
            .close(codes::CLOSE_LOGGED_OUT.into(), reason.as_bytes());
        self.end_login(true);
    }

    /// Starts (or restarts) the room stream for `room` from `since` over
    /// `sub`, a hub subscription the caller registered *before* it checked
    /// membership: a removal committed after that check then reaches `sub`
    /// and ends the stream, and one committed before it failed the check.
    /// Either way no stream outlives its membership (test:
    /// `e2e::security::subscribe_racing_kick_never_outlives_membership`).
    ///
    /// # Errors
    /// [`ErrorCode::LimitExceeded`] past the per-connection stream limit.
    pub fn subscribe(
        self: &Arc<Self>,
        sub: crate::fanout::Subscription,
        request: RequestId,
        room: u64,
        since: u64,
    ) -> Result<(), ErrorBody> {
        let limit = self.shared.config.limits.max_streams_per_connection as usize;
        let (cancel, cancelled) = oneshot::channel();
        {
            let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
            // One stream is the user stream.
            if !subs.contains_key(&room) && subs.len() + 1 >= limit {
                return Err(ErrorBody::new(
                    ErrorCode::LimitExceeded,
                    format!(
                        "this connection already follows {} rooms, the server's limit; \
                         unsubscribe from some first",
                        subs.len()
                    ),
                ));
            }
            if let Some(old) = subs.insert(room, SubHandle { request, cancel }) {
                let _ = old.cancel.send(());
            }
        }
        let task = room_stream::RoomStream {
            session: self.clone(),
            room,
            since,
            request,
            sub,
        };
        tokio::spawn(task.run(cancelled).in_current_span());
        Ok(())
    }

    /// Ends the room stream for `room`, if any.
    pub fn unsubscribe(&self, room: u64) -> bool {
        match self
            .subs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&room)
        {
            Some(sub) => {
                let _ = sub.cancel.send(());
                true
            }
            None => false,
        }
    }

    /// Forgets `room`'s subscription if it is still the one from `request`.
    fn forget_sub(&self, room: u64, request: RequestId) {
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        if subs.get(&room).is_some_and(|s| s.request == request) {
            subs.remove(&room);
        }
    }

    /// Runs `f` over this server's tables in a read transaction on the
    /// blocking pool (see [`crate::store::Store::read`]).
    ///
    /// # Errors
    /// Whatever `f` returns, or a redb error opening the tables.
    pub async fn read<T, F>(&self, f: F) -> Result<T, crate::store::StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&crate::store::query::Reader) -> Result<T, crate::store::StoreError>
            + Send
            + 'static,
    {
        self.shared
            .store
            .read(move |txn| f(&crate::store::query::Reader::open(txn)?))
            .await
    }

    /// Runs `f` as a job of the storage writer and waits for its commit
    /// (see [`crate::store::Writer::write`]).
    ///
    /// # Errors
    /// The job's refusal, or a storage failure.
    pub async fn write<T, F>(&self, f: F) -> Result<T, crate::store::WriteError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&mut crate::store::WriteCtx<'t>) -> Result<T, crate::store::WriteError>
            + Send
            + 'static,
    {
        self.shared.store.writer().write(f).await
    }

    /// Queues a response on the control stream. Waits while the client is
    /// not reading (the queue holds [`MAX_IN_FLIGHT`] frames).
    pub async fn respond(&self, id: RequestId, result: Result<proto::ResponseBody, ErrorBody>) {
        let frame = ServerFrame::Response(proto::Response { id, result });
        match proto::frame::encode(&frame) {
            Ok(bytes) => {
                let _ = self.out.send(bytes).await;
            }
            Err(e) => tracing::error!(error = %e, "cannot encode response"),
        }
    }
}

/// Serves one connection until it closes.
pub async fn serve(shared: Arc<Shared>, incoming: quinn::Incoming) {
    let conn = match incoming.await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "handshake failed");
            return;
        }
    };
    let span = tracing::info_span!("conn", remote = %conn.remote_address(), id = conn.stable_id());
    async move {
        shared.connections.fetch_add(1, Ordering::Relaxed);
        tracing::debug!("connected");
        let why = serve_conn(shared.clone(), conn.clone()).await;
        tracing::debug!(reason = %why, "connection ended");
        shared.connections.fetch_sub(1, Ordering::Relaxed);
    }
    .instrument(span)
    .await;
}

async fn serve_conn(shared: Arc<Shared>, conn: quinn::Connection) -> String {
    let accepted = tokio::time::timeout(
        Duration::from_millis(HANDSHAKE_TIMEOUT_MS),
        conn.accept_bi(),
    )
    .await;
    let (mut send, mut recv) = match accepted {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return e.to_string(),
        Err(_) => {
            conn.close(
                codes::CLOSE_HANDSHAKE.into(),
                b"no control stream within 10 s",
            );
            return "handshake timeout".into();
        }
    };
    let hello = match tokio::time::timeout(
        Duration::from_millis(HANDSHAKE_TIMEOUT_MS),
        io::read_frame::<ClientFrame>(&mut recv),
    )
    .await
    {
        Ok(Ok(ClientFrame::Hello(h))) => h,
        Ok(Ok(_)) => {
            conn.close(
                codes::CLOSE_PROTOCOL.into(),
                b"the first frame must be Hello",
            );
            return "no hello".into();
        }
        Ok(Err(e)) => {
            conn.close(codes::CLOSE_PROTOCOL.into(), b"bad hello frame");
            return e.to_string();
        }
        Err(_) => {
            conn.close(codes::CLOSE_HANDSHAKE.into(), b"no Hello within 10 s");
            return "hello timeout".into();
        }
    };
    let reply =
        match proto::handshake::negotiate(&hello, proto::PROTOCOL_VERSION, proto::PROTOCOL_VERSION)
        {
            Ok(version) => ServerFrame::Welcome(proto::Welcome {
                version,
                server: format!("chatd/{}", env!("CARGO_PKG_VERSION")),
                limits: shared.wire_limits(),
            }),
            Err(e) => ServerFrame::Refused(e),
        };
    let refused = matches!(reply, ServerFrame::Refused(_));
    match proto::frame::encode(&reply) {
        Ok(bytes) => {
            if let Err(e) = send.write_all(&bytes).await {
                return e.to_string();
            }
        }
        Err(e) => return e.to_string(),
    }
    if refused {
        let _ = send.finish();
        // Wait for the client to read the refusal and close, bounded.
        let _ = tokio::time::timeout(Duration::from_secs(2), conn.closed()).await;
        conn.close(
            codes::CLOSE_HANDSHAKE.into(),
            b"unsupported protocol version",
        );
        return "version refused".into();
    }
    tracing::debug!(client = %hello.client, "welcomed");

    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(MAX_IN_FLIGHT);
    let writer = tokio::spawn(
        async move {
            while let Some(bytes) = out_rx.recv().await {
                if send.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        }
        .in_current_span(),
    );
    let session = Arc::new(Session {
        shared,
        conn: conn.clone(),
        auth: Mutex::new(AuthState::default()),
        subs: Mutex::new(HashMap::new()),
        out: out_tx,
        user_stream: Mutex::new(None),
        blocked: Arc::default(),
    });
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let why = loop {
        let frame = match io::read_frame::<ClientFrame>(&mut recv).await {
            Ok(f) => f,
            Err(io::ReadError::Finished) => break "control stream finished".to_string(),
            Err(io::ReadError::Frame(e)) => {
                conn.close(codes::CLOSE_PROTOCOL.into(), e.to_string().as_bytes());
                break e.to_string();
            }
            Err(e) => break e.to_string(),
        };
        let request = match frame {
            ClientFrame::Request(r) => r,
            ClientFrame::Hello(_) => {
                conn.close(codes::CLOSE_PROTOCOL.into(), b"Hello sent twice");
                break "hello twice".into();
            }
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break "closing".into();
        };
        handlers::dispatch(&session, request, permit);
    };
    session.end_login(true);
    writer.abort();
    why
}
