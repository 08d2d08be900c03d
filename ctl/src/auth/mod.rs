//! Resolving where to connect, whom to trust and which token to present,
//! from flags, the environment, the profile and stored logins, in that order.

pub mod profile;

use crate::args::GlobalArgs;
use crate::error::{CtlError, Result};
use chat_client::{ClientConfig, ClientError, Connection, OnUnknown, Trust};
use chat_protocol::{ErrorCode, UserInfo};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// The server used when neither a flag, `CHAT_SERVER` nor the profile names one.
pub const DEFAULT_SERVER: &str = "127.0.0.1:4433";

/// The environment variable holding a token.
pub const TOKEN_ENV: &str = "CHAT_TOKEN";

/// Where a token comes from, in order of precedence.
#[derive(Debug, Clone)]
enum TokenSource {
    /// `--token-file` or the profile's `token-file`.
    File(PathBuf),
    /// `CHAT_TOKEN`.
    Env(String),
    /// The stored login for this profile and server.
    Stored(PathBuf),
}

/// Everything needed to reach and authenticate to one server.
#[derive(Debug, Clone)]
pub struct Target {
    /// `HOST:PORT`.
    pub server: String,
    /// The profile's name.
    pub profile: String,
    /// Which certificates to trust.
    pub trust: Trust,
    token: TokenSource,
}

impl Target {
    /// Resolves the global options against `CHAT_TOKEN` and the profile.
    ///
    /// # Errors
    /// [`CtlError::Invalid`] for a bad config file; [`CtlError::Auth`] when
    /// no known-hosts path can be found and no CA is given.
    pub fn resolve(g: &GlobalArgs) -> Result<Target> {
        Target::resolve_profile(g, false)
    }

    /// As [`Target::resolve`]; with `create`, a named profile that does not
    /// exist yet is empty instead of an error (`login` creates it).
    ///
    /// # Errors
    /// As [`Target::resolve`].
    pub fn resolve_profile(g: &GlobalArgs, create: bool) -> Result<Target> {
        let (profile, prof) = profile::load(g.profile.as_deref(), create)?;
        let server = g
            .server
            .clone()
            .or(prof.server)
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        let trust = match g.ca.clone().or(prof.ca) {
            Some(ca) => Trust::CaFile(ca),
            None => {
                let path = g
                    .known_hosts
                    .clone()
                    .or(prof.known_hosts)
                    .or_else(chat_client::default_known_hosts_path)
                    .ok_or_else(|| {
                        CtlError::Auth(
                            "no home directory for the known-hosts file; pass --ca FILE or --known-hosts FILE"
                                .to_owned(),
                        )
                    })?;
                Trust::KnownHosts {
                    path,
                    on_unknown: on_unknown(g.trust_new),
                }
            }
        };
        let env_token = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty());
        let token = match (g.token_file.clone(), env_token, prof.token_file) {
            (Some(f), _, _) => TokenSource::File(f),
            (None, Some(t), _) => TokenSource::Env(t.trim().to_owned()),
            (None, None, Some(f)) => TokenSource::File(f),
            (None, None, None) => TokenSource::Stored(profile::login_path(&profile, &server)?),
        };
        Ok(Target {
            server,
            profile,
            trust,
            token,
        })
    }

    /// The SDK configuration for this target.
    pub fn client_config(&self) -> ClientConfig {
        let name = format!("chatctl/{}", env!("CARGO_PKG_VERSION"));
        ClientConfig::new(self.server.clone(), self.trust.clone(), name)
    }

    /// Where `login` stores its token for this target.
    ///
    /// # Errors
    /// [`CtlError::Auth`] without a home directory.
    pub fn login_path(&self) -> Result<PathBuf> {
        profile::login_path(&self.profile, &self.server)
    }

    /// The token to present.
    ///
    /// # Errors
    /// [`CtlError::Auth`] when there is none or its file is unreadable.
    pub fn token(&self) -> Result<String> {
        match &self.token {
            TokenSource::File(f) => profile::read_token(f),
            TokenSource::Env(t) => Ok(t.clone()),
            TokenSource::Stored(path) => {
                if !path.exists() {
                    return Err(CtlError::Auth(format!(
                        "not logged in to {} (profile {}): run `chatctl login`, or pass \
                         --token-file PATH or set {TOKEN_ENV}",
                        self.server, self.profile
                    )));
                }
                profile::read_token(path)
            }
        }
    }

    /// Connects without logging in.
    ///
    /// # Errors
    /// [`CtlError::Client`] with a hint for untrusted servers.
    pub async fn connect(&self) -> Result<Connection> {
        let conn = chat_client::connect(&self.client_config())
            .await
            .map_err(|e| {
                let hint = match e {
                    ClientError::UnknownHostRejected { .. } => {
                        " (pass --trust-new to pin it, or --ca FILE to trust the server's CA)"
                    }
                    _ => "",
                };
                CtlError::client(format!("cannot connect to {}{hint}", self.server), e)
            })?;
        opened()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn.clone());
        Ok(conn)
    }

    /// Connects and authenticates with the resolved token.
    ///
    /// # Errors
    /// As [`Target::connect`] and [`Target::token`]; a refused token is a
    /// [`CtlError::Client`] with exit code 4.
    pub async fn connect_authed(&self) -> Result<(Connection, UserInfo)> {
        let token = self.token()?;
        let conn = self.connect().await?;
        let user = conn
            .authenticate(&token)
            .await
            .map_err(|e| CtlError::client(login_failure(&e), e))?;
        Ok((conn, user))
    }
}

/// What chatctl says when logging in with a token failed: a refused token
/// asks for a new one; anything else (the store degraded, a rate limit,
/// a lost connection) says the token was not the problem, so nobody
/// replaces a good token over a server fault.
fn login_failure(e: &ClientError) -> &'static str {
    match e.code() {
        Some(ErrorCode::AuthFailed | ErrorCode::Unauthenticated) => {
            "the server refused the token (revoked, expired or mistyped?); \
             log in again or use another token"
        }
        Some(ErrorCode::AccountDisabled) => {
            "the account of this token is disabled; ask a server admin to enable it"
        }
        Some(ErrorCode::Unavailable) => {
            "the server cannot log anyone in right now (the token was not checked); \
             retry shortly, and if it persists ask the operator to check chatd's \
             storage (`chatctl server health`)"
        }
        Some(ErrorCode::RateLimited) => {
            "the server is refusing logins from here for a while after failed attempts; \
             wait and retry"
        }
        _ => "logging in with the token failed; retry, and check that the server is up",
    }
}

/// Every connection this process opened, so [`close_all`] can close them
/// before exit.
fn opened() -> &'static std::sync::Mutex<Vec<Connection>> {
    static OPENED: std::sync::OnceLock<std::sync::Mutex<Vec<Connection>>> =
        std::sync::OnceLock::new();
    OPENED.get_or_init(Default::default)
}

/// Closes every connection opened through [`Target::connect`] and waits
/// briefly for the closes to reach the server, so it does not hold them
/// until its idle timeout.
pub async fn close_all() {
    let conns = std::mem::take(&mut *opened().lock().unwrap_or_else(|p| p.into_inner()));
    for c in conns {
        c.shutdown("chatctl finished").await;
    }
}

/// The first-use policy: `--trust-new` accepts; a terminal asks; anything
/// else rejects with a message naming `--trust-new` and `--ca`.
fn on_unknown(trust_new: bool) -> OnUnknown {
    if trust_new {
        return OnUnknown::AcceptNew;
    }
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        return OnUnknown::Ask(Arc::new(|host: &str, fp: &str| {
            eprint!(
                "The server {host} is not known.\nIts certificate fingerprint is SHA256 {fp}.\n\
                 Compare it with the fingerprint chatd logs at startup.\nTrust it? [y/N] "
            );
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            if std::io::stdin().lock().read_line(&mut line).is_err() {
                return false;
            }
            matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
        }));
    }
    OnUnknown::Reject
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_protocol::ErrorBody;

    fn refused(code: ErrorCode) -> ClientError {
        ClientError::Server(ErrorBody::new(code, "x"))
    }

    #[test]
    fn only_a_refused_token_is_blamed_on_the_token() {
        for code in [ErrorCode::AuthFailed, ErrorCode::Unauthenticated] {
            assert!(login_failure(&refused(code)).contains("refused the token"));
        }
        for code in [
            ErrorCode::Unavailable,
            ErrorCode::RateLimited,
            ErrorCode::Internal,
            ErrorCode::AccountDisabled,
        ] {
            assert!(
                !login_failure(&refused(code)).contains("refused the token"),
                "{code:?} is not the token's fault"
            );
        }
        let lost = ClientError::ConnectionLost("reset".into());
        assert!(!login_failure(&lost).contains("refused the token"));
        assert!(login_failure(&refused(ErrorCode::Unavailable)).contains("not checked"));
    }
}
