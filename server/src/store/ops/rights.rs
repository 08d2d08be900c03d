//! Users and tokens: a session's rights, read fresh inside the transaction
//! that acts on them, so a right taken away is never used afterwards
//! (issue 17: "rights are checked where they are used, atomically with
//! the action").

use super::Caller;
use crate::store::kv::{KvRead, ReadTx};
use crate::store::query::{self, Blob};
use crate::store::records::UserRecord;
use crate::store::{StoreError, WriteCtx, WriteError};
use chat_protocol::{ErrorBody, ErrorCode};

/// A session's rights as storage has them now.
#[derive(Debug)]
pub enum Rights {
    /// The token exists and the account is enabled.
    Valid {
        /// Whether the account is a server admin.
        admin: bool,
        /// The account.
        user: Box<UserRecord>,
    },
    /// The session must end; the text says why, for the user to read.
    Ended(&'static str),
}

/// Reads the rights of a session of `user` opened with token `token_id`.
///
/// # Errors
/// A storage error or a corrupt record.
pub fn session_rights(
    tokens: &impl KvRead<u64, Blob>,
    users: &impl KvRead<u64, Blob>,
    user: u64,
    token_id: u64,
) -> Result<Rights, StoreError> {
    // The account first: disabling it also removes its login tokens, and
    // "disabled" is the reason the user needs to read.
    let Some(record) = query::user(users, user)? else {
        return Ok(Rights::Ended("your account was deleted"));
    };
    if record.disabled {
        return Ok(Rights::Ended(
            "your account was disabled; ask a server admin to enable it",
        ));
    }
    if query::token(tokens, token_id)?.is_none_or(|t| t.user != user) {
        return Ok(Rights::Ended(
            "your session's token was revoked (by an admin, a password reset or a logout \
             elsewhere); log in again",
        ));
    }
    Ok(Rights::Valid {
        admin: record.admin,
        user: Box::new(record),
    })
}

/// A read operation: the rights of `caller` now.
///
/// # Errors
/// A storage error or a corrupt record.
pub fn rights(txn: &ReadTx, caller: Caller) -> Result<Rights, WriteError> {
    let r = query::Reader::open(txn)?;
    Ok(session_rights(
        &r.tokens,
        &r.users,
        caller.user,
        caller.token,
    )?)
}

/// The refusal for a session whose rights are gone.
pub fn ended(reason: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::Unauthenticated, reason)
}

/// The refusal for a non-admin.
pub fn not_admin() -> ErrorBody {
    ErrorBody::new(
        ErrorCode::Forbidden,
        "only server admins may do this; ask one, or use an admin token",
    )
}

/// Inside a writer job: the acting session's account and whether it is a
/// server admin, as this transaction sees them.
///
/// # Errors
/// [`ErrorCode::Unauthenticated`] when the session's rights are gone.
pub fn actor(ctx: &WriteCtx<'_>, caller: Caller) -> Result<(UserRecord, bool), WriteError> {
    match session_rights(&ctx.tokens, &ctx.users, caller.user, caller.token)? {
        Rights::Valid { admin, user } => Ok((*user, admin)),
        Rights::Ended(reason) => Err(ended(reason).into()),
    }
}

/// Inside a writer job: refuses unless the acting session is a server
/// admin now.
///
/// # Errors
/// [`ErrorCode::Unauthenticated`] or [`ErrorCode::Forbidden`].
pub fn admin_actor(ctx: &WriteCtx<'_>, caller: Caller) -> Result<UserRecord, WriteError> {
    match actor(ctx, caller)? {
        (user, true) => Ok(user),
        (_, false) => Err(not_admin().into()),
    }
}
