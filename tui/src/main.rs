//! `chat-tui` binary: parse arguments, set up logging and the terminal.
//! Everything else lives in the `chat_tui` library.

use anyhow::{Context, bail};
use clap::Parser;
use std::path::PathBuf;

/// A terminal chat client for chatd.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Server address, HOST:PORT.
    #[arg(long)]
    server: Option<String>,
    /// Username to log in as.
    #[arg(long)]
    user: Option<String>,
    /// Read the token from this file instead of prompting for a password.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Trust this CA certificate (PEM) instead of trust-on-first-use.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Use a server profile from the config file.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Config file (default: the XDG config dir's chat-tui/config.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A session or API token (prefer --token-file: the environment of a
    /// process is visible to others on some systems).
    #[arg(long, env = "CHAT_TOKEN", hide_env_values = true, hide = true)]
    token: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config_path = args.config.clone().or_else(chat_tui::config::default_path);
    let config = match &config_path {
        Some(p) if p.exists() || args.config.is_some() => chat_tui::config::Config::load(p)?,
        _ => chat_tui::config::Config::default(),
    };
    if let Some(p) = &config_path {
        config.keymap(p)?;
    }
    if let Some(name) = &args.profile
        && !config.profiles.contains_key(name)
    {
        bail!("no profile named {name:?} in the config file; add a [profiles.{name}] section");
    }
    if let Some(path) = chat_tui::logging::default_log_path() {
        chat_tui::logging::init(&path)
            .with_context(|| format!("cannot open log file {}", path.display()))?;
    }
    tracing::info!(server = ?args.server, user = ?args.user, "starting");
    bail!(
        "the network layer is not yet connected in this build of chat-tui; \
         the interface is ready but cannot reach a server yet"
    )
}
