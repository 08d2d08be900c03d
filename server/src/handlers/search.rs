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
use crate::store::query;
use crate::store::records::EventKindRecord;
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

/// What the store says about a search before the index is asked.
struct Scope {
    rooms: Option<Vec<u64>>,
    heads: Vec<(u64, u64)>,
    sender: Option<u64>,
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

    let (user, audit, room, sender) = (a.user, q.audit, q.room, q.sender.clone());
    let scope = session
        .read(move |r| {
            let sender = match &sender {
                Some(name) => match query::user_id(&r.usernames, name)? {
                    Some(id) => Some(id),
                    None => return Ok(Err(super::account::no_such_user(name))),
                },
                None => None,
            };
            let mut rooms = Vec::new();
            let mut heads = Vec::new();
            let candidates = match room {
                Some(id) => vec![id.0],
                None if audit => Vec::new(),
                None => query::rooms_of(&r.user_rooms, user)?,
            };
            for id in candidates {
                let visible = query::room(&r.rooms, id)?.filter(|room| !room.deleted);
                let member = audit || query::member(&r.members, id, user)?.is_some();
                match visible {
                    Some(rec) if member => {
                        rooms.push(id);
                        heads.push((id, rec.head));
                    }
                    // A room the caller cannot read answers as a missing
                    // one, as everywhere else.
                    _ if room.is_some() => {
                        return Ok(Err(refuse(
                            ErrorCode::NotFound,
                            "no such room, or you are not a member; check the room, or join it first",
                        )));
                    }
                    _ => {}
                }
            }
            if audit && room.is_none() {
                for entry in redb::ReadableTable::iter(&r.rooms)? {
                    let (k, v) = entry?;
                    let rec: crate::store::records::RoomRecord =
                        crate::store::records::decode(v.value())?;
                    // A deleted room counts too: waiting for its head
                    // waits for its documents to be dropped.
                    heads.push((k.value(), rec.head));
                }
            }
            Ok(Ok(Scope {
                rooms: (!audit || room.is_some()).then_some(rooms),
                heads,
                sender,
            }))
        })
        .await??;

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
    let page = session
        .read(move |r| {
            let (found, hl) = index
                .with_searcher(|searcher, fields| {
                    let (tq, hl) = sq::build(fields, &parts, &filters);
                    sq::run(searcher, fields, tq.as_ref(), order, limit, cursor).map(|f| (f, hl))
                })
                .map_err(|e| crate::store::StoreError::Redb(format!("search index: {e}")))?;
            let mut hits = Vec::with_capacity(found.hits.len());
            for (room_id, seq) in found.hits {
                let Some((_, ev)) = query::events(&r.events, room_id, seq, seq, 1)?.pop() else {
                    continue;
                };
                let EventKindRecord::Message { text, deleted, .. } = &ev.kind else {
                    continue;
                };
                if deleted.is_some() || hidden.contains(&ev.sender.id) {
                    continue;
                }
                // The index may not yet have dropped a deleted room.
                let Some(room) = query::room(&r.rooms, room_id)?.filter(|r| !r.deleted) else {
                    continue;
                };
                let room_name = room.name;
                let (snippet, highlights) = sq::snippet(text, &hl);
                hits.push(SearchHit {
                    room: RoomId(room_id),
                    room_name,
                    seq: Seq(seq),
                    ts: Timestamp(ev.ts),
                    sender: ev.sender.to_wire(),
                    text: text.clone(),
                    snippet,
                    highlights,
                });
            }
            Ok(SearchPage {
                hits,
                next: found.next.map(|c| c.encode()),
                total: found.total,
                behind: !caught_up,
            })
        })
        .await?;
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
    let a = a.clone();
    let room = q.room.map(|r| r.0);
    session
        .write(move |ctx| {
            let actor = super::access::admin_actor(ctx, &a)?;
            let me = crate::store::records::AuthorRecord::of(a.user, &actor);
            super::notify::audit(ctx, &me, room, None, "search-audit", &what)?;
            Ok(())
        })
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
    let heads = session.read(|r| query::room_heads(&r.rooms)).await?;
    let status = tokio::task::spawn_blocking(move || index.status(&heads))
        .await
        .map_err(super::internal)?;
    Ok(ResponseBody::SearchStatus(status))
}

pub(super) async fn reindex(session: &Arc<Session>) -> Reply {
    let a = require_admin(session).await?;
    let index = index(session)?;
    session
        .write(move |ctx| {
            let actor = super::access::admin_actor(ctx, &a)?;
            let me = crate::store::records::AuthorRecord::of(a.user, &actor);
            super::notify::audit(ctx, &me, None, None, "search-reindex", "")?;
            Ok(())
        })
        .await?;
    index.rebuild();
    Ok(ResponseBody::Ok)
}
