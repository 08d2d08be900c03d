//! Files: upload and download on their own streams, resumable from an
//! offset and verified by BLAKE3 (wire shape in `chat_protocol::file`).
//!
//! An upload that is cut (a dropped connection, a killed server) is resumed
//! by uploading the same file again: the server answers with the offset it
//! already holds and only the rest is sent. A download writes to
//! `DEST.part` and resumes from that file's length; the finished file is
//! verified against the hash before it is renamed to `DEST`.

use super::Connection;
use crate::ClientError;
use chat_protocol::{
    self as proto, Attachment, AttachmentId, ErrorBody, ErrorCode, IdempotencyKey, MessageAck,
    RequestBody, ResponseBody, RoomId, Seq, TransferReply, TransferRequest,
};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Bytes read from a file or a stream per step.
const CHUNK: usize = 64 << 10;

/// What to upload: the name and type shown to members, and the content's
/// size and BLAKE3 hash (lowercase hex), known before any byte is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Original file name, kept exactly.
    pub name: String,
    /// Media type, e.g. `image/png`.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// BLAKE3 hex of the content.
    pub hash: String,
}

/// A finished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The stored file; attach it with [`Connection::send_with_attachments`].
    pub attachment: Attachment,
    /// Bytes the server already held when this upload started (a resume).
    pub resumed_from: u64,
    /// Bytes this call sent.
    pub bytes_sent: u64,
}

/// A finished download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Where the verified file is.
    pub path: PathBuf,
    /// Bytes already in `DEST.part` when this download started.
    pub resumed_from: u64,
    /// Bytes this call received.
    pub bytes_received: u64,
}

pub(super) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClientError {
    let context = context.into();
    move |source| ClientError::Io { context, source }
}

pub(super) fn stream_lost(e: impl std::fmt::Display) -> ClientError {
    ClientError::ConnectionLost(format!("transfer stream: {e}"))
}

impl FileMeta {
    /// Reads `path` once to learn its size and hash (on the blocking pool);
    /// the name is the path's last component, the media type is guessed
    /// from the extension unless given.
    ///
    /// # Errors
    /// [`ClientError::Io`] when the file cannot be read, or its name is not
    /// UTF-8.
    pub async fn of_path(path: &Path, media_type: Option<&str>) -> Result<FileMeta, ClientError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| ClientError::Io {
                context: format!("{}", path.display()),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the file name is not valid UTF-8; rename the file",
                ),
            })?
            .to_owned();
        let media_type = media_type
            .map(str::to_owned)
            .unwrap_or_else(|| guess_media_type(&name).to_owned());
        let p = path.to_path_buf();
        let (size, hash) = tokio::task::spawn_blocking(move || {
            let mut f = std::fs::File::open(&p)?;
            let mut h = blake3::Hasher::new();
            let size = std::io::copy(&mut f, &mut h)?;
            Ok::<_, std::io::Error>((size, h.finalize().to_hex().to_string()))
        })
        .await
        .map_err(|e| stream_lost(format!("hashing task failed: {e}")))?
        .map_err(io_err(format!("reading {}", path.display())))?;
        Ok(FileMeta {
            name,
            media_type,
            size,
            hash,
        })
    }
}

/// A media type from a file name's extension; `application/octet-stream`
/// when unknown.
pub fn guess_media_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("svg") => "image/svg+xml",
        Some("pdf") => "application/pdf",
        Some("txt" | "log" | "md") => "text/plain",
        Some("zip") => "application/zip",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// A name for `name` that is safe as one local file name: path separators
/// and control characters become `_`, `.` and `..` and empty names become
/// `download`, and the result is cut to 255 bytes at a character boundary.
/// Any other character, Korean or otherwise, is kept exactly.
pub fn safe_file_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == '\0' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if out.trim().is_empty() || out == "." || out == ".." {
        out = "download".into();
    }
    if out.len() > 255 {
        let mut cut = 255;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

impl Connection {
    pub(super) async fn open_transfer(
        &self,
        req: &TransferRequest,
    ) -> Result<(quinn::SendStream, quinn::RecvStream, TransferReply), ClientError> {
        let (mut send, mut recv) = self.shared().conn.open_bi().await.map_err(stream_lost)?;
        let bytes = proto::frame::encode(req)?;
        send.write_all(&bytes).await.map_err(stream_lost)?;
        let reply = read_reply(&mut recv).await?;
        Ok((send, recv, reply))
    }

    /// Uploads `path` to `room` (resuming an earlier cut upload of the same
    /// file). See [`Connection::upload_from`].
    ///
    /// # Errors
    /// As [`Connection::upload_from`] and [`FileMeta::of_path`].
    pub async fn upload_path(
        &self,
        room: RoomId,
        path: &Path,
        media_type: Option<&str>,
        progress: impl FnMut(u64, u64) + Send,
    ) -> Result<Uploaded, ClientError> {
        let meta = FileMeta::of_path(path, media_type).await?;
        let p = path.to_path_buf();
        self.upload_from(
            room,
            &meta,
            |offset| async move {
                let mut f = tokio::fs::File::open(&p)
                    .await
                    .map_err(io_err(format!("opening {}", p.display())))?;
                f.seek(std::io::SeekFrom::Start(offset))
                    .await
                    .map_err(io_err(format!("seeking in {}", p.display())))?;
                Ok(f)
            },
            progress,
        )
        .await
    }

    /// Uploads a file on its own stream. The server first answers with the
    /// offset it already holds; `open_at(offset)` must return a reader of
    /// the content from that offset. `progress(done, total)` is called as
    /// bytes go out. The stored file is not visible to anyone until it is
    /// attached to a message with [`Connection::send_with_attachments`].
    ///
    /// # Errors
    /// [`ClientError::Server`] with `FileTooLarge`, `QuotaExceeded`,
    /// `MediaTypeRefused` or `NotMember` before any byte is sent, or
    /// `HashMismatch` after; [`ClientError::ConnectionLost`] when the stream
    /// is cut (upload again to resume); [`ClientError::Io`] from the reader.
    pub async fn upload_from<R, F, Fut>(
        &self,
        room: RoomId,
        meta: &FileMeta,
        open_at: F,
        mut progress: impl FnMut(u64, u64) + Send,
    ) -> Result<Uploaded, ClientError>
    where
        R: AsyncRead + Unpin + Send,
        F: FnOnce(u64) -> Fut + Send,
        Fut: std::future::Future<Output = Result<R, ClientError>> + Send,
    {
        let req = TransferRequest::Upload {
            room,
            name: meta.name.clone(),
            media_type: meta.media_type.clone(),
            size: meta.size,
            hash: meta.hash.clone(),
        };
        let (mut send, mut recv, reply) = self.open_transfer(&req).await?;
        let offset = match reply {
            TransferReply::Ready { offset, .. } => offset,
            TransferReply::Refused(e) => return Err(ClientError::Server(e)),
            other => return Err(unexpected(&other)),
        };
        let mut reader = open_at(offset).await?;
        let mut buf = vec![0u8; CHUNK];
        let mut sent = 0u64;
        let mut left = meta.size.saturating_sub(offset);
        progress(offset, meta.size);
        while left > 0 {
            let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
            let n = reader
                .read(&mut buf[..want])
                .await
                .map_err(io_err(format!("reading {}", meta.name)))?;
            if n == 0 {
                let _ = send.reset(quinn::VarInt::from_u32(0));
                return Err(ClientError::Io {
                    context: format!("reading {}", meta.name),
                    source: std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file is shorter than when it was hashed; did it change?",
                    ),
                });
            }
            send.write_all(&buf[..n]).await.map_err(stream_lost)?;
            sent += n as u64;
            left -= n as u64;
            progress(offset + sent, meta.size);
        }
        send.finish().map_err(stream_lost)?;
        match read_reply(&mut recv).await? {
            TransferReply::Stored(attachment) => Ok(Uploaded {
                attachment,
                resumed_from: offset,
                bytes_sent: sent,
            }),
            TransferReply::Refused(e) => Err(ClientError::Server(e)),
            other => Err(unexpected(&other)),
        }
    }

    /// Downloads `attachment` of `room` to `dest`, resuming from
    /// `DEST.part` if an earlier download left one, and verifies the hash
    /// before renaming it to `dest`.
    ///
    /// # Errors
    /// [`ClientError::Server`] (`NotMember`, `NotFound` for a file of a
    /// deleted message, `HashMismatch` when the bytes do not verify; the
    /// partial file is then removed), [`ClientError::ConnectionLost`] when
    /// cut (call again to resume), [`ClientError::Io`] for local files.
    pub async fn download_to(
        &self,
        room: RoomId,
        attachment: &Attachment,
        dest: &Path,
        mut progress: impl FnMut(u64, u64) + Send,
    ) -> Result<Downloaded, ClientError> {
        let mut part_name = dest.as_os_str().to_owned();
        part_name.push(".part");
        let part = PathBuf::from(part_name);
        let ctx = || format!("writing {}", part.display());
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&part)
            .await
            .map_err(io_err(ctx()))?;
        let mut have = file.metadata().await.map_err(io_err(ctx()))?.len();
        if have > attachment.size {
            file.set_len(0).await.map_err(io_err(ctx()))?;
            have = 0;
        }
        // Hash what is already there, then go on with the stream.
        let mut hasher = blake3::Hasher::new();
        {
            let mut f = tokio::fs::File::open(&part).await.map_err(io_err(ctx()))?;
            let mut buf = vec![0u8; CHUNK];
            let mut left = have;
            while left > 0 {
                let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
                let n = f.read(&mut buf[..want]).await.map_err(io_err(ctx()))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                left -= n as u64;
            }
        }
        let req = TransferRequest::Download {
            room,
            attachment: attachment.id,
            offset: have,
        };
        let (_send, mut recv, reply) = self.open_transfer(&req).await?;
        let (att, offset) = match reply {
            TransferReply::Sending { attachment, offset } => (attachment, offset),
            TransferReply::Refused(e) => return Err(ClientError::Server(e)),
            other => return Err(unexpected(&other)),
        };
        let mut got = 0u64;
        progress(offset, att.size);
        let mut buf = vec![0u8; CHUNK];
        while let Some(n) = recv.read(&mut buf).await.map_err(stream_lost)? {
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).await.map_err(io_err(ctx()))?;
            got += n as u64;
            progress(offset + got, att.size);
        }
        file.flush().await.map_err(io_err(ctx()))?;
        file.sync_all().await.map_err(io_err(ctx()))?;
        drop(file);
        let hash = hasher.finalize().to_hex().to_string();
        if offset + got != att.size || hash != att.hash {
            if offset + got < att.size {
                return Err(stream_lost(format!(
                    "download cut at {} of {} bytes; download again to resume",
                    offset + got,
                    att.size
                )));
            }
            let _ = tokio::fs::remove_file(&part).await;
            return Err(ClientError::Server(ErrorBody::new(
                ErrorCode::HashMismatch,
                format!(
                    "the downloaded file's hash {hash} is not the stored {}; the partial file \
                     was removed, download again",
                    att.hash
                ),
            )));
        }
        tokio::fs::rename(&part, dest)
            .await
            .map_err(io_err(format!(
                "renaming {} to {}",
                part.display(),
                dest.display()
            )))?;
        Ok(Downloaded {
            path: dest.to_path_buf(),
            resumed_from: offset,
            bytes_received: got,
        })
    }

    /// Sends a message with files uploaded to this room by this user; the
    /// text may be empty. Retry with the same `key`.
    ///
    /// # Errors
    /// As [`Connection::send`], and `NotFound`/`Conflict` for an attachment
    /// that is not an unsent upload of the caller to this room.
    pub async fn send_with_attachments(
        &self,
        room: RoomId,
        key: IdempotencyKey,
        text: &str,
        reply_to: Option<Seq>,
        attachments: Vec<AttachmentId>,
    ) -> Result<MessageAck, ClientError> {
        let body = RequestBody::SendWithAttachments {
            room,
            key,
            text: text.to_owned(),
            reply_to,
            attachments,
        };
        match self.request(body).await? {
            ResponseBody::Sent(a) => Ok(a),
            other => Err(ClientError::ProtocolViolation(format!(
                "expected Sent, got {other:?}"
            ))),
        }
    }

    /// The files of a room's live messages, newest first.
    ///
    /// # Errors
    /// `NotMember`; see [`Connection::request`].
    pub async fn list_files(&self, room: RoomId) -> Result<Vec<proto::FileEntry>, ClientError> {
        match self.request(RequestBody::ListFiles { room }).await? {
            ResponseBody::Files(f) => Ok(f),
            other => Err(ClientError::ProtocolViolation(format!(
                "expected Files, got {other:?}"
            ))),
        }
    }
}

pub(super) fn unexpected(reply: &TransferReply) -> ClientError {
    ClientError::ProtocolViolation(format!("unexpected transfer reply {reply:?}"))
}

async fn read_reply(recv: &mut quinn::RecvStream) -> Result<TransferReply, ClientError> {
    let mut len = [0u8; proto::frame::HEADER_LEN];
    recv.read_exact(&mut len).await.map_err(stream_lost)?;
    let len = proto::frame::check_len(u32::from_be_bytes(len))?;
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body).await.map_err(stream_lost)?;
    Ok(proto::frame::decode_body(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_unicode_and_lose_paths_and_controls() {
        assert_eq!(safe_file_name("회의록 2026.pdf"), "회의록 2026.pdf");
        assert_eq!(safe_file_name("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(safe_file_name("a\u{1b}[31mb\n.txt"), "a_[31mb_.txt");
        assert_eq!(safe_file_name(".."), "download");
        assert_eq!(safe_file_name(""), "download");
        assert_eq!(safe_file_name("c:\\x"), "c:_x");
        let long = "가".repeat(200);
        let s = safe_file_name(&long);
        assert!(s.len() <= 255 && s.chars().all(|c| c == '가'));
    }
}
