//! How results are printed: aligned tables on a terminal, tab-separated
//! lines when piped, JSON / JSON Lines with `--json`, CSV for `history --csv`.
//!
//! Every write goes through [`Out`], which flushes line by line (so
//! `tail --follow | jq` sees each event at once) and turns a closed pipe into
//! [`CtlError::BrokenPipe`] instead of a panic.

use crate::error::{CtlError, Result};
use chat_protocol::text::display_safe;
use chat_protocol::{Role, RoomEvent, RoomEventKind, Timestamp};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use std::io::{IsTerminal, Write};

/// The output format of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for people (stdout is a terminal).
    Table,
    /// One record per line, fields separated by tabs (stdout is piped).
    Tsv,
    /// JSON (JSON Lines for event streams).
    Json,
    /// RFC 4180 CSV with a header row.
    Csv,
}

/// stdout with a format.
#[derive(Debug)]
pub struct Out {
    /// The chosen format.
    pub format: Format,
}

impl Out {
    /// `--json` wins; otherwise a table on a terminal and TSV when piped.
    pub fn new(json: bool) -> Out {
        let format = if json {
            Format::Json
        } else if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Tsv
        };
        Out { format }
    }

    /// Whether output is JSON.
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// Writes one line and flushes.
    ///
    /// # Errors
    /// [`CtlError::BrokenPipe`] when the reader went away.
    pub fn line(&self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")
            .and_then(|()| out.flush())
            .map_err(|e| CtlError::io("cannot write to stdout", e))
    }

    /// Writes bytes as they are (a completion script, a man page) and
    /// flushes.
    ///
    /// # Errors
    /// As [`Out::line`].
    pub fn raw(&self, bytes: &[u8]) -> Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)
            .and_then(|()| out.flush())
            .map_err(|e| CtlError::io("cannot write to stdout", e))
    }

    /// Writes one JSON value on one line.
    ///
    /// # Errors
    /// As [`Out::line`].
    pub fn json_line(&self, value: &Value) -> Result<()> {
        self.line(&value.to_string())
    }

    /// Writes records as a table (terminal) or TSV (piped). Cells are made
    /// terminal-safe; TSV cells escape `\`, tab and newline.
    ///
    /// # Errors
    /// As [`Out::line`].
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) -> Result<()> {
        if self.format == Format::Table {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| r.iter().map(|c| one_line(c)).collect())
                .collect();
            let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
            for r in &cells {
                for (i, c) in r.iter().enumerate() {
                    if let Some(w) = widths.get_mut(i) {
                        *w = (*w).max(c.chars().count());
                    }
                }
            }
            let fmt = |r: &[String]| {
                let last = r.len().saturating_sub(1);
                r.iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if i == last {
                            c.clone()
                        } else {
                            let pad = widths.get(i).copied().unwrap_or(0);
                            format!("{c:<pad$}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("  ")
            };
            let head: Vec<String> = headers.iter().map(|h| h.to_uppercase()).collect();
            self.line(fmt(&head).trim_end())?;
            for r in &cells {
                self.line(fmt(r).trim_end())?;
            }
            Ok(())
        } else {
            for r in rows {
                let line: Vec<String> = r.iter().map(|c| tsv_cell(c)).collect();
                self.line(&line.join("\t"))?;
            }
            Ok(())
        }
    }
}

impl Out {
    /// Writes one record without a header: aligned loosely on a terminal,
    /// tab-separated when piped. For streams whose rows arrive one by one.
    ///
    /// # Errors
    /// As [`Out::line`].
    pub fn table_row(&self, row: &[String]) -> Result<()> {
        if self.format == Format::Table {
            let cells: Vec<String> = row.iter().map(|c| one_line(c)).collect();
            self.line(&cells.join("  "))
        } else {
            let cells: Vec<String> = row.iter().map(|c| tsv_cell(c)).collect();
            self.line(&cells.join("\t"))
        }
    }
}

/// A cell for a terminal: control characters made visible, newlines as ⏎.
fn one_line(text: &str) -> String {
    display_safe(text).replace('\n', "⏎")
}

/// A TSV cell: `\` `\t` `\n` `\r` escaped so each record stays one line.
pub fn tsv_cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// An RFC 4180 CSV field: quoted when it holds a comma, quote or line break.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// A timestamp as RFC 3339 UTC with milliseconds, e.g. `2015-01-20T22:19:00.000Z`.
pub fn rfc3339(ts: Timestamp) -> String {
    let ms = i64::try_from(ts.0).unwrap_or(i64::MAX);
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A timestamp for tables: `2015-01-20 22:19` (UTC).
pub fn short_time(ts: Timestamp) -> String {
    let ms = i64::try_from(ts.0).unwrap_or(i64::MAX);
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A room role as users and JSON see it: `member`, `admin`, `owner`.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Member => "member",
        Role::Admin => "admin",
        Role::Owner => "owner",
    }
}

/// `CamelCase` to `snake_case`, for event type names.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Replaces nested author objects (`{"id","username",...}`) by their
/// username, so every event's fields are flat and stable.
fn flatten_authors(v: Value) -> Value {
    match v {
        Value::Object(m) if m.contains_key("username") && m.contains_key("display_name") => {
            m.get("username").cloned().unwrap_or(Value::Null)
        }
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, flatten_authors(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The JSON Lines form of a room event, shared by `tail`, `history` and
/// `export`. Field names are stable (README.md, "JSON output"): `type`
/// (snake_case: `message`, `joined`, `visibility_changed`, ...), `room`,
/// `seq`, `created_at` (RFC 3339 UTC), `sender`, `display_name`, `org`;
/// messages add `id`, `text`, and when they apply `reply_to`, `edited_at`,
/// and for a deleted message `deleted_by` and `deleted_at` (the one
/// representation of a deletion; `text` is then empty unless an admin
/// asked for it); a message removed by retention is `type: purged` with
/// `purged_at` (and `edit_of` for a purged edit of one); other events add
/// their own fields (`user`, `role`,
/// `topic`, `visibility`, `target`, ...). Enum values (`role`,
/// `visibility`, `kind`) are lower-case.
pub fn event_json(room: &str, ev: &RoomEvent) -> Value {
    let mut m = Map::new();
    m.insert("room".into(), json!(room));
    m.insert("seq".into(), json!(ev.seq.0));
    m.insert("created_at".into(), json!(rfc3339(ev.ts)));
    m.insert("sender".into(), json!(ev.sender.username));
    m.insert("display_name".into(), json!(ev.sender.display_name));
    m.insert("org".into(), json!(ev.sender.org));
    match &ev.kind {
        RoomEventKind::Message(msg) => {
            m.insert("type".into(), json!("message"));
            m.insert("id".into(), json!(msg.id.0.to_string()));
            m.insert("text".into(), json!(msg.text));
            if let Some(r) = msg.reply_to {
                m.insert("reply_to".into(), json!(r.0));
            }
            if let Some(at) = msg.edited_at {
                m.insert("edited_at".into(), json!(rfc3339(at)));
            }
            if let Some(t) = &msg.deleted {
                m.insert("deleted_by".into(), json!(t.by.username));
                m.insert("deleted_at".into(), json!(rfc3339(t.at)));
            }
        }
        RoomEventKind::Purged { edit_of, purged_at } => {
            m.insert("type".into(), json!("purged"));
            m.insert("purged_at".into(), json!(rfc3339(*purged_at)));
            if let Some(t) = edit_of {
                m.insert("edit_of".into(), json!(t.0));
            }
        }
        other => match serde_json::to_value(other) {
            Ok(Value::String(name)) => {
                m.insert("type".into(), json!(snake(&name)));
            }
            Ok(Value::Object(o)) => {
                for (name, fields) in o {
                    m.insert("type".into(), json!(snake(&name)));
                    if let Value::Object(f) = flatten_authors(fields) {
                        for (k, v) in f {
                            m.entry(k).or_insert(lower_enum(v));
                        }
                    }
                }
            }
            _ => {
                m.insert("type".into(), json!("unknown"));
            }
        },
    }
    Value::Object(m)
}

/// Enum values (`"Public"`, `"Admin"`, `"Group"`) in lower case, as in
/// every other JSON field; other strings unchanged.
fn lower_enum(v: Value) -> Value {
    match v {
        Value::String(s)
            if matches!(
                s.as_str(),
                "Public" | "Private" | "Member" | "Admin" | "Owner" | "Group" | "Direct"
            ) =>
        {
            Value::String(s.to_lowercase())
        }
        other => other,
    }
}

/// The text shown for a message in human output: its text, or
/// "(message deleted)" for a deleted message whose text is withheld.
pub fn message_text(msg: &chat_protocol::MessageEvent) -> String {
    if msg.deleted.is_some() && msg.text.is_empty() {
        "(message deleted)".to_owned()
    } else {
        msg.text.clone()
    }
}

fn with_reason(what: String, reason: &str) -> String {
    if reason.is_empty() {
        what
    } else {
        format!("{what} ({reason})")
    }
}

/// One human-readable line for an event: `seq  time  sender  text`.
pub fn event_row(ev: &RoomEvent) -> Vec<String> {
    let what = match &ev.kind {
        RoomEventKind::Message(m) => message_text(m),
        RoomEventKind::Joined { user, role } => {
            format!("* {} joined as {}", user.username, role_name(*role))
        }
        RoomEventKind::Left { user } => format!("* {} left", user.username),
        RoomEventKind::Created { name, .. } => format!("* created the room {name}"),
        RoomEventKind::TopicChanged { topic } => format!("* set the topic to {topic}"),
        RoomEventKind::VisibilityChanged { visibility } => format!(
            "* made the room {}",
            match visibility {
                chat_protocol::Visibility::Public => "public",
                chat_protocol::Visibility::Private => "private",
            }
        ),
        RoomEventKind::Edited { target, .. } => format!("* edited message {target}"),
        RoomEventKind::Deleted { target } => format!("* deleted message {target}"),
        RoomEventKind::Reaction {
            target,
            emoji,
            added,
        } => {
            let verb = if *added { "reacted" } else { "took back" };
            format!("* {verb} {emoji} on message {target}")
        }
        RoomEventKind::Kicked { user, reason } => {
            with_reason(format!("* removed {}", user.username), reason)
        }
        RoomEventKind::Banned { user, reason } => {
            with_reason(format!("* banned {}", user.username), reason)
        }
        RoomEventKind::Unbanned { user } => format!("* lifted the ban on {}", user.username),
        RoomEventKind::Muted { user, muted: true } => format!("* muted {}", user.username),
        RoomEventKind::Muted { user, muted: false } => format!("* unmuted {}", user.username),
        RoomEventKind::RoleChanged { user, role } => {
            format!("* made {} {}", user.username, role_name(*role))
        }
        RoomEventKind::Archived => "* archived the room".to_owned(),
        RoomEventKind::Purged { edit_of: None, .. } => {
            "(message purged by the retention policy)".to_owned()
        }
        RoomEventKind::Purged {
            edit_of: Some(t), ..
        } => format!("* edit of message {t} (purged by the retention policy)"),
        _ => {
            let v = event_json("", ev);
            let ty = v.get("type").and_then(Value::as_str).unwrap_or("event");
            format!("* {ty}")
        }
    };
    vec![
        ev.seq.0.to_string(),
        short_time(ev.ts),
        ev.sender.display_name.clone(),
        what,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_escape() {
        assert_eq!(tsv_cell("a\tb\nc\\"), "a\\tb\\nc\\\\");
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert_eq!(snake("VisibilityChanged"), "visibility_changed");
        assert_eq!(rfc3339(Timestamp(0)), "1970-01-01T00:00:00.000Z");
    }
}
