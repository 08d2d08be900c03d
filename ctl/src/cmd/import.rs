//! `import irc-log FILE --room NAME [--date YYYY-MM-DD]`: stores an IRC
//! transcript's messages with their original authors and times.
//!
//! Each message line becomes one `Import` request, sent one at a time so
//! the room keeps the file's order (the server may run concurrent requests
//! in any order). Keys are `irc:<room>:<file hash>:<line>`, so re-running
//! an import stores nothing twice. `/me` actions are stored as `/me text`.
//! Join, part and nick-change lines carry no time and are reported as
//! skipped, as are lines of other shapes.

use super::room_by_name;
use crate::args::ImportCmd;
use crate::auth::Target;
use crate::error::{CtlError, Result};
use crate::irc::{Clock, Line, date_from_file_name, parse_line};
use crate::nicks::{Known, NickMap};
use crate::output::Out;
use chat_client::Connection;
use chat_protocol::{ErrorCode, IdempotencyKey, RoomInfo, Timestamp, Visibility};
use chrono::NaiveDate;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// What an import did, for the report.
#[derive(Debug, Default)]
pub struct Report {
    /// Lines read.
    pub lines: usize,
    /// Messages stored now.
    pub imported: usize,
    /// Messages already stored by an earlier run (same key).
    pub already_imported: usize,
    /// Lines not stored on purpose, by stable reason key (`blank`,
    /// `join`, `part`, `nick_change`, `no_time`, `separator`, ...): the
    /// count and the sentence shown to people.
    pub skipped: BTreeMap<&'static str, (usize, &'static str)>,
    /// Lines the server refused: (line number, reason).
    pub rejected: Vec<(usize, String)>,
    /// Accounts created for nicks.
    pub users_created: usize,
}

/// Runs `import`.
///
/// # Errors
/// [`CtlError::Usage`] without a date; I/O errors; [`CtlError::Auth`]
/// without server-admin rights; a lost connection (re-run to resume);
/// [`CtlError::Partial`] when the server rejected some lines.
pub async fn run(target: &Target, out: &Out, cmd: ImportCmd) -> Result<()> {
    let ImportCmd::IrcLog { file, room, date } = cmd;
    let from_stdin = file.as_os_str() == "-";
    let bytes = if from_stdin {
        if date.is_none() {
            return Err(CtlError::Usage(
                "reading the transcript from stdin needs --date YYYY-MM-DD (the date of its first line)"
                    .to_owned(),
            ));
        }
        read_stdin_bytes().await?
    } else {
        tokio::fs::read(&file)
            .await
            .map_err(|e| CtlError::io(format!("cannot read {}", file.display()), e))?
    };
    let date = start_date(&file, date.as_deref())?;
    let (conn, me) = target.connect_authed().await?;
    if !me.is_admin() {
        return Err(CtlError::Auth(format!(
            "importing needs a server admin's token; {} is not a server admin",
            me.author.username
        )));
    }
    let room_info = find_or_create_room(&conn, &room, &file).await?;
    let users = conn
        .list_users(None)
        .await
        .map_err(|e| CtlError::client("cannot list existing users", e))?;
    let mut nicks = NickMap::new(users.into_iter().map(|u| {
        (
            u.author.username,
            Known {
                display_name: u.author.display_name,
                admin: u.admin == Some(true),
            },
        )
    }));
    let hash: String = Sha256::digest(&bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut report = Report::default();
    let mut clock = Clock::new(date);
    let mut pieces: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop(); // the empty piece after the final newline
    }
    let progress = crate::progress::bar(pieces.len() as u64, "importing");
    for (i, raw) in pieces.into_iter().enumerate() {
        progress.inc(1);
        let line_no = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        report.lines += 1;
        let Ok(line) = std::str::from_utf8(raw) else {
            report
                .rejected
                .push((line_no, "not valid UTF-8".to_owned()));
            continue;
        };
        let (minute, nick, text) = match parse_line(line) {
            Line::Message { minute, nick, text } => (minute, nick, text.to_owned()),
            Line::Action { minute, nick, text } => (minute, nick, format!("/me {text}")),
            Line::Joined { .. } => {
                skip(
                    &mut report,
                    "join",
                    "join line (no time in the file; membership is not imported)",
                );
                continue;
            }
            Line::Left { .. } => {
                skip(
                    &mut report,
                    "part",
                    "part line (no time in the file; membership is not imported)",
                );
                continue;
            }
            Line::NickChange { .. } => {
                skip(
                    &mut report,
                    "nick_change",
                    "nick change (the new nick gets its own user)",
                );
                continue;
            }
            Line::Blank => {
                skip(&mut report, "blank", "blank line");
                continue;
            }
            Line::Unrecognised { key, reason } => {
                skip(&mut report, key, reason);
                continue;
            }
        };
        let ts = clock.place(minute);
        let who = nicks.resolve(nick);
        if who.create {
            create_user(&conn, &who.username, nick).await?;
            report.users_created += 1;
        }
        let key = IdempotencyKey(format!("irc:{}:{hash}:{line_no}", room_info.name));
        match conn
            .import(room_info.id, &who.username, Timestamp(ts), key, &text)
            .await
        {
            Ok(ack) if ack.duplicate => report.already_imported += 1,
            Ok(_) => report.imported += 1,
            Err(e) if e.code().is_some() => {
                report.rejected.push((line_no, e.to_string()));
            }
            Err(e) => {
                return Err(CtlError::client(
                    format!(
                        "import stopped at line {line_no} of {}; run the same command again \
                         to resume (nothing is stored twice)",
                        file.display()
                    ),
                    e,
                ));
            }
        }
    }
    progress.finish_and_clear();
    print_report(out, &file, &room_info.name, &report)?;
    if report.rejected.is_empty() {
        Ok(())
    } else {
        Err(CtlError::Partial(format!(
            "the server rejected {} line(s); see the report above",
            report.rejected.len()
        )))
    }
}

/// Counts a skipped line under its stable `key`, with the sentence people read.
fn skip(report: &mut Report, key: &'static str, reason: &'static str) {
    report.skipped.entry(key).or_insert((0, reason)).0 += 1;
}

fn start_date(file: &Path, date: Option<&str>) -> Result<NaiveDate> {
    if let Some(d) = date {
        return NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| CtlError::Usage(format!("--date {d:?} is not a date; use YYYY-MM-DD")));
    }
    file.file_name()
        .and_then(|n| n.to_str())
        .and_then(date_from_file_name)
        .ok_or_else(|| {
            CtlError::Usage(format!(
                "{} does not start with a YYYY-MM-DD date; pass --date YYYY-MM-DD for its first line",
                file.display()
            ))
        })
}

async fn find_or_create_room(conn: &Connection, name: &str, file: &Path) -> Result<RoomInfo> {
    match conn.room_by_name(name).await {
        Ok(r) => Ok(r),
        Err(e) if e.code() == Some(ErrorCode::NotFound) => {
            let topic = format!(
                "imported from {}",
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
            conn.create_room(name, &topic, Visibility::Public)
                .await
                .map_err(|e| CtlError::client(format!("cannot create room {name}"), e))
        }
        Err(_) => room_by_name(conn, name).await,
    }
}

async fn create_user(conn: &Connection, username: &str, nick: &str) -> Result<()> {
    // A nick is a fine display name unless it breaks the label rules.
    let display = if chat_protocol::names::validate_label(
        "display name",
        nick,
        chat_protocol::names::MAX_LABEL_LEN,
    )
    .is_ok()
    {
        nick
    } else {
        username
    };
    conn.create_user(username, None, display, "", false)
        .await
        .map(|_| ())
        .map_err(|e| {
            CtlError::client(
                format!("cannot create user {username} for nick {nick:?}"),
                e,
            )
        })
}

fn print_report(out: &Out, file: &Path, room: &str, r: &Report) -> Result<()> {
    let skipped_total: usize = r.skipped.values().map(|(n, _)| n).sum();
    let by_reason: BTreeMap<&str, usize> = r.skipped.iter().map(|(k, (n, _))| (*k, *n)).collect();
    if out.json() {
        return out.json_line(&json!({
            "file": file.display().to_string(),
            "room": room,
            "lines": r.lines,
            "imported": r.imported,
            "already_imported": r.already_imported,
            "skipped": skipped_total,
            "skipped_by_reason": by_reason,
            "rejected": r.rejected.len(),
            "rejected_lines": r.rejected.iter().map(|(l, why)| json!({"line": l, "reason": why})).collect::<Vec<_>>(),
            "users_created": r.users_created,
        }));
    }
    out.line(&format!(
        "{}: {} lines into {room}: {} imported, {} already imported, {} skipped, {} rejected; {} users created",
        file.display(),
        r.lines,
        r.imported,
        r.already_imported,
        skipped_total,
        r.rejected.len(),
        r.users_created
    ))?;
    for (n, why) in r.skipped.values() {
        out.line(&format!("  skipped {n}: {why}"))?;
    }
    for (line, why) in &r.rejected {
        out.line(&format!("  rejected line {line}: {why}"))?;
    }
    Ok(())
}

/// All of stdin as bytes, read on a blocking thread.
async fn read_stdin_bytes() -> Result<Vec<u8>> {
    tokio::task::spawn_blocking(|| {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map(|_| buf)
    })
    .await
    .map_err(|e| CtlError::Invalid(format!("reading stdin failed: {e}")))?
    .map_err(|e| CtlError::io("cannot read the transcript from stdin", e))
}
