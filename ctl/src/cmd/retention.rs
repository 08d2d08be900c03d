//! `retention ...`: keep periods and legal holds per room and per
//! organisation, the policy in force, and a purge pass on demand (server
//! admins).
//!
//! JSON (one object per line): a setting is `{scope, room | org, keep,
//! keep_days, hold, hold_reason, hold_by, hold_at}` with `scope` `room` or
//! `org`, `keep` `forever`, `days` or null (not set here) and `hold` a
//! boolean; a room's `show` adds `effective_keep` (`forever` or `days`),
//! `effective_keep_days`, `held`, `source` (`room_hold`, `org_hold`,
//! `room`, `org`, `default`), `room_org` and `purged_below`. `purge`
//! prints `{now, messages, rooms: [{room, room_id, first_seq, last_seq,
//! messages, versions, files}]}`.

use super::room_by_name;
use crate::args::{KeepArgs, RetentionCmd, RetentionScopeArgs};
use crate::auth::Target;
use crate::error::{CtlError, Result};
use crate::output::{Out, rfc3339};
use chat_client::Connection;
use chat_protocol::{
    EffectiveRetention, Keep, PolicySource, RetentionInfo, RetentionScope, RetentionSetting, RoomId,
};
use serde_json::{Map, Value, json};

/// Runs a `retention` subcommand.
///
/// # Errors
/// `Forbidden` (exit 4) for non-admins, `NotFound` (exit 3) for an unknown
/// room, `BadRequest` (exit 2) for a bad period or a hold without a
/// reason, and connection errors.
pub async fn run(target: &Target, out: &Out, cmd: RetentionCmd) -> Result<()> {
    let (conn, _) = target.connect_authed().await?;
    match cmd {
        RetentionCmd::Show { room, org } => {
            let scope = match (room, org) {
                (Some(room), _) => Some(room_scope(&conn, &room).await?),
                (None, Some(org)) => Some((RetentionScope::Org(org), String::new())),
                (None, None) => None,
            };
            match scope {
                Some((scope, name)) => {
                    let info = conn
                        .get_retention(scope)
                        .await
                        .map_err(|e| CtlError::client("cannot read the retention settings", e))?;
                    print_info(out, &info, &name)
                }
                None => {
                    let all = conn
                        .list_retention()
                        .await
                        .map_err(|e| CtlError::client("cannot list the retention settings", e))?;
                    print_list(&conn, out, &all).await
                }
            }
        }
        RetentionCmd::Set { scope, keep } => {
            let (scope, name) = scope_of(&conn, scope).await?;
            let keep = keep_of(&keep)?;
            let info = conn
                .set_retention(scope, keep)
                .await
                .map_err(|e| CtlError::client("cannot set the retention period", e))?;
            print_info(out, &info, &name)
        }
        RetentionCmd::Hold { scope, reason } => {
            let (scope, name) = scope_of(&conn, scope).await?;
            let info = conn
                .set_legal_hold(scope, true, &reason)
                .await
                .map_err(|e| CtlError::client("cannot set the legal hold", e))?;
            print_info(out, &info, &name)
        }
        RetentionCmd::Release { scope, reason } => {
            let (scope, name) = scope_of(&conn, scope).await?;
            let info = conn
                .set_legal_hold(scope, false, &reason)
                .await
                .map_err(|e| CtlError::client("cannot release the legal hold", e))?;
            print_info(out, &info, &name)
        }
        RetentionCmd::Purge => {
            let report = conn
                .purge_now()
                .await
                .map_err(|e| CtlError::client("the purge pass failed", e))?;
            let names = room_names(&conn, !report.rooms.is_empty()).await?;
            let name = |id: &RoomId| names.get(id).cloned().unwrap_or_default();
            if out.json() {
                let rooms: Vec<Value> = report
                    .rooms
                    .iter()
                    .map(|r| {
                        json!({
                            "room": name(&r.room),
                            "room_id": r.room.0,
                            "first_seq": r.first.0,
                            "last_seq": r.last.0,
                            "messages": r.messages,
                            "versions": r.versions,
                            "files": r.files,
                        })
                    })
                    .collect();
                return out.json_line(&json!({
                    "now": rfc3339(report.now),
                    "messages": report.messages(),
                    "rooms": rooms,
                }));
            }
            let rows: Vec<Vec<String>> = report
                .rooms
                .iter()
                .map(|r| {
                    vec![
                        format!("{} (id {})", name(&r.room), r.room.0),
                        format!("{}..{}", r.first.0, r.last.0),
                        r.messages.to_string(),
                        r.versions.to_string(),
                        r.files.to_string(),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                out.table(&["room", "seqs", "messages", "versions", "files"], &rows)?;
            }
            out.line(&format!(
                "purged {} messages in {} rooms",
                report.messages(),
                report.rooms.len()
            ))
        }
    }
}

async fn room_scope(conn: &Connection, room: &str) -> Result<(RetentionScope, String)> {
    let info = room_by_name(conn, room).await?;
    Ok((RetentionScope::Room(info.id), info.name))
}

async fn scope_of(conn: &Connection, a: RetentionScopeArgs) -> Result<(RetentionScope, String)> {
    match (a.room, a.org) {
        (Some(room), _) => room_scope(conn, &room).await,
        (None, Some(org)) => Ok((RetentionScope::Org(org), String::new())),
        (None, None) => Err(CtlError::Usage("give --room ROOM or --org ORG".to_owned())),
    }
}

fn keep_of(k: &KeepArgs) -> Result<Option<Keep>> {
    match (k.days, k.forever, k.clear) {
        (Some(d), false, false) => Ok(Some(Keep::Days(d))),
        (None, true, false) => Ok(Some(Keep::Forever)),
        (None, false, true) => Ok(None),
        _ => Err(CtlError::Usage(
            "give exactly one of --days N, --forever and --clear".to_owned(),
        )),
    }
}

fn keep_name(k: Option<Keep>) -> (Value, Value) {
    match k {
        None => (Value::Null, Value::Null),
        Some(Keep::Forever) => (json!("forever"), Value::Null),
        Some(Keep::Days(d)) => (json!("days"), json!(d)),
    }
}

fn keep_text(k: Option<Keep>) -> String {
    match k {
        None => "-".to_owned(),
        Some(Keep::Forever) => "forever".to_owned(),
        Some(Keep::Days(d)) => format!("{d} days"),
    }
}

fn source_name(s: PolicySource) -> &'static str {
    match s {
        PolicySource::RoomHold => "room_hold",
        PolicySource::OrgHold => "org_hold",
        PolicySource::Room => "room",
        PolicySource::Org => "org",
        PolicySource::Default => "default",
    }
}

fn setting_json(s: &RetentionSetting, room_name: &str) -> Map<String, Value> {
    let mut m = Map::new();
    match &s.scope {
        RetentionScope::Room(id) => {
            m.insert("scope".into(), json!("room"));
            m.insert("room".into(), json!(room_name));
            m.insert("room_id".into(), json!(id.0));
        }
        RetentionScope::Org(org) => {
            m.insert("scope".into(), json!("org"));
            m.insert("org".into(), json!(org));
        }
    }
    let (keep, days) = keep_name(s.keep);
    m.insert("keep".into(), keep);
    m.insert("keep_days".into(), days);
    m.insert("hold".into(), json!(s.hold.is_some()));
    if let Some(h) = &s.hold {
        m.insert("hold_reason".into(), json!(h.reason));
        m.insert("hold_by".into(), json!(h.by.username));
        m.insert("hold_at".into(), json!(rfc3339(h.at)));
    }
    m
}

fn hold_text(s: &RetentionSetting) -> String {
    match &s.hold {
        None => "-".to_owned(),
        Some(h) => format!("{} (by {}, {})", h.reason, h.by.username, rfc3339(h.at)),
    }
}

fn effective_text(e: &EffectiveRetention) -> String {
    if e.held {
        return format!("keep everything: legal hold ({})", source_name(e.source));
    }
    format!("{} ({})", keep_text(Some(e.keep)), source_name(e.source))
}

fn print_info(out: &Out, info: &RetentionInfo, room_name: &str) -> Result<()> {
    if out.json() {
        let mut m = setting_json(&info.setting, room_name);
        if let Some(e) = &info.effective {
            let (keep, days) = keep_name(Some(e.keep));
            m.insert("effective_keep".into(), keep);
            m.insert("effective_keep_days".into(), days);
            m.insert("held".into(), json!(e.held));
            m.insert("source".into(), json!(source_name(e.source)));
            m.insert("room_org".into(), json!(e.org));
            m.insert("purged_below".into(), json!(e.purged_below.0));
        }
        return out.json_line(&Value::Object(m));
    }
    let s = &info.setting;
    let mut rows = match &s.scope {
        RetentionScope::Room(id) => vec![vec![
            "room".to_owned(),
            format!("{room_name} (id {})", id.0),
        ]],
        RetentionScope::Org(org) => vec![vec!["organisation".to_owned(), org.clone()]],
    };
    rows.push(vec!["keep".to_owned(), keep_text(s.keep)]);
    rows.push(vec!["legal hold".to_owned(), hold_text(s)]);
    if let Some(o) = &info.org {
        let name = match &o.scope {
            RetentionScope::Org(n) if !n.is_empty() => n.clone(),
            _ => "(none)".to_owned(),
        };
        rows.push(vec!["organisation".to_owned(), name]);
        rows.push(vec!["organisation keep".to_owned(), keep_text(o.keep)]);
        rows.push(vec!["organisation hold".to_owned(), hold_text(o)]);
    }
    if let Some(e) = &info.effective {
        rows.push(vec!["in force".to_owned(), effective_text(e)]);
        rows.push(vec![
            "purged below seq".to_owned(),
            e.purged_below.0.to_string(),
        ]);
    }
    out.table(&["field", "value"], &rows)
}

/// Room names by id, for display (an admin sees every room); empty
/// without asking when `needed` is false.
async fn room_names(
    conn: &Connection,
    needed: bool,
) -> Result<std::collections::HashMap<RoomId, String>> {
    if !needed {
        return Ok(Default::default());
    }
    Ok(conn
        .all_rooms()
        .await
        .map_err(|e| CtlError::client("cannot list rooms", e))?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect())
}

async fn print_list(conn: &Connection, out: &Out, all: &[RetentionSetting]) -> Result<()> {
    let names = room_names(
        conn,
        all.iter()
            .any(|s| matches!(s.scope, RetentionScope::Room(_))),
    )
    .await?;
    let name_of = |s: &RetentionSetting| match &s.scope {
        RetentionScope::Room(id) => names.get(id).cloned().unwrap_or_default(),
        RetentionScope::Org(_) => String::new(),
    };
    if out.json() {
        for s in all {
            out.json_line(&Value::Object(setting_json(s, &name_of(s))))?;
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|s| {
            let scope = match &s.scope {
                RetentionScope::Room(id) => format!("room {} (id {})", name_of(s), id.0),
                RetentionScope::Org(org) => format!("org {org}"),
            };
            vec![scope, keep_text(s.keep), hold_text(s)]
        })
        .collect();
    out.table(&["scope", "keep", "legal hold"], &rows)
}
