//! Establishing a connection: address resolution, QUIC + TLS with the chosen
//! trust mode (including the first-use prompt), then `Hello`/`Welcome`.

use super::io::{ReadEnd, read_frame};
use super::target::Target;
use super::{ClientConfig, Connection, IDLE_TIMEOUT_MS, KEEP_ALIVE_INTERVAL};
use crate::error::describe_close;
use crate::trust::{OnUnknown, Trust, Verdict, build_tls};
use crate::{ClientError, KnownHosts};
use chat_protocol::{ClientFrame, ErrorBody, ErrorCode, Hello, ServerFrame, codes, frame};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Connects, negotiates TLS and the protocol version, and returns a ready
/// connection (not yet logged in).
///
/// # Errors
/// [`ClientError::Address`], [`ClientError::Connect`], [`ClientError::Tls`],
/// [`ClientError::CaFile`], [`ClientError::KnownHosts`],
/// [`ClientError::UnknownHostRejected`], [`ClientError::CertificateChanged`],
/// [`ClientError::Refused`] (e.g. no common protocol version),
/// [`ClientError::Timeout`].
pub async fn connect(cfg: &ClientConfig) -> Result<Connection, ClientError> {
    connect_with_hello(cfg, Hello::current(cfg.client_name.clone())).await
}

/// As [`connect`] but sends `hello` as given, e.g. to offer another range
/// of protocol versions in tests.
///
/// # Errors
/// As [`connect`].
pub async fn connect_with_hello(
    cfg: &ClientConfig,
    hello: Hello,
) -> Result<Connection, ClientError> {
    let target = Target::parse(&cfg.server)?;
    let addr = resolve(&cfg.server).await?;
    let sni = cfg
        .server_name
        .clone()
        .unwrap_or_else(|| target.host.clone());
    let mut approved = None;
    loop {
        let tls = build_tls(&cfg.trust, &cfg.server, &target.key, approved.clone()).await?;
        let result = quic_connect(cfg, addr, &sni, tls.config).await;
        let verdict = tls
            .verdict
            .as_ref()
            .and_then(|slot| slot.lock().ok().and_then(|mut v| v.take()));
        match (result, verdict) {
            (Ok((endpoint, conn)), verdict) => {
                if let (
                    Some(Verdict::Accepted {
                        fingerprint,
                        new: true,
                    }),
                    Trust::KnownHosts { path, .. },
                ) = (verdict, &cfg.trust)
                {
                    pin(path.clone(), target.key.clone(), fingerprint).await?;
                }
                return handshake(cfg, endpoint, conn, hello).await;
            }
            (Err(_), Some(Verdict::Changed { known, presented })) => {
                let path = known_hosts_path(&cfg.trust);
                return Err(ClientError::CertificateChanged {
                    host: target.key,
                    known: known.fingerprint,
                    presented,
                    known_hosts: path,
                    line: known.line,
                });
            }
            (Err(_), Some(Verdict::Unknown { fingerprint })) => {
                let path = known_hosts_path(&cfg.trust);
                let rejected = ClientError::UnknownHostRejected {
                    host: target.key.clone(),
                    fingerprint: fingerprint.clone(),
                    known_hosts: path,
                };
                let Trust::KnownHosts {
                    on_unknown: OnUnknown::Ask(ask),
                    ..
                } = &cfg.trust
                else {
                    return Err(rejected);
                };
                if approved.is_some() {
                    return Err(rejected);
                }
                // The prompt may block on a terminal: keep it off the async workers.
                let (ask, host, fp) = (ask.clone(), target.key.clone(), fingerprint.clone());
                let yes = tokio::task::spawn_blocking(move || ask(&host, &fp))
                    .await
                    .unwrap_or(false);
                if !yes {
                    return Err(rejected);
                }
                approved = Some(fingerprint);
            }
            (Err(e), _) => return Err(e),
        }
    }
}

fn known_hosts_path(trust: &Trust) -> std::path::PathBuf {
    match trust {
        Trust::KnownHosts { path, .. } => path.clone(),
        Trust::CaFile(_) => std::path::PathBuf::new(),
    }
}

/// Appends a newly trusted fingerprint to the known-hosts file.
async fn pin(path: std::path::PathBuf, key: String, fp: String) -> Result<(), ClientError> {
    let p = path.clone();
    tokio::task::spawn_blocking(move || KnownHosts::append(&p, &key, &fp))
        .await
        .map_err(|e| ClientError::KnownHosts {
            path,
            line: None,
            msg: format!("writing it failed: {e}"),
        })?
}

async fn resolve(server: &str) -> Result<SocketAddr, ClientError> {
    let err = |reason: String| ClientError::Address {
        server: server.to_owned(),
        reason,
    };
    let mut addrs = tokio::net::lookup_host(server)
        .await
        .map_err(|e| err(format!("cannot resolve it: {e}")))?;
    addrs
        .next()
        .ok_or_else(|| err("it resolves to no address".to_owned()))
}

async fn quic_connect(
    cfg: &ClientConfig,
    addr: SocketAddr,
    sni: &str,
    tls: Arc<rustls::ClientConfig>,
) -> Result<(quinn::Endpoint, quinn::Connection), ClientError> {
    let server = cfg.server.clone();
    let tls_err = |reason: String| ClientError::Tls {
        server: server.clone(),
        reason,
    };
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| tls_err(e.to_string()))?;
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(KEEP_ALIVE_INTERVAL));
    transport.max_idle_timeout(Some(quinn::VarInt::from_u32(IDLE_TIMEOUT_MS).into()));
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport));
    let bind: SocketAddr = if addr.is_ipv6() {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let endpoint = quinn::Endpoint::client(bind).map_err(|e| ClientError::Io {
        context: format!("cannot open a UDP socket on {bind}"),
        source: e,
    })?;
    let connecting =
        endpoint
            .connect_with(config, addr, sni)
            .map_err(|e| ClientError::Connect {
                server: cfg.server.clone(),
                reason: e.to_string(),
            })?;
    let conn = match tokio::time::timeout(cfg.connect_timeout, connecting).await {
        Err(_) => {
            return Err(ClientError::Timeout {
                what: format!("connecting to {}", cfg.server),
                after: cfg.connect_timeout,
            });
        }
        Ok(Err(quinn::ConnectionError::TransportError(te))) if is_crypto(te.code) => {
            let hint = match cfg.trust {
                Trust::CaFile(ref p) => format!(
                    "; check that {} is the CA that signed the server's certificate and that \
                     the certificate names `{sni}`",
                    p.display()
                ),
                Trust::KnownHosts { .. } => String::new(),
            };
            return Err(tls_err(format!("{}{hint}", te.reason)));
        }
        Ok(Err(e)) => {
            return Err(ClientError::Connect {
                server: cfg.server.clone(),
                reason: describe_close(&e),
            });
        }
        Ok(Ok(conn)) => conn,
    };
    Ok((endpoint, conn))
}

/// TLS alerts map to QUIC transport codes 0x100-0x1ff (RFC 9001 §4.8).
fn is_crypto(code: quinn::TransportErrorCode) -> bool {
    (0x100..0x200).contains(&u64::from(code))
}

/// Sends `Hello`, waits for `Welcome`, and starts the connection's tasks.
async fn handshake(
    cfg: &ClientConfig,
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    hello: Hello,
) -> Result<Connection, ClientError> {
    let lost = |e: &quinn::ConnectionError| crate::error::closed_error(e);
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| lost(&e))?;
    let bytes = frame::encode(&ClientFrame::Hello(hello))?;
    send.write_all(&bytes)
        .await
        .map_err(|e| ClientError::ConnectionLost(e.to_string()))?;
    let answer = tokio::time::timeout(cfg.request_timeout, read_frame::<ServerFrame>(&mut recv))
        .await
        .map_err(|_| ClientError::Timeout {
            what: "waiting for the server's Welcome".to_owned(),
            after: cfg.request_timeout,
        })?;
    match answer {
        Ok(Some(ServerFrame::Welcome(welcome))) => {
            Ok(Connection::start(cfg, endpoint, conn, send, recv, welcome))
        }
        Ok(Some(ServerFrame::Refused(body))) => Err(ClientError::Refused(body)),
        Ok(Some(other)) => Err(ClientError::ProtocolViolation(format!(
            "expected Welcome, got {other:?}"
        ))),
        Ok(None) => Err(ClientError::ProtocolViolation(
            "the server closed the control stream before answering Hello".to_owned(),
        )),
        Err(ReadEnd::Lost(quinn::ConnectionError::ApplicationClosed(close)))
            if close.error_code.into_inner() == u64::from(codes::CLOSE_HANDSHAKE) =>
        {
            // The Refused frame was lost with the close; keep the close reason.
            let reason = String::from_utf8_lossy(&close.reason).into_owned();
            let code = if reason.contains("version") {
                ErrorCode::UnsupportedVersion
            } else {
                ErrorCode::Unknown
            };
            Err(ClientError::Refused(ErrorBody::new(code, reason)))
        }
        Err(ReadEnd::Lost(e)) => Err(lost(&e)),
        Err(ReadEnd::Reset(code)) => Err(ClientError::ConnectionLost(format!(
            "the server reset the control stream (code {code})"
        ))),
        Err(ReadEnd::Protocol(msg)) => Err(ClientError::ProtocolViolation(msg)),
    }
}
