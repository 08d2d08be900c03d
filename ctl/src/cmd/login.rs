//! `login`, `logout`, `whoami` and `passwd`.

use super::read_stdin_line;
use crate::args::GlobalArgs;
use crate::auth::{Target, profile};
use crate::error::{CtlError, Result};
use crate::output::{Out, rfc3339};
use chat_protocol::UserInfo;
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};

/// Logs in with a password, stores the session token (0600) for this
/// profile and server, and saves the server and the trust choice in the
/// profile (see [`save_profile`]), so later commands need no flags. The
/// password comes from `--password-stdin` or a terminal prompt that does
/// not echo.
///
/// # Errors
/// [`CtlError::Usage`] without a terminal or stdin password; the server's
/// `AuthFailed` (exit 4); I/O errors storing the token or the profile.
pub async fn login(
    target: &Target,
    global: &GlobalArgs,
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
        prompt_password("password: ").await?
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
    let config = save_profile(target, global)?;
    if out.json() {
        out.json_line(&json!({
            "username": info.author.username,
            "server": target.server,
            "profile": target.profile,
            "token_file": path.display().to_string(),
            "config_file": config.display().to_string(),
        }))
    } else {
        out.line(&format!(
            "logged in to {} as {}; token stored in {}, profile {:?} saved in {}",
            target.server,
            info.author.username,
            path.display(),
            target.profile,
            config.display()
        ))
    }
}

/// Records in the profile what `login` used: the server, and the trust
/// choice given by `--ca` or `--known-hosts` (as absolute paths). A
/// `token-file` in the profile is dropped, since it would hide the stored
/// login. Other profiles are left as they are.
///
/// # Errors
/// As [`profile::write_file`].
fn save_profile(target: &Target, global: &GlobalArgs) -> Result<std::path::PathBuf> {
    let absolute = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let mut file = profile::read_file()?;
    let entry = file.profiles.entry(target.profile.clone()).or_default();
    entry.server = Some(target.server.clone());
    entry.token_file = None;
    if let Some(ca) = &global.ca {
        entry.ca = Some(absolute(ca));
        entry.known_hosts = None;
    } else if let Some(kh) = &global.known_hosts {
        entry.known_hosts = Some(absolute(kh));
        entry.ca = None;
    }
    profile::write_file(&file)
}

/// Changes the logged-in user's password. The current and new passwords
/// come from the first two lines of stdin (`--password-stdin`) or from
/// terminal prompts (the new one asked twice). The server ends the user's
/// other login sessions; this one stays.
///
/// # Errors
/// [`CtlError::Usage`] for missing passwords or a mistyped repeat; the
/// server's `AuthFailed` (exit 4) for a wrong current password.
pub async fn passwd(target: &Target, out: &Out, password_stdin: bool) -> Result<()> {
    let (old, new) = if password_stdin {
        let all = super::read_stdin().await?;
        let mut lines = all.lines();
        match (lines.next(), lines.next()) {
            (Some(old), Some(new)) if !old.is_empty() && !new.is_empty() => {
                (old.to_owned(), new.to_owned())
            }
            _ => {
                return Err(CtlError::Usage(
                    "--password-stdin needs two lines: the current password, then the new one"
                        .to_owned(),
                ));
            }
        }
    } else {
        let old = prompt_password("current password: ").await?;
        let new = prompt_password("new password: ").await?;
        if prompt_password("new password again: ").await? != new {
            return Err(CtlError::Usage(
                "the new passwords differ; nothing was changed, try again".to_owned(),
            ));
        }
        (old, new)
    };
    let (conn, me) = target.connect_authed().await?;
    conn.change_password(&old, &new)
        .await
        .map_err(|e| CtlError::client("cannot change your password", e))?;
    let name = me.author.username;
    if out.json() {
        out.json_line(&json!({"username": name, "password_changed": true}))
    } else {
        out.line(&format!(
            "password of {name} changed; your other login sessions have ended"
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

/// Asks for a password on the terminal without echo, after `prompt`.
///
/// # Errors
/// [`CtlError::Usage`] without a terminal.
pub async fn prompt_password(prompt: &'static str) -> Result<String> {
    tokio::task::spawn_blocking(move || rpassword::prompt_password(prompt))
        .await
        .map_err(|e| CtlError::Invalid(format!("prompt failed: {e}")))?
        .map_err(|_| {
            CtlError::Usage(
                "cannot ask for a password without a terminal; use --password-stdin".to_owned(),
            )
        })
}
