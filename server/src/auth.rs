//! Passwords and tokens.
//!
//! Passwords are stored as argon2id PHC strings with the argon2 crate's
//! defaults (m = 19 MiB, t = 2, p = 1, the OWASP Password Storage Cheat
//! Sheet's first recommended configuration). Tokens look like
//! `chat_<id>_<64 hex digits>`: the id finds the record, and the secret is
//! checked by comparing SHA-256 digests in constant time (`subtle`), so the
//! secret itself is never stored and a lookup leaks nothing through timing.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of every token, so leaked tokens are easy to grep for.
pub const TOKEN_PREFIX: &str = "chat_";

/// Hashes a password with argon2id. CPU-heavy (tens of ms): call it on the
/// blocking pool.
///
/// # Errors
/// A message if argon2 fails, which only happens with invalid parameters.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against a stored PHC string. CPU-heavy: call it on the
/// blocking pool. A malformed stored hash verifies as `false`.
pub fn verify_password(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spends the same time as [`verify_password`] on a failed lookup, so an
/// unknown username cannot be told from a wrong password by timing.
pub fn burn_verify(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("dummy password").unwrap_or_default());
    let _ = verify_password(hash, password);
}

/// A newly minted token: the string to give the user once, and the digest to store.
pub struct NewToken {
    /// `chat_<id>_<secret>`.
    pub token: String,
    /// SHA-256 of the secret part.
    pub digest: Vec<u8>,
}

/// Mints a token for record `id` from 32 random bytes.
pub fn new_token(id: u64) -> NewToken {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let secret = hex::encode(secret);
    NewToken {
        digest: digest(&secret),
        token: format!("{TOKEN_PREFIX}{id}_{secret}"),
    }
}

/// Splits a token into its record id and secret, or `None` if it is not of
/// the `chat_<id>_<secret>` shape.
pub fn parse_token(token: &str) -> Option<(u64, &str)> {
    let rest = token.trim().strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    Some((id.parse().ok()?, secret))
}

/// SHA-256 of a token secret.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Whether `secret` matches `stored`, compared in constant time.
pub fn secret_matches(stored: &[u8], secret: &str) -> bool {
    bool::from(stored.ct_eq(&digest(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong horse"));
        assert!(!verify_password("garbage", "x"));
    }

    #[test]
    fn tokens_round_trip() {
        let t = new_token(42);
        let (id, secret) = parse_token(&t.token).expect("parse");
        assert_eq!(id, 42);
        assert!(secret_matches(&t.digest, secret));
        assert!(!secret_matches(&t.digest, "nope"));
        assert!(parse_token("chat_x_y").is_none());
        assert!(parse_token("bearer abc").is_none());
    }
}
