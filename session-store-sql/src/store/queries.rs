//! The statements behind the per-session operations: each binds a
//! record's columns (or an id) and runs under the store's command timeout.

use std::future::Future;

use session_core::store::{ExpiredSession, ExpirySource, Record, StoreError};
use session_core::SessionId;

use super::{sql, Inner};
use crate::dialect::Sql;
use crate::error::{from_sqlx, is_deadlock, is_unique_violation};
use crate::pool::on_pool;
use sqlx::AssertSqlSafe;

/// How many times a call that the database rolled back as a deadlock
/// victim runs again.
const DEADLOCK_RETRIES: u32 = 3;

/// A row as the store reads it: `id, data, created_at, idle_expires_at,
/// absolute_expires_at, version, owner`.
pub(crate) type RecordRow = (String, Vec<u8>, i64, i64, i64, i64, Option<String>);

/// A record's columns, converted once for binding.
pub(super) struct Params<'a> {
    pub(super) id: &'a str,
    pub(super) data: &'a [u8],
    pub(super) created: i64,
    pub(super) idle: i64,
    pub(super) absolute: i64,
    pub(super) expires: i64,
    pub(super) version: i64,
    pub(super) owner: Option<&'a str>,
}

impl<'a> Params<'a> {
    pub(super) fn of(record: &'a Record) -> Result<Self, StoreError> {
        Ok(Params {
            id: record.id.as_str(),
            data: &record.data,
            created: Record::millis(record.created_at),
            idle: Record::millis(record.idle_expires_at),
            absolute: Record::millis(record.absolute_expires_at),
            expires: Record::millis(record.expires_at()),
            version: i64::try_from(record.version).map_err(|_| {
                StoreError::Malformed(format!("version {} exceeds BIGINT", record.version))
            })?,
            owner: record.owner.as_deref(),
        })
    }
}

pub(super) fn into_record(row: RecordRow) -> Result<Record, StoreError> {
    let (id, data, created, idle, absolute, version, owner) = row;
    Ok(Record::new(
        parse_id(id)?,
        data,
        Record::from_millis(created),
        Record::from_millis(idle),
        Record::from_millis(absolute),
    )
    .with_version(
        u64::try_from(version)
            .map_err(|_| StoreError::Malformed(format!("negative version {version}")))?,
    )
    .with_owner(owner))
}

fn parse_id(id: String) -> Result<SessionId, StoreError> {
    SessionId::parse(&id).map_err(|_| StoreError::Malformed(format!("invalid session id {id:?}")))
}

impl Inner {
    /// Runs one database call under the statement timeout, keeping the
    /// driver's error for callers that look at it.
    ///
    /// A call that the database rolled back as a deadlock victim or a
    /// serialization failure changed nothing, and runs again (up to
    /// `DEADLOCK_RETRIES` times, each attempt under the timeout): InnoDB
    /// can pick a single statement that scanned a secondary index while a
    /// rotation held the row it wanted.
    pub(super) async fn timed<T, F>(
        &self,
        call: impl Fn() -> F,
    ) -> Result<Result<T, sqlx::Error>, StoreError>
    where
        F: Future<Output = Result<T, sqlx::Error>>,
    {
        let mut attempt = 0;
        loop {
            let result = tokio::time::timeout(self.command_timeout, call())
                .await
                .map_err(|_| StoreError::Timeout(self.command_timeout))?;
            match result {
                Err(e) if attempt < DEADLOCK_RETRIES && is_deadlock(&e) => {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "rolled back by the database; running again");
                }
                other => return Ok(other),
            }
        }
    }

    /// Runs one database call under the statement timeout.
    pub(crate) async fn run<T, F>(&self, call: impl Fn() -> F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, sqlx::Error>>,
    {
        self.timed(call)
            .await?
            .map_err(|e| from_sqlx(e, self.pool.acquire_timeout()))
    }

    pub(super) async fn execute_id_now(
        &self,
        text: &Sql,
        id: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        self.run(|| async {
            on_pool!(&self.pool, p => sqlx::query(sql(text))
                .bind(id)
                .bind(now)
                .execute(p)
                .await
                .map(|r| r.rows_affected()))
        })
        .await
    }

    /// The plain insert; MySQL only (see `Statements::create`).
    pub(super) async fn insert(
        &self,
        r: &Params<'_>,
    ) -> Result<Result<u64, sqlx::Error>, StoreError> {
        self.timed(|| async {
            on_pool!(&self.pool, p => sqlx::query(sql(&self.sql.create))
                .bind(r.id)
                .bind(r.data)
                .bind(r.created)
                .bind(r.idle)
                .bind(r.absolute)
                .bind(r.expires)
                .bind(r.version)
                .bind(r.owner)
                .execute(p)
                .await
                .map(|r| r.rows_affected()))
        })
        .await
    }

    /// Inserts, replacing an expired row with the same id; answers whether
    /// the row went in (false: a live row holds the id).
    pub(super) async fn upsert_if_expired(
        &self,
        r: &Params<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let affected: u64 = self
            .run(|| async {
                on_pool!(&self.pool, p => sqlx::query(sql(&self.sql.create))
                    .bind(r.id)
                    .bind(r.data)
                    .bind(r.created)
                    .bind(r.idle)
                    .bind(r.absolute)
                    .bind(r.expires)
                    .bind(r.version)
                    .bind(r.owner)
                    .bind(now)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected()))
            })
            .await?;
        Ok(affected > 0)
    }

    /// MySQL: insert; on a duplicate id, purge the row if it has expired and
    /// insert once more.
    pub(super) async fn insert_or_replace_expired(
        &self,
        r: &Params<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let acquire = self.pool.acquire_timeout();
        match self.insert(r).await? {
            Ok(_) => return Ok(true),
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(from_sqlx(e, acquire)),
        }
        if self
            .execute_id_now(&self.sql.purge_expired_id, r.id, now)
            .await?
            == 0
        {
            return Ok(false);
        }
        match self.insert(r).await? {
            Ok(_) => Ok(true),
            // Another create took the id between the purge and the insert.
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(from_sqlx(e, acquire)),
        }
    }

    pub(super) async fn update(
        &self,
        r: &Params<'_>,
        expected: Option<i64>,
        now: i64,
    ) -> Result<u64, StoreError> {
        let text = match expected {
            Some(_) => &self.sql.save_versioned,
            None => &self.sql.save,
        };
        self.run(|| async {
            on_pool!(&self.pool, p => {
                let query = sqlx::query(sql(text))
                    .bind(r.data)
                    .bind(r.created)
                    .bind(r.idle)
                    .bind(r.absolute)
                    .bind(r.expires)
                    .bind(r.version)
                    .bind(r.owner)
                    .bind(r.id)
                    .bind(now);
                let query = match expected {
                    Some(version) => query.bind(version),
                    None => query,
                };
                query.execute(p).await.map(|r| r.rows_affected())
            })
        })
        .await
    }

    pub(super) async fn live_version(&self, id: &str, now: i64) -> Result<Option<i64>, StoreError> {
        self.run(|| async {
            on_pool!(&self.pool, p => sqlx::query_scalar::<_, i64>(sql(&self.sql.version_of))
                .bind(id)
                .bind(now)
                .fetch_optional(p)
                .await)
        })
        .await
    }

    pub(super) async fn fetch_live(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<RecordRow>, StoreError> {
        self.run(|| async {
            on_pool!(&self.pool, p => sqlx::query_as::<_, RecordRow>(sql(&self.sql.load))
                .bind(id)
                .bind(now)
                .fetch_optional(p)
                .await)
        })
        .await
    }

    /// Moves the idle expiry; with `returning`, in the same statement reads
    /// the row back.
    pub(super) async fn touch_returning(
        &self,
        text: &Sql,
        id: &str,
        idle: i64,
        now: i64,
    ) -> Result<Option<RecordRow>, StoreError> {
        self.run(|| async {
            on_pool!(&self.pool, p => sqlx::query_as::<_, RecordRow>(sql(text))
                .bind(idle)
                .bind(idle)
                .bind(id)
                .bind(now)
                .fetch_optional(p)
                .await)
        })
        .await
    }

    pub(super) async fn touch(&self, id: &str, idle: i64, now: i64) -> Result<bool, StoreError> {
        let affected: u64 = self
            .run(|| async {
                on_pool!(&self.pool, p => sqlx::query(sql(&self.sql.touch))
                    .bind(idle)
                    .bind(idle)
                    .bind(id)
                    .bind(now)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected()))
            })
            .await?;
        Ok(affected > 0)
    }

    pub(super) async fn ids(
        &self,
        text: &Sql,
        owner: Option<&str>,
        now: i64,
    ) -> Result<Vec<SessionId>, StoreError> {
        let rows: Vec<String> = self
            .run(|| async {
                on_pool!(&self.pool, p => {
                    let query = sqlx::query_scalar::<_, String>(sql(text));
                    let query = match owner {
                        Some(owner) => query.bind(owner),
                        None => query,
                    };
                    query.bind(now).fetch_all(p).await
                })
            })
            .await?;
        rows.into_iter().map(parse_id).collect()
    }

    /// The owner's live records, in one statement on the owner index.
    pub(super) async fn records_by_owner(
        &self,
        owner: &str,
        now: i64,
    ) -> Result<Vec<Record>, StoreError> {
        let rows: Vec<RecordRow> = self
            .run(|| async {
                on_pool!(&self.pool, p => sqlx::query_as::<_, RecordRow>(sql(&self.sql.records_by_owner))
                    .bind(owner)
                    .bind(now)
                    .fetch_all(p)
                    .await)
            })
            .await?;
        rows.into_iter().map(into_record).collect()
    }

    pub(super) async fn delete_version(&self, id: &str, version: i64) -> Result<u64, StoreError> {
        self.run(|| async {
            on_pool!(&self.pool, p => sqlx::query(sql(&self.sql.delete_version))
                .bind(id)
                .bind(version)
                .execute(p)
                .await
                .map(|r| r.rows_affected()))
        })
        .await
    }

    /// Removes up to one batch of expired rows and reports each to the
    /// expiry sink; answers how many went. One statement on PostgreSQL and
    /// SQLite; on MySQL a select `FOR UPDATE` and a delete of what it
    /// found, in one transaction, so a row is reported only by the cleanup
    /// that removed it, even with several processes cleaning at once.
    pub(crate) async fn delete_expired_batch(&self, now: i64) -> Result<u64, StoreError> {
        let limit = i64::from(self.cleanup_batch);
        let rows: Vec<(String, Option<String>)> = self
            .run(|| async {
                on_pool!(&self.pool, p => {
                    let mut tx = p.begin().await?;
                    let rows: Vec<(String, Option<String>)> =
                        sqlx::query_as(sql(&self.sql.delete_expired_batch))
                            .bind(now)
                            .bind(limit)
                            .fetch_all(&mut *tx)
                            .await?;
                    if let (Some(delete), false) = (&self.sql.delete_expired_ids, rows.is_empty()) {
                        let list = vec!["?"; rows.len()].join(", ");
                        let text = AssertSqlSafe(format!("{delete}({list})"));
                        let mut query = sqlx::query(text).bind(now);
                        for (id, _) in &rows {
                            query = query.bind(id);
                        }
                        query.execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(rows)
                })
            })
            .await?;
        let removed = u64::try_from(rows.len()).unwrap_or(u64::MAX);
        for (id, owner) in rows {
            match parse_id(id) {
                Ok(id) => {
                    self.expiry_sink
                        .report(&ExpiredSession::new(id, owner, ExpirySource::Cleanup))
                }
                // Not a session this library wrote; removed all the same.
                Err(error) => tracing::warn!(%error, "expired row with a malformed id removed"),
            }
        }
        Ok(removed)
    }
}
