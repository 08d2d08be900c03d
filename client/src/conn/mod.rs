//! A live connection: the control stream's request/response correlation,
//! and delivery of server-opened room and user streams.
//!
//! Three background tasks serve each connection: a writer that owns the
//! control stream's send half (fed by a channel, so a cancelled request can
//! never leave half a frame behind), a reader that owns its receive half and
//! completes pending requests, and an acceptor that reads each new
//! uni-stream's header and hands the stream to whoever waits for it.

/// Matches a response against the variant a typed wrapper expects, sending
/// anything else to [`unexpected`]. Shared by `api` and `lifecycle_api`,
/// which are declared after it so it is in scope there.
macro_rules! expect {
    ($resp:expr, $pat:pat => $out:expr, $name:literal) => {
        match $resp {
            $pat => Ok($out),
            other => Err(unexpected($name, &other)),
        }
    };
}

mod api;
mod audit_api;
mod backup;
mod connect;
mod files;
mod io;
mod lifecycle_api;
#[cfg(test)]
mod liveness_tests;
mod pages;
mod retention_api;
mod stream;
mod target;
#[cfg(test)]
mod tests;

pub use backup::BackedUp;
pub use connect::{connect, connect_with_hello};
pub use files::{Downloaded, FileMeta, Uploaded, guess_media_type, safe_file_name};
pub use stream::{RoomStream, StreamEnd, UserStream};

use crate::error::{closed_error, describe_close};
use crate::{ClientError, Trust};
use bytes::Bytes;
use chat_protocol::{
    ClientFrame, ErrorBody, Request, RequestBody, RequestId, ResponseBody, RoomId, Seq,
    ServerFrame, StreamHeader, Welcome, codes, frame,
};
use io::read_frame;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Default time to wait for a response, and for the handshake, in ms (30 s).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time to wait for the QUIC/TLS handshake, in ms (10 s).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest [`Connection::shutdown`] waits for the close to be sent (1 s).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);
/// How long a new uni-stream may take to send its header, in ms.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long without any packet from the server before the connection is
/// declared dead and fails with [`ClientError::ConnectionLost`] (6 s), so a
/// `Session` starts reconnecting and a UI says "reconnecting" within
/// seconds of a server crash, a killed process or a cut network.
///
/// This is the QUIC `max_idle_timeout` transport parameter. The effective
/// timeout is the smaller of both peers' values (RFC 9000 §10.1), so it also
/// shortens chatd's default of 30 s for this connection: a crashed client
/// is dropped by the server as quickly. Quinn never lets it fall below
/// three probe timeouts (RFC 9000 §10.1), so on a slow path (say 1 s
/// round trips) it stretches rather than dropping healthy connections.
///
/// Detection takes between `IDLE_TIMEOUT` and `IDLE_TIMEOUT +`
/// [`KEEP_ALIVE_INTERVAL`] after the last packet heard (6–8 s): the timer
/// restarts on every packet received and on the first keep-alive sent
/// after one. Liveness is left to QUIC rather than an application-level
/// ping: a PING frame is acknowledged by the server's QUIC stack, costs no
/// request handling, and a wedged request still ends at the request
/// timeout.
pub const IDLE_TIMEOUT: Duration = Duration::from_millis(IDLE_TIMEOUT_MS as u64);
/// [`IDLE_TIMEOUT`] in ms, as the transport parameter takes it.
const IDLE_TIMEOUT_MS: u32 = 6_000;
/// How long a connection may go without sending or hearing a packet
/// before the client sends a QUIC PING (2 s, a third of [`IDLE_TIMEOUT`]).
///
/// The server's acknowledgement is the proof of life that keeps the idle
/// timer from firing; at a third of the timeout a lost PING or ACK is
/// retried (at the probe timeout) well before a healthy connection could
/// time out. Any other traffic postpones the next PING. Cost on an
/// idle connection: one PING and one ACK, about 50 bytes each, per 2 s;
/// 10,000 idle clients make about 5,000 packets a second in and as many
/// out at the server, whose own keep-alive (10 s) then never fires because
/// it keeps hearing from them.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(2);

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `HOST:PORT` (IPv6 as `[addr]:port`). The host part is also the
    /// known-hosts key and, unless `server_name` is set, the TLS server name.
    pub server: String,
    /// TLS server name (SNI) to use instead of the host part of `server`.
    pub server_name: Option<String>,
    /// Which certificates to trust.
    pub trust: Trust,
    /// Client name and version for server logs, e.g. `chat-tui/0.1.0`.
    pub client_name: String,
    /// Time to wait for each response (and the `Welcome`).
    pub request_timeout: Duration,
    /// Time to wait for the QUIC/TLS handshake.
    pub connect_timeout: Duration,
}

impl ClientConfig {
    /// A configuration with default timeouts and the SNI name taken from
    /// `server`.
    pub fn new(server: impl Into<String>, trust: Trust, client_name: impl Into<String>) -> Self {
        ClientConfig {
            server: server.into(),
            server_name: None,
            trust,
            client_name: client_name.into(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

type Reply = oneshot::Sender<Result<ResponseBody, ErrorBody>>;

/// Requests and stream waiters in flight. Guarded by a std `Mutex` that is
/// never held across an `.await`: every critical section is a map update.
#[derive(Default)]
struct Pending {
    requests: HashMap<RequestId, Reply>,
    /// Subscribe requests waiting for their room stream, keyed by the
    /// request id the stream header carries.
    rooms: HashMap<RequestId, (RoomId, oneshot::Sender<RoomStream>)>,
    /// Why the connection ended, once it has.
    lost: Option<String>,
}

struct Shared {
    conn: quinn::Connection,
    welcome: Welcome,
    request_timeout: Duration,
    next_id: AtomicU64,
    out: mpsc::UnboundedSender<Bytes>,
    pending: Mutex<Pending>,
    user_tx: mpsc::Sender<UserStream>,
    user_rx: tokio::sync::Mutex<mpsc::Receiver<UserStream>>,
}

/// Closes the QUIC connection when the last [`Connection`] clone is dropped.
struct Handle {
    shared: Arc<Shared>,
    _endpoint: quinn::Endpoint,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared
            .conn
            .close(codes::CLOSE_NORMAL.into(), b"client finished");
    }
}

/// A connected, handshaken session with a server. Cheap to clone; all
/// clones share one QUIC connection, which closes when the last is dropped.
#[derive(Clone)]
pub struct Connection {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("remote", &self.shared().conn.remote_address())
            .field("welcome", &self.shared().welcome)
            .finish()
    }
}

impl Connection {
    fn start(
        cfg: &ClientConfig,
        endpoint: quinn::Endpoint,
        conn: quinn::Connection,
        send: quinn::SendStream,
        recv: quinn::RecvStream,
        welcome: Welcome,
    ) -> Connection {
        let (out, out_rx) = mpsc::unbounded_channel();
        let (user_tx, user_rx) = mpsc::channel(4);
        let shared = Arc::new(Shared {
            conn: conn.clone(),
            welcome,
            request_timeout: cfg.request_timeout,
            next_id: AtomicU64::new(1),
            out,
            pending: Mutex::new(Pending::default()),
            user_tx,
            user_rx: tokio::sync::Mutex::new(user_rx),
        });
        tokio::spawn(write_loop(conn.clone(), send, out_rx));
        tokio::spawn(read_loop(shared.clone(), recv));
        tokio::spawn(accept_loop(shared.clone()));
        Connection {
            handle: Arc::new(Handle {
                shared,
                _endpoint: endpoint,
            }),
        }
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// The server's `Welcome`: negotiated version, server name, limits.
    pub fn welcome(&self) -> &Welcome {
        &self.shared().welcome
    }

    /// The current smoothed round-trip time estimate.
    pub fn rtt(&self) -> Duration {
        self.shared().conn.rtt()
    }

    /// The server's socket address.
    pub fn remote_address(&self) -> std::net::SocketAddr {
        self.shared().conn.remote_address()
    }

    /// Closes the connection now with `CLOSE_NORMAL` and `reason` (shown in
    /// server logs). Pending requests fail with [`ClientError::ConnectionLost`].
    pub fn close(&self, reason: &str) {
        self.shared()
            .conn
            .close(codes::CLOSE_NORMAL.into(), reason.as_bytes());
    }

    /// Closes the connection with `CLOSE_NORMAL` and waits, at most
    /// [`SHUTDOWN_GRACE`], until the close has reached the server. A
    /// short-lived program calls this before it exits: a plain drop queues
    /// the close but the process may end before it is sent, and the server
    /// then holds the connection until its idle timeout.
    pub async fn shutdown(&self, reason: &str) {
        self.close(reason);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.handle._endpoint.wait_idle()).await;
    }

    /// Waits until the connection ends and says why: a
    /// [`ClientError::ConnectionLost`], or [`ClientError::LoggedOut`] when
    /// the server ended the session.
    pub async fn closed(&self) -> ClientError {
        closed_error(&self.shared().conn.closed().await)
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.shared().conn.close_reason().is_some()
    }

    /// Sends one request and waits for its response.
    ///
    /// # Errors
    /// [`ClientError::Server`] with the server's [`ErrorBody`];
    /// [`ClientError::ConnectionLost`]; [`ClientError::Timeout`] after the
    /// configured request timeout; [`ClientError::Protocol`] if the request
    /// cannot be encoded (over 1 MiB).
    pub async fn request(&self, body: RequestBody) -> Result<ResponseBody, ClientError> {
        let id = self.next_id();
        self.request_with_id(id, body).await
    }

    fn next_id(&self) -> RequestId {
        RequestId(self.shared().next_id.fetch_add(1, Ordering::Relaxed))
    }

    async fn request_with_id(
        &self,
        id: RequestId,
        body: RequestBody,
    ) -> Result<ResponseBody, ClientError> {
        let what = request_name(&body);
        let bytes = frame::encode(&ClientFrame::Request(Request { id, body }))?;
        let (tx, rx) = oneshot::channel();
        {
            let mut p = self.lock();
            if p.lost.is_some() {
                drop(p);
                return Err(self.lost_error());
            }
            p.requests.insert(id, tx);
        }
        if self.shared().out.send(bytes).is_err() {
            self.lock().requests.remove(&id);
            return Err(self.lost_error());
        }
        match tokio::time::timeout(self.shared().request_timeout, rx).await {
            Ok(Ok(Ok(body))) => Ok(body),
            Ok(Ok(Err(err))) => Err(ClientError::Server(err)),
            Ok(Err(_)) => Err(self.lost_error()),
            Err(_) => {
                self.lock().requests.remove(&id);
                Err(ClientError::Timeout {
                    what: format!("request {what}"),
                    after: self.shared().request_timeout,
                })
            }
        }
    }

    /// Subscribes to `room` from after `since` and returns its stream once
    /// both the `Subscribed` answer and the stream itself have arrived (in
    /// either order).
    ///
    /// # Errors
    /// As [`Connection::request`] (e.g. `NotMember`); a
    /// [`ClientError::Timeout`] if the stream does not follow.
    pub async fn subscribe(&self, room: RoomId, since: Seq) -> Result<RoomStream, ClientError> {
        let id = self.next_id();
        let (tx, rx) = oneshot::channel();
        // Registered before sending, so a stream that overtakes the answer
        // is parked in this oneshot until we look.
        self.lock().rooms.insert(id, (room, tx));
        let answer = self
            .request_with_id(id, RequestBody::Subscribe { room, since })
            .await;
        let head = match answer {
            Ok(ResponseBody::Subscribed { head, .. }) => head,
            Ok(other) => {
                self.lock().rooms.remove(&id);
                return Err(unexpected("Subscribed", &other));
            }
            Err(e) => {
                self.lock().rooms.remove(&id);
                return Err(e);
            }
        };
        match tokio::time::timeout(self.shared().request_timeout, rx).await {
            Ok(Ok(mut stream)) => {
                stream.set_head(head);
                Ok(stream)
            }
            Ok(Err(_)) => Err(self.lost_error()),
            Err(_) => {
                self.lock().rooms.remove(&id);
                Err(ClientError::Timeout {
                    what: format!("waiting for the stream of room {room}"),
                    after: self.shared().request_timeout,
                })
            }
        }
    }

    /// The user event stream, which the server opens after a successful
    /// login or authentication. Waits for it up to the request timeout.
    /// Each stream the server opens is returned once.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] if none arrives (e.g. not logged in);
    /// [`ClientError::ConnectionLost`].
    pub async fn user_events(&self) -> Result<UserStream, ClientError> {
        let shared = self.shared();
        let mut rx = shared.user_rx.lock().await;
        tokio::select! {
            got = tokio::time::timeout(shared.request_timeout, rx.recv()) => match got {
                Ok(Some(stream)) => Ok(stream),
                Ok(None) => Err(self.lost_error()),
                Err(_) => Err(ClientError::Timeout {
                    what: "waiting for the user event stream (log in first)".to_owned(),
                    after: shared.request_timeout,
                }),
            },
            e = shared.conn.closed() => Err(closed_error(&e)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        lock(&self.handle.shared)
    }

    fn lost_error(&self) -> ClientError {
        if let Some(e) = self.shared().conn.close_reason() {
            return closed_error(&e);
        }
        let reason = self.lock().lost.clone();
        ClientError::ConnectionLost(reason.unwrap_or_else(|| "the connection ended".to_owned()))
    }
}

/// Locks the pending maps, recovering from poisoning: the maps stay
/// consistent because no critical section can panic midway.
fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Pending> {
    shared
        .pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The request's variant name, for messages (never its fields: a `Login`
/// carries a password).
fn request_name(body: &RequestBody) -> String {
    let debug = format!("{body:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The error for a response of the wrong kind.
pub(crate) fn unexpected(expected: &str, got: &ResponseBody) -> ClientError {
    let got = format!("{got:?}");
    let got = got
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default();
    ClientError::ProtocolViolation(format!("expected a {expected} answer, got {got}"))
}

async fn write_loop(
    conn: quinn::Connection,
    mut send: quinn::SendStream,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
) {
    loop {
        let bytes = tokio::select! {
            next = rx.recv() => match next { Some(b) => b, None => break },
            _ = conn.closed() => break,
        };
        if let Err(e) = send.write_all(&bytes).await {
            tracing::debug!(error = %e, "control stream write failed");
            break;
        }
    }
    let _ = send.finish();
}

async fn read_loop(shared: Arc<Shared>, mut recv: quinn::RecvStream) {
    let reason = loop {
        match read_frame::<ServerFrame>(&mut recv).await {
            Ok(Some(ServerFrame::Response(resp))) => {
                let reply = lock(&shared).requests.remove(&resp.id);
                // No waiter: the request timed out and was given up.
                if let Some(reply) = reply {
                    let _ = reply.send(resp.result);
                }
            }
            Ok(Some(other)) => {
                tracing::warn!(frame = ?other, "unexpected frame on the control stream");
                shared
                    .conn
                    .close(codes::CLOSE_PROTOCOL.into(), b"unexpected control frame");
                break "the server sent an unexpected frame on the control stream".to_owned();
            }
            Ok(None) => break "the server closed the control stream".to_owned(),
            Err(io::ReadEnd::Lost(e)) => break describe_close(&e),
            Err(io::ReadEnd::Reset(code)) => {
                break format!("the server reset the control stream (code {code})");
            }
            Err(io::ReadEnd::Protocol(msg)) => {
                shared
                    .conn
                    .close(codes::CLOSE_PROTOCOL.into(), b"bad frame");
                break format!("protocol error on the control stream: {msg}");
            }
        }
    };
    tracing::debug!(%reason, "control stream ended");
    // Dropping the waiters wakes each with `ConnectionLost(reason)`.
    let mut p = lock(&shared);
    p.lost = Some(reason);
    p.requests.clear();
    p.rooms.clear();
}

async fn accept_loop(shared: Arc<Shared>) {
    while let Ok(recv) = shared.conn.accept_uni().await {
        tokio::spawn(route_stream(shared.clone(), recv));
    }
}

/// Reads a uni-stream's header and hands the stream to its waiter.
async fn route_stream(shared: Arc<Shared>, mut recv: quinn::RecvStream) {
    let header =
        match tokio::time::timeout(HEADER_TIMEOUT, read_frame::<StreamHeader>(&mut recv)).await {
            Ok(Ok(Some(h))) => h,
            other => {
                tracing::debug!(?other, "uni-stream without a header");
                let _ = recv.stop(codes::STREAM_UNSUBSCRIBED.into());
                return;
            }
        };
    match header {
        StreamHeader::Room {
            room,
            since,
            request,
        } => {
            let waiter = lock(&shared).rooms.remove(&request);
            match waiter {
                Some((want, tx)) if want == room => {
                    // If the subscriber gave up, the dropped stream stops itself.
                    let _ = tx.send(RoomStream::spawn(room, since, recv));
                }
                _ => {
                    tracing::debug!(%room, request = request.0, "stale room stream");
                    let _ = recv.stop(codes::STREAM_UNSUBSCRIBED.into());
                }
            }
        }
        StreamHeader::User => {
            let _ = shared.user_tx.try_send(UserStream::spawn(recv));
        }
    }
}
