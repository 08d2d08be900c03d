//! Opening the database file: modes, the repair after an unclean
//! shutdown, the integrity check at start, and errors that name their
//! real cause.
//!
//! The data directory is 0700 and every file chatd writes in it 0600,
//! whatever the umask: the database holds every message and password
//! hash. Existing directories and files with wider modes are narrowed at
//! start (test: `e2e::faults::data_files_are_private_whatever_the_umask`).

use super::StoreError;
use redb::{Builder, Database, DatabaseError, StorageError};
use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Mode of the data directory.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file in it.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (mode 0700) if missing, narrows an existing one to 0700
/// and those of `files` (names in `dir`, chatd's own) that exist to 0600.
/// Other files in `dir` are left alone: it may be shared with something
/// else.
///
/// # Errors
/// The I/O error, when the directory cannot be created or its modes
/// cannot be changed (chatd does not own it).
pub fn prepare_data_dir(dir: &Path, files: &[&str]) -> std::io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    narrow(dir, DIR_MODE)?;
    for name in files {
        let path = dir.join(name);
        if path.is_file() {
            narrow(&path, FILE_MODE)?;
        }
    }
    Ok(())
}

fn narrow(path: &Path, mode: u32) -> std::io::Result<()> {
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current & !mode != 0 {
        tracing::warn!(path = %path.display(), from = format!("{current:o}"), to = format!("{mode:o}"),
            "narrowing the mode of a data file: others could read it");
        std::fs::set_permissions(path, Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Opens or creates the redb file at `path` with mode 0600. A file that
/// was not closed cleanly is repaired here, and the log says so.
///
/// # Errors
/// [`StoreError::Open`] with the real cause and what to do.
pub(super) fn open_database(
    path: &Path,
    disk_fault: Option<&super::fault::DiskFault>,
) -> Result<Database, StoreError> {
    let shown = path.display().to_string();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|e| open_error(&shown, DatabaseError::Storage(StorageError::Io(e)), false))?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))
        .map_err(|e| open_error(&shown, DatabaseError::Storage(StorageError::Io(e)), false))?;
    let repaired = Arc::new(AtomicBool::new(false));
    let mut builder = Builder::new();
    {
        let repaired = repaired.clone();
        let shown = shown.clone();
        let last = AtomicU64::new(u64::MAX);
        builder.set_repair_callback(move |session| {
            if !repaired.swap(true, Ordering::Relaxed) {
                tracing::warn!(path = %shown, "the database was not closed cleanly (chatd crashed, \
                    was killed, or the machine lost power); repairing it before serving, which \
                    keeps every committed write");
            }
            let pct = (session.progress() * 100.0) as u64 / 10 * 10;
            if last.swap(pct, Ordering::Relaxed) != pct {
                tracing::info!(path = %shown, progress_pct = pct, "repairing the database");
            }
        });
    }
    let opened = match disk_fault {
        None => builder.create_file(file),
        Some(fault) => redb::backends::FileBackend::new(file).and_then(|inner| {
            builder.create_with_backend(super::fault::FaultyBackend {
                inner,
                fault: fault.clone(),
            })
        }),
    };
    let db = opened.map_err(|e| open_error(&shown, e, repaired.load(Ordering::Relaxed)))?;
    if repaired.load(Ordering::Relaxed) {
        tracing::info!(path = %shown, "database repaired after the unclean shutdown");
    }
    Ok(db)
}

/// The error for a file that would not open, naming the actual cause.
fn open_error(path: &str, e: DatabaseError, repairing: bool) -> StoreError {
    let during = if repairing {
        " while repairing it after an unclean shutdown (chatd crashed or was killed)"
    } else {
        ""
    };
    let cause = match e {
        DatabaseError::DatabaseAlreadyOpen => "another process has it open; is another chatd \
             running with this data directory? Stop it, or pass another --data"
            .to_string(),
        DatabaseError::RepairAborted => "it was not closed cleanly and its repair was aborted; \
             start chatd again to repeat the repair, or restore the file from a backup"
            .to_string(),
        DatabaseError::UpgradeRequired(v) => format!(
            "it is in redb file format {v}, which this chatd cannot open; use the chatd release \
             that wrote this data directory"
        ),
        DatabaseError::Storage(StorageError::Corrupted(m)) => format!(
            "the file is damaged{during} ({m}); move it aside and restore it from your latest \
             backup, then start chatd again"
        ),
        DatabaseError::Storage(StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            format!(
                "permission denied{during} ({io}); chatd's user must own the data directory \
                 and the file"
            )
        }
        DatabaseError::Storage(StorageError::Io(io)) => format!(
            "I/O error{during}: {io}; check the disk (free space with `df`, device errors with \
             `dmesg`) and start chatd again"
        ),
        other => format!("{other}{during}"),
    };
    StoreError::Open {
        path: path.to_string(),
        cause,
    }
}

/// Runs redb's integrity check (every page against its checksum) and
/// refuses a damaged file, so altered bytes are never served as data
/// (test: `e2e::faults::a_damaged_database_is_refused_with_a_clear_message`).
///
/// # Errors
/// [`StoreError::Damaged`] when the check fails or had to roll the file
/// back to an earlier commit.
pub(super) fn check_integrity(db: &mut Database, path: &Path) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let damaged = |cause: String| StoreError::Damaged {
        path: path.display().to_string(),
        cause,
    };
    match db.check_integrity() {
        Ok(true) => {
            tracing::info!(path = %path.display(), ms = started.elapsed().as_millis() as u64,
                "database passed its integrity check");
            Ok(())
        }
        Ok(false) => Err(damaged(
            "pages failed their checksums; redb rolled the file back to its last intact \
             commit, which may have lost acknowledged messages"
                .into(),
        )),
        Err(e) => Err(damaged(e.to_string())),
    }
}
