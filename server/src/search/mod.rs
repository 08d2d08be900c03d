//! The full-text search index: a tantivy index in `data_dir/search`, kept
//! beside the redb store and fed from it, never on the path of an ack.
//!
//! The store is the truth; the index is a follower. After each committed
//! batch the publisher thread (after acks and fan-out) marks the batch's
//! rooms dirty ([`SearchIndex::touched`], a set insert under a mutex); the
//! `chatd-index` thread reads each dirty room's events past the position
//! it holds from a redb read transaction and applies them: a message adds
//! a document, an edit replaces it, a deletion removes it, a deleted room
//! loses every document. Each tantivy commit carries, as its payload, the
//! last sequence number applied per room, atomically with the documents,
//! so after a crash the index reopens at its last commit and catches up
//! from redb at start (test: `e2e::search::a_killed_indexer_catches_up_on_restart`).
//!
//! Documents hold only what queries filter or sort on; the text shown in
//! hits is read from redb at query time, which also re-checks deletion.

pub mod analyzer;
mod indexer;
pub mod query;

use crate::store::Store;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{Index, IndexReader, ReloadPolicy};

/// Name of the index directory inside the data directory.
pub const INDEX_DIR: &str = "search";

/// Longest time a change waits in the indexer before it is committed, in
/// ms, unless a search is waiting for it (then it commits at once). A
/// commit writes and syncs new segment files, so committing per message
/// would compete with the store's own fsyncs on a busy server.
pub const COMMIT_EVERY_MS: u64 = 500;

/// Documents after which the indexer commits even mid-catch-up, so a
/// crash during a long rebuild loses at most this much work.
pub const COMMIT_EVERY_DOCS: usize = 100_000;

/// Memory tantivy's writer may buffer before it flushes a segment, in bytes.
pub const WRITER_MEMORY: usize = 48 << 20;

/// Indexing threads: one, so indexing never takes more than one core from
/// serving (the store's writer and the sessions need the others).
pub const WRITER_THREADS: usize = 1;

/// Why the search index failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// tantivy failed (I/O, a damaged index).
    #[error(
        "search index error: {0}; if it persists, stop chatd, delete the data directory's \
         search folder and start again (the index is rebuilt from the store)"
    )]
    Index(#[from] tantivy::TantivyError),
    /// The store failed while feeding or answering.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The index thread could not start.
    #[error("cannot start the search indexer thread: {0}")]
    Thread(std::io::Error),
}

/// The index's fields.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// `"{room}:{seq}"`, raw: the term an edit or deletion removes.
    pub key: Field,
    /// Room id (indexed for filters, fast for sorting and hits).
    pub room: Field,
    /// Sequence number in the room (fast).
    pub seq: Field,
    /// Sender's user id (indexed, fast).
    pub sender: Field,
    /// Sender's organization then, NFKC and lower case (raw term).
    pub org: Field,
    /// Time sent, ms since the epoch (indexed, fast).
    pub ts: Field,
    /// The message text, by [`analyzer::ChatTokenizer`], with positions.
    pub text: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text_options = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(analyzer::TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        key: b.add_text_field("key", STRING),
        room: b.add_u64_field("room", INDEXED | FAST),
        seq: b.add_u64_field("seq", FAST),
        sender: b.add_u64_field("sender", INDEXED | FAST),
        org: b.add_text_field("org", STRING),
        ts: b.add_u64_field("ts", INDEXED | FAST),
        text: b.add_text_field("text", text_options),
    };
    (b.build(), fields)
}

/// The term identifying a message's document.
pub fn doc_key(room: u64, seq: u64) -> String {
    format!("{room}:{seq}")
}

/// The form an organization name is indexed and queried in.
pub fn org_term(org: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    org.trim().nfkc().collect::<String>().to_lowercase()
}

/// What the indexer thread has to do, shared with the threads that wake it.
#[derive(Default)]
struct Work {
    rooms: BTreeSet<u64>,
    rebuild: bool,
    stop: bool,
    /// A search waits for changes not yet committed.
    commit_now: bool,
}

/// State shared between the index thread, the publisher and queries.
struct Inner {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    dir: PathBuf,
    work: Mutex<Work>,
    wake: Condvar,
    /// Per room, the last seq that searches can see (committed and
    /// reloaded); bumped after each commit.
    visible: Mutex<HashMap<u64, u64>>,
    /// Ticks after each commit, so searches can wait for a position.
    committed: tokio::sync::watch::Sender<u64>,
    /// Events read in the rebuild in progress, and in all.
    rebuild_done: AtomicU64,
    rebuild_total: AtomicU64,
    rebuilding: AtomicBool,
}

/// A handle to the search index and its indexer thread. Cheap to clone.
#[derive(Clone)]
pub struct SearchIndex {
    inner: Arc<Inner>,
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl SearchIndex {
    /// Opens (or creates) the index in `data_dir/search` and starts the
    /// `chatd-index` thread, which first catches up with every room of
    /// `store`.
    ///
    /// # Errors
    /// [`SearchError`] when the index cannot be opened (a damaged index
    /// names the folder to delete) or the thread cannot start.
    pub fn open(data_dir: &Path, store: Store) -> Result<SearchIndex, SearchError> {
        let dir = data_dir.join(INDEX_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| {
            SearchError::Index(tantivy::TantivyError::SystemError(format!(
                "cannot create {}: {e}",
                dir.display()
            )))
        })?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(&dir)
            .map_err(|e| SearchError::Index(tantivy::TantivyError::SystemError(e.to_string())))?;
        let index = Index::open_or_create(directory, schema)?;
        index
            .tokenizers()
            .register(analyzer::TOKENIZER, analyzer::ChatTokenizer);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let positions = indexer::load_positions(&index)?;
        let (committed, _) = tokio::sync::watch::channel(0);
        let inner = Arc::new(Inner {
            index,
            reader,
            fields,
            dir,
            work: Mutex::new(Work::default()),
            wake: Condvar::new(),
            visible: Mutex::new(positions.clone()),
            committed,
            rebuild_done: AtomicU64::new(0),
            rebuild_total: AtomicU64::new(0),
            rebuilding: AtomicBool::new(false),
        });
        let writer = inner
            .index
            .writer_with_num_threads(WRITER_THREADS, WRITER_MEMORY)?;
        let thread = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("chatd-index".into())
                .spawn(move || indexer::run(&inner, writer, positions, &store))
                .map_err(SearchError::Thread)?
        };
        let handle = SearchIndex {
            inner,
            thread: Arc::new(Mutex::new(Some(thread))),
        };
        handle.catch_up_all();
        Ok(handle)
    }

    /// Marks `rooms` as changed: the indexer reads their new events. Called
    /// by the publisher after each committed batch; never blocks on the
    /// indexer (one set insert per room under a short lock).
    pub fn touched(&self, rooms: impl IntoIterator<Item = u64>) {
        let mut work = self.inner.work.lock().unwrap_or_else(|p| p.into_inner());
        let before = work.rooms.len();
        work.rooms.extend(rooms);
        if work.rooms.len() != before {
            self.inner.wake.notify_one();
        }
    }

    /// Asks the indexer to check every room (at start).
    fn catch_up_all(&self) {
        let mut work = self.inner.work.lock().unwrap_or_else(|p| p.into_inner());
        work.rooms.insert(indexer::ALL_ROOMS);
        self.inner.wake.notify_one();
    }

    /// Starts a rebuild from the store: the index is emptied and refilled
    /// room by room; searches meanwhile see what is rebuilt so far.
    pub fn rebuild(&self) {
        let mut work = self.inner.work.lock().unwrap_or_else(|p| p.into_inner());
        work.rebuild = true;
        self.inner.rebuilding.store(true, Ordering::SeqCst);
        self.inner.rebuild_done.store(0, Ordering::SeqCst);
        self.inner.wake.notify_one();
    }

    /// The seq of `room` searches can see.
    pub fn visible(&self, room: u64) -> u64 {
        self.inner
            .visible
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&room)
            .copied()
            .unwrap_or(0)
    }

    /// Waits until searches see every `(room, head)` given, or `timeout`
    /// passes. Returns whether they do.
    pub async fn wait_for(&self, heads: &[(u64, u64)], timeout: Duration) -> bool {
        let mut rx = self.inner.committed.subscribe();
        let caught_up = |s: &SearchIndex| heads.iter().all(|&(r, h)| s.visible(r) >= h);
        if !caught_up(self) {
            let mut work = self.inner.work.lock().unwrap_or_else(|p| p.into_inner());
            work.commit_now = true;
            self.inner.wake.notify_one();
        }
        let wait = async {
            loop {
                if caught_up(self) {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(timeout, wait).await;
        caught_up(self)
    }

    /// Events searches cannot see yet: the sum over `heads` (every room's
    /// head as the store has it now) of head minus the position searches
    /// see.
    pub fn events_behind(&self, heads: &[(u64, u64)]) -> u64 {
        heads
            .iter()
            .map(|&(r, h)| h.saturating_sub(self.visible(r)))
            .sum()
    }

    /// The index's state for `SearchStatus`; `heads` are every room's head
    /// as the store has it now.
    pub fn status(&self, heads: &[(u64, u64)]) -> chat_protocol::SearchIndexStatus {
        let documents = self.inner.reader.searcher().num_docs();
        let behind = self.events_behind(heads);
        let rebuilding = self.inner.rebuilding.load(Ordering::SeqCst).then(|| {
            (
                self.inner.rebuild_done.load(Ordering::SeqCst),
                self.inner.rebuild_total.load(Ordering::SeqCst),
            )
        });
        chat_protocol::SearchIndexStatus {
            enabled: true,
            documents,
            events_behind: behind,
            rooms: heads.len() as u64,
            size_bytes: dir_size(&self.inner.dir),
            rebuilding,
        }
    }

    /// Runs `f` with a searcher over the last commit and the fields.
    pub fn with_searcher<T>(&self, f: impl FnOnce(&tantivy::Searcher, &Fields) -> T) -> T {
        f(&self.inner.reader.searcher(), &self.inner.fields)
    }

    /// Asks the indexer to commit what it has and stop, and waits for it.
    pub async fn shutdown(&self) {
        {
            let mut work = self.inner.work.lock().unwrap_or_else(|p| p.into_inner());
            work.stop = true;
            self.inner.wake.notify_one();
        }
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

/// Bytes of the files under `dir` (not recursive: tantivy keeps one level).
pub fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
