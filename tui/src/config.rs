//! The TOML config file: key bindings, alerts, room order and server
//! profiles.
//!
//! ```toml
//! [keys]
//! next_room = ["ctrl-n", "alt-right"]
//!
//! [rooms]
//! pinned = ["ward-3", "@bob"]   # listed first, in this order
//!
//! [alerts]
//! bell = true
//!
//! [profiles.work]
//! server = "chat.example.org:7443"
//! user = "alice"
//! ```

use crate::keymap::{KeyList, Keymap, KeymapError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The parsed config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Key overrides: action name → key string(s).
    #[serde(default)]
    pub keys: BTreeMap<String, KeyList>,
    /// How mentions and direct messages alert.
    #[serde(default)]
    pub alerts: Alerts,
    /// The room list.
    #[serde(default)]
    pub rooms: Rooms,
    /// Named server profiles, chosen with `--profile`.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// Alert settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alerts {
    /// Ring the terminal bell (default true).
    #[serde(default = "yes")]
    pub bell: bool,
    /// Send an OSC 9 desktop notification where supported (default true).
    #[serde(default = "yes")]
    pub osc9: bool,
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            bell: true,
            osc9: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// Room-list settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rooms {
    /// Rooms listed first, in this order: a group room's name (`#` optional)
    /// or `@user` for a direct room. The rest follow, groups then direct
    /// rooms, each by name.
    #[serde(default)]
    pub pinned: Vec<String>,
}

/// One server profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// `HOST:PORT`.
    pub server: String,
    /// Username.
    pub user: Option<String>,
    /// A CA certificate (PEM) to trust instead of trust-on-first-use.
    pub ca: Option<PathBuf>,
    /// A file holding an API or session token.
    pub token_file: Option<PathBuf>,
}

/// Why the config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("config file {path} is invalid: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        source: toml::de::Error,
    },
    /// A key binding is wrong.
    #[error("config file {path}: {source}")]
    Keys {
        /// The file.
        path: PathBuf,
        /// The bad binding.
        source: KeymapError,
    },
}

impl Config {
    /// Reads and parses `path`. A missing file at the default location is
    /// not an error for the caller to report; pass `None` to get defaults.
    ///
    /// # Errors
    /// [`ConfigError::Read`] or [`ConfigError::Parse`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The keymap with this file's overrides.
    ///
    /// # Errors
    /// [`ConfigError::Keys`] naming the bad action or key.
    pub fn keymap(&self, path: &Path) -> Result<Keymap, ConfigError> {
        Keymap::with_overrides(&self.keys).map_err(|source| ConfigError::Keys {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// The default config path: `$XDG_CONFIG_HOME/chat-tui/config.toml` or the
/// platform equivalent; `None` if no home directory is known.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "chat-tui").map(|d| d.config_dir().join("config.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_file() {
        let c: Config = toml::from_str(
            "[keys]\nnext_room = \"ctrl-j\"\n[alerts]\nbell = false\n[rooms]\npinned = [\"#ops\", \"@bob\"]\n[profiles.work]\nserver = \"h:1\"\nuser = \"al\"\n",
        )
        .unwrap();
        assert_eq!(c.rooms.pinned, ["#ops", "@bob"]);
        assert!(!c.alerts.bell && c.alerts.osc9);
        assert_eq!(c.profiles["work"].server, "h:1");
        assert!(c.keymap(Path::new("x")).is_ok());
    }

    #[test]
    fn unknown_sections_are_refused() {
        assert!(toml::from_str::<Config>("[kyes]\n").is_err());
    }
}
