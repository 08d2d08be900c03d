//! Storage: the redb file, its single writer and its readers.
//!
//! Only this module touches redb. Writes go through [`Writer`], one thread
//! that owns every write transaction and group-commits; reads run on
//! tokio's blocking pool in their own read transactions and never wait for
//! the writer (redb readers see the last committed snapshot).
//!
//! The open [`Database`] lives in a [`DbSlot`] that the writer empties and
//! refills when it reopens the file after a disk fault (`open.rs`,
//! [`health`]).

pub mod audit_tree;
mod batch;
pub mod boundary;
#[cfg(test)]
mod boundary_guard;
mod ctx;
pub mod fault;
pub mod files;
pub mod health;
pub mod kv;
mod open;
pub mod ops;
pub mod query;
pub mod records;
pub mod retention;
pub mod snapshot;
pub mod sweep;
pub mod tables;
pub mod writer;

use kv::ReadTx;
use redb::{Database, ReadableDatabase};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub use health::Health;
pub use open::prepare_data_dir;
pub use writer::{WriteCtx, WriteError, Writer};

/// A storage failure. Never shown verbatim to clients: handlers turn it into
/// [`chat_protocol::ErrorCode::Internal`] (or `Unavailable` for
/// [`StoreError::Unavailable`] and [`StoreError::WriterGone`]) and log it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created. `cause` is the
    /// whole sentence: what went wrong and what to do (see `open.rs`).
    #[error("cannot open database {path}: {cause}")]
    Open {
        /// The redb file.
        path: String,
        /// Why, and what to do about it.
        cause: String,
    },
    /// The file failed redb's integrity check at start.
    #[error(
        "database {path} is damaged ({cause}), so chatd will not serve it: move the damaged file \
         aside (keep it for inspection), restore {path} from your latest backup, and start \
         chatd again"
    )]
    Damaged {
        /// The redb file.
        path: String,
        /// What redb found.
        cause: String,
    },
    /// A redb operation failed for a reason other than I/O.
    #[error("storage error: {0}")]
    Redb(String),
    /// The disk failed under a redb operation (an I/O error, a full disk,
    /// or redb's "previous I/O error" latch). The writer answers it by
    /// reopening the file ([`health`]).
    #[error("storage I/O error: {0}")]
    Io(String),
    /// A stored record did not decode: the file is damaged or from an
    /// incompatible build.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The store cannot serve this now and a retry later may succeed: the
    /// disk failed and the writer is recovering, or the server is shutting
    /// down. The text is for the client.
    #[error("{0}")]
    Unavailable(String),
    /// The writer thread has stopped (server shutting down).
    #[error("the storage writer has stopped")]
    WriterGone,
}

impl StoreError {
    /// Whether this is a disk fault, after which redb must reopen the file.
    pub fn is_io(&self) -> bool {
        matches!(self, StoreError::Io(_))
    }
}

impl From<redb::StorageError> for StoreError {
    fn from(e: redb::StorageError) -> Self {
        match e {
            redb::StorageError::Io(_) | redb::StorageError::PreviousIo => {
                StoreError::Io(e.to_string())
            }
            other => StoreError::Redb(other.to_string()),
        }
    }
}

macro_rules! redb_errors {
    ($($t:ident),*) => {$(
        impl From<redb::$t> for StoreError {
            fn from(e: redb::$t) -> Self {
                match e {
                    redb::$t::Storage(s) => StoreError::from(s),
                    other => StoreError::Redb(other.to_string()),
                }
            }
        }
    )*};
}
redb_errors!(TransactionError, TableError, CommitError);

/// How to open a [`Store`]. `Default` is what the server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Most jobs per write transaction (one fsync each). Default
    /// [`writer::MAX_BATCH`]; 1 turns group commit off, one commit per job,
    /// which only the storage benchmark uses as its baseline.
    pub max_batch: usize,
    /// Run redb's integrity check (every page's checksum) before serving.
    /// Default true; the benchmarks turn it off.
    pub check_integrity: bool,
    /// Test hook: a switch that makes the database's writes fail as on a
    /// full disk ([`fault::DiskFault`]). `None` (the default) in service.
    pub disk_fault: Option<fault::DiskFault>,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            max_batch: writer::MAX_BATCH,
            check_integrity: true,
            disk_fault: None,
        }
    }
}

/// Where the open database lives. The writer takes it out while it
/// reopens the file after a disk fault; readers then get
/// [`StoreError::Unavailable`] instead of waiting.
pub struct DbSlot {
    /// The redb file.
    path: PathBuf,
    /// The test hook it was opened with, for reopening the same way.
    disk_fault: Option<fault::DiskFault>,
    db: RwLock<Option<Arc<Database>>>,
}

impl DbSlot {
    fn get(&self) -> Result<Arc<Database>, StoreError> {
        self.db
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Unavailable(health::RECOVERING.into()))
    }

    fn take(&self) -> Option<Arc<Database>> {
        self.db.write().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn put(&self, db: Arc<Database>) {
        *self.db.write().unwrap_or_else(|p| p.into_inner()) = Some(db);
    }
}

/// Which engine holds the tables.
#[derive(Clone)]
enum Engine {
    /// The embedded redb file.
    Redb(Arc<DbSlot>),
    /// A PostgreSQL database shared by every node ([`kv::pg`]).
    Pg(Arc<kv::pg::PgEngine>),
}

/// Where a read transaction begins (see [`Store::read`]).
enum ReadSource {
    Redb(Arc<Database>),
    Pg(Arc<kv::pg::PgEngine>),
}

impl ReadSource {
    /// A read transaction on this thread.
    fn begin(&self) -> Result<ReadTx, StoreError> {
        match self {
            ReadSource::Redb(db) => Ok(ReadTx::redb(db.begin_read()?)),
            ReadSource::Pg(pg) => Ok(ReadTx::pg(pg.begin_read()?)),
        }
    }
}

/// The open database with its writer.
#[derive(Clone)]
pub struct Store {
    engine: Engine,
    writer: Writer,
}

impl Store {
    /// Opens (or creates) `path` with mode 0600, checks its integrity,
    /// creates missing tables and starts the writer thread.
    ///
    /// # Errors
    /// [`StoreError::Open`] if the file cannot be opened (the message says
    /// why: another process, permissions, a file needing repair);
    /// [`StoreError::Damaged`] if it fails the integrity check; a redb
    /// error if the tables cannot be created.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, StoreOptions::default())
    }

    /// Opens the PostgreSQL database at `url`
    /// (`postgres://user:password@host:port/database`): connects, brings
    /// the schema up to date (every node may; they take turns), writes or
    /// checks the schema version, and starts the PostgreSQL writer thread
    /// (group commit, `kv::pg::writer`). `options.max_batch` applies;
    /// the redb-only options are ignored.
    ///
    /// Call it from a thread that is not an async task (`spawn_blocking`,
    /// or a plain thread): the engine starts a small runtime of its own
    /// for the connections ([`kv::pg::ENGINE_THREADS`] threads), so the
    /// caller's runtime may be of either flavour.
    ///
    /// # Errors
    /// [`StoreError::Open`] naming the URL (without its password) and what
    /// to do: a malformed URL, PostgreSQL unreachable or refusing the
    /// login, a schema migration that fails; [`StoreError::Corrupt`] for a
    /// database of another schema version.
    pub fn open_postgres(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        let engine = Arc::new(kv::pg::PgEngine::open(url, &kv::pg::PgOptions::default())?);
        kv::pg::writer::init_tables(&engine)?;
        let for_writer = engine.clone();
        let writer = Writer::start_with(move |queues| {
            let mut thread =
                kv::pg::writer::PgWriterThread::new(for_writer, queues, options.max_batch);
            Ok(move || thread.run())
        })?;
        Ok(Store {
            engine: Engine::Pg(engine),
            writer,
        })
    }

    /// Whether the tables live in PostgreSQL (else in the redb file).
    pub fn is_postgres(&self) -> bool {
        matches!(self.engine, Engine::Pg(_))
    }

    /// What a read transaction begins on: redb's open database (taken
    /// now, so a store reopening its file answers at once) or the
    /// PostgreSQL engine.
    fn read_source(&self) -> Result<ReadSource, StoreError> {
        match &self.engine {
            Engine::Redb(slot) => Ok(ReadSource::Redb(slot.get()?)),
            Engine::Pg(pg) => Ok(ReadSource::Pg(pg.clone())),
        }
    }

    /// As [`Store::open`], with explicit [`StoreOptions`].
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_with(path: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        let mut db = open::open_database(path, options.disk_fault.as_ref())?;
        if options.check_integrity {
            open::check_integrity(&mut db, path)?;
        }
        let db = Arc::new(db);
        writer::init_tables(&db)?;
        files::create_tables(&db)?;
        retention::create_tables(&db)?;
        let slot = Arc::new(DbSlot {
            path: path.to_path_buf(),
            disk_fault: options.disk_fault.clone(),
            db: RwLock::new(Some(db)),
        });
        let writer = Writer::start(slot.clone(), options.max_batch)?;
        Ok(Store {
            engine: Engine::Redb(slot),
            writer,
        })
    }

    /// The writer handle.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Whether the store accepts writes now.
    pub fn health(&self) -> Health {
        self.writer.health()
    }

    /// Runs `f` in a read transaction on the blocking pool.
    ///
    /// # Errors
    /// Whatever `f` returns, a redb error opening the transaction, or
    /// [`StoreError::Unavailable`] while the writer reopens the file.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTx) -> Result<T, StoreError> + Send + 'static,
    {
        let source = self.read_source()?;
        tokio::task::spawn_blocking(move || {
            let txn = source.begin()?;
            f(&txn)
        })
        .await
        .map_err(|e| StoreError::Redb(format!("read task failed: {e}")))?
    }

    /// Runs `f` in a read transaction on the current thread. For the
    /// writer-free start-up path and for benchmarks; async code uses [`Store::read`].
    ///
    /// # Errors
    /// As [`Store::read`].
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&ReadTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let txn = self.read_source()?.begin()?;
        f(&txn)
    }

    /// Stops the writer after it finishes the jobs already queued, and
    /// waits. Call [`Writer::close`] first so that nothing queues behind.
    pub async fn shutdown(&self) {
        self.writer.shutdown().await;
    }
}
