//! `send`, `dm`, `reply` and `read`: one message or marker per invocation,
//! retried on transient failures with the same idempotency key.

use super::{read_stdin, room_by_name};
use crate::auth::Target;
use crate::error::{CtlError, Result};
use crate::output::{Out, rfc3339};
use chat_client::Connection;
use chat_protocol::{IdempotencyKey, MessageAck, RoomInfo, Seq};
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
    if out.json() {
        return out.json_line(&json!({
            "room": room.name,
            "seq": ack.seq.0,
            "id": ack.id.0.to_string(),
            "ts": rfc3339(ack.ts),
            "duplicate": ack.duplicate,
        }));
    }
    out.table(
        &["room", "seq", "id", "duplicate"],
        &[vec![
            room.name,
            ack.seq.to_string(),
            ack.id.to_string(),
            ack.duplicate.to_string(),
        ]],
    )
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

/// Moves the caller's read marker in `room` to `seq`.
///
/// # Errors
/// The server's refusals and connection errors.
pub async fn read(target: &Target, out: &Out, room: &str, seq: u64) -> Result<()> {
    let (conn, _) = target.connect_authed().await?;
    let r = room_by_name(&conn, room).await?;
    conn.mark_read(r.id, Seq(seq))
        .await
        .map_err(|e| CtlError::client(format!("cannot mark {room} read"), e))?;
    if out.json() {
        out.json_line(&json!({"room": r.name, "read_seq": seq}))
    } else {
        out.line(&format!("marked {} read up to {seq}", r.name))
    }
}
