//! Users and tokens: the boundary's traits and their redb implementation.

use super::*;

/// Users and tokens ([`ops::users`], [`ops::rights`]): accounts,
/// usernames (unique, compared in canonical case), login and API tokens.
///
/// Contract: admin-only writes check that the caller is a server admin
/// now in the same transaction, and record an audit entry in it; writes
/// that take a right away (disable, password reset, token revoke, logout)
/// publish an account effect after the commit, so every session of the
/// account re-reads its rights. Secrets are never stored: tokens as a
/// digest, passwords as an argon2 hash computed by the caller.
pub trait UsersAndTokens: Send + Sync {
    /// The rights of `caller`'s session as storage has them now (its
    /// token exists and belongs to it, its account exists and is enabled,
    /// whether it is a server admin).
    ///
    /// # Errors
    /// A storage failure.
    fn rights(&self, caller: Caller) -> StoreFuture<'_, ops::rights::Rights>;

    /// An account by username (any case), with its id.
    ///
    /// # Errors
    /// A storage failure.
    fn user_by_name(&self, username: String) -> StoreFuture<'_, Option<(u64, UserRecord)>>;

    /// An account by id.
    ///
    /// # Errors
    /// A storage failure.
    fn user_by_id(&self, id: u64) -> StoreFuture<'_, Option<UserRecord>>;

    /// The account token `token_id` opens if `secret` matches it.
    ///
    /// # Errors
    /// A storage failure.
    fn user_by_token(
        &self,
        token_id: u64,
        secret: String,
    ) -> StoreFuture<'_, Option<(u64, UserRecord)>>;

    /// Stores a new token for `user`; returns its id and secret string.
    ///
    /// # Errors
    /// A storage failure.
    fn mint_token(&self, user: u64, label: String, api: bool) -> StoreFuture<'_, (u64, String)>;

    /// Ends `caller`'s login session (an API token stays).
    ///
    /// # Errors
    /// A storage failure.
    fn logout(&self, caller: Caller) -> StoreFuture<'_, ()>;

    /// A server admin creates an account; returns its id.
    ///
    /// # Errors
    /// `Unauthenticated`, `Forbidden`, `Conflict`; a storage failure.
    fn create_user(&self, caller: Caller, user: UserRecord) -> StoreFuture<'_, u64>;

    /// Accounts matching `needle` (lower case), as `viewer` may see them.
    ///
    /// # Errors
    /// A storage failure.
    fn users(
        &self,
        viewer: u64,
        viewer_admin: bool,
        needle: Option<String>,
    ) -> StoreFuture<'_, Vec<proto::UserInfo>>;

    /// As [`UsersAndTokens::users`], one page in account-id order.
    ///
    /// # Errors
    /// A storage failure.
    fn users_page(
        &self,
        viewer: u64,
        viewer_admin: bool,
        needle: Option<String>,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::UserInfo>>;

    /// A server admin changes account `id` (`new_hash` for a password).
    ///
    /// # Errors
    /// `Unauthenticated`, `Forbidden`, `NotFound`; a storage failure.
    fn update_user(
        &self,
        caller: Caller,
        id: u64,
        change: proto::UserChange,
        new_hash: Option<String>,
    ) -> StoreFuture<'_, UserRecord>;

    /// A server admin creates an API token for `target`.
    ///
    /// # Errors
    /// `Unauthenticated`, `Forbidden`; a storage failure.
    fn create_token(
        &self,
        caller: Caller,
        target: AuthorRecord,
        label: String,
    ) -> StoreFuture<'_, (u64, String)>;

    /// Tokens (of account `only`), without secrets.
    ///
    /// # Errors
    /// A storage failure.
    fn tokens(&self, only: Option<u64>) -> StoreFuture<'_, Vec<proto::TokenInfo>>;

    /// As [`UsersAndTokens::tokens`], one page in token-id order.
    ///
    /// # Errors
    /// A storage failure.
    fn tokens_page(
        &self,
        only: Option<u64>,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::TokenInfo>>;

    /// Revokes token `id` (its owner or a server admin).
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`, `Unauthenticated`; a storage failure.
    fn revoke_token(&self, caller: Caller, id: u64) -> StoreFuture<'_, ()>;

    /// The caller sets their own password hash; their other login
    /// sessions end.
    ///
    /// # Errors
    /// `Unauthenticated`; a storage failure.
    fn change_password(&self, caller: Caller, new_hash: String) -> StoreFuture<'_, ()>;

    /// The caller sets their own display name (empty: the username).
    ///
    /// # Errors
    /// `Unauthenticated`; a storage failure.
    fn set_display_name(&self, caller: Caller, display_name: String)
    -> StoreFuture<'_, UserRecord>;
}

impl UsersAndTokens for Store {
    fn rights(&self, caller: Caller) -> StoreFuture<'_, ops::rights::Rights> {
        Box::pin(self.read_op(move |txn| ops::rights::rights(txn, caller)))
    }

    fn user_by_name(&self, username: String) -> StoreFuture<'_, Option<(u64, UserRecord)>> {
        Box::pin(self.read_op(move |txn| ops::users::by_name(txn, &username)))
    }

    fn user_by_id(&self, id: u64) -> StoreFuture<'_, Option<UserRecord>> {
        Box::pin(self.read_op(move |txn| ops::users::by_id(txn, id)))
    }

    fn user_by_token(
        &self,
        token_id: u64,
        secret: String,
    ) -> StoreFuture<'_, Option<(u64, UserRecord)>> {
        Box::pin(self.read_op(move |txn| ops::users::by_token(txn, token_id, &secret)))
    }

    fn mint_token(&self, user: u64, label: String, api: bool) -> StoreFuture<'_, (u64, String)> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::users::mint_token(ctx, user, label.clone(), api)),
        )
    }

    fn logout(&self, caller: Caller) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::users::logout(ctx, caller)),
        )
    }

    fn create_user(&self, caller: Caller, user: UserRecord) -> StoreFuture<'_, u64> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::users::create(ctx, caller, &user)),
        )
    }

    fn users(
        &self,
        viewer: u64,
        viewer_admin: bool,
        needle: Option<String>,
    ) -> StoreFuture<'_, Vec<proto::UserInfo>> {
        Box::pin(
            self.read_op(move |txn| ops::users::list(txn, viewer, viewer_admin, needle.as_deref())),
        )
    }

    fn users_page(
        &self,
        viewer: u64,
        viewer_admin: bool,
        needle: Option<String>,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::UserInfo>> {
        Box::pin(self.read_op(move |txn| {
            ops::users::list_page(txn, viewer, viewer_admin, needle.as_deref(), page)
        }))
    }

    fn update_user(
        &self,
        caller: Caller,
        id: u64,
        change: proto::UserChange,
        new_hash: Option<String>,
    ) -> StoreFuture<'_, UserRecord> {
        Box::pin(
            self.writer().write(move |ctx| {
                ops::users::update(ctx, caller, id, &change, new_hash.as_deref())
            }),
        )
    }

    fn create_token(
        &self,
        caller: Caller,
        target: AuthorRecord,
        label: String,
    ) -> StoreFuture<'_, (u64, String)> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::users::create_token(ctx, caller, &target, &label)),
        )
    }

    fn tokens(&self, only: Option<u64>) -> StoreFuture<'_, Vec<proto::TokenInfo>> {
        Box::pin(self.read_op(move |txn| ops::users::tokens(txn, only)))
    }

    fn tokens_page(
        &self,
        only: Option<u64>,
        page: PageRequest,
    ) -> StoreFuture<'_, Page<proto::TokenInfo>> {
        Box::pin(self.read_op(move |txn| ops::users::tokens_page(txn, only, page)))
    }

    fn revoke_token(&self, caller: Caller, id: u64) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::users::revoke_token(ctx, caller, id)),
        )
    }

    fn change_password(&self, caller: Caller, new_hash: String) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::users::change_password(ctx, caller, &new_hash)),
        )
    }

    fn set_display_name(
        &self,
        caller: Caller,
        display_name: String,
    ) -> StoreFuture<'_, UserRecord> {
        Box::pin(
            self.writer()
                .write(move |ctx| ops::users::set_display_name(ctx, caller, &display_name)),
        )
    }
}
