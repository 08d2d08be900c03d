//! Room events and idempotency: the boundary's traits and their redb implementation.

use super::*;
use crate::store::records::EventRecord;

/// Room events and idempotency ([`ops::events`]): the per-room event log.
///
/// Contract: a message is appended with seq `head + 1` of its room in the
/// transaction that checks the sender's membership, mute, the room's
/// archive flag and a direct peer's block; within a room commit order is
/// seq order, with no gap and no duplicate. An idempotency key stores at
/// most one message per (key owner, key) for [`proto::IDEMPOTENCY_TTL_MS`]:
/// a retry is answered with the first message's ack marked `duplicate`
/// (a key reused in another room is a `Conflict`).
pub trait RoomEvents: Send + Sync {
    /// Sends `text` (with `attachments`, the sender's unsent uploads to
    /// this room) to `room` as `user`, under idempotency key `key`.
    ///
    /// Unlike the other methods, the send is queued when this is CALLED,
    /// not when the future is first polled: sends from one connection are
    /// stored in the order they arrived. The future owns what it needs
    /// (`'static`), so the caller may hand it to another task.
    ///
    /// # Errors
    /// `NotFound`, `NotMember`, `Muted`, `Archived`, `Blocked`, `Conflict`
    /// (key used in another room), `BadRequest` (bad `reply_to`), the
    /// attachment refusals; a storage failure.
    fn send_message(
        &self,
        user: u64,
        room: proto::RoomId,
        key: proto::IdempotencyKey,
        text: String,
        reply_to: Option<proto::Seq>,
        attachments: Vec<proto::AttachmentId>,
    ) -> StoreFuture<'static, proto::MessageAck>;

    /// Imports a message sent as `username` at `ts` into `room` (a server
    /// admin's import; no membership check). `key` belongs to
    /// `admin_user`, so a re-run import stores nothing twice.
    ///
    /// # Errors
    /// `NotFound`, `Archived`, `Conflict`; a storage failure.
    fn import_message(
        &self,
        admin_user: u64,
        room: u64,
        username: String,
        ts: proto::Timestamp,
        key: proto::IdempotencyKey,
        text: String,
    ) -> StoreFuture<'_, proto::MessageAck>;

    /// A page of `room`'s events for `user` (a member, or `admin`) as
    /// `view` shows them, and the seqs of deleted texts it reveals.
    ///
    /// # Errors
    /// `NotFound`; a storage failure.
    fn history(
        &self,
        user: u64,
        admin: bool,
        room: u64,
        anchor: proto::HistoryAnchor,
        limit: usize,
        view: View,
    ) -> StoreFuture<'_, ops::events::HistoryRead>;

    /// `room`'s head if `user` is a member of it now, else `None`.
    ///
    /// # Errors
    /// A storage failure.
    fn member_head(&self, user: u64, room: u64) -> StoreFuture<'_, Option<u64>>;

    /// Events `from..=to` of `room` (at most `limit`, ascending) as `view`
    /// shows them, encoded as `RoomFrame::Event` frames: a subscription's
    /// catch-up page. With the live stream registered first, catch-up plus
    /// live has no gap (see `Session::subscribe`).
    ///
    /// # Errors
    /// A storage failure.
    fn catch_up(
        &self,
        room: u64,
        from: u64,
        to: u64,
        limit: usize,
        view: View,
    ) -> StoreFuture<'_, Vec<(u64, bytes::Bytes)>>;

    /// Every member's receipt markers as `RoomFrame::Receipt` frames, none
    /// for a room of more than `max_members`.
    ///
    /// # Errors
    /// A storage failure.
    fn room_receipts(&self, room: u64, max_members: usize) -> StoreFuture<'_, Vec<bytes::Bytes>>;

    /// Stored events of `room` with `after < seq <= up_to`, ascending, at
    /// most `limit`, as stored (no view applied): what a node reads to
    /// fill a gap in what the cross-node bus delivered.
    ///
    /// # Errors
    /// A storage failure.
    fn stored_events(
        &self,
        room: u64,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<(u64, EventRecord)>>;

    /// The head (last committed seq; 0 for a deleted room) of each of
    /// `rooms`, or of every room when `None`; unknown rooms are left out.
    ///
    /// # Errors
    /// A storage failure.
    fn heads_of(&self, rooms: Option<Vec<u64>>) -> StoreFuture<'_, Vec<(u64, u64)>>;
}

impl RoomEvents for Store {
    fn send_message(
        &self,
        user: u64,
        room: proto::RoomId,
        key: proto::IdempotencyKey,
        text: String,
        reply_to: Option<proto::Seq>,
        attachments: Vec<proto::AttachmentId>,
    ) -> StoreFuture<'static, proto::MessageAck> {
        // Queued now, not at first poll (see the trait).
        let rx = self.writer().submit(move |ctx| {
            ops::events::send_job_with(ctx, user, room, &key, text.clone(), reply_to, &attachments)
        });
        Box::pin(async move {
            rx.await
                .unwrap_or(Err(WriteError::Store(crate::store::StoreError::WriterGone)))
        })
    }

    fn import_message(
        &self,
        admin_user: u64,
        room: u64,
        username: String,
        ts: proto::Timestamp,
        key: proto::IdempotencyKey,
        text: String,
    ) -> StoreFuture<'_, proto::MessageAck> {
        Box::pin(self.writer().write(move |ctx| {
            ops::events::import(ctx, admin_user, room, &username, ts, &key, &text)
        }))
    }

    fn history(
        &self,
        user: u64,
        admin: bool,
        room: u64,
        anchor: proto::HistoryAnchor,
        limit: usize,
        view: View,
    ) -> StoreFuture<'_, ops::events::HistoryRead> {
        Box::pin(
            self.read_op(move |txn| {
                ops::events::history(txn, user, admin, room, anchor, limit, &view)
            }),
        )
    }

    fn member_head(&self, user: u64, room: u64) -> StoreFuture<'_, Option<u64>> {
        Box::pin(self.read_op(move |txn| ops::events::member_head(txn, user, room)))
    }

    fn catch_up(
        &self,
        room: u64,
        from: u64,
        to: u64,
        limit: usize,
        view: View,
    ) -> StoreFuture<'_, Vec<(u64, bytes::Bytes)>> {
        Box::pin(self.read_op(move |txn| ops::events::catch_up(txn, room, from, to, limit, &view)))
    }

    fn room_receipts(&self, room: u64, max_members: usize) -> StoreFuture<'_, Vec<bytes::Bytes>> {
        Box::pin(self.read_op(move |txn| ops::events::receipts(txn, room, max_members)))
    }

    fn stored_events(
        &self,
        room: u64,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<(u64, EventRecord)>> {
        Box::pin(
            self.read_op(move |txn| ops::events::stored_events(txn, room, after, up_to, limit)),
        )
    }

    fn heads_of(&self, rooms: Option<Vec<u64>>) -> StoreFuture<'_, Vec<(u64, u64)>> {
        Box::pin(self.read_op(move |txn| ops::events::room_heads(txn, rooms)))
    }
}
