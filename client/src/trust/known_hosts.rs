//! The known-hosts file: parsing, lookup and appending pinned fingerprints.
//!
//! Format, one entry per line:
//!
//! ```text
//! # comments and blank lines are ignored
//! chat.example.org:4433 3f:a2:...:9c
//! [::1]:4433 07:11:...:e0
//! ```
//!
//! The key is `host:port` as the user typed the server address (host
//! lowercased, IPv6 literals in brackets); the value is the SHA-256
//! fingerprint of the server's end-entity certificate in the format of
//! [`super::fingerprint`]. The first entry for a key wins, as in SSH.

use crate::ClientError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One pinned server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHost {
    /// `host:port` key.
    pub host: String,
    /// Pinned fingerprint, normalised to lowercase.
    pub fingerprint: String,
    /// Line in the file (1-based), for messages telling the user what to remove.
    pub line: usize,
}

/// The parsed contents of a known-hosts file.
#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    path: PathBuf,
    entries: Vec<KnownHost>,
}

impl KnownHosts {
    /// Reads and parses `path`. A missing file is an empty list. This does
    /// blocking file I/O; async callers run it on a blocking thread.
    ///
    /// # Errors
    /// [`ClientError::KnownHosts`] if the file cannot be read or a line is
    /// malformed (naming the file and line).
    pub fn load(path: &Path) -> Result<KnownHosts, ClientError> {
        match std::fs::read_to_string(path) {
            Ok(text) => KnownHosts::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KnownHosts {
                path: path.to_owned(),
                entries: Vec::new(),
            }),
            Err(e) => Err(ClientError::KnownHosts {
                path: path.to_owned(),
                line: None,
                msg: format!("cannot read it: {e}; check its permissions"),
            }),
        }
    }

    /// Parses file contents; `path` is only used in messages.
    ///
    /// # Errors
    /// [`ClientError::KnownHosts`] naming the first malformed line.
    pub fn parse(path: &Path, text: &str) -> Result<KnownHosts, ClientError> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |msg: String| ClientError::KnownHosts {
                path: path.to_owned(),
                line: Some(i + 1),
                msg: format!("{msg}; expected `host:port fingerprint`, fix or delete the line"),
            };
            let mut parts = line.split_whitespace();
            let (Some(host), Some(fp), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(bad(format!("`{line}` does not have exactly two fields")));
            };
            validate_host_key(host).map_err(bad)?;
            let fingerprint = normalise_fingerprint(fp).ok_or_else(|| {
                bad(format!(
                    "`{fp}` is not a SHA-256 fingerprint (32 hex pairs separated by `:`)"
                ))
            })?;
            entries.push(KnownHost {
                host: host.to_ascii_lowercase(),
                fingerprint,
                line: i + 1,
            });
        }
        Ok(KnownHosts {
            path: path.to_owned(),
            entries,
        })
    }

    /// The file these entries came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The first entry for `host` (a `host:port` key, compared
    /// case-insensitively).
    pub fn lookup(&self, host: &str) -> Option<&KnownHost> {
        self.entries
            .iter()
            .find(|e| e.host.eq_ignore_ascii_case(host))
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> &[KnownHost] {
        &self.entries
    }

    /// Appends `host fingerprint` to the file at `path`, creating it (mode
    /// 0600 on Unix) and its parent directories as needed. Blocking I/O.
    ///
    /// # Errors
    /// [`ClientError::KnownHosts`] if the file cannot be created or written,
    /// or `host`/`fingerprint` are malformed.
    pub fn append(path: &Path, host: &str, fingerprint: &str) -> Result<(), ClientError> {
        let err = |msg: String| ClientError::KnownHosts {
            path: path.to_owned(),
            line: None,
            msg,
        };
        validate_host_key(host).map_err(err)?;
        let fp = normalise_fingerprint(fingerprint)
            .ok_or_else(|| err(format!("`{fingerprint}` is not a SHA-256 fingerprint")))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| err(format!("cannot create directory {}: {e}", dir.display())))?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts
            .open(path)
            .map_err(|e| err(format!("cannot open it for writing: {e}")))?;
        // Start on a fresh line even if the user's last line has no newline.
        let needs_newline = std::fs::read(path)
            .map(|b| b.last().is_some_and(|&c| c != b'\n'))
            .unwrap_or(false);
        let text = format!(
            "{}{} {fp}\n",
            if needs_newline { "\n" } else { "" },
            host.to_ascii_lowercase()
        );
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| err(format!("cannot write it: {e}")))
    }
}

/// Checks that `host` looks like `host:port` with a numeric port.
fn validate_host_key(host: &str) -> Result<(), String> {
    let Some((name, port)) = host.rsplit_once(':') else {
        return Err(format!("`{host}` has no `:port`"));
    };
    if name.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!(
            "`{host}` is not `host:port` with a port of 0 to 65535"
        ));
    }
    Ok(())
}

/// Lowercases a fingerprint and checks it is 32 hex pairs joined by `:`.
fn normalise_fingerprint(fp: &str) -> Option<String> {
    let fp = fp.to_ascii_lowercase();
    let ok = fp.split(':').count() == 32
        && fp
            .split(':')
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    ok.then_some(fp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint;

    #[test]
    fn parses_entries_comments_and_blank_lines() {
        let fp = fingerprint(b"cert");
        let text = format!(
            "# pinned\n\nHost.Example:4433 {}\n[::1]:1 {fp}\n",
            fp.to_uppercase()
        );
        let kh = KnownHosts::parse(Path::new("kh"), &text).unwrap();
        assert_eq!(kh.entries().len(), 2);
        let e = kh.lookup("host.example:4433").unwrap();
        assert_eq!(e.fingerprint, fp);
        assert_eq!(e.line, 3);
        assert_eq!(kh.lookup("[::1]:1").unwrap().line, 4);
        assert!(kh.lookup("host.example:4434").is_none());
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        for bad in ["host:1", "host 00:11", "host:x aa", "host:1 zz:11"] {
            let err =
                KnownHosts::parse(Path::new("/tmp/kh"), &format!("# c\n{bad}\n")).unwrap_err();
            match &err {
                ClientError::KnownHosts { path, line, .. } => {
                    assert_eq!(path, Path::new("/tmp/kh"));
                    assert_eq!(*line, Some(2));
                }
                other => panic!("{other:?}"),
            }
            let text = err.to_string();
            assert!(text.contains("/tmp/kh line 2"), "{text}");
        }
    }

    #[test]
    fn append_creates_dirs_mode_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/known_hosts");
        let fp = fingerprint(b"one");
        KnownHosts::append(&path, "Srv:4433", &fp).unwrap();
        KnownHosts::append(&path, "other:1", &fingerprint(b"two")).unwrap();
        let kh = KnownHosts::load(&path).unwrap();
        assert_eq!(kh.lookup("srv:4433").unwrap().fingerprint, fp);
        assert_eq!(kh.lookup("other:1").unwrap().line, 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn append_after_line_without_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        std::fs::write(&path, "# no newline").unwrap();
        KnownHosts::append(&path, "h:1", &fingerprint(b"x")).unwrap();
        assert_eq!(
            KnownHosts::load(&path).unwrap().lookup("h:1").unwrap().line,
            2
        );
    }

    #[test]
    fn missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let kh = KnownHosts::load(&dir.path().join("none")).unwrap();
        assert!(kh.entries().is_empty());
    }
}
