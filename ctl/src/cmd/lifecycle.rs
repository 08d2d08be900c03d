//! `edit`, `delete`, `react` and the room moderation commands (`room
//! remove|ban|archive|delete`), sent as raw requests through
//! `Connection::request` until the SDK grows typed wrappers for them.

use super::room_by_name;
use crate::auth::Target;
use crate::error::{CtlError, Result};
use crate::output::{Out, role_name};
use chat_client::{ClientError, Connection};
use chat_protocol::{ModAction, RequestBody, ResponseBody, Role, Seq, Visibility};
use serde_json::{Value, json};

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
        _ => Err(ClientError::ProtocolViolation(
            "the server answered with something other than Ok; check that chatctl and chatd versions match"
                .to_owned(),
        )),
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

/// Applies a moderation action to `room` and says what was done: a
/// sentence on a terminal, `{"room", "action", "user"?, "role"?,
/// "visibility"?}` with `--json` (`action` is one of `remove`, `ban`,
/// `unban`, `mute`, `unmute`, `role`, `topic`, `visibility`, `transfer`,
/// `archive`, `delete`).
///
/// # Errors
/// The server's refusals (`Forbidden` exit 4 without the role).
pub async fn moderate(target: &Target, out: &Out, room: &str, action: ModAction) -> Result<()> {
    let (conn, _) = target.connect_authed().await?;
    let r = room_by_name(&conn, room).await?;
    let (name, sentence, mut v) = describe(&action, &r.name);
    let body = RequestBody::Moderate {
        room: r.id,
        action,
        reason: String::new(),
    };
    expect_ok(&conn, body)
        .await
        .map_err(|e| CtlError::client(format!("cannot {name} in {room}"), e))?;
    if out.json() {
        if let Value::Object(m) = &mut v {
            m.insert("room".into(), json!(r.name));
            m.insert("action".into(), json!(name));
        }
        out.json_line(&v)
    } else {
        out.line(&sentence)
    }
}

/// A moderation action's stable name, a sentence saying it was done, and
/// its JSON fields.
fn describe(action: &ModAction, room: &str) -> (&'static str, String, Value) {
    match action {
        ModAction::Kick { username } => (
            "remove",
            format!("removed {username} from {room}"),
            json!({"user": username}),
        ),
        ModAction::Ban { username } => (
            "ban",
            format!("banned {username} from {room}"),
            json!({"user": username}),
        ),
        ModAction::Unban { username } => (
            "unban",
            format!("lifted the ban on {username} in {room}"),
            json!({"user": username}),
        ),
        ModAction::Mute {
            username,
            muted: true,
        } => (
            "mute",
            format!("muted {username} in {room}"),
            json!({"user": username}),
        ),
        ModAction::Mute {
            username,
            muted: false,
        } => (
            "unmute",
            format!("unmuted {username} in {room}"),
            json!({"user": username}),
        ),
        ModAction::SetRole { username, role } => (
            "role",
            format!("{username} is now {} of {room}", role_article(*role)),
            json!({"user": username, "role": role_name(*role)}),
        ),
        ModAction::SetTopic { topic } => (
            "topic",
            format!("set the topic of {room}"),
            json!({"topic": topic}),
        ),
        ModAction::SetVisibility { visibility } => {
            let v = match visibility {
                Visibility::Public => "public",
                Visibility::Private => "private",
            };
            (
                "visibility",
                format!("{room} is now {v}"),
                json!({"visibility": v}),
            )
        }
        ModAction::TransferOwnership { username } => (
            "transfer",
            format!("{username} now owns {room}; you are an admin of it"),
            json!({"user": username}),
        ),
        ModAction::Archive => ("archive", format!("archived {room}"), json!({})),
        ModAction::DeleteRoom => ("delete", format!("deleted {room}"), json!({})),
    }
}

fn role_article(role: Role) -> String {
    match role {
        Role::Admin => "an admin".to_owned(),
        other => format!("a {}", role_name(other)),
    }
}
