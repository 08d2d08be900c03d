//! Sessions, accounts and tokens.

use super::access::fresh;
use super::{Reply, refuse, require_admin};
use crate::auth;
use crate::session::{Authed, Session};
use crate::store::records::{AuthorRecord, UserRecord};
use chat_protocol::names::{self, MAX_LABEL_LEN};
use chat_protocol::{ErrorBody, ErrorCode, ResponseBody, Timestamp, TokenInfo, UserChange};
use std::sync::Arc;

pub(super) fn auth_failed() -> ErrorBody {
    refuse(
        ErrorCode::AuthFailed,
        "wrong username or password; check both and try again",
    )
}

fn disabled() -> ErrorBody {
    refuse(
        ErrorCode::AccountDisabled,
        "this account is disabled; ask a server admin to enable it",
    )
}

pub(super) async fn login(session: &Arc<Session>, username: String, password: String) -> Reply {
    if password.len() > names::MAX_PASSWORD_BYTES {
        // Refused before hashing, so a huge password costs no argon2 time.
        return Err(auth_failed());
    }
    let shared = &session.shared;
    let address = session.conn.remote_address().ip();
    let account = names::canonical(&username);
    // Throttled before any hashing: a flood costs the flooder time, not the
    // server memory (see crate::login).
    let _attempt = shared
        .logins
        .begin(address, &account, std::time::Instant::now())
        .map_err(|wait_ms| ErrorBody {
            code: ErrorCode::RateLimited,
            message: format!(
                "too many failed logins from your address or for this account; \
                 wait {} s and try again",
                wait_ms.div_ceil(1000)
            ),
            retry_after_ms: Some(wait_ms),
        })?;
    let found = session
        .shared
        .storage
        .user_by_name(username.clone())
        .await?;
    let verified = match found.as_ref().and_then(|(_, u)| u.password_hash.clone()) {
        Some(hash) => hash_job(session, move || auth::verify_password(&hash, &password)).await?,
        None => {
            // The same time as a real check, so a missing account or one
            // without a password cannot be told apart by timing.
            hash_job(session, move || auth::burn_verify(&password)).await?;
            false
        }
    };
    let (Some((id, user)), true) = (found, verified) else {
        shared
            .logins
            .failed(address, &account, std::time::Instant::now());
        return Err(auth_failed());
    };
    if user.disabled {
        return Err(disabled());
    }
    shared.logins.succeeded(&account);
    let (token_id, token) = session
        .shared
        .storage
        .mint_token(id, "login session".into(), false)
        .await?;
    tracing::info!(user = %user.username, "logged in");
    finish_login(session, id, &user, token_id, Some(token)).await
}

/// Runs argon2 work on the server's hashing pool (see `crate::login`).
pub(super) async fn hash_job<T: Send + 'static>(
    session: &Session,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ErrorBody> {
    session.shared.hash_pool.run(f).await.ok_or_else(|| {
        refuse(
            ErrorCode::Unavailable,
            "the server is stopping; try again in a moment",
        )
    })
}

pub(super) async fn authenticate(session: &Arc<Session>, token: String) -> Reply {
    let Some((token_id, secret)) = auth::parse_token(&token) else {
        return Err(refuse(
            ErrorCode::AuthFailed,
            "that is not a chat token (they look like chat_<id>_<secret>); log in again",
        ));
    };
    let secret = secret.to_string();
    let found = session
        .shared
        .storage
        .user_by_token(token_id, secret)
        .await?;
    let Some((id, user)) = found else {
        return Err(refuse(
            ErrorCode::AuthFailed,
            "that token is unknown or revoked; log in again or ask an admin for a new token",
        ));
    };
    if user.disabled {
        return Err(disabled());
    }
    finish_login(session, id, &user, token_id, None).await
}

/// Marks the session authenticated as `user` (with the users they block)
/// and builds the `LoggedIn` answer.
async fn finish_login(
    session: &Arc<Session>,
    id: u64,
    user: &UserRecord,
    token_id: u64,
    token: Option<String>,
) -> Reply {
    let blocked = load_blocked(session, id).await?;
    session.set_authed(
        Authed {
            user: id,
            username: user.username.clone(),
            admin: user.admin,
            token_id,
        },
        blocked,
    );
    Ok(ResponseBody::LoggedIn {
        user: user.to_wire(id),
        token,
    })
}

async fn load_blocked(
    session: &Session,
    user: u64,
) -> Result<std::collections::HashSet<u64>, ErrorBody> {
    Ok(session.shared.storage.blocked_ids(user).await?)
}

pub(super) async fn logout(session: &Arc<Session>) -> Reply {
    let a = session.authed()?;
    // This session ends its login first, so the account change below does
    // not close its connection (which stays open, logged out); the user's
    // other connections resumed with the same token are closed.
    session.clear_authed();
    session.shared.storage.logout(a.caller()).await?;
    Ok(ResponseBody::Ok)
}

pub(super) async fn who_am_i(session: &Arc<Session>) -> Reply {
    let a = session.authed()?;
    let user = session
        .shared
        .storage
        .user_by_id(a.user)
        .await?
        .ok_or_else(|| refuse(ErrorCode::NotFound, "your account no longer exists"))?;
    Ok(ResponseBody::User(user.to_wire(a.user)))
}

pub(super) async fn create_user(
    session: &Arc<Session>,
    username: String,
    password: Option<String>,
    display_name: String,
    org: String,
    admin: bool,
) -> Reply {
    let a = require_admin(session).await?;
    names::validate_username(&username)?;
    names::validate_label("display name", &display_name, MAX_LABEL_LEN)?;
    names::validate_label("organization", &org, MAX_LABEL_LEN)?;
    let password_hash = match password {
        Some(p) => {
            names::validate_password(&p)?;
            Some(
                hash_job(session, move || auth::hash_password(&p))
                    .await?
                    .map_err(super::internal)?,
            )
        }
        None => None,
    };
    let rec = UserRecord {
        display_name: if display_name.is_empty() {
            username.clone()
        } else {
            display_name
        },
        username,
        org,
        admin,
        disabled: false,
        password_hash,
        created_at: Timestamp::now().0,
        last_seen: None,
    };
    let wire = rec.clone();
    let id = session.shared.storage.create_user(a.caller(), rec).await?;
    tracing::info!(user = %wire.username, "account created");
    Ok(ResponseBody::User(wire.to_wire(id)))
}

pub(super) async fn list_users(session: &Arc<Session>, filter: Option<String>) -> Reply {
    let a = fresh(session).await?;
    let needle = filter.map(|q| q.to_lowercase());
    let users = session
        .shared
        .storage
        .users(a.user, a.admin, needle)
        .await?;
    Ok(ResponseBody::Users(users))
}

/// `ListUsersPage`: as [`list_users`], one page at a time in account-id
/// order, capped by count and bytes (`crate::page`).
pub(super) async fn list_users_page(
    session: &Arc<Session>,
    filter: Option<String>,
    page: chat_protocol::PageRequest,
) -> Reply {
    crate::page::check(&page)?;
    let a = fresh(session).await?;
    let needle = filter.map(|q| q.to_lowercase());
    let users = session
        .shared
        .storage
        .users_page(a.user, a.admin, needle, page)
        .await?;
    Ok(ResponseBody::UsersPage(users))
}

async fn find_user(session: &Session, username: String) -> Result<(u64, UserRecord), ErrorBody> {
    session
        .shared
        .storage
        .user_by_name(username.clone())
        .await?
        .ok_or_else(|| no_such_user(&username))
}

/// The error for an unknown username.
pub(crate) use crate::store::ops::users::no_such_user;

pub(super) async fn get_user(session: &Arc<Session>, username: String) -> Reply {
    let a = fresh(session).await?;
    let (id, user) = find_user(session, username).await?;
    Ok(ResponseBody::User(user.to_wire_for(id, a.user, a.admin)))
}

pub(super) async fn update_user(
    session: &Arc<Session>,
    username: String,
    change: UserChange,
) -> Reply {
    let a = require_admin(session).await?;
    let new_hash = match &change {
        UserChange::Password(p) => {
            names::validate_password(p)?;
            let p = p.clone();
            Some(
                hash_job(session, move || auth::hash_password(&p))
                    .await?
                    .map_err(super::internal)?,
            )
        }
        UserChange::Org(o) => {
            names::validate_label("organization", o, MAX_LABEL_LEN)?;
            None
        }
        UserChange::DisplayName(d) => {
            names::validate_label("display name", d, MAX_LABEL_LEN)?;
            None
        }
        _ => None,
    };
    let (id, _) = find_user(session, username).await?;
    let updated = session
        .shared
        .storage
        .update_user(a.caller(), id, change, new_hash)
        .await?;
    Ok(ResponseBody::User(updated.to_wire(id)))
}

pub(super) async fn create_token(session: &Arc<Session>, username: String, label: String) -> Reply {
    let a = require_admin(session).await?;
    names::validate_label("token label", &label, MAX_LABEL_LEN)?;
    let (id, user) = find_user(session, username).await?;
    let target = AuthorRecord::of(id, &user);
    let (token_id, secret) = session
        .shared
        .storage
        .create_token(a.caller(), target, label.clone())
        .await?;
    Ok(ResponseBody::TokenCreated {
        info: TokenInfo {
            id: token_id,
            user: crate::store::records::AuthorRecord::of(id, &user).to_wire(),
            label,
            created_at: Timestamp::now(),
            api: true,
        },
        secret,
    })
}

pub(super) async fn list_tokens(session: &Arc<Session>, username: Option<String>) -> Reply {
    require_admin(session).await?;
    let only = match username {
        Some(u) => Some(find_user(session, u).await?.0),
        None => None,
    };
    let tokens = session.shared.storage.tokens(only).await?;
    Ok(ResponseBody::Tokens(tokens))
}

/// `ListTokensPage`: as [`list_tokens`], one page at a time in token-id
/// order, capped by count and bytes.
pub(super) async fn list_tokens_page(
    session: &Arc<Session>,
    username: Option<String>,
    page: chat_protocol::PageRequest,
) -> Reply {
    crate::page::check(&page)?;
    require_admin(session).await?;
    let only = match username {
        Some(u) => Some(find_user(session, u).await?.0),
        None => None,
    };
    let tokens = session.shared.storage.tokens_page(only, page).await?;
    Ok(ResponseBody::TokensPage(tokens))
}

pub(super) async fn revoke_token(session: &Arc<Session>, id: u64) -> Reply {
    let a = session.authed()?;
    session.shared.storage.revoke_token(a.caller(), id).await?;
    Ok(ResponseBody::Ok)
}
