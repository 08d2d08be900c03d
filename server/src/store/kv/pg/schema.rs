//! The PostgreSQL schema of the table layer: one PostgreSQL table per redb
//! table of [`crate::store::tables`], with one typed column per key element
//! (`k1`, `k2`, `k3`) and the value's redb encoding in `v`.
//!
//! The tables are created by refinery migrations embedded from
//! `server/migrations/` (`V<n>__<name>.sql`, applied once each in order,
//! recorded in refinery's `refinery_schema_history`). Every node runs them
//! when it opens the store; a session-level advisory lock makes nodes that
//! start together take turns. The unit tests below fail when a table of
//! [`crate::store::tables`] has no matching `CREATE TABLE` in the
//! migrations, so the two cannot drift apart.

use super::super::{KeyKind, KvKey};
use crate::store::StoreError;
use crate::store::tables::*;
use redb::{TableDefinition, TableHandle, Value};
use std::sync::OnceLock;

/// The migrations of `server/migrations/`, embedded at build time.
#[allow(missing_docs)]
mod embedded {
    refinery::embed_migrations!("migrations");
}
use embedded::migrations;

/// The advisory lock key the migrations hold: "chatd" in ASCII, so other
/// users of the database can see whose lock it is.
const MIGRATION_LOCK: i64 = 0x0063_6861_7464;

/// One table of the schema: its name (the redb table's) and key columns.
#[derive(Debug)]
pub struct TableSpec {
    /// The table's name, in redb and in PostgreSQL.
    pub name: String,
    /// The key columns' types, `k1` first.
    pub kinds: &'static [KeyKind],
}

fn spec<K: KvKey, V: Value + 'static>(def: &TableDefinition<'static, K, V>) -> TableSpec {
    TableSpec {
        name: def.name().to_owned(),
        kinds: K::KINDS,
    }
}

macro_rules! specs_of {
    ($($t:ident),*) => {
        vec![$(spec(&$t)),*]
    };
}

/// Every table of the store, from [`crate::store::tables::all_tables`].
pub fn tables() -> &'static [TableSpec] {
    static TABLES: OnceLock<Vec<TableSpec>> = OnceLock::new();
    TABLES.get_or_init(|| all_tables!(specs_of))
}

/// The table named `name`, or `None` if the store has no such table.
pub fn table(name: &str) -> Option<&'static TableSpec> {
    tables().iter().find(|t| t.name == name)
}

/// The SQL type of a key column.
fn column_type(kind: KeyKind, column: &str) -> String {
    match kind {
        KeyKind::U8 => format!("smallint NOT NULL CHECK ({column} BETWEEN 0 AND 255)"),
        KeyKind::U32 => format!("bigint NOT NULL CHECK ({column} BETWEEN 0 AND 4294967295)"),
        KeyKind::U64 => format!("bigint NOT NULL CHECK ({column} >= 0)"),
        KeyKind::Str => "text COLLATE \"C\" NOT NULL".to_string(),
    }
}

/// The `CREATE TABLE` statement of `spec`, exactly as the migrations hold
/// it.
pub fn create_statement(spec: &TableSpec) -> String {
    let mut sql = format!("CREATE TABLE {} (\n", spec.name);
    let mut keys = Vec::new();
    for (i, kind) in spec.kinds.iter().enumerate() {
        let column = format!("k{}", i + 1);
        sql.push_str(&format!("    {column} {},\n", column_type(*kind, &column)));
        keys.push(column);
    }
    sql.push_str("    v bytea NOT NULL,\n");
    sql.push_str(&format!("    PRIMARY KEY ({})\n);\n", keys.join(", ")));
    sql
}

/// Applies the migrations not yet applied, on a connection of its own.
///
/// # Errors
/// [`StoreError::Unavailable`] when the database cannot be reached;
/// [`StoreError::Open`] when a migration fails or the database holds a
/// migration this build does not know.
pub(super) async fn migrate(
    config: &tokio_postgres::Config,
    shown: &str,
) -> Result<(), StoreError> {
    let (mut client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| super::open_error(shown, &e))?;
    let driver = tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "the PostgreSQL migration connection failed");
        }
    });
    let result = async {
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(|e| super::open_error(shown, &e))?;
        let report = migrations::runner()
            .run_async(&mut client)
            .await
            .map_err(|e| StoreError::Open {
                path: shown.to_string(),
                cause: format!(
                    "cannot bring the PostgreSQL schema up to date ({e}); check that the \
                     database user may create tables and that no newer chatd migrated this \
                     database"
                ),
            });
        // Dropping the connection releases the lock too; unlocking first
        // lets the next node go on without waiting for the socket to close.
        let _ = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await;
        for applied in report?.applied_migrations() {
            tracing::info!(migration = %applied, "PostgreSQL schema migration applied");
        }
        Ok(())
    }
    .await;
    drop(client);
    let _ = driver.await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every migration's SQL, in order.
    fn migration_sql() -> String {
        migrations::runner()
            .get_migrations()
            .iter()
            .filter_map(|m| m.sql().map(str::to_owned))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn every_table_has_its_postgresql_table() {
        let sql = migration_sql();
        let missing: Vec<String> = tables()
            .iter()
            .map(create_statement)
            .filter(|stmt| !sql.contains(stmt.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "tables of store::tables without this CREATE TABLE in server/migrations/ \
             (add a migration holding it):\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn the_migrations_create_no_other_table() {
        let sql = migration_sql();
        let created = sql.matches("CREATE TABLE").count();
        assert_eq!(created, tables().len(), "one CREATE TABLE per store table");
    }

    #[test]
    fn every_table_definition_is_in_all_tables() {
        // The source of tables.rs: every TableDefinition::new names a
        // table that `tables()` (all_tables!) lists.
        let src = include_str!("../../tables.rs");
        for piece in src.split("TableDefinition::new(\"").skip(1) {
            let name = piece.split('"').next().unwrap_or_default();
            assert!(table(name).is_some(), "table {name} is not in all_tables!");
        }
    }
}
