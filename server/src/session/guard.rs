//! The rights guard: one task per logged-in session that checks the
//! session's token and account again whenever either changes, and ends the
//! session at once when its rights are gone.
//!
//! Writer jobs that revoke a token, reset a password, disable an account or
//! change its admin flag publish `Effect::Account` after their commit; the
//! hub wakes every guard of that user. A guard re-reads the token and the
//! account: if the token is gone or the account disabled or deleted, the
//! connection is closed with `CLOSE_LOGGED_OUT` and a reason the client
//! shows; otherwise the session's cached admin flag is updated. The guard
//! registers with the hub before its first check, so a change committed
//! while the login was being finished is not missed (the first check reads
//! after the registration; a later change wakes it).

use super::{Authed, Session};
use crate::store::ops::rights::Rights;
use std::sync::Arc;
use tokio::sync::{Notify, oneshot};

/// Guards `authed`'s rights on `session` until `stop` fires or the rights
/// are gone.
pub(super) async fn run(session: Arc<Session>, authed: Authed, mut stop: oneshot::Receiver<()>) {
    let hub = session.shared.hub.clone();
    let wake = Arc::new(Notify::new());
    let id = hub.add_session(authed.user, wake.clone());
    // The first check runs right after registering (see the module doc).
    wake.notify_one();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = wake.notified() => {}
        }
        let user = authed.user;
        let rights = session.shared.storage.rights(authed.caller()).await;
        match rights {
            Ok(Rights::Valid { admin, .. }) => session.refresh_admin(user, admin),
            Ok(Rights::Ended(reason)) => {
                session.log_out(reason);
                break;
            }
            Err(e) => {
                // Fail closed: a session whose rights cannot be read is not
                // trusted to keep them.
                tracing::error!(error = %e, "cannot check a session's rights");
                session.log_out("the server could not check your session; log in again");
                break;
            }
        }
    }
    hub.remove_session(authed.user, id);
}
