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
/// (QUIC flow control then slows the client down). Sends pipeline this deep.
pub const MAX_IN_FLIGHT: usize = 256;

/// Most requests with possibly large answers (history, lists, audit) one
/// connection may have in flight; each answer is at most one frame
/// (1 MiB), so these pin at most 4 MiB while they wait to be sent.
pub const MAX_HEAVY_IN_FLIGHT: usize = 4;

/// Bytes of encoded answers one connection may have queued for its control
/// stream. A client that stops reading stops the server from answering (and
/// so from reading its next requests) once this is full.
pub const REPLY_BUDGET_BYTES: usize = 4 << 20;

/// How long a client has to open its control stream and say `Hello`, in ms.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

/// Largest frame accepted before login, in bytes: `Login` carries at most
/// a 1 KiB password, so nothing legitimate comes near it.
pub const PRE_AUTH_MAX_FRAME: usize = 16 << 10;

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

impl Authed {
    /// The caller of a store operation: this user with this token.
    pub fn caller(&self) -> crate::store::ops::Caller {
        crate::store::ops::Caller {
            user: self.user,
            token: self.token_id,
        }
    }
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
    out: mpsc::Sender<(Bytes, tokio::sync::OwnedSemaphorePermit)>,
    /// Bytes of [`REPLY_BUDGET_BYTES`] left for queued answers (in KiB
    /// permits); closed when the connection ends, so no answer waits forever.
    reply_budget: Arc<Semaphore>,
    /// Signalled on every login and logout, for the login deadline.
    auth_changed: tokio::sync::Notify,
    user_stream: Mutex<Option<oneshot::Sender<()>>>,
    /// Users this session's user blocks: their messages, edits and
    /// reactions reach this session as `Hidden`.
    pub blocked: Arc<std::sync::RwLock<std::collections::HashSet<u64>>>,
    /// The last access this connection declared (`DeclareAccess`), as
    /// "purpose: reason", quoted in the audit records of its reads of
    /// deleted text.
    pub declared_access: Mutex<Option<String>>,
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
        self.auth_changed.notify_one();
        // Logged in: the client may now pipeline requests of any size.
        self.conn.set_receive_window(quinn::VarInt::from_u32(
            crate::tls::CONNECTION_RECEIVE_WINDOW,
        ));
        crate::files::transfer::grant_transfer_streams(&self.conn);
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
        self.auth_changed.notify_one();
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
        let limit = self
            .shared
            .config
            .current()
            .limits
            .max_streams_per_connection as usize;
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

    /// Whether the session is logged in now.
    pub fn is_authed(&self) -> bool {
        self.auth
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .authed
            .is_some()
    }

    /// Queues a response on the control stream. Waits while the client is
    /// not reading and [`REPLY_BUDGET_BYTES`] are queued already.
    ///
    /// An answer that does not fit in a frame is never dropped: the client
    /// gets [`ErrorCode::ResponseTooLarge`] for that request instead.
    pub async fn respond(&self, id: RequestId, result: Result<proto::ResponseBody, ErrorBody>) {
        let frame = ServerFrame::Response(proto::Response { id, result });
        let encoded = match proto::frame::encode(&frame) {
            Err(proto::frame::FrameError::TooLarge { len, max }) => {
                tracing::warn!(len, max, "answer too large for a frame; refused instead");
                let refusal = ErrorBody::new(
                    ErrorCode::ResponseTooLarge,
                    format!(
                        "the answer is {len} bytes, more than the {max}-byte frame limit; \
                         ask for less (a paged list request, or a smaller page)"
                    ),
                );
                proto::frame::encode(&ServerFrame::Response(proto::Response {
                    id,
                    result: Err(refusal),
                }))
            }
            other => other,
        };
        match encoded {
            Ok(bytes) => {
                // Whole KiB, and never more than the whole budget, so any
                // one frame can always be queued.
                let kib = bytes
                    .len()
                    .div_ceil(1024)
                    .clamp(1, REPLY_BUDGET_BYTES / 1024);
                let permits = u32::try_from(kib).unwrap_or(u32::MAX);
                let Ok(permit) = self.reply_budget.clone().acquire_many_owned(permits).await else {
                    return; // the connection ended
                };
                let _ = self.out.send((bytes, permit)).await;
            }
            Err(e) => tracing::error!(error = %e, "cannot encode response"),
        }
    }
}

/// Serves one connection until it closes. The accept loop counted it in
/// `shared.connections` before the handshake; this uncounts it at the end,
/// whatever the outcome.
pub async fn serve(shared: Arc<Shared>, incoming: quinn::Incoming) {
    struct Counted(Arc<Shared>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.connections.fetch_sub(1, Ordering::Relaxed);
        }
    }
    let _counted = Counted(shared.clone());
    shared.handshaking.fetch_add(1, Ordering::Relaxed);
    let handshake = incoming.await;
    shared.handshaking.fetch_sub(1, Ordering::Relaxed);
    let conn = match handshake {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "handshake failed");
            return;
        }
    };
    let span = tracing::info_span!("conn", remote = %conn.remote_address(), id = conn.stable_id());
    async move {
        tracing::debug!("connected");
        let why = serve_conn(shared.clone(), conn.clone()).await;
        tracing::debug!(reason = %why, "connection ended");
    }
    .instrument(span)
    .await;
}

async fn serve_conn(shared: Arc<Shared>, conn: quinn::Connection) -> String {
    let body_ms = shared.config.current().deadlines.frame_body_ms;
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
        read_client_frame(&mut recv, PRE_AUTH_MAX_FRAME, body_ms),
    )
    .await
    {
        Ok(Ok(Incoming::Frame(ClientFrame::Hello(h)))) => h,
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

    let (out_tx, mut out_rx) =
        mpsc::channel::<(Bytes, tokio::sync::OwnedSemaphorePermit)>(MAX_IN_FLIGHT);
    let writer = tokio::spawn(
        async move {
            // The permit returns its share of the reply budget once the
            // frame is handed to QUIC.
            while let Some((bytes, _permit)) = out_rx.recv().await {
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
        reply_budget: Arc::new(Semaphore::new(REPLY_BUDGET_BYTES / 1024)),
        auth_changed: tokio::sync::Notify::new(),
        user_stream: Mutex::new(None),
        blocked: Arc::default(),
        declared_access: Mutex::new(None),
    });
    let deadline = tokio::spawn(login_deadline(session.clone()).in_current_span());
    let transfers =
        tokio::spawn(crate::files::transfer::accept_streams(session.clone()).in_current_span());
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let heavy = Arc::new(Semaphore::new(MAX_HEAVY_IN_FLIGHT));
    let why = loop {
        let max = if session.is_authed() {
            proto::frame::MAX_FRAME_LEN
        } else {
            PRE_AUTH_MAX_FRAME
        };
        let frame = match read_client_frame(&mut recv, max, body_ms).await {
            Ok(Incoming::Frame(f)) => f,
            Ok(Incoming::Unknown(id)) => {
                // A request kind this build does not know: answered, and the
                // connection goes on (new kinds keep the protocol version).
                let session = session.clone();
                let body = ErrorBody::new(
                    ErrorCode::BadRequest,
                    format!(
                        "this server (chatd {}) does not know that request kind; \
                         upgrade the server, or use a client of its version",
                        env!("CARGO_PKG_VERSION")
                    ),
                );
                tokio::spawn(async move { session.respond(id, Err(body)).await }.in_current_span());
                continue;
            }
            Err(io::ReadError::Finished) => break "control stream finished".to_string(),
            Err(io::ReadError::Frame(e)) => {
                let why = if max < proto::frame::MAX_FRAME_LEN {
                    format!("{e} (before login)")
                } else {
                    e.to_string()
                };
                conn.close(codes::CLOSE_PROTOCOL.into(), why.as_bytes());
                break why;
            }
            Err(io::ReadError::Stalled) => {
                conn.close(
                    codes::CLOSE_PROTOCOL.into(),
                    b"a frame's body did not arrive in time",
                );
                break "stalled frame".into();
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
        let heavy_permit = if request.body.may_answer_large() {
            match heavy.clone().acquire_owned().await {
                Ok(p) => Some(p),
                Err(_) => break "closing".into(),
            }
        } else {
            None
        };
        handlers::dispatch(&session, request, (permit, heavy_permit));
    };
    deadline.abort();
    transfers.abort();
    session.reply_budget.close();
    session.end_login(true);
    writer.abort();
    why
}

/// What the control stream delivered.
enum Incoming {
    /// A frame this build understands.
    Frame(ClientFrame),
    /// A request of an unknown kind, to be answered with its id.
    Unknown(RequestId),
}

/// Reads one client frame of at most `max` bytes; a request whose body
/// does not decode but whose envelope does is [`Incoming::Unknown`].
async fn read_client_frame(
    recv: &mut quinn::RecvStream,
    max: usize,
    body_ms: u64,
) -> Result<Incoming, io::ReadError> {
    let body = io::read_body(recv, max, body_ms).await?;
    match proto::frame::decode_body::<ClientFrame>(&body) {
        Ok(f) => Ok(Incoming::Frame(f)),
        Err(e) => match proto::frame::decode_body::<proto::ClientFrameEnvelope>(&body) {
            Ok(proto::ClientFrameEnvelope::Request(r)) => Ok(Incoming::Unknown(r.id)),
            _ => Err(e.into()),
        },
    }
}

/// Closes the connection once it has gone `deadlines.login_ms` without a
/// login (after `Welcome`, or after a logout).
async fn login_deadline(session: Arc<Session>) {
    let ms = session.shared.config.current().deadlines.login_ms;
    let limit = Duration::from_millis(ms);
    loop {
        if session.is_authed() {
            session.auth_changed.notified().await;
            continue;
        }
        if tokio::time::timeout(limit, session.auth_changed.notified())
            .await
            .is_err()
            && !session.is_authed()
        {
            let why = format!(
                "no login within {} s; log in right after connecting",
                ms / 1000
            );
            session
                .conn
                .close(codes::CLOSE_HANDSHAKE.into(), why.as_bytes());
            return;
        }
    }
}
