//! A raw QUIC client for hostile tests: it speaks the wire protocol by
//! hand (no `chat-client`), so a test can send what no well-behaved client
//! would: frames held back, requests never read, streams never used.
// Tests may unwrap (house style).
#![allow(clippy::unwrap_used)]

use chat_protocol::{
    ClientFrame, Hello, PROTOCOL_VERSION, Request, RequestBody, RequestId, ServerFrame, frame,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// A QUIC endpoint trusting the CA in `ca` (PEM).
pub fn endpoint(ca: &Path) -> quinn::Endpoint {
    endpoint_with(ca, quinn::TransportConfig::default())
}

/// As [`endpoint`], with the client's own transport settings (for a client
/// that reads slowly: small receive windows).
pub fn endpoint_with(ca: &Path, transport: quinn::TransportConfig) -> quinn::Endpoint {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![chat_protocol::ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(Arc::new(transport));
    endpoint.set_default_client_config(config);
    endpoint
}

/// A connection that has said Hello and read Welcome.
pub struct Raw {
    /// The QUIC connection.
    pub conn: quinn::Connection,
    /// The control stream, client to server.
    pub send: quinn::SendStream,
    /// The control stream, server to client.
    pub recv: quinn::RecvStream,
}

/// Connects, opens the control stream, says Hello and reads Welcome.
pub async fn hello(endpoint: &quinn::Endpoint, addr: SocketAddr) -> Raw {
    let conn = endpoint.connect(addr, "localhost").unwrap().await.unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let hello = ClientFrame::Hello(Hello {
        min_version: PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
        client: "hostile-test/1".into(),
    });
    send.write_all(&frame::encode(&hello).unwrap())
        .await
        .unwrap();
    match read(&mut recv).await {
        ServerFrame::Welcome(_) => {}
        other => panic!("expected Welcome, got {other:?}"),
    }
    Raw { conn, send, recv }
}

/// Reads one server frame from the control stream.
pub async fn read(recv: &mut quinn::RecvStream) -> ServerFrame {
    let mut len = [0u8; 4];
    recv.read_exact(&mut len).await.unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    recv.read_exact(&mut body).await.unwrap();
    frame::decode_body(&body).unwrap()
}

/// The encoded frame of request `id`.
pub fn request(id: u64, body: RequestBody) -> Vec<u8> {
    frame::encode(&ClientFrame::Request(Request {
        id: RequestId(id),
        body,
    }))
    .unwrap()
    .to_vec()
}

/// The QUIC application close code the server ended `conn` with, waiting
/// at most `chat_e2e::WAIT`.
pub async fn close_code(conn: &quinn::Connection) -> Option<u64> {
    let err = tokio::time::timeout(chat_e2e::WAIT, conn.closed())
        .await
        .expect("the server closed the connection in time");
    match err {
        quinn::ConnectionError::ApplicationClosed(c) => Some(c.error_code.into_inner()),
        _ => None,
    }
}
