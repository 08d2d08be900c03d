//! Server-admin audit data shared by `history --include-edits` and
//! `export`: every version of edited messages, and the moderation log, in
//! their JSON Lines and table forms.

use crate::error::{CtlError, Result};
use crate::output::{rfc3339, short_time};
use chat_client::Connection;
use chat_protocol::{
    ErrorCode, MessageVersion, ModerationRecord, RoomEvent, RoomEventKind, RoomId, RoomInfo,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// The most moderation records one `ModerationLog` request returns (the
/// server's documented range is 1 to 1000; see `RequestBody::ModerationLog`).
pub const MODERATION_LOG_MAX: u32 = 1000;

/// Every version of each edited message, by seq. Messages never edited have
/// no entry (their one version is the text itself).
pub type Versions = HashMap<u64, Vec<MessageVersion>>;

/// Fetches the versions of every message in `events` that has `edited_at`
/// set, one `MessageAudit` request each (server admins).
///
/// # Errors
/// Request failures; `Forbidden` (exit 4) for callers who are not server
/// admins.
pub async fn versions_of(
    conn: &Connection,
    room: &RoomInfo,
    events: &[RoomEvent],
) -> Result<Versions> {
    let mut out = Versions::new();
    for ev in events {
        let RoomEventKind::Message(m) = &ev.kind else {
            continue;
        };
        if m.edited_at.is_none() {
            continue;
        }
        let audit = conn.message_audit(room.id, ev.seq).await.map_err(|e| {
            CtlError::client(
                format!(
                    "cannot read the edit history of message {} in {}",
                    ev.seq.0, room.name
                ),
                e,
            )
        })?;
        if audit.omitted_versions > 0 {
            eprintln!(
                "chatctl: message {} in {} has {} earlier versions than fit in one answer; \
                 only its newest {} versions are included",
                ev.seq.0,
                room.name,
                audit.omitted_versions,
                audit.versions.len()
            );
        }
        out.insert(ev.seq.0, audit.versions);
    }
    Ok(out)
}

/// The JSON form of a message's versions, oldest first (the last is the
/// current text): `[{"text", "created_at" (RFC 3339 UTC)}]`.
pub fn versions_json(versions: &[MessageVersion]) -> Value {
    Value::Array(
        versions
            .iter()
            .map(|v| json!({"text": v.text, "created_at": rfc3339(v.at)}))
            .collect(),
    )
}

/// Adds `"versions"` to an event object when `versions` has an entry for
/// its seq.
pub fn attach_versions(mut event: Value, seq: u64, versions: &Versions) -> Value {
    if let (Some(v), Value::Object(m)) = (versions.get(&seq), &mut event) {
        m.insert("versions".into(), versions_json(v));
    }
    event
}

/// Table rows for a message's versions, under the message's own row:
/// `["", time, "", "  version i/n: text"]`.
pub fn version_rows(versions: &[MessageVersion]) -> Vec<Vec<String>> {
    let n = versions.len();
    versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let label = if i + 1 == n { "current" } else { "was" };
            vec![
                String::new(),
                short_time(v.at),
                String::new(),
                format!("  version {}/{n} ({label}): {}", i + 1, v.text),
            ]
        })
        .collect()
}

/// The moderation log the caller may read, oldest first, and whether the
/// server's cap cut older records off. `Ok(None)` when the server refuses
/// (`Forbidden`: not a server admin, nor a room admin of `room`).
///
/// # Errors
/// Request failures other than `Forbidden`.
pub async fn moderation_log(
    conn: &Connection,
    room: Option<RoomId>,
) -> Result<Option<(Vec<ModerationRecord>, bool)>> {
    match conn.moderation_log_all(room).await {
        Ok(Some(mut records)) => {
            records.sort_by_key(|r| r.id);
            return Ok(Some((records, false)));
        }
        Ok(None) => {} // a server without paged lists: the capped request
        Err(e) if e.code() == Some(ErrorCode::Forbidden) => return Ok(None),
        Err(e) => return Err(CtlError::client("cannot read the moderation log", e)),
    }
    match conn.moderation_log(room, MODERATION_LOG_MAX).await {
        Ok(mut records) => {
            let capped = records.len() >= MODERATION_LOG_MAX as usize;
            records.sort_by_key(|r| r.id);
            Ok(Some((records, capped)))
        }
        Err(e) if e.code() == Some(ErrorCode::Forbidden) => Ok(None),
        Err(e) => Err(CtlError::client("cannot read the moderation log", e)),
    }
}

/// The JSON Lines form of a moderation record. Field names are stable:
/// `type` (`"moderation"`), `id`, `created_at` (RFC 3339 UTC), `actor` (username),
/// `room` (name when known, else `null`), `room_id` (`null` when the action
/// concerned no room), `target` (username or `null`), `action` (e.g.
/// `ban`), `reason` (may be empty).
pub fn moderation_json(rec: &ModerationRecord, names: &BTreeMap<RoomId, String>) -> Value {
    json!({
        "type": "moderation",
        "id": rec.id,
        "created_at": rfc3339(rec.at),
        "actor": rec.actor.username,
        "room": rec.room.and_then(|r| names.get(&r)),
        "room_id": rec.room.map(|r| r.0),
        "target": rec.target.as_ref().map(|t| t.username.as_str()),
        "action": rec.action,
        "reason": rec.reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_protocol::{Author, Timestamp, UserId};

    fn author(name: &str) -> Author {
        Author {
            id: UserId(7),
            username: name.to_owned(),
            display_name: name.to_uppercase(),
            org: String::new(),
        }
    }

    #[test]
    fn moderation_fields() {
        let rec = ModerationRecord {
            id: 3,
            at: Timestamp(0),
            actor: author("olivia"),
            room: Some(RoomId(9)),
            target: Some(author("otto")),
            action: "ban".to_owned(),
            reason: "spam".to_owned(),
        };
        let names = BTreeMap::from([(RoomId(9), "ops".to_owned())]);
        let v = moderation_json(&rec, &names);
        assert_eq!(
            v,
            json!({"type": "moderation", "id": 3, "created_at": "1970-01-01T00:00:00.000Z",
                   "actor": "olivia", "room": "ops", "room_id": 9, "target": "otto",
                   "action": "ban", "reason": "spam"})
        );
        let v = moderation_json(
            &ModerationRecord {
                room: None,
                target: None,
                ..rec
            },
            &names,
        );
        assert!(v["room"].is_null() && v["room_id"].is_null() && v["target"].is_null());
    }

    #[test]
    fn versions_render() {
        let vs = vec![
            MessageVersion {
                text: "a".into(),
                at: Timestamp(0),
            },
            MessageVersion {
                text: "b".into(),
                at: Timestamp(60_000),
            },
        ];
        let map = Versions::from([(4, vs.clone())]);
        let v = attach_versions(json!({"seq": 4}), 4, &map);
        assert_eq!(
            v["versions"][1],
            json!({"text": "b", "created_at": "1970-01-01T00:01:00.000Z"})
        );
        assert!(
            attach_versions(json!({}), 5, &map)
                .get("versions")
                .is_none()
        );
        let rows = version_rows(&vs);
        assert_eq!(rows[0][3], "  version 1/2 (was): a");
        assert_eq!(rows[1][3], "  version 2/2 (current): b");
    }
}
