//! Sessions, accounts and tokens.

use super::access::{actor, admin_actor, fresh};
use super::{Reply, refuse, require_admin};
use crate::auth;
use crate::fanout::Effect;
use crate::session::{Authed, Session};
use crate::store::query;
use crate::store::records::{AuthorRecord, TokenRecord, UserRecord, encode};
use crate::store::tables::meta;
use crate::store::{StoreError, WriteCtx, WriteError};
use chat_protocol::names::{self, MAX_LABEL_LEN};
use chat_protocol::{ErrorBody, ErrorCode, ResponseBody, Timestamp, TokenInfo, UserChange};
use redb::ReadableTable;
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
    let lookup = username.clone();
    let found = session
        .read(move |r| match query::user_id(&r.usernames, &lookup)? {
            Some(id) => Ok(query::user(&r.users, id)?.map(|u| (id, u))),
            None => Ok(None),
        })
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
        .write(move |ctx| mint_token(ctx, id, "login session".into(), false))
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

/// Stores a new token for `user`; returns its id and the secret string.
pub(crate) fn mint_token(
    ctx: &mut WriteCtx<'_>,
    user: u64,
    label: String,
    api: bool,
) -> Result<(u64, String), WriteError> {
    let id = ctx.next_id(meta::NEXT_TOKEN)?;
    let minted = auth::new_token(id);
    let rec = TokenRecord {
        user,
        digest: minted.digest,
        label,
        api,
        created_at: Timestamp::now().0,
    };
    ctx.tokens.insert(id, encode(&rec)?.as_slice())?;
    Ok((id, minted.token))
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
        .read(move |r| {
            let Some(tok) = query::token(&r.tokens, token_id)? else {
                return Ok(None);
            };
            if !auth::secret_matches(&tok.digest, &secret) {
                return Ok(None);
            }
            Ok(query::user(&r.users, tok.user)?.map(|u| (tok.user, u)))
        })
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
    Ok(session
        .read(move |r| query::blocked_by(&r.blocks, user))
        .await?)
}

pub(super) async fn logout(session: &Arc<Session>) -> Reply {
    let a = session.authed()?;
    // This session ends its login first, so the account change below does
    // not close its connection (which stays open, logged out); the user's
    // other connections resumed with the same token are closed.
    session.clear_authed();
    session
        .write(move |ctx| {
            let api = query::token(&ctx.tokens, a.token_id)?.is_some_and(|t| t.api);
            // Logging out ends a login session; API tokens are revoked explicitly.
            if !api {
                ctx.tokens.remove(a.token_id)?;
                ctx.effects.push(Effect::Account { user: a.user });
            }
            Ok(())
        })
        .await?;
    Ok(ResponseBody::Ok)
}

pub(super) async fn who_am_i(session: &Arc<Session>) -> Reply {
    let a = session.authed()?;
    let user = session
        .read(move |r| query::user(&r.users, a.user))
        .await?
        .ok_or_else(|| refuse(ErrorCode::NotFound, "your account no longer exists"))?;
    Ok(ResponseBody::User(user.to_wire(a.user)))
}

/// Creates an account inside a writer job.
///
/// # Errors
/// [`ErrorCode::Conflict`] if the username is taken.
pub(crate) fn insert_user(ctx: &mut WriteCtx<'_>, user: UserRecord) -> Result<u64, WriteError> {
    let canon = names::canonical(&user.username);
    if ctx.usernames.get(canon.as_str())?.is_some() {
        return Err(refuse(
            ErrorCode::Conflict,
            format!("username {:?} is taken; choose another", user.username),
        )
        .into());
    }
    let id = ctx.next_id(meta::NEXT_USER)?;
    ctx.usernames.insert(canon.as_str(), id)?;
    ctx.users.insert(id, encode(&user)?.as_slice())?;
    Ok(id)
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
    let id = session
        .write(move |ctx| {
            let me = admin_actor(ctx, &a)?;
            let detail = format!(
                "created with org {:?}, display name {:?}, admin {}, {}",
                rec.org,
                rec.display_name,
                rec.admin,
                if rec.password_hash.is_some() {
                    "a password"
                } else {
                    "no password"
                }
            );
            let target = AuthorRecord::of(0, &rec);
            let id = insert_user(ctx, rec.clone())?;
            let target = AuthorRecord { id, ..target };
            account_audit(ctx, a.user, &me, target, "user-create", &detail)?;
            Ok(id)
        })
        .await?;
    tracing::info!(user = %wire.username, "account created");
    Ok(ResponseBody::User(wire.to_wire(id)))
}

pub(super) async fn list_users(session: &Arc<Session>, filter: Option<String>) -> Reply {
    let a = fresh(session).await?;
    let needle = filter.map(|q| q.to_lowercase());
    let users = session
        .read(move |r| {
            let mut out = Vec::new();
            for entry in r.users.iter()? {
                let (k, v) = entry?;
                let u: UserRecord = crate::store::records::decode(v.value())?;
                let hit = needle.as_deref().is_none_or(|n| {
                    u.username.to_lowercase().contains(n)
                        || u.display_name.to_lowercase().contains(n)
                        || u.org.to_lowercase().contains(n)
                });
                if hit {
                    out.push(u.to_wire_for(k.value(), a.user, a.admin));
                }
            }
            Ok(out)
        })
        .await?;
    Ok(ResponseBody::Users(users))
}

/// `ListUsersPage`: as [`list_users`], one page at a time in account-id
/// order, capped by count and bytes (`handlers::page`).
pub(super) async fn list_users_page(
    session: &Arc<Session>,
    filter: Option<String>,
    page: chat_protocol::PageRequest,
) -> Reply {
    super::page::check(&page)?;
    let a = fresh(session).await?;
    let needle = filter.map(|q| q.to_lowercase());
    let users = session
        .read(move |r| {
            let mut out = super::page::PageBuilder::new(page.limit);
            let from = page.after.map_or(0, |k| k.saturating_add(1));
            for entry in r.users.range(from..)? {
                let (k, v) = entry?;
                let u: UserRecord = crate::store::records::decode(v.value())?;
                let hit = needle.as_deref().is_none_or(|n| {
                    u.username.to_lowercase().contains(n)
                        || u.display_name.to_lowercase().contains(n)
                        || u.org.to_lowercase().contains(n)
                });
                if hit && !out.offer(k.value(), u.to_wire_for(k.value(), a.user, a.admin)) {
                    break;
                }
            }
            Ok(out.finish())
        })
        .await?;
    Ok(ResponseBody::UsersPage(users))
}

async fn find_user(session: &Session, username: String) -> Result<(u64, UserRecord), ErrorBody> {
    let name = username.clone();
    session
        .read(move |r| match query::user_id(&r.usernames, &name)? {
            Some(id) => Ok(query::user(&r.users, id)?.map(|u| (id, u))),
            None => Ok(None),
        })
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
        .write(move |ctx| {
            let me = admin_actor(ctx, &a)?;
            let mut user = query::user(&ctx.users, id)?
                .ok_or_else(|| refuse(ErrorCode::NotFound, "the account was deleted"))?;
            let (action, detail, end_sessions) = match change.clone() {
                UserChange::Disabled(d) => {
                    let was = std::mem::replace(&mut user.disabled, d);
                    let action = if d { "user-disable" } else { "user-enable" };
                    (action, format!("disabled: {was} -> {d}"), d)
                }
                UserChange::Admin(admin) => {
                    let was = std::mem::replace(&mut user.admin, admin);
                    let action = if admin {
                        "user-admin-grant"
                    } else {
                        "user-admin-revoke"
                    };
                    (action, format!("admin: {was} -> {admin}"), false)
                }
                UserChange::Org(o) => {
                    let was = std::mem::replace(&mut user.org, o.clone());
                    ("user-org", format!("org: {was:?} -> {o:?}"), false)
                }
                UserChange::DisplayName(d) => {
                    let was = std::mem::replace(&mut user.display_name, d.clone());
                    (
                        "user-display-name",
                        format!("display name: {was:?} -> {d:?}"),
                        false,
                    )
                }
                UserChange::Password(_) => {
                    user.password_hash = new_hash.clone();
                    (
                        "user-password-reset",
                        "password reset; login sessions ended".to_owned(),
                        true,
                    )
                }
            };
            if end_sessions {
                remove_login_sessions(ctx, id, None)?;
            }
            ctx.users.insert(id, encode(&user)?.as_slice())?;
            account_audit(
                ctx,
                a.user,
                &me,
                AuthorRecord::of(id, &user),
                action,
                &detail,
            )?;
            // Every open session of the user checks its rights again: a
            // disabled account or a removed token ends it, a changed admin
            // flag is picked up (see session::guard).
            ctx.effects.push(Effect::Account { user: id });
            Ok(user)
        })
        .await?;
    Ok(ResponseBody::User(updated.to_wire(id)))
}

/// Removes `user`'s login-session tokens (API tokens stay), except `keep`.
pub(super) fn remove_login_sessions(
    ctx: &mut WriteCtx<'_>,
    user: u64,
    keep: Option<u64>,
) -> Result<(), StoreError> {
    let mut doomed = Vec::new();
    for entry in ctx.tokens.iter()? {
        let (k, v) = entry?;
        let t: TokenRecord = crate::store::records::decode(v.value())?;
        if t.user == user && !t.api && keep != Some(k.value()) {
            doomed.push(k.value());
        }
    }
    for id in doomed {
        ctx.tokens.remove(id)?;
    }
    Ok(())
}

pub(super) async fn create_token(session: &Arc<Session>, username: String, label: String) -> Reply {
    let a = require_admin(session).await?;
    names::validate_label("token label", &label, MAX_LABEL_LEN)?;
    let (id, user) = find_user(session, username).await?;
    let label2 = label.clone();
    let target = AuthorRecord::of(id, &user);
    let (token_id, secret) = session
        .write(move |ctx| {
            let me = admin_actor(ctx, &a)?;
            let (token_id, secret) = mint_token(ctx, id, label2.clone(), true)?;
            let detail = format!("API token {token_id} labelled {label2:?}");
            account_audit(ctx, a.user, &me, target.clone(), "token-create", &detail)?;
            Ok((token_id, secret))
        })
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
    let tokens = session
        .read(move |r| {
            let mut out = Vec::new();
            for entry in r.tokens.iter()? {
                let (k, v) = entry?;
                let t: TokenRecord = crate::store::records::decode(v.value())?;
                if only.is_some_and(|u| u != t.user) {
                    continue;
                }
                let Some(user) = query::user(&r.users, t.user)? else {
                    continue;
                };
                out.push(TokenInfo {
                    id: k.value(),
                    user: crate::store::records::AuthorRecord::of(t.user, &user).to_wire(),
                    label: t.label,
                    created_at: Timestamp(t.created_at),
                    api: t.api,
                });
            }
            Ok(out)
        })
        .await?;
    Ok(ResponseBody::Tokens(tokens))
}

/// `ListTokensPage`: as [`list_tokens`], one page at a time in token-id
/// order, capped by count and bytes.
pub(super) async fn list_tokens_page(
    session: &Arc<Session>,
    username: Option<String>,
    page: chat_protocol::PageRequest,
) -> Reply {
    super::page::check(&page)?;
    require_admin(session).await?;
    let only = match username {
        Some(u) => Some(find_user(session, u).await?.0),
        None => None,
    };
    let tokens = session
        .read(move |r| {
            let mut out = super::page::PageBuilder::new(page.limit);
            let from = page.after.map_or(0, |k| k.saturating_add(1));
            for entry in r.tokens.range(from..)? {
                let (k, v) = entry?;
                let t: TokenRecord = crate::store::records::decode(v.value())?;
                if only.is_some_and(|u| u != t.user) {
                    continue;
                }
                let Some(user) = query::user(&r.users, t.user)? else {
                    continue;
                };
                let info = TokenInfo {
                    id: k.value(),
                    user: crate::store::records::AuthorRecord::of(t.user, &user).to_wire(),
                    label: t.label,
                    created_at: Timestamp(t.created_at),
                    api: t.api,
                };
                if !out.offer(k.value(), info) {
                    break;
                }
            }
            Ok(out.finish())
        })
        .await?;
    Ok(ResponseBody::TokensPage(tokens))
}

pub(super) async fn revoke_token(session: &Arc<Session>, id: u64) -> Reply {
    let a = session.authed()?;
    session
        .write(move |ctx| {
            let tok = query::token(&ctx.tokens, id)?.ok_or_else(|| {
                refuse(
                    ErrorCode::NotFound,
                    format!("no token with id {id}; list tokens to see ids"),
                )
            })?;
            let (me, admin) = actor(ctx, &a)?;
            if tok.user != a.user && !admin {
                return Err(refuse(
                    ErrorCode::Forbidden,
                    "only the token's owner or a server admin may revoke it",
                )
                .into());
            }
            ctx.tokens.remove(id)?;
            let owner = query::user(&ctx.users, tok.user)?
                .map(|u| AuthorRecord::of(tok.user, &u))
                .unwrap_or_else(|| AuthorRecord {
                    id: tok.user,
                    username: String::new(),
                    display_name: String::new(),
                    org: String::new(),
                });
            let kind = if tok.api {
                "API token"
            } else {
                "login session token"
            };
            let detail = format!("{kind} {id} labelled {:?}", tok.label);
            account_audit(ctx, a.user, &me, owner, "token-revoke", &detail)?;
            ctx.effects.push(Effect::Account { user: tok.user });
            Ok(())
        })
        .await?;
    Ok(ResponseBody::Ok)
}

/// Records an account or admin action in the audit trail: who acted, on
/// whom, and what changed (the record's `reason` holds the change).
pub(super) fn account_audit(
    ctx: &mut WriteCtx<'_>,
    actor_id: u64,
    actor: &UserRecord,
    target: AuthorRecord,
    action: &str,
    detail: &str,
) -> Result<(), WriteError> {
    super::notify::audit(
        ctx,
        &AuthorRecord::of(actor_id, actor),
        None,
        Some(target),
        action,
        detail,
    )
}
