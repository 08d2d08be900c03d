//! Attachments: a room's files, upload quotas, the record of a stored
//! upload, download lookups and the file collector (`crate::store::files`
//! holds the tables and their bookkeeping).

use super::rooms::{member_room, no_such_room};
use crate::store::files::{self as records, AttachmentRecord, Quotas};
use crate::store::kv::ReadTx;
use crate::store::query::{self, Reader};
use crate::store::{StoreError, WriteCtx, WriteError};
use chat_protocol::{self as proto, ErrorBody, ErrorCode};

/// Puts an upload's bytes into the blob store; runs inside the write that
/// records it, so a failure stores nothing. The text says what failed.
pub type PlaceBlob = dyn Fn() -> Result<(), String> + Send + Sync;

/// Removes blobs (by hash) from the blob store; called inside the writer
/// job of [`remove_doomed_blobs`].
pub type BlobsGone = dyn Fn(&[String]) + Send + Sync;

/// Refuses a caller who is not a member of `room` now: a missing or
/// deleted room, and a private room the caller is not in, answer exactly
/// as a missing room does; a non-member of a public room gets
/// [`ErrorCode::NotMember`].
///
/// # Errors
/// As above; a storage failure.
pub fn require_member(txn: &ReadTx, user: u64, room: u64) -> Result<(), WriteError> {
    let r = Reader::open(txn)?;
    let found = query::room(&r.rooms, room)?.filter(|x| !x.deleted);
    let member = query::member(&r.members, room, user)?;
    match (found, member) {
        (Some(_), Some(_)) => Ok(()),
        (Some(r), None) if r.public => Err(ErrorBody::new(
            ErrorCode::NotMember,
            "you are not a member of this room; join it first",
        )
        .into()),
        _ => Err(no_such_room().into()),
    }
}

/// The files of `room`'s live messages, newest first.
///
/// # Errors
/// A storage failure.
pub fn list(txn: &ReadTx, room: u64) -> Result<Vec<proto::FileEntry>, WriteError> {
    Ok(records::list_room(txn, room)?
        .into_iter()
        .map(|(id, rec)| proto::FileEntry {
            attachment: rec.to_wire(id),
            seq: proto::Seq(rec.message.unwrap_or(0)),
            uploader: proto::UserId(rec.uploader),
            ts: proto::Timestamp(rec.ts),
        })
        .collect())
}

/// Bytes stored by `user` and in `room`, for the quota checks.
///
/// # Errors
/// A storage failure.
pub fn usage(txn: &ReadTx, user: u64, room: u64) -> Result<(u64, u64), WriteError> {
    Ok((
        records::usage(txn, records::USAGE_USER, user)?,
        records::usage(txn, records::USAGE_ROOM, room)?,
    ))
}

/// Records an upload `rec` (its uploader still a member of its room,
/// within `quotas`), and places its bytes with `place`; returns the
/// attachment id.
///
/// # Errors
/// `NotFound`, `NotMember`, `QuotaExceeded`; a storage or blob store
/// failure.
pub fn store_upload(
    ctx: &mut WriteCtx<'_>,
    rec: &AttachmentRecord,
    quotas: Quotas,
    place: &PlaceBlob,
) -> Result<u64, WriteError> {
    member_room(ctx, rec.room, rec.uploader)?;
    let id = records::insert(ctx, rec, quotas)?;
    place().map_err(|e| StoreError::Redb(format!("blob store: {e}")))?;
    Ok(id)
}

/// Attachment `id` and whether the message carrying it is deleted (or
/// gone); `None` for no such attachment.
///
/// # Errors
/// A storage failure.
pub fn for_download(txn: &ReadTx, id: u64) -> Result<Option<(AttachmentRecord, bool)>, WriteError> {
    let Some(rec) = records::attachment(txn, id)? else {
        return Ok(None);
    };
    let deleted = match rec.message {
        Some(seq) => records::message_event(txn, rec.room, seq)?
            .map(|ev| records::is_deleted(&ev))
            .unwrap_or(true),
        None => false,
    };
    Ok(Some((rec, deleted)))
}

/// Drops the records of files no live message carries (unsent uploads
/// older than `grace_ms`, files of deleted messages) and notes the blobs
/// nothing refers to any more for [`remove_doomed_blobs`]. Returns how
/// many blobs it noted.
///
/// # Errors
/// A storage failure.
pub fn collect_garbage(ctx: &mut WriteCtx<'_>, grace_ms: u64) -> Result<usize, WriteError> {
    let now = chat_protocol::Timestamp::now().0;
    let hashes = records::collect_garbage(ctx, now, grace_ms)?;
    records::doom(ctx, &hashes)?;
    Ok(hashes.len())
}

/// Notes for [`remove_doomed_blobs`] those of `hashes` (blob files found in
/// the blob store) that no attachment refers to: files a crash left
/// between a blob's placement and its record's commit. Returns how many it
/// noted.
///
/// # Errors
/// A storage failure.
pub fn note_orphans(ctx: &mut WriteCtx<'_>, hashes: &[String]) -> Result<usize, WriteError> {
    let mut orphans = Vec::new();
    for hash in hashes {
        if records::blob_refs_in(ctx, hash)? == 0 {
            orphans.push(hash.clone());
        }
    }
    records::doom(ctx, &orphans)?;
    Ok(orphans.len())
}

/// Removes, through `remove`, the noted blobs that nothing refers to any
/// more, and takes them off the list ([`records::remove_doomed`]).
/// Returns how many it removed. Runs as its own writer job after the job
/// that noted them committed, so a rolled-back job never loses a file.
///
/// # Errors
/// A storage failure.
pub fn remove_doomed_blobs(
    ctx: &mut WriteCtx<'_>,
    remove: &BlobsGone,
) -> Result<usize, WriteError> {
    let hashes = records::remove_doomed(ctx)?;
    remove(&hashes);
    Ok(hashes.len())
}
