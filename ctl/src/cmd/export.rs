//! `export [--room ROOM]`: JSON Lines of everything stored, for compliance
//! archives: per room a `room` line, then every event in seq order
//! (messages with every edit version, deletions with their tombstone and,
//! for server admins, their text; membership changes), then the moderation
//! log, oldest first.
//!
//! A server admin's export covers every room (`ListAllRooms`: private,
//! archived and deleted ones included). For anyone else the server refuses
//! that listing, and the export falls back to the rooms the caller is a
//! member of, without deleted text, edit versions or (unless a room
//! admin with `--room`) moderation records; stderr says what is missing.

use super::audit::{Versions, attach_versions, moderation_json, moderation_log, versions_of};
use super::history::Pager;
use super::room_by_name;
use crate::auth::Target;
use crate::error::{CtlError, Result};
use crate::output::{Out, event_json, rfc3339};
use chat_client::Connection;
use chat_protocol::{ErrorCode, RoomId, RoomInfo, RoomKind, Visibility};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Runs `export`. Output is always JSON Lines, one object per line, each
/// with a `type`: `room`, then the event types of `tail --json` (messages
/// add `versions` when edited and the caller is a server admin), each
/// with `room_id` as well as `room` (direct rooms' names depend on the
/// viewer), and last `moderation` (see [`super::audit::moderation_json`]).
///
/// # Errors
/// Request failures; [`CtlError::Client`] with exit 3 for an unknown
/// `--room`.
pub async fn run(
    target: &Target,
    out: &Out,
    room: Option<String>,
    reason: Option<String>,
) -> Result<()> {
    let (conn, me) = target.connect_authed().await?;
    let reason = reason.filter(|r| !r.trim().is_empty());
    if me.is_admin() && reason.is_none() {
        return Err(CtlError::Usage(
            "an audit export (as a server admin) needs --reason TEXT: why the records are \
             downloaded; it is kept in the audit log with who, when and which rooms"
                .to_owned(),
        ));
    }
    let (rooms, admin) = match &room {
        Some(name) => (
            vec![one_room(&conn, name, me.is_admin()).await?],
            me.is_admin(),
        ),
        None => every_room(&conn).await?,
    };
    if admin {
        // Declared before any record is read, so the reads of deleted text
        // that follow are recorded with this reason.
        let scope = room.as_ref().and_then(|_| rooms.first().map(|r| r.id));
        let why = reason.as_deref().unwrap_or_default();
        conn.declare_access(scope, "export", why)
            .await
            .map_err(|e| CtlError::client("cannot record the export in the audit log", e))?;
    }
    let names: BTreeMap<RoomId, String> = rooms.iter().map(|r| (r.id, r.name.clone())).collect();
    let mut missing_versions = false;
    let progress = crate::progress::bar(rooms.iter().map(|r| r.head.0).sum(), "exporting");
    for r in &rooms {
        out.json_line(&room_json(r))?;
        let mut pager = Pager::new(&conn, r, 0, None, admin);
        while let Some(events) = pager.next_page().await? {
            let versions = if admin {
                versions_of(&conn, r, &events).await?
            } else {
                Versions::new()
            };
            for ev in &events {
                let mut v = attach_versions(event_json(&r.name, ev), ev.seq.0, &versions);
                if let Value::Object(m) = &mut v {
                    m.insert("room_id".into(), json!(r.id.0));
                    missing_versions |= m.contains_key("edited_at") && !admin;
                }
                out.json_line(&v)?;
            }
            progress.inc(events.len() as u64);
        }
    }
    progress.finish_and_clear();
    if missing_versions {
        eprintln!(
            "chatctl: edited messages are exported with their current text only; \
             earlier versions need a server admin's token"
        );
    }
    let log_room = match (&room, rooms.first()) {
        (Some(_), Some(r)) => Some(r.id),
        _ => None,
    };
    match moderation_log(&conn, log_room).await? {
        Some((records, capped)) => {
            if capped {
                eprintln!(
                    "chatctl: the server returns at most the newest 1000 moderation records \
                     and has no way to page further back; older records are not in this export"
                );
            }
            for rec in &records {
                out.json_line(&moderation_json(rec, &names))?;
            }
        }
        None => eprintln!(
            "chatctl: moderation actions are not in this export: the server shows the \
             moderation log only to server admins (and to a room's owner and admins with --room)"
        ),
    }
    Ok(())
}

/// Every room for a server admin; otherwise (the server refuses with
/// `Forbidden`) the rooms the caller is a member of, with a note on stderr.
/// Returns the rooms, by id, and whether the caller has admin rights.
async fn every_room(conn: &Connection) -> Result<(Vec<RoomInfo>, bool)> {
    match conn.all_rooms().await {
        Ok(mut rooms) => {
            rooms.sort_by_key(|r| r.id);
            return Ok((rooms, true));
        }
        Err(e) if e.code() == Some(ErrorCode::Forbidden) => {}
        Err(e) => return Err(CtlError::client("cannot list every room", e)),
    }
    // Public rooms the caller has not joined are left out: the server
    // refuses their history to non-members.
    let mut rooms: Vec<RoomInfo> = conn
        .my_rooms()
        .await
        .map_err(|e| CtlError::client("cannot list your rooms", e))?
        .into_iter()
        .map(|s| s.room)
        .collect();
    rooms.sort_by_key(|r| r.id);
    eprintln!(
        "chatctl: you are not a server admin, so this export has only the rooms you are a \
         member of, without deleted messages' text or edit versions; use an admin's token \
         for a complete archive"
    );
    Ok((rooms, false))
}

/// `--room NAME`: by name, or for a server admin also among every room
/// (deleted rooms are not found by name).
async fn one_room(conn: &Connection, name: &str, admin: bool) -> Result<RoomInfo> {
    match room_by_name(conn, name).await {
        Ok(r) => Ok(r),
        Err(e) if admin => {
            let all = conn
                .all_rooms()
                .await
                .map_err(|e| CtlError::client("cannot list every room", e))?;
            all.into_iter().find(|r| r.name == name).ok_or(e)
        }
        Err(e) => Err(e),
    }
}

/// The `room` line that opens each room's section: `room`, `room_id`,
/// `kind` (`group`/`direct`), `visibility`, `topic`, `archived`,
/// `created` (RFC 3339 UTC), `head` (latest seq at listing time).
fn room_json(r: &RoomInfo) -> Value {
    json!({
        "type": "room",
        "room": r.name,
        "room_id": r.id.0,
        "kind": match r.kind { RoomKind::Group => "group", RoomKind::Direct => "direct" },
        "visibility": match r.visibility {
            Visibility::Public => "public",
            Visibility::Private => "private",
        },
        "topic": r.topic,
        "archived": r.archived,
        "created": rfc3339(r.created_at),
        "head": r.head.0,
    })
}
