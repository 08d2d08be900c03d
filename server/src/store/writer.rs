//! The single writer: one thread owns every redb write transaction and
//! commits in groups.
//!
//! Jobs arrive on a channel. The thread blocks for the first job, then takes
//! every job that queued up meanwhile (up to [`MAX_BATCH`]), runs them all in
//! one write transaction and commits once with `Durability::Immediate`: one
//! fsync acknowledges the whole batch. While that fsync runs, new jobs queue
//! up for the next batch, so the batch size grows with load by itself (group
//! commit, as in PostgreSQL's WAL writer). Only after the commit returns are
//! the jobs answered and their events handed to the fan-out, so nothing is
//! acknowledged or delivered that a crash could lose.

use super::StoreError;
use super::tables::*;
use crate::fanout::{Effect, Hub};
use chat_protocol::ErrorBody;
use redb::{Database, ReadableTable, Table, WriteTransaction};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most jobs in one write transaction. Bounds the latency of the first job
/// in a batch when a burst queues thousands.
pub const MAX_BATCH: usize = 2048;

/// Why a write job failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The job refused the request; it changed nothing.
    #[error("{0}")]
    Rejected(ErrorBody),
    /// Storage failed; the whole batch is rolled back.
    #[error(transparent)]
    Store(#[from] StoreError),
}

macro_rules! redb_write_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for WriteError {
            fn from(e: $t) -> Self {
                WriteError::Store(StoreError::from(e))
            }
        }
    )*};
}
redb_write_errors!(redb::StorageError, redb::TableError);

impl From<ErrorBody> for WriteError {
    fn from(e: ErrorBody) -> Self {
        WriteError::Rejected(e)
    }
}

/// The tables of one write transaction, opened once per batch.
pub struct WriteCtx<'t> {
    /// [`META`].
    pub meta: Table<'t, &'static str, u64>,
    /// [`USERS`].
    pub users: Table<'t, u64, &'static [u8]>,
    /// [`USERNAMES`].
    pub usernames: Table<'t, &'static str, u64>,
    /// [`TOKENS`].
    pub tokens: Table<'t, u64, &'static [u8]>,
    /// [`ROOMS`].
    pub rooms: Table<'t, u64, &'static [u8]>,
    /// [`ROOM_NAMES`].
    pub room_names: Table<'t, &'static str, u64>,
    /// [`MEMBERS`].
    pub members: Table<'t, (u64, u64), &'static [u8]>,
    /// [`USER_ROOMS`].
    pub user_rooms: Table<'t, (u64, u64), ()>,
    /// [`EVENTS`].
    pub events: Table<'t, (u64, u64), &'static [u8]>,
    /// [`IDEMPOTENCY`].
    pub idempotency: Table<'t, (u64, &'static str), &'static [u8]>,
    /// [`VERSIONS`].
    pub versions: Table<'t, (u64, u64, u32), &'static [u8]>,
    /// [`BANS`].
    pub bans: Table<'t, (u64, u64), &'static [u8]>,
    /// [`BLOCKS`].
    pub blocks: Table<'t, (u64, u64), ()>,
    /// [`CONTACTS`].
    pub contacts: Table<'t, (u64, u64), u64>,
    /// [`CONTACT_OF`].
    pub contact_of: Table<'t, (u64, u64), ()>,
    /// [`NOTIFICATIONS`].
    pub notifications: Table<'t, (u64, u64), &'static [u8]>,
    /// [`MODLOG`].
    pub modlog: Table<'t, u64, &'static [u8]>,
    /// What to publish after the commit. Jobs push here only once they can
    /// no longer fail.
    pub effects: Vec<Effect>,
}

impl<'t> WriteCtx<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<WriteCtx<'t>, StoreError> {
        Ok(WriteCtx {
            meta: txn.open_table(META)?,
            users: txn.open_table(USERS)?,
            usernames: txn.open_table(USERNAMES)?,
            tokens: txn.open_table(TOKENS)?,
            rooms: txn.open_table(ROOMS)?,
            room_names: txn.open_table(ROOM_NAMES)?,
            members: txn.open_table(MEMBERS)?,
            user_rooms: txn.open_table(USER_ROOMS)?,
            events: txn.open_table(EVENTS)?,
            idempotency: txn.open_table(IDEMPOTENCY)?,
            versions: txn.open_table(VERSIONS)?,
            bans: txn.open_table(BANS)?,
            blocks: txn.open_table(BLOCKS)?,
            contacts: txn.open_table(CONTACTS)?,
            contact_of: txn.open_table(CONTACT_OF)?,
            notifications: txn.open_table(NOTIFICATIONS)?,
            modlog: txn.open_table(MODLOG)?,
            effects: Vec::new(),
        })
    }

    /// Takes the next value of the counter `name` (starting at 1).
    ///
    /// # Errors
    /// A redb error.
    pub fn next_id(&mut self, name: &str) -> Result<u64, StoreError> {
        let next = self.meta.get(name)?.map(|v| v.value()).unwrap_or(1);
        self.meta.insert(name, next + 1)?;
        Ok(next)
    }

    /// Adds `delta` to the counter `name`.
    ///
    /// # Errors
    /// A redb error.
    pub fn bump(&mut self, name: &str, delta: u64) -> Result<(), StoreError> {
        let cur = self.meta.get(name)?.map(|v| v.value()).unwrap_or(0);
        self.meta.insert(name, cur + delta)?;
        Ok(())
    }
}

/// Called with `true` once the batch committed, `false` if it rolled back.
type Completion = Box<dyn FnOnce(bool) + Send>;
/// A job: runs inside the batch's transaction and returns its completion.
type Job = Box<dyn for<'t> FnOnce(&mut WriteCtx<'t>) -> Result<Completion, StoreError> + Send>;

enum Msg {
    Job(Job),
    Stop,
}

/// Counters of the writer, for `ServerStats` and benchmarks.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Write transactions committed.
    pub commits: AtomicU64,
    /// Jobs carried by those commits.
    pub writes: AtomicU64,
}

/// A handle to the writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    stats: Arc<WriterStats>,
    hub: Arc<std::sync::OnceLock<Arc<Hub>>>,
    done: Arc<tokio::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl Writer {
    /// Starts the writer thread; a batch carries at most `max_batch` jobs
    /// (clamped to at least 1).
    pub(super) fn start(db: Arc<Database>, max_batch: usize) -> Result<Writer, StoreError> {
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(WriterStats::default());
        let hub: Arc<std::sync::OnceLock<Arc<Hub>>> = Arc::default();
        let thread = {
            let stats = stats.clone();
            let hub = hub.clone();
            std::thread::Builder::new()
                .name("chatd-writer".into())
                .spawn(move || run(&db, &rx, &stats, &hub, max_batch))
                .map_err(|e| StoreError::Redb(format!("cannot start writer thread: {e}")))?
        };
        Ok(Writer {
            tx,
            stats,
            hub,
            done: Arc::new(tokio::sync::Mutex::new(Some(thread))),
        })
    }

    /// Connects the fan-out hub that committed effects are published to.
    pub fn attach_hub(&self, hub: Arc<Hub>) {
        let _ = self.hub.set(hub);
    }

    /// The writer's counters.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Queues `f` for the next batch and returns where its result will
    /// arrive. Queueing is synchronous, so jobs submitted one after another
    /// from one task run in that order.
    pub fn submit<T, F>(&self, f: F) -> oneshot::Receiver<Result<T, WriteError>>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&mut WriteCtx<'t>) -> Result<T, WriteError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move |ctx| match f(ctx) {
            Ok(value) => Ok(Box::new(move |committed| {
                let _ = reply.send(if committed {
                    Ok(value)
                } else {
                    Err(WriteError::Store(StoreError::Redb(
                        "the write transaction was rolled back".into(),
                    )))
                });
            }) as Completion),
            Err(WriteError::Rejected(e)) => Ok(Box::new(move |_| {
                let _ = reply.send(Err(WriteError::Rejected(e)));
            }) as Completion),
            Err(WriteError::Store(e)) => {
                let _ = reply.send(Err(WriteError::Store(StoreError::Redb(format!(
                    "batch aborted: {e}"
                )))));
                Err(e)
            }
        });
        if self.tx.send(Msg::Job(job)).is_err() {
            // The receiver we return reports the closed channel as an error.
        }
        rx
    }

    /// Submits `f` and waits for its result.
    ///
    /// # Errors
    /// The job's own error, or [`StoreError::WriterGone`] after shutdown.
    pub async fn write<T, F>(&self, f: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&mut WriteCtx<'t>) -> Result<T, WriteError> + Send + 'static,
    {
        self.submit(f)
            .await
            .unwrap_or(Err(WriteError::Store(StoreError::WriterGone)))
    }

    /// Asks the thread to stop after the jobs already queued, and waits.
    pub async fn shutdown(&self) {
        let _ = self.tx.send(Msg::Stop);
        let handle = self.done.lock().await.take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

pub(super) fn init_tables(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        let mut ctx = WriteCtx::open(&txn)?;
        let version = ctx.meta.get(meta::SCHEMA_VERSION)?.map(|v| v.value());
        match version {
            None => {
                ctx.meta.insert(meta::SCHEMA_VERSION, SCHEMA_VERSION)?;
            }
            Some(v) if v == SCHEMA_VERSION => {}
            Some(v) => {
                return Err(StoreError::Corrupt(format!(
                    "database has schema version {v}, this chatd writes {SCHEMA_VERSION}; \
                     use a chatd release that matches the data directory"
                )));
            }
        }
    }
    txn.commit()?;
    Ok(())
}

fn run(
    db: &Database,
    rx: &mpsc::Receiver<Msg>,
    stats: &WriterStats,
    hub: &std::sync::OnceLock<Arc<Hub>>,
    max_batch: usize,
) {
    let mut stopping = false;
    while !stopping {
        let Ok(first) = rx.recv() else { return };
        let mut jobs = Vec::with_capacity(64);
        match first {
            Msg::Job(j) => jobs.push(j),
            Msg::Stop => stopping = true,
        }
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(Msg::Job(j)) => jobs.push(j),
                Ok(Msg::Stop) => stopping = true,
                Err(_) => break,
            }
        }
        if jobs.is_empty() {
            continue;
        }
        let n = jobs.len() as u64;
        let (completions, effects, committed) = run_batch(db, jobs);
        if committed {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats.writes.fetch_add(n, Ordering::Relaxed);
        }
        for done in completions {
            done(committed);
        }
        if committed && let Some(hub) = hub.get() {
            hub.apply(effects);
        }
    }
}

/// Runs a batch in one transaction. Returns the completions, the effects and
/// whether the commit succeeded. A job that fails with a storage error (or
/// panics) rolls back the whole batch; the others are told and may retry.
fn run_batch(db: &Database, jobs: Vec<Job>) -> (Vec<Completion>, Vec<Effect>, bool) {
    let mut completions: Vec<Completion> = Vec::with_capacity(jobs.len());
    let txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "cannot begin write transaction");
            return (fail_all(jobs), Vec::new(), false);
        }
    };
    let mut ok = true;
    let mut effects = Vec::new();
    {
        let mut ctx = match WriteCtx::open(&txn) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot open tables");
                return (fail_all(jobs), Vec::new(), false);
            }
        };
        let mut jobs = jobs.into_iter();
        for job in jobs.by_ref() {
            match std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut ctx))) {
                Ok(Ok(done)) => completions.push(done),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "write job failed; rolling back the batch");
                    ok = false;
                    break;
                }
                Err(_) => {
                    tracing::error!("write job panicked; rolling back the batch");
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            completions.extend(fail_all(jobs.collect()));
        }
        effects.append(&mut ctx.effects);
    }
    if !ok {
        let _ = txn.abort();
        return (completions, Vec::new(), false);
    }
    match txn.commit() {
        Ok(()) => (completions, effects, true),
        Err(e) => {
            tracing::error!(error = %e, "commit failed");
            (completions, Vec::new(), false)
        }
    }
}

fn fail_all(jobs: Vec<Job>) -> Vec<Completion> {
    // A job never run still owns its reply channel; dropping it tells the
    // waiting request that the writer could not serve it.
    drop(jobs);
    Vec::new()
}
