//! The PostgreSQL writer thread: group commit on PostgreSQL, sharing the
//! job queue, the answering and the publishing of [`crate::store::writer`]
//! with the redb writer (`store/batch.rs`).
//!
//! The thread takes every job queued (up to the batch limit), runs them
//! all in one `SERIALIZABLE` transaction through the same [`WriteCtx`] as
//! the redb writer, and commits once. Only after `COMMIT` returns are the
//! jobs answered and their effects published, in commit order, by the
//! shared publisher thread.
//!
//! What can go wrong, and what each job is answered:
//!
//! - A job fails by itself (a record that does not decode, a statement of
//!   its own that PostgreSQL refuses, a panic): the transaction is rolled
//!   back, that job alone is answered with its error and the rest of the
//!   batch runs again without it, as on redb (at most
//!   [`crate::store::batch::MAX_RERUNS`] times per batch).
//!   A whole-batch re-run rather than `ROLLBACK TO SAVEPOINT`: the batch's
//!   in-memory state in [`WriteCtx`] (rooms changed, events counted,
//!   effects) would keep the failed job's changes a savepoint undoes.
//! - A serialisation failure (SQLSTATE 40001) or deadlock (40P01) at any
//!   statement or at `COMMIT` (another node's batch touched the same rows
//!   first): the transaction is rolled back and the whole batch re-run
//!   (jobs are re-runnable and rebuild their effects), after a short
//!   random pause, at most [`MAX_CONFLICTS`] times; then every job is
//!   answered `Unavailable` ([`super::CONFLICTED`]). Every batch holds the
//!   advisory lock [`super::WRITE_LOCK`]: shared on its first attempt, so
//!   nodes write in parallel, exclusive on a re-run after a conflict, so
//!   the re-run runs alone and commits instead of losing again to the
//!   other nodes' batches.
//! - The connection is lost (or PostgreSQL refuses work): every job of the
//!   batch is answered `Unavailable` ([`super::UNREACHABLE`]; nothing was
//!   stored, or the commit was not confirmed, and a retry with the same
//!   idempotency key stores one copy). The next batch takes a fresh
//!   connection from the pool, so the writer serves again as soon as
//!   PostgreSQL is back.
//!
//! The per-room sequence rule holds across nodes because every send reads
//! and writes its room's record (the head seq) inside the batch
//! transaction: SERIALIZABLE lets only one of two concurrent batches that
//! touch a room commit; the other re-runs on the new head.

use super::{CONFLICTED, Failure, PgEngine, UNREACHABLE, WriteLock};
use crate::fanout::Effect;
use crate::store::StoreError;
use crate::store::WriteCtx;
use crate::store::batch::{drop_failed_job, hand_over};
use crate::store::kv::WriteTx;
use crate::store::writer::{BoxedJob, Fate, Queues, take_batch};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most times one batch is re-run after serialisation failures.
pub const MAX_CONFLICTS: u32 = 10;

/// Longest random pause before re-running a conflicted batch, ms; the
/// pause is uniform in `[0, min(2^n, this))` after the n-th conflict.
pub const MAX_CONFLICT_PAUSE_MS: u64 = 50;

/// How one attempt at a batch ended.
enum Attempt {
    Committed(Vec<Effect>),
    /// Job `index` failed by itself.
    Poisoned(usize, StoreError),
    /// A serialisation failure or deadlock: re-run the whole batch.
    Conflict,
    /// The connection failed: answer the batch `Unavailable`.
    Lost,
}

/// The PostgreSQL writer thread's state.
pub(in crate::store) struct PgWriterThread {
    engine: Arc<PgEngine>,
    queues: Queues,
    max_batch: usize,
}

impl PgWriterThread {
    /// A writer thread over `engine` fed by `queues`.
    pub(in crate::store) fn new(
        engine: Arc<PgEngine>,
        queues: Queues,
        max_batch: usize,
    ) -> PgWriterThread {
        PgWriterThread {
            engine,
            queues,
            max_batch: max_batch.max(1),
        }
    }

    /// Runs until [`crate::store::writer::Msg::Stop`] (after the jobs queued
    /// before it) or until every handle is gone.
    pub(in crate::store) fn run(&mut self) {
        loop {
            let Some((jobs, stopping)) =
                take_batch(&self.queues.rx, self.max_batch, &self.queues.stats)
            else {
                return;
            };
            if !jobs.is_empty() && !self.run_batch(jobs) {
                return;
            }
            if stopping {
                self.engine.close();
                return;
            }
        }
    }

    /// Runs `jobs` until they commit. Returns false if the publisher
    /// thread is gone.
    fn run_batch(&mut self, mut jobs: Vec<BoxedJob>) -> bool {
        let stats = self.queues.stats.clone();
        let mut reruns = 0;
        let mut conflicts = 0;
        loop {
            let started = Instant::now();
            let lock = if conflicts == 0 {
                WriteLock::Shared
            } else {
                WriteLock::Exclusive
            };
            match attempt(&self.engine, &mut jobs, lock) {
                Attempt::Committed(effects) => {
                    return hand_over(&stats, &self.queues.out, jobs, effects, started);
                }
                Attempt::Poisoned(index, error) => {
                    if !drop_failed_job(&stats, &mut jobs, index, error, &mut reruns) {
                        return true;
                    }
                }
                Attempt::Conflict => {
                    conflicts += 1;
                    if conflicts > MAX_CONFLICTS {
                        tracing::warn!(
                            jobs = jobs.len(),
                            "a batch kept conflicting with other nodes' writes; answering it Unavailable"
                        );
                        for job in jobs {
                            job.finish(Fate::Unavailable(CONFLICTED));
                        }
                        return true;
                    }
                    tracing::debug!(conflicts, "serialisation failure; re-running the batch");
                    // A backoff between attempts, not a synchronisation:
                    // it spreads nodes' re-runs apart.
                    std::thread::sleep(pause(conflicts));
                }
                Attempt::Lost => {
                    for job in jobs {
                        job.finish(Fate::Unavailable(UNREACHABLE));
                    }
                    return true;
                }
            }
        }
    }
}

/// A random pause before the `n`-th re-run of a conflicted batch.
fn pause(n: u32) -> Duration {
    let cap = (1u64 << n.min(16)).clamp(1, MAX_CONFLICT_PAUSE_MS);
    Duration::from_micros(rand::random::<u64>() % (cap * 1000))
}

/// What a failure of the transaction (not of a job) means.
fn failed(failure: Option<Failure>) -> Attempt {
    match failure {
        Some(Failure::Conflict) => Attempt::Conflict,
        _ => Attempt::Lost,
    }
}

/// Runs every job of `jobs` in one transaction and commits.
fn attempt(engine: &PgEngine, jobs: &mut [BoxedJob], lock: WriteLock) -> Attempt {
    let tx = match engine.begin_write(lock) {
        Ok(t) => t,
        Err(error) => {
            tracing::warn!(%error, "cannot begin a PostgreSQL write transaction");
            return Attempt::Lost;
        }
    };
    let conn = tx.control();
    let txn = WriteTx::pg(tx);
    let effects = {
        let mut ctx = match WriteCtx::open(&txn) {
            Ok(c) => c,
            Err(error) => {
                tracing::warn!(%error, "cannot open the tables");
                conn.rollback();
                return failed(conn.failure());
            }
        };
        for (index, job) in jobs.iter_mut().enumerate() {
            let error = match std::panic::catch_unwind(AssertUnwindSafe(|| job.run(&mut ctx))) {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(_) => StoreError::Redb("the write job panicked; see the server log".into()),
            };
            drop(ctx);
            let failure = conn.failure();
            conn.rollback();
            return match failure {
                None => Attempt::Poisoned(index, error),
                some => failed(some),
            };
        }
        if let Err(error) = ctx.flush() {
            tracing::warn!(%error, "cannot save the batch's rooms");
            drop(ctx);
            let failure = conn.failure();
            conn.rollback();
            return failed(failure);
        }
        std::mem::take(&mut ctx.effects)
    };
    drop(txn);
    match conn.commit() {
        Ok(()) => Attempt::Committed(effects),
        Err(error) => {
            tracing::warn!(%error, "PostgreSQL commit failed");
            failed(conn.failure())
        }
    }
}

/// Writes the schema version into `meta` on a new database, or checks it
/// on an existing one.
///
/// # Errors
/// [`StoreError::Corrupt`] for a database of another schema version; a
/// PostgreSQL failure.
pub(in crate::store) fn init_tables(engine: &PgEngine) -> Result<(), StoreError> {
    let mut conflicts = 0;
    loop {
        let lock = if conflicts == 0 {
            WriteLock::Shared
        } else {
            WriteLock::Exclusive
        };
        let tx = engine.begin_write(lock)?;
        let conn = tx.control();
        let txn = WriteTx::pg(tx);
        let checked = WriteCtx::open(&txn)
            .and_then(|mut ctx| crate::store::writer::check_schema_version(&mut ctx));
        drop(txn);
        let result = checked.and_then(|()| conn.commit());
        match (result, conn.failure()) {
            (Ok(()), _) => return Ok(()),
            // Another node initialised the table at the same moment.
            (Err(_), Some(Failure::Conflict)) if conflicts < MAX_CONFLICTS => {
                conflicts += 1;
                std::thread::sleep(pause(conflicts));
            }
            (Err(e), _) => {
                conn.rollback();
                return Err(e);
            }
        }
    }
}
