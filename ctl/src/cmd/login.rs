//! `login`, `logout` and `whoami`.

use super::read_stdin_line;
use crate::auth::{Target, profile};
use crate::error::{CtlError, Result};
use crate::output::{Out, rfc3339};
use chat_protocol::UserInfo;
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};

/// Logs in with a password and stores the session token (0600) for this
/// profile and server. The password comes from `--password-stdin` or a
/// terminal prompt that does not echo.
///
/// # Errors
/// [`CtlError::Usage`] without a terminal or stdin password; the server's
/// `AuthFailed` (exit 4); I/O errors storing the token.
pub async fn login(
    target: &Target,
    out: &Out,
    user: Option<String>,
    password_stdin: bool,
) -> Result<()> {
    let username = match user {
        Some(u) => u,
        None => prompt_line("username: ").await?,
    };
    let password = if password_stdin {
        read_stdin_line("password").await?
    } else {
        prompt_password().await?
    };
    let conn = target.connect().await?;
    let (info, token) = conn
        .login(&username, &password)
        .await
        .map_err(|e| CtlError::client(format!("cannot log in as {username}"), e))?;
    let token = token.ok_or_else(|| {
        CtlError::Invalid(
            "the server logged you in but sent no session token; report this with the server version"
                .to_owned(),
        )
    })?;
    let path = target.login_path()?;
    profile::store_token(&path, &token)?;
    if out.json() {
        out.json_line(&json!({
            "username": info.author.username,
            "server": target.server,
            "profile": target.profile,
            "token_file": path.display().to_string(),
        }))
    } else {
        out.line(&format!(
            "logged in to {} as {}; token stored in {}",
            target.server,
            info.author.username,
            path.display()
        ))
    }
}

/// Revokes the stored login's session and deletes its file.
///
/// # Errors
/// [`CtlError::Auth`] when not logged in; connection errors.
pub async fn logout(target: &Target, out: &Out) -> Result<()> {
    let path = target.login_path()?;
    if !path.exists() {
        return Err(CtlError::Auth(format!(
            "no stored login for {} (profile {})",
            target.server, target.profile
        )));
    }
    let token = profile::read_token(&path)?;
    let conn = target.connect().await?;
    // A token the server no longer knows is as good as logged out.
    if conn.authenticate(&token).await.is_ok() {
        conn.logout()
            .await
            .map_err(|e| CtlError::client("cannot log out", e))?;
    }
    std::fs::remove_file(&path)
        .map_err(|e| CtlError::io(format!("cannot delete {}", path.display()), e))?;
    out.line(&format!("logged out of {}", target.server))
}

/// Prints the account the token belongs to.
///
/// # Errors
/// As [`Target::connect_authed`].
pub async fn whoami(target: &Target, out: &Out) -> Result<()> {
    let (_, user) = target.connect_authed().await?;
    print_user(out, &user)
}

/// Prints one account (shared with `user show`).
///
/// # Errors
/// Output errors.
pub fn print_user(out: &Out, u: &UserInfo) -> Result<()> {
    if out.json() {
        return out.json_line(&user_json(u));
    }
    let rows = vec![
        vec!["username".to_owned(), u.author.username.clone()],
        vec!["display_name".to_owned(), u.author.display_name.clone()],
        vec!["org".to_owned(), u.author.org.clone()],
        vec!["admin".to_owned(), shown(u.admin.map(|b| b.to_string()))],
        vec![
            "disabled".to_owned(),
            shown(u.disabled.map(|b| b.to_string())),
        ],
        vec!["created".to_owned(), shown(u.created_at.map(rfc3339))],
        vec!["id".to_owned(), u.author.id.to_string()],
    ];
    out.table(&["field", "value"], &rows)
}

/// The JSON form of an account.
pub fn user_json(u: &UserInfo) -> serde_json::Value {
    json!({
        "id": u.author.id.0,
        "username": u.author.username,
        "display_name": u.author.display_name,
        "org": u.author.org,
        "admin": u.admin,
        "disabled": u.disabled,
        "created_at": u.created_at.map(rfc3339),
    })
}

/// An account field the server showed, or `-` where it is not shown to
/// this user (account fields of other users are for server admins).
pub fn shown(v: Option<String>) -> String {
    v.unwrap_or_else(|| "-".to_owned())
}

/// Asks for one line on the terminal.
async fn prompt_line(prompt: &'static str) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        return Err(CtlError::Usage(
            "no terminal to ask on; pass --user NAME (and --password-stdin)".to_owned(),
        ));
    }
    let line = tokio::task::spawn_blocking(move || {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| CtlError::Invalid(format!("prompt failed: {e}")))?
    .map_err(|e| CtlError::io("cannot read the terminal", e))?;
    Ok(line.trim().to_owned())
}

/// Asks for a password on the terminal without echo.
///
/// # Errors
/// [`CtlError::Usage`] without a terminal.
pub async fn prompt_password() -> Result<String> {
    tokio::task::spawn_blocking(|| rpassword::prompt_password("password: "))
        .await
        .map_err(|e| CtlError::Invalid(format!("prompt failed: {e}")))?
        .map_err(|_| {
            CtlError::Usage(
                "cannot ask for a password without a terminal; use --password-stdin".to_owned(),
            )
        })
}
