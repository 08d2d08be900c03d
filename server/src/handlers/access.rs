//! Who may do what, read fresh where it is used: a session's rights (its
//! token still exists, its account is enabled, whether it is a server
//! admin), checked inside the writer job or read transaction that acts on
//! them, so a right taken away is never used afterwards.

use super::refuse;
use crate::session::{Authed, Session};
use crate::store::query::{self, Blob};
use crate::store::records::UserRecord;
use crate::store::{StoreError, WriteCtx, WriteError};
use chat_protocol::{ErrorBody, ErrorCode};
use redb::ReadableTable;

/// A session's rights as storage has them now.
#[derive(Debug)]
pub(crate) enum Rights {
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
/// A redb error or a corrupt record.
pub(crate) fn session_rights(
    tokens: &impl ReadableTable<u64, Blob>,
    users: &impl ReadableTable<u64, Blob>,
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

fn ended(reason: &str) -> ErrorBody {
    refuse(ErrorCode::Unauthenticated, reason)
}

fn not_admin() -> ErrorBody {
    refuse(
        ErrorCode::Forbidden,
        "only server admins may do this; ask one, or use an admin token",
    )
}

/// Inside a writer job: the acting session's account and whether it is a
/// server admin, as this transaction sees them.
///
/// # Errors
/// [`ErrorCode::Unauthenticated`] when the session's rights are gone.
pub(crate) fn actor(ctx: &WriteCtx<'_>, a: &Authed) -> Result<(UserRecord, bool), WriteError> {
    match session_rights(&ctx.tokens, &ctx.users, a.user, a.token_id)? {
        Rights::Valid { admin, user } => Ok((*user, admin)),
        Rights::Ended(reason) => Err(ended(reason).into()),
    }
}

/// Inside a writer job: refuses unless the acting session is a server
/// admin now.
///
/// # Errors
/// [`ErrorCode::Unauthenticated`] or [`ErrorCode::Forbidden`].
pub(crate) fn admin_actor(ctx: &WriteCtx<'_>, a: &Authed) -> Result<UserRecord, WriteError> {
    match actor(ctx, a)? {
        (user, true) => Ok(user),
        (_, false) => Err(not_admin().into()),
    }
}

/// The session's identity with its rights read fresh from storage (the
/// cached admin flag is updated too).
///
/// # Errors
/// [`ErrorCode::Unauthenticated`] before login or when the session's rights
/// are gone; a storage failure.
pub(crate) async fn fresh(session: &Session) -> Result<Authed, ErrorBody> {
    let mut a = session.authed()?;
    let (user, token) = (a.user, a.token_id);
    let rights = session
        .read(move |r| session_rights(&r.tokens, &r.users, user, token))
        .await?;
    match rights {
        Rights::Valid { admin, .. } => {
            a.admin = admin;
            Ok(a)
        }
        Rights::Ended(reason) => Err(ended(reason)),
    }
}

/// Requires a server admin, checked against storage now.
///
/// # Errors
/// [`ErrorCode::Unauthenticated`] or [`ErrorCode::Forbidden`].
pub async fn require_admin(session: &Session) -> Result<Authed, ErrorBody> {
    let a = fresh(session).await?;
    if !a.admin {
        return Err(not_admin());
    }
    Ok(a)
}
