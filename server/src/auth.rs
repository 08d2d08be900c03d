//! Passwords and tokens.
//!
//! Passwords are stored as argon2id PHC strings with the argon2 crate's
//! defaults (m = 19 MiB, t = 2, p = 1, the OWASP Password Storage Cheat
//! Sheet's first recommended configuration). Tokens look like
//! `chat_<id>_<64 hex digits>`: the id finds the record, and the secret is
//! checked by comparing SHA-256 digests in constant time (`subtle`), so the
//! secret itself is never stored and a lookup leaks nothing through timing.

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use subtle::ConstantTimeEq;

/// Prefix of every token, so leaked tokens are easy to grep for.
pub const TOKEN_PREFIX: &str = "chat_";

/// Largest argon2 memory a stored hash may ask for, in KiB (256 MiB): a
/// corrupt or hostile stored hash cannot make a verification allocate more.
pub const MAX_M_COST_KIB: u32 = 256 * 1024;

thread_local! {
    /// The argon2 working memory of this thread, kept between hashes so a
    /// hashing thread holds one buffer (19 MiB with the defaults) for good
    /// instead of allocating and freeing one per login, which left freed
    /// memory resident (measured: 8 failed logins took chatd from 15 to
    /// 130 MiB; see BENCHMARKS.md, "Robustness").
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs argon2 with this thread's reusable working memory.
fn with_blocks<T>(count: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        if blocks.len() < count {
            blocks.resize(count, Block::default());
        }
        f(&mut blocks[..count])
    })
}

/// Hashes a password with argon2id. CPU-heavy (tens of ms): call it on the
/// hashing pool (`crate::login::HashPool`).
///
/// # Errors
/// A message if argon2 fails, which only happens with invalid parameters.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt_string = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    let params = Params::default();
    let mut out = vec![0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    with_blocks(params.block_count(), |blocks| {
        argon.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks)
    })
    .map_err(|e| e.to_string())?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(salt_string.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(hash.to_string())
}

/// Checks a password against a stored PHC string, in constant time over
/// the digest. CPU-heavy: call it on the hashing pool. A malformed stored
/// hash, or one asking for more than [`MAX_M_COST_KIB`], verifies as
/// `false`.
pub fn verify_password(stored: &str, password: &str) -> bool {
    verify(stored, password).unwrap_or(false)
}

fn verify(stored: &str, password: &str) -> Option<bool> {
    let hash = PasswordHash::new(stored).ok()?;
    let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
    let version = match hash.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&hash).ok()?;
    if params.m_cost() > MAX_M_COST_KIB {
        return None;
    }
    let expected = hash.hash?;
    let mut salt_buf = [0u8; 64];
    let salt = hash.salt?.decode_b64(&mut salt_buf).ok()?;
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    with_blocks(params.block_count(), |blocks| {
        argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks)
    })
    .ok()?;
    Some(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
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
    fn hashes_from_the_argon2_crate_verify_and_ours_verify_there() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        let theirs = Argon2::default()
            .hash_password(b"old password", &salt)
            .expect("hash")
            .to_string();
        assert!(verify_password(&theirs, "old password"));
        assert!(!verify_password(&theirs, "old passwore"));
        let ours = hash_password("new password").expect("hash");
        let parsed = PasswordHash::new(&ours).expect("parse");
        assert!(
            Argon2::default()
                .verify_password(b"new password", &parsed)
                .is_ok()
        );
    }

    #[test]
    fn a_stored_hash_asking_for_huge_memory_is_refused_without_allocating() {
        let huge = "$argon2id$v=19$m=4194304,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$\
                    AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!verify_password(huge, "x"));
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
