//! [`ClientError`]: every way a connection, handshake or request can fail,
//! each with a message that says what was wrong and what to do.

use chat_protocol::{ErrorBody, ErrorCode, FrameError, codes};
use std::path::PathBuf;
use std::time::Duration;

/// Why a client operation failed.
///
/// Programs match on the variant (and on [`ClientError::code`] for server
/// refusals); people read the `Display` text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server address could not be parsed or resolved.
    #[error(
        "cannot use server address `{server}`: {reason}; give it as HOST:PORT, e.g. chat.example.org:4433"
    )]
    Address {
        /// The address as given.
        server: String,
        /// What went wrong.
        reason: String,
    },
    /// The QUIC connection could not be established (no answer, refused).
    #[error(
        "cannot connect to {server}: {reason}; check that the server runs and the port is reachable over UDP"
    )]
    Connect {
        /// The address as given.
        server: String,
        /// What went wrong.
        reason: String,
    },
    /// TLS setup or the TLS handshake failed for a reason other than
    /// certificate pinning (see [`ClientError::CertificateChanged`]).
    #[error("TLS failure with {server}: {reason}")]
    Tls {
        /// The address as given.
        server: String,
        /// What went wrong, with a hint.
        reason: String,
    },
    /// The CA file for [`crate::Trust::CaFile`] could not be read or holds
    /// no certificate.
    #[error("cannot use CA file {}: {reason}; pass the server's PEM CA certificate (e.g. certs/ca.crt)", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The server is not in the known-hosts file and the caller declined
    /// (or the policy is [`crate::OnUnknown::Reject`]).
    #[error(
        "the server {host} is not in {} and was not trusted; its certificate fingerprint is \
         SHA256 {fingerprint}. Compare it with the fingerprint the server logs at startup, \
         then reconnect and accept it (e.g. with --trust-new)",
        known_hosts.display()
    )]
    UnknownHostRejected {
        /// `host:port` key.
        host: String,
        /// Fingerprint of the presented certificate (see [`crate::fingerprint`]).
        fingerprint: String,
        /// The known-hosts file consulted.
        known_hosts: PathBuf,
    },
    /// The server presented a certificate other than the one pinned for it.
    #[error(
        "WARNING: the certificate of {host} has CHANGED. Known fingerprint: SHA256 {known}; \
         presented: SHA256 {presented}. Someone may be intercepting the connection, or the \
         server's certificate was replaced. If the change is expected, remove line {line} of {} \
         and reconnect",
        known_hosts.display()
    )]
    CertificateChanged {
        /// `host:port` key.
        host: String,
        /// The pinned fingerprint.
        known: String,
        /// The fingerprint presented now.
        presented: String,
        /// The known-hosts file.
        known_hosts: PathBuf,
        /// Line of the pinned entry (1-based).
        line: usize,
    },
    /// The known-hosts file could not be read, parsed or written.
    #[error("known-hosts file {}{}: {msg}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    KnownHosts {
        /// The file.
        path: PathBuf,
        /// The offending line (1-based), if the problem is one line.
        line: Option<usize>,
        /// What was wrong and what to do.
        msg: String,
    },
    /// The server refused the handshake (for example, no common protocol
    /// version); the message is the server's and names both sides' versions.
    #[error("the server refused the connection: {}", .0.message)]
    Refused(ErrorBody),
    /// The server answered a request with an error.
    #[error("{}", .0.message)]
    Server(ErrorBody),
    /// The connection ended; the text says why (closed by the server, timed
    /// out, shut down). Reconnect to continue.
    #[error("connection lost: {0}")]
    ConnectionLost(String),
    /// The server ended the session because its rights were taken away:
    /// its token was revoked, the password reset, or the account disabled
    /// (QUIC close code `CLOSE_LOGGED_OUT`). The text is the server's
    /// reason. Not transient: log in again.
    #[error("logged out by the server: {0}")]
    LoggedOut(String),
    /// No answer within the configured time.
    #[error("{what}: no answer within {} ms; the server may be overloaded or unreachable", after.as_millis())]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long, as configured.
        after: Duration,
    },
    /// A frame could not be encoded or decoded.
    #[error("protocol error: {0}; the server may speak another protocol version")]
    Protocol(#[from] FrameError),
    /// The server sent something valid but unexpected (a wrong answer type,
    /// a stream for another room).
    #[error("protocol violation: {0}; report this with the server's version")]
    ProtocolViolation(String),
    /// A local I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl ClientError {
    /// The server's error code, for [`ClientError::Server`] and
    /// [`ClientError::Refused`]; `None` for local and transport failures.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server(body) | ClientError::Refused(body) => Some(body.code),
            _ => None,
        }
    }

    /// Whether retrying the same operation on a new connection may succeed:
    /// lost connections, timeouts, connect failures and the server's
    /// `Unavailable`/`RateLimited` answers. Trust, auth and validation
    /// failures are not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Connect { .. }
            | ClientError::ConnectionLost(_)
            | ClientError::Timeout { .. }
            | ClientError::Address { .. } => true,
            ClientError::Server(b) => {
                matches!(b.code, ErrorCode::Unavailable | ErrorCode::RateLimited)
            }
            _ => false,
        }
    }
}

/// The error for a connection that ended: [`ClientError::LoggedOut`] when
/// the server closed it with `CLOSE_LOGGED_OUT`, otherwise
/// [`ClientError::ConnectionLost`].
pub(crate) fn closed_error(err: &quinn::ConnectionError) -> ClientError {
    if let quinn::ConnectionError::ApplicationClosed(close) = err
        && close.error_code.into_inner() == u64::from(codes::CLOSE_LOGGED_OUT)
    {
        let reason = String::from_utf8_lossy(&close.reason).into_owned();
        return ClientError::LoggedOut(if reason.is_empty() {
            "the session was logged out or its token revoked; log in again".to_owned()
        } else {
            reason
        });
    }
    ClientError::ConnectionLost(describe_close(err))
}

/// Describes why a QUIC connection ended, in words a user can act on.
pub(crate) fn describe_close(err: &quinn::ConnectionError) -> String {
    use quinn::ConnectionError as E;
    match err {
        E::ApplicationClosed(close) => {
            let reason = String::from_utf8_lossy(&close.reason);
            let what = match u32::try_from(close.error_code.into_inner()) {
                Ok(codes::CLOSE_NORMAL) => "closed by the server",
                Ok(codes::CLOSE_HANDSHAKE) => "the server refused the handshake",
                Ok(codes::CLOSE_PROTOCOL) => "the server saw a protocol violation",
                Ok(codes::CLOSE_SHUTDOWN) => "the server is shutting down; reconnect later",
                Ok(codes::CLOSE_LOGGED_OUT) => "the session was logged out or its token revoked",
                Ok(codes::CLOSE_BUSY) => "the server is at its connection limit; retry later",
                _ => "closed by the server",
            };
            if reason.is_empty() {
                what.to_owned()
            } else {
                format!("{what} ({reason})")
            }
        }
        E::ConnectionClosed(close)
            if close.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED =>
        {
            "the server is at its connection limit and refused the connection; retry later"
                .to_owned()
        }
        E::TimedOut => "the server stopped answering (idle timeout)".to_owned(),
        E::LocallyClosed => "closed by this client".to_owned(),
        E::Reset => "the server reset the connection (it may have restarted)".to_owned(),
        other => other.to_string(),
    }
}

/// Cloned so one failure can be reported both to a waiting caller and as a
/// session event. An I/O cause is copied as its kind and text.
impl Clone for ClientError {
    fn clone(&self) -> Self {
        use ClientError as E;
        match self {
            E::Address { server, reason } => E::Address {
                server: server.clone(),
                reason: reason.clone(),
            },
            E::Connect { server, reason } => E::Connect {
                server: server.clone(),
                reason: reason.clone(),
            },
            E::Tls { server, reason } => E::Tls {
                server: server.clone(),
                reason: reason.clone(),
            },
            E::CaFile { path, reason } => E::CaFile {
                path: path.clone(),
                reason: reason.clone(),
            },
            E::UnknownHostRejected {
                host,
                fingerprint,
                known_hosts,
            } => E::UnknownHostRejected {
                host: host.clone(),
                fingerprint: fingerprint.clone(),
                known_hosts: known_hosts.clone(),
            },
            E::CertificateChanged {
                host,
                known,
                presented,
                known_hosts,
                line,
            } => E::CertificateChanged {
                host: host.clone(),
                known: known.clone(),
                presented: presented.clone(),
                known_hosts: known_hosts.clone(),
                line: *line,
            },
            E::KnownHosts { path, line, msg } => E::KnownHosts {
                path: path.clone(),
                line: *line,
                msg: msg.clone(),
            },
            E::Refused(b) => E::Refused(b.clone()),
            E::Server(b) => E::Server(b.clone()),
            E::ConnectionLost(s) => E::ConnectionLost(s.clone()),
            E::LoggedOut(s) => E::LoggedOut(s.clone()),
            E::Timeout { what, after } => E::Timeout {
                what: what.clone(),
                after: *after,
            },
            E::Protocol(f) => E::Protocol(clone_frame_error(f)),
            E::ProtocolViolation(s) => E::ProtocolViolation(s.clone()),
            E::Io { context, source } => E::Io {
                context: context.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
        }
    }
}

fn clone_frame_error(f: &FrameError) -> FrameError {
    match f {
        FrameError::TooLarge { len, max } => FrameError::TooLarge {
            len: *len,
            max: *max,
        },
        FrameError::TooDeep { max } => FrameError::TooDeep { max: *max },
        FrameError::Malformed(s) => FrameError::Malformed(s.clone()),
        FrameError::Encode(s) => FrameError::Encode(s.clone()),
    }
}
