//! What users change on their own account: password and display name.
//! Admin changes to any account are in `account.rs` (`UpdateUser`).

use super::access::{actor, fresh};
use super::account::{account_audit, auth_failed, hash_job, remove_login_sessions};
use super::{Reply, refuse};
use crate::auth;
use crate::fanout::Effect;
use crate::session::Session;
use crate::store::query;
use crate::store::records::{AuthorRecord, encode};
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
    let user = a.user;
    let stored = session
        .read(move |r| query::user(&r.users, user))
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
        .write(move |ctx| {
            let (mut me, _) = actor(ctx, &a)?;
            me.password_hash = Some(new_hash.clone());
            remove_login_sessions(ctx, a.user, Some(a.token_id))?;
            ctx.users.insert(a.user, encode(&me)?.as_slice())?;
            let target = AuthorRecord::of(a.user, &me);
            account_audit(
                ctx,
                a.user,
                &me,
                target,
                "user-password-change",
                "password changed by its owner; other login sessions ended",
            )?;
            // Wakes the guards of the user's other sessions, whose tokens
            // are gone now (see session::guard).
            ctx.effects.push(Effect::Account { user: a.user });
            Ok(())
        })
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
        .write(move |ctx| {
            let (mut me, _) = actor(ctx, &a)?;
            let new = if display_name.is_empty() {
                me.username.clone()
            } else {
                display_name.clone()
            };
            let was = std::mem::replace(&mut me.display_name, new.clone());
            ctx.users.insert(a.user, encode(&me)?.as_slice())?;
            let target = AuthorRecord::of(a.user, &me);
            let detail = format!("display name: {was:?} -> {new:?} (by its owner)");
            account_audit(ctx, a.user, &me, target, "user-display-name", &detail)?;
            Ok(me)
        })
        .await?;
    Ok(ResponseBody::User(updated.to_wire(id)))
}

fn wrong_password() -> ErrorBody {
    let mut e = auth_failed();
    e.message = "the current password is wrong; nothing was changed".to_owned();
    e
}
