//! [`RoomStream`] and [`UserStream`]: the server-opened uni-streams, each
//! read by its own task and consumed through a cancel-safe `next()`.

use super::io::{ReadEnd, read_frame};
use crate::error::describe_close;
use chat_protocol::{RoomFrame, RoomId, Seq, UserEvent, codes};
use quinn::{RecvStream, VarInt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

/// How many frames a stream buffers ahead of its consumer. When full, the
/// reader task stops reading and QUIC flow control pushes back on the
/// server, which eventually resets a room stream with `STREAM_LAGGED`.
const STREAM_BUFFER: usize = 256;

/// Why a server stream ended (other than a clean finish, which `next()`
/// reports as `Ok(None)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamEnd {
    /// The client fell behind and the server dropped the stream
    /// ([`codes::STREAM_LAGGED`]); resubscribe from the last seq processed.
    #[error("the stream fell behind and was reset; resubscribe from the last seen seq")]
    Lagged,
    /// The user left, was kicked or banned, or the room was deleted
    /// ([`codes::STREAM_REVOKED`]).
    #[error("access to the room ended (left, removed, or room deleted)")]
    Revoked,
    /// The subscription was replaced or cancelled ([`codes::STREAM_UNSUBSCRIBED`]).
    #[error("the subscription was cancelled")]
    Unsubscribed,
    /// Reset with a code this build does not know.
    #[error("the server reset the stream with code {0}")]
    Reset(u32),
    /// The connection ended; reconnect to continue.
    #[error("connection lost: {0}")]
    ConnectionLost(String),
    /// The server sent a malformed frame.
    #[error("protocol error on stream: {0}")]
    Protocol(String),
}

impl StreamEnd {
    /// The end a `STREAM_*` code means, in a reset or a
    /// [`RoomFrame::Closed`] frame.
    pub fn from_code(code: u32) -> StreamEnd {
        match code {
            codes::STREAM_LAGGED => StreamEnd::Lagged,
            codes::STREAM_REVOKED => StreamEnd::Revoked,
            codes::STREAM_UNSUBSCRIBED => StreamEnd::Unsubscribed,
            code => StreamEnd::Reset(code),
        }
    }
}

impl From<ReadEnd> for StreamEnd {
    fn from(e: ReadEnd) -> StreamEnd {
        match e {
            ReadEnd::Reset(code) => StreamEnd::from_code(code),
            ReadEnd::Lost(e) => StreamEnd::ConnectionLost(describe_close(&e)),
            ReadEnd::Protocol(msg) => StreamEnd::Protocol(msg),
        }
    }
}

type Item<T> = Result<Option<T>, StreamEnd>;

/// A stream of decoded frames fed by a reader task.
#[derive(Debug)]
struct Frames<T> {
    rx: mpsc::Receiver<Item<T>>,
    end: Option<Item<T>>,
}

impl<T: DeserializeOwned + Send + 'static> Frames<T> {
    /// Starts the reader task for `recv`, whose header was already read.
    fn spawn(mut recv: RecvStream) -> Frames<T> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    // The consumer went away: tell the server to stop sending.
                    () = tx.closed() => {
                        let _ = recv.stop(VarInt::from_u32(codes::STREAM_UNSUBSCRIBED));
                        return;
                    }
                    read = read_frame::<T>(&mut recv) => read,
                };
                let last = !matches!(item, Ok(Some(_)));
                if tx.send(item.map_err(StreamEnd::from)).await.is_err() || last {
                    if !last {
                        let _ = recv.stop(VarInt::from_u32(codes::STREAM_UNSUBSCRIBED));
                    }
                    return;
                }
            }
        });
        Frames { rx, end: None }
    }
}

impl<T> Frames<T> {
    async fn next(&mut self) -> Item<T> {
        if let Some(end) = &self.end {
            return match end {
                Ok(_) => Ok(None),
                Err(e) => Err(e.clone()),
            };
        }
        let item = self.rx.recv().await.unwrap_or_else(|| {
            Err(StreamEnd::ConnectionLost(
                "the stream reader stopped".to_owned(),
            ))
        });
        if !matches!(item, Ok(Some(_))) {
            self.end = Some(match &item {
                Ok(_) => Ok(None),
                Err(e) => Err(e.clone()),
            });
        }
        item
    }
}

/// One room's event stream, from [`crate::Connection::subscribe`].
///
/// Yields stored events after `since` in seq order, then
/// [`RoomFrame::CaughtUp`], then live events. Dropping it asks the server
/// to stop sending (`STOP_SENDING` with `STREAM_UNSUBSCRIBED`).
#[derive(Debug)]
pub struct RoomStream {
    room: RoomId,
    since: Seq,
    head: Seq,
    frames: Frames<RoomFrame>,
}

impl RoomStream {
    pub(crate) fn spawn(room: RoomId, since: Seq, recv: RecvStream) -> RoomStream {
        RoomStream {
            room,
            since,
            head: Seq::ZERO,
            frames: Frames::spawn(recv),
        }
    }

    pub(crate) fn set_head(&mut self, head: Seq) {
        self.head = head;
    }

    /// The room.
    pub fn room(&self) -> RoomId {
        self.room
    }

    /// The `since` this subscription started after.
    pub fn since(&self) -> Seq {
        self.since
    }

    /// The room's head when the server accepted the subscription.
    pub fn head(&self) -> Seq {
        self.head
    }

    /// The next frame; `Ok(None)` when the server finished the stream.
    /// Cancel-safe: may be used in `tokio::select!`.
    ///
    /// # Errors
    /// [`StreamEnd`] saying why the stream ended; later calls repeat it.
    pub async fn next(&mut self) -> Result<Option<RoomFrame>, StreamEnd> {
        match self.frames.next().await {
            // The server's in-band end is reported like the reset it stands
            // for, and repeated by later calls.
            Ok(Some(RoomFrame::Closed { code })) => {
                let end = StreamEnd::from_code(code);
                self.frames.end = Some(Err(end.clone()));
                Err(end)
            }
            other => other,
        }
    }
}

/// The logged-in user's event stream, from [`crate::Connection::user_events`].
#[derive(Debug)]
pub struct UserStream {
    frames: Frames<UserEvent>,
}

impl UserStream {
    pub(crate) fn spawn(recv: RecvStream) -> UserStream {
        UserStream {
            frames: Frames::spawn(recv),
        }
    }

    /// The next event; `Ok(None)` when the server finished the stream.
    /// Cancel-safe.
    ///
    /// # Errors
    /// [`StreamEnd`] saying why the stream ended; later calls repeat it.
    pub async fn next(&mut self) -> Result<Option<UserEvent>, StreamEnd> {
        self.frames.next().await
    }
}
