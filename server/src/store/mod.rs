//! Storage: the redb file, its single writer and its readers.
//!
//! Only this module touches redb. Writes go through [`Writer`], one thread
//! that owns every write transaction and group-commits; reads run on
//! tokio's blocking pool in their own read transactions and never wait for
//! the writer (redb readers see the last committed snapshot).

mod ctx;
pub mod files;
pub mod query;
pub mod records;
pub mod tables;
pub mod writer;

use redb::{Database, ReadTransaction, ReadableDatabase};
use std::path::Path;
use std::sync::Arc;

pub use writer::{WriteCtx, WriteError, Writer};

/// A storage failure. Never shown verbatim to clients: handlers turn it into
/// [`chat_protocol::ErrorCode::Internal`] and log it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error(
        "cannot open database {path}: {cause}; check the data directory's permissions, or that no other chatd uses it"
    )]
    Open {
        /// The redb file.
        path: String,
        /// Why.
        cause: redb::DatabaseError,
    },
    /// A redb operation failed (I/O error, full disk).
    #[error("storage error: {0}")]
    Redb(String),
    /// A stored record did not decode: the file is damaged or from an
    /// incompatible build.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The writer thread has stopped (server shutting down).
    #[error("the storage writer has stopped")]
    WriterGone,
}

macro_rules! redb_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Redb(e.to_string())
            }
        }
    )*};
}
redb_errors!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// How to open a [`Store`]. `Default` is what the server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Most jobs per write transaction (one fsync each). Default
    /// [`writer::MAX_BATCH`]; 1 turns group commit off, one commit per job,
    /// which only the storage benchmark uses as its baseline.
    pub max_batch: usize,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            max_batch: writer::MAX_BATCH,
        }
    }
}

/// The open database with its writer.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    writer: Writer,
}

impl Store {
    /// Opens (or creates) `path`, creates missing tables and starts the
    /// writer thread.
    ///
    /// # Errors
    /// [`StoreError::Open`] if the file cannot be opened; a redb error if
    /// the tables cannot be created.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, StoreOptions::default())
    }

    /// As [`Store::open`], with explicit [`StoreOptions`].
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_with(path: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        let db = Database::create(path).map_err(|cause| StoreError::Open {
            path: path.display().to_string(),
            cause,
        })?;
        let db = Arc::new(db);
        writer::init_tables(&db)?;
        files::create_tables(&db)?;
        let writer = Writer::start(db.clone(), options.max_batch)?;
        Ok(Store { db, writer })
    }

    /// The writer handle.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Runs `f` in a read transaction on the blocking pool.
    ///
    /// # Errors
    /// Whatever `f` returns, or a redb error opening the transaction.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read()?;
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
        f: impl FnOnce(&ReadTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let txn = self.db.begin_read()?;
        f(&txn)
    }

    /// Stops the writer after it finishes the batch in flight, and waits.
    pub async fn shutdown(&self) {
        self.writer.shutdown().await;
    }
}
