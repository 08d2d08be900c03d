//! Remembered session tokens: one file per server and user in the XDG data
//! directory, readable only by the owner (mode 0600 in a 0700 directory),
//! so the next start needs no password.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a token could not be remembered or forgotten.
#[derive(Debug, thiserror::Error)]
#[error("cannot {what} {}: {source}; the next start will ask for the password again", path.display())]
pub struct TokenStoreError {
    /// What was being done ("write", "remove", "create directory").
    pub what: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// A directory of remembered session tokens.
#[derive(Debug, Clone)]
pub struct TokenStore {
    dir: PathBuf,
}

impl TokenStore {
    /// A store in `dir` (created on the first save).
    pub fn new(dir: impl Into<PathBuf>) -> TokenStore {
        TokenStore { dir: dir.into() }
    }

    /// The default store: `tokens/` in the XDG data directory
    /// (`$XDG_DATA_HOME/chat-tui/tokens`); `None` if no home is known.
    pub fn default_location() -> Option<TokenStore> {
        directories::ProjectDirs::from("", "", "chat-tui")
            .map(|d| TokenStore::new(d.data_dir().join("tokens")))
    }

    /// The file holding the token for `user` on `server`. The name escapes
    /// every byte outside `[A-Za-z0-9.-]` as `%XX`, so distinct servers and
    /// users never share a file and no name can leave the directory.
    pub fn path(&self, server: &str, user: &str) -> PathBuf {
        self.dir
            .join(format!("{}@{}", escape(user), escape(server)))
    }

    /// The remembered token, if any. An unreadable file counts as none (and
    /// is logged): the fallback is the password prompt.
    pub fn load(&self, server: &str, user: &str) -> Option<String> {
        let path = self.path(server, user);
        match std::fs::read_to_string(&path) {
            Ok(text) => Some(text.trim().to_owned()).filter(|t| !t.is_empty()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read remembered token");
                None
            }
        }
    }

    /// Remembers `token`, replacing any earlier one.
    ///
    /// # Errors
    /// [`TokenStoreError`] if the directory or file cannot be written.
    pub fn save(&self, server: &str, user: &str, token: &str) -> Result<(), TokenStoreError> {
        create_private_dir(&self.dir).map_err(|source| TokenStoreError {
            what: "create directory",
            path: self.dir.clone(),
            source,
        })?;
        let path = self.path(server, user);
        let err = |source| TokenStoreError {
            what: "write",
            path: path.clone(),
            source,
        };
        let mut file = private_file(&path).map_err(err)?;
        file.write_all(token.as_bytes()).map_err(err)?;
        file.write_all(b"\n").map_err(err)?;
        Ok(())
    }

    /// Forgets the token (after the server refused it). A missing file is
    /// not an error.
    ///
    /// # Errors
    /// [`TokenStoreError`] if the file exists but cannot be removed.
    pub fn forget(&self, server: &str, user: &str) -> Result<(), TokenStoreError> {
        let path = self.path(server, user);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(TokenStoreError {
                what: "remove",
                path,
                source,
            }),
        }
    }
}

/// `s` as a file-name part: every byte outside `[A-Za-z0-9.-]` as `%XX`,
/// and a name of only dots escaped too, so it can neither collide with
/// another name nor leave its directory.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // "." and ".." would name directories.
    if out.chars().all(|c| c == '.') {
        out = out.replace('.', "%2E");
    }
    out
}

/// Creates `dir` (and its parents) readable by the owner only (0700).
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Opens `path` for writing, truncated, readable by the owner only. The mode
/// is also set on an existing file, which `open` alone would leave as is.
pub(crate) fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("chat-tui-tokens-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn save_load_forget() {
        let dir = temp_dir();
        let store = TokenStore::new(dir.join("tokens"));
        assert_eq!(store.load("h:1", "alice"), None);
        store.save("h:1", "alice", "secret").unwrap();
        assert_eq!(store.load("h:1", "alice").as_deref(), Some("secret"));
        assert_eq!(store.load("h:2", "alice"), None);
        store.forget("h:1", "alice").unwrap();
        store.forget("h:1", "alice").unwrap();
        assert_eq!(store.load("h:1", "alice"), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir();
        let store = TokenStore::new(dir.join("tokens"));
        store.save("h:1", "bob", "t").unwrap();
        let mode = std::fs::metadata(store.path("h:1", "bob"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn names_cannot_escape_or_collide() {
        let store = TokenStore::new("/x");
        assert_eq!(store.path("a:b", "u"), PathBuf::from("/x/u@a%3Ab"));
        assert_ne!(store.path("a:b", "u"), store.path("a_b", "u"));
        assert_eq!(store.path("h", ".."), PathBuf::from("/x/%2E%2E@h"));
        assert_eq!(store.path("../../etc", "u").parent(), Some(Path::new("/x")));
    }
}
