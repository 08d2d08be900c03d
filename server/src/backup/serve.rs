//! The server side of `TransferRequest::Backup`: snapshot, manifest, and
//! the archive streamed to the admin as it is written.
//!
//! The database copy is written to a private temporary directory in the
//! data directory (`.backup-*`, removed when the backup ends, and at start
//! if chatd died during one); blobs are streamed straight from the blob
//! store. File collection waits while a backup runs
//! (`files::Files::collect_gate`), so no blob the snapshot names is
//! removed before it is sent.

use super::{Content, FORMAT, FORMAT_VERSION, Manifest};
use crate::session::Session;
use crate::store::snapshot;
use chat_protocol::{self as proto, ErrorBody, ErrorCode, TransferReply, codes};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// Prefix of the temporary directories backups use in the data directory.
pub const TEMP_PREFIX: &str = ".backup-";

/// Longest a backup waits for the admin to take more bytes before it is
/// abandoned, in ms: a stalled reader must not hold the backup slot, the
/// temporary copy and file collection for ever (keep-alives would keep
/// its connection open).
pub const STALL_TIMEOUT_MS: u64 = 60_000;

/// The refusal for a backup that could not be prepared: it names the
/// cause, since only server admins ask for backups.
fn failed(step: &str, e: impl std::fmt::Display) -> ErrorBody {
    tracing::error!(error = %e, step, "backup failed");
    ErrorBody::new(
        ErrorCode::Internal,
        format!(
            "the backup failed while {step}: {e}; the data directory needs free space for one \
             copy of the database (check `df` on the server), then try again"
        ),
    )
}

/// Backups of one server: at most one runs at a time (each copies the
/// whole database to disk first).
#[derive(Debug, Default)]
pub struct Backups {
    running: tokio::sync::Mutex<()>,
}

/// Removes temporary directories left in `data_dir` by a backup that was
/// running when chatd stopped. Failures are logged, not fatal.
pub fn remove_leftovers(data_dir: &Path) {
    let Ok(dir) = std::fs::read_dir(data_dir) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(TEMP_PREFIX)
            && let Err(e) = std::fs::remove_dir_all(entry.path())
        {
            tracing::warn!(path = %entry.path().display(), error = %e,
                "cannot remove an interrupted backup's temporary directory; remove it by hand");
        }
    }
}

/// Serves one backup request on a transfer stream.
///
/// # Errors
/// An [`ErrorBody`] to send as `Refused` when the backup could not start
/// (not an admin, another backup running, a storage failure). A failure
/// after the archive started resets the stream with
/// [`codes::STREAM_TRANSFER_FAILED`] instead, and returns `Ok`.
pub(crate) async fn serve(
    session: &Arc<Session>,
    send: &mut quinn::SendStream,
) -> Result<(), ErrorBody> {
    let me = crate::handlers::require_admin(session).await?;
    let shared = &session.shared;
    let Ok(_running) = shared.backups.running.try_lock() else {
        return Err(ErrorBody::new(
            ErrorCode::Unavailable,
            "another backup is running; wait for it to finish and try again",
        ));
    };
    // A backup copies every room's history: it is recorded in the audit
    // log (as an export is) before any byte leaves the server.
    {
        shared
            .storage
            .audit_by_admin(me.caller(), None, "backup".into(), "whole server".into())
            .await
            .map_err(ErrorBody::from)?;
    }
    let _no_collection = shared.files.collect_gate.read().await;
    let started = std::time::Instant::now();
    let data_dir = shared.config.current().data_dir.clone();
    let temp = tokio::task::spawn_blocking(move || {
        tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempdir_in(&data_dir)
    })
    .await
    .map_err(|e| failed("creating its temporary directory", e))?
    .map_err(|e| failed("creating its temporary directory", e))?;
    let db_path = temp.path().join(super::DATABASE);
    let facts = shared
        .storage
        .snapshot_to(db_path.clone())
        .await
        .map_err(|e| failed("copying the database", e))?;
    let blobs = shared.files.blobs.clone();
    let token_path = shared
        .config
        .current()
        .data_dir
        .join(crate::bootstrap::ADMIN_TOKEN_FILE);
    let (manifest, token) = {
        let db_path = db_path.clone();
        tokio::task::spawn_blocking(move || {
            let token = match std::fs::read(&token_path) {
                Ok(t) => Some(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            let manifest = manifest(&db_path, facts, token.as_deref(), &*blobs)?;
            Ok((manifest, token.unwrap_or_default()))
        })
        .await
        .map_err(|e| failed("reading the copy and the stored files", e))?
        .map_err(|e| failed("reading the copy and the stored files", e))?
    };
    let json_len = manifest
        .to_bytes()
        .map_err(crate::handlers::internal)?
        .len() as u64;
    let bytes = manifest.archive_bytes(json_len);
    let reply = TransferReply::BackupSending {
        bytes,
        events: manifest.events,
        blobs: manifest.blobs.len() as u64,
    };
    let frame = proto::frame::encode(&reply).map_err(crate::handlers::internal)?;
    send.write_all(&frame)
        .await
        .map_err(|e| ErrorBody::new(ErrorCode::Unavailable, e.to_string()))?;

    // The archive is written by a blocking thread into a bounded channel
    // of chunks, which this task forwards to the stream: QUIC flow control
    // paces the disk reads, and at most a few chunks are in memory.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let blobs = shared.files.blobs.clone();
    let events = manifest.events;
    let blob_count = manifest.blobs.len();
    let writer = tokio::task::spawn_blocking(move || {
        let database = std::fs::File::open(&db_path)?;
        let out = ChunkSender {
            tx,
            buf: Vec::with_capacity(crate::files::CHUNK_BYTES),
        };
        let mut out = super::write_archive(out, &manifest, database, &token, |h| blobs.open(h))?;
        std::io::Write::flush(&mut out)
    });
    let mut sent = 0u64;
    let mut cut = None;
    let stall = std::time::Duration::from_millis(STALL_TIMEOUT_MS);
    while let Some(chunk) = rx.recv().await {
        match tokio::time::timeout(stall, send.write_all(&chunk)).await {
            Ok(Ok(())) => sent += chunk.len() as u64,
            Ok(Err(e)) => {
                cut = Some(format!("the stream to the admin failed: {e}"));
                break;
            }
            Err(_) => {
                cut = Some(format!(
                    "the admin took no bytes for {} s",
                    STALL_TIMEOUT_MS / 1000
                ));
                break;
            }
        }
    }
    drop(rx);
    let written = writer.await;
    // Removing the copy is file-system work: off the async workers.
    let _ = tokio::task::spawn_blocking(move || drop(temp)).await;
    let failure = match (cut, written) {
        (Some(e), _) => Some(e),
        (None, Ok(Err(e))) => Some(e.to_string()),
        (None, Err(e)) => Some(e.to_string()),
        (None, Ok(Ok(()))) if sent != bytes => {
            Some(format!("sent {sent} bytes of the {bytes} announced"))
        }
        (None, Ok(Ok(()))) => None,
    };
    match failure {
        Some(error) => {
            tracing::error!(%error, admin = me.user, "backup failed part-way; the admin's copy is incomplete");
            let _ = send.reset(quinn::VarInt::from_u32(codes::STREAM_TRANSFER_FAILED));
        }
        None => {
            tracing::info!(
                admin = me.user,
                bytes,
                events,
                blobs = blob_count,
                ms = started.elapsed().as_millis() as u64,
                "backup sent"
            );
        }
    }
    Ok(())
}

/// Hashes the database copy and sizes the blobs the snapshot names.
fn manifest(
    db_path: &Path,
    facts: snapshot::SnapshotFacts,
    admin_token: Option<&[u8]>,
    blobs: &dyn crate::files::blob::BlobStore,
) -> std::io::Result<Manifest> {
    let database = hash_file(db_path)?;
    let mut contents = Vec::with_capacity(facts.blobs.len());
    for hash in facts.blobs {
        let file = blobs.open(&hash).map_err(|e| {
            std::io::Error::other(format!(
                "stored file {hash} is referenced by the database but cannot be read from the \
                 blob store ({e}); the data directory has lost a file"
            ))
        })?;
        contents.push(Content {
            bytes: file.metadata()?.len(),
            blake3: hash,
        });
    }
    Ok(Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        chatd_version: env!("CARGO_PKG_VERSION").into(),
        created_ms: proto::Timestamp::now().0,
        schema_version: facts.schema_version,
        events: facts.events,
        tables: facts.rows,
        database,
        admin_token: admin_token.map(|t| Content {
            bytes: t.len() as u64,
            blake3: blake3::hash(t).to_hex().to_string(),
        }),
        blobs: contents,
    })
}

/// Size and BLAKE3 of the file at `path`. Blocking.
///
/// # Errors
/// I/O failures.
pub fn hash_file(path: &Path) -> std::io::Result<Content> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; crate::files::CHUNK_BYTES];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(Content {
        bytes,
        blake3: hasher.finalize().to_hex().to_string(),
    })
}

/// A blocking writer that hands chunks of [`crate::files::CHUNK_BYTES`]
/// to an async task. Fails with `BrokenPipe` once the task stops reading.
struct ChunkSender {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChunkSender {
    fn send_buf(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(crate::files::CHUNK_BYTES));
        self.tx.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the backup stream stopped reading",
            )
        })
    }
}

impl std::io::Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = crate::files::CHUNK_BYTES - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= crate::files::CHUNK_BYTES {
            self.send_buf()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send_buf()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_backups_copy_is_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let left = dir.path().join(format!("{TEMP_PREFIX}abc"));
        std::fs::create_dir(&left).unwrap();
        std::fs::write(left.join(crate::backup::DATABASE), b"copy").unwrap();
        std::fs::write(dir.path().join(crate::DB_FILE), b"live").unwrap();
        remove_leftovers(dir.path());
        assert!(!left.exists());
        assert!(dir.path().join(crate::DB_FILE).exists());
    }

    #[test]
    fn chunks_are_whole_until_the_last() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let mut out = ChunkSender {
            tx,
            buf: Vec::new(),
        };
        let data = vec![1u8; crate::files::CHUNK_BYTES * 2 + 10];
        std::io::Write::write_all(&mut out, &data).unwrap();
        std::io::Write::flush(&mut out).unwrap();
        drop(out);
        let mut sizes = Vec::new();
        while let Ok(c) = rx.try_recv() {
            sizes.push(c.len());
        }
        assert_eq!(
            sizes,
            [crate::files::CHUNK_BYTES, crate::files::CHUNK_BYTES, 10]
        );
    }
}
