//! First start: the server-admin account and its token file.
//!
//! On a database with no accounts, chatd creates the account `admin`
//! (server admin, no password: it logs in with its token) and writes a
//! long-lived API token to `<data>/admin.token` with mode 0600. There is no
//! default password anywhere.

use crate::handlers::{insert_user, mint_token};
use crate::store::query::Reader;
use crate::store::records::UserRecord;
use crate::store::{Store, StoreError, WriteError};
use chat_protocol::Timestamp;
use redb::ReadableTableMetadata;
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

/// Creates the admin account and token file if the database has no
/// accounts. Returns the token file's path when it was written.
///
/// # Errors
/// [`BootstrapError`] if storage or the token file fails.
pub async fn ensure_admin(
    store: &Store,
    data_dir: &Path,
) -> Result<Option<PathBuf>, BootstrapError> {
    let empty = store
        .read(|txn| Ok(Reader::open(txn)?.users.len()? == 0))
        .await?;
    if !empty {
        return Ok(None);
    }
    let token = store
        .writer()
        .write(|ctx| {
            let id = insert_user(
                ctx,
                UserRecord {
                    username: ADMIN_USERNAME.into(),
                    display_name: "Server admin".into(),
                    org: String::new(),
                    admin: true,
                    disabled: false,
                    password_hash: None,
                    created_at: Timestamp::now().0,
                    last_seen: None,
                },
            )?;
            Ok(mint_token(ctx, id, "bootstrap admin token".into(), true)?.1)
        })
        .await
        .map_err(|e| match e {
            WriteError::Store(s) => s,
            WriteError::Rejected(r) => StoreError::Corrupt(r.message),
        })?;
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    write_secret(&path, &token).map_err(|source| BootstrapError::TokenFile {
        path: path.clone(),
        source,
    })?;
    Ok(Some(path))
}

fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(secret.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}
