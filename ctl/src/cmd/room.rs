//! `room ...`: create, list, show, members, add, join, leave, and the
//! moderation commands remove, ban, unban, mute, unmute, role, transfer,
//! visibility, archive and delete.

use super::{lifecycle, room_by_name};
use crate::args::{RoleArg, RoomCmd, VisibilityArg};
use crate::auth::Target;
use crate::error::{CtlError, Result};
use crate::output::{Out, event_json, message_text, rfc3339, role_name};
use chat_protocol::{ErrorCode, ModAction, Role, RoomEventKind, RoomInfo, RoomKind, Visibility};
use serde_json::{Value, json};

/// Runs a `room` subcommand.
///
/// # Errors
/// The server's refusals and connection errors.
pub async fn run(target: &Target, out: &Out, cmd: RoomCmd) -> Result<()> {
    if let Some((room, action)) = moderation(&cmd) {
        return lifecycle::moderate(target, out, room, action).await;
    }
    let (conn, _) = target.connect_authed().await?;
    match cmd {
        RoomCmd::Create {
            name,
            private,
            topic,
        } => {
            let vis = if private {
                Visibility::Private
            } else {
                Visibility::Public
            };
            let room = conn
                .create_room(&name, &topic, vis)
                .await
                .map_err(|e| CtlError::client(format!("cannot create room {name}"), e))?;
            print_room(out, &room)
        }
        RoomCmd::List { public } if public => {
            let rooms = conn
                .public_rooms()
                .await
                .map_err(|e| CtlError::client("cannot list public rooms", e))?;
            if out.json() {
                for r in &rooms {
                    out.json_line(&room_json(r))?;
                }
                return Ok(());
            }
            let rows: Vec<Vec<String>> = rooms
                .iter()
                .map(|r| {
                    vec![
                        r.name.clone(),
                        r.member_count.to_string(),
                        r.head.0.to_string(),
                        r.topic.clone(),
                    ]
                })
                .collect();
            out.table(&["name", "members", "events", "topic"], &rows)
        }
        RoomCmd::List { .. } => {
            let rooms = conn
                .my_rooms()
                .await
                .map_err(|e| CtlError::client("cannot list your rooms", e))?;
            if out.json() {
                for s in &rooms {
                    let mut v = room_json(&s.room);
                    if let Value::Object(m) = &mut v {
                        m.insert("role".into(), json!(role_name(s.role)));
                        m.insert("read_seq".into(), json!(s.read_seq.0));
                        m.insert("unread".into(), json!(s.unread));
                        m.insert("mentions".into(), json!(s.mentions));
                        m.insert(
                            "last_message".into(),
                            s.last_message
                                .as_ref()
                                .map_or(Value::Null, |ev| event_json(&s.room.name, ev)),
                        );
                        m.insert("last_activity_at".into(), json!(rfc3339(s.last_activity)));
                    }
                    out.json_line(&v)?;
                }
                return Ok(());
            }
            let rows: Vec<Vec<String>> = rooms
                .iter()
                .map(|s| {
                    let last = s
                        .last_message
                        .as_ref()
                        .map(|ev| match &ev.kind {
                            RoomEventKind::Message(m) => {
                                format!("{}: {}", ev.sender.display_name, message_text(m))
                            }
                            _ => String::new(),
                        })
                        .unwrap_or_default();
                    vec![
                        s.room.name.clone(),
                        kind(s.room.kind).to_owned(),
                        s.unread.to_string(),
                        s.mentions.to_string(),
                        last,
                    ]
                })
                .collect();
            out.table(
                &["name", "kind", "unread", "mentions", "last message"],
                &rows,
            )
        }
        RoomCmd::Show { room } => {
            let r = room_by_name(&conn, &room).await?;
            print_room(out, &r)
        }
        RoomCmd::Members { room } => {
            let r = room_by_name(&conn, &room).await?;
            let members = conn
                .members(r.id)
                .await
                .map_err(|e| CtlError::client(format!("cannot list the members of {room}"), e))?;
            if out.json() {
                for m in &members {
                    out.json_line(&json!({
                        "room": r.name,
                        "username": m.user.username,
                        "display_name": m.user.display_name,
                        "org": m.user.org,
                        "role": role_name(m.role),
                        "joined_at": rfc3339(m.joined_at),
                    }))?;
                }
                return Ok(());
            }
            let rows: Vec<Vec<String>> = members
                .iter()
                .map(|m| {
                    vec![
                        m.user.username.clone(),
                        m.user.display_name.clone(),
                        m.user.org.clone(),
                        role_name(m.role).to_owned(),
                        rfc3339(m.joined_at),
                    ]
                })
                .collect();
            out.table(
                &["username", "display name", "org", "role", "joined"],
                &rows,
            )
        }
        RoomCmd::Add { room, user } => {
            let r = room_by_name(&conn, &room).await?;
            conn.add_member(r.id, &user).await.map_err(|e| {
                // The caller may add people; the target's ban is a state
                // that conflicts with the request (exit 5, not 4).
                if e.code() == Some(ErrorCode::Banned) {
                    return CtlError::Conflict(format!(
                        "cannot add {user} to {room}: {user} is banned from it; \
                         lift the ban first with `chatctl room unban {room} {user}`"
                    ));
                }
                CtlError::client(format!("cannot add {user} to {room}"), e)
            })?;
            done(
                out,
                json!({"room": r.name, "added": user}),
                &format!("added {user} to {}", r.name),
            )
        }
        RoomCmd::Join { room } => {
            let r = room_by_name(&conn, &room).await?;
            let r = conn
                .join_room(r.id)
                .await
                .map_err(|e| CtlError::client(format!("cannot join {room}"), e))?;
            print_room(out, &r)
        }
        RoomCmd::Leave { room } => {
            let r = room_by_name(&conn, &room).await?;
            conn.leave_room(r.id).await.map_err(|e| {
                // Leaving a room one is not in: already done (exit 5).
                if e.code() == Some(ErrorCode::NotMember) {
                    return CtlError::Conflict(format!(
                        "cannot leave {room}: you are not a member (already left?)"
                    ));
                }
                CtlError::client(format!("cannot leave {room}"), e)
            })?;
            done(
                out,
                json!({"room": r.name, "left": true}),
                &format!("left {}", r.name),
            )
        }
        // Moderation commands were handled above.
        _ => Ok(()),
    }
}

/// The moderation request a `room` subcommand stands for, if it is one.
fn moderation(cmd: &RoomCmd) -> Option<(&str, ModAction)> {
    let username = |u: &String| u.clone();
    Some(match cmd {
        RoomCmd::Remove { room, user } => (
            room,
            ModAction::Kick {
                username: username(user),
            },
        ),
        RoomCmd::Ban { room, user } => (
            room,
            ModAction::Ban {
                username: username(user),
            },
        ),
        RoomCmd::Unban { room, user } => (
            room,
            ModAction::Unban {
                username: username(user),
            },
        ),
        RoomCmd::Mute { room, user } => (
            room,
            ModAction::Mute {
                username: username(user),
                muted: true,
            },
        ),
        RoomCmd::Unmute { room, user } => (
            room,
            ModAction::Mute {
                username: username(user),
                muted: false,
            },
        ),
        RoomCmd::Role { room, user, role } => (
            room,
            ModAction::SetRole {
                username: username(user),
                role: match role {
                    RoleArg::Member => Role::Member,
                    RoleArg::Admin => Role::Admin,
                },
            },
        ),
        RoomCmd::Transfer { room, user } => (
            room,
            ModAction::TransferOwnership {
                username: username(user),
            },
        ),
        RoomCmd::Visibility { room, visibility } => (
            room,
            ModAction::SetVisibility {
                visibility: match visibility {
                    VisibilityArg::Public => Visibility::Public,
                    VisibilityArg::Private => Visibility::Private,
                },
            },
        ),
        RoomCmd::Archive { room } => (room, ModAction::Archive),
        RoomCmd::Delete { room } => (room, ModAction::DeleteRoom),
        _ => return None,
    })
}

fn done(out: &Out, v: Value, text: &str) -> Result<()> {
    if out.json() {
        out.json_line(&v)
    } else {
        out.line(text)
    }
}

fn kind(k: RoomKind) -> &'static str {
    match k {
        RoomKind::Group => "group",
        RoomKind::Direct => "direct",
    }
}

fn visibility(v: Visibility) -> &'static str {
    match v {
        Visibility::Public => "public",
        Visibility::Private => "private",
    }
}

/// The JSON form of a room.
pub fn room_json(r: &RoomInfo) -> Value {
    json!({
        "id": r.id.0,
        "name": r.name,
        "kind": kind(r.kind),
        "visibility": visibility(r.visibility),
        "topic": r.topic,
        "archived": r.archived,
        "members": r.member_count,
        "head": r.head.0,
        "created_at": rfc3339(r.created_at),
    })
}

fn print_room(out: &Out, r: &RoomInfo) -> Result<()> {
    if out.json() {
        return out.json_line(&room_json(r));
    }
    let rows = vec![
        vec!["name".to_owned(), r.name.clone()],
        vec!["id".to_owned(), r.id.to_string()],
        vec!["kind".to_owned(), kind(r.kind).to_owned()],
        vec!["visibility".to_owned(), visibility(r.visibility).to_owned()],
        vec!["topic".to_owned(), r.topic.clone()],
        vec!["archived".to_owned(), r.archived.to_string()],
        vec!["members".to_owned(), r.member_count.to_string()],
        vec!["head".to_owned(), r.head.to_string()],
        vec!["created".to_owned(), rfc3339(r.created_at)],
    ];
    out.table(&["field", "value"], &rows)
}
