//! Consistent copies of the database for backups, and the check of a
//! restored copy.
//!
//! A redb read transaction is a snapshot of the last commit: copying every
//! table (the list in [`super::tables::all_tables`]) from one read
//! transaction into a fresh redb file gives a database exactly as it was at
//! that commit, while the writer goes on committing. The archive around the
//! copy (manifest, blobs) is `crate::backup`'s; this module is the only
//! part of the backup that touches redb.

use super::StoreError;
use super::kv::ReadTx;
use super::tables::{self, BLOB_REFS, META, all_tables, meta};
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableError,
    TableHandle,
};
use std::collections::BTreeMap;
use std::path::Path;

/// What a snapshot holds: rows per table and the blobs it names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotFacts {
    /// Rows per table name, for every table of [`super::tables`].
    pub rows: BTreeMap<String, u64>,
    /// Content hashes (BLAKE3 hex) with a positive reference count: the
    /// blobs the snapshot's attachment records need.
    pub blobs: Vec<String>,
    /// The storage layout version of the copy ([`tables::SCHEMA_VERSION`]).
    pub schema_version: u64,
    /// Room events stored, across all rooms.
    pub events: u64,
}

/// Copies every table of `src` into a new redb file at `dest` (which must
/// not exist), in one write transaction, and returns what it holds.
/// Blocking: run it on the blocking pool.
///
/// # Errors
/// [`StoreError`] from redb, reading or writing; [`StoreError::Unavailable`]
/// when the store runs on PostgreSQL (this copies redb files only).
pub fn copy_to(src: &ReadTx, dest: &Path) -> Result<SnapshotFacts, StoreError> {
    let src = src.as_redb().ok_or_else(|| {
        StoreError::Unavailable(
            "this backup copies a redb database; on PostgreSQL, back up with pg_dump".into(),
        )
    })?;
    let mut db = Database::builder()
        .create(dest)
        .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", dest.display())))?;
    let txn = db.begin_write()?;
    let mut facts = SnapshotFacts::default();
    macro_rules! copy {
        ($($t:ident),*) => {$(
            {
                let mut out = txn.open_table(tables::$t)?;
                let mut n = 0u64;
                match src.open_table(tables::$t) {
                    Ok(table) => {
                        for row in table.iter()? {
                            let (k, v) = row?;
                            out.insert(k.value(), v.value())?;
                            n += 1;
                        }
                    }
                    // A table the running store never opened is empty.
                    Err(TableError::TableDoesNotExist(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                facts.rows.insert(tables::$t.name().to_owned(), n);
            }
        )*};
    }
    all_tables!(copy);
    txn.commit()?;
    // Written in one transaction, the copy has free pages left over from
    // growing; compacting returns them, so the archive is smaller.
    db.compact()
        .map_err(|e| StoreError::Redb(format!("cannot compact the copy: {e}")))?;
    let read = db.begin_read()?;
    facts_of(&read, &mut facts)?;
    Ok(facts)
}

/// Fills the blob list, schema version and event count of `facts` from
/// `txn`.
fn facts_of(txn: &ReadTransaction, facts: &mut SnapshotFacts) -> Result<(), StoreError> {
    let refs = txn.open_table(BLOB_REFS)?;
    for row in refs.iter()? {
        let (hash, count) = row?;
        if count.value() > 0 {
            facts.blobs.push(hash.value().to_owned());
        }
    }
    let m = txn.open_table(META)?;
    let get = |name: &str| -> Result<u64, StoreError> {
        Ok(m.get(name)?.map(|v| v.value()).unwrap_or(0))
    };
    facts.schema_version = get(meta::SCHEMA_VERSION)?;
    facts.events = get(meta::EVENT_COUNT)?;
    Ok(())
}

/// Opens the redb file at `path` (a restored copy), runs redb's integrity
/// check, and counts what it holds, so a restore can compare it with the
/// backup's manifest. Blocking.
///
/// # Errors
/// [`StoreError::Damaged`] when the file is not a sound redb database,
/// [`StoreError::Corrupt`] when its layout version is not this build's.
pub fn inspect(path: &Path) -> Result<SnapshotFacts, StoreError> {
    let damaged = |cause: String| StoreError::Damaged {
        path: path.display().to_string(),
        cause,
    };
    let mut db = Database::open(path).map_err(|e| damaged(e.to_string()))?;
    match db.check_integrity() {
        Ok(true) => {}
        Ok(false) => return Err(damaged("pages failed their checksums".into())),
        Err(e) => return Err(damaged(e.to_string())),
    }
    let txn = db.begin_read()?;
    let mut facts = SnapshotFacts::default();
    macro_rules! count {
        ($($t:ident),*) => {$(
            {
                let n = match txn.open_table(tables::$t) {
                    Ok(table) => table.len()?,
                    Err(TableError::TableDoesNotExist(_)) => 0,
                    Err(e) => return Err(e.into()),
                };
                facts.rows.insert(tables::$t.name().to_owned(), n);
            }
        )*};
    }
    all_tables!(count);
    facts_of(&txn, &mut facts)?;
    if facts.schema_version != tables::SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "the database has storage layout version {}, this chatd writes {}; restore it with \
             the chatd release that took the backup",
            facts.schema_version,
            tables::SCHEMA_VERSION
        )));
    }
    Ok(facts)
}

/// The names of the tables a backup copies, in [`all_tables`] order.
pub fn table_names() -> Vec<&'static str> {
    let mut names = Vec::new();
    macro_rules! name {
        ($($t:ident),*) => {$( names.push(tables::$t.name()); )*};
    }
    all_tables!(name);
    names
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every `TableDefinition::new("name")` in `tables.rs`, read from its
    /// source text, so a table added there but not to `all_tables!` (and so
    /// missing from backups) fails this test.
    fn defined_in_source() -> BTreeSet<String> {
        let src = include_str!("tables.rs");
        src.split("TableDefinition::new(\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_table_is_in_the_backup() {
        let listed: BTreeSet<String> = table_names().into_iter().map(str::to_owned).collect();
        assert_eq!(
            listed,
            defined_in_source(),
            "store::tables defines a table that all_tables! (and so the backup) leaves out, or \
             the other way round; add it to all_tables! in store/tables.rs"
        );
        assert_eq!(listed.len(), table_names().len(), "a table is listed twice");
    }

    #[test]
    fn a_running_store_has_no_table_the_backup_misses() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open(&dir.path().join("chat.redb")).unwrap();
        let listed: BTreeSet<String> = table_names().into_iter().map(str::to_owned).collect();
        let present: BTreeSet<String> = store
            .read_blocking(|txn| {
                Ok(txn
                    .as_redb()
                    .expect("a redb store")
                    .list_tables()?
                    .map(|t| t.name().to_owned())
                    .collect::<BTreeSet<_>>())
            })
            .unwrap();
        let missing: Vec<_> = present.difference(&listed).collect();
        assert!(
            missing.is_empty(),
            "tables in the database that backups do not copy: {missing:?}"
        );
    }

    #[test]
    fn a_copy_holds_every_row_and_passes_inspection() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Store::open(&dir.path().join("chat.redb")).unwrap();
        let dest = dir.path().join("copy.redb");
        let dest2 = dest.clone();
        let facts = store
            .read_blocking(move |txn| copy_to(txn, &dest2))
            .unwrap();
        assert_eq!(facts.schema_version, tables::SCHEMA_VERSION);
        assert_eq!(facts.rows.len(), table_names().len());
        let again = inspect(&dest).unwrap();
        assert_eq!(again, facts);
    }
}
