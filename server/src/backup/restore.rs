//! `chatd restore FILE --data DIR`: a backup archive back into a data
//! directory.
//!
//! Nothing is written to DIR until the whole archive has been checked: the
//! archive is unpacked into a private temporary directory beside DIR,
//! every part is checked against the manifest (sizes, BLAKE3 hashes, the
//! manifest's own hash, row counts of the database after redb's integrity
//! check), and only then is the temporary directory renamed to DIR in one
//! step. On any failure the temporary directory is removed, so a restore
//! either leaves a complete data directory or nothing (tests:
//! `e2e::backup::a_damaged_backup_is_refused_and_leaves_nothing`,
//! `e2e::backup::a_non_empty_target_is_refused`).

use super::{
    ADMIN_TOKEN, BLOBS, DATABASE, FORMAT, FORMAT_VERSION, MANIFEST, MANIFEST_HASH, Manifest,
};
use crate::files::blob::{BlobStore, FsBlobStore, valid_hash};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The manifest of the restored backup.
    pub manifest: Manifest,
    /// The data directory written.
    pub data_dir: PathBuf,
}

/// Why a restore was refused. Each message says what to do; in every case
/// the target directory was left as it was.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The target exists and is not an empty directory.
    #[error(
        "{} is not an empty directory; restore into a new or empty directory (move the \
         existing data directory aside first, and stop any chatd using it)",
        dir.display()
    )]
    NotEmpty {
        /// The target.
        dir: PathBuf,
    },
    /// The archive could not be read at all.
    #[error("cannot read backup {}: {cause}; check the path and its permissions", file.display())]
    Open {
        /// The archive.
        file: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The archive is cut, altered or not a chatd backup.
    #[error(
        "backup {} is damaged or not a chatd backup: {what}; nothing was restored. Use another \
         copy of the backup, or take a new one with `chatctl server backup FILE`",
        file.display()
    )]
    Damaged {
        /// The archive.
        file: PathBuf,
        /// What check failed.
        what: String,
    },
    /// The archive was written by a build with another format version.
    #[error(
        "backup {} has format version {found}; this chatd reads version {FORMAT_VERSION}. \
         Restore it with the chatd release that took it (its version is {chatd})",
        file.display()
    )]
    Version {
        /// The archive.
        file: PathBuf,
        /// Its format version.
        found: u32,
        /// The chatd version that wrote it.
        chatd: String,
    },
    /// Writing the restored files failed.
    #[error(
        "cannot write the restored data under {}: {cause}; check free space (`df`) and \
         permissions, then run the restore again",
        dir.display()
    )]
    Write {
        /// The directory written to.
        dir: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
}

/// Restores the archive at `file` into `data_dir`, which must not exist or
/// be an empty directory. Blocking.
///
/// # Errors
/// [`RestoreError`]; the target is then untouched.
pub fn restore(file: &Path, data_dir: &Path) -> Result<Restored, RestoreError> {
    if data_dir.exists() {
        let empty = data_dir.is_dir()
            && std::fs::read_dir(data_dir)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
        if !empty {
            return Err(RestoreError::NotEmpty {
                dir: data_dir.to_path_buf(),
            });
        }
    }
    let parent = match data_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let write_err = |cause| RestoreError::Write {
        dir: parent.clone(),
        cause,
    };
    crate::files::blob::create_private_dir(&parent).map_err(write_err)?;
    let temp = tempfile::Builder::new()
        .prefix(".chatd-restore-")
        .tempdir_in(&parent)
        .map_err(write_err)?;
    let manifest = unpack(file, temp.path())?;
    crate::store::prepare_data_dir(
        temp.path(),
        &[crate::DB_FILE, crate::bootstrap::ADMIN_TOKEN_FILE],
    )
    .map_err(write_err)?;
    // The temporary directory becomes the data directory in one rename
    // (over an empty directory, which rename(2) allows).
    let staged = temp.keep();
    if let Err(cause) = std::fs::rename(&staged, data_dir) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(write_err(cause));
    }
    if let Ok(dir) = std::fs::File::open(&parent) {
        let _ = dir.sync_all();
    }
    Ok(Restored {
        manifest,
        data_dir: data_dir.to_path_buf(),
    })
}

/// Unpacks and checks the archive into `dest`; returns its manifest.
fn unpack(file: &Path, dest: &Path) -> Result<Manifest, RestoreError> {
    let damaged = |what: String| RestoreError::Damaged {
        file: file.to_path_buf(),
        what,
    };
    let write_err = |cause| RestoreError::Write {
        dir: dest.to_path_buf(),
        cause,
    };
    let input = std::fs::File::open(file).map_err(|cause| RestoreError::Open {
        file: file.to_path_buf(),
        cause,
    })?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(input));
    let mut entries = archive
        .entries()
        .map_err(|e| damaged(format!("not a tar archive ({e})")))?;
    let mut next = |want: &str| -> Result<tar::Entry<'_, _>, RestoreError> {
        let entry = entries
            .next()
            .ok_or_else(|| damaged(format!("it ends before {want}")))?
            .map_err(|e| damaged(format!("unreadable entry before {want} ({e})")))?;
        let path = entry_path(&entry);
        if path != want && !(want == BLOBS && path.starts_with(BLOBS)) {
            return Err(damaged(format!("found {path:?} where {want} belongs")));
        }
        Ok(entry)
    };

    let mut json = Vec::new();
    next(MANIFEST)?
        .read_to_end(&mut json)
        .map_err(|e| damaged(format!("manifest unreadable ({e})")))?;
    let mut stated = String::new();
    next(MANIFEST_HASH)?
        .read_to_string(&mut stated)
        .map_err(|e| damaged(format!("manifest hash unreadable ({e})")))?;
    let actual = blake3::hash(&json).to_hex().to_string();
    if stated.trim() != actual {
        return Err(damaged(format!(
            "the manifest's hash is {actual}, the archive states {}",
            stated.trim()
        )));
    }
    let manifest: Manifest = serde_json::from_slice(&json)
        .map_err(|e| damaged(format!("manifest is not valid ({e})")))?;
    if manifest.format != FORMAT {
        return Err(damaged(format!(
            "the manifest's format is {:?}, not {FORMAT:?}",
            manifest.format
        )));
    }
    if manifest.format_version != FORMAT_VERSION {
        return Err(RestoreError::Version {
            file: file.to_path_buf(),
            found: manifest.format_version,
            chatd: manifest.chatd_version.clone(),
        });
    }

    let db_path = dest.join(crate::DB_FILE);
    {
        let mut entry = next(DATABASE)?;
        let got = copy_hashed(&mut entry, &db_path).map_err(|e| match e {
            Copy::Read(e) => damaged(format!("{DATABASE} unreadable ({e})")),
            Copy::Write(e) => write_err(e),
        })?;
        if got != manifest.database {
            return Err(damaged(format!(
                "{DATABASE} is {} bytes with hash {}, the manifest says {} bytes with hash {}",
                got.bytes, got.blake3, manifest.database.bytes, manifest.database.blake3
            )));
        }
    }

    if let Some(want) = &manifest.admin_token {
        let mut entry = next(ADMIN_TOKEN)?;
        let path = dest.join(crate::bootstrap::ADMIN_TOKEN_FILE);
        let got = copy_hashed(&mut entry, &path).map_err(|e| match e {
            Copy::Read(e) => damaged(format!("{ADMIN_TOKEN} unreadable ({e})")),
            Copy::Write(e) => write_err(e),
        })?;
        if got != *want {
            return Err(damaged(format!(
                "{ADMIN_TOKEN} does not match the manifest"
            )));
        }
    }

    let blobs = FsBlobStore::open(&dest.join("files").join("blobs")).map_err(write_err)?;
    let incoming = dest.join("files").join("partial");
    crate::files::blob::create_private_dir(&incoming).map_err(write_err)?;
    for want in &manifest.blobs {
        let mut entry = next(BLOBS)?;
        let name = entry_path(&entry)[BLOBS.len()..].to_owned();
        if name != want.blake3 || !valid_hash(&name) {
            return Err(damaged(format!(
                "found blob {name:?} where the manifest lists {}",
                want.blake3
            )));
        }
        let temp = incoming.join(format!("{name}.restore"));
        let got = copy_hashed(&mut entry, &temp).map_err(|e| match e {
            Copy::Read(e) => damaged(format!("blob {name} unreadable ({e})")),
            Copy::Write(e) => write_err(e),
        })?;
        if got != *want {
            return Err(damaged(format!(
                "blob {name} is {} bytes with hash {}, expected {} bytes with that hash",
                got.bytes, got.blake3, want.bytes
            )));
        }
        blobs.put(&name, &temp).map_err(write_err)?;
    }
    if let Some(extra) = entries.next() {
        let what = match extra {
            Ok(e) => format!(
                "an unexpected entry {:?} follows the last blob",
                entry_path(&e)
            ),
            Err(e) => format!("unreadable data after the last blob ({e})"),
        };
        return Err(damaged(what));
    }

    let facts = crate::store::snapshot::inspect(&db_path)
        .map_err(|e| damaged(format!("the database copy fails its checks: {e}")))?;
    if facts.rows != manifest.tables {
        return Err(damaged(format!(
            "the database holds rows {:?}, the manifest says {:?}",
            facts.rows, manifest.tables
        )));
    }
    Ok(manifest)
}

fn entry_path<R: Read>(entry: &tar::Entry<'_, R>) -> String {
    entry
        .path()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

enum Copy {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copies `from` to a new file `to` (mode 0600, fsynced), hashing it.
fn copy_hashed(from: &mut impl Read, to: &Path) -> Result<super::Content, Copy> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(Copy::Write)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; crate::files::CHUNK_BYTES];
    let mut bytes = 0u64;
    loop {
        let n = from.read(&mut buf).map_err(Copy::Read)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(Copy::Write)?;
        bytes += n as u64;
    }
    out.sync_all().map_err(Copy::Write)?;
    Ok(super::Content {
        bytes,
        blake3: hasher.finalize().to_hex().to_string(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;
    use crate::backup::{Content, write_archive};

    /// An archive of `manifest` with a database file of `db` bytes.
    fn archive(dir: &Path, manifest: &Manifest, db: &[u8]) -> PathBuf {
        let db_path = dir.join("db");
        std::fs::write(&db_path, db).unwrap();
        let path = dir.join("a.backup");
        let out = std::fs::File::create(&path).unwrap();
        write_archive(
            out,
            manifest,
            std::fs::File::open(&db_path).unwrap(),
            b"",
            |_| Err(std::io::ErrorKind::NotFound.into()),
        )
        .unwrap();
        path
    }

    fn manifest(version: u32, db: &[u8]) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            format_version: version,
            chatd_version: "9.9.9".into(),
            created_ms: 0,
            schema_version: 1,
            events: 0,
            tables: Default::default(),
            database: Content {
                bytes: db.len() as u64,
                blake3: blake3::hash(db).to_hex().to_string(),
            },
            admin_token: None,
            blobs: Vec::new(),
        }
    }

    #[test]
    fn another_format_version_is_refused_with_the_release_to_use() {
        let dir = tempfile::tempdir().unwrap();
        let file = archive(dir.path(), &manifest(FORMAT_VERSION + 1, b"db"), b"db");
        let target = dir.path().join("data");
        let err = restore(&file, &target).unwrap_err();
        assert!(matches!(err, RestoreError::Version { .. }), "{err}");
        assert!(err.to_string().contains("9.9.9"), "{err}");
        assert!(!target.exists());
    }

    #[test]
    fn a_database_that_is_not_redb_is_refused_after_its_hash_matches() {
        let dir = tempfile::tempdir().unwrap();
        let file = archive(
            dir.path(),
            &manifest(FORMAT_VERSION, b"not redb"),
            b"not redb",
        );
        let target = dir.path().join("data");
        let err = restore(&file, &target).unwrap_err();
        assert!(err.to_string().contains("fails its checks"), "{err}");
        assert!(!target.exists());
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with(".chatd-restore-"))
            .collect();
        assert!(left.is_empty(), "temporary directory left: {left:?}");
    }
}
