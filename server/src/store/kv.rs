//! The table engine under the store's operations: typed key–value tables
//! that either redb or PostgreSQL holds (issue 16).
//!
//! Every operation in [`super::ops`], [`super::query`] and the other store
//! modules reads and writes through these types instead of redb's, so one
//! implementation of each operation (its rights checks, its reads, its
//! writes) runs on both engines:
//!
//! - **redb** (the embedded default): each type wraps the redb type of the
//!   same role ([`redb::ReadOnlyTable`], [`redb::Table`], [`redb::Range`],
//!   [`redb::AccessGuard`]); nothing is copied.
//! - **PostgreSQL** ([`pg`]): each redb table is a PostgreSQL table with one
//!   typed column per key element (the key's [`KeyKind`]s, `bigint` for
//!   `u64`, `text COLLATE "C"` for strings, so PostgreSQL orders keys as
//!   redb does) and the value's redb encoding as `bytea`. A write batch is
//!   one PostgreSQL transaction (group commit, as with redb).
//!
//! The API mirrors the subset of redb's table API the store uses (`get`,
//! `range`, `iter`, `first`, `last`, `len`, `is_empty`, `insert`,
//! `remove`, `retain`), so the operations read the same on both engines.
//! Values and keys come back as [`Guard`]s whose `value()` decodes them.
//!
//! # Errors
//! Every method returns [`StoreError`]: redb's errors convert as before;
//! PostgreSQL's are classified in [`pg`] (a lost connection or a
//! serialisation failure is retryable).

pub mod pg;

use super::StoreError;
use redb::{Key, ReadableTable, ReadableTableMetadata, TableDefinition, Value};
use std::borrow::Borrow;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};

/// One element of a key, as PostgreSQL stores it (one column each).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyPart {
    /// A `u8` (PostgreSQL `smallint`).
    U8(u8),
    /// A `u32` (PostgreSQL `bigint`).
    U32(u32),
    /// A `u64` (PostgreSQL `bigint`; values above `i64::MAX` are refused
    /// on write and clamped in range bounds, see [`pg`]).
    U64(u64),
    /// A string (PostgreSQL `text COLLATE "C"`: byte order, as redb).
    Str(String),
}

/// The column type of one key element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `u8`.
    U8,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `&str`.
    Str,
}

/// A redb key type the PostgreSQL engine can store: how it splits into
/// typed columns and how a row's columns become redb's encoding again.
pub trait KvKey: Key + 'static {
    /// The column types, in key order.
    const KINDS: &'static [KeyKind];

    /// The key's elements, in [`KvKey::KINDS`] order.
    fn parts(key: &Self::SelfType<'_>) -> Vec<KeyPart>;

    /// The redb encoding of the key whose elements are `parts`, or `None`
    /// if `parts` does not match [`KvKey::KINDS`].
    fn encode(parts: &[KeyPart]) -> Option<Vec<u8>>;
}

fn bytes_of<K: Value>(v: &K::SelfType<'_>) -> Vec<u8> {
    K::as_bytes(v).as_ref().to_vec()
}

impl KvKey for u64 {
    const KINDS: &'static [KeyKind] = &[KeyKind::U64];
    fn parts(key: &u64) -> Vec<KeyPart> {
        vec![KeyPart::U64(*key)]
    }
    fn encode(parts: &[KeyPart]) -> Option<Vec<u8>> {
        match parts {
            [KeyPart::U64(a)] => Some(bytes_of::<u64>(a)),
            _ => None,
        }
    }
}

impl KvKey for &'static str {
    const KINDS: &'static [KeyKind] = &[KeyKind::Str];
    fn parts(key: &&str) -> Vec<KeyPart> {
        vec![KeyPart::Str((*key).to_owned())]
    }
    fn encode(parts: &[KeyPart]) -> Option<Vec<u8>> {
        match parts {
            [KeyPart::Str(s)] => Some(bytes_of::<&str>(&s.as_str())),
            _ => None,
        }
    }
}

impl KvKey for (u64, u64) {
    const KINDS: &'static [KeyKind] = &[KeyKind::U64, KeyKind::U64];
    fn parts(key: &(u64, u64)) -> Vec<KeyPart> {
        vec![KeyPart::U64(key.0), KeyPart::U64(key.1)]
    }
    fn encode(parts: &[KeyPart]) -> Option<Vec<u8>> {
        match parts {
            [KeyPart::U64(a), KeyPart::U64(b)] => Some(bytes_of::<(u64, u64)>(&(*a, *b))),
            _ => None,
        }
    }
}

impl KvKey for (u64, &'static str) {
    const KINDS: &'static [KeyKind] = &[KeyKind::U64, KeyKind::Str];
    fn parts(key: &(u64, &str)) -> Vec<KeyPart> {
        vec![KeyPart::U64(key.0), KeyPart::Str(key.1.to_owned())]
    }
    fn encode(parts: &[KeyPart]) -> Option<Vec<u8>> {
        match parts {
            [KeyPart::U64(a), KeyPart::Str(s)] => Some(bytes_of::<(u64, &str)>(&(*a, s.as_str()))),
            _ => None,
        }
    }
}

impl KvKey for (u64, u64, u32) {
    const KINDS: &'static [KeyKind] = &[KeyKind::U64, KeyKind::U64, KeyKind::U32];
    fn parts(key: &(u64, u64, u32)) -> Vec<KeyPart> {
        vec![
            KeyPart::U64(key.0),
            KeyPart::U64(key.1),
            KeyPart::U32(key.2),
        ]
    }
    fn encode(parts: &[KeyPart]) -> Option<Vec<u8>> {
        match parts {
            [KeyPart::U64(a), KeyPart::U64(b), KeyPart::U32(c)] => {
                Some(bytes_of::<(u64, u64, u32)>(&(*a, *b, *c)))
            }
            _ => None,
        }
    }
}

impl KvKey for (u8, u64) {
    const KINDS: &'static [KeyKind] = &[KeyKind::U8, KeyKind::U64];
    fn parts(key: &(u8, u64)) -> Vec<KeyPart> {
        vec![KeyPart::U8(key.0), KeyPart::U64(key.1)]
    }
    fn encode(parts: &[KeyPart]) -> Option<Vec<u8>> {
        match parts {
            [KeyPart::U8(a), KeyPart::U64(b)] => Some(bytes_of::<(u8, u64)>(&(*a, *b))),
            _ => None,
        }
    }
}

/// A stored key or value, decoded on [`Guard::value`]. Mirrors
/// [`redb::AccessGuard`].
pub struct Guard<'a, V: Value + 'static> {
    inner: GuardInner<'a, V>,
}

enum GuardInner<'a, V: Value + 'static> {
    Redb(redb::AccessGuard<'a, V>),
    /// The value's redb encoding, read from PostgreSQL.
    Owned(Vec<u8>),
}

impl<'a, V: Value + 'static> Guard<'a, V> {
    fn redb(g: redb::AccessGuard<'a, V>) -> Guard<'a, V> {
        Guard {
            inner: GuardInner::Redb(g),
        }
    }

    /// A guard over `bytes`, the redb encoding of a `V`.
    pub(crate) fn owned(bytes: Vec<u8>) -> Guard<'a, V> {
        Guard {
            inner: GuardInner::Owned(bytes),
        }
    }

    /// The decoded value.
    pub fn value(&self) -> V::SelfType<'_> {
        match &self.inner {
            GuardInner::Redb(g) => g.value(),
            GuardInner::Owned(b) => V::from_bytes(b),
        }
    }
}

/// One row of a range: its key and value.
pub type Row<'a, K, V> = (Guard<'a, K>, Guard<'a, V>);

/// A double-ended iterator over a key range, ascending. Mirrors
/// [`redb::Range`].
pub struct KvRange<'a, K: KvKey, V: Value + 'static> {
    inner: RangeInner<'a, K, V>,
}

// The redb variant is the one a redb store uses on every read; boxing it
// would allocate per range.
#[allow(clippy::large_enum_variant)]
enum RangeInner<'a, K: KvKey, V: Value + 'static> {
    Redb(redb::Range<'a, K, V>),
    Pg(pg::PgRange<'a>, PhantomData<(K, V)>),
}

impl<'a, K: KvKey, V: Value + 'static> KvRange<'a, K, V> {
    fn pg(r: pg::PgRange<'a>) -> KvRange<'a, K, V> {
        KvRange {
            inner: RangeInner::Pg(r, PhantomData),
        }
    }
}

fn pg_row<'a, K: KvKey, V: Value + 'static>(
    row: Result<(Vec<u8>, Vec<u8>), StoreError>,
) -> Result<Row<'a, K, V>, StoreError> {
    row.map(|(k, v)| (Guard::owned(k), Guard::owned(v)))
}

impl<'a, K: KvKey, V: Value + 'static> Iterator for KvRange<'a, K, V> {
    type Item = Result<Row<'a, K, V>, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            RangeInner::Redb(r) => r.next().map(|row| {
                row.map(|(k, v)| (Guard::redb(k), Guard::redb(v)))
                    .map_err(StoreError::from)
            }),
            RangeInner::Pg(r, _) => r.next().map(pg_row),
        }
    }
}

impl<K: KvKey, V: Value + 'static> DoubleEndedIterator for KvRange<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            RangeInner::Redb(r) => r.next_back().map(|row| {
                row.map(|(k, v)| (Guard::redb(k), Guard::redb(v)))
                    .map_err(StoreError::from)
            }),
            RangeInner::Pg(r, _) => r.next_back().map(pg_row),
        }
    }
}

/// The bounds of a key range as PostgreSQL columns.
pub type PartBounds = (Bound<Vec<KeyPart>>, Bound<Vec<KeyPart>>);

fn part_bounds<'a, K: KvKey, KR: Borrow<K::SelfType<'a>>>(
    range: &impl RangeBounds<KR>,
) -> PartBounds {
    let conv = |b: Bound<&KR>| match b {
        Bound::Included(k) => Bound::Included(K::parts(k.borrow())),
        Bound::Excluded(k) => Bound::Excluded(K::parts(k.borrow())),
        Bound::Unbounded => Bound::Unbounded,
    };
    (conv(range.start_bound()), conv(range.end_bound()))
}

/// Reads of a table, in a read or a write transaction. Mirrors redb's
/// `ReadableTable`; query helpers are generic over it.
pub trait KvRead<K: KvKey, V: Value + 'static> {
    /// The value stored under `key`.
    ///
    /// # Errors
    /// A storage failure.
    fn get<'a>(
        &self,
        key: impl Borrow<K::SelfType<'a>>,
    ) -> Result<Option<Guard<'_, V>>, StoreError>;

    /// The rows whose keys fall in `range`, ascending (and from the back
    /// with `.rev()`).
    ///
    /// # Errors
    /// A storage failure.
    fn range<'a, KR>(
        &self,
        range: impl RangeBounds<KR> + 'a,
    ) -> Result<KvRange<'_, K, V>, StoreError>
    where
        KR: Borrow<K::SelfType<'a>> + 'a;

    /// Every row, ascending.
    ///
    /// # Errors
    /// A storage failure.
    fn iter(&self) -> Result<KvRange<'_, K, V>, StoreError>;

    /// The row with the smallest key.
    ///
    /// # Errors
    /// A storage failure.
    fn first(&self) -> Result<Option<Row<'_, K, V>>, StoreError> {
        self.iter()?.next().transpose()
    }

    /// The row with the largest key.
    ///
    /// # Errors
    /// A storage failure.
    fn last(&self) -> Result<Option<Row<'_, K, V>>, StoreError> {
        self.iter()?.next_back().transpose()
    }

    /// The number of rows.
    ///
    /// # Errors
    /// A storage failure.
    fn len(&self) -> Result<u64, StoreError>;

    /// Whether the table has no row.
    ///
    /// # Errors
    /// A storage failure.
    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

/// A table opened in a read transaction.
pub struct ReadTable<'t, K: KvKey, V: Value + 'static> {
    inner: ReadInner<'t, K, V>,
}

enum ReadInner<'t, K: KvKey, V: Value + 'static> {
    Redb(redb::ReadOnlyTable<K, V>),
    Pg(pg::PgTable<'t>),
}

/// A table opened in a write transaction.
pub struct WriteTable<'t, K: KvKey, V: Value + 'static> {
    inner: WriteInner<'t, K, V>,
}

enum WriteInner<'t, K: KvKey, V: Value + 'static> {
    Redb(redb::Table<'t, K, V>),
    Pg(pg::PgTable<'t>),
}

/// The shared body of the read methods of both table kinds.
macro_rules! kv_read_impl {
    ($ty:ident, $inner:ident) => {
        impl<'t, K: KvKey, V: Value + 'static> KvRead<K, V> for $ty<'t, K, V> {
            fn get<'a>(
                &self,
                key: impl Borrow<K::SelfType<'a>>,
            ) -> Result<Option<Guard<'_, V>>, StoreError> {
                match &self.inner {
                    $inner::Redb(t) => Ok(t.get(key)?.map(Guard::redb)),
                    $inner::Pg(t) => Ok(t.get(&K::parts(key.borrow()))?.map(Guard::owned)),
                }
            }

            fn range<'a, KR>(
                &self,
                range: impl RangeBounds<KR> + 'a,
            ) -> Result<KvRange<'_, K, V>, StoreError>
            where
                KR: Borrow<K::SelfType<'a>> + 'a,
            {
                match &self.inner {
                    $inner::Redb(t) => Ok(KvRange {
                        inner: RangeInner::Redb(t.range(range)?),
                    }),
                    $inner::Pg(t) => Ok(KvRange::pg(t.range(part_bounds::<K, KR>(&range))?)),
                }
            }

            fn iter(&self) -> Result<KvRange<'_, K, V>, StoreError> {
                match &self.inner {
                    $inner::Redb(t) => Ok(KvRange {
                        inner: RangeInner::Redb(t.iter()?),
                    }),
                    $inner::Pg(t) => {
                        Ok(KvRange::pg(t.range((Bound::Unbounded, Bound::Unbounded))?))
                    }
                }
            }

            fn len(&self) -> Result<u64, StoreError> {
                match &self.inner {
                    $inner::Redb(t) => Ok(t.len()?),
                    $inner::Pg(t) => t.len(),
                }
            }
        }
    };
}

kv_read_impl!(ReadTable, ReadInner);
kv_read_impl!(WriteTable, WriteInner);

impl<'t, K: KvKey, V: Value + 'static> WriteTable<'t, K, V> {
    /// Stores `value` under `key`, returning the value it replaced.
    ///
    /// # Errors
    /// A storage failure; on PostgreSQL, a `u64` key element above
    /// `i64::MAX`.
    pub fn insert<'k, 'v>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: impl Borrow<V::SelfType<'v>>,
    ) -> Result<Option<Guard<'_, V>>, StoreError> {
        match &mut self.inner {
            WriteInner::Redb(t) => Ok(t.insert(key, value)?.map(Guard::redb)),
            WriteInner::Pg(t) => {
                let v = V::as_bytes(value.borrow());
                Ok(t.insert(&K::parts(key.borrow()), v.as_ref())?
                    .map(Guard::owned))
            }
        }
    }

    /// Removes `key`, returning its value.
    ///
    /// # Errors
    /// A storage failure.
    pub fn remove<'a>(
        &mut self,
        key: impl Borrow<K::SelfType<'a>>,
    ) -> Result<Option<Guard<'_, V>>, StoreError> {
        match &mut self.inner {
            WriteInner::Redb(t) => Ok(t.remove(key)?.map(Guard::redb)),
            WriteInner::Pg(t) => Ok(t.remove(&K::parts(key.borrow()))?.map(Guard::owned)),
        }
    }

    /// Keeps only the rows for which `keep` returns true.
    ///
    /// # Errors
    /// A storage failure.
    pub fn retain<F>(&mut self, mut keep: F) -> Result<(), StoreError>
    where
        F: for<'f> FnMut(K::SelfType<'f>, V::SelfType<'f>) -> bool,
    {
        match &mut self.inner {
            WriteInner::Redb(t) => Ok(t.retain(keep)?),
            WriteInner::Pg(t) => {
                t.retain(&mut |k: &[u8], v: &[u8]| keep(K::from_bytes(k), V::from_bytes(v)))
            }
        }
    }
}

/// A read transaction: one committed snapshot.
pub struct ReadTx {
    inner: ReadTxInner,
}

enum ReadTxInner {
    Redb(redb::ReadTransaction),
    Pg(pg::PgReadTx),
}

impl ReadTx {
    /// Wraps a redb read transaction.
    pub(crate) fn redb(txn: redb::ReadTransaction) -> ReadTx {
        ReadTx {
            inner: ReadTxInner::Redb(txn),
        }
    }

    /// Wraps a PostgreSQL read transaction.
    pub(crate) fn pg(txn: pg::PgReadTx) -> ReadTx {
        ReadTx {
            inner: ReadTxInner::Pg(txn),
        }
    }

    /// The redb transaction, for the redb-only paths (backup, integrity
    /// check); `None` on PostgreSQL.
    pub(crate) fn as_redb(&self) -> Option<&redb::ReadTransaction> {
        match &self.inner {
            ReadTxInner::Redb(t) => Some(t),
            ReadTxInner::Pg(_) => None,
        }
    }

    /// Opens `def` for reading.
    ///
    /// # Errors
    /// A storage failure (on redb, also a table that does not exist).
    pub fn open_table<K: KvKey, V: Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<ReadTable<'_, K, V>, StoreError> {
        let inner = match &self.inner {
            ReadTxInner::Redb(t) => ReadInner::Redb(t.open_table(def)?),
            ReadTxInner::Pg(t) => {
                ReadInner::Pg(t.table(redb::TableHandle::name(&def), K::KINDS, K::encode)?)
            }
        };
        Ok(ReadTable { inner })
    }

    /// Opens `def` for reading, or `None` when the redb file has no such
    /// table yet (a table the writer creates on first use). PostgreSQL
    /// creates every table up front, so there it is always `Some`.
    ///
    /// # Errors
    /// A storage failure.
    pub fn open_table_if_exists<K: KvKey, V: Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<Option<ReadTable<'_, K, V>>, StoreError> {
        match &self.inner {
            ReadTxInner::Redb(t) => match t.open_table(def) {
                Ok(t) => Ok(Some(ReadTable {
                    inner: ReadInner::Redb(t),
                })),
                Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
                Err(e) => Err(e.into()),
            },
            ReadTxInner::Pg(_) => self.open_table(def).map(Some),
        }
    }
}

/// A write transaction: one batch of the writer.
pub struct WriteTx {
    inner: WriteTxInner,
}

// One per batch; the redb variant is the one a redb store uses.
#[allow(clippy::large_enum_variant)]
enum WriteTxInner {
    Redb(redb::WriteTransaction),
    Pg(pg::PgWriteTx),
}

impl WriteTx {
    /// Wraps a redb write transaction.
    pub(crate) fn redb(txn: redb::WriteTransaction) -> WriteTx {
        WriteTx {
            inner: WriteTxInner::Redb(txn),
        }
    }

    /// Wraps a PostgreSQL write transaction.
    pub(crate) fn pg(txn: pg::PgWriteTx) -> WriteTx {
        WriteTx {
            inner: WriteTxInner::Pg(txn),
        }
    }

    /// The transaction as the writer owns it.
    pub(crate) fn into_inner(self) -> Result<redb::WriteTransaction, pg::PgWriteTx> {
        match self.inner {
            WriteTxInner::Redb(t) => Ok(t),
            WriteTxInner::Pg(t) => Err(t),
        }
    }

    /// The suffix of this engine's own rows of the server-wide counters
    /// (`META["event_count:<shard>"]`): `None` on redb (one writer, one
    /// row), the engine's shard on PostgreSQL, so nodes sharing a database
    /// do not all write one row in every batch (which would make their
    /// SERIALIZABLE batches conflict whatever rooms they touch).
    pub fn counter_shard(&self) -> Option<&str> {
        match &self.inner {
            WriteTxInner::Redb(_) => None,
            WriteTxInner::Pg(t) => Some(t.counter_shard()),
        }
    }

    /// Opens `def` for reading and writing.
    ///
    /// # Errors
    /// A storage failure.
    pub fn open_table<K: KvKey, V: Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<WriteTable<'_, K, V>, StoreError> {
        let inner = match &self.inner {
            WriteTxInner::Redb(t) => WriteInner::Redb(t.open_table(def)?),
            WriteTxInner::Pg(t) => {
                WriteInner::Pg(t.table(redb::TableHandle::name(&def), K::KINDS, K::encode)?)
            }
        };
        Ok(WriteTable { inner })
    }
}
