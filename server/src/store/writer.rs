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
//!
//! One job cannot fail its batch: a job that fails with a storage error of
//! its own (or panics) is dropped and answered with that error, and the
//! rest of the batch is re-run without it in a fresh transaction
//! (`batch.rs`). A disk fault fails the whole batch with a retryable
//! `Unavailable` and sends the writer into recovery ([`super::health`]).

use super::health::{self, Health, HealthState};
use super::kv::{KvRead, WriteTx};
use super::tables::*;
use super::{DbSlot, StoreError};
use crate::fanout::{Effect, Hub};
use chat_protocol::ErrorBody;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use redb::Database;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

pub use super::ctx::WriteCtx;

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
    /// Storage failed; the job's changes were rolled back.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ErrorBody> for WriteError {
    fn from(e: ErrorBody) -> Self {
        WriteError::Rejected(e)
    }
}

/// What became of a job.
pub(super) enum Fate {
    /// Its batch committed.
    Committed,
    /// The job itself failed (a storage error of its own, or a panic); it
    /// was dropped from the batch and the rest re-run without it.
    Failed(StoreError),
    /// The job did not commit for a reason that may pass (a disk fault,
    /// shutdown, too many failing jobs in its batch): nothing of it was
    /// stored and a retry may succeed.
    Unavailable(&'static str),
}

/// A queued write: runs in a batch's transaction (more than once if
/// another job of its batch fails) and is answered once, with its fate.
pub(super) trait Job: Send {
    /// Runs the job in `ctx`, keeping its result. `Err` is a storage error
    /// that aborts the transaction.
    fn run(&mut self, ctx: &mut WriteCtx<'_>) -> Result<(), StoreError>;
    /// Answers the waiting request.
    fn finish(self: Box<Self>, fate: Fate);
}

struct Pending<T, F> {
    f: F,
    reply: oneshot::Sender<Result<T, WriteError>>,
    result: Option<Result<T, WriteError>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: for<'t> Fn(&mut WriteCtx<'t>) -> Result<T, WriteError> + Send + 'static,
{
    fn run(&mut self, ctx: &mut WriteCtx<'_>) -> Result<(), StoreError> {
        self.result = None;
        match (self.f)(ctx) {
            Err(WriteError::Store(e)) => Err(e),
            other => {
                self.result = Some(other);
                Ok(())
            }
        }
    }

    fn finish(self: Box<Self>, fate: Fate) {
        let answer = match (fate, self.result) {
            // A refusal changed nothing, whatever became of the batch.
            (_, Some(Err(WriteError::Rejected(e)))) => Err(WriteError::Rejected(e)),
            (Fate::Committed, Some(result)) => result,
            (Fate::Committed, None) => Err(WriteError::Store(StoreError::Redb(
                "a write job committed without a result".into(),
            ))),
            (Fate::Failed(e), _) => Err(WriteError::Store(e)),
            (Fate::Unavailable(why), _) => {
                Err(WriteError::Store(StoreError::Unavailable(why.into())))
            }
        };
        let _ = self.reply.send(answer);
    }
}

pub(super) type BoxedJob = Box<dyn Job>;

pub(super) enum Msg {
    Job(BoxedJob),
    Stop,
}

/// Counters of the writer, for `ServerStats`, metrics and benchmarks.
#[derive(Debug)]
pub struct WriterStats {
    /// Time to run and commit each committed batch, fsync included, in
    /// seconds (exported as `chatd_commit_seconds`).
    pub commit_seconds: Histogram,
    /// Jobs per committed batch (`chatd_writer_batch_jobs`).
    pub batch_jobs: Histogram,
    /// Jobs queued and not yet taken by the writer thread
    /// (`chatd_writer_queue_jobs`).
    pub queued: Gauge,
    /// Write transactions committed.
    pub commits: AtomicU64,
    /// Jobs carried by those commits.
    pub writes: AtomicU64,
    /// Jobs dropped from their batch because they failed on their own
    /// (the rest of the batch was re-run).
    pub failed_jobs: AtomicU64,
    /// Times the writer reopened the database after a disk fault.
    pub reopens: AtomicU64,
}

impl Default for WriterStats {
    fn default() -> WriterStats {
        WriterStats {
            commit_seconds: Histogram::new(crate::metrics::latency_buckets()),
            // 1, 2, 4, ... 2048 (MAX_BATCH).
            batch_jobs: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            queued: Gauge::default(),
            commits: AtomicU64::default(),
            writes: AtomicU64::default(),
            failed_jobs: AtomicU64::default(),
            reopens: AtomicU64::default(),
        }
    }
}

/// What a writer thread works with: the job queue it drains, the queue
/// of committed batches to the publisher thread, the counters and the
/// health it reports.
pub(super) struct Queues {
    pub(super) rx: mpsc::Receiver<Msg>,
    pub(super) out: mpsc::SyncSender<Outcome>,
    pub(super) stats: Arc<WriterStats>,
    pub(super) health: Arc<HealthState>,
}

/// Blocks for the next job, then takes every job queued meanwhile, up to
/// `max_batch`: the next batch, and whether [`Msg::Stop`] came with it.
/// `None` once every handle is gone.
pub(super) fn take_batch(
    rx: &mpsc::Receiver<Msg>,
    max_batch: usize,
    stats: &WriterStats,
) -> Option<(Vec<BoxedJob>, bool)> {
    let first = rx.recv().ok()?;
    let mut stopping = false;
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
    stats.queued.dec_by(jobs.len() as i64);
    Some((jobs, stopping))
}

/// A handle to the writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    stats: Arc<WriterStats>,
    health: Arc<HealthState>,
    closing: Arc<AtomicBool>,
    hub: Arc<std::sync::OnceLock<Arc<Hub>>>,
    follower: Arc<std::sync::OnceLock<Follower>>,
    tap: Arc<std::sync::OnceLock<Tap>>,
    done: Arc<tokio::sync::Mutex<Vec<std::thread::JoinHandle<()>>>>,
}

/// Told, on the publisher thread after each committed batch has been
/// answered and published, which rooms the batch changed (the search
/// indexer's feed). Must not block.
pub type Follower = Box<dyn Fn(&mut dyn Iterator<Item = u64>) + Send + Sync>;

/// Given, on the publisher thread, each committed batch's effects in
/// commit order *instead of* the hub: the cross-node bus
/// (`crate::bus::Bus::tap`), which publishes them and hands them to the
/// hub itself through its gap rule. Must not block.
pub type Tap = Box<dyn Fn(Vec<Effect>) + Send + Sync>;

/// One committed batch, on its way from the writer to the publisher.
pub(super) struct Outcome {
    pub(super) jobs: Vec<BoxedJob>,
    pub(super) effects: Vec<Effect>,
}

impl Writer {
    /// Starts the writer thread on the database in `slot`; a batch carries
    /// at most `max_batch` jobs (clamped to at least 1).
    pub(super) fn start(slot: Arc<DbSlot>, max_batch: usize) -> Result<Writer, StoreError> {
        Writer::start_with(move |queues| {
            let mut thread = super::batch::WriterThread::new(
                slot,
                queues.rx,
                queues.out,
                queues.stats,
                queues.health,
                max_batch.max(1),
            )?;
            Ok(move || thread.run())
        })
    }

    /// Starts the publisher thread and a writer thread whose body `make`
    /// builds from the [`Queues`] (the redb writer of `batch.rs`, or the
    /// PostgreSQL writer of `kv::pg::writer`): both engines share the
    /// job queue, the answering and the publishing in commit order.
    pub(super) fn start_with<R>(
        make: impl FnOnce(Queues) -> Result<R, StoreError>,
    ) -> Result<Writer, StoreError>
    where
        R: FnOnce() + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let (out_tx, out_rx) = mpsc::sync_channel(PUBLISH_QUEUE);
        let stats = Arc::new(WriterStats::default());
        let health = Arc::new(HealthState::default());
        let hub: Arc<std::sync::OnceLock<Arc<Hub>>> = Arc::default();
        let follower: Arc<std::sync::OnceLock<Follower>> = Arc::default();
        let tap: Arc<std::sync::OnceLock<Tap>> = Arc::default();
        let spawn_err = |e: std::io::Error| {
            StoreError::Redb(format!("cannot start the storage writer threads: {e}"))
        };
        let body = make(Queues {
            rx,
            out: out_tx,
            stats: stats.clone(),
            health: health.clone(),
        })?;
        let publisher = {
            let hub = hub.clone();
            let follower = follower.clone();
            let tap = tap.clone();
            std::thread::Builder::new()
                .name("chatd-publish".into())
                .spawn(move || publish(&out_rx, &hub, &follower, &tap))
                .map_err(spawn_err)?
        };
        let writer = std::thread::Builder::new()
            .name("chatd-writer".into())
            .spawn(body)
            .map_err(spawn_err)?;
        Ok(Writer {
            tx,
            stats,
            health,
            closing: Arc::default(),
            hub,
            follower,
            tap,
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

    /// Connects the tap given each committed batch's effects in place of
    /// the hub (once; later calls are ignored).
    pub fn attach_tap(&self, tap: Tap) {
        let _ = self.tap.set(tap);
    }

    /// The writer's counters.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Whether writes are accepted now.
    pub fn health(&self) -> Health {
        self.health.get()
    }

    /// Refuses every write submitted from now on with `Unavailable`
    /// ([`health::SHUTTING_DOWN`]); jobs already queued still run. The
    /// first step of a graceful shutdown.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// Queues `f` for the next batch and returns where its result will
    /// arrive. Queueing is synchronous, so jobs submitted one after another
    /// from one task run in that order.
    ///
    /// `f` may run more than once: when another job of its batch fails,
    /// the transaction is rolled back and the batch re-run without that
    /// job. Only the run that commits is answered, so `f` must not act
    /// outside the transaction (effects go to [`WriteCtx::effects`]).
    ///
    /// The answer is the job's own result once its batch committed;
    /// [`StoreError::Unavailable`] (retryable, nothing stored) while the
    /// store is degraded, during shutdown, or when the disk failed under
    /// the batch; or the job's own storage error if it failed by itself.
    pub fn submit<T, F>(&self, f: F) -> oneshot::Receiver<Result<T, WriteError>>
    where
        T: Send + 'static,
        F: for<'t> Fn(&mut WriteCtx<'t>) -> Result<T, WriteError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: BoxedJob = Box::new(Pending {
            f,
            reply,
            result: None,
        });
        if self.closing.load(Ordering::Acquire) {
            job.finish(Fate::Unavailable(health::SHUTTING_DOWN));
        } else if self.health.is_degraded() {
            job.finish(Fate::Unavailable(health::DEGRADED));
        } else {
            self.stats.queued.inc();
            if let Err(mpsc::SendError(Msg::Job(job))) = self.tx.send(Msg::Job(job)) {
                self.stats.queued.dec();
                job.finish(Fate::Unavailable(health::SHUTTING_DOWN));
            }
        }
        rx
    }

    /// Submits `f` and waits for its result.
    ///
    /// # Errors
    /// As [`Writer::submit`] says, or [`StoreError::WriterGone`] if the
    /// writer stopped without answering.
    pub async fn write<T, F>(&self, f: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: for<'t> Fn(&mut WriteCtx<'t>) -> Result<T, WriteError> + Send + 'static,
    {
        self.submit(f)
            .await
            .unwrap_or(Err(WriteError::Store(StoreError::WriterGone)))
    }

    /// Refuses new writes ([`Writer::close`]), lets the writer run the
    /// jobs already queued, and waits until they are committed, answered
    /// and published.
    pub async fn shutdown(&self) {
        self.close();
        let _ = self.tx.send(Msg::Stop);
        let handles = std::mem::take(&mut *self.done.lock().await);
        for handle in handles {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

pub(super) fn init_tables(db: &Database) -> Result<(), StoreError> {
    let txn = WriteTx::redb(db.begin_write()?);
    {
        let mut ctx = WriteCtx::open(&txn)?;
        check_schema_version(&mut ctx)?;
    }
    redb_tx(txn)?.commit()?;
    Ok(())
}

/// Writes [`SCHEMA_VERSION`] into [`META`] on a new database, or checks
/// the version an existing one holds (both engines).
///
/// # Errors
/// [`StoreError::Corrupt`] for a database of another schema version; a
/// storage failure.
pub(super) fn check_schema_version(ctx: &mut WriteCtx<'_>) -> Result<(), StoreError> {
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
    Ok(())
}

/// The redb transaction inside `txn`, which the redb writer began.
///
/// # Errors
/// [`StoreError::Redb`] if `txn` is a PostgreSQL transaction, which the
/// redb writer never begins.
pub(super) fn redb_tx(txn: WriteTx) -> Result<redb::WriteTransaction, StoreError> {
    txn.into_inner()
        .map_err(|_| StoreError::Redb("the redb writer was handed a PostgreSQL transaction".into()))
}

/// The publisher thread: answers each committed batch's jobs, then hands
/// its effects to the hub, batch by batch in commit order, then tells the
/// follower (the search indexer) which rooms changed. Ends when the writer
/// does.
fn publish(
    rx: &mpsc::Receiver<Outcome>,
    hub: &std::sync::OnceLock<Arc<Hub>>,
    follower: &std::sync::OnceLock<Follower>,
    tap: &std::sync::OnceLock<Tap>,
) {
    while let Ok(outcome) = rx.recv() {
        for job in outcome.jobs {
            job.finish(Fate::Committed);
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
        if let Some(tap) = tap.get() {
            tap(outcome.effects);
        } else if let Some(hub) = hub.get() {
            hub.apply(outcome.effects);
        }
        if let Some(follow) = follower.get() {
            follow(&mut rooms.into_iter());
        }
    }
}
