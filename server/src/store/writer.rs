//! The single writer: one thread owns every redb write transaction and
//! commits in groups; a second thread publishes what it committed.
//!
//! Jobs arrive on a channel. The writer thread blocks for the first job,
//! then takes every job that queued up meanwhile (up to [`MAX_BATCH`]),
//! runs them all in one write transaction and commits once with
//! `Durability::Immediate`: one fsync acknowledges the whole batch. While
//! that fsync runs, new jobs queue up for the next batch, so the batch size
//! grows with load by itself (group commit, as in PostgreSQL's WAL writer).
//!
//! Only after the commit returns are the jobs answered and their events
//! handed to the fan-out, so nothing is acknowledged or delivered that a
//! crash could lose. That answering and publishing (waking the senders'
//! tasks, encoding each event's frame once, queueing it to every
//! subscriber) runs on the `chatd-publish` thread, in commit order, while
//! the writer thread already runs the next batch: the writer thread only
//! executes jobs and commits, the part no other thread can do.
//! [`PUBLISH_QUEUE`] committed batches may wait for the publisher before
//! the writer waits for it in turn.

use super::StoreError;
pub use super::ctx::WriteCtx;
use super::tables::*;
use crate::fanout::{Effect, Hub};
use chat_protocol::ErrorBody;
use redb::{Database, ReadableTable};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most jobs in one write transaction. Bounds the latency of the first job
/// in a batch when a burst queues thousands.
pub const MAX_BATCH: usize = 2048;

/// Committed batches that may wait for the publisher thread before the
/// writer thread blocks on it: enough to overlap one batch's publishing
/// with the next batch's commit, small enough that a slow publisher slows
/// the writer instead of growing memory.
pub const PUBLISH_QUEUE: usize = 4;

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
    follower: Arc<std::sync::OnceLock<Follower>>,
    done: Arc<tokio::sync::Mutex<Vec<std::thread::JoinHandle<()>>>>,
}

/// Told, on the publisher thread after each committed batch has been
/// answered and published, which rooms the batch changed (the search
/// indexer's feed). Must not block.
pub type Follower = Box<dyn Fn(&mut dyn Iterator<Item = u64>) + Send + Sync>;

/// One batch's outcome, on its way from the writer to the publisher.
struct Outcome {
    completions: Vec<Completion>,
    effects: Vec<Effect>,
    committed: bool,
}

impl Writer {
    /// Starts the writer thread; a batch carries at most `max_batch` jobs
    /// (clamped to at least 1).
    pub(super) fn start(db: Arc<Database>, max_batch: usize) -> Result<Writer, StoreError> {
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel();
        let (out_tx, out_rx) = mpsc::sync_channel(PUBLISH_QUEUE);
        let stats = Arc::new(WriterStats::default());
        let hub: Arc<std::sync::OnceLock<Arc<Hub>>> = Arc::default();
        let follower: Arc<std::sync::OnceLock<Follower>> = Arc::default();
        let spawn_err = |e: std::io::Error| {
            StoreError::Redb(format!("cannot start the storage writer threads: {e}"))
        };
        let publisher = {
            let hub = hub.clone();
            let follower = follower.clone();
            std::thread::Builder::new()
                .name("chatd-publish".into())
                .spawn(move || publish(&out_rx, &hub, &follower))
                .map_err(spawn_err)?
        };
        let writer = {
            let stats = stats.clone();
            std::thread::Builder::new()
                .name("chatd-writer".into())
                .spawn(move || run(&db, &rx, &out_tx, &stats, max_batch))
                .map_err(spawn_err)?
        };
        Ok(Writer {
            tx,
            stats,
            hub,
            follower,
            done: Arc::new(tokio::sync::Mutex::new(vec![writer, publisher])),
        })
    }

    /// Connects the fan-out hub that committed effects are published to.
    pub fn attach_hub(&self, hub: Arc<Hub>) {
        let _ = self.hub.set(hub);
    }

    /// Connects the follower told of each committed batch's rooms (once;
    /// later calls are ignored).
    pub fn attach_follower(&self, follower: Follower) {
        let _ = self.follower.set(follower);
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

    /// Asks the writer to stop after the jobs already queued, and waits
    /// until they are committed, answered and published.
    pub async fn shutdown(&self) {
        let _ = self.tx.send(Msg::Stop);
        let handles = std::mem::take(&mut *self.done.lock().await);
        for handle in handles {
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
    out: &mpsc::SyncSender<Outcome>,
    stats: &WriterStats,
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
        let outcome = run_batch(db, jobs);
        if outcome.committed {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats.writes.fetch_add(n, Ordering::Relaxed);
        }
        if out.send(outcome).is_err() {
            tracing::error!("the publisher thread is gone; stopping the writer");
            return;
        }
    }
}

/// The publisher thread: answers each batch's jobs, then hands its effects
/// to the hub, batch by batch in commit order. Ends when the writer does.
fn publish(
    rx: &mpsc::Receiver<Outcome>,
    hub: &std::sync::OnceLock<Arc<Hub>>,
    follower: &std::sync::OnceLock<Follower>,
) {
    while let Ok(outcome) = rx.recv() {
        for done in outcome.completions {
            done(outcome.committed);
        }
        if !outcome.committed {
            continue;
        }
        // Taken before the hub consumes the effects; told after it, so
        // acks and fan-out never wait for the follower.
        let rooms: Vec<u64> = match follower.get() {
            Some(_) => outcome
                .effects
                .iter()
                .filter_map(|e| match e {
                    Effect::Room { room, .. } | Effect::Revoke { room, .. } => Some(*room),
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        };
        if let Some(hub) = hub.get() {
            hub.apply(outcome.effects);
        }
        if let Some(follow) = follower.get() {
            follow(&mut rooms.into_iter());
        }
    }
}

/// Runs a batch in one transaction and commits it. A job that fails with
/// a storage error (or panics) rolls back the whole batch; the others are
/// told and may retry.
fn run_batch(db: &Database, jobs: Vec<Job>) -> Outcome {
    let failed = |completions| Outcome {
        completions,
        effects: Vec::new(),
        committed: false,
    };
    let mut completions: Vec<Completion> = Vec::with_capacity(jobs.len());
    let txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "cannot begin write transaction");
            return failed(fail_all(jobs));
        }
    };
    let mut ok = true;
    let effects;
    {
        let mut ctx = match WriteCtx::open(&txn) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot open tables");
                return failed(fail_all(jobs));
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
        if ok && let Err(e) = ctx.flush() {
            tracing::error!(error = %e, "cannot save the batch's rooms; rolling back the batch");
            ok = false;
        }
        if !ok {
            completions.extend(fail_all(jobs.collect()));
        }
        effects = std::mem::take(&mut ctx.effects);
    }
    if !ok {
        let _ = txn.abort();
        return failed(completions);
    }
    match txn.commit() {
        Ok(()) => Outcome {
            completions,
            effects,
            committed: true,
        },
        Err(e) => {
            tracing::error!(error = %e, "commit failed");
            failed(completions)
        }
    }
}

fn fail_all(jobs: Vec<Job>) -> Vec<Completion> {
    // A job never run still owns its reply channel; dropping it tells the
    // waiting request that the writer could not serve it.
    drop(jobs);
    Vec::new()
}
