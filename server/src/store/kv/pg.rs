//! The PostgreSQL engine of [`super`]: redb's tables as PostgreSQL
//! tables, read and written inside PostgreSQL transactions.
//!
//! PLACEHOLDER: the types and signatures the table layer calls; the
//! engine itself is being written (issue 16). Every method fails with
//! [`StoreError::Unavailable`] until then.

use super::{KeyKind, KeyPart, PartBounds};
use crate::store::StoreError;
use std::marker::PhantomData;

/// Encodes a row's key columns as redb's key encoding.
pub type KeyEncoder = fn(&[KeyPart]) -> Option<Vec<u8>>;

fn missing() -> StoreError {
    StoreError::Unavailable("the PostgreSQL engine is not built yet".into())
}

/// One table inside a PostgreSQL transaction.
pub struct PgTable<'t> {
    _tx: PhantomData<&'t ()>,
}

impl PgTable<'_> {
    /// The value stored under `key` (its redb encoding).
    ///
    /// # Errors
    /// A PostgreSQL failure.
    pub fn get(&self, _key: &[KeyPart]) -> Result<Option<Vec<u8>>, StoreError> {
        Err(missing())
    }

    /// The rows in `bounds`, ascending, as (redb key bytes, value bytes).
    ///
    /// # Errors
    /// A PostgreSQL failure.
    pub fn range(&self, _bounds: PartBounds) -> Result<PgRange<'_>, StoreError> {
        Err(missing())
    }

    /// The number of rows.
    ///
    /// # Errors
    /// A PostgreSQL failure.
    pub fn len(&self) -> Result<u64, StoreError> {
        Err(missing())
    }

    /// Upserts `value` under `key`, returning the old value.
    ///
    /// # Errors
    /// A PostgreSQL failure.
    pub fn insert(
        &mut self,
        _key: &[KeyPart],
        _value: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Err(missing())
    }

    /// Deletes `key`, returning its value.
    ///
    /// # Errors
    /// A PostgreSQL failure.
    pub fn remove(&mut self, _key: &[KeyPart]) -> Result<Option<Vec<u8>>, StoreError> {
        Err(missing())
    }

    /// Deletes every row for which `keep(key bytes, value bytes)` is false.
    ///
    /// # Errors
    /// A PostgreSQL failure.
    pub fn retain(
        &mut self,
        _keep: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        Err(missing())
    }
}

/// Rows of a [`PgTable::range`], fetched in chunks from either end.
pub struct PgRange<'t> {
    _tx: PhantomData<&'t ()>,
}

impl Iterator for PgRange<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>), StoreError>;
    fn next(&mut self) -> Option<Self::Item> {
        None
    }
}

impl DoubleEndedIterator for PgRange<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        None
    }
}

/// A read-only PostgreSQL transaction (REPEATABLE READ: one snapshot).
pub struct PgReadTx {}

impl PgReadTx {
    /// Opens the table `name` whose key has `kinds` columns.
    ///
    /// # Errors
    /// An unknown table.
    pub fn table(
        &self,
        _name: &str,
        _kinds: &'static [KeyKind],
        _encode: KeyEncoder,
    ) -> Result<PgTable<'_>, StoreError> {
        Err(missing())
    }
}

/// A write batch's PostgreSQL transaction (SERIALIZABLE).
pub struct PgWriteTx {}

impl PgWriteTx {
    /// Opens the table `name` whose key has `kinds` columns.
    ///
    /// # Errors
    /// An unknown table.
    pub fn table(
        &self,
        _name: &str,
        _kinds: &'static [KeyKind],
        _encode: KeyEncoder,
    ) -> Result<PgTable<'_>, StoreError> {
        Err(missing())
    }
}
