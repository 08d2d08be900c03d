//! Attachments: the boundary's traits and their redb implementation.

use super::*;

/// Attachments ([`ops::attachments`]): file records, quotas, downloads and
/// the file collector. Contract: an upload is recorded only while its
/// uploader is a member of the room and within the quotas, in the same
/// transaction; its bytes are placed in the blob store inside that write
/// (a failure stores nothing); blobs are removed only after nothing
/// refers to them.
pub trait Attachments: Send + Sync {
    /// Refuses `user` unless a member of `room` now (a private room or a
    /// missing one answers `NotFound`, a public one `NotMember`).
    ///
    /// # Errors
    /// As above; a storage failure.
    fn require_member(&self, user: u64, room: u64) -> StoreFuture<'_, ()>;

    /// The files of `room`'s live messages, newest first.
    ///
    /// # Errors
    /// A storage failure.
    fn files(&self, room: u64) -> StoreFuture<'_, Vec<proto::FileEntry>>;

    /// Bytes stored by `user` and in `room`.
    ///
    /// # Errors
    /// A storage failure.
    fn file_usage(&self, user: u64, room: u64) -> StoreFuture<'_, (u64, u64)>;

    /// Records the upload `rec` and places its bytes with `place`; returns
    /// the attachment id.
    ///
    /// # Errors
    /// `NotFound`, `NotMember`, `QuotaExceeded`; a storage failure.
    fn store_upload(
        &self,
        rec: crate::store::files::AttachmentRecord,
        quotas: crate::store::files::Quotas,
        place: Arc<ops::attachments::PlaceBlob>,
    ) -> StoreFuture<'_, u64>;

    /// Attachment `id` and whether its message is deleted.
    ///
    /// # Errors
    /// A storage failure.
    fn attachment_for_download(
        &self,
        id: u64,
    ) -> StoreFuture<'_, Option<(crate::store::files::AttachmentRecord, bool)>>;

    /// Runs the file collector with grace period `grace_ms`: drops the
    /// records no live message needs and notes the blobs nothing refers to
    /// any more. Returns how many blobs it noted; they leave the blob store
    /// only through [`Attachments::remove_doomed_blobs`].
    ///
    /// # Errors
    /// A storage failure.
    fn collect_files(&self, grace_ms: u64) -> StoreFuture<'_, usize>;

    /// Removes, through `remove`, noted blobs that nothing refers to any
    /// more (at most `store::files::REMOVE_DOOMED_BATCH` per call), after
    /// the transaction that noted them committed. Contract on any
    /// backend: a blob file is removed only when no committed attachment
    /// refers to its hash, and an upload of that content afterwards stores
    /// it again; a crash before this call leaves the note, and the next
    /// call removes the file. Returns how many it removed.
    ///
    /// # Errors
    /// A storage failure.
    fn remove_doomed_blobs(
        &self,
        remove: Arc<ops::attachments::BlobsGone>,
    ) -> StoreFuture<'_, usize>;

    /// Notes, for [`Attachments::remove_doomed_blobs`], those of `hashes`
    /// (blob files found in the blob store) that no attachment refers to.
    /// Returns how many it noted.
    ///
    /// # Errors
    /// A storage failure.
    fn note_orphan_blobs(&self, hashes: Vec<String>) -> StoreFuture<'_, usize>;
}

impl Attachments for Store {
    fn require_member(&self, user: u64, room: u64) -> StoreFuture<'_, ()> {
        Box::pin(self.read_op(move |txn| ops::attachments::require_member(txn, user, room)))
    }

    fn files(&self, room: u64) -> StoreFuture<'_, Vec<proto::FileEntry>> {
        Box::pin(self.read_op(move |txn| ops::attachments::list(txn, room)))
    }

    fn file_usage(&self, user: u64, room: u64) -> StoreFuture<'_, (u64, u64)> {
        Box::pin(self.read_op(move |txn| ops::attachments::usage(txn, user, room)))
    }

    fn store_upload(
        &self,
        rec: crate::store::files::AttachmentRecord,
        quotas: crate::store::files::Quotas,
        place: Arc<ops::attachments::PlaceBlob>,
    ) -> StoreFuture<'_, u64> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::attachments::store_upload(ctx, &rec, quotas, &*place)),
        )
    }

    fn attachment_for_download(
        &self,
        id: u64,
    ) -> StoreFuture<'_, Option<(crate::store::files::AttachmentRecord, bool)>> {
        Box::pin(self.read_op(move |txn| ops::attachments::for_download(txn, id)))
    }

    fn collect_files(&self, grace_ms: u64) -> StoreFuture<'_, usize> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::attachments::collect_garbage(ctx, grace_ms)),
        )
    }

    fn remove_doomed_blobs(
        &self,
        remove: Arc<ops::attachments::BlobsGone>,
    ) -> StoreFuture<'_, usize> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::attachments::remove_doomed_blobs(ctx, &*remove)),
        )
    }

    fn note_orphan_blobs(&self, hashes: Vec<String>) -> StoreFuture<'_, usize> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::attachments::note_orphans(ctx, &hashes)),
        )
    }
}
