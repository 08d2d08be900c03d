//! First start: the server-admin account and its token file.
//!
//! On a database with no accounts, chatd creates the account `admin`
//! (server admin, no password: it logs in with its token) and writes a
//! long-lived API token to `<data>/admin.token` with mode 0600. There is no
//! default password anywhere. See [`ensure_admin`] for what happens when
//! chatd dies between the two.

use crate::store::boundary::Boundary;
use crate::store::records::UserRecord;
use crate::store::{StoreError, WriteError};
use chat_protocol::Timestamp;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Name of the bootstrap admin account.
pub const ADMIN_USERNAME: &str = "admin";
/// File name of the bootstrap admin token inside the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// Why bootstrapping failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The token file could not be written.
    #[error(
        "cannot write the admin token to {path}: {source}; check the data directory's permissions"
    )]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Creates the admin account and its token file if the database has no
/// accounts; writes a fresh token file if the file is missing and the
/// admin has never been used. Returns the token file's path when it was
/// written.
///
/// Crash safety: the account commits first, then the file is written
/// atomically (a temporary file, fsync, rename, fsync of the directory).
/// A crash between the two leaves an admin with no password, no
/// last-seen time and no file; the next start sees exactly that, revokes
/// the admin's tokens and writes a new one
/// (test: `e2e::faults::a_lost_admin_token_file_is_written_again_at_start`).
/// An admin that has logged in (a last-seen time) or has a password is
/// never touched: deleting the file on purpose stays deleting it.
///
/// With a `shared` database (PostgreSQL, several nodes), a node whose data
/// dir has no token file is usually not the node that created the
/// database, so only an empty database is bootstrapped: a second node
/// never revokes the token the first one wrote (copy `admin.token` to the
/// nodes that need it; README "Running several nodes").
///
/// # Errors
/// [`BootstrapError`] if storage or the token file fails.
pub async fn ensure_admin(
    store: &dyn Boundary,
    data_dir: &Path,
    shared: bool,
) -> Result<Option<PathBuf>, BootstrapError> {
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    let file_missing = !path.exists();
    let empty = store.no_users().await.map_err(store_error)?;
    if !empty && (!file_missing || shared) {
        return Ok(None);
    }
    let admin = UserRecord {
        username: ADMIN_USERNAME.into(),
        display_name: "Server admin".into(),
        org: String::new(),
        admin: true,
        disabled: false,
        password_hash: None,
        created_at: Timestamp::now().0,
        last_seen: None,
    };
    let token = store
        .bootstrap_admin(admin, BOOTSTRAP_LABEL.into(), !shared)
        .await
        .map_err(store_error)?;
    let Some(token) = token else {
        return Ok(None);
    };
    write_secret(&path, &token).map_err(|source| BootstrapError::TokenFile {
        path: path.clone(),
        source,
    })?;
    Ok(Some(path))
}

/// Label of the bootstrap admin token.
const BOOTSTRAP_LABEL: &str = "bootstrap admin token";

fn store_error(e: WriteError) -> StoreError {
    match e {
        WriteError::Store(s) => s,
        WriteError::Rejected(r) => StoreError::Corrupt(r.message),
    }
}

/// Writes `secret` to `path` with mode 0600, atomically: a crash leaves
/// either the old file or the complete new one.
fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("token.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(secret.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
