//! Keeping the table: its creation and the removal of expired rows.

use session_core::store::StoreError;
use sqlx::AssertSqlSafe;

use super::{now_millis, SqlStore};
use crate::dialect::{migration_sql, SqlDialect};
use crate::pool::on_pool;

impl SqlStore {
    /// Creates the table and its indexes if they do not exist; safe to call
    /// at every start and from several instances at once. The schema
    /// itself must exist. [`migration_sql`](Self::migration_sql) gives the
    /// same statements for teams that run migrations themselves.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        let statements = self.migration_sql();
        // Serialises concurrent migrations on PostgreSQL, where two
        // simultaneous CREATE TABLE IF NOT EXISTS can still collide.
        let lock_key = advisory_key(&statements[0]);
        let postgres = inner.dialect == SqlDialect::Postgres;
        inner
            .run(|| async {
                on_pool!(&inner.pool, p => {
                    let mut tx = p.begin().await?;
                    if postgres {
                        sqlx::query("SELECT pg_advisory_xact_lock($1)")
                            .bind(lock_key)
                            .execute(&mut *tx)
                            .await?;
                    }
                    for statement in &statements {
                        sqlx::raw_sql(AssertSqlSafe(statement.clone())).execute(&mut *tx).await?;
                    }
                    tx.commit().await
                })
            })
            .await?;
        tracing::debug!(table = ?inner.table, dialect = %inner.dialect, "session table ready");
        Ok(())
    }

    /// The statements that [`migrate`](Self::migrate) runs, for this store's
    /// database, table and schema.
    pub fn migration_sql(&self) -> Vec<String> {
        migration_sql(self.inner.dialect, &self.inner.table)
    }

    /// Removes every expired row now, in batches; answers how many. The
    /// cleanup task does this periodically. Ended leases of the session
    /// locks go too (not counted).
    pub async fn remove_expired(&self) -> Result<u64, StoreError> {
        let now = now_millis();
        let mut total = 0;
        loop {
            let removed = self.inner.delete_expired_batch(now).await?;
            total += removed;
            if removed < u64::from(self.inner.cleanup_batch) {
                // And the ended leases of the session locks.
                self.inner.delete_ended_leases(now).await;
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }

    /// Removes at most one batch ([`SqlStoreBuilder::cleanup_batch`] rows) of
    /// expired rows; answers how many. For a scheduled job that paces the
    /// cleanup itself: a short answer means the backlog is gone.
    ///
    /// [`SqlStoreBuilder::cleanup_batch`]: crate::SqlStoreBuilder::cleanup_batch
    pub async fn remove_expired_batch(&self) -> Result<u64, StoreError> {
        self.inner.delete_expired_batch(now_millis()).await
    }
}

/// A stable 64-bit key for `pg_advisory_xact_lock`, from the table's DDL
/// (FNV-1a: tiny, and stable across builds unlike `DefaultHasher`).
fn advisory_key(text: &str) -> i64 {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    i64::from_ne_bytes(hash.to_ne_bytes())
}
