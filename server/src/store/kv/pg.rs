//! The PostgreSQL engine of [`super`]: redb's tables as PostgreSQL
//! tables, read and written inside PostgreSQL transactions.
//!
//! - **Schema** (`schema.rs`, `server/migrations/`): one table per redb
//!   table, one typed column per key element (`k1`, `k2`, `k3`), the value's
//!   redb encoding in `v bytea`, primary key on the key columns.
//! - **Reads** ([`PgReadTx`]): a pooled connection in
//!   `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`, so every read of one
//!   transaction sees one snapshot, as a redb read transaction does.
//! - **Writes** ([`PgWriteTx`]): a pooled connection in
//!   `BEGIN ISOLATION LEVEL SERIALIZABLE`; the writer thread (`writer.rs`)
//!   runs a whole batch in it and commits once.
//! - **Ranges** ([`PgRange`]) fetch lazily in chunks (64 rows first, then
//!   doubling up to [`CHUNK`]) from whichever end is asked, with row-value
//!   comparisons on the key columns, so no range loads a whole table.
//! - Every statement is prepared once per connection and table
//!   (deadpool-postgres' statement cache).
//!
//! The store's code is synchronous (it runs on the writer thread or on
//! tokio's blocking pool), so each statement runs with
//! [`Handle::block_on`] on the runtime captured when the engine opened.
//! Never call these from an async task.
//!
//! `u64` key elements are stored as `bigint`: a key element above
//! `i64::MAX` is refused on write with a clear error, found nowhere on
//! read, and clamped in range bounds (no stored key exceeds it). chatd's
//! ids, seqs and times are far below it.

pub mod schema;
pub mod writer;

use super::{KeyKind, KeyPart, PartBounds};
use crate::store::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use schema::TableSpec;
use std::collections::VecDeque;
use std::ops::Bound;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// The session-level advisory lock every write transaction holds ("chatw"
/// in ASCII): shared by batches that run in parallel on several nodes,
/// exclusive for a batch that re-runs after a serialisation failure, so
/// that the re-run runs alone and commits (`writer.rs`). PostgreSQL queues
/// new shared requests behind a waiting exclusive one, so the re-run
/// waits only for the batches already running.
pub const WRITE_LOCK: i64 = 0x0063_6861_7477;

/// How a write transaction holds [`WRITE_LOCK`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteLock {
    /// Alongside other nodes' batches (the first attempt of a batch).
    Shared,
    /// Alone (a re-run after a serialisation failure).
    Exclusive,
}

impl WriteLock {
    fn function(self) -> &'static str {
        match self {
            WriteLock::Shared => "pg_advisory_lock_shared",
            WriteLock::Exclusive => "pg_advisory_lock",
        }
    }
}

/// Encodes a row's key columns as redb's key encoding.
pub type KeyEncoder = fn(&[KeyPart]) -> Option<Vec<u8>>;

/// Most rows one fetch of a range reads.
pub const CHUNK: i64 = 512;

/// Rows the first fetch of a range reads (then doubling up to [`CHUNK`]):
/// `first()`, `last()` and short pages need one small fetch.
pub const FIRST_CHUNK: i64 = 64;

/// What a client is told when PostgreSQL cannot be reached: nothing was
/// stored and a retry with the same idempotency key is safe.
pub const UNREACHABLE: &str = "the server cannot reach its PostgreSQL database just now; \
     nothing of this request was stored; retry in a moment with the same idempotency key";

/// What a client is told when its batch kept conflicting with other nodes'
/// writes (serialisation failures) past the writer's retries.
pub const CONFLICTED: &str = "the server's database was too busy with conflicting writes to \
     store this request; nothing of it was stored; retry in a moment with the same \
     idempotency key";

/// Why a statement failed, when it is not the statement's own fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A serialisation failure (SQLSTATE 40001) or deadlock (40P01): the
    /// whole transaction must be rolled back and run again.
    Conflict,
    /// The connection was lost or the server refuses work (classes 08, 53,
    /// 57, or no SQLSTATE): nothing of the transaction is stored.
    Lost,
}

/// Classifies a tokio-postgres error: `None` when the statement itself
/// failed (a constraint, bad input), else the passing condition.
pub fn classify(e: &tokio_postgres::Error) -> Option<Failure> {
    if e.is_closed() {
        return Some(Failure::Lost);
    }
    match e.code() {
        None => Some(Failure::Lost),
        Some(code) => {
            let c = code.code();
            if c == "40001" || c == "40P01" {
                Some(Failure::Conflict)
            } else if c.starts_with("08") || c.starts_with("53") || c.starts_with("57") {
                Some(Failure::Lost)
            } else {
                None
            }
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

/// The error of a failed connection attempt to `shown`, saying what to do.
pub(crate) fn open_error(shown: &str, e: &tokio_postgres::Error) -> StoreError {
    StoreError::Open {
        path: shown.to_string(),
        cause: format!(
            "cannot connect to PostgreSQL ({}); check that PostgreSQL runs and accepts \
             connections at that address, that the database exists (createdb) and that \
             the user may log in, then start chatd again",
            describe(e)
        ),
    }
}

/// `url` without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((auth, host)) => (Some(auth), host),
        None => (None, rest),
    };
    match auth {
        Some(auth) => {
            let user = auth.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => format!("{scheme}://{host}"),
    }
}

/// How to open the PostgreSQL engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Most pooled connections (the writer uses one, reads the others).
    pub max_connections: usize,
    /// Longest wait to connect, or for a free pooled connection.
    pub connect_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> PgOptions {
        PgOptions {
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// The open PostgreSQL engine: the connection pool and the runtime its
/// statements run on. Shared by the readers and the writer thread.
pub struct PgEngine {
    pool: Pool,
    handle: Handle,
    /// The URL without its password, for messages.
    shown: String,
    /// This engine's shard of the server-wide counters (a fresh ULID per
    /// open): each node adds to its own `META` row, so batches of
    /// different nodes do not all write one row and conflict.
    shard: Arc<str>,
    /// The engine's own runtime ([`ENGINE_THREADS`] threads), which drives
    /// the connections; declared last, so the pool goes first.
    _runtime: EngineRuntime,
}

/// Worker threads of the engine's own runtime: they only drive the
/// PostgreSQL connections' sockets (the statements are awaited from the
/// store's blocking threads), so two are plenty.
pub const ENGINE_THREADS: usize = 2;

/// The engine's runtime, shut down without blocking when the engine is
/// dropped (which may happen inside an async task, where a blocking
/// runtime drop would panic).
struct EngineRuntime(Option<tokio::runtime::Runtime>);

impl Drop for EngineRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl PgEngine {
    /// Connects to `url`, applies the schema migrations and builds the
    /// pool, on a runtime of the engine's own ([`ENGINE_THREADS`] threads):
    /// the caller's runtime may be single-threaded, and the store's
    /// blocking threads wait on the engine's. Call it from a thread that is
    /// not an async task (tokio's blocking pool, or a plain thread).
    ///
    /// # Errors
    /// [`StoreError::Open`] naming the URL (without password) and what to
    /// do: a bad URL, PostgreSQL unreachable, or migrations that fail, or
    /// the engine's runtime cannot start.
    pub fn open(url: &str, options: &PgOptions) -> Result<PgEngine, StoreError> {
        let shown = redact(url);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(ENGINE_THREADS)
            .thread_name("chatd-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Open {
                path: shown.clone(),
                cause: format!("cannot start the PostgreSQL engine's threads: {e}"),
            })?;
        let handle = runtime.handle().clone();
        let runtime = EngineRuntime(Some(runtime));
        let mut config = tokio_postgres::Config::from_str(url).map_err(|e| StoreError::Open {
            path: shown.clone(),
            cause: format!(
                "not a PostgreSQL connection string ({e}); use the form \
                 postgres://user:password@host:port/database"
            ),
        })?;
        config.connect_timeout(options.connect_timeout);
        // Notice a peer that vanished without closing the connection.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(10));
        config.application_name("chatd");
        handle.block_on(schema::migrate(&config, &shown))?;
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
            .map_err(|e| StoreError::Open {
                path: shown.clone(),
                cause: format!("cannot build the connection pool: {e}"),
            })?;
        Ok(PgEngine {
            pool,
            handle,
            shown,
            shard: Arc::from(ulid::Ulid::new().to_string()),
            _runtime: runtime,
        })
    }

    /// The URL without its password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// A pooled connection with `begin` run on it; holding
    /// [`WRITE_LOCK`] first when `locked`.
    fn begin(&self, begin: &str, lock: Option<WriteLock>) -> Result<Conn, StoreError> {
        let client = self.handle.block_on(self.pool.get()).map_err(|e| {
            tracing::warn!(error = %e, url = %self.shown, "no PostgreSQL connection");
            StoreError::Unavailable(UNREACHABLE.into())
        })?;
        let conn = Conn {
            client: Some(client),
            handle: self.handle.clone(),
            done: AtomicBool::new(false),
            failure: Mutex::new(None),
            locked: lock.is_some(),
        };
        if let Some(lock) = lock {
            // Waited for outside the transaction (a statement of its own:
            // a multi-statement query would be one implicit transaction),
            // so the snapshot is taken after the wait.
            conn.batch(&format!("SELECT {}({WRITE_LOCK})", lock.function()))?;
        }
        conn.batch(begin)?;
        Ok(conn)
    }

    /// Begins a read transaction (one snapshot).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when PostgreSQL cannot be reached.
    pub fn begin_read(&self) -> Result<PgReadTx, StoreError> {
        Ok(PgReadTx {
            conn: self.begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", None)?,
        })
    }

    /// Begins a write transaction holding [`WRITE_LOCK`] in mode `lock`
    /// until it ends; the writer keeps a second handle to it
    /// ([`PgWriteTx::control`]) for the commit.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when PostgreSQL cannot be reached.
    pub fn begin_write(&self, lock: WriteLock) -> Result<PgWriteTx, StoreError> {
        Ok(PgWriteTx {
            conn: Arc::new(self.begin("BEGIN ISOLATION LEVEL SERIALIZABLE", Some(lock))?),
            shard: self.shard.clone(),
        })
    }

    /// Closes the pool: idle connections close, none are handed out.
    pub fn close(&self) {
        self.pool.close();
    }
}

/// One pooled connection inside a transaction. Dropping it unfinished
/// rolls the transaction back (on the runtime, without blocking) before
/// the connection returns to the pool.
pub struct Conn {
    client: Option<Object>,
    handle: Handle,
    /// The transaction ended (committed or rolled back).
    done: AtomicBool,
    /// The first failure that was not a statement's own fault.
    failure: Mutex<Option<Failure>>,
    /// The session holds [`WRITE_LOCK`] until the transaction ends.
    locked: bool,
}

impl Conn {
    fn client(&self) -> Result<&Object, StoreError> {
        self.client
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable(UNREACHABLE.into()))
    }

    /// The first connection loss or serialisation failure seen.
    pub fn failure(&self) -> Option<Failure> {
        *self.failure.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets a recorded failure (after `ROLLBACK TO SAVEPOINT` undid the
    /// failed statement's work).
    pub fn clear_failure(&self) {
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn fail(&self, e: &tokio_postgres::Error, what: &str) -> StoreError {
        match classify(e) {
            Some(kind) => {
                let mut slot = self.failure.lock().unwrap_or_else(|p| p.into_inner());
                slot.get_or_insert(kind);
                match kind {
                    Failure::Conflict => StoreError::Unavailable(CONFLICTED.into()),
                    Failure::Lost => {
                        tracing::warn!(error = %e, "PostgreSQL unavailable while {what}");
                        StoreError::Unavailable(UNREACHABLE.into())
                    }
                }
            }
            None => StoreError::Redb(format!("PostgreSQL error while {what}: {}", describe(e))),
        }
    }

    /// Runs `sql` (no parameters; several statements allowed) with the
    /// simple query protocol.
    ///
    /// # Errors
    /// The classified failure.
    pub fn batch(&self, sql: &str) -> Result<(), StoreError> {
        let client = self.client()?;
        self.handle
            .block_on(client.batch_execute(sql))
            .map_err(|e| self.fail(&e, sql))
    }

    /// Runs the prepared (and cached) statement `sql`.
    fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        let client = self.client()?;
        self.handle
            .block_on(async {
                let statement = client.prepare_cached(sql).await?;
                client.query(&statement, params).await
            })
            .map_err(|e| self.fail(&e, sql))
    }

    /// Commits. The transaction is over whatever the outcome.
    ///
    /// # Errors
    /// The classified failure; after [`Failure::Lost`] at commit the
    /// outcome is unknown to this node.
    pub fn commit(&self) -> Result<(), StoreError> {
        let result = self.batch("COMMIT");
        self.done.store(true, Ordering::Release);
        self.unlock();
        result
    }

    /// Rolls back, waiting for PostgreSQL's answer.
    pub fn rollback(&self) {
        if !self.done.swap(true, Ordering::AcqRel) {
            let _ = self.batch("ROLLBACK");
            self.unlock();
        }
    }

    /// Releases [`WRITE_LOCK`] if this session holds it.
    fn unlock(&self) {
        if self.locked {
            let _ = self.batch(UNLOCK);
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let lost = self.failure() == Some(Failure::Lost);
        if lost {
            // Never hand a broken connection back to the pool.
            drop(Object::take(client));
        } else if !self.done.load(Ordering::Acquire) {
            // Back to the pool only once the transaction has ended.
            let locked = self.locked;
            self.handle.spawn(async move {
                let mut ended = client.batch_execute("ROLLBACK").await.is_ok();
                if locked {
                    ended &= client.batch_execute(UNLOCK).await.is_ok();
                }
                if !ended {
                    drop(Object::take(client));
                }
            });
        }
    }
}

/// Releases [`WRITE_LOCK`] (and any other advisory lock of the session).
const UNLOCK: &str = "SELECT pg_advisory_unlock_all()";

/// A key element as a statement parameter.
#[derive(Debug, Clone)]
enum Param {
    I16(i16),
    I64(i64),
    Text(String),
}

impl Param {
    fn sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Param::I16(v) => v,
            Param::I64(v) => v,
            Param::Text(v) => v,
        }
    }
}

/// A key element that PostgreSQL cannot hold.
enum Unstorable {
    /// A `u64` above `i64::MAX`.
    TooBig(u64),
    /// A string with a NUL character.
    Nul,
}

fn param(part: &KeyPart) -> Result<Param, Unstorable> {
    Ok(match part {
        KeyPart::U8(v) => Param::I16(i16::from(*v)),
        KeyPart::U32(v) => Param::I64(i64::from(*v)),
        KeyPart::U64(v) => Param::I64(i64::try_from(*v).map_err(|_| Unstorable::TooBig(*v))?),
        KeyPart::Str(s) if s.contains('\0') => return Err(Unstorable::Nul),
        KeyPart::Str(s) => Param::Text(s.clone()),
    })
}

/// The parameters of an exact key, or why PostgreSQL cannot hold it.
fn key_params(key: &[KeyPart]) -> Result<Vec<Param>, Unstorable> {
    key.iter().map(param).collect()
}

/// The SQL cast of a key column's parameter.
fn cast(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::U8 => "smallint",
        KeyKind::U32 | KeyKind::U64 => "bigint",
        KeyKind::Str => "text",
    }
}

/// A bound of a range as SQL: the key columns `(k1, …, kn)` (a prefix of
/// the key when an element was clamped) compared with parameters.
#[derive(Debug, Clone)]
enum SqlBound {
    Unbounded,
    Key { params: Vec<Param>, inclusive: bool },
}

/// Converts a range bound. An element above `i64::MAX` (which no stored
/// key has) ends the bound there: a lower bound becomes "after every key
/// with this prefix and `i64::MAX`", an upper bound "up to and including"
/// it, which selects exactly the stored keys the unclamped bound selects.
fn sql_bound(bound: Bound<Vec<KeyPart>>, lower: bool) -> Result<SqlBound, StoreError> {
    let (parts, inclusive) = match bound {
        Bound::Unbounded => return Ok(SqlBound::Unbounded),
        Bound::Included(p) => (p, true),
        Bound::Excluded(p) => (p, false),
    };
    let mut params = Vec::with_capacity(parts.len());
    for part in &parts {
        match param(part) {
            Ok(p) => params.push(p),
            Err(Unstorable::TooBig(_)) => {
                params.push(Param::I64(i64::MAX));
                return Ok(SqlBound::Key {
                    params,
                    inclusive: !lower,
                });
            }
            Err(Unstorable::Nul) => {
                return Err(StoreError::Redb(
                    "a range bound holds a NUL character, which PostgreSQL text cannot".into(),
                ));
            }
        }
    }
    Ok(SqlBound::Key { params, inclusive })
}

/// One table inside a PostgreSQL transaction.
pub struct PgTable<'t> {
    conn: &'t Conn,
    spec: &'static TableSpec,
    encode: KeyEncoder,
}

/// Opens `name` on `conn`, checking it against the schema.
fn open_table<'t>(
    conn: &'t Conn,
    name: &str,
    kinds: &'static [KeyKind],
    encode: KeyEncoder,
) -> Result<PgTable<'t>, StoreError> {
    let spec = schema::table(name)
        .ok_or_else(|| StoreError::Redb(format!("no PostgreSQL table {name} in chatd's schema")))?;
    if spec.kinds != kinds {
        return Err(StoreError::Redb(format!(
            "table {name} is opened with key columns {kinds:?}, the schema has {:?}",
            spec.kinds
        )));
    }
    Ok(PgTable { conn, spec, encode })
}

impl<'t> PgTable<'t> {
    fn columns(&self) -> String {
        (1..=self.spec.kinds.len())
            .map(|i| format!("k{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `k1 = $1 AND k2 = $2 …`.
    fn key_match(&self) -> String {
        self.spec
            .kinds
            .iter()
            .enumerate()
            .map(|(i, kind)| format!("k{n} = ${n}::{}", cast(*kind), n = i + 1))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The redb encoding of the key in the first columns of `row`, and
    /// those columns as parameters.
    fn row_key(&self, row: &Row) -> Result<(Vec<u8>, Vec<Param>), StoreError> {
        let name = &self.spec.name;
        let corrupt = |what: String| StoreError::Corrupt(format!("table {name}: {what}"));
        let mut parts = Vec::with_capacity(self.spec.kinds.len());
        let mut params = Vec::with_capacity(self.spec.kinds.len());
        for (i, kind) in self.spec.kinds.iter().enumerate() {
            let bad = |e: &dyn std::fmt::Display| corrupt(format!("key column k{}: {e}", i + 1));
            match kind {
                KeyKind::U8 => {
                    let v: i16 = row.try_get(i).map_err(|e| bad(&e))?;
                    parts.push(KeyPart::U8(u8::try_from(v).map_err(|e| bad(&e))?));
                    params.push(Param::I16(v));
                }
                KeyKind::U32 => {
                    let v: i64 = row.try_get(i).map_err(|e| bad(&e))?;
                    parts.push(KeyPart::U32(u32::try_from(v).map_err(|e| bad(&e))?));
                    params.push(Param::I64(v));
                }
                KeyKind::U64 => {
                    let v: i64 = row.try_get(i).map_err(|e| bad(&e))?;
                    parts.push(KeyPart::U64(u64::try_from(v).map_err(|e| bad(&e))?));
                    params.push(Param::I64(v));
                }
                KeyKind::Str => {
                    let v: String = row.try_get(i).map_err(|e| bad(&e))?;
                    parts.push(KeyPart::Str(v.clone()));
                    params.push(Param::Text(v));
                }
            }
        }
        let key = (self.encode)(&parts)
            .ok_or_else(|| corrupt("key columns do not match the key type".into()))?;
        Ok((key, params))
    }

    fn value_of(&self, row: &Row, column: usize) -> Result<Vec<u8>, StoreError> {
        row.try_get::<_, Vec<u8>>(column).map_err(|e| {
            StoreError::Corrupt(format!("table {}: value column: {e}", self.spec.name))
        })
    }

    /// The value stored under `key` (its redb encoding).
    ///
    /// # Errors
    /// A PostgreSQL failure.
    pub fn get(&self, key: &[KeyPart]) -> Result<Option<Vec<u8>>, StoreError> {
        let Ok(params) = key_params(key) else {
            // No stored key holds such an element.
            return Ok(None);
        };
        let sql = format!(
            "SELECT v FROM {} WHERE {}",
            self.spec.name,
            self.key_match()
        );
        let refs: Vec<_> = params.iter().map(Param::sql).collect();
        let rows = self.conn.query(&sql, &refs)?;
        rows.first().map(|r| self.value_of(r, 0)).transpose()
    }

    /// The rows in `bounds`, ascending, as (redb key bytes, value bytes).
    ///
    /// # Errors
    /// A bound PostgreSQL cannot compare (a string with a NUL).
    pub fn range(&self, bounds: PartBounds) -> Result<PgRange<'_>, StoreError> {
        Ok(PgRange {
            table: PgTable {
                conn: self.conn,
                spec: self.spec,
                encode: self.encode,
            },
            lower: sql_bound(bounds.0, true)?,
            upper: sql_bound(bounds.1, false)?,
            front: VecDeque::new(),
            back: VecDeque::new(),
            drained: false,
            chunk: FIRST_CHUNK,
        })
    }

    /// The number of rows.
    ///
    /// # Errors
    /// A PostgreSQL failure.
    pub fn len(&self) -> Result<u64, StoreError> {
        let sql = format!("SELECT count(*) FROM {}", self.spec.name);
        let rows = self.conn.query(&sql, &[])?;
        let n: i64 = rows
            .first()
            .and_then(|r| r.try_get(0).ok())
            .unwrap_or_default();
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// Whether the table has no row.
    ///
    /// # Errors
    /// A PostgreSQL failure.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        let sql = format!("SELECT NOT EXISTS (SELECT 1 FROM {})", self.spec.name);
        let rows = self.conn.query(&sql, &[])?;
        Ok(rows.first().and_then(|r| r.try_get(0).ok()).unwrap_or(true))
    }

    /// Upserts `value` under `key`, returning the old value.
    ///
    /// # Errors
    /// A key element PostgreSQL cannot hold (a `u64` above `i64::MAX`, a
    /// string with a NUL), or a PostgreSQL failure.
    pub fn insert(&mut self, key: &[KeyPart], value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let params = key_params(key).map_err(|why| {
            StoreError::Redb(match why {
                Unstorable::TooBig(v) => format!(
                    "cannot store key element {v} in table {}: the PostgreSQL engine stores \
                     key numbers up to {} (bigint)",
                    self.spec.name,
                    i64::MAX
                ),
                Unstorable::Nul => format!(
                    "cannot store a key with a NUL character in table {}: PostgreSQL text \
                     cannot hold it",
                    self.spec.name
                ),
            })
        })?;
        let n = self.spec.kinds.len();
        let cols = self.columns();
        let placeholders = self
            .spec
            .kinds
            .iter()
            .enumerate()
            .map(|(i, kind)| format!("${}::{}", i + 1, cast(*kind)))
            .collect::<Vec<_>>()
            .join(", ");
        let name = &self.spec.name;
        let sql = format!(
            "WITH old AS (SELECT v FROM {name} WHERE {} FOR UPDATE), \
             up AS (INSERT INTO {name} ({cols}, v) VALUES ({placeholders}, ${v}) \
             ON CONFLICT ({cols}) DO UPDATE SET v = EXCLUDED.v) \
             SELECT v FROM old",
            self.key_match(),
            v = n + 1
        );
        let value = value.to_vec();
        let mut refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::sql).collect();
        refs.push(&value);
        let rows = self.conn.query(&sql, &refs)?;
        rows.first().map(|r| self.value_of(r, 0)).transpose()
    }

    /// Deletes `key`, returning its value.
    ///
    /// # Errors
    /// A PostgreSQL failure.
    pub fn remove(&mut self, key: &[KeyPart]) -> Result<Option<Vec<u8>>, StoreError> {
        let Ok(params) = key_params(key) else {
            return Ok(None);
        };
        self.remove_params(&params)
    }

    fn remove_params(&self, params: &[Param]) -> Result<Option<Vec<u8>>, StoreError> {
        let sql = format!(
            "DELETE FROM {} WHERE {} RETURNING v",
            self.spec.name,
            self.key_match()
        );
        let refs: Vec<_> = params.iter().map(Param::sql).collect();
        let rows = self.conn.query(&sql, &refs)?;
        rows.first().map(|r| self.value_of(r, 0)).transpose()
    }

    /// Deletes every row for which `keep(key bytes, value bytes)` is false,
    /// reading the table in chunks.
    ///
    /// # Errors
    /// A PostgreSQL failure.
    pub fn retain(&mut self, keep: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        let mut lower = SqlBound::Unbounded;
        loop {
            let rows = fetch(self, &lower, &SqlBound::Unbounded, true, CHUNK)?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            lower = SqlBound::Key {
                params: last.2.clone(),
                inclusive: false,
            };
            let full = rows.len() as i64 == CHUNK;
            for (key, value, params) in rows {
                if !keep(&key, &value) {
                    self.remove_params(&params)?;
                }
            }
            if !full {
                return Ok(());
            }
        }
    }
}

/// One fetched row: redb key bytes, value bytes, key as parameters.
type Fetched = (Vec<u8>, Vec<u8>, Vec<Param>);

/// Up to `limit` rows of `table` between `lower` and `upper`, ascending or
/// descending.
fn fetch(
    table: &PgTable<'_>,
    lower: &SqlBound,
    upper: &SqlBound,
    ascending: bool,
    limit: i64,
) -> Result<Vec<Fetched>, StoreError> {
    let kinds = table.spec.kinds;
    let mut conds = Vec::new();
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
    for (bound, lower) in [(lower, true), (upper, false)] {
        let SqlBound::Key {
            params: values,
            inclusive,
        } = bound
        else {
            continue;
        };
        let op = match (lower, inclusive) {
            (true, true) => ">=",
            (true, false) => ">",
            (false, true) => "<=",
            (false, false) => "<",
        };
        let mut cols = Vec::new();
        let mut places = Vec::new();
        for (i, value) in values.iter().enumerate() {
            params.push(value.sql());
            cols.push(format!("k{}", i + 1));
            places.push(format!("${}::{}", params.len(), cast(kinds[i])));
        }
        conds.push(format!(
            "ROW({}) {op} ROW({})",
            cols.join(", "),
            places.join(", ")
        ));
    }
    let dir = if ascending { "ASC" } else { "DESC" };
    let order = (1..=kinds.len())
        .map(|i| format!("k{i} {dir}"))
        .collect::<Vec<_>>()
        .join(", ");
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let sql = format!(
        "SELECT {}, v FROM {}{filter} ORDER BY {order} LIMIT {limit}",
        table.columns(),
        table.spec.name
    );
    let rows = table.conn.query(&sql, &params)?;
    rows.iter()
        .map(|row| {
            let (key, key_params) = table.row_key(row)?;
            let value = table.value_of(row, kinds.len())?;
            Ok((key, value, key_params))
        })
        .collect()
}

/// Rows of a [`PgTable::range`], fetched in chunks from either end. The
/// bounds move past every row fetched, so the two ends never fetch a row
/// twice; once a fetch comes back short, everything left is buffered.
pub struct PgRange<'t> {
    table: PgTable<'t>,
    lower: SqlBound,
    upper: SqlBound,
    /// Fetched from the front, ascending.
    front: VecDeque<(Vec<u8>, Vec<u8>)>,
    /// Fetched from the back, descending.
    back: VecDeque<(Vec<u8>, Vec<u8>)>,
    /// No row is left between the bounds (or a fetch failed).
    drained: bool,
    /// Rows the next fetch asks for.
    chunk: i64,
}

impl PgRange<'_> {
    /// Fetches the next chunk from the front (`ascending`) or the back.
    fn refill(&mut self, ascending: bool) -> Result<(), StoreError> {
        let limit = self.chunk;
        self.chunk = (self.chunk * 2).min(CHUNK);
        let rows = match fetch(&self.table, &self.lower, &self.upper, ascending, limit) {
            Ok(rows) => rows,
            Err(e) => {
                self.drained = true;
                return Err(e);
            }
        };
        if (rows.len() as i64) < limit {
            self.drained = true;
        }
        if let Some(last) = rows.last() {
            let past = SqlBound::Key {
                params: last.2.clone(),
                inclusive: false,
            };
            if ascending {
                self.lower = past;
            } else {
                self.upper = past;
            }
        }
        let buffer = if ascending {
            &mut self.front
        } else {
            &mut self.back
        };
        buffer.extend(rows.into_iter().map(|(k, v, _)| (k, v)));
        Ok(())
    }
}

impl Iterator for PgRange<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.front.is_empty()
            && !self.drained
            && let Err(e) = self.refill(true)
        {
            return Some(Err(e));
        }
        self.front
            .pop_front()
            .or_else(|| self.back.pop_back())
            .map(Ok)
    }
}

impl DoubleEndedIterator for PgRange<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.back.is_empty()
            && !self.drained
            && let Err(e) = self.refill(false)
        {
            return Some(Err(e));
        }
        self.back
            .pop_front()
            .or_else(|| self.front.pop_back())
            .map(Ok)
    }
}

/// A read-only PostgreSQL transaction (REPEATABLE READ: one snapshot),
/// ended when dropped.
pub struct PgReadTx {
    conn: Conn,
}

impl PgReadTx {
    /// Opens the table `name` whose key has `kinds` columns.
    ///
    /// # Errors
    /// A table the schema does not have, or with other key columns.
    pub fn table(
        &self,
        name: &str,
        kinds: &'static [KeyKind],
        encode: KeyEncoder,
    ) -> Result<PgTable<'_>, StoreError> {
        open_table(&self.conn, name, kinds, encode)
    }
}

/// A write batch's PostgreSQL transaction (SERIALIZABLE). Rolled back when
/// dropped unless the writer committed it through [`PgWriteTx::control`].
pub struct PgWriteTx {
    conn: Arc<Conn>,
    shard: Arc<str>,
}

impl PgWriteTx {
    /// The engine's counter shard ([`PgEngine`]'s `shard`).
    pub fn counter_shard(&self) -> &str {
        &self.shard
    }

    /// Opens the table `name` whose key has `kinds` columns.
    ///
    /// # Errors
    /// A table the schema does not have, or with other key columns.
    pub fn table(
        &self,
        name: &str,
        kinds: &'static [KeyKind],
        encode: KeyEncoder,
    ) -> Result<PgTable<'_>, StoreError> {
        open_table(&self.conn, name, kinds, encode)
    }

    /// The transaction's connection, for the writer's savepoints, commit
    /// and rollback while the tables borrow the transaction.
    pub fn control(&self) -> Arc<Conn> {
        self.conn.clone()
    }
}
