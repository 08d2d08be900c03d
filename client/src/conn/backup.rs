//! Backups: the archive of a whole server streamed to a server admin
//! (`TransferRequest::Backup`; the format is chatd's, read by
//! `chatd restore`).

use super::Connection;
use super::files::{io_err, stream_lost, unexpected};
use crate::ClientError;
use chat_protocol::{ErrorBody, ErrorCode, TransferReply, TransferRequest, codes};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// A finished backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackedUp {
    /// Where the archive is.
    pub path: PathBuf,
    /// Its length, in bytes.
    pub bytes: u64,
    /// Room events it holds, across all rooms.
    pub events: u64,
    /// Stored files (distinct contents) it holds.
    pub blobs: u64,
}

/// The error for a backup stream that ended early.
fn cut(e: quinn::ReadError) -> ClientError {
    match e {
        quinn::ReadError::Reset(code)
            if code.into_inner() == u64::from(codes::STREAM_TRANSFER_FAILED) =>
        {
            ClientError::Server(ErrorBody::new(
                ErrorCode::Internal,
                "the server failed part-way through the backup (its log says why); the partial \
                 file was removed; take the backup again",
            ))
        }
        other => stream_lost(format!(
            "{other}; the backup was cut and its partial file removed; take it again"
        )),
    }
}

impl Connection {
    /// Takes a backup of the server (server admins) into `dest`, which
    /// must not exist: the archive is written to `DEST.part`, fsynced, and
    /// renamed to `dest` only once every announced byte arrived.
    /// `progress(received, total)` is called as bytes arrive.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `Forbidden` for a non-admin or
    /// `Unavailable` while another backup runs; `AlreadyExists` as
    /// [`ClientError::Io`] when `dest` exists;
    /// [`ClientError::ConnectionLost`] when the stream was cut or the
    /// server failed part-way (the partial file is removed).
    pub async fn backup_to(
        &self,
        dest: &Path,
        mut progress: impl FnMut(u64, u64) + Send,
    ) -> Result<BackedUp, ClientError> {
        let mut part_name = dest.as_os_str().to_owned();
        part_name.push(".part");
        let part = PathBuf::from(part_name);
        if tokio::fs::try_exists(dest).await.unwrap_or(false) {
            return Err(ClientError::Io {
                context: format!(
                    "{} already exists; choose another file name or move it away",
                    dest.display()
                ),
                source: std::io::ErrorKind::AlreadyExists.into(),
            });
        }
        let (_send, mut recv, reply) = self.open_transfer(&TransferRequest::Backup).await?;
        let (bytes, events, blobs) = match reply {
            TransferReply::BackupSending {
                bytes,
                events,
                blobs,
            } => (bytes, events, blobs),
            TransferReply::Refused(e) => return Err(ClientError::Server(e)),
            other => return Err(unexpected(&other)),
        };
        let ctx = || format!("writing {}", part.display());
        // The archive holds every message and password hash: owner-only.
        let mut open = tokio::fs::OpenOptions::new();
        open.write(true).create(true).truncate(true);
        #[cfg(unix)]
        open.mode(0o600);
        let mut file = open.open(&part).await.map_err(io_err(ctx()))?;
        let mut got = 0u64;
        let mut buf = vec![0u8; 64 << 10];
        progress(0, bytes);
        let outcome: Result<(), ClientError> = async {
            while let Some(n) = recv.read(&mut buf).await.map_err(cut)? {
                file.write_all(&buf[..n]).await.map_err(io_err(ctx()))?;
                got += n as u64;
                progress(got, bytes);
            }
            file.flush().await.map_err(io_err(ctx()))?;
            file.sync_all().await.map_err(io_err(ctx()))?;
            if got != bytes {
                return Err(ClientError::Server(ErrorBody::new(
                    ErrorCode::Internal,
                    format!("the server sent {got} of the {bytes} bytes it announced; take the backup again"),
                )));
            }
            Ok(())
        }
        .await;
        drop(file);
        if let Err(e) = outcome {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
        tokio::fs::rename(&part, dest)
            .await
            .map_err(io_err(format!(
                "renaming {} to {}",
                part.display(),
                dest.display()
            )))?;
        Ok(BackedUp {
            path: dest.to_path_buf(),
            bytes,
            events,
            blobs,
        })
    }
}
