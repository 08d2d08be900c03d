//! The outbox on disk: messages typed but not yet acknowledged by the
//! server, one file per server and user in the XDG data directory
//! (`$XDG_DATA_HOME/chat-tui/outbox/USER@SERVER.json`), mode 0600 in a
//! 0700 directory, so that quitting or a crash never loses a message.
//!
//! # Why here and not in `chat-client`
//!
//! The outbox a person must not lose is the one they see: [`crate::state::Outbox`],
//! which keeps a message until the room stream shows it, including messages
//! the server refused and chat-tui offers to retry. The SDK's outbox is a
//! send queue that forgets a refused message, and bots that need durability
//! await [`chat_client::session::Session::send`] themselves. So chat-tui
//! saves its own outbox: `update` emits `Effect::PersistOutbox` with the
//! unsent messages whenever they change, and [`OutboxWriter`] writes the
//! latest snapshot on its own thread. On the next start the messages are
//! restored as pending and sent again with their original idempotency keys,
//! so the server stores each once (within `chat_protocol::IDEMPOTENCY_TTL_MS`,
//! 7 days; a message saved longer than that could be stored twice if its
//! first send had in fact been stored).
//!
//! Two chat-tui processes for the same user and server share the file; the
//! last to write wins. Run one per user and server.
//!
//! The file is JSON, rewritten whole through a temporary file and a rename,
//! so a crash mid-write leaves the previous version. An unreadable file is
//! moved aside (`.corrupt`) and reported, never silently dropped.

use crate::state::{Outgoing, OutgoingState};
use crate::tokens::{create_private_dir, escape, private_file};
use chat_protocol::{IdempotencyKey, RoomId, Seq, Timestamp};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Version of the file layout, written as `version`.
const FORMAT: u32 = 1;

/// How long quitting waits for the last snapshot to reach the disk (2 s).
const FINISH_WAIT: Duration = Duration::from_secs(2);

/// Why the saved outbox could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum OutboxFileError {
    /// Reading, writing or renaming failed.
    #[error("cannot {what} the saved outbox {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "write", "create the directory of").
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a saved outbox; it was moved to `moved_to`.
    #[error(
        "the saved outbox {} is unreadable ({reason}); it was moved to {} so you can recover \
         its messages by hand",
        path.display(),
        moved_to.display()
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
        /// Where it is now.
        moved_to: PathBuf,
    },
}

/// One saved message. Its own struct, so the file layout does not change
/// when the in-memory state does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Saved {
    key: String,
    room: u64,
    text: String,
    reply_to: Option<u64>,
    /// When it was typed, UTC ms.
    created: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedFile {
    version: u32,
    messages: Vec<Saved>,
}

impl From<&Outgoing> for Saved {
    fn from(o: &Outgoing) -> Saved {
        Saved {
            key: o.key.0.clone(),
            room: o.room.0,
            text: o.text.clone(),
            reply_to: o.reply_to.map(|s| s.0),
            created: o.created.0,
        }
    }
}

impl From<Saved> for Outgoing {
    fn from(s: Saved) -> Outgoing {
        Outgoing {
            key: IdempotencyKey(s.key),
            room: RoomId(s.room),
            text: s.text,
            reply_to: s.reply_to.map(Seq),
            created: Timestamp(s.created),
            state: OutgoingState::Pending,
        }
    }
}

/// The saved outbox of one user on one server.
#[derive(Debug, Clone)]
pub struct OutboxFile {
    path: PathBuf,
}

impl OutboxFile {
    /// The file for `user` on `server` in `dir`. Names are escaped as for
    /// remembered tokens, so no server or user name can leave `dir`.
    pub fn new(dir: &Path, server: &str, user: &str) -> OutboxFile {
        OutboxFile {
            path: dir.join(format!("{}@{}.json", escape(user), escape(server))),
        }
    }

    /// The file in the default directory (`$XDG_DATA_HOME/chat-tui/outbox`);
    /// `None` if no home directory is known.
    pub fn default_for(server: &str, user: &str) -> Option<OutboxFile> {
        directories::ProjectDirs::from("", "", "chat-tui")
            .map(|d| OutboxFile::new(&d.data_dir().join("outbox"), server, user))
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved messages, oldest first; empty if there is no file.
    ///
    /// # Errors
    /// [`OutboxFileError::Io`] if the file exists but cannot be read;
    /// [`OutboxFileError::Corrupt`] if it is not a saved outbox (it is then
    /// moved aside, so the next save does not overwrite it).
    pub fn load(&self) -> Result<Vec<Outgoing>, OutboxFileError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(OutboxFileError::Io {
                    what: "read",
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let reason = match serde_json::from_slice::<SavedFile>(&bytes) {
            Ok(f) if f.version == FORMAT => {
                return Ok(f.messages.into_iter().map(Outgoing::from).collect());
            }
            Ok(f) => format!("format version {}, this chat-tui reads {FORMAT}", f.version),
            Err(e) => e.to_string(),
        };
        let moved_to = self.path.with_extension("json.corrupt");
        std::fs::rename(&self.path, &moved_to).map_err(|source| OutboxFileError::Io {
            what: "move aside",
            path: self.path.clone(),
            source,
        })?;
        Err(OutboxFileError::Corrupt {
            path: self.path.clone(),
            reason,
            moved_to,
        })
    }

    /// Replaces the saved messages with `messages` (removing the file when
    /// there are none): written to a temporary file, synced, then renamed
    /// over the old one.
    ///
    /// # Errors
    /// [`OutboxFileError::Io`] naming the step that failed.
    pub fn save(&self, messages: &[Outgoing]) -> Result<(), OutboxFileError> {
        let io = |what, path: &Path| {
            let path = path.to_path_buf();
            move |source| OutboxFileError::Io { what, path, source }
        };
        if messages.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(io("remove", &self.path)(e))
                }
                _ => Ok(()),
            };
        }
        if let Some(dir) = self.path.parent() {
            create_private_dir(dir).map_err(io("create the directory of", &self.path))?;
        }
        let file = SavedFile {
            version: FORMAT,
            messages: messages.iter().map(Saved::from).collect(),
        };
        let json = serde_json::to_vec_pretty(&file)
            .map_err(|e| io("encode", &self.path)(std::io::Error::other(e)))?;
        let tmp = self.path.with_extension("json.tmp");
        let mut out = private_file(&tmp).map_err(io("write", &tmp))?;
        out.write_all(&json).map_err(io("write", &tmp))?;
        out.sync_all().map_err(io("sync", &tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(io("rename", &tmp))
    }
}

/// Writes outbox snapshots on a thread of its own, so the interface never
/// waits for the disk. Snapshots are written in order; when several are
/// queued only the newest is written.
pub struct OutboxWriter {
    tx: Option<mpsc::Sender<Vec<Outgoing>>>,
    thread: Option<JoinHandle<()>>,
}

impl OutboxWriter {
    /// Starts the writer for `file`; `on_error` is told of each failed save
    /// (with the error as a sentence).
    pub fn spawn(file: OutboxFile, on_error: impl Fn(String) + Send + 'static) -> OutboxWriter {
        let (tx, rx) = mpsc::channel::<Vec<Outgoing>>();
        let thread = std::thread::Builder::new()
            .name("outbox-writer".into())
            .spawn(move || {
                while let Ok(mut latest) = rx.recv() {
                    while let Ok(newer) = rx.try_recv() {
                        latest = newer;
                    }
                    if let Err(e) = file.save(&latest) {
                        tracing::warn!(error = %e, "cannot save the outbox");
                        on_error(format!("{e}; unsent messages may be lost if you quit"));
                    }
                }
            })
            .map_err(|e| tracing::error!(error = %e, "cannot start the outbox writer"))
            .ok();
        OutboxWriter {
            tx: Some(tx),
            thread,
        }
    }

    /// Queues a snapshot of the unsent messages for writing.
    pub fn save(&self, messages: Vec<Outgoing>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(messages);
        }
    }

    /// Writes what is queued and stops, waiting at most 2 s.
    pub async fn finish(mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let join = tokio::task::spawn_blocking(move || thread.join());
            if tokio::time::timeout(FINISH_WAIT, join).await.is_err() {
                tracing::warn!("the outbox writer did not finish in time");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("chat-tui-outbox-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn outgoing(key: &str, text: &str) -> Outgoing {
        Outgoing {
            key: IdempotencyKey(key.into()),
            room: RoomId(7),
            text: text.into(),
            reply_to: Some(Seq(3)),
            created: Timestamp(1_772_528_400_000),
            state: OutgoingState::Failed("timed out".into()),
        }
    }

    #[test]
    fn round_trip_keeps_keys_and_text_and_comes_back_pending() {
        let dir = temp_dir();
        let file = OutboxFile::new(&dir.join("outbox"), "h:1", "alice");
        assert!(file.load().unwrap().is_empty());
        let saved = vec![outgoing("k1", "안녕\nline two"), outgoing("k2", "\x1b[2J")];
        file.save(&saved).unwrap();
        let loaded = file.load().unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0].key, IdempotencyKey("k1".into()));
        assert_eq!(loaded[0].text, "안녕\nline two");
        assert_eq!(loaded[1].text, "\x1b[2J");
        assert_eq!(loaded[0].state, OutgoingState::Pending);
        assert_eq!(loaded[0].reply_to, Some(Seq(3)));
        // Nothing unsent: the file goes away.
        file.save(&[]).unwrap();
        assert!(!file.path().exists());
        file.save(&[]).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn file_and_directory_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir();
        let file = OutboxFile::new(&dir.join("outbox"), "h:1", "bob");
        file.save(&[outgoing("k", "x")]).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(file.path()), 0o600);
        assert_eq!(mode(&dir.join("outbox")), 0o700);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_and_reported() {
        let dir = temp_dir();
        let file = OutboxFile::new(&dir, "h:1", "carol");
        std::fs::write(file.path(), b"{\"version\":1,\"messages\":[{\"key\":").unwrap();
        let err = file.load().unwrap_err();
        let OutboxFileError::Corrupt { moved_to, .. } = &err else {
            panic!("{err}");
        };
        assert!(moved_to.exists(), "{err}");
        assert!(!file.path().exists());
        assert!(err.to_string().contains("moved to"), "{err}");
        // A later version's file is not misread either.
        std::fs::write(file.path(), b"{\"version\":99,\"messages\":[]}").unwrap();
        assert!(file.load().unwrap_err().to_string().contains("version 99"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn names_cannot_leave_the_directory() {
        let file = OutboxFile::new(Path::new("/x"), "../../etc", "../u");
        assert_eq!(file.path().parent(), Some(Path::new("/x")));
        assert_ne!(
            OutboxFile::new(Path::new("/x"), "a:b", "u").path(),
            OutboxFile::new(Path::new("/x"), "a_b", "u").path()
        );
    }

    #[test]
    fn the_writer_writes_the_latest_snapshot_before_finishing() {
        let dir = temp_dir();
        let file = OutboxFile::new(&dir, "h:1", "dave");
        let writer = OutboxWriter::spawn(file.clone(), |_| {});
        writer.save(vec![outgoing("a", "first")]);
        writer.save(vec![outgoing("a", "first"), outgoing("b", "second")]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(writer.finish());
        let keys: Vec<_> = file.load().unwrap().into_iter().map(|o| o.key.0).collect();
        assert_eq!(keys, ["a", "b"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
