//! Full-text search over messages: the query a client sends, the page of
//! hits it gets back, and the index's status.
//!
//! The query text is a small language (see [`SearchQuery::text`]); the
//! server tokenizes it the way it tokenizes messages, so Korean words with
//! particles attached (환자가, 환자를) are found by their stem (환자).

use crate::model::Author;
use crate::{RoomId, Seq, Timestamp};
use serde::{Deserialize, Serialize};

/// Most hits in one [`SearchPage`]; larger limits are refused.
pub const MAX_SEARCH_LIMIT: u32 = 200;

/// Longest query text in bytes; longer ones are refused.
pub const MAX_QUERY_BYTES: usize = 1024;

/// How hits are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SearchOrder {
    /// Newest message first (by time, then room and sequence number).
    #[default]
    Newest,
    /// Best match first (BM25 over the indexed terms), newest first among
    /// equal scores.
    Relevance,
}

/// A search. Every filter narrows the result; all are optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// What to look for, 1 to [`MAX_QUERY_BYTES`] bytes:
    /// - words, all of which must occur (`혈압 측정`, `deploy failed`);
    /// - `"an exact phrase"` in double quotes;
    /// - a prefix with a trailing `*` (`환자*`, `deploy*`);
    /// - `-word` excludes messages containing the word.
    ///
    /// Matching ignores case and Unicode compatibility differences (NFKC).
    pub text: String,
    /// Only this room.
    #[serde(default)]
    pub room: Option<RoomId>,
    /// Only messages sent by this username (any case).
    #[serde(default)]
    pub sender: Option<String>,
    /// Only messages whose sender belonged to this organization when they
    /// sent them (exact name, any case).
    #[serde(default)]
    pub org: Option<String>,
    /// Only messages sent at or after this time.
    #[serde(default)]
    pub from: Option<Timestamp>,
    /// Only messages sent before this time (exclusive).
    #[serde(default)]
    pub to: Option<Timestamp>,
    /// Order of hits.
    #[serde(default)]
    pub order: SearchOrder,
    /// Most hits in this page, 1 to [`MAX_SEARCH_LIMIT`].
    pub limit: u32,
    /// Where to continue: the `next` of the previous page with the same
    /// query; `None` for the first page. Opaque to clients.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Server admins only: search every room, deleted messages excluded,
    /// membership ignored. Each such search is recorded in the audit trail
    /// (action `search-audit`).
    #[serde(default)]
    pub audit: bool,
}

impl SearchQuery {
    /// A first-page query for `text` with no filters, newest first.
    pub fn new(text: impl Into<String>, limit: u32) -> SearchQuery {
        SearchQuery {
            text: text.into(),
            room: None,
            sender: None,
            org: None,
            from: None,
            to: None,
            order: SearchOrder::Newest,
            limit,
            cursor: None,
            audit: false,
        }
    }
}

/// One message that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Its room.
    pub room: RoomId,
    /// The room's name (empty for a direct room).
    pub room_name: String,
    /// The message's sequence number in its room.
    pub seq: Seq,
    /// When it was sent.
    pub ts: Timestamp,
    /// Who sent it, as they were named then.
    pub sender: Author,
    /// The message's current text (after edits).
    pub text: String,
    /// An excerpt of `text` around the matches, at most about 160
    /// characters.
    pub snippet: String,
    /// Byte ranges `[start, end)` of `snippet` that matched, ascending and
    /// not overlapping; each falls on character boundaries.
    pub highlights: Vec<(u32, u32)>,
}

/// A page of hits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchPage {
    /// The hits, in the order asked for.
    pub hits: Vec<SearchHit>,
    /// Pass as [`SearchQuery::cursor`] for the next page; `None` when this
    /// is the last.
    pub next: Option<String>,
    /// Matching messages in all, on every page.
    pub total: u64,
    /// Set when the index had not yet caught up with the searched rooms
    /// when the answer was made (the last messages may be missing); a
    /// retry a moment later sees them.
    pub behind: bool,
}

/// The search index's state (`chatctl server search-status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchIndexStatus {
    /// Whether the server keeps a search index at all.
    pub enabled: bool,
    /// Messages in the index.
    pub documents: u64,
    /// Room events the index has not yet read, over all rooms.
    pub events_behind: u64,
    /// Rooms in the store.
    pub rooms: u64,
    /// The index's size on disk, in bytes.
    pub size_bytes: u64,
    /// A rebuild in progress: events read so far and in all.
    pub rebuilding: Option<(u64, u64)>,
}
