//! Server-wide counters kept in storage, and the start-up tasks that run
//! before chatd serves (the first admin account).

use super::users::{insert_user, mint_token};
use crate::store::kv::{KvRead, ReadTx};
use crate::store::query::{self, Reader};
use crate::store::records::{TokenRecord, UserRecord, decode};
use crate::store::tables::{IDEMPOTENCY, meta};
use crate::store::{WriteCtx, WriteError};

/// Stored counts for `ServerStats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredCounts {
    /// Rooms, deleted ones included.
    pub rooms: u64,
    /// Accounts.
    pub users: u64,
    /// Room events ever appended.
    pub events: u64,
    /// Idempotency keys held (live or expired, until swept).
    pub idempotency_keys: u64,
}

/// The stored counts.
///
/// # Errors
/// A storage failure.
pub fn counts(txn: &ReadTx) -> Result<StoredCounts, WriteError> {
    let r = Reader::open(txn)?;
    Ok(StoredCounts {
        rooms: r.rooms.len()?,
        users: r.users.len()?,
        events: r.counter_sum(meta::EVENT_COUNT)?,
        idempotency_keys: txn.open_table(IDEMPOTENCY)?.len()?,
    })
}

/// Whether no account exists yet.
///
/// # Errors
/// A storage failure.
pub fn no_users(txn: &ReadTx) -> Result<bool, WriteError> {
    Ok(Reader::open(txn)?.users.len()? == 0)
}

/// On a database with no accounts, creates `admin` (server admin, no
/// password) with an API token labelled `label`; with accounts and
/// `may_reissue`, reissues that token if `username` was never used (a crash
/// before its token file was written). Returns the new token's secret, if
/// one was minted. Nodes sharing a database pass `may_reissue = false`: two
/// nodes starting at once on an empty database both get here, and the
/// second must not revoke the token the first just wrote.
///
/// # Errors
/// A storage failure.
pub fn bootstrap_admin(
    ctx: &mut WriteCtx<'_>,
    admin: &UserRecord,
    label: &str,
    may_reissue: bool,
) -> Result<Option<String>, WriteError> {
    if ctx.users.len()? > 0 {
        if !may_reissue {
            return Ok(None);
        }
        return reissue(ctx, &admin.username, label);
    }
    let id = insert_user(ctx, admin.clone())?;
    Ok(Some(mint_token(ctx, id, label.into(), true)?.1))
}

/// A new token for an admin that was never used, whose token file is
/// missing (a crash before the file was written); `None` otherwise.
fn reissue(
    ctx: &mut WriteCtx<'_>,
    username: &str,
    label: &str,
) -> Result<Option<String>, WriteError> {
    let Some(id) = query::user_id(&ctx.usernames, username)? else {
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
    Ok(Some(mint_token(ctx, id, label.into(), true)?.1))
}
