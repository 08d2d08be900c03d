//! chat-client: the async SDK that chat-tui, chatctl and Rust bots use to
//! talk to `chatd` over QUIC.
//!
//! ```no_run
//! # async fn demo() -> Result<(), chat_client::ClientError> {
//! use chat_client::{ClientConfig, Trust, connect};
//! let cfg = ClientConfig::new("127.0.0.1:4433", Trust::CaFile("certs/ca.crt".into()), "bot/0.1");
//! let conn = connect(&cfg).await?;
//! conn.login("alice", "correct horse").await?;
//! let room = conn.room_by_name("general").await?;
//! conn.send(room.id, chat_protocol::IdempotencyKey::random(), "hello", None).await?;
//! # Ok(()) }
//! ```
//!
//! # Trust modes
//!
//! [`Trust::CaFile`] trusts server certificates signed by a PEM CA file
//! (the server writes `certs/ca.crt`) and checks the server name, as HTTPS
//! does. [`Trust::KnownHosts`] pins, as SSH does: the SHA-256
//! [`fingerprint`] of the server's certificate is stored per `host:port` in
//! a known-hosts file ([`default_known_hosts_path`]). On first contact
//! [`OnUnknown`] decides (reject, accept, or ask a callback); afterwards a
//! different certificate fails with [`ClientError::CertificateChanged`],
//! naming both fingerprints and the line to delete. Either way TLS 1.3
//! signatures are verified, so the server must hold the private key. The
//! ring crypto provider is passed explicitly; no process-global default is
//! needed.
//!
//! # Streams as seen from the client
//!
//! * **Control** (one bi-stream, opened by [`connect`]): `Hello` up,
//!   `Welcome` or `Refused` down, then requests and responses. Requests carry
//!   a [`chat_protocol::RequestId`]; many may be in flight and answers come
//!   in any order. [`Connection::request`] correlates them.
//! * **Room** (server-opened uni-stream per subscription): a
//!   `StreamHeader::Room` naming the `Subscribe` request, then events after
//!   `since`, `CaughtUp`, and live events. [`Connection::subscribe`] waits for
//!   both the answer and the stream, whichever comes first. A reset ends a
//!   [`RoomStream`] with a [`StreamEnd`]: `Lagged` (resubscribe from the last
//!   seq), `Revoked`, `Unsubscribed`.
//! * **User** (server-opened after login): `StreamHeader::User`, then
//!   [`chat_protocol::UserEvent`]s; see [`Connection::user_events`].
//!
//! # Liveness
//!
//! A connection sends a QUIC PING whenever it has heard nothing from the
//! server for [`KEEP_ALIVE_INTERVAL`] (2 s), and gives up after
//! [`IDLE_TIMEOUT`] (6 s) without a packet from the server. A crashed or
//! unreachable server therefore ends the connection with
//! [`ClientError::ConnectionLost`] within 6–8 s. The smaller of the two
//! peers' idle timeouts applies (RFC 9000 §10.1), so chatd's (30 s by
//! default) does not delay this, and chatd drops a vanished client as fast.
//!
//! [`session::Session`] adds reconnection with backoff, resubscription
//! without gaps or duplicates, and an outbox of unacknowledged sends.
//!
//! # Code map
//!
//! * `trust/`: known-hosts file, pinning verifier, rustls setup.
//! * `conn/connect.rs`: address, QUIC/TLS, first-use prompt, handshake.
//! * `conn/mod.rs`: [`Connection`], its reader/writer/acceptor tasks.
//! * `conn/stream.rs`: [`RoomStream`], [`UserStream`], [`StreamEnd`].
//! * `conn/api.rs`: typed request wrappers. **A new request kind gets its
//!   wrapper here**: one method that builds the `RequestBody` and matches
//!   the expected `ResponseBody`.
//! * `session/`: reconnecting [`session::Session`] and its pure parts
//!   (backoff, seq tracking, outbox), each unit-tested without a network.
//!
//! Invariants: this crate knows nothing of terminals; no std mutex guard is
//! held across an `.await`; stream reads happen in one task per stream, so
//! every public `next()` is cancel-safe.

// Tests may unwrap (house style); library code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod conn;
mod error;
pub mod session;
mod trust;

pub use conn::BackedUp;
pub use conn::{
    ClientConfig, Connection, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, IDLE_TIMEOUT,
    KEEP_ALIVE_INTERVAL, RoomStream, SHUTDOWN_GRACE, StreamEnd, UserStream, connect,
    connect_with_hello,
};
pub use conn::{Downloaded, FileMeta, Uploaded, guess_media_type, safe_file_name};
pub use error::ClientError;
pub use trust::{
    AskFn, KnownHost, KnownHosts, OnUnknown, Trust, default_known_hosts_path, fingerprint,
};
