//! Naming rules for usernames and room names, and the password cap.
//!
//! Both servers and clients call these, so a client can refuse a bad name
//! before a round trip and the rules live in one place.
//!
//! # Room names
//!
//! Room names may use letters and digits of any script, so a Korean ward
//! can call its room `3병동`, but they must stay unambiguous: two names that
//! look the same must be the same name. Hence, for a room name:
//!
//! * It must be in Unicode Normalization Form C (UAX #15), the composed
//!   form keyboards produce; [`normalize`] gives it. A decomposed `병`
//!   (three conjoining jamo) is refused rather than stored beside the
//!   composed one, because some terminals draw it as three letters.
//! * Every character outside `A-Z a-z 0-9 _ . -` must be a letter, digit or
//!   combining mark that UTS #39's General Security Profile allows in
//!   identifiers (`Identifier_Status=Allowed`). That rules out controls,
//!   spaces, bidirectional controls, invisible characters (zero-width
//!   space and joiners, variation selectors, the Hangul fillers), and
//!   compatibility forms such as fullwidth `ｏｐｓ`.
//! * At most [`MAX_COMBINING_RUN`] combining marks in a row.
//! * Scripts may not be mixed in ways that allow look-alikes: UTS #39
//!   §5.2 "Highly Restrictive" — one script, or Latin with Han and
//!   Hiragana/Katakana, Han and Bopomofo, or Han and Hangul. `ward-3병동`
//!   passes; `pаypal` with a Cyrillic `а` does not.
//!
//! Names are unique after [`canonical`]: NFC, then lower case.
//! Usernames keep the stricter ASCII rules.

use crate::{ErrorBody, ErrorCode};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_security::general_security_profile::IdentifierType;
use unicode_security::{GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection};

/// Longest username, in bytes (all allowed characters are ASCII).
pub const MAX_USERNAME_LEN: usize = 32;
/// Longest room name, in bytes of UTF-8 (64 ASCII characters, 21 Hangul
/// syllables).
pub const MAX_ROOM_NAME_LEN: usize = 64;
/// Most combining marks allowed in a row in a room name (3): enough for
/// scripts that stack a vowel sign and a tone or nasal mark, too few to
/// smear a name over the lines around it.
pub const MAX_COMBINING_RUN: usize = 3;
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
    validate_ascii(name, "username", MAX_USERNAME_LEN, "ASCII letters")
}

/// Checks a room name against the rules in the module docs: 1 to
/// [`MAX_ROOM_NAME_LEN`] bytes, NFC, letters and digits of one script (or
/// an allowed CJK mix) plus `_ . -`, starting with a letter or digit.
/// Room names are unique after [`canonical`].
///
/// # Errors
/// [`ErrorCode::InvalidName`] with a sentence naming the broken rule and
/// the offending character's code point.
pub fn validate_room_name(name: &str) -> Result<(), ErrorBody> {
    let what = "room name";
    let bad = |why: String| Err(ErrorBody::new(ErrorCode::InvalidName, why));
    if name.is_empty() {
        return bad(format!("{what} must not be empty"));
    }
    if name.len() > MAX_ROOM_NAME_LEN {
        return bad(format!(
            "{what} {name:?} is {} bytes of UTF-8; the limit is {MAX_ROOM_NAME_LEN} \
             (a Korean syllable takes 3)",
            name.len()
        ));
    }
    if name.is_ascii() {
        return validate_ascii(name, what, MAX_ROOM_NAME_LEN, "letters");
    }
    if !unicode_normalization::is_nfc(name) {
        return bad(format!(
            "{what} {name:?} is not in Unicode normal form C (composed characters, as \
             keyboards type them); type it again, or normalise it before sending"
        ));
    }
    if let Some(c) = name.chars().find(|&c| !room_char_allowed(c)) {
        return bad(format!("{what} {name:?} {}", refusal(c)));
    }
    if !name.starts_with(char::is_alphanumeric) {
        return bad(format!("{what} {name:?} must start with a letter or digit"));
    }
    let mut run = 0;
    for c in name.chars() {
        run = if is_combining_mark(c) { run + 1 } else { 0 };
        if run > MAX_COMBINING_RUN {
            return bad(format!(
                "{what} {name:?} stacks more than {MAX_COMBINING_RUN} combining marks on one letter"
            ));
        }
    }
    if name.detect_restriction_level() > RestrictionLevel::HighlyRestrictive {
        return bad(format!(
            "{what} {name:?} mixes letters of scripts that have look-alikes (such as Latin \
             and Cyrillic); use one script, or Latin with Chinese, Japanese or Korean"
        ));
    }
    Ok(())
}

/// Whether `c` may appear in a room name (before the whole-name checks).
fn room_char_allowed(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    }
    c.identifier_allowed() && (c.is_alphanumeric() || is_combining_mark(c))
}

/// Why `c` is refused, as the end of a sentence that starts with the name.
fn refusal(c: char) -> String {
    let code = format!("U+{:04X}", u32::from(c));
    if c.is_control() {
        return format!("contains the control character {code}; names are one line of text");
    }
    if c.is_whitespace() {
        return format!("contains a space ({code}); use '-' or '_' between words");
    }
    if crate::text::is_unsafe(c) {
        return format!("contains the bidirectional control {code}, which reorders text");
    }
    if c.identifier_type() == Some(IdentifierType::Default_Ignorable) {
        return format!("contains the invisible character {code}");
    }
    if c.identifier_type() == Some(IdentifierType::Not_NFKC) {
        return format!(
            "contains {c:?} ({code}), a compatibility form (such as fullwidth or a ligature) \
             of another character; type the plain character"
        );
    }
    format!(
        "contains {c:?} ({code}); use letters and digits (any script in common use), \
         '_', '.' and '-'"
    )
}

/// A name in Normalization Form C, as room names must be sent. Clients
/// call this on what the user typed before sending it.
pub fn normalize(name: &str) -> String {
    name.nfc().collect()
}

/// The form in which names are compared and stored as keys: NFC, lower
/// case (Unicode's default lowercase mapping), NFC again. For ASCII, which
/// is all a username may hold, this is ASCII lowercase, so keys stored
/// before room names allowed other scripts are unchanged.
pub fn canonical(name: &str) -> String {
    if name.is_ascii() {
        return name.to_ascii_lowercase();
    }
    let lower: String = name.nfc().flat_map(char::to_lowercase).collect();
    lower.nfc().collect()
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

/// The ASCII rules shared by usernames and ASCII room names.
/// `letters` names the letters allowed, for the messages.
fn validate_ascii(name: &str, what: &str, max: usize, letters: &str) -> Result<(), ErrorBody> {
    let bad = |why: String| Err(ErrorBody::new(ErrorCode::InvalidName, why));
    if name.is_empty() {
        return bad(format!("{what} must not be empty"));
    }
    if name.len() > max {
        return bad(format!("{what} {name:?} is longer than {max} characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return bad(format!(
            "{what} {name:?} must start with one of the {letters} or digits"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return bad(format!(
            "{what} {name:?} contains {c:?} (U+{:04X}); use only {letters}, digits, '_', '.' and '-'",
            u32::from(c)
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
