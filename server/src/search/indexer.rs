//! The `chatd-index` thread: reads new room events from redb and applies
//! them to the tantivy index, committing with its per-room positions.

use super::{Fields, Inner, SearchError, doc_key, org_term};
use crate::store::boundary::SearchFeed as _;
use crate::store::ops::search::{IndexChange as Change, IndexStep as Step};
use crate::store::records::{EventKindRecord, EventRecord};
use crate::store::{Store, StoreError, WriteError};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tantivy::schema::Term;
use tantivy::{Index, IndexWriter, TantivyDocument};

/// A room id no room has: "check every room".
pub(super) const ALL_ROOMS: u64 = u64::MAX;

/// Events read per read transaction while catching up.
const CHUNK: usize = 4096;

/// Payload format marker: `v1` then ` room:seq` pairs.
const PAYLOAD_VERSION: &str = "v1";

/// The per-room positions stored with the index's last commit.
///
/// # Errors
/// A tantivy error reading the index's meta file.
pub(super) fn load_positions(index: &Index) -> Result<HashMap<u64, u64>, SearchError> {
    let payload = index.load_metas()?.payload.unwrap_or_default();
    let mut out = HashMap::new();
    let mut parts = payload.split_ascii_whitespace();
    if parts.next() != Some(PAYLOAD_VERSION) {
        return Ok(out); // a new index, or one to rebuild: start from 0
    }
    for pair in parts {
        if let Some((r, s)) = pair.split_once(':')
            && let (Ok(r), Ok(s)) = (r.parse(), s.parse())
        {
            out.insert(r, s);
        }
    }
    Ok(out)
}

fn payload(positions: &HashMap<u64, u64>) -> String {
    let mut s = String::from(PAYLOAD_VERSION);
    let mut rooms: Vec<_> = positions.iter().collect();
    rooms.sort();
    for (r, q) in rooms {
        s.push_str(&format!(" {r}:{q}"));
    }
    s
}

struct Indexer<'a> {
    inner: &'a Inner,
    writer: IndexWriter<TantivyDocument>,
    /// Positions including uncommitted work.
    positions: HashMap<u64, u64>,
    /// Per room, the retention floor whose documents were deleted since
    /// start: every message below it is purged (`store::retention`).
    purged: HashMap<u64, u64>,
    /// Changes since the last commit.
    pending: usize,
    last_commit: Instant,
    store: &'a Store,
}

/// The thread's body: waits for work, applies it, commits; ends on stop.
pub(super) fn run(
    inner: &Inner,
    writer: IndexWriter<TantivyDocument>,
    positions: HashMap<u64, u64>,
    store: &Store,
) {
    let mut ix = Indexer {
        inner,
        writer,
        positions,
        purged: HashMap::new(),
        pending: 0,
        last_commit: Instant::now(),
        store,
    };
    loop {
        let (rooms, rebuild, stop, commit_now) = {
            let mut work = inner.work.lock().unwrap_or_else(|p| p.into_inner());
            while work.rooms.is_empty() && !work.rebuild && !work.stop && !work.commit_now {
                let wait = if ix.pending > 0 {
                    Duration::from_millis(super::COMMIT_EVERY_MS)
                        .saturating_sub(ix.last_commit.elapsed())
                } else {
                    Duration::from_secs(3600)
                };
                if ix.pending > 0 && wait.is_zero() {
                    break;
                }
                work = inner
                    .wake
                    .wait_timeout(work, wait)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            let rooms = std::mem::take(&mut work.rooms);
            let rebuild = std::mem::take(&mut work.rebuild);
            let commit_now = std::mem::take(&mut work.commit_now);
            (rooms, rebuild, work.stop, commit_now)
        };
        let result = (|| -> Result<(), SearchError> {
            if rebuild {
                ix.start_rebuild()?;
            }
            let rooms: Vec<u64> = if rebuild || rooms.contains(&ALL_ROOMS) {
                ix.all_rooms()?
            } else {
                rooms.into_iter().collect()
            };
            for room in rooms {
                if stop {
                    break;
                }
                ix.catch_up(room)?;
            }
            if ix.pending > 0
                && (commit_now
                    || stop
                    || rebuild
                    || ix.last_commit.elapsed() >= Duration::from_millis(super::COMMIT_EVERY_MS))
            {
                ix.commit()?;
            } else if ix.pending == 0 {
                // Only events that change no document (joins, reactions):
                // the committed index already reflects them.
                ix.publish_visible();
            }
            if rebuild && !stop {
                // Done only once committed, so a finished rebuild's status
                // counts the rebuilt documents.
                inner.rebuilding.store(false, Ordering::SeqCst);
            }
            Ok(())
        })();
        if let Err(e) = result {
            tracing::error!(error = %e, "search indexing failed; retrying from the last commit");
            // Drop what is uncommitted and start again from the last
            // commit's positions, so the index never skips events.
            let _ = ix.writer.rollback();
            ix.pending = 0;
            ix.purged.clear();
            match load_positions(&inner.index) {
                Ok(p) => ix.positions = p,
                Err(e) => tracing::error!(error = %e, "cannot reload the search positions"),
            }
            inner.rebuilding.store(false, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(1));
            let mut work = inner.work.lock().unwrap_or_else(|p| p.into_inner());
            work.rooms.insert(ALL_ROOMS);
        }
        if stop {
            let _ = ix.writer.wait_merging_threads();
            return;
        }
    }
}

impl Indexer<'_> {
    fn fields(&self) -> &Fields {
        &self.inner.fields
    }

    fn all_rooms(&self) -> Result<Vec<u64>, SearchError> {
        let (rooms, total) = self.store.index_rooms().map_err(store_error)?;
        self.inner.rebuild_total.store(total, Ordering::SeqCst);
        Ok(rooms)
    }

    fn start_rebuild(&mut self) -> Result<(), SearchError> {
        self.writer.delete_all_documents()?;
        self.positions.clear();
        self.purged.clear();
        self.inner.rebuild_done.store(0, Ordering::SeqCst);
        self.pending += 1;
        Ok(())
    }

    /// Applies `room`'s events past its position, a chunk per read
    /// transaction; a deleted room loses its documents.
    fn catch_up(&mut self, room_id: u64) -> Result<(), SearchError> {
        loop {
            let from = self.positions.get(&room_id).copied().unwrap_or(0);
            let step = self
                .store
                .index_step(room_id, from, CHUNK)
                .map_err(store_error)?;
            match step {
                Step::Gone => return Ok(()),
                Step::Deleted(head) => {
                    if self.positions.get(&room_id) != Some(&head) {
                        self.writer
                            .delete_term(Term::from_field_u64(self.fields().room, room_id));
                        self.positions.insert(room_id, head);
                        self.pending += 1;
                    }
                    return Ok(());
                }
                Step::Restart => {
                    // The store is older than the index (a restored
                    // backup): index the room again from the start.
                    self.writer
                        .delete_term(Term::from_field_u64(self.fields().room, room_id));
                    self.positions.insert(room_id, 0);
                    self.pending += 1;
                }
                Step::Apply(changes, head, purged_below) => {
                    self.forget_purged(room_id, purged_below)?;
                    let n = changes.len();
                    let mut last = from;
                    for change in changes {
                        last = self.apply(room_id, change)?;
                    }
                    if n > 0 {
                        self.positions.insert(room_id, last);
                        self.inner
                            .rebuild_done
                            .fetch_add(n as u64, Ordering::Relaxed);
                    }
                    if self.pending >= super::COMMIT_EVERY_DOCS {
                        self.commit()?;
                    }
                    if last >= head || n == 0 || self.stop_requested() {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Deletes the documents of `room`'s messages below `purged_below`
    /// (all purged by retention) once per floor since start. One range
    /// delete, idempotent, so a crash before the commit only repeats it.
    fn forget_purged(&mut self, room: u64, purged_below: u64) -> Result<(), SearchError> {
        if purged_below <= 1 || self.purged.get(&room).is_some_and(|f| *f >= purged_below) {
            return Ok(());
        }
        let f = *self.fields();
        let query = tantivy::query::BooleanQuery::intersection(vec![
            Box::new(tantivy::query::TermQuery::new(
                Term::from_field_u64(f.room, room),
                tantivy::schema::IndexRecordOption::Basic,
            )),
            Box::new(tantivy::query::RangeQuery::new(
                std::ops::Bound::Unbounded,
                std::ops::Bound::Excluded(Term::from_field_u64(f.seq, purged_below)),
            )),
        ]);
        self.writer.delete_query(Box::new(query))?;
        self.purged.insert(room, purged_below);
        self.pending += 1;
        Ok(())
    }

    /// Applies one change; returns the seq of the event it came from.
    fn apply(&mut self, room: u64, change: Change) -> Result<u64, SearchError> {
        match change {
            Change::Skip(seq) => Ok(seq),
            Change::Add(seq, ev) => {
                // A seq past the committed position was never in a
                // committed index, so a plain add cannot duplicate.
                self.add(room, seq, &ev)?;
                Ok(seq)
            }
            Change::Replace(target, current, seq) => {
                self.writer.delete_term(Term::from_field_text(
                    self.fields().key,
                    &doc_key(room, target),
                ));
                self.pending += 1;
                if let Some(ev) = current {
                    self.add(room, target, &ev)?;
                }
                Ok(seq)
            }
        }
    }

    fn add(&mut self, room: u64, seq: u64, ev: &EventRecord) -> Result<(), SearchError> {
        let EventKindRecord::Message { text, deleted, .. } = &ev.kind else {
            return Ok(());
        };
        if deleted.is_some() {
            return Ok(());
        }
        let f = *self.fields();
        let mut doc = TantivyDocument::default();
        doc.add_text(f.key, doc_key(room, seq));
        doc.add_u64(f.room, room);
        doc.add_u64(f.seq, seq);
        doc.add_u64(f.sender, ev.sender.id);
        doc.add_text(f.org, org_term(&ev.sender.org));
        doc.add_u64(f.ts, ev.ts);
        doc.add_text(f.text, text);
        self.writer.add_document(doc)?;
        self.pending += 1;
        Ok(())
    }

    /// Commits with the positions as payload, then lets searches see it.
    fn commit(&mut self) -> Result<(), SearchError> {
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&payload(&self.positions));
        prepared.commit()?;
        self.inner.reader.reload()?;
        self.pending = 0;
        self.last_commit = Instant::now();
        self.publish_visible();
        Ok(())
    }

    fn stop_requested(&self) -> bool {
        self.inner
            .work
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stop
    }

    /// Lets searches see the positions (everything up to them is committed).
    fn publish_visible(&self) {
        *self.inner.visible.lock().unwrap_or_else(|p| p.into_inner()) = self.positions.clone();
        self.inner.committed.send_modify(|n| *n += 1);
    }
}

/// A storage failure while feeding the index (a refusal cannot happen
/// in these reads).
fn store_error(e: WriteError) -> StoreError {
    match e {
        WriteError::Store(s) => s,
        WriteError::Rejected(r) => StoreError::Corrupt(r.message),
    }
}
