//! The user stream: a server-opened uni-stream carrying [`UserEvent`]s for
//! the logged-in user.
//!
//! A session whose queue overflows (its client stopped reading) has that
//! stream reset with `STREAM_LAGGED`, and a new stream is opened at once
//! for what follows, so a client that falls behind loses the events in
//! between (and is told so by the reset) but never its user stream.
//!
//! [`UserEvent`]: chat_protocol::UserEvent

use super::Session;
use chat_protocol::{self as proto, codes};
use std::sync::Arc;
use tokio::sync::{Notify, mpsc, oneshot};

/// Events queued per session before the user stream is dropped as lagging.
pub const USER_QUEUE: usize = 1024;

/// How one user stream ended.
enum End {
    /// The hub dropped the sink: the client fell behind.
    Lagged,
    /// The login ended or the connection failed.
    Done,
}

pub(super) async fn run(session: Arc<Session>, user: u64, mut cancelled: oneshot::Receiver<()>) {
    let hub = session.shared.hub.clone();
    loop {
        let (tx, rx) = mpsc::channel(USER_QUEUE);
        let lagged = Arc::new(Notify::new());
        // Registered before the stream opens, so nothing after the lag is
        // missed by the new stream.
        let sink = hub.add_user_sink(user, tx, lagged.clone());
        let end = one_stream(&session, rx, &lagged, &mut cancelled).await;
        hub.remove_user_sink(user, sink);
        match end {
            Ok(End::Lagged) => tracing::debug!("user stream lagged; opening a new one"),
            Ok(End::Done) => return,
            Err(e) => {
                tracing::debug!(error = %e, "user stream ended");
                return;
            }
        }
    }
}

async fn one_stream(
    session: &Session,
    mut rx: mpsc::Receiver<bytes::Bytes>,
    lagged: &Notify,
    cancelled: &mut oneshot::Receiver<()>,
) -> Result<End, String> {
    let mut send = session.conn.open_uni().await.map_err(|e| e.to_string())?;
    let header = proto::frame::encode(&proto::StreamHeader::User).map_err(|e| e.to_string())?;
    send.write_all(&header).await.map_err(|e| e.to_string())?;
    loop {
        // `rx.recv` is cancel-safe; a write in progress when the login ends
        // is abandoned with the stream.
        tokio::select! {
            frame = rx.recv() => match frame {
                Some(bytes) => {
                    // A client that stopped reading blocks this write; the
                    // hub's lag signal or the end of the login frees it.
                    tokio::select! {
                        r = send.write_all(&bytes) => r.map_err(|e| e.to_string())?,
                        _ = lagged.notified() => {
                            let _ = send.reset(codes::STREAM_LAGGED.into());
                            return Ok(End::Lagged);
                        }
                        _ = &mut *cancelled => {
                            let _ = send.reset(codes::STREAM_UNSUBSCRIBED.into());
                            return Ok(End::Done);
                        }
                    }
                }
                None => {
                    let _ = send.reset(codes::STREAM_LAGGED.into());
                    return Ok(End::Lagged);
                }
            },
            _ = lagged.notified() => {
                let _ = send.reset(codes::STREAM_LAGGED.into());
                return Ok(End::Lagged);
            }
            _ = &mut *cancelled => {
                let _ = send.reset(codes::STREAM_UNSUBSCRIBED.into());
                return Ok(End::Done);
            }
        }
    }
}
