//! Profiles (`chatctl.toml` in the XDG config dir of `chat`) and stored
//! logins (one 0600 token file per profile and server in the XDG data dir).
//!
//! ```toml
//! [profiles.default]
//! server = "chat.example.org:4433"
//! ca = "/etc/chat/ca.crt"
//! token-file = "/run/secrets/chat-token"
//! ```

use crate::error::{CtlError, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

/// One profile's settings; each is overridden by the matching flag or
/// environment variable.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Profile {
    /// `HOST:PORT`.
    pub server: Option<String>,
    /// PEM CA file to trust.
    pub ca: Option<PathBuf>,
    /// File holding a token.
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

fn dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "chat")
}

/// The config file path: `chatctl.toml` in the XDG config dir of `chat`.
pub fn config_path() -> Option<PathBuf> {
    dirs().map(|d| d.config_dir().join("chatctl.toml"))
}

/// Loads profile `name`. A missing file or a missing default profile gives
/// empty settings; a missing named profile is an error.
///
/// # Errors
/// [`CtlError::Invalid`] for unreadable TOML or an unknown profile name.
pub fn load(name: Option<&str>) -> Result<Profile> {
    let Some(path) = config_path() else {
        return Ok(Profile::default());
    };
    let file = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str::<ConfigFile>(&text).map_err(|e| {
            CtlError::Invalid(format!(
                "cannot read {}: {e}; fix the file (see `chatctl --help`)",
                path.display()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigFile::default(),
        Err(e) => return Err(CtlError::io(format!("cannot read {}", path.display()), e)),
    };
    match name {
        None => Ok(file
            .profiles
            .get(DEFAULT_PROFILE)
            .cloned()
            .unwrap_or_default()),
        Some(n) => file.profiles.get(n).cloned().ok_or_else(|| {
            CtlError::Invalid(format!(
                "no profile {n:?} in {}; add a [profiles.{n}] table or drop --profile",
                path.display()
            ))
        }),
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
    let ctx = || format!("cannot store the login token in {}", path.display());
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
    writeln!(f, "{token}").map_err(|e| CtlError::io(ctx(), e))
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
