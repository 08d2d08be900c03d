//! Users and tokens: accounts, usernames, API and login tokens.

use chat_protocol::{ErrorBody, ErrorCode};

/// The refusal for a username that names no account.
pub fn no_such_user(username: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::NotFound,
        format!("no user named {username:?}; check the spelling or list users"),
    )
}
