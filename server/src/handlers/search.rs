//! Search requests: `Search` (members over their rooms; server admins over
//! everything with `audit`, which is recorded), `SearchStatus` and
//! `Reindex` (server admins).
//!
//! What a member may find is exactly what `History` shows them: messages
//! of rooms they are a member of now (history is shared with members from
//! the room's start, so the whole history of those rooms), never deleted
//! ones, never from users they block. The index narrows the candidates; each
//! hit is then read from the store, so a message deleted after indexing
//! is never shown.

use super::access::{fresh, require_admin};
use super::{Reply, refuse};
use crate::search::query::{self as sq, Cursor, Filters};
use crate::search::{SearchIndex, org_term};
use crate::session::Session;
use chat_protocol::search::{MAX_QUERY_BYTES, MAX_SEARCH_LIMIT};
use chat_protocol::{
    self as proto, ErrorBody, ErrorCode, ResponseBody, RoomId, SearchHit, SearchPage, SearchQuery,
    Seq, Timestamp,
};
use std::sync::Arc;
use std::time::Duration;

/// How long a search waits for the index to reach the searched rooms'
/// heads as they were when it arrived, so a client finds what it has just
/// sent or edited. Past it, the answer says `behind`.
pub const CATCH_UP_WAIT: Duration = Duration::from_secs(2);

fn index(session: &Session) -> Result<SearchIndex, ErrorBody> {
    session.shared.search.clone().ok_or_else(|| {
        refuse(
            ErrorCode::Unavailable,
            "this server keeps no search index; ask its admin to start chatd with --search true",
        )
    })
}

pub(super) async fn search(session: &Arc<Session>, q: SearchQuery) -> Reply {
    let index = index(session)?;
    let a = fresh(session).await?;
    if q.audit && !a.admin {
        return Err(refuse(
            ErrorCode::Forbidden,
            "only server admins may search every room (audit); drop --audit",
        ));
    }
    if q.text.len() > MAX_QUERY_BYTES {
        return Err(refuse(
            ErrorCode::TooLarge,
            format!(
                "the query is {} bytes; the limit is {MAX_QUERY_BYTES}",
                q.text.len()
            ),
        ));
    }
    if q.limit == 0 || q.limit > MAX_SEARCH_LIMIT {
        return Err(refuse(
            ErrorCode::BadRequest,
            format!("search limit must be 1 to {MAX_SEARCH_LIMIT}; page with the cursor"),
        ));
    }
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from.0 >= to.0
    {
        return Err(refuse(
            ErrorCode::BadRequest,
            "the date range is empty: `from` must be before `to`",
        ));
    }
    let parts = sq::parse(&q.text).map_err(|m| refuse(ErrorCode::BadRequest, m))?;
    let cursor = q
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, q.order))
        .transpose()
        .map_err(|m| refuse(ErrorCode::BadRequest, m))?;

    let audit = q.audit;
    let scope = session
        .shared
        .storage
        .search_scope(a.user, audit, q.room.map(|r| r.0), q.sender.clone())
        .await?;

    if audit {
        record_audit(session, &a, &q).await?;
    }
    let caught_up = index.wait_for(&scope.heads, CATCH_UP_WAIT).await;
    let filters = Filters {
        rooms: scope.rooms,
        sender: scope.sender,
        org: q.org.as_deref().map(org_term),
        from: q.from.map(|t| t.0),
        to: q.to.map(|t| t.0),
        hidden: if audit {
            Vec::new()
        } else {
            session
                .blocked
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .copied()
                .collect()
        },
    };
    let hidden = filters.hidden.clone();
    let (order, limit) = (q.order, q.limit as usize);
    let (found, hl) = tokio::task::spawn_blocking(move || {
        index.with_searcher(|searcher, fields| {
            let (tq, hl) = sq::build(fields, &parts, &filters);
            sq::run(searcher, fields, tq.as_ref(), order, limit, cursor).map(|f| (f, hl))
        })
    })
    .await
    .map_err(super::internal)?
    .map_err(|e| ErrorBody::from(crate::store::StoreError::Redb(format!("search index: {e}"))))?;
    let messages = session.shared.storage.messages_at(found.hits).await?;
    let hits = messages
        .into_iter()
        .filter(|m| !hidden.contains(&m.sender.id))
        .map(|m| {
            let (snippet, highlights) = sq::snippet(&m.text, &hl);
            SearchHit {
                room: RoomId(m.room),
                room_name: m.room_name,
                seq: Seq(m.seq),
                ts: Timestamp(m.ts),
                sender: m.sender.to_wire(),
                text: m.text,
                snippet,
                highlights,
            }
        })
        .collect();
    let page = SearchPage {
        hits,
        next: found.next.map(|c| c.encode()),
        total: found.total,
        behind: !caught_up,
    };
    Ok(ResponseBody::SearchResults(page))
}

/// Stores an audit search in the audit trail: action `search-audit`, the
/// query and its filters as the reason.
async fn record_audit(
    session: &Arc<Session>,
    a: &crate::session::Authed,
    q: &SearchQuery,
) -> Result<(), ErrorBody> {
    let mut what = format!("query {:?}", q.text);
    if let Some(r) = q.room {
        what.push_str(&format!(" room {}", r.0));
    }
    if let Some(s) = &q.sender {
        what.push_str(&format!(" sender {s}"));
    }
    if let Some(o) = &q.org {
        what.push_str(&format!(" org {o:?}"));
    }
    if let Some(f) = q.from {
        what.push_str(&format!(" from {}", f.0));
    }
    if let Some(t) = q.to {
        what.push_str(&format!(" to {}", t.0));
    }
    session
        .shared
        .storage
        .audit_by_admin(a.caller(), q.room.map(|r| r.0), "search-audit".into(), what)
        .await?;
    Ok(())
}

pub(super) async fn status(session: &Arc<Session>) -> Reply {
    require_admin(session).await?;
    let Some(index) = session.shared.search.clone() else {
        return Ok(ResponseBody::SearchStatus(proto::SearchIndexStatus {
            enabled: false,
            documents: 0,
            events_behind: 0,
            rooms: 0,
            size_bytes: 0,
            rebuilding: None,
        }));
    };
    let heads = session.shared.storage.room_heads().await?;
    let status = tokio::task::spawn_blocking(move || index.status(&heads))
        .await
        .map_err(super::internal)?;
    Ok(ResponseBody::SearchStatus(status))
}

pub(super) async fn reindex(session: &Arc<Session>) -> Reply {
    let a = require_admin(session).await?;
    let index = index(session)?;
    session
        .shared
        .storage
        .audit_by_admin(a.caller(), None, "search-reindex".into(), String::new())
        .await?;
    index.rebuild();
    Ok(ResponseBody::Ok)
}
