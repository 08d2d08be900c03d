//! A server that falls silent (crashed, or the network cut) is noticed
//! within [`IDLE_TIMEOUT`] + [`KEEP_ALIVE_INTERVAL`], through a UDP relay
//! that can be told to drop every datagram.

use super::tests::{ca_config, certs, serve};
use super::{IDLE_TIMEOUT, IDLE_TIMEOUT_MS, KEEP_ALIVE_INTERVAL};
use crate::{ClientError, connect};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

// Keep-alives must come often enough that a healthy idle connection never
// reaches its idle timeout, with room for a lost probe.
const _: () = assert!(KEEP_ALIVE_INTERVAL.as_millis() * 3 <= IDLE_TIMEOUT_MS as u128);

/// Relays datagrams between one client and `server` until `cut` is set,
/// then drops them all, as a dead server or a cut cable would. Returns the
/// address the client should connect to.
async fn relay(server: SocketAddr, cut: Arc<AtomicBool>) -> SocketAddr {
    let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = front.local_addr().unwrap();
    let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    back.connect(server).await.unwrap();
    let client = Arc::new(OnceLock::<SocketAddr>::new());
    let (f, b, c, x) = (front.clone(), back.clone(), client.clone(), cut.clone());
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = f.recv_from(&mut buf).await {
            let _ = c.set(from);
            if !x.load(Ordering::SeqCst) {
                let _ = b.send(&buf[..n]).await;
            }
        }
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok(n) = back.recv(&mut buf).await {
            if let (false, Some(to)) = (cut.load(Ordering::SeqCst), client.get()) {
                let _ = front.send_to(&buf[..n], to).await;
            }
        }
    });
    addr
}

#[tokio::test]
async fn a_silent_server_is_noticed_within_idle_timeout_plus_keep_alive() {
    let certs = certs();
    let cut = Arc::new(AtomicBool::new(false));
    let addr = relay(serve(&certs), cut.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let conn = connect(&ca_config(addr, dir.path(), &certs)).await.unwrap();
    conn.ping().await.unwrap();

    let cut_at = Instant::now();
    cut.store(true, Ordering::SeqCst);
    // A second of slack for scheduling on a loaded machine.
    let limit = IDLE_TIMEOUT + KEEP_ALIVE_INTERVAL + Duration::from_secs(1);
    let error = tokio::time::timeout(limit, conn.closed())
        .await
        .unwrap_or_else(|_| panic!("the silent server went unnoticed for {limit:?}"));
    assert!(matches!(error, ClientError::ConnectionLost(_)), "{error}");
    assert!(
        cut_at.elapsed() >= IDLE_TIMEOUT - KEEP_ALIVE_INTERVAL,
        "closed after {:?}, before the idle timeout could have passed",
        cut_at.elapsed()
    );
    assert!(matches!(
        conn.ping().await,
        Err(ClientError::ConnectionLost(_))
    ));
}
