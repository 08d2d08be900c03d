//! The blob store: file contents by BLAKE3 hash, behind [`BlobStore`] so
//! that an S3-compatible store can replace the local one for scale-out.
//!
//! [`FsBlobStore`] keeps `root/blobs/ab/cd/<hash>` (two fan-out levels of
//! the hash's first four hex digits, so no directory holds more than a few
//! thousand entries), files mode 0600 and directories 0700. A blob enters
//! only by [`BlobStore::put`] of a complete, verified, fsynced file: a
//! rename, followed by an fsync of the directory, so a crash leaves either
//! no blob or the whole blob, never half of one.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// Where file contents live. Every method blocks: call them from the
/// blocking pool or the storage writer's thread, never from an async task.
pub trait BlobStore: Send + Sync + 'static {
    /// Whether content `hash` is stored.
    ///
    /// # Errors
    /// I/O failures.
    fn contains(&self, hash: &str) -> io::Result<bool>;

    /// Moves the verified, fsynced file `temp` in as content `hash`. When
    /// the content is already stored, `temp` is removed instead (identical
    /// content is stored once). Idempotent: a writer job may run twice.
    ///
    /// # Errors
    /// I/O failures; `temp` may then remain.
    fn put(&self, hash: &str, temp: &Path) -> io::Result<()>;

    /// Opens content `hash` for reading.
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`] when it is not stored; I/O failures.
    fn open(&self, hash: &str) -> io::Result<File>;

    /// Removes content `hash`; removing a missing blob is not an error.
    ///
    /// # Errors
    /// I/O failures.
    fn remove(&self, hash: &str) -> io::Result<()>;

    /// How many contents are stored and their bytes, for the
    /// `chatd_file_store_*` metrics. Cheap: kept as contents come and go.
    fn held(&self) -> Held;

    /// The hashes of contents stored at least `age` ago (by the file's
    /// modification time), for the collector's sweep of blobs no record
    /// names (left by a crash between a blob's placement and its record's
    /// commit). Blocking: walks the whole store.
    ///
    /// # Errors
    /// I/O failures.
    fn older_than(&self, age: std::time::Duration) -> io::Result<Vec<String>>;
}

/// What a blob store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Held {
    /// Contents stored (each stored once, however many attachments name it).
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Blobs as files under a directory of the data dir.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
    /// Counted at open by walking `root`, then kept by `put` and `remove`.
    held: std::sync::Arc<std::sync::Mutex<Held>>,
}

/// Whether `hash` is 64 lowercase hex digits; anything else never becomes
/// a path.
pub fn valid_hash(hash: &str) -> bool {
    hash.len() == chat_protocol::file::HASH_HEX_LEN
        && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl FsBlobStore {
    /// A store rooted at `root` (created, mode 0700, if missing).
    ///
    /// # Errors
    /// I/O failures creating it.
    pub fn open(root: &Path) -> io::Result<FsBlobStore> {
        create_private_dir(root)?;
        let mut held = Held::default();
        walk(root, &mut held)?;
        Ok(FsBlobStore {
            root: root.to_path_buf(),
            held: std::sync::Arc::new(std::sync::Mutex::new(held)),
        })
    }

    /// The path of content `hash`.
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] for a malformed hash.
    pub fn path_of(&self, hash: &str) -> io::Result<PathBuf> {
        if !valid_hash(hash) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a BLAKE3 hex hash: {hash:?}"),
            ));
        }
        Ok(self.root.join(&hash[0..2]).join(&hash[2..4]).join(hash))
    }
}

impl BlobStore for FsBlobStore {
    fn contains(&self, hash: &str) -> io::Result<bool> {
        Ok(self.path_of(hash)?.is_file())
    }

    fn put(&self, hash: &str, temp: &Path) -> io::Result<()> {
        let path = self.path_of(hash)?;
        if path.is_file() {
            // Already stored, or this is a writer job run again after its
            // batch was rolled back and the rename had happened: either way
            // the temp file may be gone.
            return match fs::remove_file(temp) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            };
        }
        let dir = path.parent().unwrap_or(&self.root);
        create_private_dir(dir)?;
        let bytes = fs::metadata(temp)?.len();
        fs::rename(temp, &path)?;
        {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            held.blobs += 1;
            held.bytes += bytes;
        }
        File::open(dir)?.sync_all()
    }

    fn open(&self, hash: &str) -> io::Result<File> {
        File::open(self.path_of(hash)?)
    }

    fn remove(&self, hash: &str) -> io::Result<()> {
        let path = self.path_of(hash)?;
        let bytes = match fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        match fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
            Ok(()) => {
                let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
                held.blobs = held.blobs.saturating_sub(1);
                held.bytes = held.bytes.saturating_sub(bytes);
                Ok(())
            }
        }
    }

    fn held(&self) -> Held {
        *self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn older_than(&self, age: std::time::Duration) -> io::Result<Vec<String>> {
        fn visit(dir: &Path, age: std::time::Duration, out: &mut Vec<String>) -> io::Result<()> {
            for entry in fs::read_dir(dir)? {
                let entry = entry?;
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    visit(&entry.path(), age, out)?;
                } else if kind.is_file() {
                    let name = entry.file_name();
                    let Some(hash) = name.to_str().filter(|h| valid_hash(h)) else {
                        continue;
                    };
                    let old = entry
                        .metadata()?
                        .modified()?
                        .elapsed()
                        .is_ok_and(|e| e >= age);
                    if old {
                        out.push(hash.to_owned());
                    }
                }
            }
            Ok(())
        }
        let mut out = Vec::new();
        visit(&self.root, age, &mut out)?;
        Ok(out)
    }
}

/// Adds the files under `dir` (the blob store's fan-out tree) to `held`.
fn walk(dir: &Path, held: &mut Held) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), held)?;
        } else if kind.is_file() {
            held.blobs += 1;
            held.bytes += entry.metadata()?.len();
        }
    }
    Ok(())
}

/// Creates `dir` and its missing parents with mode 0700.
///
/// # Errors
/// I/O failures.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn temp_with(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        let mut f = File::create(&p).expect("create");
        f.write_all(bytes).expect("write");
        p
    }

    #[test]
    fn identical_content_is_stored_once_under_a_fan_out_path() {
        let dir = tempfile::tempdir().expect("dir");
        let store = FsBlobStore::open(&dir.path().join("blobs")).expect("open");
        let hash = blake3::hash(b"hello").to_hex().to_string();
        let a = temp_with(dir.path(), "a", b"hello");
        let b = temp_with(dir.path(), "b", b"hello");
        store.put(&hash, &a).expect("put a");
        store.put(&hash, &b).expect("put b");
        assert!(!a.exists() && !b.exists(), "temps are consumed");
        assert_eq!(store.held(), Held { blobs: 1, bytes: 5 });
        let reopened = FsBlobStore::open(&dir.path().join("blobs")).expect("reopen");
        assert_eq!(
            reopened.held(),
            Held { blobs: 1, bytes: 5 },
            "counted at open"
        );
        let path = store.path_of(&hash).expect("path");
        assert!(path.ends_with(format!("{}/{}/{hash}", &hash[..2], &hash[2..4])));
        let mut s = String::new();
        store
            .open(&hash)
            .expect("open")
            .read_to_string(&mut s)
            .expect("read");
        assert_eq!(s, "hello");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let dmode = fs::metadata(path.parent().expect("parent"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(dmode & 0o777, 0o700);
        }
        store.remove(&hash).expect("remove");
        store.remove(&hash).expect("removing again is no error");
        assert!(!store.contains(&hash).expect("contains"));
        assert_eq!(store.held(), Held::default());
    }

    #[test]
    fn a_malformed_hash_never_becomes_a_path() {
        let dir = tempfile::tempdir().expect("dir");
        let store = FsBlobStore::open(dir.path()).expect("open");
        assert!(store.path_of("../../etc/passwd").is_err());
        assert!(store.path_of(&"A".repeat(64)).is_err());
    }
}
