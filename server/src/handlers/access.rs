//! Who may do what, read fresh where it is used: a session's rights (its
//! token still exists, its account is enabled, whether it is a server
//! admin), checked inside the writer job or read transaction that acts on
//! them, so a right taken away is never used afterwards.

use crate::session::{Authed, Session};
use chat_protocol::ErrorBody;

use crate::store::ops::rights::ended;
pub(crate) use crate::store::ops::rights::{Rights, not_admin};

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
