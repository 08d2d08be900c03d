//! `send --file`, `download` and `files`: attachments through the SDK's
//! resumable, hash-verified transfers, with a progress line on a terminal.

use super::room_by_name;
use crate::auth::Target;
use crate::error::{CtlError, Result};
use crate::output::{Out, rfc3339};
use chat_client::Connection;
use chat_protocol::{IdempotencyKey, RoomId};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

/// How many times one transfer is attempted; each retry resumes.
const ATTEMPTS: u32 = 5;

/// A progress reporter: a `\r`-rewritten line on stderr when stderr is a
/// terminal, nothing otherwise (scripts get clean output).
pub(crate) fn progress(label: String) -> impl FnMut(u64, u64) + Send {
    let tty = std::io::stderr().is_terminal();
    let mut last = u64::MAX;
    move |done, total| {
        if !tty {
            return;
        }
        let pct = (done.saturating_mul(100)).checked_div(total).unwrap_or(100);
        if pct != last {
            last = pct;
            let bar = "#".repeat(usize::try_from(pct / 5).unwrap_or(20));
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r{label} [{bar:<20}] {pct:>3}% of {}", human(total));
            if done >= total {
                let _ = writeln!(e);
            }
        }
    }
}

/// Bytes in B/KiB/MiB/GiB for people.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

async fn retry_delay(attempt: u32, what: &str, e: &chat_client::ClientError) {
    let delay = Duration::from_millis(250 << attempt.min(5));
    eprintln!("chatctl: {what}: {e}; resuming in {} ms", delay.as_millis());
    tokio::time::sleep(delay).await;
}

/// Uploads `files` to `room` (each resumed on a transient failure), then
/// sends one message carrying them with `text` (may be empty).
///
/// # Errors
/// [`CtlError::Usage`] for a missing file or a bad key; the server's
/// refusals (too large, quota, media type, not a member).
pub async fn send(
    target: &Target,
    out: &Out,
    room: &str,
    files: &[PathBuf],
    text: Option<String>,
    key: Option<String>,
) -> Result<()> {
    for f in files {
        if !f.is_file() {
            return Err(CtlError::Usage(format!(
                "--file {}: no such file; give the path of a regular file",
                f.display()
            )));
        }
    }
    let key = match key {
        Some(k) if k.is_empty() || k.len() > IdempotencyKey::MAX_LEN => {
            return Err(CtlError::Usage(format!(
                "--idempotency-key must be 1 to {} bytes",
                IdempotencyKey::MAX_LEN
            )));
        }
        Some(k) => IdempotencyKey(k),
        None => IdempotencyKey::random(),
    };
    let (mut conn, _) = target.connect_authed().await?;
    let r = room_by_name(&conn, room).await?;
    let mut ids = Vec::new();
    for path in files {
        let mut attempt = 0;
        let up = loop {
            attempt += 1;
            let label = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let bar = progress(label.unwrap_or_default());
            match conn.upload_path(r.id, path, None, bar).await {
                Ok(up) => break up,
                Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                    retry_delay(attempt, &format!("uploading {}", path.display()), &e).await;
                    conn = target.connect_authed().await?.0;
                }
                Err(e) => {
                    return Err(CtlError::client(
                        format!("cannot upload {}", path.display()),
                        e,
                    ));
                }
            }
        };
        ids.push(up.attachment.id);
    }
    let text = text.unwrap_or_default();
    let ack = conn
        .send_with_attachments(r.id, key, &text, None, ids.clone())
        .await
        .map_err(|e| CtlError::client(format!("cannot send to {}", r.name), e))?;
    if out.json() {
        return out.json_line(&json!({
            "room": r.name,
            "seq": ack.seq.0,
            "id": ack.id.0.to_string(),
            "attachments": ids.iter().map(|a| a.0).collect::<Vec<_>>(),
            "duplicate": ack.duplicate,
        }));
    }
    out.table(
        &["room", "seq", "files", "duplicate"],
        &[vec![
            r.name,
            ack.seq.to_string(),
            ids.len().to_string(),
            ack.duplicate.to_string(),
        ]],
    )
}

/// Downloads every file of message `seq` of `room` into `dir` (default:
/// the current directory) under its safe name.
///
/// # Errors
/// [`CtlError::Invalid`] when the message has no files (or was deleted);
/// the server's refusals; local I/O failures.
pub async fn download(
    target: &Target,
    out: &Out,
    room: &str,
    seq: u64,
    dir: Option<PathBuf>,
) -> Result<()> {
    let dir = dir.unwrap_or_else(|| PathBuf::from("."));
    if !dir.is_dir() {
        return Err(CtlError::Usage(format!(
            "--out {}: not a directory; create it first",
            dir.display()
        )));
    }
    let (mut conn, _) = target.connect_authed().await?;
    let r = room_by_name(&conn, room).await?;
    let files = list_of(&conn, r.id, &r.name).await?;
    let mine: Vec<_> = files.into_iter().filter(|f| f.seq.0 == seq).collect();
    if mine.is_empty() {
        return Err(CtlError::Invalid(format!(
            "message {seq} of {} carries no files (or was deleted); see `chatctl files {}`",
            r.name, r.name
        )));
    }
    let mut rows = Vec::new();
    for f in mine {
        let dest = dir.join(chat_client::safe_file_name(&f.attachment.name));
        let mut attempt = 0;
        let done = loop {
            attempt += 1;
            let bar = progress(f.attachment.name.clone());
            match conn.download_to(r.id, &f.attachment, &dest, bar).await {
                Ok(d) => break d,
                Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                    retry_delay(attempt, &format!("downloading {}", f.attachment.name), &e).await;
                    conn = target.connect_authed().await?.0;
                }
                Err(e) => {
                    return Err(CtlError::client(
                        format!("cannot download {}", f.attachment.name),
                        e,
                    ));
                }
            }
        };
        rows.push((f.attachment, done.path));
    }
    if out.json() {
        for (a, path) in &rows {
            out.json_line(&json!({
                "id": a.id.0, "name": a.name, "size": a.size, "hash": a.hash,
                "path": path.display().to_string(),
            }))?;
        }
        return Ok(());
    }
    out.table(
        &["name", "size", "saved as"],
        &rows
            .iter()
            .map(|(a, p)| {
                vec![
                    display_name(&a.name),
                    human(a.size),
                    p.display().to_string(),
                ]
            })
            .collect::<Vec<_>>(),
    )
}

/// Lists the files of `room`'s live messages.
///
/// # Errors
/// The server's refusals.
pub async fn list(target: &Target, out: &Out, room: &str) -> Result<()> {
    let (conn, _) = target.connect_authed().await?;
    let r = room_by_name(&conn, room).await?;
    let files = list_of(&conn, r.id, &r.name).await?;
    if out.json() {
        for f in &files {
            out.json_line(&json!({
                "seq": f.seq.0, "id": f.attachment.id.0, "name": f.attachment.name,
                "size": f.attachment.size, "media_type": f.attachment.media_type,
                "hash": f.attachment.hash, "uploader": f.uploader.0, "ts": rfc3339(f.ts),
            }))?;
        }
        return Ok(());
    }
    out.table(
        &["seq", "name", "size", "type", "time"],
        &files
            .iter()
            .map(|f| {
                vec![
                    f.seq.to_string(),
                    display_name(&f.attachment.name),
                    human(f.attachment.size),
                    chat_protocol::text::display_safe(&f.attachment.media_type).into_owned(),
                    rfc3339(f.ts),
                ]
            })
            .collect::<Vec<_>>(),
    )
}

fn display_name(name: &str) -> String {
    chat_protocol::text::display_safe(name).into_owned()
}

async fn list_of(
    conn: &Connection,
    room: RoomId,
    name: &str,
) -> Result<Vec<chat_protocol::FileEntry>> {
    conn.list_files(room)
        .await
        .map_err(|e| CtlError::client(format!("cannot list the files of {name}"), e))
}
