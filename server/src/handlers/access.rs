//! Who may do what, read fresh where it is used: a session's rights (its
//! token still exists, its account is enabled, whether it is a server
//! admin), checked inside the writer job or read transaction that acts on
//! them, so a right taken away is never used afterwards.

use crate::session::{Authed, Session};
use crate::store::records::UserRecord;
use crate::store::{WriteCtx, WriteError};
use chat_protocol::ErrorBody;

use crate::store::ops::rights::ended;
pub(crate) use crate::store::ops::rights::{Rights, not_admin};

/// Inside a writer job: the acting session's account and whether it is a
/// server admin ([`crate::store::ops::rights::actor`]).
///
/// # Errors
/// [`ErrorCode::Unauthenticated`] when the session's rights are gone.
pub(crate) fn actor(ctx: &WriteCtx<'_>, a: &Authed) -> Result<(UserRecord, bool), WriteError> {
    crate::store::ops::rights::actor(ctx, a.caller())
}

/// Inside a writer job: refuses unless the acting session is a server
/// admin now ([`crate::store::ops::rights::admin_actor`]).
///
/// # Errors
/// [`ErrorCode::Unauthenticated`] or [`ErrorCode::Forbidden`].
pub(crate) fn admin_actor(ctx: &WriteCtx<'_>, a: &Authed) -> Result<UserRecord, WriteError> {
    crate::store::ops::rights::admin_actor(ctx, a.caller())
}

/// The session's identity with its rights read fresh from storage (the
/// cached admin flag is updated too).
///
/// # Errors
/// [`ErrorCode::Unauthenticated`] before login or when the session's rights
/// are gone; a storage failure.
pub(crate) async fn fresh(session: &Session) -> Result<Authed, ErrorBody> {
    let mut a = session.authed()?;
    let rights = session.shared.storage.rights(a.caller()).await?;
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
