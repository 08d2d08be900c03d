//! The audit log's signing key: an Ed25519 key generated at first start
//! beside the TLS material, that signs the log's tree heads.
//!
//! | file in `cert_dir` | what | mode |
//! |---|---|---|
//! | `audit.key` | the 32-byte secret seed, lower-case hex and a newline | 0600 |
//! | `audit.pub` | the public key, lower-case hex and a newline | 0644 |
//!
//! An auditor keeps `audit.pub` (or a saved head, which carries the key)
//! elsewhere: a head signed by another key is refused by `chatctl audit
//! verify`. Losing `audit.key` makes chatd generate a new pair, after which
//! heads saved earlier no longer verify; keep it with the CA key.

use chat_protocol::Timestamp;
use chat_protocol::audit::SignedTreeHead;
use ed25519_dalek::{Signer, SigningKey};
use rand::RngCore;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// File name of the secret key in `cert_dir`.
pub const AUDIT_KEY_FILE: &str = "audit.key";
/// File name of the public key in `cert_dir`.
pub const AUDIT_PUB_FILE: &str = "audit.pub";

/// Why the audit key could not be loaded or made. Each message names the
/// file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum AuditKeyError {
    /// A file could not be read or written.
    #[error(
        "cannot use the audit signing key file {}: {cause}; check the cert directory's \
         permissions (chatd's user must own it)",
        path.display()
    )]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The key file does not hold 64 hex digits.
    #[error(
        "{} is not an audit signing key (64 hex digits); restore it from a backup, or remove \
         it and audit.pub to generate a new key (heads saved earlier will no longer verify)",
        path.display()
    )]
    Malformed {
        /// The file.
        path: PathBuf,
    },
}

/// chatd's audit signing key.
pub struct AuditKey {
    key: SigningKey,
}

impl std::fmt::Debug for AuditKey {
    // Leaves the secret out so it never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("public", &hex::encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

impl AuditKey {
    /// Loads the key from `dir`, or generates and saves one there
    /// (creating `dir` with mode 0700 when missing).
    ///
    /// # Errors
    /// [`AuditKeyError`] naming the file.
    pub fn load_or_generate(dir: &Path) -> Result<AuditKey, AuditKeyError> {
        let path = dir.join(AUDIT_KEY_FILE);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |cause| AuditKeyError::Io { path, cause }
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let seed: [u8; 32] = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| AuditKeyError::Malformed { path: path.clone() })?;
                let key = AuditKey {
                    key: SigningKey::from_bytes(&seed),
                };
                // A missing or stale public file is rewritten from the key.
                let public = format!("{}\n", hex::encode(key.public_key()));
                let pub_path = dir.join(AUDIT_PUB_FILE);
                if std::fs::read_to_string(&pub_path).ok().as_deref() != Some(public.as_str()) {
                    write_file(&pub_path, public.as_bytes(), false).map_err(io(&pub_path))?;
                }
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(io(dir))?;
                let mut seed = [0u8; 32];
                rand::rng().fill_bytes(&mut seed);
                let key = AuditKey {
                    key: SigningKey::from_bytes(&seed),
                };
                write_file(&path, format!("{}\n", hex::encode(seed)).as_bytes(), true)
                    .map_err(io(&path))?;
                let pub_path = dir.join(AUDIT_PUB_FILE);
                let public = format!("{}\n", hex::encode(key.public_key()));
                write_file(&pub_path, public.as_bytes(), false).map_err(io(&pub_path))?;
                tracing::info!(key = %path.display(), "generated the audit log's signing key");
                Ok(key)
            }
            Err(cause) => Err(AuditKeyError::Io { path, cause }),
        }
    }

    /// The Ed25519 public key, 32 bytes.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Signs the head of a tree of `tree_size` records with root `root`.
    pub fn sign(&self, tree_size: u64, root: &[u8; 32], at: Timestamp) -> SignedTreeHead {
        let msg = SignedTreeHead::signed_bytes(tree_size, at, root);
        SignedTreeHead {
            tree_size,
            root_hash: root.to_vec(),
            at,
            public_key: self.public_key().to_vec(),
            signature: self.key.sign(&msg).to_bytes().to_vec(),
        }
    }
}

/// Writes `contents` to `path` via a synced temporary file and a rename;
/// `secret` files are created with mode 0600 (never widened then narrowed).
fn write_file(path: &Path, contents: &[u8], secret: bool) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_once_private_and_signing_verifiably() {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dir.path().join("certs");
        let a = AuditKey::load_or_generate(&certs).expect("generate");
        let b = AuditKey::load_or_generate(&certs).expect("load");
        assert_eq!(a.public_key(), b.public_key());
        let mode = |f| {
            std::fs::metadata(certs.join(f))
                .expect("file")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(AUDIT_KEY_FILE), 0o600);
        assert_eq!(mode(AUDIT_PUB_FILE), 0o644);
        let head = a.sign(3, &[7; 32], Timestamp(9));
        let vk = VerifyingKey::from_bytes(&b.public_key()).expect("key");
        let sig = Signature::from_slice(&head.signature).expect("sig");
        vk.verify(&head.message(), &sig).expect("verifies");
        let mut forged = head.clone();
        forged.tree_size = 4;
        assert!(vk.verify(&forged.message(), &sig).is_err());
    }

    #[test]
    fn a_malformed_key_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(AUDIT_KEY_FILE), "not hex").expect("write");
        let e = AuditKey::load_or_generate(dir.path()).expect_err("malformed");
        assert!(e.to_string().contains("audit.key"), "{e}");
    }
}
