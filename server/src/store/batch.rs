//! The writer thread: batches, failure isolation, and recovery from disk
//! faults.
//!
//! A batch runs its jobs in one write transaction. What can go wrong, and
//! what each job is answered:
//!
//! - A job fails with a storage error of its own (a record that does not
//!   decode) or panics: the transaction is rolled back, that job alone is
//!   answered with its error, and the rest of the batch runs again in a new
//!   transaction (at most [`MAX_RERUNS`] times per batch; jobs left after
//!   that are answered `Unavailable`). Test:
//!   `e2e::faults::one_failing_job_does_not_fail_its_batch`.
//! - The disk fails (an I/O error from a job, the commit or the start of
//!   the transaction): every job of the batch is answered `Unavailable`
//!   (nothing was stored; the client retries with the same idempotency
//!   key), the store turns degraded, and the thread reopens the database
//!   with backoff, refusing writes meanwhile ([`super::health`]).

use super::health::{self, HealthState, RETRY_FIRST_MS, RETRY_MAX_MS};
use super::kv::WriteTx;
use super::writer::{BoxedJob, Fate, Msg, Outcome, WriterStats};
use super::{DbSlot, StoreError, WriteCtx};
use redb::Database;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Most times one batch is re-run after jobs of it failed. Bounds the
/// work a batch of failing jobs can cost (each re-run repeats the batch).
pub const MAX_RERUNS: usize = 8;

/// What a job left over after [`MAX_RERUNS`] is told.
pub(super) const TOO_MANY_FAILURES: &str = "the server could not store this request because other requests \
     stored with it kept failing; nothing of it was stored; retry";

/// Records a committed batch in `stats` (commit time since `started`,
/// jobs per batch) and hands it to the publisher thread, which answers
/// the jobs and publishes `effects`. Shared by the redb and the
/// PostgreSQL writer threads.
///
/// Returns false if the publisher thread is gone (the writer stops).
pub(crate) fn hand_over(
    stats: &WriterStats,
    out: &mpsc::SyncSender<Outcome>,
    jobs: Vec<BoxedJob>,
    effects: Vec<crate::fanout::Effect>,
    started: Instant,
) -> bool {
    stats
        .commit_seconds
        .observe(started.elapsed().as_secs_f64());
    stats.batch_jobs.observe(jobs.len() as f64);
    stats.commits.fetch_add(1, Ordering::Relaxed);
    stats.writes.fetch_add(jobs.len() as u64, Ordering::Relaxed);
    if out.send(Outcome { jobs, effects }).is_err() {
        tracing::error!("the publisher thread is gone; stopping the writer");
        return false;
    }
    true
}

/// Answers job `index` of a batch with the failure that was its own and
/// removes it from `jobs`, counting one more re-run in `reruns`. Shared by
/// both writer threads.
///
/// Returns whether the rest of the batch should run again: false when no
/// job is left, or when `reruns` passed [`MAX_RERUNS`] (the jobs left are
/// then answered `Unavailable`).
pub(crate) fn drop_failed_job(
    stats: &WriterStats,
    jobs: &mut Vec<BoxedJob>,
    index: usize,
    error: StoreError,
    reruns: &mut usize,
) -> bool {
    tracing::error!(%error, "a write job failed; dropping it and re-running the rest of its batch");
    stats.failed_jobs.fetch_add(1, Ordering::Relaxed);
    jobs.remove(index).finish(Fate::Failed(error));
    *reruns += 1;
    if jobs.is_empty() {
        return false;
    }
    if *reruns > MAX_RERUNS {
        for job in jobs.drain(..) {
            job.finish(Fate::Unavailable(TOO_MANY_FAILURES));
        }
        return false;
    }
    true
}

/// Free space, in bytes, the disk must have (proved by writing it) before
/// a degraded store accepts writes again: room for a few full batches of
/// messages, so a store that recovers does not fail again at once.
pub const PROBE_BYTES: usize = 4 * 1024 * 1024;

/// How long a reopen waits for reads still using the failed database.
const READERS_GRACE: Duration = Duration::from_secs(1);

/// How one attempt at a batch ended.
enum Attempt {
    Committed(Vec<crate::fanout::Effect>),
    /// Job `index` failed by itself.
    Poisoned(usize, StoreError),
    /// The disk failed.
    Fault(String),
}

/// The state the writer thread owns.
pub(super) struct WriterThread {
    slot: Arc<DbSlot>,
    /// The database, or `None` while degraded.
    db: Option<Arc<Database>>,
    /// A failed database that readers still hold; dropped before reopening.
    stale: Option<Arc<Database>>,
    rx: mpsc::Receiver<Msg>,
    out: mpsc::SyncSender<Outcome>,
    stats: Arc<WriterStats>,
    health: Arc<HealthState>,
    max_batch: usize,
}

impl WriterThread {
    pub(super) fn new(
        slot: Arc<DbSlot>,
        rx: mpsc::Receiver<Msg>,
        out: mpsc::SyncSender<Outcome>,
        stats: Arc<WriterStats>,
        health: Arc<HealthState>,
        max_batch: usize,
    ) -> Result<WriterThread, StoreError> {
        Ok(WriterThread {
            db: Some(slot.get()?),
            slot,
            stale: None,
            rx,
            out,
            stats,
            health,
            max_batch,
        })
    }

    /// Runs until [`Msg::Stop`] (after the jobs queued before it) or until
    /// every handle is gone.
    pub(super) fn run(&mut self) {
        let mut stopping = false;
        let mut backoff = RETRY_FIRST_MS;
        let mut next_attempt = Instant::now();
        while !stopping {
            if self.db.is_none() {
                // Degraded: refuse writes, try to reopen when it is time.
                let wait = next_attempt.saturating_duration_since(Instant::now());
                match self.rx.recv_timeout(wait) {
                    Ok(Msg::Job(job)) => {
                        self.stats.queued.dec();
                        job.finish(Fate::Unavailable(health::DEGRADED));
                    }
                    Ok(Msg::Stop) => stopping = true,
                    Err(RecvTimeoutError::Disconnected) => return,
                    Err(RecvTimeoutError::Timeout) => {
                        backoff = if self.recover() {
                            RETRY_FIRST_MS
                        } else {
                            (backoff * 2).min(RETRY_MAX_MS)
                        };
                        next_attempt = Instant::now() + Duration::from_millis(backoff);
                    }
                }
                continue;
            }
            let Some((jobs, stop)) =
                super::writer::take_batch(&self.rx, self.max_batch, &self.stats)
            else {
                return;
            };
            stopping |= stop;
            if !jobs.is_empty() && !self.run_batch(jobs) {
                return;
            }
            if self.db.is_none() {
                next_attempt = Instant::now();
                backoff = RETRY_FIRST_MS;
            }
        }
    }

    /// Runs `jobs` until they commit, dropping jobs that fail by
    /// themselves. Returns false if the publisher thread is gone.
    fn run_batch(&mut self, mut jobs: Vec<BoxedJob>) -> bool {
        let Some(db) = self.db.clone() else {
            for job in jobs {
                job.finish(Fate::Unavailable(health::DEGRADED));
            }
            return true;
        };
        let mut reruns = 0;
        loop {
            let started = Instant::now();
            match attempt(&db, &mut jobs) {
                Attempt::Committed(effects) => {
                    return hand_over(&self.stats, &self.out, jobs, effects, started);
                }
                Attempt::Poisoned(index, error) => {
                    if !drop_failed_job(&self.stats, &mut jobs, index, error, &mut reruns) {
                        return true;
                    }
                }
                Attempt::Fault(reason) => {
                    for job in jobs {
                        job.finish(Fate::Unavailable(health::DEGRADED));
                    }
                    self.degrade(reason);
                    return true;
                }
            }
        }
    }

    /// Marks the store degraded and takes the database out of service.
    fn degrade(&mut self, reason: String) {
        self.health.degrade(reason);
        let _ = self.slot.take();
        self.stale = self.db.take();
    }

    /// One step of recovery: drop the failed database once no read holds
    /// it, reopen the file (reads are served again from then on), and
    /// once the disk has room ([`probe`]) accept writes again.
    fn recover(&mut self) -> bool {
        if let Some(old) = self.stale.take() {
            let deadline = Instant::now() + READERS_GRACE;
            while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if Arc::strong_count(&old) > 1 {
                tracing::warn!("reads still hold the failed database; reopening later");
                self.stale = Some(old);
                return false;
            }
            drop(old);
        }
        let db = match self.slot.get() {
            Ok(db) => db,
            Err(_) => {
                match super::open::open_database(&self.slot.path, self.slot.disk_fault.as_ref()) {
                    Ok(db) => {
                        let db = Arc::new(db);
                        self.slot.put(db.clone());
                        self.stats.reopens.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(
                            "database reopened; serving reads, writes wait for disk room"
                        );
                        db
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot reopen the database yet");
                        return false;
                    }
                }
            }
        };
        if let Err(error) = probe(&self.slot.path, self.slot.disk_fault.as_ref()) {
            tracing::debug!(%error, "the disk has no room for writes yet");
            return false;
        }
        self.db = Some(db);
        self.health.heal();
        true
    }
}

/// Writes [`PROBE_BYTES`] to a scratch file next to the database, syncs
/// and removes it: the disk takes writes again and has room for a few
/// batches. A scratch file, not the database, because a failed redb write
/// would latch the database again and stop its reads too.
///
/// # Errors
/// The I/O error (no space, a failing device).
fn probe(
    db_path: &std::path::Path,
    disk_fault: Option<&super::fault::DiskFault>,
) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(fault) = disk_fault {
        fault.check()?;
    }
    use std::os::unix::fs::OpenOptionsExt;
    let path = db_path.with_extension("probe");
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(super::open::FILE_MODE)
            .open(&path)?;
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..PROBE_BYTES / chunk.len() {
            f.write_all(&chunk)?;
        }
        f.sync_all()
    })();
    let _ = std::fs::remove_file(&path);
    result
}

/// Runs every job of `jobs` in one transaction and commits.
fn attempt(db: &Database, jobs: &mut [BoxedJob]) -> Attempt {
    let txn = match db.begin_write() {
        Ok(t) => WriteTx::redb(t),
        Err(e) => return Attempt::Fault(format!("cannot begin a write transaction: {e}")),
    };
    let effects = {
        let mut ctx = match WriteCtx::open(&txn) {
            Ok(c) => c,
            Err(e) => return Attempt::Fault(format!("cannot open the tables: {e}")),
        };
        for (index, job) in jobs.iter_mut().enumerate() {
            let error = match std::panic::catch_unwind(AssertUnwindSafe(|| job.run(&mut ctx))) {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(_) => StoreError::Redb("the write job panicked; see the server log".into()),
            };
            drop(ctx);
            abort(txn);
            return if error.is_io() {
                Attempt::Fault(error.to_string())
            } else {
                Attempt::Poisoned(index, error)
            };
        }
        if let Err(e) = ctx.flush() {
            drop(ctx);
            abort(txn);
            return Attempt::Fault(format!("cannot save the batch's rooms: {e}"));
        }
        std::mem::take(&mut ctx.effects)
    };
    let txn = match super::writer::redb_tx(txn) {
        Ok(t) => t,
        Err(e) => return Attempt::Fault(e.to_string()),
    };
    match txn.commit() {
        Ok(()) => Attempt::Committed(effects),
        Err(e) => Attempt::Fault(format!("commit failed: {e}")),
    }
}

/// Rolls back `txn` (dropping a PostgreSQL transaction rolls it back).
fn abort(txn: WriteTx) {
    if let Ok(t) = txn.into_inner() {
        let _ = t.abort();
    }
}
