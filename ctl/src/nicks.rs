//! Mapping IRC nicks to chat usernames for imports: valid, deterministic,
//! and never borrowing an account that belongs to someone else.
//!
//! A nick becomes its lowercase form with characters a username may not
//! hold replaced by `_` (see `chat_protocol::names`). If that username is
//! taken by an account whose display name is not exactly the nick (another
//! person, the same letters in another case, or a server admin), the nick
//! gets `base-<6 hex of SHA-256(nick)>` instead, then numbered variants.
//! An account whose display name is the nick is reused, so re-running an
//! import finds the users it created before.

use chat_protocol::names::{MAX_USERNAME_LEN, canonical};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The username a nick maps to before any clash: lowercase, invalid
/// characters as `_`, leading non-alphanumerics dropped, at most 32 bytes;
/// `irc` if nothing is left.
pub fn base_username(nick: &str) -> String {
    let mapped: String = nick
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else if matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = mapped.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut out: String = trimmed.chars().take(MAX_USERNAME_LEN).collect();
    if out.is_empty() {
        out.push_str("irc");
    }
    out
}

/// The `attempt`-th candidate username for `nick` (0: [`base_username`]).
pub fn candidate(nick: &str, attempt: u32) -> String {
    let base = base_username(nick);
    if attempt == 0 {
        return base;
    }
    let digest = Sha256::digest(nick.as_bytes());
    let mut suffix = String::from("-");
    for b in digest.iter().take(3) {
        suffix.push_str(&format!("{b:02x}"));
    }
    if attempt > 1 {
        suffix.push_str(&attempt.to_string());
    }
    let keep = MAX_USERNAME_LEN.saturating_sub(suffix.len());
    let head: String = base.chars().take(keep).collect();
    format!("{head}{suffix}")
}

/// An existing account, as far as nick mapping cares.
#[derive(Debug, Clone)]
pub struct Known {
    /// Display name.
    pub display_name: String,
    /// Whether it is a server admin (never reused for a nick).
    pub admin: bool,
}

/// Nick → username assignments over the server's existing accounts.
#[derive(Debug, Default)]
pub struct NickMap {
    /// Existing accounts by canonical username.
    known: HashMap<String, Known>,
    /// Nicks already resolved.
    assigned: HashMap<String, String>,
}

/// The result of [`NickMap::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The username to store messages under.
    pub username: String,
    /// Whether the account must be created first.
    pub create: bool,
}

impl NickMap {
    /// A map over existing accounts `(username, known)`.
    pub fn new(existing: impl IntoIterator<Item = (String, Known)>) -> NickMap {
        NickMap {
            known: existing
                .into_iter()
                .map(|(u, k)| (canonical(&u), k))
                .collect(),
            assigned: HashMap::new(),
        }
    }

    /// The username for `nick`; `create` is true the first time a new
    /// account is needed (the map then counts it as existing).
    pub fn resolve(&mut self, nick: &str) -> Resolved {
        if let Some(u) = self.assigned.get(nick) {
            return Resolved {
                username: u.clone(),
                create: false,
            };
        }
        let mut attempt = 0u32;
        loop {
            let cand = candidate(nick, attempt);
            let key = canonical(&cand);
            let create = match self.known.get(&key) {
                None => {
                    self.known.insert(
                        key,
                        Known {
                            display_name: nick.to_owned(),
                            admin: false,
                        },
                    );
                    true
                }
                Some(k) if k.display_name == nick && !k.admin => false,
                Some(_) => {
                    attempt += 1;
                    continue;
                }
            };
            self.assigned.insert(nick.to_owned(), cand.clone());
            return Resolved {
                username: cand,
                create,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_protocol::names::validate_username;

    #[test]
    fn usernames_are_valid() {
        for nick in [
            "k1l",
            "|QuaD",
            "`Yoda",
            "Bridge|",
            "Shawn|i7-720QM",
            "é",
            "[x]",
            "___",
            "a.b-c_d",
            "ThisNickIsWayTooLongForAUsernameReally",
        ] {
            for attempt in 0..12 {
                let u = candidate(nick, attempt);
                assert!(validate_username(&u).is_ok(), "{nick} -> {u}");
            }
        }
        assert_eq!(base_username("|QuaD"), "quad");
        assert_eq!(base_username("Bridge|"), "bridge_");
        assert_eq!(base_username("é"), "irc");
    }

    #[test]
    fn clashes_resolve_deterministically() {
        let existing = [
            (
                "admin".to_owned(),
                Known {
                    display_name: "admin".into(),
                    admin: true,
                },
            ),
            (
                "bob".to_owned(),
                Known {
                    display_name: "bob".into(),
                    admin: false,
                },
            ),
        ];
        let mut m = NickMap::new(existing.clone());
        // A server admin is never borrowed.
        let a = m.resolve("admin");
        assert!(a.create);
        assert_ne!(a.username, "admin");
        // An earlier import's user is reused.
        assert_eq!(
            m.resolve("bob"),
            Resolved {
                username: "bob".into(),
                create: false
            }
        );
        // Same letters, other case: another account.
        let big = m.resolve("Bob");
        assert!(big.create);
        assert_ne!(big.username, "bob");
        assert!(!m.resolve("Bob").create);
        // Same input, same answers.
        let mut again = NickMap::new(existing);
        assert_eq!(again.resolve("admin").username, a.username);
        assert_eq!(again.resolve("Bob").username, big.username);
    }
}
