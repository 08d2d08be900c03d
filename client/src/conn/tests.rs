//! Loopback tests against a minimal in-process QUIC server that follows the
//! stream layout, so connection logic is tested without `chatd`.

use crate::{
    ClientConfig, ClientError, KnownHosts, OnUnknown, Trust, connect, connect_with_hello,
    fingerprint,
};
use chat_protocol::frame::{decode_body, encode};
use chat_protocol::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub(super) struct Certs {
    ca_pem: String,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

pub(super) fn certs() -> Certs {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    Certs {
        ca_pem: ca_cert.pem(),
        cert: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    }
}

async fn read<T: serde::de::DeserializeOwned>(recv: &mut quinn::RecvStream) -> Option<T> {
    let mut len = [0u8; 4];
    recv.read_exact(&mut len).await.ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    recv.read_exact(&mut body).await.ok()?;
    Some(decode_body(&body).unwrap())
}

fn event(room: RoomId, seq: u64) -> RoomFrame {
    RoomFrame::Event(RoomEvent {
        room,
        seq: Seq(seq),
        ts: Timestamp(1),
        sender: Author {
            id: UserId(1),
            username: "alice".into(),
            display_name: "Alice".into(),
            org: String::new(),
        },
        kind: RoomEventKind::TopicChanged {
            topic: format!("t{seq}"),
        },
    })
}

/// Starts a fake server on 127.0.0.1:0 speaking versions 1..=1.
pub(super) fn serve(certs: &Certs) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certs.cert.clone()], certs.key.clone_key())
        .unwrap();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap();
    let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                let _ = handle(conn).await;
            });
        }
    });
    addr
}

async fn handle(conn: quinn::Connection) -> Option<()> {
    let (mut send, mut recv) = conn.accept_bi().await.ok()?;
    let ClientFrame::Hello(hello) = read(&mut recv).await? else {
        return None;
    };
    match handshake::negotiate(&hello, 1, 1) {
        Err(body) => {
            send.write_all(&encode(&ServerFrame::Refused(body)).unwrap())
                .await
                .ok()?;
            send.finish().ok()?;
            let _ = send.stopped().await;
            conn.close(codes::CLOSE_HANDSHAKE.into(), b"version");
            return None;
        }
        Ok(version) => {
            let welcome = Welcome {
                version,
                server: "fake/0".into(),
                limits: Limits {
                    max_message_bytes: 4096,
                    max_history_page: 100,
                    send_rate_per_sec: 5,
                    send_burst: 10,
                },
            };
            send.write_all(&encode(&ServerFrame::Welcome(welcome)).unwrap())
                .await
                .ok()?;
        }
    }
    // Reset (as lagged) when the client unsubscribes, i.e. after it has
    // read the stream's frames: a reset discards data not yet delivered.
    let mut lagging: Option<quinn::SendStream> = None;
    let mut open = Vec::new();
    while let Some(ClientFrame::Request(req)) = read(&mut recv).await {
        let result = match req.body {
            RequestBody::Ping => Ok(ResponseBody::Ok),
            RequestBody::Login { username, .. } => {
                let mut user = conn.open_uni().await.ok()?;
                user.write_all(&encode(&StreamHeader::User).unwrap())
                    .await
                    .ok()?;
                let ev = UserEvent::RoomRemoved { room: RoomId(9) };
                user.write_all(&encode(&ev).unwrap()).await.ok()?;
                Ok(ResponseBody::LoggedIn {
                    user: UserInfo {
                        author: Author {
                            id: UserId(1),
                            username,
                            display_name: String::new(),
                            org: String::new(),
                        },
                        admin: Some(false),
                        disabled: Some(false),
                        created_at: Some(Timestamp(0)),
                    },
                    token: Some("tok".into()),
                })
            }
            // The stream (with its events) is sent before the answer, to
            // exercise parking.
            RequestBody::Subscribe { room, since } if room.0 < 100 => {
                let mut s = conn.open_uni().await.ok()?;
                let header = StreamHeader::Room {
                    room,
                    since,
                    request: req.id,
                };
                s.write_all(&encode(&header).unwrap()).await.ok()?;
                // Room 5 ignores `since` and replays everything, as a
                // careless server might: the session must drop duplicates.
                let from = if room.0 == 5 { 1 } else { since.0 + 1 };
                for seq in from..=3 {
                    s.write_all(&encode(&event(room, seq)).unwrap())
                        .await
                        .ok()?;
                }
                s.write_all(&encode(&RoomFrame::CaughtUp { head: Seq(3) }).unwrap())
                    .await
                    .ok()?;
                if room.0 == 2 {
                    lagging = Some(s);
                } else {
                    // Dropping would finish the stream; a live one stays open.
                    open.push(s);
                }
                Ok(ResponseBody::Subscribed { room, head: Seq(3) })
            }
            RequestBody::Authenticate { .. } => Ok(ResponseBody::LoggedIn {
                user: UserInfo {
                    author: Author {
                        id: UserId(1),
                        username: "alice".into(),
                        display_name: String::new(),
                        org: String::new(),
                    },
                    admin: Some(false),
                    disabled: Some(false),
                    created_at: Some(Timestamp(0)),
                },
                token: None,
            }),
            RequestBody::Send { room, key, .. } => Ok(ResponseBody::Sent(MessageAck {
                room,
                seq: Seq(4),
                id: MessageId::new_at(Timestamp(1)),
                ts: Timestamp(1),
                duplicate: key.0 == "again",
            })),
            // Simulates a server restart.
            RequestBody::ServerStats => {
                conn.close(codes::CLOSE_SHUTDOWN.into(), b"restart");
                return None;
            }
            RequestBody::Unsubscribe { .. } => {
                if let Some(mut s) = lagging.take() {
                    s.reset(codes::STREAM_LAGGED.into()).ok()?;
                }
                Ok(ResponseBody::Ok)
            }
            _ => Err(ErrorBody::new(ErrorCode::NotFound, "no such thing")),
        };
        send.write_all(&encode(&ServerFrame::Response(Response { id: req.id, result })).unwrap())
            .await
            .ok()?;
    }
    Some(())
}

pub(super) fn ca_config(addr: SocketAddr, dir: &std::path::Path, certs: &Certs) -> ClientConfig {
    let ca = dir.join("ca.crt");
    std::fs::write(&ca, &certs.ca_pem).unwrap();
    ClientConfig::new(addr.to_string(), Trust::CaFile(ca), "test/0")
}

#[tokio::test]
async fn requests_streams_and_errors_over_ca_trust() {
    let certs = certs();
    let addr = serve(&certs);
    let dir = tempfile::tempdir().unwrap();
    let conn = connect(&ca_config(addr, dir.path(), &certs)).await.unwrap();
    assert_eq!(conn.welcome().server, "fake/0");
    conn.ping().await.unwrap();
    let err = conn.room_by_name("x").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));

    let (user, token) = conn.login("alice", "pw").await.unwrap();
    assert_eq!(
        (user.author.username.as_str(), token.as_deref()),
        ("alice", Some("tok"))
    );
    let mut user_events = conn.user_events().await.unwrap();
    assert_eq!(
        user_events.next().await.unwrap(),
        Some(UserEvent::RoomRemoved { room: RoomId(9) })
    );

    // Several subscriptions in flight at once, streams before answers.
    let (a, b) = tokio::join!(
        conn.subscribe(RoomId(1), Seq(0)),
        conn.subscribe(RoomId(3), Seq(1))
    );
    let (mut a, mut b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.room(), a.head()), (RoomId(1), Seq(3)));
    for seq in 1..=3 {
        assert_eq!(a.next().await.unwrap(), Some(event(RoomId(1), seq)));
    }
    assert_eq!(
        a.next().await.unwrap(),
        Some(RoomFrame::CaughtUp { head: Seq(3) })
    );
    assert_eq!(b.next().await.unwrap(), Some(event(RoomId(3), 2)));

    let mut lagged = conn.subscribe(RoomId(2), Seq(0)).await.unwrap();
    for _ in 0..4 {
        assert!(lagged.next().await.unwrap().is_some());
    }
    conn.unsubscribe(RoomId(2)).await.unwrap();
    assert_eq!(lagged.next().await, Err(crate::StreamEnd::Lagged));
    assert_eq!(
        lagged.next().await,
        Err(crate::StreamEnd::Lagged),
        "the end repeats"
    );
    assert!(matches!(
        conn.subscribe(RoomId(100), Seq(0)).await,
        Err(ClientError::Server(_))
    ));

    conn.close("bye");
    assert!(matches!(
        conn.ping().await,
        Err(ClientError::ConnectionLost(_))
    ));
}

#[tokio::test]
async fn unsupported_version_is_refused_with_both_ranges() {
    let certs = certs();
    let addr = serve(&certs);
    let dir = tempfile::tempdir().unwrap();
    let hello = Hello {
        min_version: 7,
        max_version: 9,
        client: "future".into(),
    };
    let err = connect_with_hello(&ca_config(addr, dir.path(), &certs), hello)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UnsupportedVersion), "{err}");
    assert!(err.to_string().contains("7..=9"), "{err}");
}

#[tokio::test]
async fn known_hosts_pins_first_use_and_refuses_a_changed_certificate() {
    let (one, two) = (certs(), certs());
    let (addr1, addr2) = (serve(&one), serve(&two));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/known_hosts");
    let trust = |on_unknown| Trust::KnownHosts {
        path: path.clone(),
        on_unknown,
    };

    let reject = ClientConfig::new(addr1.to_string(), trust(OnUnknown::Reject), "t");
    match connect(&reject).await.unwrap_err() {
        ClientError::UnknownHostRejected {
            fingerprint: fp, ..
        } => assert_eq!(fp, fingerprint(&one.cert)),
        other => panic!("{other:?}"),
    }

    let ask = OnUnknown::Ask(Arc::new(|_host: &str, _fp: &str| true));
    let conn = connect(&ClientConfig::new(addr1.to_string(), trust(ask), "t"))
        .await
        .unwrap();
    conn.ping().await.unwrap();
    let kh = KnownHosts::load(&path).unwrap();
    let key = format!("127.0.0.1:{}", addr1.port());
    assert_eq!(kh.lookup(&key).unwrap().fingerprint, fingerprint(&one.cert));

    // Pinned: reconnecting with Reject works.
    connect(&reject).await.unwrap().ping().await.unwrap();

    // Another certificate under the same key is refused, naming both.
    let key2 = format!("127.0.0.1:{}", addr2.port());
    KnownHosts::append(&path, &key2, &fingerprint(&one.cert)).unwrap();
    let cfg2 = ClientConfig::new(addr2.to_string(), trust(OnUnknown::AcceptNew), "t");
    match connect(&cfg2).await.unwrap_err() {
        ClientError::CertificateChanged {
            known,
            presented,
            line,
            known_hosts,
            ..
        } => {
            assert_eq!(known, fingerprint(&one.cert));
            assert_eq!(presented, fingerprint(&two.cert));
            assert_eq!((line, known_hosts), (2, path.clone()));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn wrong_ca_is_a_tls_error() {
    let (one, two) = (certs(), certs());
    let addr = serve(&one);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ca_config(addr, dir.path(), &two);
    cfg.connect_timeout = Duration::from_secs(5);
    assert!(matches!(connect(&cfg).await, Err(ClientError::Tls { .. })));
}

#[tokio::test]
async fn session_resumes_without_duplicates_and_sends_through_the_outbox() {
    use crate::session::{Auth, Backoff, Session, SessionConfig, SessionEvent};
    let certs = certs();
    let addr = serve(&certs);
    let dir = tempfile::tempdir().unwrap();
    let cfg = SessionConfig {
        client: ca_config(addr, dir.path(), &certs),
        auth: Auth::Password {
            username: "alice".into(),
            password: "pw".into(),
        },
        backoff: Backoff {
            initial: Duration::from_millis(10),
            ..Backoff::default()
        },
    };
    let (session, mut events) = Session::start(cfg);
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap()
    };
    assert!(matches!(
        next().await,
        SessionEvent::Connected { token: Some(_), .. }
    ));
    session.follow(RoomId(5), Seq(1));
    let mut seen = Vec::new();
    loop {
        match next().await {
            SessionEvent::Room(ev) => seen.push(ev.seq.0),
            SessionEvent::CaughtUp { .. } => break,
            SessionEvent::Subscribed { .. } | SessionEvent::User(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen, [2, 3]);
    let ack = session
        .send(RoomId(5), IdempotencyKey("k1".into()), "hi", None)
        .await
        .unwrap();
    assert_eq!(ack.seq, Seq(4));
    assert!(session.pending().is_empty());

    // The server "restarts": the session reconnects with its token,
    // resubscribes from seq 3 and drops the replayed 1..=3.
    let conn = session.connection().unwrap();
    let _ = conn.server_stats().await;
    loop {
        match next().await {
            SessionEvent::Connected { token, .. } => {
                assert_eq!(token, None, "resumed with the token");
                break;
            }
            SessionEvent::Disconnected { .. } | SessionEvent::Reconnecting { .. } => {}
            SessionEvent::Sent { .. } | SessionEvent::User(_) => {}
            other => panic!("{other:?}"),
        }
    }
    loop {
        match next().await {
            SessionEvent::Room(ev) => panic!("duplicate {ev:?}"),
            SessionEvent::CaughtUp { room, head } => {
                assert_eq!((room, head), (RoomId(5), Seq(3)));
                break;
            }
            _ => {}
        }
    }
    session.shutdown();
    loop {
        if let SessionEvent::Stopped { error } = next().await {
            assert!(error.is_none(), "{error:?}");
            break;
        }
    }
}
