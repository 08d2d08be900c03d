//! The user stream: a server-opened uni-stream carrying [`UserEvent`]s for
//! the logged-in user.
//!
//! [`UserEvent`]: chat_protocol::UserEvent

use super::Session;
use chat_protocol::{self as proto, codes};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Events queued per session before the user stream is dropped as lagging.
const USER_QUEUE: usize = 1024;

pub(super) async fn run(session: Arc<Session>, user: u64, mut cancelled: oneshot::Receiver<()>) {
    let (tx, mut rx) = mpsc::channel(USER_QUEUE);
    let hub = session.shared.hub.clone();
    let sink = hub.add_user_sink(user, tx);
    let result = async {
        let mut send = session.conn.open_uni().await.map_err(|e| e.to_string())?;
        let header = proto::frame::encode(&proto::StreamHeader::User).map_err(|e| e.to_string())?;
        send.write_all(&header).await.map_err(|e| e.to_string())?;
        loop {
            tokio::select! {
                frame = rx.recv() => match frame {
                    Some(bytes) => send.write_all(&bytes).await.map_err(|e| e.to_string())?,
                    None => {
                        let _ = send.reset(codes::STREAM_LAGGED.into());
                        return Ok::<(), String>(());
                    }
                },
                _ = &mut cancelled => {
                    let _ = send.reset(codes::STREAM_UNSUBSCRIBED.into());
                    return Ok(());
                }
            }
        }
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "user stream ended");
    }
    hub.remove_user_sink(user, sink);
}
