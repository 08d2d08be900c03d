//! `profile ...`: the connection profiles in `chatctl.toml` (list, use,
//! remove) and the account's public profile on the server (set).

use super::login::user_json;
use crate::args::{GlobalArgs, ProfileCmd};
use crate::auth::{Target, profile};
use crate::error::{CtlError, Result};
use crate::output::Out;
use serde_json::json;

/// Runs a `profile` subcommand; `target` resolves the connection only for
/// `profile set`, which talks to the server.
///
/// # Errors
/// [`CtlError::NotFound`] for an unknown profile; file errors; the
/// server's refusals for `set`.
pub async fn run(
    global: &GlobalArgs,
    target: impl FnOnce() -> Result<Target>,
    out: &Out,
    cmd: ProfileCmd,
) -> Result<()> {
    match cmd {
        ProfileCmd::List => list(global, out),
        ProfileCmd::Use { name } => {
            let mut file = profile::read_file()?;
            if !file.profiles.contains_key(&name) {
                return Err(unknown(&name));
            }
            file.current = Some(name.clone());
            let path = profile::write_file(&file)?;
            if out.json() {
                out.json_line(&json!({"current": name, "config_file": path.display().to_string()}))
            } else {
                out.line(&format!("now using profile {name:?} ({})", path.display()))
            }
        }
        ProfileCmd::Remove { name } => {
            let mut file = profile::read_file()?;
            let Some(removed) = file.profiles.remove(&name) else {
                return Err(unknown(&name));
            };
            if file.current.as_deref() == Some(name.as_str()) {
                file.current = None;
            }
            profile::write_file(&file)?;
            // Its stored login goes too: a token nobody can name is a
            // secret left lying around.
            if let Some(server) = &removed.server {
                let token = profile::login_path(&name, server)?;
                match std::fs::remove_file(&token) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(CtlError::io(
                            format!("cannot delete {}", token.display()),
                            e,
                        ));
                    }
                }
            }
            if out.json() {
                out.json_line(&json!({"removed": name}))
            } else {
                out.line(&format!("removed profile {name:?} and its stored login"))
            }
        }
        ProfileCmd::Set { display_name } => {
            let (conn, _) = target()?.connect_authed().await?;
            let user = conn
                .set_display_name(&display_name)
                .await
                .map_err(|e| CtlError::client("cannot set your display name", e))?;
            if out.json() {
                out.json_line(&user_json(&user))
            } else {
                out.line(&format!(
                    "display name of {} is now {:?}",
                    user.author.username, user.author.display_name
                ))
            }
        }
    }
}

fn unknown(name: &str) -> CtlError {
    CtlError::NotFound(format!(
        "no profile {name:?}; `chatctl profile list` shows them, \
         `chatctl --profile {name} login` creates one"
    ))
}

/// Lists the profiles: name, server, trust, whether a login is stored.
fn list(global: &GlobalArgs, out: &Out) -> Result<()> {
    let file = profile::read_file()?;
    let current = global
        .profile
        .clone()
        .unwrap_or_else(|| file.current_name().to_owned());
    let mut rows = Vec::new();
    for (name, p) in &file.profiles {
        let server = p.server.clone().unwrap_or_default();
        let trust = match (&p.ca, &p.known_hosts) {
            (Some(ca), _) => format!("ca {}", ca.display()),
            (None, Some(kh)) => format!("known-hosts {}", kh.display()),
            (None, None) => "known-hosts (default)".to_owned(),
        };
        let logged_in = match (&p.token_file, &p.server) {
            (Some(_), _) => true,
            (None, Some(s)) => profile::login_path(name, s).is_ok_and(|path| path.exists()),
            (None, None) => false,
        };
        if out.json() {
            out.json_line(&json!({
                "name": name,
                "current": *name == current,
                "server": p.server,
                "ca": p.ca.as_ref().map(|c| c.display().to_string()),
                "known_hosts": p.known_hosts.as_ref().map(|c| c.display().to_string()),
                "token_file": p.token_file.as_ref().map(|c| c.display().to_string()),
                "logged_in": logged_in,
            }))?;
            continue;
        }
        rows.push(vec![
            if *name == current { "*" } else { "" }.to_owned(),
            name.clone(),
            server,
            trust,
            if logged_in { "yes" } else { "no" }.to_owned(),
        ]);
    }
    if out.json() {
        return Ok(());
    }
    out.table(&["", "name", "server", "trust", "logged in"], &rows)
}
