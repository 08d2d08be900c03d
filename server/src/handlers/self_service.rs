//! What users change on their own account: password and display name.
//! Admin changes to any account are in `account.rs` (`UpdateUser`).

use super::access::fresh;
use super::account::{auth_failed, hash_job};
use super::{Reply, refuse};
use crate::auth;
use crate::session::Session;
use chat_protocol::names::{self, MAX_LABEL_LEN};
use chat_protocol::{ErrorBody, ErrorCode, ResponseBody};
use std::sync::Arc;

/// `ChangePassword`: checks `old` (throttled and counted like a login),
/// stores `new`, and ends the caller's other login sessions through the
/// rights guard (`Effect::Account`). The asking session keeps its token.
pub(super) async fn change_password(session: &Arc<Session>, old: String, new: String) -> Reply {
    let a = fresh(session).await?;
    names::validate_password(&new)?;
    if old.len() > names::MAX_PASSWORD_BYTES {
        return Err(wrong_password());
    }
    let shared = &session.shared;
    let address = session.conn.remote_address().ip();
    let account = names::canonical(&a.username);
    // The same throttle as logins: a stolen session must not become a
    // fast password oracle.
    let _attempt = shared
        .logins
        .begin(address, &account, std::time::Instant::now())
        .map_err(|wait_ms| ErrorBody {
            code: ErrorCode::RateLimited,
            message: format!(
                "too many wrong passwords for this account; wait {} s and try again",
                wait_ms.div_ceil(1000)
            ),
            retry_after_ms: Some(wait_ms),
        })?;
    let stored = session
        .shared
        .storage
        .user_by_id(a.user)
        .await?
        .ok_or_else(|| refuse(ErrorCode::NotFound, "your account no longer exists"))?;
    let Some(hash) = stored.password_hash.clone() else {
        return Err(refuse(
            ErrorCode::Forbidden,
            "this account has no password (it logs in with API tokens only); \
             a server admin can set one with `chatctl user reset-password`",
        ));
    };
    if !hash_job(session, move || auth::verify_password(&hash, &old)).await? {
        shared
            .logins
            .failed(address, &account, std::time::Instant::now());
        return Err(wrong_password());
    }
    shared.logins.succeeded(&account);
    let new_hash = hash_job(session, move || auth::hash_password(&new))
        .await?
        .map_err(super::internal)?;
    session
        .shared
        .storage
        .change_password(a.caller(), new_hash)
        .await?;
    tracing::info!(user = %stored.username, "password changed by its owner");
    Ok(ResponseBody::Ok)
}

/// `SetDisplayName`: the caller's own display name; empty means the
/// username.
pub(super) async fn set_display_name(session: &Arc<Session>, display_name: String) -> Reply {
    let a = fresh(session).await?;
    names::validate_label("display name", &display_name, MAX_LABEL_LEN)?;
    let id = a.user;
    let updated = session
        .shared
        .storage
        .set_display_name(a.caller(), display_name)
        .await?;
    Ok(ResponseBody::User(updated.to_wire(id)))
}

fn wrong_password() -> ErrorBody {
    let mut e = auth_failed();
    e.message = "the current password is wrong; nothing was changed".to_owned();
    e
}
