//! The PostgreSQL schema: refinery migrations embedded from
//! `server/migrations/` (`V<n>__<name>.sql`, applied in order once each,
//! recorded in refinery's `refinery_schema_history` table).
//!
//! Every node runs the migrations when it opens the log; a session-level
//! advisory lock makes concurrent starts take turns, so two nodes starting
//! together do not both try to create the tables.

use super::PgError;

refinery::embed_migrations!("migrations");

/// The advisory lock key the migrations hold: "chatd" in ASCII, so other
/// users of the database can see whose lock it is.
const MIGRATION_LOCK: i64 = 0x0063_6861_7464;

/// Applies the migrations not yet applied, on a connection of its own.
///
/// # Errors
/// [`PgError::Unavailable`] when the database cannot be reached;
/// [`PgError::Migrate`] when a migration fails or the database holds a
/// migration this build does not know.
pub(super) async fn migrate(config: &tokio_postgres::Config) -> Result<(), PgError> {
    let (mut client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| PgError::from_pg(&e, "connecting to migrate the schema"))?;
    let driver = tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "the PostgreSQL migration connection failed");
        }
    });
    let result = async {
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(|e| PgError::from_pg(&e, "waiting for the migration lock"))?;
        let report = migrations::runner()
            .run_async(&mut client)
            .await
            .map_err(|e| PgError::Migrate(e.to_string()));
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
