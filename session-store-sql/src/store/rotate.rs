//! Rotation: a record moves to its new id in one atomic database
//! operation, only if the old id still holds a live row (at the expected
//! version when given).

use session_core::store::{Record, StoreError};
use session_core::SessionId;

use super::queries::Params;
use super::{now_millis, sql, Inner, SqlStore};
use crate::dialect::SqlDialect;
use crate::error::{from_sqlx, is_unique_violation};
use crate::pool::on_pool;

/// How a rotation ended in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rotation {
    /// The record is at its new id; the old row is gone.
    Moved,
    /// No live row at the old id.
    Missing,
    /// The old row is live at another version than the expected one.
    Stale,
    /// A live row holds the new id.
    Taken,
    /// Nothing moved, and the statement could not say why (PostgreSQL):
    /// ask the table.
    Unknown,
}

impl Inner {
    /// PostgreSQL: the rotation as one statement (`Statements::rotate`). A
    /// unique violation on the new id rolled the whole statement back: a
    /// live row there is `Taken`; an expired one is purged and the
    /// statement runs once more.
    async fn rotate_statement(
        &self,
        from: &str,
        r: &Params<'_>,
        expected: Option<i64>,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let text = match expected {
            Some(_) => self.sql.rotate_versioned.as_ref(),
            None => self.sql.rotate.as_ref(),
        };
        let Some(text) = text else {
            return Err(StoreError::Malformed(format!(
                "no one-statement rotation in {}",
                self.dialect
            )));
        };
        let acquire = self.pool.acquire_timeout();
        for attempt in 0..2 {
            let result = self
                .timed(|| async {
                    on_pool!(&self.pool, p => {
                        let query = sqlx::query(sql(text))
                            .bind(r.id)
                            .bind(r.data)
                            .bind(r.created)
                            .bind(r.idle)
                            .bind(r.absolute)
                            .bind(r.expires)
                            .bind(r.version)
                            .bind(r.owner)
                            .bind(from)
                            .bind(now);
                        let query = match expected {
                            Some(version) => query.bind(version),
                            None => query,
                        };
                        query.execute(p).await.map(|r| r.rows_affected())
                    })
                })
                .await?;
            match result {
                Ok(0) => return Ok(Rotation::Unknown),
                Ok(_) => return Ok(Rotation::Moved),
                Err(e) if is_unique_violation(&e) => {
                    if attempt > 0 || self.live_version(r.id, now).await?.is_some() {
                        return Ok(Rotation::Taken);
                    }
                    self.execute_id_now(&self.sql.purge_expired_id, r.id, now)
                        .await?;
                }
                Err(e) => return Err(from_sqlx(e, acquire)),
            }
        }
        Ok(Rotation::Taken)
    }

    /// MySQL and SQLite: the rotation as one transaction. The old row is
    /// read and locked first (`FOR UPDATE`; SQLite's `BEGIN IMMEDIATE` holds
    /// the write lock), so a save, a delete or another rotation of it waits
    /// for this one or has happened before; then the new row goes in (an
    /// expired row in its way is replaced) and the old one goes. Every
    /// refusal rolls back, leaving the old row in place.
    async fn rotate_transaction(
        &self,
        from: &str,
        r: &Params<'_>,
        expected: Option<i64>,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let mysql = self.dialect == SqlDialect::MySql;
        self.run(|| async {
            on_pool!(&self.pool, p => {
                let mut tx = match &self.sql.begin_rotation {
                    Some(begin) => p.begin_with(sql(begin)).await?,
                    None => p.begin().await?,
                };
                let version: Option<i64> = sqlx::query_scalar(sql(&self.sql.lock_version))
                    .bind(from)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                let refusal = match (version, expected) {
                    (None, _) => Some(Rotation::Missing),
                    (Some(current), Some(expected)) if current != expected => {
                        Some(Rotation::Stale)
                    }
                    _ => None,
                };
                if let Some(refusal) = refusal {
                    tx.rollback().await?;
                    return Ok(refusal);
                }
                let insert = || {
                    sqlx::query(sql(&self.sql.create))
                        .bind(r.id)
                        .bind(r.data)
                        .bind(r.created)
                        .bind(r.idle)
                        .bind(r.absolute)
                        .bind(r.expires)
                        .bind(r.version)
                        .bind(r.owner)
                };
                let inserted = if mysql {
                    // A plain insert (see `Statements::create`): on a
                    // duplicate, replace the row only if it has expired.
                    // InnoDB undoes the failed statement alone.
                    match insert().execute(&mut *tx).await {
                        Ok(_) => true,
                        Err(e) if is_unique_violation(&e) => {
                            let purged = sqlx::query(sql(&self.sql.purge_expired_id))
                                .bind(r.id)
                                .bind(now)
                                .execute(&mut *tx)
                                .await?
                                .rows_affected();
                            if purged == 0 {
                                false
                            } else {
                                match insert().execute(&mut *tx).await {
                                    Ok(_) => true,
                                    Err(e) if is_unique_violation(&e) => false,
                                    Err(e) => return Err(e),
                                }
                            }
                        }
                        Err(e) => return Err(e),
                    }
                } else {
                    // The upsert that replaces only an expired row.
                    insert().bind(now).execute(&mut *tx).await?.rows_affected() > 0
                };
                if !inserted {
                    tx.rollback().await?;
                    return Ok(Rotation::Taken);
                }
                sqlx::query(sql(&self.sql.delete))
                    .bind(from)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Rotation::Moved)
            })
        })
        .await
    }
}

impl SqlStore {
    /// One atomic database operation: on PostgreSQL one statement (a
    /// data-modifying CTE), on MySQL/MariaDB and SQLite one transaction
    /// that locks the old row first. Nothing changes unless the record
    /// moves.
    pub(super) async fn rotate_record(
        &self,
        from: &SessionId,
        record: &Record,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let inner = &self.inner;
        let params = Params::of(record)?;
        let now = now_millis();
        let expected = match expected_version.map(i64::try_from) {
            None => None,
            Some(Ok(version)) => Some(version),
            // No stored version can be that large: nothing can move.
            Some(Err(_)) => {
                return Err(self.missing_or_conflict(from, expected_version, now).await)
            }
        };
        let outcome = match inner.dialect {
            SqlDialect::Postgres => {
                inner
                    .rotate_statement(from.as_str(), &params, expected, now)
                    .await?
            }
            SqlDialect::MySql | SqlDialect::Sqlite => {
                inner
                    .rotate_transaction(from.as_str(), &params, expected, now)
                    .await?
            }
        };
        match (outcome, expected_version) {
            (Rotation::Moved, _) => Ok(()),
            (Rotation::Taken, _) => Err(StoreError::AlreadyExists),
            (Rotation::Stale, Some(expected)) => Err(StoreError::Conflict { expected }),
            (Rotation::Missing | Rotation::Stale, _) => Err(StoreError::NotFound),
            // The statement matched no row: the old row is gone, or (with
            // an expected version) at another one. Whichever the table
            // shows now; nothing was written either way.
            (Rotation::Unknown, _) => {
                Err(self.missing_or_conflict(from, expected_version, now).await)
            }
        }
    }
}
