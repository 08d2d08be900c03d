//! First start: the server-admin account and its token file.
//!
//! On a database with no accounts, chatd creates the account `admin`
//! (server admin, no password: it logs in with its token) and writes a
//! long-lived API token to `<data>/admin.token` with mode 0600. There is no
//! default password anywhere. See [`ensure_admin`] for what happens when
//! chatd dies between the two.

use crate::handlers::{insert_user, mint_token};
use crate::store::query::{self, Reader};
use crate::store::records::{TokenRecord, UserRecord, decode};
use crate::store::{Store, StoreError, WriteCtx, WriteError};
use chat_protocol::Timestamp;
use redb::{ReadableTable, ReadableTableMetadata};
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
/// # Errors
/// [`BootstrapError`] if storage or the token file fails.
pub async fn ensure_admin(
    store: &Store,
    data_dir: &Path,
) -> Result<Option<PathBuf>, BootstrapError> {
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    let file_missing = !path.exists();
    let empty = store
        .read(|txn| Ok(Reader::open(txn)?.users.len()? == 0))
        .await?;
    if !empty && !file_missing {
        return Ok(None);
    }
    let token = store
        .writer()
        .write(move |ctx| {
            if ctx.users.len()? > 0 {
                return reissue(ctx);
            }
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
            Ok(Some(mint_token(ctx, id, BOOTSTRAP_LABEL.into(), true)?.1))
        })
        .await
        .map_err(|e| match e {
            WriteError::Store(s) => s,
            WriteError::Rejected(r) => StoreError::Corrupt(r.message),
        })?;
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

/// A new token for an admin that was never used, whose token file is
/// missing (a crash before the file was written); `None` otherwise.
fn reissue(ctx: &mut WriteCtx<'_>) -> Result<Option<String>, WriteError> {
    let Some(id) = query::user_id(&ctx.usernames, ADMIN_USERNAME)? else {
        return Ok(None);
    };
    let Some(user) = query::user(&ctx.users, id)? else {
        return Ok(None);
    };
    if !user.admin || user.password_hash.is_some() || user.last_seen.is_some() {
        return Ok(None);
    }
    let mut old = Vec::new();
    for entry in ctx.tokens.iter()? {
        let (tid, rec) = entry?;
        let rec: TokenRecord = decode(rec.value())?;
        if rec.user == id {
            old.push(tid.value());
        }
    }
    for tid in old {
        ctx.tokens.remove(tid)?;
    }
    tracing::warn!(
        "the admin token file is missing and the admin account was never used \
        (an interrupted first start?); issuing a new admin token"
    );
    Ok(Some(mint_token(ctx, id, BOOTSTRAP_LABEL.into(), true)?.1))
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
