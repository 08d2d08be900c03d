//! `chat-tui` binary: resolve arguments and the config file, log in on the
//! plain terminal, then run the interface. Everything else lives in the
//! `chat_tui` library.

use anyhow::{Context, bail};
use chat_tui::config::Config;
use chat_tui::interface::{InterfaceOptions, run_interface};
use chat_tui::login::{Credentials, LoginOptions, TrustPrompt, login};
use chat_tui::tokens::TokenStore;
use clap::Parser;
use std::path::PathBuf;

/// A terminal chat client for chatd.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Server address, HOST:PORT.
    #[arg(long)]
    server: Option<String>,
    /// Username to log in as (asks for the password unless a token for it
    /// is remembered).
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

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The message, not anyhow's debug form: no backtrace for users,
            // and causes already quoted by the message are not repeated.
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let cause = cause.to_string();
                if !msg.contains(&cause) {
                    msg = format!("{msg}: {cause}");
                }
            }
            eprintln!("chat-tui: {msg}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let config_path = args.config.clone().or_else(chat_tui::config::default_path);
    let config = match &config_path {
        Some(p) if p.exists() || args.config.is_some() => Config::load(p)?,
        _ => Config::default(),
    };
    let keymap = match &config_path {
        Some(p) => config.keymap(p)?,
        None => Default::default(),
    };
    let profile = match &args.profile {
        Some(name) => Some(config.profiles.get(name).with_context(|| {
            format!("no profile named {name:?} in the config file; add a [profiles.{name}] section")
        })?),
        None => None,
    };
    let Some(server) = args
        .server
        .clone()
        .or_else(|| profile.map(|p| p.server.clone()))
    else {
        bail!("no server given; pass --server HOST:PORT or --profile NAME");
    };
    let user = args
        .user
        .clone()
        .or_else(|| profile.and_then(|p| p.user.clone()));
    let ca = args
        .ca
        .clone()
        .or_else(|| profile.and_then(|p| p.ca.clone()));
    let token_file = args
        .token_file
        .clone()
        .or_else(|| profile.and_then(|p| p.token_file.clone()));
    let token = match &token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read token file {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => args.token.clone(),
    };
    let credentials = match (token, user) {
        (Some(token), _) if !token.is_empty() => Credentials::Token(token),
        (_, Some(username)) => Credentials::User {
            username,
            store: TokenStore::default_location(),
        },
        _ => bail!("no login given; pass --user NAME, or a token with --token-file PATH"),
    };
    if let Some(path) = chat_tui::logging::default_log_path() {
        chat_tui::logging::init(&path)
            .with_context(|| format!("cannot open log file {}", path.display()))?;
    }
    tracing::info!(%server, "starting");

    let opts = LoginOptions {
        server: server.clone(),
        ca,
        known_hosts: chat_client::default_known_hosts_path(),
        credentials,
    };
    let prompt = TrustPrompt::default();
    let client_name = concat!("chat-tui/", env!("CARGO_PKG_VERSION"));
    let logged_in = login(&opts, &prompt, client_name).await?;
    let outbox =
        chat_tui::outbox_file::OutboxFile::default_for(&server, &logged_in.user.author.username);
    let interface = InterfaceOptions {
        server,
        keymap,
        alerter: chat_tui::alert::Alerter::new(&config.alerts),
        pinned: config.rooms.pinned.clone(),
        outbox,
    };
    run_interface(logged_in, interface, &prompt).await?;
    Ok(())
}
