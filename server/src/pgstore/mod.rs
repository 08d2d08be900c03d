//! The PostgreSQL room event log (issue 16, first slice): rooms with their
//! last seq, room events, idempotency keys; group-committed appends and the
//! reads that catch-up and gap fill need.
//!
//! Not wired into chatd yet: chatd stores everything in redb (`store`).
//! This module is the piece the storage boundary will put behind its room
//! event operations, so that several nodes can share one database.
//!
//! - [`PgLog::open`] connects a pool (tokio-postgres + deadpool-postgres)
//!   and brings the schema up to date (`schema.rs`, migrations in
//!   `server/migrations/`).
//! - Writes go through one writer task per [`PgLog`] (`writer.rs`), which
//!   runs every send queued meanwhile in one transaction (group commit, as
//!   `store::writer` does for redb) and answers only after `COMMIT`
//!   returns. Each room's seqs are taken inside that transaction with
//!   `UPDATE rooms SET last_seq = last_seq + n ... RETURNING`, so the room
//!   row's lock orders the commits of every node by seq: no gap and no
//!   duplicate, whatever the number of nodes.
//! - Idempotency is the `idempotency` table's primary key (owner, key): a
//!   retry through any node finds the original (room, seq) and stores
//!   nothing (`batch.rs`).
//! - Reads ([`PgLog::read_range`], [`PgLog::last_seq`]) take a pooled
//!   connection and never wait for the writer.
//!
//! Errors: [`PgError`]; a lost or refused connection is
//! [`PgError::Unavailable`], which converts to the redb store's retryable
//! [`StoreError::Unavailable`] (clients retry with the same idempotency key).

mod batch;
mod schema;
mod writer;

use crate::store::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::str::FromStr;
use std::time::Duration;

pub use batch::{AppendJob, Appended};
pub use writer::{PgWriterStats, Writer};

/// Most events [`PgLog::read_range`] returns in one call.
pub const MAX_READ: usize = 10_000;

/// What the client is told when PostgreSQL cannot be reached: nothing was
/// stored and a retry with the same idempotency key is safe.
pub const UNREACHABLE: &str = "the server cannot reach its PostgreSQL database just now; \
     nothing of this request was stored; retry in a moment with the same idempotency key";

/// A failure of the PostgreSQL event log.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The connection string does not parse.
    #[error(
        "invalid PostgreSQL connection string: {0}; use the form \
         postgres://user@host:port/database"
    )]
    Config(String),
    /// The schema migrations failed.
    #[error(
        "cannot bring the PostgreSQL schema up to date: {0}; check that the database user \
         may create tables, and that no newer chatd migrated this database"
    )]
    Migrate(String),
    /// PostgreSQL cannot be reached or dropped the connection (it stopped,
    /// restarts, refuses connections, or a deadlock kept recurring).
    /// Nothing of the request was stored, or its commit was not confirmed;
    /// a retry with the same idempotency key is safe.
    #[error("{0}")]
    Unavailable(String),
    /// A statement failed for a reason other than the connection.
    #[error("PostgreSQL error: {0}")]
    Query(String),
    /// A row did not hold what chatd writes (a value out of range, a key
    /// pointing at a missing event).
    #[error("corrupt PostgreSQL row: {0}")]
    Corrupt(String),
    /// The writer task has stopped (shutdown).
    #[error("the PostgreSQL writer has stopped")]
    WriterGone,
}

impl PgError {
    /// Whether a retry later may succeed (the request stored nothing
    /// that a retry with the same key would duplicate).
    pub fn is_retryable(&self) -> bool {
        matches!(self, PgError::Unavailable(_) | PgError::WriterGone)
    }

    /// Classifies a tokio-postgres error: connection loss, a server
    /// shutting down or out of resources, and a serialisation failure or
    /// deadlock are [`PgError::Unavailable`]; everything else is a
    /// [`PgError::Query`] naming `what` was being done.
    pub(crate) fn from_pg(e: &tokio_postgres::Error, what: &str) -> PgError {
        if is_transient(e) {
            tracing::warn!(error = %e, "PostgreSQL unavailable while {what}");
            PgError::Unavailable(UNREACHABLE.into())
        } else {
            PgError::Query(format!("{what}: {}", describe(e)))
        }
    }
}

/// Whether `e` is the connection's fault or a passing condition, not the
/// statement's: SQLSTATE classes 08 (connection), 53 (resources), 57
/// (operator intervention: shutdown, crash recovery), 40001/40P01
/// (serialisation failure, deadlock), or no SQLSTATE at all (I/O).
pub(crate) fn is_transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        None => true,
        Some(code) => {
            let c = code.code();
            c.starts_with("08")
                || c.starts_with("53")
                || c.starts_with("57")
                || c == "40001"
                || c == "40P01"
        }
    }
}

/// The server's message and detail when there is one, else the client's.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail}) [{}]", db.message(), db.code().code()),
            None => format!("{} [{}]", db.message(), db.code().code()),
        },
        None => e.to_string(),
    }
}

impl From<PgError> for StoreError {
    /// `Unavailable` stays retryable, `WriterGone` stays `WriterGone`,
    /// `Corrupt` stays `Corrupt`; the rest become the generic storage error.
    fn from(e: PgError) -> StoreError {
        match e {
            PgError::Unavailable(why) => StoreError::Unavailable(why),
            PgError::WriterGone => StoreError::WriterGone,
            PgError::Corrupt(why) => StoreError::Corrupt(why),
            other => StoreError::Redb(other.to_string()),
        }
    }
}

/// How to open a [`PgLog`]. `Default` is what a node would use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgLogOptions {
    /// Most pooled connections (the writer uses one, reads the others).
    /// Default 8.
    pub max_connections: usize,
    /// Most sends in one transaction. Default [`crate::store::writer::MAX_BATCH`];
    /// 1 turns group commit off (the benchmark's baseline).
    pub max_batch: usize,
    /// Longest wait to connect, or for a free pooled connection. Default 5 s.
    pub connect_timeout: Duration,
}

impl Default for PgLogOptions {
    fn default() -> PgLogOptions {
        PgLogOptions {
            max_connections: 8,
            max_batch: crate::store::writer::MAX_BATCH,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// One stored room event, as [`PgLog::read_range`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    /// The room.
    pub room: u64,
    /// Its seq in the room, from 1.
    pub seq: u64,
    /// Time, ms since the epoch.
    pub ts: u64,
    /// Who caused it (user id).
    pub sender: u64,
    /// The encoded `store::records::EventRecord`, as redb stores it.
    pub event: Vec<u8>,
}

/// The PostgreSQL event log of one node: a connection pool and the group
/// commit writer. Cheap to clone; clones share both.
#[derive(Clone)]
pub struct PgLog {
    pool: Pool,
    writer: Writer,
}

impl PgLog {
    /// Connects to `url` (`postgres://user@host:port/database`), applies
    /// the schema migrations (serialised across nodes by an advisory lock)
    /// and starts the writer task. Must run inside a tokio runtime.
    ///
    /// # Errors
    /// [`PgError::Config`] for a bad URL; [`PgError::Unavailable`] when the
    /// database cannot be reached; [`PgError::Migrate`] when the schema
    /// cannot be brought up to date.
    pub async fn open(url: &str, options: PgLogOptions) -> Result<PgLog, PgError> {
        let mut config =
            tokio_postgres::Config::from_str(url).map_err(|e| PgError::Config(e.to_string()))?;
        config.connect_timeout(options.connect_timeout);
        // Notice a peer that vanished without closing the connection.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(10));
        config.application_name("chatd");
        schema::migrate(&config).await?;
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let timeout = Some(options.connect_timeout);
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(2))
            .runtime(Runtime::Tokio1)
            .wait_timeout(timeout)
            .create_timeout(timeout)
            .recycle_timeout(timeout)
            .build()
            .map_err(|e| PgError::Config(format!("cannot build the connection pool: {e}")))?;
        let writer = Writer::start(pool.clone(), options.max_batch);
        Ok(PgLog { pool, writer })
    }

    /// The writer handle (submit sends, read its counters).
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Makes sure room `room` exists in the log (with `last_seq` 0 when it
    /// is new). Rooms are created by chatd's room handlers; the log only
    /// needs the row that orders its seqs.
    ///
    /// # Errors
    /// [`PgError::Unavailable`] when the database cannot be reached;
    /// [`PgError::Query`] for a room id above `i64::MAX`.
    pub async fn ensure_room(&self, room: u64, created_at: u64) -> Result<(), PgError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO rooms (id, last_seq, created_at) VALUES ($1, 0, $2) \
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &to_i64(room, "room id")?,
                    &to_i64(created_at, "created_at")?,
                ],
            )
            .await
            .map_err(|e| PgError::from_pg(&e, "creating a room"))?;
        Ok(())
    }

    /// The seq of `room`'s latest event (0 if it has none), or `None` if
    /// the log has no such room.
    ///
    /// # Errors
    /// [`PgError::Unavailable`] when the database cannot be reached.
    pub async fn last_seq(&self, room: u64) -> Result<Option<u64>, PgError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT last_seq FROM rooms WHERE id = $1",
                &[&to_i64(room, "room id")?],
            )
            .await
            .map_err(|e| PgError::from_pg(&e, "reading a room's last seq"))?;
        row.map(|r| from_i64(r.get(0), "rooms.last_seq"))
            .transpose()
    }

    /// Up to `limit` (at most [`MAX_READ`]) events of `room` with seq ≥
    /// `from_seq`, in seq order: what catch-up and gap fill read. Only
    /// committed events are seen, and a room's seqs commit in order, so
    /// the answer has no hole below the room's `last_seq`.
    ///
    /// # Errors
    /// [`PgError::Unavailable`] when the database cannot be reached;
    /// [`PgError::Corrupt`] for a row with a negative value.
    pub async fn read_range(
        &self,
        room: u64,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, PgError> {
        let limit = limit.min(MAX_READ) as i64;
        // A from_seq past i64::MAX can match nothing.
        let Ok(from) = i64::try_from(from_seq) else {
            return Ok(Vec::new());
        };
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT seq, ts, sender, event FROM room_events \
                 WHERE room = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
                &[&to_i64(room, "room id")?, &from, &limit],
            )
            .await
            .map_err(|e| PgError::from_pg(&e, "reading room events"))?;
        rows.into_iter()
            .map(|r| {
                Ok(LoggedEvent {
                    room,
                    seq: from_i64(r.get(0), "room_events.seq")?,
                    ts: from_i64(r.get(1), "room_events.ts")?,
                    sender: from_i64(r.get(2), "room_events.sender")?,
                    event: r.get(3),
                })
            })
            .collect()
    }

    /// Deletes idempotency keys that expired at or before `now` (ms since
    /// the epoch); returns how many.
    ///
    /// # Errors
    /// [`PgError::Unavailable`] when the database cannot be reached.
    pub async fn sweep_keys(&self, now: u64) -> Result<u64, PgError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM idempotency WHERE expires_at <= $1",
                &[&to_i64(now, "now")?],
            )
            .await
            .map_err(|e| PgError::from_pg(&e, "sweeping idempotency keys"))
    }

    /// Stops the writer after the sends already queued, and closes the pool.
    pub async fn shutdown(&self) {
        self.writer.shutdown().await;
        self.pool.close();
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, PgError> {
        pooled(&self.pool).await
    }
}

/// A pooled connection, or [`PgError::Unavailable`].
pub(crate) async fn pooled(pool: &Pool) -> Result<deadpool_postgres::Object, PgError> {
    pool.get().await.map_err(|e| {
        tracing::warn!(error = %e, "no PostgreSQL connection");
        PgError::Unavailable(UNREACHABLE.into())
    })
}

/// `v` as PostgreSQL's BIGINT.
///
/// # Errors
/// [`PgError::Query`] naming `what` when `v` > `i64::MAX`.
pub(crate) fn to_i64(v: u64, what: &str) -> Result<i64, PgError> {
    i64::try_from(v).map_err(|_| {
        PgError::Query(format!(
            "{what} {v} is above {}, the largest the PostgreSQL log stores",
            i64::MAX
        ))
    })
}

/// A BIGINT read back as chatd's u64.
///
/// # Errors
/// [`PgError::Corrupt`] naming `what` when `v` is negative.
pub(crate) fn from_i64(v: i64, what: &str) -> Result<u64, PgError> {
    u64::try_from(v).map_err(|_| PgError::Corrupt(format!("{what} is negative ({v})")))
}
