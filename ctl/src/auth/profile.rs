//! Profiles (`chatctl.toml` in the XDG config dir of `chat`, mode 0600) and
//! stored logins (one 0600 token file per profile and server in the XDG
//! data dir).
//!
//! ```toml
//! current = "work"            # the profile used without --profile
//!
//! [profiles.work]
//! server = "chat.example.org:4433"
//! ca = "/etc/chat/ca.crt"           # or known-hosts = "/path/known_hosts"
//! token-file = "/run/secrets/chat-token"
//! ```
//!
//! `chatctl login` writes `server` and the trust choice of the profile it
//! logs in with; `chatctl profile use` writes `current`. Both rewrite the
//! file (comments are not kept).

use crate::error::{CtlError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The profile used when none is named and the file chooses none.
pub const DEFAULT_PROFILE: &str = "default";

/// One profile's settings; each is overridden by the matching flag or
/// environment variable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Profile {
    /// `HOST:PORT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// PEM CA file to trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// Known-hosts file to pin the server in (when no `ca`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<PathBuf>,
    /// File holding a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
}

/// The whole `chatctl.toml`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The profile used when `--profile` and `CHAT_PROFILE` are not given
    /// [default: [`DEFAULT_PROFILE`]].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

impl ConfigFile {
    /// The profile used without `--profile`.
    pub fn current_name(&self) -> &str {
        self.current.as_deref().unwrap_or(DEFAULT_PROFILE)
    }
}

fn dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "chat")
}

/// The config file path: `chatctl.toml` in the XDG config dir of `chat`.
pub fn config_path() -> Option<PathBuf> {
    dirs().map(|d| d.config_dir().join("chatctl.toml"))
}

/// Reads the config file; a missing one is empty.
///
/// # Errors
/// [`CtlError::Invalid`] for unreadable TOML; [`CtlError::Io`].
pub fn read_file() -> Result<ConfigFile> {
    let Some(path) = config_path() else {
        return Ok(ConfigFile::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str::<ConfigFile>(&text).map_err(|e| {
            CtlError::Invalid(format!(
                "cannot read {}: {e}; fix the file (see `chatctl --help`)",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(CtlError::io(format!("cannot read {}", path.display()), e)),
    }
}

/// Writes the config file with mode 0600 (it names token files and
/// servers), replacing it atomically.
///
/// # Errors
/// [`CtlError::Auth`] without a home directory; [`CtlError::Io`].
pub fn write_file(file: &ConfigFile) -> Result<PathBuf> {
    let path = config_path().ok_or_else(|| {
        CtlError::Auth("no home directory, so no profile file; pass the flags each time".to_owned())
    })?;
    let text = toml::to_string_pretty(file)
        .map_err(|e| CtlError::Invalid(format!("cannot encode the profile file: {e}")))?;
    let tmp = path.with_extension("toml.tmp");
    write_private(&tmp, &text)?;
    std::fs::rename(&tmp, &path)
        .map_err(|e| CtlError::io(format!("cannot replace {}", path.display()), e))?;
    Ok(path)
}

/// Loads the profile `name`, or the file's current one. A missing file or
/// a missing default profile gives empty settings; a missing named
/// profile is an error unless `create` (for `login`, which creates it).
/// Returns the name used.
///
/// # Errors
/// [`CtlError::Invalid`] for unreadable TOML or an unknown profile name.
pub fn load(name: Option<&str>, create: bool) -> Result<(String, Profile)> {
    let file = read_file()?;
    let chosen = name.unwrap_or(file.current_name()).to_owned();
    match file.profiles.get(&chosen) {
        Some(p) => Ok((chosen, p.clone())),
        None if create || name.is_none() || chosen == DEFAULT_PROFILE => {
            Ok((chosen, Profile::default()))
        }
        None => Err(CtlError::Invalid(format!(
            "no profile {chosen:?} in {}; add a [profiles.{chosen}] table, log in with \
             `chatctl --profile {chosen} login`, or drop --profile",
            config_path()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ))),
    }
}

/// Where the stored login for `profile` on `server` lives.
///
/// # Errors
/// [`CtlError::Auth`] when no home directory is known.
pub fn login_path(profile: &str, server: &str) -> Result<PathBuf> {
    let d = dirs().ok_or_else(|| {
        CtlError::Auth(
            "no home directory, so no stored login; use --token-file or CHAT_TOKEN".to_owned(),
        )
    })?;
    let safe: String = format!("{profile}@{server}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(d.data_dir().join("chatctl").join(format!("{safe}.token")))
}

/// Stores `token` at `path` with mode 0600 (created so; never widened).
///
/// # Errors
/// [`CtlError::Io`].
pub fn store_token(path: &Path, token: &str) -> Result<()> {
    write_private(path, &format!("{token}\n"))
}

/// Writes `text` to `path`, created with mode 0600 (and set so if it
/// existed), creating the parent directory.
fn write_private(path: &Path, text: &str) -> Result<()> {
    let ctx = || format!("cannot write {}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CtlError::io(ctx(), e))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| CtlError::io(ctx(), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| CtlError::io(ctx(), e))?;
    }
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| CtlError::io(ctx(), e))
}

/// Reads the first line of a token file, trimmed.
///
/// # Errors
/// [`CtlError::Auth`] if the file is missing, unreadable or empty.
pub fn read_token(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CtlError::Auth(format!(
            "cannot read token file {}: {e}; check the path given to --token-file",
            path.display()
        ))
    })?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.is_empty() {
        return Err(CtlError::Auth(format!(
            "token file {} is empty; put the token on its first line",
            path.display()
        )));
    }
    Ok(token)
}
