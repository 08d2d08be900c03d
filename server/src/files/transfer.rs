//! Transfer streams: after login, every bidirectional stream a client opens
//! besides the control stream carries one upload or one download (see
//! `chat_protocol::file` for the wire shape). QUIC stream credit bounds how
//! many run at once ([`super::MAX_TRANSFERS_PER_CONNECTION`]); each holds at
//! most one [`super::CHUNK_BYTES`] buffer besides QUIC's own windows.

use super::{CHUNK_BYTES, blob};
use crate::session::Session;
use crate::store::files::{self as records, AttachmentRecord};
use chat_protocol::{
    self as proto, ErrorBody, ErrorCode, RoomId, TransferReply, TransferRequest, file,
};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tracing::Instrument;

/// Largest first frame of a transfer stream, in bytes (a name, a media type
/// and a hash fit in far less).
const MAX_REQUEST_FRAME: usize = 4 << 10;

/// Accepts transfer streams for the life of the connection. The server
/// grants no credit for them before login (the control stream is the only
/// stream then), so this waits until the session logs in.
pub async fn accept_streams(session: Arc<Session>) {
    while let Ok((send, recv)) = session.conn.accept_bi().await {
        let session = session.clone();
        let span = tracing::debug_span!("transfer", stream = %send.id());
        tokio::spawn(serve(session, send, recv).instrument(span));
    }
}

/// Raises the connection's stream credit for transfers; called at login.
pub fn grant_transfer_streams(conn: &quinn::Connection) {
    conn.set_max_concurrent_bi_streams(quinn::VarInt::from_u32(
        crate::tls::MAX_CLIENT_BIDI_STREAMS + super::MAX_TRANSFERS_PER_CONNECTION,
    ));
}

async fn serve(session: Arc<Session>, mut send: quinn::SendStream, mut recv: quinn::RecvStream) {
    let body_ms = session.shared.config.current().deadlines.frame_body_ms;
    let request = match crate::session::io::read_body(&mut recv, MAX_REQUEST_FRAME, body_ms).await {
        Ok(body) => proto::frame::decode_body::<TransferRequest>(&body),
        Err(e) => {
            tracing::debug!(error = %e, "transfer stream ended before its request");
            return;
        }
    };
    let outcome = match request {
        Ok(TransferRequest::Upload {
            room,
            name,
            media_type,
            size,
            hash,
        }) => {
            let up = Upload {
                room,
                name,
                media_type,
                size,
                hash,
            };
            upload(&session, up, &mut send, &mut recv).await
        }
        Ok(TransferRequest::Download {
            room,
            attachment,
            offset,
        }) => download(&session, room, attachment, offset, &mut send).await,
        Ok(TransferRequest::Backup) => crate::backup::serve::serve(&session, &mut send).await,
        Err(e) => Err(ErrorBody::new(
            ErrorCode::BadRequest,
            format!("the first frame of a transfer stream must be a TransferRequest: {e}"),
        )),
    };
    if let Err(e) = outcome {
        let _ = reply(&mut send, &TransferReply::Refused(e)).await;
    }
    let _ = send.finish();
    // Let the client read the reply before the stream state goes.
    let _ = send.stopped().await;
}

async fn reply(send: &mut quinn::SendStream, r: &TransferReply) -> Result<(), ErrorBody> {
    let bytes = proto::frame::encode(r).map_err(crate::handlers::internal)?;
    send.write_all(&bytes)
        .await
        .map_err(|e| ErrorBody::new(ErrorCode::Unavailable, e.to_string()))
}

struct Upload {
    room: RoomId,
    name: String,
    media_type: String,
    size: u64,
    hash: String,
}

fn bad(msg: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::BadRequest, msg)
}

/// Checks an upload request against the rules and limits, before any byte.
fn check_upload(session: &Session, up: &Upload) -> Result<(), ErrorBody> {
    let cfg = session.shared.files.config.load_full();
    if up.name.is_empty() || up.name.len() > file::MAX_FILE_NAME_BYTES {
        return Err(bad(format!(
            "a file name must be 1 to {} bytes; rename the file",
            file::MAX_FILE_NAME_BYTES
        )));
    }
    if !blob::valid_hash(&up.hash) {
        return Err(bad(
            "hash must be the BLAKE3 of the file as 64 lowercase hex digits",
        ));
    }
    let mt = up.media_type.trim();
    if mt.is_empty()
        || mt.len() > file::MAX_MEDIA_TYPE_BYTES
        || !mt.contains('/')
        || mt.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(bad(format!(
            "media type {:?} is not of the form type/subtype",
            up.media_type
        )));
    }
    if up.size > cfg.max_file_bytes {
        return Err(ErrorBody::new(
            ErrorCode::FileTooLarge,
            format!(
                "the file is {} bytes; this server accepts files of at most {} bytes; \
                 compress or split it",
                up.size, cfg.max_file_bytes
            ),
        ));
    }
    if !cfg.allows(mt) {
        return Err(ErrorBody::new(
            ErrorCode::MediaTypeRefused,
            format!(
                "this server does not accept files of type {mt}; it accepts {}",
                cfg.allowed_media_types.join(", ")
            ),
        ));
    }
    Ok(())
}

async fn upload(
    session: &Arc<Session>,
    up: Upload,
    send: &mut quinn::SendStream,
    recv: &mut quinn::RecvStream,
) -> Result<(), ErrorBody> {
    let me = session.authed()?;
    check_upload(session, &up)?;
    crate::handlers::require_member(session, me.user, up.room.0).await?;
    let (user, room) = (me.user, up.room.0);
    let (used_user, used_room) = session.shared.storage.file_usage(user, room).await?;
    let files = &session.shared.files;
    records::check_quotas(used_user, used_room, up.size, files.config.load().quotas())?;

    let upload_id = format!("{}-{}-{}", me.user, up.hash, up.size);
    let path = files.partial_dir.join(format!("{upload_id}.part"));
    let per_user = files.config.load().user_quota_bytes;
    let (_guard, mut cancelled, generation) = files
        .begin_upload(&upload_id, me.user, |count, pending| {
            check_unfinished(count, pending, used_user, up.size, per_user)
        })
        .await?;
    // The upload stays registered until its file is in the blob store, so
    // the partial sweep never takes a file being finished.
    let stored = match receive(&up, &upload_id, &path, send, recv, &mut cancelled).await {
        Ok(temp) => match files.scan(&temp).await {
            super::Scan::Clean => finish_upload(session, &me, &up, temp).await,
            super::Scan::Refused(why) => {
                let kept = files.quarantine(&temp);
                tracing::warn!(why, kept = ?kept, "upload quarantined by the scanning hook");
                Err(ErrorBody::new(
                    ErrorCode::ContentRejected,
                    format!("the server's file scanner refused this file: {why}"),
                ))
            }
        },
        Err(e) => Err(e),
    };
    files.end_upload(&upload_id, generation);
    reply(send, &TransferReply::Stored(stored?)).await
}

/// Refuses an upload when the uploader already holds
/// [`super::MAX_UNFINISHED_UPLOADS_PER_USER`] unfinished uploads, or when
/// the bytes they declared (`pending`), the files stored (`used`) and this
/// file (`size`) together pass the user's quota: a partial file takes disk
/// as a stored one does.
fn check_unfinished(
    count: usize,
    pending: u64,
    used: u64,
    size: u64,
    quota: u64,
) -> Result<(), ErrorBody> {
    if count >= super::MAX_UNFINISHED_UPLOADS_PER_USER {
        return Err(ErrorBody::new(
            ErrorCode::QuotaExceeded,
            format!(
                "you have {count} unfinished uploads, the most this server keeps per user; \
                 finish or resume one of them first (abandoned ones are discarded after the \
                 collection grace period)"
            ),
        ));
    }
    let total = used.saturating_add(pending).saturating_add(size);
    if pending > 0 && total > quota {
        return Err(ErrorBody::new(
            ErrorCode::QuotaExceeded,
            format!(
                "this file ({size} bytes), your stored files ({used} bytes) and your {count} \
                 unfinished uploads ({pending} bytes) would pass your quota of {quota} bytes; \
                 finish or resume the unfinished uploads first (abandoned ones are discarded \
                 after the collection grace period)"
            ),
        ));
    }
    Ok(())
}

/// Moves a verified upload into the blob store and commits its record.
async fn finish_upload(
    session: &Arc<Session>,
    me: &crate::session::Authed,
    up: &Upload,
    temp: PathBuf,
) -> Result<proto::Attachment, ErrorBody> {
    let files = &session.shared.files;

    // Width and height come from the verified bytes, not the uploader, and
    // only the header is read (off the async workers).
    let dims = {
        let (temp, media_type) = (temp.clone(), up.media_type.trim().to_owned());
        tokio::task::spawn_blocking(move || super::image_dimensions(&media_type, &temp))
            .await
            .map_err(crate::handlers::internal)?
    };
    // Verified and fsynced: move it into the blob store and commit the
    // record in one writer job, so the collector (also a writer job) can
    // never remove the blob between the two.
    let rec = AttachmentRecord {
        hash: up.hash.clone(),
        size: up.size,
        media_type: up.media_type.trim().to_owned(),
        name: up.name.clone(),
        uploader: me.user,
        room: up.room.0,
        ts: proto::Timestamp::now().0,
        message: None,
        width: dims.map(|(w, _)| w),
        height: dims.map(|(_, h)| h),
    };
    let blobs = files.blobs.clone();
    let quotas = files.config.load().quotas();
    let hash = rec.hash.clone();
    let place: Arc<crate::store::ops::attachments::PlaceBlob> =
        Arc::new(move || blobs.put(&hash, &temp).map_err(|e| e.to_string()));
    let id = session
        .shared
        .storage
        .store_upload(rec.clone(), quotas, place)
        .await
        .map_err(ErrorBody::from)?;
    tracing::info!(id, size = up.size, "file stored");
    Ok(rec.to_wire(id))
}

/// Receives the bytes of an upload into its partial file, resuming from
/// what the file holds. Returns the partial file once complete, verified
/// and fsynced.
async fn receive(
    up: &Upload,
    upload_id: &str,
    path: &std::path::Path,
    send: &mut quinn::SendStream,
    recv: &mut quinn::RecvStream,
    cancelled: &mut tokio::sync::oneshot::Receiver<()>,
) -> Result<PathBuf, ErrorBody> {
    let (mut file, mut hasher, offset) = {
        let path = path.to_path_buf();
        let size = up.size;
        tokio::task::spawn_blocking(move || open_partial(&path, size))
            .await
            .map_err(crate::handlers::internal)?
            .map_err(crate::handlers::internal)?
    };
    reply(
        send,
        &TransferReply::Ready {
            upload_id: upload_id.to_owned(),
            offset,
        },
    )
    .await?;
    let mut received = offset;
    // `read` gathers every packet already received, up to the buffer, so
    // one file write covers many QUIC packets (`read_chunk` would hand out
    // one ~1.2 KB packet at a time). It is cancel-safe.
    let mut buf = vec![0u8; CHUNK_BYTES];
    // A dropped sender (no newer request) is not a cancel; stop watching.
    let mut watching = true;
    let cut = loop {
        tokio::select! {
            cancel = &mut *cancelled, if watching => match cancel {
                Ok(()) => break Some("superseded by a newer request for the same upload"),
                Err(_) => watching = false,
            },
            read = recv.read(&mut buf) => match read {
                Ok(Some(n)) => {
                    if received + n as u64 > up.size {
                        break Some("more bytes than the declared size");
                    }
                    hasher.update(&buf[..n]);
                    if let Err(e) = file.write_all(&buf[..n]).await {
                        return Err(crate::handlers::internal(format!("writing an upload: {e}")));
                    }
                    received += n as u64;
                }
                Ok(None) => break None,
                Err(_) => break Some("the stream was cut"),
            },
        }
    };
    // Keep what arrived, durably, so a resume starts from it.
    file.flush().await.map_err(crate::handlers::internal)?;
    file.sync_all().await.map_err(crate::handlers::internal)?;
    drop(file);
    if let Some(why) = cut {
        tracing::debug!(
            received,
            why,
            "upload interrupted; its prefix is kept for a resume"
        );
        if why.starts_with("more bytes") {
            let _ = tokio::fs::remove_file(path).await;
            return Err(bad(format!(
                "the upload sent more than its declared {} bytes; upload again",
                up.size
            )));
        }
        return Err(ErrorBody::new(
            ErrorCode::Unavailable,
            format!("upload interrupted at {received} bytes ({why}); resume it"),
        ));
    }
    let actual = hasher.finalize().to_hex().to_string();
    if received != up.size || actual != up.hash {
        let _ = tokio::fs::remove_file(path).await;
        return Err(ErrorBody::new(
            ErrorCode::HashMismatch,
            format!(
                "received {received} of {} bytes with hash {actual}, not the declared {}; \
                 the partial upload was discarded, upload the file again",
                up.size, up.hash
            ),
        ));
    }
    Ok(path.to_path_buf())
}

/// Opens (creating, mode 0600) a partial file and hashes what it holds.
/// A partial longer than the file is discarded.
fn open_partial(
    path: &std::path::Path,
    size: u64,
) -> std::io::Result<(tokio::fs::File, blake3::Hasher, u64)> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    let mut len = f.metadata()?.len();
    if len > size {
        f.set_len(0)?;
        len = 0;
    }
    let mut hasher = blake3::Hasher::new();
    f.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left.min(CHUNK_BYTES as u64)).unwrap_or(CHUNK_BYTES);
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok((tokio::fs::File::from_std(f), hasher, len - left))
}

async fn download(
    session: &Arc<Session>,
    room: RoomId,
    attachment: proto::AttachmentId,
    offset: u64,
    send: &mut quinn::SendStream,
) -> Result<(), ErrorBody> {
    let me = session.authed()?;
    crate::handlers::require_member(session, me.user, room.0).await?;
    let id = attachment.0;
    let found = session.shared.storage.attachment_for_download(id).await?;
    let not_found = || {
        ErrorBody::new(
            ErrorCode::NotFound,
            format!("no file {attachment} in this room (it may belong to a deleted message)"),
        )
    };
    let Some((rec, deleted)) = found else {
        return Err(not_found());
    };
    // Members see files of live messages and their own unsent uploads;
    // server admins keep audit access to deleted messages' files.
    let visible = rec.room == room.0
        && ((rec.message.is_some() && !deleted)
            || (rec.message.is_none() && rec.uploader == me.user)
            || (deleted && me.admin));
    if !visible {
        return Err(not_found());
    }
    if deleted {
        // Only server admins get here: recorded before a byte is sent.
        crate::handlers::audit_log::record_deleted_file_read(session, &me, room.0, id, rec.message)
            .await?;
    }
    if offset > rec.size {
        return Err(bad(format!(
            "offset {offset} is past the file's end ({} bytes)",
            rec.size
        )));
    }
    let blobs = session.shared.files.blobs.clone();
    let hash = rec.hash.clone();
    let file = tokio::task::spawn_blocking(move || {
        let mut f = blobs.open(&hash)?;
        f.seek(SeekFrom::Start(offset))?;
        Ok::<_, std::io::Error>(f)
    })
    .await
    .map_err(crate::handlers::internal)?
    .map_err(crate::handlers::internal)?;
    reply(
        send,
        &TransferReply::Sending {
            attachment: rec.to_wire(id),
            offset,
        },
    )
    .await?;
    let mut file = tokio::fs::File::from_std(file);
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut left = rec.size - offset;
    while left > 0 {
        use tokio::io::AsyncReadExt;
        let n = file
            .read(&mut buf)
            .await
            .map_err(crate::handlers::internal)?;
        if n == 0 {
            return Err(crate::handlers::internal(
                "a stored file is shorter than its record",
            ));
        }
        let n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
        if send.write_all(&buf[..n]).await.is_err() {
            return Ok(()); // the client went away; it resumes from its offset
        }
        left -= n as u64;
    }
    Ok(())
}
