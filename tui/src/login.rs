//! Before the interface starts: choose how to trust the server and how to
//! log in, prompt on the plain terminal (certificate fingerprint, password),
//! and hold the first connection until it is logged in.
//!
//! Everything here runs before `ratatui::init()`, so prompts are ordinary
//! line-mode terminal I/O. Once the interface runs, [`TrustPrompt`] refuses
//! instead of asking: a host becomes known on the first connection, so a
//! later "unknown host" means the known-hosts file changed underneath us.

use crate::tokens::TokenStore;
use chat_client::session::{Auth, Backoff, Session, SessionConfig, SessionEvent};
use chat_client::{ClientConfig, ClientError, OnUnknown, Trust};
use chat_protocol::{ErrorCode, UserInfo};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;

/// How many times a wrong password may be typed before giving up.
const PASSWORD_TRIES: u32 = 3;

/// Where the credentials come from.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// An API or session token given by the user (`--token-file`,
    /// `CHAT_TOKEN`); never remembered.
    Token(String),
    /// A username: a remembered token if there is one, else the password
    /// prompt. The session token a password login returns is remembered.
    User {
        /// The login name.
        username: String,
        /// Where tokens are remembered; `None` disables remembering.
        store: Option<TokenStore>,
    },
}

/// Everything needed to connect.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// `HOST:PORT`.
    pub server: String,
    /// A CA certificate to trust; `None` for trust on first use.
    pub ca: Option<PathBuf>,
    /// The known-hosts file for trust on first use.
    pub known_hosts: Option<PathBuf>,
    /// How to log in.
    pub credentials: Credentials,
}

/// Why the client could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Neither a CA file nor a known-hosts location is available.
    #[error(
        "no known-hosts file location (no home directory); pass --ca FILE to trust the server's CA"
    )]
    NoTrust,
    /// The connection failed in a way retrying cannot fix (certificate
    /// changed or refused, no common protocol version, ...).
    #[error("{0}")]
    Client(#[source] ClientError),
    /// The server refused the token.
    #[error("the server refused the token ({0}); create a new one or log in with --user NAME")]
    TokenRefused(#[source] ClientError),
    /// The password was wrong too many times.
    #[error("login failed {PASSWORD_TRIES} times: {0}")]
    PasswordRefused(#[source] ClientError),
    /// Reading the password from the terminal failed.
    #[error("cannot read the password from the terminal: {0}")]
    Prompt(#[source] std::io::Error),
    /// The session stopped before it logged in.
    #[error("the connection stopped before logging in")]
    Stopped,
}

/// The first logged-in connection: the session, its events (after
/// `Connected`), who logged in, and how to start another session.
pub struct LoggedIn {
    /// The session handle.
    pub session: Session,
    /// Its event stream; `Connected` was already consumed.
    pub events: mpsc::Receiver<SessionEvent>,
    /// The user logged in.
    pub user: UserInfo,
    /// The session's configuration, logging in with the session token a
    /// password login returned (the password itself is not kept), for
    /// starting a fresh session later.
    pub config: SessionConfig,
}

/// Decides whether to trust an unknown server: asks on the terminal before
/// the interface starts, refuses after (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct TrustPrompt {
    interface_running: Arc<AtomicBool>,
}

impl TrustPrompt {
    /// Call when the interface takes the terminal: prompts are no longer
    /// possible.
    pub fn interface_started(&self) {
        self.interface_running.store(true, Ordering::SeqCst);
    }

    fn ask(&self, host: &str, fingerprint: &str) -> bool {
        if self.interface_running.load(Ordering::SeqCst) {
            tracing::warn!(%host, %fingerprint, "unknown server certificate while the interface runs; refused");
            return false;
        }
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "The server {host} is not known yet.\n\
             Its certificate fingerprint is SHA256 {fingerprint}\n\
             Compare it with the fingerprint chatd logs at startup.\n\
             Trust this server? [y/N] "
        );
        let _ = err.flush();
        let mut answer = String::new();
        if std::io::stdin().lock().read_line(&mut answer).is_err() {
            return false;
        }
        matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
    }
}

/// The trust mode for these options.
///
/// # Errors
/// [`LoginError::NoTrust`] without `--ca` and without a known-hosts path.
pub fn trust(opts: &LoginOptions, prompt: &TrustPrompt) -> Result<Trust, LoginError> {
    if let Some(ca) = &opts.ca {
        return Ok(Trust::CaFile(ca.clone()));
    }
    let path = opts.known_hosts.clone().ok_or(LoginError::NoTrust)?;
    let prompt = prompt.clone();
    Ok(Trust::KnownHosts {
        path,
        on_unknown: OnUnknown::Ask(Arc::new(move |host, fp| prompt.ask(host, fp))),
    })
}

/// Connects and logs in, prompting as needed: a remembered token first; if
/// the server refuses it, the password (up to three times), asked only once
/// the server's certificate is trusted. A session token
/// returned by a password login is remembered. Unreachable servers are
/// retried (with a note on stderr) until they answer or the user presses
/// Ctrl-C.
///
/// # Errors
/// See [`LoginError`]: certificate problems, refused credentials, a failed
/// prompt.
pub async fn login(
    opts: &LoginOptions,
    prompt: &TrustPrompt,
    client_name: &str,
) -> Result<LoggedIn, LoginError> {
    let client = ClientConfig::new(opts.server.clone(), trust(opts, prompt)?, client_name);
    let (username, store) = match &opts.credentials {
        Credentials::Token(token) => {
            return attempt(&client, Auth::Token(token.clone()))
                .await?
                .map_err(LoginError::TokenRefused);
        }
        Credentials::User { username, store } => (username, store),
    };
    if let Some(token) = store.as_ref().and_then(|s| s.load(&opts.server, username)) {
        match attempt(&client, Auth::Token(token)).await? {
            Ok(done) => return Ok(done),
            Err(e) => {
                tracing::info!(error = %e, "remembered token refused; asking for the password");
                if let Some(store) = store
                    && let Err(e) = store.forget(&opts.server, username)
                {
                    tracing::warn!(error = %e, "cannot forget the refused token");
                }
            }
        }
    }
    check_trust(&client).await?;
    let mut last = None;
    for _ in 0..PASSWORD_TRIES {
        let password = read_password(username, &opts.server).await?;
        let auth = Auth::Password {
            username: username.clone(),
            password,
        };
        match attempt_remembering(&client, auth, store.as_ref(), &opts.server, username).await? {
            Ok(done) => return Ok(done),
            Err(e) => {
                eprintln!("{e}");
                last = Some(e);
            }
        }
    }
    Err(LoginError::PasswordRefused(last.unwrap_or_else(|| {
        ClientError::ConnectionLost("no login attempt was made".into())
    })))
}

/// Connects once without logging in, so that the certificate is checked
/// (and, for a new server, the fingerprint question asked) before the
/// password is: nobody should type a password for a server they have not
/// decided to trust. An unreachable server is left to the session's retries.
async fn check_trust(client: &ClientConfig) -> Result<(), LoginError> {
    match chat_client::connect(client).await {
        Ok(conn) => {
            conn.close("trust checked");
            Ok(())
        }
        Err(e) if e.is_transient() => Ok(()),
        Err(e) => Err(LoginError::Client(e)),
    }
}

async fn read_password(username: &str, server: &str) -> Result<String, LoginError> {
    let question = format!("Password for {username} on {server}: ");
    tokio::task::spawn_blocking(move || rpassword::prompt_password(question))
        .await
        .map_err(|e| LoginError::Prompt(std::io::Error::other(e)))?
        .map_err(LoginError::Prompt)
}

async fn attempt(
    client: &ClientConfig,
    auth: Auth,
) -> Result<Result<LoggedIn, ClientError>, LoginError> {
    attempt_remembering(client, auth, None, "", "").await
}

/// One session start. The outer error ends the program; the inner one is a
/// refused credential the caller may answer with another.
async fn attempt_remembering(
    client: &ClientConfig,
    auth: Auth,
    store: Option<&TokenStore>,
    server: &str,
    username: &str,
) -> Result<Result<LoggedIn, ClientError>, LoginError> {
    let mut config = SessionConfig {
        client: client.clone(),
        auth,
        backoff: Backoff::default(),
    };
    let (session, mut events) = Session::start(config.clone());
    while let Some(event) = events.recv().await {
        match event {
            SessionEvent::Connected { user, token, .. } => {
                if let Some(token) = token {
                    if let Some(store) = store
                        && let Err(e) = store.save(server, username, &token)
                    {
                        eprintln!("warning: {e}");
                    }
                    config.auth = Auth::Token(token);
                }
                return Ok(Ok(LoggedIn {
                    session,
                    events,
                    user,
                    config,
                }));
            }
            SessionEvent::Reconnecting { delay, error, .. } => {
                eprintln!(
                    "{error}\nretrying in {:.1} s (Ctrl-C to give up)",
                    delay.as_secs_f64()
                );
            }
            SessionEvent::Stopped { error: Some(e) } if e.code() == Some(ErrorCode::AuthFailed) => {
                return Ok(Err(e));
            }
            SessionEvent::Stopped { error: Some(e) } => return Err(LoginError::Client(e)),
            SessionEvent::Stopped { error: None } => return Err(LoginError::Stopped),
            other => tracing::debug!(?other, "session event before login"),
        }
    }
    Err(LoginError::Stopped)
}
