//! The file tables: one record per attachment, the room index, blob
//! reference counts and quota usage. The bytes themselves live in the blob
//! store (`crate::files::blob`); this module only keeps the records, so the
//! rule "only `store/` touches redb" holds for files too.
//!
//! Every function that writes runs inside a writer job (it takes a
//! [`WriteCtx`]) and opens the file tables on demand from the batch's
//! transaction; none of them is held across jobs.

use super::kv::{KvRead, ReadTx};
use super::records::{EventKindRecord, EventRecord, decode, encode};
use super::tables::{ATTACHMENTS, BLOB_REFS, DOOMED_BLOBS, EVENTS, FILE_USAGE, ROOM_FILES, meta};
use super::{StoreError, WriteCtx, WriteError};
use chat_protocol::{self as proto, ErrorBody, ErrorCode};
use serde::{Deserialize, Serialize};

/// [`FILE_USAGE`] key kind: bytes uploaded by a user.
pub const USAGE_USER: u8 = 0;
/// [`FILE_USAGE`] key kind: bytes uploaded to a room.
pub const USAGE_ROOM: u8 = 1;

/// One stored attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRecord {
    /// BLAKE3 of the content, lowercase hex: the blob's name.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
    /// Declared media type.
    pub media_type: String,
    /// Original file name, as uploaded.
    pub name: String,
    /// Uploader's user id.
    pub uploader: u64,
    /// Room it was uploaded to.
    pub room: u64,
    /// When it was stored, UTC ms.
    pub ts: u64,
    /// Seq of the message that carries it, once sent.
    #[serde(default)]
    pub message: Option<u64>,
    /// Image width in pixels, read from the stored file's header for
    /// image media types (`crate::files::image_dimensions`).
    #[serde(default)]
    pub width: Option<u32>,
    /// Image height in pixels, as `width`.
    #[serde(default)]
    pub height: Option<u32>,
}

/// An attachment as a message event stores it (a copy of the record's
/// public fields, so history needs no extra lookup).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// Attachment id.
    pub id: u64,
    /// Original name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
    /// BLAKE3 hex.
    pub hash: String,
    /// Image width in pixels, when known (absent in events stored before
    /// dimensions were read).
    #[serde(default)]
    pub width: Option<u32>,
    /// Image height in pixels, when known.
    #[serde(default)]
    pub height: Option<u32>,
}

impl AttachmentRef {
    /// The wire view.
    pub fn to_wire(&self) -> proto::Attachment {
        proto::Attachment {
            id: proto::AttachmentId(self.id),
            name: self.name.clone(),
            size: self.size,
            media_type: self.media_type.clone(),
            hash: self.hash.clone(),
            width: self.width,
            height: self.height,
        }
    }
}

impl AttachmentRecord {
    /// The wire view of this record under `id`.
    pub fn to_wire(&self, id: u64) -> proto::Attachment {
        self.to_ref(id).to_wire()
    }

    /// The copy a message event keeps.
    pub fn to_ref(&self, id: u64) -> AttachmentRef {
        AttachmentRef {
            id,
            name: self.name.clone(),
            size: self.size,
            media_type: self.media_type.clone(),
            hash: self.hash.clone(),
            width: self.width,
            height: self.height,
        }
    }
}

/// Quotas a new attachment must fit in, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Per uploader.
    pub per_user: u64,
    /// Per room.
    pub per_room: u64,
}

/// Creates the file tables if missing (called once at open).
///
/// # Errors
/// A storage error.
pub(super) fn create_tables(db: &redb::Database) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        txn.open_table(ATTACHMENTS)?;
        txn.open_table(ROOM_FILES)?;
        txn.open_table(BLOB_REFS)?;
        txn.open_table(FILE_USAGE)?;
    }
    txn.commit()?;
    Ok(())
}

/// Bytes held by `(kind, id)` as last committed.
///
/// # Errors
/// A storage error.
pub fn usage(txn: &ReadTx, kind: u8, id: u64) -> Result<u64, StoreError> {
    let t = txn.open_table(FILE_USAGE)?;
    Ok(t.get((kind, id))?.map(|v| v.value()).unwrap_or(0))
}

/// One attachment by id.
///
/// # Errors
/// A storage error or a corrupt record.
pub fn attachment(txn: &ReadTx, id: u64) -> Result<Option<AttachmentRecord>, StoreError> {
    let t = txn.open_table(ATTACHMENTS)?;
    match t.get(id)? {
        Some(v) => Ok(Some(decode(v.value())?)),
        None => Ok(None),
    }
}

/// The event carrying message `seq` of `room`, if stored.
///
/// # Errors
/// A storage error or a corrupt record.
pub fn message_event(txn: &ReadTx, room: u64, seq: u64) -> Result<Option<EventRecord>, StoreError> {
    let t = txn.open_table(EVENTS)?;
    match t.get((room, seq))? {
        Some(v) => Ok(Some(decode(v.value())?)),
        None => Ok(None),
    }
}

/// Whether `event` is a deleted message.
pub fn is_deleted(event: &EventRecord) -> bool {
    matches!(
        &event.kind,
        EventKindRecord::Message {
            deleted: Some(_),
            ..
        }
    )
}

/// The attachments of `room` that belong to live (not deleted) messages,
/// newest first.
///
/// # Errors
/// A storage error or a corrupt record.
pub fn list_room(txn: &ReadTx, room: u64) -> Result<Vec<(u64, AttachmentRecord)>, StoreError> {
    let index = txn.open_table(ROOM_FILES)?;
    let records = txn.open_table(ATTACHMENTS)?;
    let events = txn.open_table(EVENTS)?;
    let mut out = Vec::new();
    for entry in index.range((room, 0)..=(room, u64::MAX))?.rev() {
        let (key, _) = entry?;
        let (_, id) = key.value();
        let Some(v) = records.get(id)? else { continue };
        let rec: AttachmentRecord = decode(v.value())?;
        let Some(seq) = rec.message else { continue };
        let live = match events.get((room, seq))? {
            Some(ev) => !is_deleted(&decode::<EventRecord>(ev.value())?),
            None => false,
        };
        if live {
            out.push((id, rec));
        }
    }
    Ok(out)
}

fn refused(code: ErrorCode, message: impl Into<String>) -> WriteError {
    WriteError::Rejected(ErrorBody::new(code, message))
}

/// Stores a new attachment record after re-checking the quotas inside the
/// writer (the check before the transfer may be stale by now). Returns the
/// new id and whether this is the first record of its content (the blob
/// store must then hold it).
///
/// # Errors
/// [`ErrorCode::QuotaExceeded`] past a quota; storage failures.
pub fn insert(
    ctx: &mut WriteCtx<'_>,
    rec: &AttachmentRecord,
    quotas: Quotas,
) -> Result<u64, WriteError> {
    {
        let usage = ctx.txn.open_table(FILE_USAGE)?;
        let user = usage
            .get((USAGE_USER, rec.uploader))?
            .map(|v| v.value())
            .unwrap_or(0);
        let room = usage
            .get((USAGE_ROOM, rec.room))?
            .map(|v| v.value())
            .unwrap_or(0);
        check_quotas(user, room, rec.size, quotas).map_err(WriteError::Rejected)?;
    }
    let id = ctx.next_id(meta::NEXT_ATTACHMENT)?;
    let mut records = ctx.txn.open_table(ATTACHMENTS)?;
    records.insert(id, encode(rec)?.as_slice())?;
    let mut index = ctx.txn.open_table(ROOM_FILES)?;
    index.insert((rec.room, id), ())?;
    let mut refs = ctx.txn.open_table(BLOB_REFS)?;
    let n = refs.get(rec.hash.as_str())?.map(|v| v.value()).unwrap_or(0);
    refs.insert(rec.hash.as_str(), n + 1)?;
    let mut usage = ctx.txn.open_table(FILE_USAGE)?;
    for key in [(USAGE_USER, rec.uploader), (USAGE_ROOM, rec.room)] {
        let cur = usage.get(key)?.map(|v| v.value()).unwrap_or(0);
        usage.insert(key, cur.saturating_add(rec.size))?;
    }
    Ok(id)
}

/// Refuses `size` more bytes when `user` or `room` bytes would pass a quota.
///
/// # Errors
/// [`ErrorCode::QuotaExceeded`] naming the quota.
pub fn check_quotas(user: u64, room: u64, size: u64, quotas: Quotas) -> Result<(), ErrorBody> {
    if user.saturating_add(size) > quotas.per_user {
        return Err(ErrorBody::new(
            ErrorCode::QuotaExceeded,
            format!(
                "this file ({size} bytes) would take your files to {} bytes, past your quota of \
                 {} bytes; delete messages with files you no longer need, or ask the server admin",
                user.saturating_add(size),
                quotas.per_user
            ),
        ));
    }
    if room.saturating_add(size) > quotas.per_room {
        return Err(ErrorBody::new(
            ErrorCode::QuotaExceeded,
            format!(
                "this file ({size} bytes) would take the room's files to {} bytes, past its \
                 quota of {} bytes; ask a room admin to delete old files",
                room.saturating_add(size),
                quotas.per_room
            ),
        ));
    }
    Ok(())
}

/// Checks that `ids` are uploads of `user` to `room` not yet attached to a
/// message, and returns what the message event keeps of them. Reads only.
///
/// # Errors
/// [`ErrorCode::NotFound`] for an unknown id or one of another user or
/// room; [`ErrorCode::Conflict`] for one already sent; [`ErrorCode::BadRequest`]
/// for a repeated id.
pub fn claim(
    ctx: &WriteCtx<'_>,
    user: u64,
    room: u64,
    ids: &[proto::AttachmentId],
) -> Result<Vec<AttachmentRef>, WriteError> {
    let records = ctx.txn.open_table(ATTACHMENTS)?;
    let mut out: Vec<AttachmentRef> = Vec::with_capacity(ids.len());
    for id in ids {
        if out.iter().any(|a| a.id == id.0) {
            return Err(refused(
                ErrorCode::BadRequest,
                format!("attachment {id} is listed twice; list each file once"),
            ));
        }
        let rec: AttachmentRecord = match records.get(id.0)? {
            Some(v) => decode(v.value())?,
            None => None.ok_or_else(|| not_yours(*id))?,
        };
        if rec.uploader != user || rec.room != room {
            return Err(not_yours(*id));
        }
        if rec.message.is_some() {
            return Err(refused(
                ErrorCode::Conflict,
                format!("attachment {id} is already part of a message; upload the file again"),
            ));
        }
        out.push(rec.to_ref(id.0));
    }
    Ok(out)
}

fn not_yours(id: proto::AttachmentId) -> WriteError {
    refused(
        ErrorCode::NotFound,
        format!(
            "attachment {id} is not an upload of yours to this room (or was collected after \
             its grace period); upload the file again"
        ),
    )
}

/// Marks `refs` as carried by message `seq`.
///
/// # Errors
/// Storage failures.
pub fn link(ctx: &mut WriteCtx<'_>, refs: &[AttachmentRef], seq: u64) -> Result<(), WriteError> {
    let mut records = ctx.txn.open_table(ATTACHMENTS)?;
    for r in refs {
        let rec = match records.get(r.id)? {
            Some(v) => Some(decode::<AttachmentRecord>(v.value())?),
            None => None,
        };
        if let Some(mut rec) = rec {
            rec.message = Some(seq);
            records.insert(r.id, encode(&rec)?.as_slice())?;
        }
    }
    Ok(())
}

/// Removes attachments that no live message needs: never sent and older
/// than `grace_ms`, or carried by a message deleted more than `grace_ms`
/// ago, except in a room under a legal hold (`store::retention`), where
/// a deleted message's files are kept with its body. Returns the content
/// hashes no record names any more; the caller removes those blobs inside
/// the same job.
///
/// # Errors
/// Storage failures.
pub fn collect_garbage(
    ctx: &mut WriteCtx<'_>,
    now: u64,
    grace_ms: u64,
) -> Result<Vec<String>, WriteError> {
    let mut doomed = Vec::new();
    let mut held: std::collections::HashMap<u64, bool> = std::collections::HashMap::new();
    {
        let records = ctx.txn.open_table(ATTACHMENTS)?;
        for entry in records.iter()? {
            let (k, v) = entry?;
            let rec: AttachmentRecord = decode(v.value())?;
            let since = match rec.message {
                None => Some(rec.ts),
                Some(seq) => match ctx.events.get((rec.room, seq))? {
                    Some(ev) => match decode::<EventRecord>(ev.value())?.kind {
                        EventKindRecord::Message {
                            deleted: Some((_, at)),
                            ..
                        } => Some(at),
                        _ => None,
                    },
                    None => Some(rec.ts),
                },
            };
            if since.is_none_or(|t| t.saturating_add(grace_ms) > now) {
                continue;
            }
            if rec.message.is_some() {
                let is_held = match held.get(&rec.room) {
                    Some(h) => *h,
                    None => {
                        let h = super::retention::view_in(ctx, rec.room)?.policy.held;
                        held.insert(rec.room, h);
                        h
                    }
                };
                if is_held {
                    continue;
                }
            }
            doomed.push((k.value(), rec));
        }
    }
    remove_records(ctx, doomed)
}

/// Removes the attachment records `ids` (their room index, quota usage and
/// blob references) for the retention purge, whatever message carries
/// them. Returns how many records it removed and the content hashes no
/// record names any more; the caller removes those blobs inside the same
/// job, as the collector does.
///
/// # Errors
/// Storage failures.
pub fn release(ctx: &mut WriteCtx<'_>, ids: &[u64]) -> Result<(u64, Vec<String>), WriteError> {
    let mut doomed = Vec::with_capacity(ids.len());
    {
        let records = ctx.txn.open_table(ATTACHMENTS)?;
        for &id in ids {
            if let Some(v) = records.get(id)? {
                doomed.push((id, decode::<AttachmentRecord>(v.value())?));
            }
        }
    }
    let n = doomed.len() as u64;
    Ok((n, remove_records(ctx, doomed)?))
}

/// Removes `doomed` records with their index entries, usage and blob
/// references; returns the hashes whose last reference went.
fn remove_records(
    ctx: &mut WriteCtx<'_>,
    doomed: Vec<(u64, AttachmentRecord)>,
) -> Result<Vec<String>, WriteError> {
    let mut gone = Vec::new();
    let mut records = ctx.txn.open_table(ATTACHMENTS)?;
    let mut index = ctx.txn.open_table(ROOM_FILES)?;
    let mut refs = ctx.txn.open_table(BLOB_REFS)?;
    let mut usage = ctx.txn.open_table(FILE_USAGE)?;
    for (id, rec) in doomed {
        records.remove(id)?;
        index.remove((rec.room, id))?;
        for key in [(USAGE_USER, rec.uploader), (USAGE_ROOM, rec.room)] {
            let cur = usage.get(key)?.map(|v| v.value()).unwrap_or(0);
            usage.insert(key, cur.saturating_sub(rec.size))?;
        }
        let n = refs.get(rec.hash.as_str())?.map(|v| v.value()).unwrap_or(0);
        if n <= 1 {
            refs.remove(rec.hash.as_str())?;
            gone.push(rec.hash);
        } else {
            refs.insert(rec.hash.as_str(), n - 1)?;
        }
    }
    Ok(gone)
}

/// Notes `hashes` (blobs whose last reference this transaction dropped)
/// for removal after it commits; see [`DOOMED_BLOBS`].
///
/// # Errors
/// Storage failures.
pub fn doom(ctx: &mut WriteCtx<'_>, hashes: &[String]) -> Result<(), WriteError> {
    if hashes.is_empty() {
        return Ok(());
    }
    let now = chat_protocol::Timestamp::now().0;
    let mut doomed = ctx.txn.open_table(DOOMED_BLOBS)?;
    for hash in hashes {
        doomed.insert(hash.as_str(), now)?;
    }
    Ok(())
}

/// How many attachment records name `hash`, inside a write.
///
/// # Errors
/// Storage failures.
pub fn blob_refs_in(ctx: &mut WriteCtx<'_>, hash: &str) -> Result<u64, WriteError> {
    let refs = ctx.txn.open_table(BLOB_REFS)?;
    Ok(refs.get(hash)?.map_or(0, |v| v.value()))
}

/// Most doomed blobs one [`remove_doomed`] job looks at, so it never holds
/// the writer for long; the rest wait for the next call.
pub const REMOVE_DOOMED_BATCH: usize = 1_000;

/// Takes up to [`REMOVE_DOOMED_BATCH`] entries off [`DOOMED_BLOBS`] and
/// returns the hashes no attachment refers to any more, for the caller to
/// remove from the blob store inside the same writer job (after which an
/// upload of that content stores it again). A hash referred to again is
/// only taken off the list.
///
/// # Errors
/// Storage failures.
pub fn remove_doomed(ctx: &mut WriteCtx<'_>) -> Result<Vec<String>, WriteError> {
    let mut doomed = ctx.txn.open_table(DOOMED_BLOBS)?;
    let refs = ctx.txn.open_table(BLOB_REFS)?;
    let mut taken = Vec::new();
    for entry in doomed.iter()?.take(REMOVE_DOOMED_BATCH) {
        let (k, _) = entry?;
        taken.push(k.value().to_owned());
    }
    let mut unreferenced = Vec::with_capacity(taken.len());
    for hash in taken {
        doomed.remove(hash.as_str())?;
        if refs.get(hash.as_str())?.map_or(0, |v| v.value()) == 0 {
            unreferenced.push(hash);
        }
    }
    Ok(unreferenced)
}

/// How many attachment records name `hash`.
///
/// # Errors
/// A storage error.
pub fn blob_refs(txn: &ReadTx, hash: &str) -> Result<u64, StoreError> {
    let t = txn.open_table(BLOB_REFS)?;
    Ok(t.get(hash)?.map(|v| v.value()).unwrap_or(0))
}
