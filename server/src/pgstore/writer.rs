//! The writer task of one node: group commit on PostgreSQL.
//!
//! Sends arrive on a channel. The task waits for the first, takes every
//! send that queued up meanwhile (up to `max_batch`; a batch submitted
//! together is never split) and runs them in one transaction (`batch.rs`).
//! While that transaction commits, new sends queue for the next one, so
//! the batch size grows with load by itself, as in `store::writer`.
//! Answers go out only after COMMIT returned.
//!
//! What can go wrong, and what each send is answered:
//! - The connection is lost or refused (PostgreSQL stopped, restarting):
//!   every send of the batch gets the retryable `Unavailable` (nothing is
//!   known to be stored; a retry with the same key is safe whether or not
//!   the commit happened). The next batch tries a fresh connection.
//! - A batch that takes longer than [`BATCH_TIMEOUT`] (a database that
//!   stopped answering): as a lost connection, and the connection is
//!   dropped rather than returned to the pool.
//! - A deadlock or serialisation failure: the batch runs again, at most
//!   [`MAX_RERUNS`] times, then `Unavailable`.
//! - A statement fails for another reason (one send's data): the batch is
//!   split in halves, each run on its own, until the failing send is alone;
//!   it gets the error, every other send commits. The halves run in order,
//!   so a sender's sends keep their order.

use super::batch::{self, AppendJob, Appended, Attempt};
use super::{PgError, pooled};
use crate::store::writer::WriteError;
use deadpool_postgres::Pool;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// Most times a batch is re-run after a deadlock or serialisation failure.
pub const MAX_RERUNS: usize = 8;

/// Longest one batch's transaction may take, COMMIT included, before its
/// sends are answered `Unavailable` and its connection dropped: bounds how
/// long a node hangs on a database that stopped answering without closing
/// the connection (a network partition). Far above a healthy batch
/// (milliseconds), so it only fires when something is wrong.
pub const BATCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What a send submitted after [`Writer::close`] is told.
const SHUTTING_DOWN: &str = "the server is shutting down; nothing of this request was stored; \
     retry with the same idempotency key on another node or after the restart";

/// The answer to one send.
type Reply = oneshot::Sender<Result<Appended, WriteError>>;

struct Queued {
    job: AppendJob,
    reply: Reply,
}

enum Msg {
    Jobs(Vec<Queued>),
    Stop,
}

/// Counters of the writer task, for tests, benchmarks and (later) metrics.
#[derive(Debug, Default)]
pub struct PgWriterStats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Sends answered from committed transactions (new, duplicate or
    /// refused).
    pub jobs: AtomicU64,
    /// Events inserted.
    pub stored: AtomicU64,
    /// Sends answered as duplicates of an earlier send with their key.
    pub duplicates: AtomicU64,
    /// Sends answered with an error of their own after their batch was
    /// split to isolate them.
    pub failed_jobs: AtomicU64,
    /// Sends answered `Unavailable` (connection lost, shutdown, reruns
    /// exhausted).
    pub unavailable: AtomicU64,
    /// Batch re-runs after a deadlock or serialisation failure.
    pub reruns: AtomicU64,
}

/// A handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Msg>,
    stats: Arc<PgWriterStats>,
    closing: Arc<AtomicBool>,
    done: Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl Writer {
    /// Starts the writer task on `pool`; a batch carries at most
    /// `max_batch` sends (clamped to at least 1) unless they were
    /// submitted together.
    pub(super) fn start(pool: Pool, max_batch: usize) -> Writer {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(PgWriterStats::default());
        let task = WriterTask {
            pool,
            rx,
            stats: stats.clone(),
            max_batch: max_batch.max(1),
        };
        let handle = tokio::spawn(task.run());
        Writer {
            tx,
            stats,
            closing: Arc::default(),
            done: Arc::new(tokio::sync::Mutex::new(Some(handle))),
        }
    }

    /// The writer's counters.
    pub fn stats(&self) -> &PgWriterStats {
        &self.stats
    }

    /// Queues `jobs` to run together in one transaction and returns where
    /// each answer will arrive, in job order. Queueing is synchronous, so
    /// sends submitted one after another from one task are stored in that
    /// order.
    ///
    /// Each answer is the send's ack once its transaction committed
    /// ([`Appended::duplicate`] when its key stored it before);
    /// [`WriteError::Rejected`] for a refusal (bad values, an unknown room,
    /// a key used in another room); or [`WriteError::Store`] with the
    /// retryable `StoreError::Unavailable` when PostgreSQL cannot be
    /// reached or the writer is shutting down.
    pub fn submit_batch(
        &self,
        jobs: Vec<AppendJob>,
    ) -> Vec<oneshot::Receiver<Result<Appended, WriteError>>> {
        let mut receivers = Vec::with_capacity(jobs.len());
        let mut queued = Vec::with_capacity(jobs.len());
        for job in jobs {
            let (reply, rx) = oneshot::channel();
            receivers.push(rx);
            match job.check() {
                Ok(()) => queued.push(Queued { job, reply }),
                Err(refusal) => {
                    let _ = reply.send(Err(WriteError::Rejected(refusal)));
                }
            }
        }
        if queued.is_empty() {
            return receivers;
        }
        if self.closing.load(Ordering::Acquire) {
            self.refuse(queued, SHUTTING_DOWN);
        } else if let Err(mpsc::error::SendError(Msg::Jobs(queued))) =
            self.tx.send(Msg::Jobs(queued))
        {
            self.refuse(queued, SHUTTING_DOWN);
        }
        receivers
    }

    /// Queues one send; see [`Writer::submit_batch`].
    pub fn submit(&self, job: AppendJob) -> oneshot::Receiver<Result<Appended, WriteError>> {
        let mut receivers = self.submit_batch(vec![job]);
        match receivers.pop() {
            Some(rx) => rx,
            // submit_batch returns one receiver per job.
            None => oneshot::channel().1,
        }
    }

    /// Appends `jobs` in one transaction and waits for every answer.
    pub async fn append_batch(&self, jobs: Vec<AppendJob>) -> Vec<Result<Appended, WriteError>> {
        let mut answers = Vec::with_capacity(jobs.len());
        for rx in self.submit_batch(jobs) {
            answers.push(rx.await.unwrap_or_else(|_| gone()));
        }
        answers
    }

    /// Appends one send and waits for its answer.
    ///
    /// # Errors
    /// As [`Writer::submit_batch`] says.
    pub async fn append(&self, job: AppendJob) -> Result<Appended, WriteError> {
        self.submit(job).await.unwrap_or_else(|_| gone())
    }

    /// Refuses every send submitted from now on; queued sends still run.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// Refuses new sends, lets the task finish the queued ones, and waits.
    pub async fn shutdown(&self) {
        self.close();
        let _ = self.tx.send(Msg::Stop);
        if let Some(handle) = self.done.lock().await.take() {
            let _ = handle.await;
        }
    }

    fn refuse(&self, queued: Vec<Queued>, why: &str) {
        for q in queued {
            self.stats.unavailable.fetch_add(1, Ordering::Relaxed);
            let _ = q.reply.send(Err(unavailable(why)));
        }
    }
}

fn gone() -> Result<Appended, WriteError> {
    Err(WriteError::Store(PgError::WriterGone.into()))
}

fn unavailable(why: &str) -> WriteError {
    WriteError::Store(PgError::Unavailable(why.to_string()).into())
}

/// The state the writer task owns.
struct WriterTask {
    pool: Pool,
    rx: mpsc::UnboundedReceiver<Msg>,
    stats: Arc<PgWriterStats>,
    max_batch: usize,
}

impl WriterTask {
    async fn run(mut self) {
        let mut stopping = false;
        while !stopping {
            let Some(first) = self.rx.recv().await else {
                return;
            };
            let mut batch = Vec::new();
            match first {
                Msg::Jobs(jobs) => batch.extend(jobs),
                Msg::Stop => stopping = true,
            }
            while !stopping && batch.len() < self.max_batch {
                match self.rx.try_recv() {
                    Ok(Msg::Jobs(jobs)) => batch.extend(jobs),
                    Ok(Msg::Stop) => stopping = true,
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.run_batch(batch).await;
            }
        }
        // Sends that raced with Stop.
        self.rx.close();
        while let Ok(msg) = self.rx.try_recv() {
            if let Msg::Jobs(jobs) = msg {
                for q in jobs {
                    self.stats.unavailable.fetch_add(1, Ordering::Relaxed);
                    let _ = q.reply.send(Err(unavailable(SHUTTING_DOWN)));
                }
            }
        }
    }

    /// Runs `batch` until every send is answered.
    async fn run_batch(&self, batch: Vec<Queued>) {
        let mut segments: VecDeque<Vec<Queued>> = VecDeque::from([batch]);
        let mut down: Option<String> = None;
        while let Some(segment) = segments.pop_front() {
            if let Some(why) = &down {
                self.answer_unavailable(segment, why);
                continue;
            }
            match self.run_segment(&segment).await {
                Attempt::Committed(answers) => {
                    let s = &self.stats;
                    s.commits.fetch_add(1, Ordering::Relaxed);
                    s.jobs.fetch_add(segment.len() as u64, Ordering::Relaxed);
                    for (q, answer) in segment.into_iter().zip(answers) {
                        match &answer {
                            Ok(a) if a.duplicate => {
                                s.duplicates.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => {
                                s.stored.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => {}
                        }
                        let _ = q.reply.send(answer.map_err(WriteError::Rejected));
                    }
                }
                Attempt::Retry(error) | Attempt::Down(error) => {
                    tracing::warn!(%error, jobs = segment.len(), "PostgreSQL batch not stored");
                    let why = error.to_string();
                    self.answer_unavailable(segment, &why);
                    down = Some(why);
                }
                Attempt::Failed(error) if segment.len() == 1 => {
                    tracing::error!(%error, "a send failed on its own; the rest of its batch runs without it");
                    self.stats.failed_jobs.fetch_add(1, Ordering::Relaxed);
                    if let Some(q) = segment.into_iter().next() {
                        let _ = q.reply.send(Err(WriteError::Store(error.into())));
                    }
                }
                Attempt::Failed(error) => {
                    tracing::warn!(%error, jobs = segment.len(), "splitting a failed batch to find the send at fault");
                    let mut first = segment;
                    let second = first.split_off(first.len() / 2);
                    segments.push_front(second);
                    segments.push_front(first);
                }
            }
        }
    }

    /// One segment's attempt, re-run after deadlocks.
    async fn run_segment(&self, segment: &[Queued]) -> Attempt {
        let jobs: Vec<&AppendJob> = segment.iter().map(|q| &q.job).collect();
        let mut reruns = 0;
        loop {
            let mut client = match pooled(&self.pool).await {
                Ok(c) => c,
                Err(e) => return Attempt::Down(e),
            };
            let now = chat_protocol::Timestamp::now().0;
            let attempt =
                tokio::time::timeout(BATCH_TIMEOUT, batch::attempt(&mut client, &jobs, now));
            let Ok(outcome) = attempt.await else {
                // The connection is mid-transaction in an unknown state:
                // keep it out of the pool (dropping it closes it, and the
                // server rolls back whatever did not commit).
                drop(deadpool_postgres::Object::take(client));
                tracing::warn!(
                    jobs = jobs.len(),
                    "a PostgreSQL batch took longer than {BATCH_TIMEOUT:?}"
                );
                return Attempt::Down(PgError::Unavailable(super::UNREACHABLE.into()));
            };
            match outcome {
                Attempt::Retry(error) if reruns < MAX_RERUNS => {
                    tracing::info!(%error, "re-running a PostgreSQL batch");
                    self.stats.reruns.fetch_add(1, Ordering::Relaxed);
                    reruns += 1;
                }
                other => return other,
            }
        }
    }

    fn answer_unavailable(&self, segment: Vec<Queued>, why: &str) {
        for q in segment {
            self.stats.unavailable.fetch_add(1, Ordering::Relaxed);
            let _ = q.reply.send(Err(unavailable(why)));
        }
    }
}
