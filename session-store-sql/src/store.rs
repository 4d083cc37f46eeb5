//! The store: construction, the [`SessionStore`] implementation, migration
//! and expired-row removal.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use session_core::time::OffsetDateTime;
use session_core::{
    store::{Record, RecordPredicate, SessionLocks, SessionStore, StoreError},
    SessionId,
};
use sqlx::AssertSqlSafe;

use crate::cleanup;
use crate::dialect::{migration_sql, Sql, SqlDialect, Statements};
use crate::error::{from_sqlx, is_deadlock, is_unique_violation};
use crate::ident::TableRef;
use crate::lock_queries::LockStatements;
use crate::pool::{connect, on_pool, PoolSettings, SqlPool};

/// How many times a call that the database rolled back as a deadlock
/// victim runs again.
const DEADLOCK_RETRIES: u32 = 3;

/// Rows read per round trip when [`SessionStore::delete_where`] scans.
const SCAN_PAGE: i64 = 500;

/// A row as the store reads it: `id, data, created_at, idle_expires_at,
/// absolute_expires_at, version, owner`.
pub(crate) type RecordRow = (String, Vec<u8>, i64, i64, i64, i64, Option<String>);

/// A session store in a PostgreSQL, MySQL/MariaDB or SQLite table.
///
/// Cloning shares the pool and the cleanup task; the task stops when the
/// last clone is dropped. See the [crate documentation](crate) for the
/// table layout and the cleanup.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) pool: SqlPool,
    pub(crate) dialect: SqlDialect,
    table: TableRef,
    sql: Statements,
    /// The session locks' statements (see `lock.rs`).
    pub(crate) lock_sql: LockStatements,
    statement_timeout: Duration,
    pub(crate) cleanup_batch: u32,
}

/// Builds a [`SqlStore`]: table, cleanup and timeouts, then either
/// [`connect`](Self::connect) to a URL or [`build`](Self::build) on a pool
/// that the application made.
#[derive(Debug, Clone)]
#[must_use]
pub struct SqlStoreBuilder {
    table: String,
    schema: Option<String>,
    cleanup_every: Option<Duration>,
    cleanup_batch: u32,
    statement_timeout: Duration,
    pool: PoolSettings,
}

impl Default for SqlStoreBuilder {
    fn default() -> Self {
        SqlStoreBuilder {
            table: crate::DEFAULT_TABLE.to_owned(),
            schema: None,
            cleanup_every: Some(Duration::from_secs(60)),
            cleanup_batch: 1000,
            statement_timeout: Duration::from_secs(5),
            pool: PoolSettings {
                max_connections: 10,
                acquire_timeout: Duration::from_secs(1),
            },
        }
    }
}

impl SqlStoreBuilder {
    /// The table name (default `sessions`): ASCII letters, digits and
    /// underscores, at most 48 characters; checked when the store is built.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// The schema that holds the table (default: the connection's own):
    /// a PostgreSQL schema, a MySQL database, an attached SQLite database.
    /// [`SqlStore::migrate`] does not create it.
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = Some(name.into());
        self
    }

    /// How often expired rows are removed in the background (default every
    /// 60 seconds).
    pub fn cleanup_every(mut self, period: Duration) -> Self {
        self.cleanup_every = Some(period);
        self
    }

    /// No background cleanup, for deployments that run
    /// [`SqlStore::delete_expired`] from a scheduled job instead. Expired rows
    /// stay invisible either way.
    pub fn no_cleanup(mut self) -> Self {
        self.cleanup_every = None;
        self
    }

    /// How many expired rows one cleanup statement removes at most (default
    /// 1000): each batch is its own short transaction, so a large backlog
    /// never holds locks for long. Zero is taken as one.
    pub fn cleanup_batch(mut self, rows: u32) -> Self {
        self.cleanup_batch = rows.max(1);
        self
    }

    /// How long one statement, waiting for a connection included, may take
    /// before the call fails with [`StoreError::Timeout`] (default 5 seconds).
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// For [`connect`](Self::connect): the pool's size (default 10).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.pool.max_connections = max.max(1);
        self
    }

    /// For [`connect`](Self::connect): how long a call waits for a free or
    /// new connection before failing with [`StoreError::Timeout`] (default 1
    /// second), so that an outage fails requests fast.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.pool.acquire_timeout = timeout;
        self
    }

    /// Builds the store on a pool that the application made (a
    /// `sqlx::PgPool`, `MySqlPool` or `SqlitePool`, or a [`SqlPool`]).
    ///
    /// The cleanup task is spawned on the current tokio runtime; outside a
    /// runtime there is none (and a debug event says so). Fails only on an
    /// invalid table or schema name.
    pub fn build(self, pool: impl Into<SqlPool>) -> Result<SqlStore, StoreError> {
        let table = TableRef::new(self.schema.as_deref(), &self.table)?;
        Ok(SqlStore::assemble(
            pool.into(),
            table,
            self.statement_timeout,
            self.cleanup_batch,
            self.cleanup_every,
        ))
    }

    /// Builds a pool from `url` (see [`SqlStore::connect`]), opening one
    /// connection to check the address, and then the store on it.
    pub async fn connect(self, url: &str) -> Result<SqlStore, StoreError> {
        // Check the names before touching the network.
        TableRef::new(self.schema.as_deref(), &self.table)?;
        let pool = connect(url, self.pool).await?;
        self.build(pool)
    }
}

impl SqlStore {
    /// Connects to the database that `url` names and builds a store with
    /// the defaults of [`builder`](Self::builder). The scheme picks the
    /// driver: `postgres://` or `postgresql://`, `mysql://` or `mariadb://`,
    /// `sqlite:` (for example `sqlite://sessions.db?mode=rwc`, or
    /// `sqlite::memory:`). A driver whose cargo feature is off, an unknown
    /// scheme or an unreachable database is an error.
    ///
    /// Call [`migrate`](Self::migrate) once before use unless the table is
    /// managed elsewhere.
    ///
    /// ```
    /// use session_store_sql::SqlStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), session_core::store::StoreError> {
    /// let store = SqlStore::connect("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        Self::builder().connect(url).await
    }

    /// A builder with the defaults: table `sessions` in the connection's
    /// schema, cleanup every 60 seconds in batches of 1000, statements time
    /// out after 5 seconds; for [`connect`](SqlStoreBuilder::connect), a pool
    /// of 10 connections that waits at most 1 second for one.
    pub fn builder() -> SqlStoreBuilder {
        SqlStoreBuilder::default()
    }

    /// A store with the default settings on a pool the application made.
    pub fn from_pool(pool: impl Into<SqlPool>) -> SqlStore {
        let defaults = SqlStoreBuilder::default();
        SqlStore::assemble(
            pool.into(),
            TableRef::default_table(),
            defaults.statement_timeout,
            defaults.cleanup_batch,
            defaults.cleanup_every,
        )
    }

    /// A store with the default settings on an application's PostgreSQL pool.
    #[cfg(feature = "postgres")]
    pub fn postgres(pool: sqlx::PgPool) -> SqlStore {
        Self::from_pool(pool)
    }

    /// A store with the default settings on an application's MySQL or
    /// MariaDB pool.
    #[cfg(feature = "mysql")]
    pub fn mysql(pool: sqlx::MySqlPool) -> SqlStore {
        Self::from_pool(pool)
    }

    /// A store with the default settings on an application's SQLite pool.
    #[cfg(feature = "sqlite")]
    pub fn sqlite(pool: sqlx::SqlitePool) -> SqlStore {
        Self::from_pool(pool)
    }

    fn assemble(
        pool: SqlPool,
        table: TableRef,
        statement_timeout: Duration,
        cleanup_batch: u32,
        cleanup_every: Option<Duration>,
    ) -> SqlStore {
        let dialect = pool.dialect();
        let store = SqlStore {
            inner: Arc::new(Inner {
                sql: Statements::new(dialect, &table),
                lock_sql: LockStatements::new(dialect, &table),
                pool,
                dialect,
                table,
                statement_timeout,
                cleanup_batch,
            }),
        };
        if let Some(period) = cleanup_every {
            cleanup::spawn(Arc::downgrade(&store.inner), period);
        }
        store
    }

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
    pub async fn delete_expired(&self) -> Result<u64, StoreError> {
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
    pub async fn delete_expired_batch(&self) -> Result<u64, StoreError> {
        self.inner.delete_expired_batch(now_millis()).await
    }

    /// The pool, to share with the rest of the application.
    pub fn pool(&self) -> &SqlPool {
        &self.inner.pool
    }

    /// Which database the store talks to.
    pub fn dialect(&self) -> SqlDialect {
        self.inner.dialect
    }

    /// A weak handle on the store's shared state: it stops upgrading once
    /// every clone is dropped, which is also when the cleanup task stops.
    pub fn downgrade(&self) -> Weak<impl Sized + Send + Sync> {
        Arc::downgrade(&self.inner)
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

pub(crate) fn now_millis() -> i64 {
    Record::millis(OffsetDateTime::now_utc())
}

pub(crate) fn sql(text: &Sql) -> AssertSqlSafe<Sql> {
    // Built from checked identifiers and placeholders only (dialect.rs).
    AssertSqlSafe(Arc::clone(text))
}

/// A record's columns, converted once for binding.
struct Params<'a> {
    id: &'a str,
    data: &'a [u8],
    created: i64,
    idle: i64,
    absolute: i64,
    expires: i64,
    version: i64,
    owner: Option<&'a str>,
}

impl<'a> Params<'a> {
    fn of(record: &'a Record) -> Result<Self, StoreError> {
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

fn into_record(row: RecordRow) -> Result<Record, StoreError> {
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
    /// Runs one database call under the statement timeout, keeping the
    /// driver's error for callers that look at it.
    ///
    /// A call that the database rolled back as a deadlock victim or a
    /// serialization failure changed nothing, and runs again (up to
    /// `DEADLOCK_RETRIES` times, each attempt under the timeout): InnoDB
    /// can pick a single statement that scanned a secondary index while a
    /// rotation held the row it wanted.
    async fn timed<T, F>(&self, call: impl Fn() -> F) -> Result<Result<T, sqlx::Error>, StoreError>
    where
        F: Future<Output = Result<T, sqlx::Error>>,
    {
        let mut attempt = 0;
        loop {
            let result = tokio::time::timeout(self.statement_timeout, call())
                .await
                .map_err(|_| StoreError::Timeout(self.statement_timeout))?;
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

    async fn execute_id_now(&self, text: &Sql, id: &str, now: i64) -> Result<u64, StoreError> {
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
    async fn insert(&self, r: &Params<'_>) -> Result<Result<u64, sqlx::Error>, StoreError> {
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
    async fn upsert_if_expired(&self, r: &Params<'_>, now: i64) -> Result<bool, StoreError> {
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
    async fn insert_or_replace_expired(
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

    async fn update(
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

    async fn live_version(&self, id: &str, now: i64) -> Result<Option<i64>, StoreError> {
        self.run(|| async {
            on_pool!(&self.pool, p => sqlx::query_scalar::<_, i64>(sql(&self.sql.version_of))
                .bind(id)
                .bind(now)
                .fetch_optional(p)
                .await)
        })
        .await
    }

    async fn fetch_live(&self, id: &str, now: i64) -> Result<Option<RecordRow>, StoreError> {
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
    async fn touch_returning(
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

    async fn touch(&self, id: &str, idle: i64, now: i64) -> Result<bool, StoreError> {
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

    async fn ids(
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

    async fn page(&self, after: &str, now: i64) -> Result<Vec<RecordRow>, StoreError> {
        self.run(|| async {
            on_pool!(&self.pool, p => sqlx::query_as::<_, RecordRow>(sql(&self.sql.page))
                .bind(after)
                .bind(now)
                .bind(SCAN_PAGE)
                .fetch_all(p)
                .await)
        })
        .await
    }

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

    async fn delete_version(&self, id: &str, version: i64) -> Result<u64, StoreError> {
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

    /// Removes at most one batch of rows that expired before `now`.
    pub(crate) async fn delete_expired_batch(&self, now: i64) -> Result<u64, StoreError> {
        let limit = i64::from(self.cleanup_batch);
        self.run(|| async {
            on_pool!(&self.pool, p => sqlx::query(sql(&self.sql.delete_expired_batch))
                .bind(now)
                .bind(limit)
                .execute(p)
                .await
                .map(|r| r.rows_affected()))
        })
        .await
    }
}

#[async_trait]
impl SessionStore for SqlStore {
    fn name(&self) -> &'static str {
        "sql"
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        let params = Params::of(record)?;
        let now = now_millis();
        let inserted = match self.inner.dialect {
            SqlDialect::MySql => self.inner.insert_or_replace_expired(&params, now).await?,
            SqlDialect::Postgres | SqlDialect::Sqlite => {
                self.inner.upsert_if_expired(&params, now).await?
            }
        };
        if inserted {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists)
        }
    }

    async fn save(&self, record: &Record, expected_version: Option<u64>) -> Result<(), StoreError> {
        let params = Params::of(record)?;
        let now = now_millis();
        let expected = match expected_version.map(i64::try_from) {
            None => None,
            Some(Ok(version)) => Some(version),
            // No stored version can be that large.
            Some(Err(_)) => {
                return Err(self
                    .missing_or_conflict(&record.id, expected_version, now)
                    .await)
            }
        };
        if self.inner.update(&params, expected, now).await? > 0 {
            return Ok(());
        }
        Err(self
            .missing_or_conflict(&record.id, expected_version, now)
            .await)
    }

    /// One atomic database operation: on PostgreSQL one statement (a
    /// data-modifying CTE), on MySQL/MariaDB and SQLite one transaction
    /// that locks the old row first. Nothing changes unless the record
    /// moves.
    async fn rotate(
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

    async fn load(
        &self,
        id: &SessionId,
        touch: Option<OffsetDateTime>,
    ) -> Result<Option<Record>, StoreError> {
        let inner = &self.inner;
        let now = now_millis();
        let row = match (touch, &inner.sql.touch_returning) {
            (None, _) => inner.fetch_live(id.as_str(), now).await?,
            (Some(at), Some(text)) => {
                inner
                    .touch_returning(text, id.as_str(), Record::millis(at), now)
                    .await?
            }
            // No UPDATE ... RETURNING (MySQL): touch, then read what is there.
            (Some(at), None) => {
                if inner.touch(id.as_str(), Record::millis(at), now).await? {
                    inner.fetch_live(id.as_str(), now).await?
                } else {
                    None
                }
            }
        };
        row.map(into_record).transpose()
    }

    async fn touch(
        &self,
        id: &SessionId,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.inner
            .touch(id.as_str(), Record::millis(idle_expires_at), now_millis())
            .await
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let inner = &self.inner;
        Ok(inner
            .execute_id_now(&inner.sql.delete, id.as_str(), now_millis())
            .await?
            > 0)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        inner
            .run(|| async {
                on_pool!(&inner.pool, p => sqlx::query(sql(&inner.sql.clear))
                    .execute(p)
                    .await
                    .map(|_| ()))
            })
            .await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let inner = &self.inner;
        let now = now_millis();
        let count: i64 = inner
            .run(|| async {
                on_pool!(&inner.pool, p => sqlx::query_scalar::<_, i64>(sql(&inner.sql.count))
                    .bind(now)
                    .fetch_one(p)
                    .await)
            })
            .await?;
        u64::try_from(count).map_err(|_| StoreError::Malformed(format!("negative count {count}")))
    }

    async fn ids(&self) -> Result<Vec<SessionId>, StoreError> {
        self.inner
            .ids(&self.inner.sql.ids, None, now_millis())
            .await
    }

    async fn ids_by_owner(&self, owner: &str) -> Result<Vec<SessionId>, StoreError> {
        self.inner
            .ids(&self.inner.sql.ids_by_owner, Some(owner), now_millis())
            .await
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError> {
        let inner = &self.inner;
        let now = now_millis();
        inner
            .run(|| async {
                on_pool!(&inner.pool, p => sqlx::query(sql(&inner.sql.delete_by_owner))
                    .bind(owner)
                    .bind(now)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected()))
            })
            .await
    }

    /// Scans the live rows in pages of 500 and removes those that
    /// `predicate` selects, each only if it was not saved in between.
    /// The session locks: a lease row per locked session in
    /// `{table}_locks` (see the crate documentation).
    fn locks(&self) -> Option<&dyn SessionLocks> {
        Some(self)
    }

    async fn delete_where(&self, predicate: &RecordPredicate<'_>) -> Result<u64, StoreError> {
        let inner = &self.inner;
        let now = now_millis();
        let mut after = String::new();
        let mut removed = 0;
        loop {
            let rows = inner.page(&after, now).await?;
            let full = rows.len() as i64 == SCAN_PAGE;
            for row in rows {
                after.clone_from(&row.0);
                let version = row.5;
                let record = into_record(row)?;
                if predicate(&record) {
                    removed += inner.delete_version(record.id.as_str(), version).await?;
                }
            }
            if !full {
                return Ok(removed);
            }
        }
    }
}

impl SqlStore {
    /// Why an update matched no row: the live row is at another version, or
    /// there is no live row.
    async fn missing_or_conflict(
        &self,
        id: &SessionId,
        expected: Option<u64>,
        now: i64,
    ) -> StoreError {
        let Some(expected) = expected else {
            return StoreError::NotFound;
        };
        match self.inner.live_version(id.as_str(), now).await {
            Ok(Some(_)) => StoreError::Conflict { expected },
            Ok(None) => StoreError::NotFound,
            Err(e) => e,
        }
    }
}
