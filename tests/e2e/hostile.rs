//! Hostile clients (issue 11, findings 2, 5 and 10): connections that never
//! log in, frames held back or oversize before login, extra streams, a
//! burst past the connection limit, and request kinds the server does not
//! know. Each is driven through real QUIC connections, bounded in count
//! and time. Memory under attack is measured on a real chatd process in
//! `hostile_memory.rs`.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use crate::raw;
use chat_client::ClientError;
use chat_e2e::{WAIT, spawn_server_with};
use chat_protocol::{ErrorCode, RequestBody, ResponseBody, ServerFrame, codes};
use std::time::Duration;

/// A client that says Hello and never logs in is closed once the login
/// deadline passes.
#[tokio::test]
async fn a_connection_that_never_logs_in_is_closed() {
    let server = spawn_server_with(|c| c.deadlines.login_ms = 500).await;
    let endpoint = raw::endpoint(&server.ca);
    let r = raw::hello(&endpoint, server.addr).await;
    assert_eq!(
        raw::close_code(&r.conn).await,
        Some(u64::from(codes::CLOSE_HANDSHAKE))
    );
    // A logged-in connection is left alone, and so is one that pings.
    let (alice, _) = server.user("alice").await;
    alice.ping().await.unwrap();
}

/// A frame whose body is held back is cut off at the body deadline, and a
/// frame announced over the pre-login cap is refused before its body is
/// read.
#[tokio::test]
async fn held_back_and_oversize_frames_before_login_end_the_connection() {
    let server = spawn_server_with(|c| c.deadlines.frame_body_ms = 500).await;
    let endpoint = raw::endpoint(&server.ca);

    let mut slow = raw::hello(&endpoint, server.addr).await;
    let mut partial = 8_000u32.to_be_bytes().to_vec();
    partial.extend(std::iter::repeat_n(0x90u8, 100));
    slow.send.write_all(&partial).await.unwrap();
    assert_eq!(
        raw::close_code(&slow.conn).await,
        Some(u64::from(codes::CLOSE_PROTOCOL))
    );

    let mut big = raw::hello(&endpoint, server.addr).await;
    big.send
        .write_all(&(1u32 << 20).to_be_bytes())
        .await
        .unwrap();
    assert_eq!(
        raw::close_code(&big.conn).await,
        Some(u64::from(codes::CLOSE_PROTOCOL))
    );
}

/// The server accepts only the control stream: a second bidirectional
/// stream gets no credit, so it cannot make the server buffer anything.
#[tokio::test]
async fn only_the_control_stream_can_be_opened() {
    let server = spawn_server_with(|_| {}).await;
    let endpoint = raw::endpoint(&server.ca);
    let r = raw::hello(&endpoint, server.addr).await;
    // A bounded check of an absence: with credit, open_bi completes at once.
    let second = tokio::time::timeout(Duration::from_secs(1), r.conn.open_bi()).await;
    assert!(second.is_err(), "a second bidirectional stream was allowed");
}

/// After login the client gets credit for a bounded number of transfer
/// streams (`chatd::files::MAX_TRANSFERS_PER_CONNECTION`) besides the
/// control stream, and no more.
#[tokio::test]
async fn after_login_only_a_bounded_number_of_transfer_streams_can_be_opened() {
    let server = spawn_server_with(|_| {}).await;
    let endpoint = raw::endpoint(&server.ca);
    let mut r = raw::hello(&endpoint, server.addr).await;
    r.send
        .write_all(&raw::request(
            1,
            RequestBody::Authenticate {
                token: server.admin_token.clone(),
            },
        ))
        .await
        .unwrap();
    match raw::read(&mut r.recv).await {
        ServerFrame::Response(resp) => assert!(resp.result.is_ok(), "{resp:?}"),
        other => panic!("{other:?}"),
    }
    let mut open = Vec::new();
    for _ in 0..chatd::files::MAX_TRANSFERS_PER_CONNECTION {
        let s = tokio::time::timeout(chat_e2e::WAIT, r.conn.open_bi())
            .await
            .expect("a transfer stream within the credit")
            .unwrap();
        open.push(s);
    }
    // A bounded check of an absence: with credit, open_bi completes at once.
    let extra = tokio::time::timeout(Duration::from_secs(1), r.conn.open_bi()).await;
    assert!(
        extra.is_err(),
        "a transfer stream beyond the bound was allowed"
    );
}

/// A request kind this server does not know is answered `BadRequest` with
/// its id, and the connection goes on.
#[tokio::test]
async fn an_unknown_request_kind_is_answered_and_the_connection_goes_on() {
    #[derive(serde::Serialize)]
    enum FutureFrame {
        Request { id: u64, body: FutureBody },
    }
    #[derive(serde::Serialize)]
    enum FutureBody {
        Teleport { to: String },
    }
    let server = spawn_server_with(|_| {}).await;
    let endpoint = raw::endpoint(&server.ca);
    let mut r = raw::hello(&endpoint, server.addr).await;
    let unknown = chat_protocol::frame::encode(&FutureFrame::Request {
        id: 41,
        body: FutureBody::Teleport { to: "mars".into() },
    })
    .unwrap();
    r.send.write_all(&unknown).await.unwrap();
    match raw::read(&mut r.recv).await {
        ServerFrame::Response(resp) => {
            assert_eq!(resp.id.0, 41);
            let err = resp.result.expect_err("refused");
            assert_eq!(err.code, ErrorCode::BadRequest);
            assert!(err.message.contains("does not know"), "{}", err.message);
        }
        other => panic!("{other:?}"),
    }
    r.send
        .write_all(&raw::request(42, RequestBody::Ping))
        .await
        .unwrap();
    match raw::read(&mut r.recv).await {
        ServerFrame::Response(resp) => {
            assert_eq!(resp.id.0, 42);
            assert_eq!(resp.result, Ok(ResponseBody::Ok));
        }
        other => panic!("{other:?}"),
    }
}

/// A burst of 300 connections against `--max-connections 20` never has
/// more than 20 open: the limit is counted at accept, before the
/// handshake, and the rest are refused with a message that says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_never_exceeds_the_connection_limit() {
    let server = spawn_server_with(|c| c.limits.max_connections = 20).await;
    let admin = server.admin().await;
    let cfg = server.client_config();
    let attempts: Vec<_> = (0..300)
        .map(|_| {
            let cfg = cfg.clone();
            tokio::spawn(async move { chat_client::connect(&cfg).await })
        })
        .collect();
    let mut held = Vec::new();
    let mut refused = 0;
    for a in attempts {
        match tokio::time::timeout(WAIT, a).await.unwrap().unwrap() {
            Ok(conn) => held.push(conn),
            Err(ClientError::Connect { reason, .. }) if reason.contains("connection limit") => {
                refused += 1;
            }
            Err(e) => panic!("unexpected failure: {e}"),
        }
    }
    assert!(
        held.len() < 20,
        "{} connections accepted besides the admin's; the limit is 20 in all",
        held.len()
    );
    assert_eq!(held.len() + refused, 300);
    let stats = admin.server_stats().await.unwrap();
    assert!(stats.connections <= 20, "{stats:?}");
    assert!(stats.refused_connections >= refused as u64, "{stats:?}");
}

/// Reads a server-opened stream's header.
async fn stream_header(recv: &mut quinn::RecvStream) -> chat_protocol::StreamHeader {
    let mut len = [0u8; 4];
    recv.read_exact(&mut len).await.unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    recv.read_exact(&mut body).await.unwrap();
    chat_protocol::frame::decode_body(&body).unwrap()
}

/// A client that stops reading its user stream has it reset as lagged, and
/// a new user stream opens for what follows.
#[tokio::test]
async fn a_lagged_user_stream_is_replaced() {
    // Away changes are rate limited (a `Signal`); this test needs bob to
    // flip thousands of times quickly.
    let server = spawn_server_with(|c| {
        c.limits.signal_rate_per_sec = 1_000_000;
        c.limits.signal_burst = 1_000_000;
    })
    .await;
    let (bob, _) = server.user("bob").await;
    server.user("alice").await;
    let room = chat_e2e::public_room(&bob, "ward").await;
    bob.add_member(room, "alice").await.unwrap();

    // Alice logs in over a raw connection whose windows let little through.
    let mut transport = quinn::TransportConfig::default();
    transport
        .stream_receive_window(quinn::VarInt::from_u32(2048))
        .receive_window(quinn::VarInt::from_u32(64 * 1024));
    let endpoint = raw::endpoint_with(&server.ca, transport);
    let mut r = raw::hello(&endpoint, server.addr).await;
    r.send
        .write_all(&raw::request(
            1,
            RequestBody::Login {
                username: "alice".into(),
                password: chat_e2e::PASSWORD.into(),
            },
        ))
        .await
        .unwrap();
    assert!(
        matches!(raw::read(&mut r.recv).await, ServerFrame::Response(resp) if resp.result.is_ok())
    );
    let mut first = r.conn.accept_uni().await.unwrap();
    assert_eq!(
        stream_header(&mut first).await,
        chat_protocol::StreamHeader::User
    );

    // Bob's presence flips far more often than the 1,024-event queue holds
    // while alice reads nothing.
    let second = tokio::spawn({
        let conn = r.conn.clone();
        async move { conn.accept_uni().await.unwrap() }
    });
    for i in 0..3_000 {
        bob.set_away(i % 2 == 0).await.unwrap();
        if second.is_finished() {
            break;
        }
    }
    let mut second = tokio::time::timeout(WAIT, second).await.unwrap().unwrap();
    assert_eq!(
        stream_header(&mut second).await,
        chat_protocol::StreamHeader::User
    );
    // The old stream ends with the lagged code once alice reads it.
    let mut buf = vec![0u8; 64 * 1024];
    let end = loop {
        match tokio::time::timeout(WAIT, first.read(&mut buf))
            .await
            .unwrap()
        {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    assert!(
        matches!(end, Err(quinn::ReadError::Reset(code)) if code.into_inner() == u64::from(codes::STREAM_LAGGED)),
        "{end:?}"
    );
}
