//! Naming rules for usernames and room names, and the password cap.
//!
//! Both servers and clients call these, so a client can refuse a bad name
//! before a round trip and the rules live in one place.

use crate::{ErrorBody, ErrorCode};

/// Longest username, in bytes (all allowed characters are ASCII).
pub const MAX_USERNAME_LEN: usize = 32;
/// Longest room name, in bytes.
pub const MAX_ROOM_NAME_LEN: usize = 64;
/// Longest display name or organization, in bytes of UTF-8.
pub const MAX_LABEL_LEN: usize = 128;
/// Longest room topic, in bytes of UTF-8.
pub const MAX_TOPIC_LEN: usize = 1024;
/// Longest accepted password, in bytes. Checked before hashing so a huge
/// password cannot cost the server argon2 time (OWASP Password Storage Cheat
/// Sheet: cap input length to bound hashing cost).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Shortest accepted password, in characters (NIST SP 800-63B §5.1.1.2
/// sets 8 as the minimum for user-chosen secrets).
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Checks a username: 1 to [`MAX_USERNAME_LEN`] characters from
/// `A-Z a-z 0-9 _ . -`, starting with a letter or digit. Usernames are
/// unique without regard to case; [`canonical`] gives the form compared.
///
/// # Errors
/// [`ErrorCode::InvalidName`] with a sentence naming the broken rule.
pub fn validate_username(name: &str) -> Result<(), ErrorBody> {
    validate(name, "username", MAX_USERNAME_LEN)
}

/// Checks a room name: the same character rules as usernames, up to
/// [`MAX_ROOM_NAME_LEN`] characters. Room names are unique without regard to case.
///
/// # Errors
/// [`ErrorCode::InvalidName`] with a sentence naming the broken rule.
pub fn validate_room_name(name: &str) -> Result<(), ErrorBody> {
    validate(name, "room name", MAX_ROOM_NAME_LEN)
}

/// The form in which names are compared and stored as keys: ASCII lowercase.
pub fn canonical(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Checks a display name, organization or topic: at most `max` bytes and no
/// control characters other than none at all (labels are single-line).
///
/// # Errors
/// [`ErrorCode::TooLarge`] or [`ErrorCode::InvalidName`].
pub fn validate_label(what: &str, value: &str, max: usize) -> Result<(), ErrorBody> {
    if value.len() > max {
        return Err(ErrorBody::new(
            ErrorCode::TooLarge,
            format!("{what} is {} bytes; the limit is {max}", value.len()),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ErrorBody::new(
            ErrorCode::InvalidName,
            format!("{what} must be a single line without control characters"),
        ));
    }
    Ok(())
}

/// Checks a new password's length.
///
/// # Errors
/// [`ErrorCode::TooLarge`] over [`MAX_PASSWORD_BYTES`];
/// [`ErrorCode::BadRequest`] under [`MIN_PASSWORD_CHARS`].
pub fn validate_password(password: &str) -> Result<(), ErrorBody> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ErrorBody::new(
            ErrorCode::TooLarge,
            format!("password is longer than {MAX_PASSWORD_BYTES} bytes; choose a shorter one"),
        ));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ErrorBody::new(
            ErrorCode::BadRequest,
            format!("password must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

fn validate(name: &str, what: &str, max: usize) -> Result<(), ErrorBody> {
    let bad = |why: String| Err(ErrorBody::new(ErrorCode::InvalidName, why));
    if name.is_empty() {
        return bad(format!("{what} must not be empty"));
    }
    if name.len() > max {
        return bad(format!("{what} {name:?} is longer than {max} characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return bad(format!("{what} {name:?} must start with a letter or digit"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return bad(format!(
            "{what} {name:?} contains {c:?}; use only letters, digits, '_', '.' and '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(validate_username("alice").is_ok());
        assert!(validate_username("Dr.Who-2_x").is_ok());
        for bad in ["", "-x", "a b", "|QuaD-", "é", &"a".repeat(33)] {
            let err = validate_username(bad).expect_err(bad);
            assert_eq!(err.code, ErrorCode::InvalidName, "{bad}");
        }
        assert_eq!(canonical("Alice"), "alice");
    }

    #[test]
    fn passwords() {
        assert!(validate_password("correct horse").is_ok());
        assert_eq!(
            validate_password("short").map_err(|e| e.code),
            Err(ErrorCode::BadRequest)
        );
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(
            validate_password(&long).map_err(|e| e.code),
            Err(ErrorCode::TooLarge)
        );
    }
}
