//! `user ...`, `token ...` and `server ...`: account administration and
//! server facts.

use super::login::{print_user, prompt_password, user_json};
use super::read_stdin_line;
use crate::args::{ServerCmd, TokenCmd, UserCmd};
use crate::auth::Target;
use crate::error::{CtlError, Result};
use crate::output::{Out, rfc3339};
use chat_protocol::UserChange;
use serde_json::json;

/// Runs a `user` subcommand.
///
/// # Errors
/// The server's refusals (`Forbidden` exit 4, `Conflict` exit 5,
/// `NotFound` exit 3, `InvalidName` exit 2) and connection errors.
pub async fn user(target: &Target, out: &Out, cmd: UserCmd) -> Result<()> {
    // Secrets are read before connecting, so a prompt never holds a connection open.
    let password = match &cmd {
        UserCmd::Create {
            password_stdin: true,
            ..
        }
        | UserCmd::ResetPassword {
            password_stdin: true,
            ..
        } => Some(read_stdin_line("password").await?),
        UserCmd::ResetPassword {
            password_stdin: false,
            ..
        } => Some(prompt_password("password: ").await?),
        _ => None,
    };
    if let Some(p) = &password {
        chat_protocol::names::validate_password(p)
            .map_err(|e| CtlError::Usage(format!("{}; choose another password", e.message)))?;
    }
    let (conn, _) = target.connect_authed().await?;
    let change = |name: &str, change: UserChange, what: &str| {
        let (conn, name, what) = (conn.clone(), name.to_owned(), what.to_owned());
        async move {
            conn.update_user(&name, change)
                .await
                .map_err(|e| CtlError::client(format!("cannot {what} {name}"), e))
        }
    };
    let updated = match cmd {
        UserCmd::Create {
            name,
            display_name,
            org,
            admin,
            ..
        } => conn
            .create_user(
                &name,
                password.as_deref(),
                display_name.as_deref().unwrap_or(""),
                org.as_deref().unwrap_or(""),
                admin,
            )
            .await
            .map_err(|e| CtlError::client(format!("cannot create user {name}"), e))?,
        UserCmd::List { query } => {
            let users = conn
                .list_users(query.as_deref())
                .await
                .map_err(|e| CtlError::client("cannot list users", e))?;
            if out.json() {
                for u in &users {
                    out.json_line(&user_json(u))?;
                }
                return Ok(());
            }
            let rows: Vec<Vec<String>> = users
                .iter()
                .map(|u| {
                    vec![
                        u.author.username.clone(),
                        u.author.display_name.clone(),
                        u.author.org.clone(),
                        flags(u.admin, u.disabled),
                        super::login::shown(u.created_at.map(rfc3339)),
                    ]
                })
                .collect();
            return out.table(
                &["username", "display name", "org", "flags", "created"],
                &rows,
            );
        }
        UserCmd::Show { name } => conn
            .get_user(&name)
            .await
            .map_err(|e| CtlError::client(format!("cannot show user {name}"), e))?,
        UserCmd::Disable { name } => change(&name, UserChange::Disabled(true), "disable").await?,
        UserCmd::Enable { name } => change(&name, UserChange::Disabled(false), "enable").await?,
        UserCmd::ResetPassword { name, .. } => {
            let p = password.unwrap_or_default();
            change(&name, UserChange::Password(p), "reset the password of").await?
        }
        UserCmd::SetAdmin { name, admin } => {
            change(&name, UserChange::Admin(admin), "change admin rights of").await?
        }
        UserCmd::SetOrg { name, org } => {
            change(&name, UserChange::Org(org), "set the organization of").await?
        }
        UserCmd::SetDisplayName { name, display_name } => {
            change(
                &name,
                UserChange::DisplayName(display_name),
                "set the display name of",
            )
            .await?
        }
    };
    print_user(out, &updated)
}

fn flags(admin: Option<bool>, disabled: Option<bool>) -> String {
    match (admin, disabled) {
        (None, None) => "-",
        (Some(true), Some(true)) => "admin,disabled",
        (Some(true), _) => "admin",
        (_, Some(true)) => "disabled",
        _ => "",
    }
    .to_owned()
}

/// Runs a `token` subcommand. `create` prints the secret once: alone on
/// stdout (or as `secret` in JSON) so scripts can capture it.
///
/// # Errors
/// As [`user`].
pub async fn token(target: &Target, out: &Out, cmd: TokenCmd) -> Result<()> {
    let (conn, _) = target.connect_authed().await?;
    match cmd {
        TokenCmd::Create { user, label } => {
            let (info, secret) = conn
                .create_token(&user, &label)
                .await
                .map_err(|e| CtlError::client(format!("cannot create a token for {user}"), e))?;
            if out.json() {
                out.json_line(&json!({
                    "id": info.id,
                    "user": info.user.username,
                    "label": info.label,
                    "created_at": rfc3339(info.created_at),
                    "secret": secret,
                }))
            } else {
                eprintln!(
                    "token {} for {}; the secret below is shown only once, store it now:",
                    info.id, info.user.username
                );
                out.line(&secret)
            }
        }
        TokenCmd::List { user } => {
            let tokens = conn
                .list_tokens(user.as_deref())
                .await
                .map_err(|e| CtlError::client("cannot list tokens", e))?;
            if out.json() {
                for t in &tokens {
                    out.json_line(&json!({
                        "id": t.id,
                        "user": t.user.username,
                        "label": t.label,
                        "created_at": rfc3339(t.created_at),
                        "api": t.api,
                    }))?;
                }
                return Ok(());
            }
            let rows: Vec<Vec<String>> = tokens
                .iter()
                .map(|t| {
                    vec![
                        t.id.to_string(),
                        t.user.username.clone(),
                        if t.api { "api" } else { "session" }.to_owned(),
                        t.label.clone(),
                        rfc3339(t.created_at),
                    ]
                })
                .collect();
            out.table(&["id", "user", "kind", "label", "created"], &rows)
        }
        TokenCmd::Revoke { id } => {
            conn.revoke_token(id)
                .await
                .map_err(|e| CtlError::client(format!("cannot revoke token {id}"), e))?;
            if out.json() {
                out.json_line(&json!({"revoked": id}))
            } else {
                out.line(&format!("revoked token {id}"))
            }
        }
    }
}

/// Runs a `server` subcommand. `info` needs no login.
///
/// # Errors
/// Connection errors; `Forbidden` (exit 4) for `stats` without admin rights.
pub async fn server(target: &Target, out: &Out, cmd: ServerCmd) -> Result<()> {
    match cmd {
        ServerCmd::Reindex => super::search::reindex(target, out).await,
        ServerCmd::SearchStatus => super::search::status(target, out).await,
        ServerCmd::Info => {
            let conn = target.connect().await?;
            let info = conn
                .server_info()
                .await
                .map_err(|e| CtlError::client("cannot read server info", e))?;
            let limits = serde_json::to_value(&info.limits).unwrap_or_default();
            if out.json() {
                return out.json_line(&json!({
                    "server": info.server,
                    "address": target.server,
                    "protocol_version": info.protocol_version,
                    "limits": limits,
                }));
            }
            let mut rows = vec![
                vec!["server".to_owned(), info.server.clone()],
                vec!["address".to_owned(), target.server.clone()],
                vec!["protocol".to_owned(), info.protocol_version.to_string()],
            ];
            if let serde_json::Value::Object(m) = limits {
                for (k, v) in m {
                    rows.push(vec![format!("limits.{k}"), v.to_string()]);
                }
            }
            out.table(&["field", "value"], &rows)
        }
        ServerCmd::Health => health(target, out).await,
        ServerCmd::Backup { file } => backup(target, out, &file).await,
        ServerCmd::Stats => {
            let (conn, _) = target.connect_authed().await?;
            let s = conn
                .server_stats()
                .await
                .map_err(|e| CtlError::client("cannot read server stats", e))?;
            #[allow(clippy::cast_precision_loss)]
            let rate = |n: u64| {
                if s.uptime_secs == 0 {
                    0.0
                } else {
                    n as f64 / s.uptime_secs as f64
                }
            };
            #[allow(clippy::cast_precision_loss)]
            let per_commit = if s.commits == 0 {
                0.0
            } else {
                s.writes as f64 / s.commits as f64
            };
            if out.json() {
                return out.json_line(&json!({
                    "connections": s.connections,
                    "sessions": s.sessions,
                    "rooms": s.rooms,
                    "users": s.users,
                    "events": s.events,
                    "commits": s.commits,
                    "writes": s.writes,
                    "uptime_secs": s.uptime_secs,
                    "commits_per_sec": rate(s.commits),
                    "writes_per_commit": per_commit,
                    "failed_logins": s.failed_logins,
                    "throttled_logins": s.throttled_logins,
                    "refused_connections": s.refused_connections,
                    "storage": s.storage,
                    "idempotency_keys": s.idempotency_keys,
                    "failed_writes": s.failed_writes,
                }));
            }
            let rows = vec![
                vec!["connections".to_owned(), s.connections.to_string()],
                vec!["sessions".to_owned(), s.sessions.to_string()],
                vec!["rooms".to_owned(), s.rooms.to_string()],
                vec!["users".to_owned(), s.users.to_string()],
                vec!["events".to_owned(), s.events.to_string()],
                vec!["commits".to_owned(), s.commits.to_string()],
                vec!["writes".to_owned(), s.writes.to_string()],
                vec!["uptime_secs".to_owned(), s.uptime_secs.to_string()],
                vec![
                    "commits_per_sec".to_owned(),
                    format!("{:.2}", rate(s.commits)),
                ],
                vec!["writes_per_commit".to_owned(), format!("{per_commit:.2}")],
                vec!["failed_logins".to_owned(), s.failed_logins.to_string()],
                vec![
                    "throttled_logins".to_owned(),
                    s.throttled_logins.to_string(),
                ],
                vec![
                    "refused_connections".to_owned(),
                    s.refused_connections.to_string(),
                ],
                vec!["storage".to_owned(), s.storage.clone()],
                vec![
                    "idempotency_keys".to_owned(),
                    s.idempotency_keys.to_string(),
                ],
                vec!["failed_writes".to_owned(), s.failed_writes.to_string()],
            ];
            out.table(&["field", "value"], &rows)
        }
    }
}

/// `chatctl server health`: `ready` (exit 0) while the server's store
/// accepts writes, `not ready: REASON` (exit 1) while it is degraded, as
/// `GET /readyz` on the metrics listener. Read through `ServerStats`, so
/// it needs a server admin's token. A request refused `Unavailable` (the
/// server answers so in the moments it reopens its database, even a
/// login) is "not ready" too, not a failure of chatctl.
/// `chatctl server backup FILE`: streams the server's backup archive into
/// FILE and prints its size and contents.
async fn backup(target: &Target, out: &Out, file: &std::path::Path) -> Result<()> {
    let (conn, _) = target.connect_authed().await?;
    let started = std::time::Instant::now();
    let done = conn
        .backup_to(file, super::files::progress(format!("{}", file.display())))
        .await
        .map_err(|e| CtlError::client("cannot take a backup", e))?;
    let ms = started.elapsed().as_millis() as u64;
    if out.json() {
        return out.json_line(&json!({
            "file": done.path.display().to_string(),
            "bytes": done.bytes,
            "events": done.events,
            "files": done.blobs,
            "ms": ms,
        }));
    }
    out.line(&format!(
        "backup written to {}: {} ({} events, {} files) in {ms} ms; restore with `chatd restore {} --data DIR`",
        done.path.display(),
        super::files::human(done.bytes),
        done.events,
        done.blobs,
        done.path.display()
    ))
}

async fn health(target: &Target, out: &Out) -> Result<()> {
    let unavailable = |e: &chat_client::ClientError| {
        (e.code() == Some(chat_protocol::ErrorCode::Unavailable)).then(|| match e {
            chat_client::ClientError::Server(body) => body.message.clone(),
            other => other.to_string(),
        })
    };
    let storage = match target.connect_authed().await {
        Ok((conn, _)) => match conn.server_stats().await {
            Ok(s) => s.storage,
            Err(e) => match unavailable(&e) {
                Some(why) => why,
                None => return Err(CtlError::client("cannot read the server's health", e)),
            },
        },
        Err(CtlError::Client { context, source }) => match unavailable(&source) {
            Some(why) => why,
            None => return Err(CtlError::Client { context, source }),
        },
        Err(e) => return Err(e),
    };
    let ready = storage == "healthy";
    if out.json() {
        out.json_line(&json!({ "ready": ready, "storage": storage }))?;
    } else if ready {
        out.line("ready")?;
    } else {
        out.line(&format!("not ready: {storage}"))?;
    }
    if ready {
        Ok(())
    } else {
        Err(CtlError::Partial(
            "the server is not ready: its store does not accept writes".into(),
        ))
    }
}
