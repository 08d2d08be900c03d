//! One module per command group. Each command resolves names, makes its
//! requests through `chat-client`, and prints through [`crate::output::Out`].
//!
//! To add a command: add it to `args.rs`, give it a function in the module
//! of its group, route it in [`run`], and if the server cannot do it yet,
//! name it in [`unsupported`].

pub mod admin;
pub mod audit;
pub mod audit_log;
pub mod export;
pub mod files;
pub mod history;
pub mod import;
pub mod lifecycle;
pub mod login;
pub mod man;
pub mod msg;
pub mod profiles;
pub mod retention;
pub mod room;
pub mod search;
pub mod tail;
pub mod unsupported;

use crate::args::{Cli, Command};
use crate::auth::Target;
use crate::error::{CtlError, Result};
use crate::output::Out;
use chat_client::Connection;
use chat_protocol::RoomInfo;

/// Runs one parsed command line to completion.
///
/// # Errors
/// Whatever the command reports; see [`CtlError::exit_code`].
pub async fn run(cli: Cli) -> Result<()> {
    let out = Out::new(cli.global.json);
    let target = || Target::resolve(&cli.global);
    match cli.command {
        Command::Completions { shell } => {
            // Generated into memory first: clap_complete panics when its
            // writer fails, and stdout may be a pipe closed early (`| head`).
            let mut cmd = crate::args::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "chatctl", &mut script);
            out.raw(&script)
        }
        Command::Bench(args) => {
            let target = target()?;
            let token = target.token()?;
            let report = crate::bench::run(args, target.client_config(), token)
                .await
                .map_err(|e| CtlError::Invalid(format!("bench failed: {e:#}")))?;
            crate::bench::print(&report, cli.global.json, &mut std::io::stdout().lock())
                .map_err(|e| CtlError::io("cannot write the bench report", e))
        }
        Command::Man { dir } => man::run(&out, dir.as_deref()),
        Command::Login {
            username,
            user,
            password_stdin,
        } => {
            let target = Target::resolve_profile(&cli.global, true)?;
            login::login(
                &target,
                &cli.global,
                &out,
                username.or(user),
                password_stdin,
            )
            .await
        }
        Command::Passwd { password_stdin } => login::passwd(&target()?, &out, password_stdin).await,
        Command::Profile(c) => profiles::run(&cli.global, target, &out, c).await,
        Command::Logout => login::logout(&target()?, &out).await,
        Command::Whoami => login::whoami(&target()?, &out).await,
        Command::User(c) => admin::user(&target()?, &out, c).await,
        Command::Token(c) => admin::token(&target()?, &out, c).await,
        Command::Server(c) => admin::server(&target()?, &out, c).await,
        Command::Room(c) => room::run(&target()?, &out, c).await,
        Command::Send {
            room, each_line, ..
        } if each_line => msg::send_each_line(&target()?, &out, room).await,
        Command::Send {
            room,
            text,
            idempotency_key,
            files,
            ..
        } if !files.is_empty() => {
            files::send(&target()?, &out, &room, &files, text, idempotency_key).await
        }
        Command::Download {
            room,
            seq,
            out: dir,
        } => files::download(&target()?, &out, &room, seq, dir).await,
        Command::Files { room } => files::list(&target()?, &out, &room).await,
        Command::Send {
            room,
            text,
            idempotency_key,
            ..
        } => {
            msg::send(
                &target()?,
                &out,
                msg::Dest::Room(room),
                text,
                idempotency_key,
                None,
            )
            .await
        }
        Command::Dm {
            user,
            text,
            idempotency_key,
        } => {
            msg::send(
                &target()?,
                &out,
                msg::Dest::User(user),
                text,
                idempotency_key,
                None,
            )
            .await
        }
        Command::Reply {
            room,
            seq,
            text,
            idempotency_key,
        } => {
            msg::send(
                &target()?,
                &out,
                msg::Dest::Room(room),
                text,
                idempotency_key,
                Some(seq),
            )
            .await
        }
        Command::Read { room, seq } => msg::read(&target()?, &out, &room, seq).await,
        Command::Edit { room, seq, text } => {
            lifecycle::message(&target()?, &out, &room, seq, lifecycle::Change::Edit(text)).await
        }
        Command::Delete { room, seq } => {
            lifecycle::message(&target()?, &out, &room, seq, lifecycle::Change::Delete).await
        }
        Command::React { room, seq, emoji } => {
            lifecycle::message(
                &target()?,
                &out,
                &room,
                seq,
                lifecycle::Change::React(emoji),
            )
            .await
        }
        Command::Tail(a) => tail::run(&target()?, &out, a).await,
        Command::Search(a) => search::run(&target()?, &out, a).await,
        Command::History(a) => history::run(&target()?, &out, a).await,
        Command::Export { room, reason } => export::run(&target()?, &out, room, reason).await,
        Command::Audit(crate::args::AuditCmd::Head) => audit_log::head(&target()?, &out).await,
        Command::Audit(crate::args::AuditCmd::Verify { head, key }) => {
            audit_log::verify(&target()?, &out, &head, key.as_deref()).await
        }
        Command::Import(c) => import::run(&target()?, &out, c).await,
        Command::Retention(c) => retention::run(&target()?, &out, c).await,
    }
}

/// Looks a room up by name (`@user` for a direct room).
///
/// # Errors
/// [`CtlError::Client`] (exit 3 when it does not exist or is not visible).
pub async fn room_by_name(conn: &Connection, name: &str) -> Result<RoomInfo> {
    conn.room_by_name(name).await.map_err(|e| {
        CtlError::client(
            format!("cannot find room {name:?} (check `chatctl room list`)"),
            e,
        )
    })
}

/// Reads all of stdin as UTF-8 on a blocking thread.
///
/// # Errors
/// [`CtlError::Io`], or [`CtlError::Usage`] for text that is not UTF-8.
pub async fn read_stdin() -> Result<String> {
    let read = tokio::task::spawn_blocking(|| {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map(|_| buf)
    })
    .await
    .map_err(|e| CtlError::Invalid(format!("reading stdin failed: {e}")))?
    .map_err(|e| CtlError::io("cannot read stdin", e))?;
    String::from_utf8(read)
        .map_err(|_| CtlError::Usage("stdin is not valid UTF-8; send UTF-8 text".to_owned()))
}

/// Reads the first line of stdin (without its line ending), for
/// `--password-stdin`.
///
/// # Errors
/// As [`read_stdin`]; [`CtlError::Usage`] when stdin is empty.
pub async fn read_stdin_line(what: &str) -> Result<String> {
    let all = read_stdin().await?;
    let line = all.lines().next().unwrap_or("").to_owned();
    if line.is_empty() {
        return Err(CtlError::Usage(format!(
            "no {what} on stdin; pipe it in, e.g. `printf '%s\\n' \"$PW\" | chatctl ...`"
        )));
    }
    Ok(line)
}
