//! How the client decides to trust a server: a CA file, or SSH-style
//! trust-on-first-use pinning in a known-hosts file.

mod known_hosts;
mod tls;
mod verifier;

pub use known_hosts::{KnownHost, KnownHosts};
pub(crate) use tls::build_tls;
pub(crate) use verifier::Verdict;

use sha2::{Digest, Sha256};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// The callback [`OnUnknown::Ask`] runs: it receives the `host:port` key and
/// the certificate's fingerprint and returns whether to trust it.
///
/// It runs on a blocking thread (`tokio::task::spawn_blocking`), so it may
/// prompt on a terminal and wait.
pub type AskFn = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// Which servers a connection trusts.
#[derive(Clone)]
pub enum Trust {
    /// Certificates chained to the CA certificates in this PEM file (the
    /// server generates `certs/ca.crt`). The server name is checked against
    /// the certificate as in HTTPS.
    CaFile(PathBuf),
    /// Trust on first use, as SSH does: the SHA-256 fingerprint of the
    /// server's end-entity certificate is pinned per `host:port` in a
    /// known-hosts file (see [`KnownHosts`]). A pinned server presenting a
    /// different certificate is refused with
    /// [`crate::ClientError::CertificateChanged`]. TLS 1.3 handshake
    /// signatures are still verified, so the server must hold the pinned
    /// certificate's private key.
    KnownHosts {
        /// The known-hosts file; see [`default_known_hosts_path`].
        path: PathBuf,
        /// What to do with a server that has no entry yet.
        on_unknown: OnUnknown,
    },
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::CaFile(p) => f.debug_tuple("CaFile").field(p).finish(),
            Trust::KnownHosts { path, on_unknown } => f
                .debug_struct("KnownHosts")
                .field("path", path)
                .field("on_unknown", on_unknown)
                .finish(),
        }
    }
}

/// What [`Trust::KnownHosts`] does on the first connection to a server.
#[derive(Clone)]
pub enum OnUnknown {
    /// Refuse with [`crate::ClientError::UnknownHostRejected`] (which shows the
    /// fingerprint so the user can check it and retry).
    Reject,
    /// Pin the certificate without asking (non-interactive use; chatctl's
    /// `--trust-new`).
    AcceptNew,
    /// Ask the callback; pin the certificate if it returns `true`.
    Ask(AskFn),
}

impl fmt::Debug for OnUnknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnUnknown::Reject => "Reject",
            OnUnknown::AcceptNew => "AcceptNew",
            OnUnknown::Ask(_) => "Ask(..)",
        })
    }
}

/// The SHA-256 fingerprint of a DER certificate as 32 lowercase hex pairs
/// separated by `:` (e.g. `3f:a2:...`), the format `chatd` logs at startup
/// and known-hosts files store.
pub fn fingerprint(cert_der: &[u8]) -> String {
    let digest = Sha256::digest(cert_der);
    let mut out = String::with_capacity(32 * 3);
    for (i, b) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&hex::encode([*b]));
    }
    out
}

/// The default known-hosts file: `known_hosts` in the platform data
/// directory for `chat` (e.g. `~/.local/share/chat/known_hosts` on Linux,
/// per the XDG base directory spec). `None` when no home directory is known.
pub fn default_known_hosts_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "chat").map(|d| d.data_dir().join("known_hosts"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_32_lowercase_pairs() {
        let fp = fingerprint(b"hello");
        let pairs: Vec<&str> = fp.split(':').collect();
        assert_eq!(pairs.len(), 32);
        assert!(pairs.iter().all(|p| {
            p.len() == 2
                && p.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        }));
        // SHA-256("hello") begins 2cf24dba.
        assert!(fp.starts_with("2c:f2:4d:ba:"), "{fp}");
    }

    #[test]
    fn default_path_ends_in_known_hosts() {
        if let Some(p) = default_known_hosts_path() {
            assert!(p.ends_with("known_hosts"));
        }
    }
}
