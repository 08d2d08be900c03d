//! A room stream: catch-up from storage, then live events, on one
//! server-opened uni-stream.
//!
//! The hub subscription is registered before the first storage read, so an
//! event is either in a catch-up page or in the live queue (or both, and the
//! copy with a seq already sent is skipped). Should the live queue ever run
//! ahead of what was sent, the gap is read from storage before going on, so
//! the client sees consecutive sequence numbers with no gap and no duplicate.

use super::Session;
use crate::fanout::{End, Subscription};
use crate::store::WriteError;
use bytes::Bytes;
use chat_protocol::{self as proto, RequestId, codes};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Events read from storage per catch-up read transaction (and written to
/// the stream in one write).
const CATCHUP_PAGE: usize = 512;

/// Most live frames taken from the queue for one stream write. Bounds the
/// bytes handed to QUIC at once (about 64 KiB of typical 250-byte frames).
const LIVE_BATCH: usize = 256;

/// How long a room stream's final `Closed` frame may take to be written
/// before the stream is reset instead, in ms.
pub const CLOSE_GRACE_MS: u64 = 2_000;

/// Ends a stream with a `RoomFrame::Closed { code }` frame and FIN, or a
/// reset with `code` if that cannot be written within [`CLOSE_GRACE_MS`].
async fn close_in_band(send: &mut quinn::SendStream, code: u32) {
    let written = match proto::frame::encode(&proto::RoomFrame::Closed { code }) {
        Ok(frame) => tokio::time::timeout(
            std::time::Duration::from_millis(CLOSE_GRACE_MS),
            send.write_all(&frame),
        )
        .await
        .is_ok_and(|r| r.is_ok()),
        Err(_) => false,
    };
    if !written || send.finish().is_err() {
        let _ = send.reset(code.into());
    }
}

/// Largest room whose members' receipt markers are sent after catch-up.
pub const RECEIPTS_ON_SUBSCRIBE_MAX_MEMBERS: usize = 500;

pub(super) struct RoomStream {
    pub session: Arc<Session>,
    pub room: u64,
    pub since: u64,
    pub request: RequestId,
    pub sub: Subscription,
}

enum Stop {
    Code(u32),
    Failed(String),
}

impl RoomStream {
    pub async fn run(mut self, mut cancelled: oneshot::Receiver<()>) {
        let mut send = match self.session.conn.open_uni().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, room = self.room, "cannot open room stream");
                self.session.forget_sub(self.room, self.request);
                return;
            }
        };
        match self.stream(&mut send, &mut cancelled).await {
            // A lagging client is not reading: reset at once. Any other end
            // is said in-band (see `RoomFrame::Closed`), falling back to a
            // reset if the client does not take it within CLOSE_GRACE_MS.
            Stop::Code(code) if code == codes::STREAM_LAGGED => {
                let _ = send.reset(code.into());
            }
            Stop::Code(code) => close_in_band(&mut send, code).await,
            Stop::Failed(e) => {
                tracing::debug!(error = %e, room = self.room, "room stream failed");
                let _ = send.reset(codes::STREAM_UNSUBSCRIBED.into());
            }
        }
        // Only removes the handle if it is still this subscription's.
        self.session.forget_sub(self.room, self.request);
    }

    async fn stream(
        &mut self,
        send: &mut quinn::SendStream,
        cancelled: &mut oneshot::Receiver<()>,
    ) -> Stop {
        let header = proto::StreamHeader::Room {
            room: proto::RoomId(self.room),
            since: proto::Seq(self.since),
            request: self.request,
        };
        let header = match proto::frame::encode(&header) {
            Ok(h) => h,
            Err(e) => return Stop::Failed(e.to_string()),
        };
        // The header is written even when the hub has already ended the
        // subscription (a kick right after the subscribe): the client then
        // reads the header, sees the reset code, and knows why, instead of
        // waiting for a stream that never comes.
        let header_written = tokio::select! {
            r = send.write_all(&header) => r.map_err(|e| Stop::Failed(e.to_string())),
            _ = &mut *cancelled => Err(Stop::Code(codes::STREAM_UNSUBSCRIBED)),
        };
        if let Err(stop) = header_written {
            return stop;
        }
        let mut last = self.since;
        // Catch-up, page by page, each page in its own read transaction and
        // handed to QUIC in one write.
        let mut chunks: Vec<Bytes> = Vec::new();
        loop {
            let page = match self.read_range(last + 1, u64::MAX).await {
                Ok(p) => p,
                Err(e) => return Stop::Failed(e.to_string()),
            };
            let full = page.len() == CATCHUP_PAGE;
            for (seq, frame) in page {
                chunks.push(frame);
                last = seq;
            }
            if let Some(stop) = self.write_chunks(send, &mut chunks, cancelled).await {
                return stop;
            }
            if !full {
                break;
            }
        }
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        self.session
            .shared
            .metrics
            .catch_up_lag
            .observe(last.saturating_sub(self.since) as f64);
        let caught_up = proto::RoomFrame::CaughtUp {
            head: proto::Seq(last),
        };
        match proto::frame::encode(&caught_up) {
            Ok(f) => chunks.push(f),
            Err(e) => return Stop::Failed(e.to_string()),
        }
        // Receipts are ephemeral, so a (re)subscribing client has missed
        // every one sent before; give it the members' current markers.
        match self.current_receipts().await {
            Ok(r) => chunks.extend(r),
            Err(e) => return Stop::Failed(e.to_string()),
        }
        if let Some(stop) = self.write_chunks(send, &mut chunks, cancelled).await {
            return stop;
        }
        // Live: wait for one frame, then take whatever else is already
        // queued (up to LIVE_BATCH) and write them together, so a busy room
        // costs one stream write per batch rather than per event.
        loop {
            let live = tokio::select! {
                live = self.sub.rx.recv() => live,
                _ = &mut *cancelled => return Stop::Code(codes::STREAM_UNSUBSCRIBED),
            };
            let Some(live) = live else {
                return Stop::Code(match self.sub.end() {
                    End::Lagged => codes::STREAM_LAGGED,
                    End::Revoked => codes::STREAM_REVOKED,
                    End::Open => codes::STREAM_UNSUBSCRIBED,
                });
            };
            let mut next = Some(live);
            while let Some(live) = next.take() {
                if live.seq == 0 {
                    // Ephemeral (receipt, typing): not part of the sequence.
                    chunks.push(live.frame);
                } else if live.seq > last {
                    while live.seq > last + 1 {
                        let gap = match self.read_range(last + 1, live.seq - 1).await {
                            Ok(p) if !p.is_empty() => p,
                            Ok(_) => {
                                return Stop::Failed(format!(
                                    "events {}..{} missing",
                                    last + 1,
                                    live.seq
                                ));
                            }
                            Err(e) => return Stop::Failed(e.to_string()),
                        };
                        for (seq, frame) in gap {
                            chunks.push(frame);
                            last = seq;
                        }
                    }
                    let frame = if live.hideable && self.is_blocked(live.sender) {
                        match self.hidden_frame(&live) {
                            Ok(f) => f,
                            Err(e) => return Stop::Failed(e),
                        }
                    } else {
                        live.frame
                    };
                    chunks.push(frame);
                    last = live.seq;
                }
                if chunks.len() < LIVE_BATCH {
                    next = self.sub.rx.try_recv().ok();
                }
            }
            if let Some(stop) = self.write_chunks(send, &mut chunks, cancelled).await {
                return stop;
            }
        }
    }

    fn is_blocked(&self, user: u64) -> bool {
        self.session
            .blocked
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&user)
    }

    /// The `Hidden` stand-in for an event from a blocked sender: it keeps
    /// the sequence number so the reader sees no gap.
    fn hidden_frame(&self, live: &crate::fanout::Live) -> Result<Bytes, String> {
        let event = proto::RoomEvent {
            room: proto::RoomId(self.room),
            seq: proto::Seq(live.seq),
            ts: proto::Timestamp(live.ts),
            sender: proto::Author {
                id: proto::UserId(live.sender),
                username: String::new(),
                display_name: String::new(),
                org: String::new(),
            },
            kind: proto::RoomEventKind::Hidden,
        };
        proto::frame::encode(&proto::RoomFrame::Event(event)).map_err(|e| e.to_string())
    }

    /// Writes `chunks` (whole frames, in order) in one stream write without
    /// copying them, then empties the vector. Gives up at once if the hub ends the
    /// subscription (a stalled client, a removed member) or the client
    /// unsubscribes.
    async fn write_chunks(
        &self,
        send: &mut quinn::SendStream,
        chunks: &mut Vec<Bytes>,
        cancelled: &mut oneshot::Receiver<()>,
    ) -> Option<Stop> {
        if chunks.is_empty() {
            return None;
        }
        let stop = tokio::select! {
            r = send.write_all_chunks(chunks) => r.err().map(|e| Stop::Failed(e.to_string())),
            _ = self.sub.ended.notified() => Some(Stop::Code(match self.sub.end() {
                End::Revoked => codes::STREAM_REVOKED,
                _ => codes::STREAM_LAGGED,
            })),
            _ = cancelled => Some(Stop::Code(codes::STREAM_UNSUBSCRIBED)),
        };
        chunks.clear();
        stop
    }

    /// Every member's receipt markers as `RoomFrame::Receipt` frames, for
    /// rooms of at most [`RECEIPTS_ON_SUBSCRIBE_MAX_MEMBERS`] members (larger
    /// rooms show no "seen by" lists, and this keeps a subscribe cheap).
    async fn current_receipts(&self) -> Result<Vec<Bytes>, WriteError> {
        self.session
            .shared
            .storage
            .room_receipts(self.room, RECEIPTS_ON_SUBSCRIBE_MAX_MEMBERS)
            .await
    }

    /// Reads events `from..=to` (at most a page), encoded as frames, on the
    /// blocking pool.
    async fn read_range(&self, from: u64, to: u64) -> Result<Vec<(u64, Bytes)>, WriteError> {
        let view = crate::store::records::View {
            reveal_deleted: false,
            hidden: self
                .session
                .blocked
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        };
        self.session
            .shared
            .storage
            .catch_up(self.room, from, to, CATCHUP_PAGE, view)
            .await
    }
}
