//! `chatctl search`, and the index commands of `chatctl server`
//! (`reindex`, `search-status`).

use super::history::parse_date;
use crate::args::SearchArgs;
use crate::auth::Target;
use crate::error::{CtlError, Result};
use crate::output::{Out, rfc3339};
use chat_protocol::search::MAX_SEARCH_LIMIT;
use chat_protocol::text::display_safe;
use chat_protocol::{SearchHit, SearchOrder, SearchQuery, Timestamp};
use serde_json::json;
use std::time::Duration;

/// How often `server reindex` asks for progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// The JSON line of one hit: room (name), room_id, seq, sender
/// (username), display_name, org, ts (RFC 3339), ts_ms, text, snippet and
/// highlights (byte ranges of the snippet).
pub fn hit_json(hit: &SearchHit) -> serde_json::Value {
    json!({
        "room": hit.room_name,
        "room_id": hit.room.0,
        "seq": hit.seq.0,
        "sender": hit.sender.username,
        "display_name": hit.sender.display_name,
        "org": hit.sender.org,
        "ts": rfc3339(hit.ts),
        "ts_ms": hit.ts.0,
        "text": hit.text,
        "snippet": hit.snippet,
        "highlights": hit.highlights,
    })
}

/// The snippet with its matches between `[` and `]`, made safe to print.
pub fn marked_snippet(hit: &SearchHit) -> String {
    let s = &hit.snippet;
    let mut out = String::with_capacity(s.len() + 8);
    let mut at = 0usize;
    for &(a, b) in &hit.highlights {
        let (a, b) = (a as usize, b as usize);
        if a < at || b > s.len() || !s.is_char_boundary(a) || !s.is_char_boundary(b) {
            continue;
        }
        out.push_str(&s[at..a]);
        out.push('[');
        out.push_str(&s[a..b]);
        out.push(']');
        at = b;
    }
    out.push_str(&s[at..]);
    display_safe(&out).replace('\n', " ")
}

/// Runs `search`: pages through the server's answers until `--limit` hits.
///
/// # Errors
/// [`CtlError::Usage`] for bad dates or limits; request failures
/// (exit 3 for a room filter the caller cannot read).
pub async fn run(target: &Target, out: &Out, a: SearchArgs) -> Result<()> {
    if a.limit == 0 {
        return Err(CtlError::Usage("--limit must be at least 1".to_owned()));
    }
    let from = a
        .from
        .as_deref()
        .map(|d| parse_date(d, false))
        .transpose()?;
    let to = a.to.as_deref().map(|d| parse_date(d, true)).transpose()?;
    let (conn, _) = target.connect_authed().await?;
    let room = match &a.room {
        Some(name) => Some(super::room_by_name(&conn, name).await?.id),
        None => None,
    };
    let mut query = SearchQuery {
        text: a.query.clone(),
        room,
        sender: a.user.clone(),
        org: a.org.clone(),
        from: from.map(Timestamp),
        to: to.map(Timestamp),
        order: if a.relevance {
            SearchOrder::Relevance
        } else {
            SearchOrder::Newest
        },
        limit: 0,
        cursor: None,
        audit: a.audit,
    };
    let mut shown = 0usize;
    let mut total;
    loop {
        let want = (a.limit - shown).min(MAX_SEARCH_LIMIT as usize);
        query.limit = u32::try_from(want).unwrap_or(MAX_SEARCH_LIMIT);
        let page = conn
            .search(query.clone())
            .await
            .map_err(|e| CtlError::client(format!("search for {:?} failed", a.query), e))?;
        total = page.total;
        if page.behind && shown == 0 && !out.json() {
            eprintln!(
                "note: the search index is still catching up; the newest messages may be missing"
            );
        }
        for hit in &page.hits {
            if out.json() {
                out.json_line(&hit_json(hit))?;
            } else {
                let room = if hit.room_name.is_empty() {
                    format!("room {}", hit.room.0)
                } else {
                    format!("#{}", hit.room_name)
                };
                out.line(&format!(
                    "{room}:{}  {}  {}: {}",
                    hit.seq.0,
                    rfc3339(hit.ts),
                    display_safe(&hit.sender.username),
                    marked_snippet(hit)
                ))?;
            }
        }
        shown += page.hits.len();
        match page.next {
            Some(next) if shown < a.limit => query.cursor = Some(next),
            _ => break,
        }
    }
    if !out.json() {
        eprintln!("{shown} of {total} matching messages shown");
    }
    Ok(())
}

/// `server reindex`: starts the rebuild and prints progress until done.
///
/// # Errors
/// Request failures (exit 4 for non-admins).
pub async fn reindex(target: &Target, out: &Out) -> Result<()> {
    let (conn, _) = target.connect_authed().await?;
    conn.reindex()
        .await
        .map_err(|e| CtlError::client("cannot start the reindex", e))?;
    loop {
        let s = conn
            .search_status()
            .await
            .map_err(|e| CtlError::client("cannot read the search index status", e))?;
        match s.rebuilding {
            Some((done, all)) => {
                if out.json() {
                    out.json_line(&json!({"indexed_events": done, "events": all, "done": false}))?;
                } else {
                    out.line(&format!("reindexing: {done} of {all} events read"))?;
                }
            }
            None => {
                if out.json() {
                    out.json_line(&json!({
                        "documents": s.documents,
                        "events_behind": s.events_behind,
                        "size_bytes": s.size_bytes,
                        "done": true,
                    }))?;
                } else {
                    out.line(&format!(
                        "reindexed: {} messages in the index, {} bytes",
                        s.documents, s.size_bytes
                    ))?;
                }
                return Ok(());
            }
        }
        tokio::time::sleep(PROGRESS_EVERY).await;
    }
}

/// `server search-status`.
///
/// # Errors
/// Request failures (exit 4 for non-admins).
pub async fn status(target: &Target, out: &Out) -> Result<()> {
    let (conn, _) = target.connect_authed().await?;
    let s = conn
        .search_status()
        .await
        .map_err(|e| CtlError::client("cannot read the search index status", e))?;
    if out.json() {
        return out.json_line(&json!({
            "enabled": s.enabled,
            "documents": s.documents,
            "events_behind": s.events_behind,
            "rooms": s.rooms,
            "size_bytes": s.size_bytes,
            "rebuilding": s.rebuilding.map(|(d, a)| json!({"events_read": d, "events": a})),
        }));
    }
    let rows = vec![
        vec!["enabled".to_owned(), s.enabled.to_string()],
        vec!["documents".to_owned(), s.documents.to_string()],
        vec!["events_behind".to_owned(), s.events_behind.to_string()],
        vec!["rooms".to_owned(), s.rooms.to_string()],
        vec!["size_bytes".to_owned(), s.size_bytes.to_string()],
        vec![
            "rebuilding".to_owned(),
            s.rebuilding
                .map_or("no".to_owned(), |(d, a)| format!("{d} of {a} events")),
        ],
    ];
    out.table(&["field", "value"], &rows)
}
