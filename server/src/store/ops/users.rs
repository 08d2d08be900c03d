//! Users and tokens: accounts, usernames, API and login tokens, and the
//! audit records of account changes. Admin-only operations check, in their
//! own transaction, that the caller is a server admin now
//! ([`super::rights::admin_actor`]).

use super::Caller;
use super::rights::{actor, admin_actor};
use crate::auth;
use crate::fanout::Effect;
use crate::page::PageBuilder;
use crate::store::kv::{KvRead, ReadTx};
use crate::store::query::{self, Reader};
use crate::store::records::{AuthorRecord, TokenRecord, UserRecord, decode, encode};
use crate::store::tables::meta;
use crate::store::{StoreError, WriteCtx, WriteError};
use chat_protocol::{
    ErrorBody, ErrorCode, Page, PageRequest, Timestamp, TokenInfo, UserChange, UserInfo, names,
};

/// The refusal for a username that names no account.
pub fn no_such_user(username: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::NotFound,
        format!("no user named {username:?}; check the spelling or list users"),
    )
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(code, message)
}

/// An account by username (any case), with its id.
///
/// # Errors
/// A storage failure.
pub fn by_name(txn: &ReadTx, username: &str) -> Result<Option<(u64, UserRecord)>, WriteError> {
    let r = Reader::open(txn)?;
    match query::user_id(&r.usernames, username)? {
        Some(id) => Ok(query::user(&r.users, id)?.map(|u| (id, u))),
        None => Ok(None),
    }
}

/// An account by id.
///
/// # Errors
/// A storage failure.
pub fn by_id(txn: &ReadTx, id: u64) -> Result<Option<UserRecord>, WriteError> {
    Ok(query::user(&Reader::open(txn)?.users, id)?)
}

/// The account a token string's id and secret open: `None` when the
/// token is unknown or revoked, or the secret does not match.
///
/// # Errors
/// A storage failure.
pub fn by_token(
    txn: &ReadTx,
    token_id: u64,
    secret: &str,
) -> Result<Option<(u64, UserRecord)>, WriteError> {
    let r = Reader::open(txn)?;
    let Some(tok) = query::token(&r.tokens, token_id)? else {
        return Ok(None);
    };
    if !auth::secret_matches(&tok.digest, secret) {
        return Ok(None);
    }
    Ok(query::user(&r.users, tok.user)?.map(|u| (tok.user, u)))
}

/// Stores a new token for `user`; returns its id and the secret string.
///
/// # Errors
/// A storage failure.
pub fn mint_token(
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

/// Ends `caller`'s login session: removes its token unless it is an API
/// token (those are revoked explicitly), and wakes the user's other
/// sessions' rights guards.
///
/// # Errors
/// A storage failure.
pub fn logout(ctx: &mut WriteCtx<'_>, caller: Caller) -> Result<(), WriteError> {
    let api = query::token(&ctx.tokens, caller.token)?.is_some_and(|t| t.api);
    if !api {
        ctx.tokens.remove(caller.token)?;
        ctx.effects.push(Effect::Account { user: caller.user });
    }
    Ok(())
}

/// Creates an account inside a writer job.
///
/// # Errors
/// [`ErrorCode::Conflict`] if the username is taken.
pub fn insert_user(ctx: &mut WriteCtx<'_>, user: UserRecord) -> Result<u64, WriteError> {
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

/// Records an account or admin action in the audit trail: who acted, on
/// whom, and what changed (the record's `reason` holds the change).
///
/// # Errors
/// A storage failure.
pub fn account_audit(
    ctx: &mut WriteCtx<'_>,
    actor_id: u64,
    actor: &UserRecord,
    target: AuthorRecord,
    action: &str,
    detail: &str,
) -> Result<(), WriteError> {
    super::audit::record(
        ctx,
        &AuthorRecord::of(actor_id, actor),
        None,
        Some(target),
        action,
        detail,
    )
}

/// A server admin creates the account `rec`; returns its id. Audited.
///
/// # Errors
/// `Unauthenticated`, `Forbidden`, `Conflict` (username taken); a storage
/// failure.
pub fn create(ctx: &mut WriteCtx<'_>, caller: Caller, rec: &UserRecord) -> Result<u64, WriteError> {
    let me = admin_actor(ctx, caller)?;
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
    let target = AuthorRecord::of(0, rec);
    let id = insert_user(ctx, rec.clone())?;
    let target = AuthorRecord { id, ..target };
    account_audit(ctx, caller.user, &me, target, "user-create", &detail)?;
    Ok(id)
}

fn matches(u: &UserRecord, needle: Option<&str>) -> bool {
    needle.is_none_or(|n| {
        u.username.to_lowercase().contains(n)
            || u.display_name.to_lowercase().contains(n)
            || u.org.to_lowercase().contains(n)
    })
}

/// Every account whose username, display name or organisation contains
/// `needle` (lower case), as `viewer` may see it.
///
/// # Errors
/// A storage failure.
pub fn list(
    txn: &ReadTx,
    viewer: u64,
    viewer_admin: bool,
    needle: Option<&str>,
) -> Result<Vec<UserInfo>, WriteError> {
    let r = Reader::open(txn)?;
    let mut out = Vec::new();
    for entry in r.users.iter()? {
        let (k, v) = entry?;
        let u: UserRecord = decode(v.value())?;
        if matches(&u, needle) {
            out.push(u.to_wire_for(k.value(), viewer, viewer_admin));
        }
    }
    Ok(out)
}

/// As [`list`], one page in account-id order.
///
/// # Errors
/// A storage failure.
pub fn list_page(
    txn: &ReadTx,
    viewer: u64,
    viewer_admin: bool,
    needle: Option<&str>,
    page: PageRequest,
) -> Result<Page<UserInfo>, WriteError> {
    let r = Reader::open(txn)?;
    let mut out = PageBuilder::new(page.limit);
    let from = page.after.map_or(0, |k| k.saturating_add(1));
    for entry in r.users.range(from..)? {
        let (k, v) = entry?;
        let u: UserRecord = decode(v.value())?;
        if matches(&u, needle)
            && !out.offer(k.value(), u.to_wire_for(k.value(), viewer, viewer_admin))
        {
            break;
        }
    }
    Ok(out.finish())
}

/// A server admin applies `change` to account `id` (`new_hash`: the
/// argon2 hash of a new password, for [`UserChange::Password`]); disabling
/// or a password reset ends the account's login sessions. Audited; the
/// account's sessions check their rights again after the commit.
///
/// # Errors
/// `Unauthenticated`, `Forbidden`, `NotFound`; a storage failure.
pub fn update(
    ctx: &mut WriteCtx<'_>,
    caller: Caller,
    id: u64,
    change: &UserChange,
    new_hash: Option<&str>,
) -> Result<UserRecord, WriteError> {
    let me = admin_actor(ctx, caller)?;
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
            user.password_hash = new_hash.map(str::to_owned);
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
        caller.user,
        &me,
        AuthorRecord::of(id, &user),
        action,
        &detail,
    )?;
    // Every open session of the user checks its rights again: a disabled
    // account or a removed token ends it, a changed admin flag is picked
    // up (see session::guard).
    ctx.effects.push(Effect::Account { user: id });
    Ok(user)
}

/// Removes `user`'s login-session tokens (API tokens stay), except `keep`.
///
/// # Errors
/// A storage failure.
pub fn remove_login_sessions(
    ctx: &mut WriteCtx<'_>,
    user: u64,
    keep: Option<u64>,
) -> Result<(), StoreError> {
    let mut doomed = Vec::new();
    for entry in ctx.tokens.iter()? {
        let (k, v) = entry?;
        let t: TokenRecord = decode(v.value())?;
        if t.user == user && !t.api && keep != Some(k.value()) {
            doomed.push(k.value());
        }
    }
    for id in doomed {
        ctx.tokens.remove(id)?;
    }
    Ok(())
}

/// A server admin creates an API token labelled `label` for `target`
/// (account `id`); returns its id and secret. Audited.
///
/// # Errors
/// `Unauthenticated`, `Forbidden`; a storage failure.
pub fn create_token(
    ctx: &mut WriteCtx<'_>,
    caller: Caller,
    target: &AuthorRecord,
    label: &str,
) -> Result<(u64, String), WriteError> {
    let me = admin_actor(ctx, caller)?;
    let (token_id, secret) = mint_token(ctx, target.id, label.to_owned(), true)?;
    let detail = format!("API token {token_id} labelled {label:?}");
    account_audit(
        ctx,
        caller.user,
        &me,
        target.clone(),
        "token-create",
        &detail,
    )?;
    Ok((token_id, secret))
}

fn token_info(r: &Reader, id: u64, t: TokenRecord) -> Result<Option<TokenInfo>, StoreError> {
    let Some(user) = query::user(&r.users, t.user)? else {
        return Ok(None);
    };
    Ok(Some(TokenInfo {
        id,
        user: AuthorRecord::of(t.user, &user).to_wire(),
        label: t.label,
        created_at: Timestamp(t.created_at),
        api: t.api,
    }))
}

/// Every token (of account `only`, if given), without secrets.
///
/// # Errors
/// A storage failure.
pub fn tokens(txn: &ReadTx, only: Option<u64>) -> Result<Vec<TokenInfo>, WriteError> {
    let r = Reader::open(txn)?;
    let mut out = Vec::new();
    for entry in r.tokens.iter()? {
        let (k, v) = entry?;
        let t: TokenRecord = decode(v.value())?;
        if only.is_some_and(|u| u != t.user) {
            continue;
        }
        if let Some(info) = token_info(&r, k.value(), t)? {
            out.push(info);
        }
    }
    Ok(out)
}

/// As [`tokens`], one page in token-id order.
///
/// # Errors
/// A storage failure.
pub fn tokens_page(
    txn: &ReadTx,
    only: Option<u64>,
    page: PageRequest,
) -> Result<Page<TokenInfo>, WriteError> {
    let r = Reader::open(txn)?;
    let mut out = PageBuilder::new(page.limit);
    let from = page.after.map_or(0, |k| k.saturating_add(1));
    for entry in r.tokens.range(from..)? {
        let (k, v) = entry?;
        let t: TokenRecord = decode(v.value())?;
        if only.is_some_and(|u| u != t.user) {
            continue;
        }
        if let Some(info) = token_info(&r, k.value(), t)?
            && !out.offer(k.value(), info)
        {
            break;
        }
    }
    Ok(out.finish())
}

/// Revokes token `id`: its owner or a server admin may. Audited; the
/// owner's sessions check their rights again after the commit.
///
/// # Errors
/// `NotFound`, `Forbidden`, `Unauthenticated`; a storage failure.
pub fn revoke_token(ctx: &mut WriteCtx<'_>, caller: Caller, id: u64) -> Result<(), WriteError> {
    let tok = query::token(&ctx.tokens, id)?.ok_or_else(|| {
        refuse(
            ErrorCode::NotFound,
            format!("no token with id {id}; list tokens to see ids"),
        )
    })?;
    let (me, admin) = actor(ctx, caller)?;
    if tok.user != caller.user && !admin {
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
    account_audit(ctx, caller.user, &me, owner, "token-revoke", &detail)?;
    ctx.effects.push(Effect::Account { user: tok.user });
    Ok(())
}

/// The caller sets their own password hash (`new_hash`, argon2); their
/// other login sessions end (this session's token is kept). Audited.
///
/// # Errors
/// `Unauthenticated` when the caller's rights are gone; a storage failure.
pub fn change_password(
    ctx: &mut WriteCtx<'_>,
    caller: Caller,
    new_hash: &str,
) -> Result<(), WriteError> {
    let (mut me, _) = actor(ctx, caller)?;
    me.password_hash = Some(new_hash.to_owned());
    remove_login_sessions(ctx, caller.user, Some(caller.token))?;
    ctx.users.insert(caller.user, encode(&me)?.as_slice())?;
    let target = AuthorRecord::of(caller.user, &me);
    account_audit(
        ctx,
        caller.user,
        &me,
        target,
        "user-password-change",
        "password changed by its owner; other login sessions ended",
    )?;
    // Wakes the guards of the user's other sessions, whose tokens are gone
    // now (see session::guard).
    ctx.effects.push(Effect::Account { user: caller.user });
    Ok(())
}

/// The caller sets their own display name (empty means the username).
/// Audited. Returns the account.
///
/// # Errors
/// `Unauthenticated`; a storage failure.
pub fn set_display_name(
    ctx: &mut WriteCtx<'_>,
    caller: Caller,
    display_name: &str,
) -> Result<UserRecord, WriteError> {
    let (mut me, _) = actor(ctx, caller)?;
    let new = if display_name.is_empty() {
        me.username.clone()
    } else {
        display_name.to_owned()
    };
    let was = std::mem::replace(&mut me.display_name, new.clone());
    ctx.users.insert(caller.user, encode(&me)?.as_slice())?;
    let target = AuthorRecord::of(caller.user, &me);
    let detail = format!("display name: {was:?} -> {new:?} (by its owner)");
    account_audit(ctx, caller.user, &me, target, "user-display-name", &detail)?;
    Ok(me)
}
