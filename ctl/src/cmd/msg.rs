//! `send`, `dm`, `reply` and `read`: one message or marker per invocation,
//! retried on transient failures with the same idempotency key.

use super::{read_stdin, room_by_name};
use crate::auth::Target;
use crate::error::{CtlError, Result};
use crate::output::{Out, rfc3339};
use chat_client::{ClientError, Connection};
use chat_protocol::{ErrorCode, IdempotencyKey, MessageAck, RoomInfo, Seq};
use serde_json::json;
use std::time::Duration;

/// How many times a send is attempted when the connection fails.
const SEND_ATTEMPTS: u32 = 5;

/// Where a message goes.
#[derive(Debug, Clone)]
pub enum Dest {
    /// A room by name (`@user` for an existing direct room).
    Room(String),
    /// The direct room with a user, created if needed.
    User(String),
}

/// Sends one message: `text`, or all of stdin without its final line
/// ending. Connection failures are retried up to [`SEND_ATTEMPTS`] times
/// with the same key, so the message is stored at most once.
///
/// # Errors
/// [`CtlError::Usage`] for an empty text or a bad key; the server's refusals.
pub async fn send(
    target: &Target,
    out: &Out,
    dest: Dest,
    text: Option<String>,
    key: Option<String>,
    reply_to: Option<u64>,
) -> Result<()> {
    let text = match text {
        Some(t) => t,
        None => {
            let mut t = read_stdin().await?;
            if t.ends_with('\n') {
                t.pop();
                if t.ends_with('\r') {
                    t.pop();
                }
            }
            t
        }
    };
    if text.trim().is_empty() {
        return Err(CtlError::Usage(
            "nothing to send: give TEXT or pipe it on stdin".to_owned(),
        ));
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
    let mut attempt = 0;
    let (room, ack) = loop {
        attempt += 1;
        match try_send(target, &dest, &key, &text, reply_to).await {
            Ok(done) => break done,
            Err(CtlError::Client { source, .. })
                if source.is_transient() && attempt < SEND_ATTEMPTS =>
            {
                let delay = Duration::from_millis(250 << attempt.min(5));
                eprintln!("chatctl: {source}; retrying in {} ms", delay.as_millis());
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    };
    print_ack(out, room, &ack)
}

async fn try_send(
    target: &Target,
    dest: &Dest,
    key: &IdempotencyKey,
    text: &str,
    reply_to: Option<u64>,
) -> Result<(RoomInfo, MessageAck)> {
    let (conn, _) = target.connect_authed().await?;
    let room = resolve(&conn, dest).await?;
    let ack = conn
        .send(room.id, key.clone(), text, reply_to.map(Seq))
        .await
        .map_err(|e| CtlError::client(format!("cannot send to {}", room.name), e))?;
    Ok((room, ack))
}

async fn resolve(conn: &Connection, dest: &Dest) -> Result<RoomInfo> {
    match dest {
        Dest::Room(name) => room_by_name(conn, name).await,
        Dest::User(user) => conn.open_direct(user).await.map_err(|e| {
            CtlError::client(format!("cannot open a direct conversation with {user}"), e)
        }),
    }
}

/// Moves the caller's read marker in `room` forward to `seq` and prints
/// the marker the server stored: it never moves back and stops at the
/// room's newest event, so it may differ from `seq` (both are shown).
///
/// # Errors
/// The server's refusals and connection errors.
pub async fn read(target: &Target, out: &Out, room: &str, seq: u64) -> Result<()> {
    let (conn, _) = target.connect_authed().await?;
    let r = room_by_name(&conn, room).await?;
    conn.mark_read(r.id, Seq(seq))
        .await
        .map_err(|e| CtlError::client(format!("cannot mark {room} read"), e))?;
    let stored = conn
        .my_rooms()
        .await
        .map_err(|e| CtlError::client(format!("cannot read back the marker of {room}"), e))?
        .into_iter()
        .find(|s| s.room.id == r.id)
        .map(|s| s.read_seq.0)
        .ok_or_else(|| CtlError::NotFound(format!("{room} is no longer among your rooms")))?;
    if out.json() {
        return out.json_line(&json!({"room": r.name, "requested_seq": seq, "read_seq": stored}));
    }
    let note = if stored == seq {
        String::new()
    } else if stored > seq {
        format!(" (asked for {seq}; a marker never moves back)")
    } else {
        format!(" (asked for {seq}; the room's newest event is {stored})")
    };
    out.line(&format!("read marker of {} is at {stored}{note}", r.name))
}

/// `send --each-line`: reads stdin line by line and sends each non-blank
/// line as its own message as soon as it arrives, over one connection,
/// until stdin ends. Each line gets its own idempotency key, kept across
/// the retries of a failed connection, so a line is stored at most once.
/// Prints one result per message as [`send`] does.
///
/// # Errors
/// [`CtlError::Usage`] for input that is not UTF-8; a refusal that is not
/// about the line itself (a revoked token, no such room) stops the command,
/// earlier lines staying sent; lines refused for their content are skipped
/// with a message and end the command with [`CtlError::Partial`] (exit 1).
pub async fn send_each_line(target: &Target, out: &Out, room: String) -> Result<()> {
    let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<std::io::Result<String>>(64);
    // A blocking reader thread: tokio's stdin is blocking underneath too,
    // and a thread makes each line available the moment it is complete.
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::stdin().lock().lines() {
            let stop = line.is_err();
            if lines_tx.blocking_send(line).is_err() || stop {
                return;
            }
        }
    });
    let dest = Dest::Room(room);
    let mut conn: Option<(Connection, RoomInfo)> = None;
    let (mut sent, mut refused) = (0u64, 0u64);
    'lines: while let Some(line) = lines.recv().await {
        let line = line.map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                CtlError::Usage("stdin is not valid UTF-8; send UTF-8 text".to_owned())
            } else {
                CtlError::io("cannot read stdin", e)
            }
        })?;
        let text = line.strip_suffix('\r').unwrap_or(&line);
        if text.trim().is_empty() {
            continue;
        }
        let key = IdempotencyKey::random();
        let mut attempt = 0;
        let (room, ack) = loop {
            attempt += 1;
            let result = async {
                if conn.is_none() {
                    let (c, _) = target.connect_authed().await?;
                    let room = resolve(&c, &dest).await?;
                    conn = Some((c, room));
                }
                let Some((c, room)) = &conn else {
                    return Err(CtlError::Invalid("no connection".to_owned()));
                };
                let ack = c
                    .send(room.id, key.clone(), text, None)
                    .await
                    .map_err(|e| CtlError::client(format!("cannot send to {}", room.name), e))?;
                Ok((room.clone(), ack))
            }
            .await;
            match result {
                Ok(done) => break done,
                // Over the send rate: wait as long as the server says, on
                // the same connection, as often as needed (a pipeline
                // faster than the limit slows down instead of failing).
                Err(CtlError::Client { source, .. })
                    if source.code() == Some(ErrorCode::RateLimited) =>
                {
                    let wait = match &*source {
                        ClientError::Server(body) => body.retry_after_ms.unwrap_or(100),
                        _ => 100,
                    };
                    attempt -= 1;
                    tokio::time::sleep(Duration::from_millis(wait.clamp(10, 60_000))).await;
                }
                Err(CtlError::Client { source, .. })
                    if source.is_transient() && attempt < SEND_ATTEMPTS =>
                {
                    conn = None;
                    let delay = Duration::from_millis(250 << attempt.min(5));
                    eprintln!("chatctl: {source}; retrying in {} ms", delay.as_millis());
                    tokio::time::sleep(delay).await;
                }
                // A line the server refuses for what it says (a banned
                // word, too long) is reported and skipped, so one bad line
                // does not stop a bot; anything else (a revoked token, a
                // room that went away) stops the command.
                Err(CtlError::Client { context, source })
                    if matches!(
                        source.code(),
                        Some(
                            ErrorCode::ContentRejected
                                | ErrorCode::TooLarge
                                | ErrorCode::BadRequest
                        )
                    ) =>
                {
                    eprintln!("chatctl: {context}: {source}; line skipped");
                    refused += 1;
                    continue 'lines;
                }
                Err(e) => return Err(e),
            }
        };
        sent += 1;
        print_ack(out, room, &ack)?;
    }
    tracing::debug!(sent, "stdin ended");
    if refused > 0 {
        return Err(CtlError::Partial(format!(
            "the server refused {refused} line(s); each is named above"
        )));
    }
    Ok(())
}

/// Prints one send's result.
fn print_ack(out: &Out, room: RoomInfo, ack: &MessageAck) -> Result<()> {
    if out.json() {
        return out.json_line(&json!({
            "room": room.name,
            "seq": ack.seq.0,
            "id": ack.id.0.to_string(),
            "created_at": rfc3339(ack.ts),
            "duplicate": ack.duplicate,
        }));
    }
    out.table_row(&[
        room.name,
        ack.seq.to_string(),
        ack.id.to_string(),
        ack.duplicate.to_string(),
    ])
}
