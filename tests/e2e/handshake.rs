//! The handshake: Hello/Welcome, version refusal, and trust on first use.

use chat_client::{ClientError, OnUnknown, Trust};
use chat_e2e::spawn_server;
use chat_protocol::{ErrorCode, Hello, PROTOCOL_VERSION};

#[tokio::test]
async fn hello_welcome_over_real_quic() {
    let server = spawn_server().await;
    let conn = server.connect().await;
    assert_eq!(conn.welcome().version, PROTOCOL_VERSION);
    assert!(conn.welcome().server.starts_with("chatd/"));
    assert_eq!(conn.welcome().limits.max_message_bytes, 16 * 1024);
    // The connection is usable for requests before login.
    conn.ping().await.expect("ping");
}

#[tokio::test]
async fn version_mismatch_is_refused_naming_both_versions() {
    let server = spawn_server().await;
    let hello = Hello {
        min_version: PROTOCOL_VERSION + 1,
        max_version: PROTOCOL_VERSION + 3,
        client: "future-client/9".into(),
    };
    let err = chat_client::connect_with_hello(&server.client_config(), hello)
        .await
        .expect_err("refused");
    match &err {
        ClientError::Refused(body) => {
            assert_eq!(body.code, ErrorCode::UnsupportedVersion);
            let v = PROTOCOL_VERSION;
            assert!(
                body.message.contains(&format!("{}..={}", v + 1, v + 3)),
                "{}",
                body.message
            );
            assert!(
                body.message.contains(&format!("{v}..={v}")),
                "{}",
                body.message
            );
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(err.code(), Some(ErrorCode::UnsupportedVersion));
}

#[tokio::test]
async fn tofu_pins_first_certificate_and_refuses_a_changed_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let known = dir.path().join("known_hosts");
    let mut server = spawn_server().await;
    let trust = Trust::KnownHosts {
        path: known.clone(),
        on_unknown: OnUnknown::AcceptNew,
    };
    let mut cfg = server.client_config();
    cfg.trust = trust.clone();

    // First contact records the fingerprint.
    let conn = chat_client::connect(&cfg)
        .await
        .expect("first connect pins");
    drop(conn);
    let text = std::fs::read_to_string(&known).expect("known_hosts written");
    assert!(text.contains(&server.fingerprint), "{text}");

    // Same server again: accepted silently from the pin.
    chat_client::connect(&cfg)
        .await
        .expect("pinned server accepted");

    // Refusing unknown hosts does not affect a pinned one.
    cfg.trust = Trust::KnownHosts {
        path: known.clone(),
        on_unknown: OnUnknown::Reject,
    };
    chat_client::connect(&cfg)
        .await
        .expect("pinned server accepted");

    // A different server (new certificate) on the same address is refused.
    let addr = server.addr;
    server.stop().await;
    let other = chat_e2e::spawn_server_with(|c| c.listen = addr).await;
    assert_ne!(other.fingerprint, server.fingerprint);
    let err = chat_client::connect(&cfg).await.expect_err("refused");
    match err {
        ClientError::CertificateChanged {
            known: k,
            presented,
            ..
        } => {
            assert_eq!(k, server.fingerprint);
            assert_eq!(presented, other.fingerprint);
        }
        other => panic!("expected CertificateChanged, got {other:?}"),
    }
}
