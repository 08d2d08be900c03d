//! `edit`, `delete`, `react` and the room moderation commands (`room
//! remove|ban|archive|delete`), sent as raw requests through
//! `Connection::request` until the SDK grows typed wrappers for them.

use super::room_by_name;
use crate::auth::Target;
use crate::error::{CtlError, Result};
use crate::output::Out;
use chat_client::{ClientError, Connection};
use chat_protocol::{ModAction, RequestBody, ResponseBody, Seq};
use serde_json::json;

/// A message-level change.
#[derive(Debug, Clone)]
pub enum Change {
    /// Replace the text.
    Edit(String),
    /// Delete the message.
    Delete,
    /// Toggle a reaction.
    React(String),
}

/// Sends a request whose answer is `Ok`.
async fn expect_ok(conn: &Connection, body: RequestBody) -> Result<(), ClientError> {
    match conn.request(body).await? {
        ResponseBody::Ok => Ok(()),
        other => Err(ClientError::ProtocolViolation(format!(
            "expected an Ok answer, got {:?}",
            std::mem::discriminant(&other)
        ))),
    }
}

/// Edits, deletes or reacts to the message at `seq` in `room`.
///
/// # Errors
/// The server's refusals (`NotFound` exit 3, `Forbidden` exit 4, ...).
pub async fn message(
    target: &Target,
    out: &Out,
    room: &str,
    seq: u64,
    change: Change,
) -> Result<()> {
    let (conn, _) = target.connect_authed().await?;
    let r = room_by_name(&conn, room).await?;
    let (body, what) = match change {
        Change::Edit(text) => (
            RequestBody::Edit {
                room: r.id,
                seq: Seq(seq),
                text,
            },
            "edited",
        ),
        Change::Delete => (
            RequestBody::Delete {
                room: r.id,
                seq: Seq(seq),
            },
            "deleted",
        ),
        Change::React(emoji) => (
            RequestBody::React {
                room: r.id,
                seq: Seq(seq),
                emoji,
            },
            "reacted to",
        ),
    };
    expect_ok(&conn, body)
        .await
        .map_err(|e| CtlError::client(format!("cannot change message {seq} in {room}"), e))?;
    if out.json() {
        out.json_line(&json!({"room": r.name, "seq": seq, "done": what}))
    } else {
        out.line(&format!("{what} message {seq} in {}", r.name))
    }
}

/// Applies a moderation action to `room`.
///
/// # Errors
/// The server's refusals (`Forbidden` exit 4 without the role).
pub async fn moderate(target: &Target, out: &Out, room: &str, action: ModAction) -> Result<()> {
    let (conn, _) = target.connect_authed().await?;
    let r = room_by_name(&conn, room).await?;
    let what = format!("{action:?}");
    let body = RequestBody::Moderate {
        room: r.id,
        action,
        reason: String::new(),
    };
    expect_ok(&conn, body)
        .await
        .map_err(|e| CtlError::client(format!("cannot moderate {room}"), e))?;
    if out.json() {
        out.json_line(&json!({"room": r.name, "done": what}))
    } else {
        out.line(&format!("{}: {what}", r.name))
    }
}
