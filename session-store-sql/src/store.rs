//! The store: its state, construction and the [`SessionStore`]
//! implementation. The statements are in `queries`, creates and saves in
//! `write`, rotation in `rotate`, the cap per owner in `limit`, the scan of `delete_where` in `scan`,
//! migration and expired-row removal in `maintenance`; the builder is in
//! `builder.rs`, session locks in `lock.rs`.

mod limit;
mod maintenance;
mod queries;
mod rotate;
mod scan;
mod write;

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use session_core::time::OffsetDateTime;
use session_core::{
    store::{
        CleanupSchedule, ExpirySink, OwnerLimit, OwnerLimited, Record, RecordPredicate,
        SessionLocks, SessionStore, StoreError,
    },
    SessionId,
};
use sqlx::AssertSqlSafe;

use crate::builder::{SqlStoreBuilder, DEFAULT_CLEANUP_BATCH, DEFAULT_COMMAND_TIMEOUT};
use crate::cleanup;
use crate::dialect::{Sql, SqlDialect, Statements};
use crate::ident::TableRef;
use crate::lock_queries::LockStatements;
use crate::pool::{on_pool, SqlPool};
use queries::into_record;

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
    command_timeout: Duration,
    pub(crate) cleanup_batch: u32,
    /// Where the cleanup reports the rows it removed.
    expiry_sink: ExpirySink,
    /// The lock wake-ups (PostgreSQL, see `wakeups.rs`); `None` when off
    /// or on another database.
    #[cfg(feature = "postgres")]
    pub(crate) wakeups: Option<crate::wakeups::Wakeups>,
}

/// What the builder sets beside the table and the pool.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) command_timeout: Duration,
    pub(crate) cleanup: CleanupSchedule,
    /// See [`SqlStoreBuilder::lock_wakeups`].
    pub(crate) lock_wakeups: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            cleanup: CleanupSchedule::new(DEFAULT_CLEANUP_BATCH),
            lock_wakeups: true,
        }
    }
}

/// The lock wake-ups of a PostgreSQL store, when they are on; they listen
/// with the options of the store's pool.
#[cfg(feature = "postgres")]
fn wakeups(pool: &SqlPool, settings: &Settings) -> Option<crate::wakeups::Wakeups> {
    match pool {
        SqlPool::Postgres(pool) if settings.lock_wakeups => Some(crate::wakeups::Wakeups::new(
            (*pool.connect_options()).clone(),
            settings.command_timeout,
        )),
        #[allow(unreachable_patterns)]
        _ => None,
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
        SqlStore::assemble(pool.into(), TableRef::default_table(), Settings::default())
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

    pub(crate) fn assemble(pool: SqlPool, table: TableRef, settings: Settings) -> SqlStore {
        let dialect = pool.dialect();
        // The statements mark waited-on leases exactly when a listener
        // can be woken by their release.
        #[cfg(feature = "postgres")]
        let wakeups = wakeups(&pool, &settings);
        #[cfg(feature = "postgres")]
        let marks = wakeups.is_some();
        #[cfg(not(feature = "postgres"))]
        let marks = false;
        let store = SqlStore {
            inner: Arc::new(Inner {
                sql: Statements::new(dialect, &table),
                lock_sql: LockStatements::new(dialect, &table, marks),
                #[cfg(feature = "postgres")]
                wakeups,
                pool,
                dialect,
                table,
                command_timeout: settings.command_timeout,
                cleanup_batch: settings.cleanup.batch(),
                expiry_sink: ExpirySink::new(),
            }),
        };
        if let Some(period) = settings.cleanup.every() {
            cleanup::spawn(Arc::downgrade(&store.inner), period);
        }
        store
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
    /// every clone is dropped, which is also when the cleanup task stops. A
    /// test hook (the cleanup task's lifetime), hidden from the
    /// documentation: not part of the store's API.
    #[doc(hidden)]
    pub fn downgrade(&self) -> Weak<impl Sized + Send + Sync> {
        Arc::downgrade(&self.inner)
    }
}

pub(crate) fn now_millis() -> i64 {
    Record::millis(OffsetDateTime::now_utc())
}

pub(crate) fn sql(text: &Sql) -> AssertSqlSafe<Sql> {
    // Built from checked identifiers and placeholders only (dialect.rs).
    AssertSqlSafe(Arc::clone(text))
}

#[async_trait]
impl SessionStore for SqlStore {
    fn name(&self) -> &'static str {
        "sql"
    }

    /// The cleanup task, [`remove_expired`](SqlStore::remove_expired) and
    /// [`remove_expired_batch`](SqlStore::remove_expired_batch) report each
    /// row they remove here, once. A load never sees an expired row (the
    /// query leaves it out), so it reports nothing.
    fn expiry_sink(&self) -> Option<&ExpirySink> {
        Some(&self.inner.expiry_sink)
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.create_record(record).await
    }

    async fn save(&self, record: &Record, expected_version: Option<u64>) -> Result<(), StoreError> {
        self.save_record(record, expected_version).await
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
        self.rotate_record(from, record, expected_version).await
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

    /// One `SELECT` of the owner's live rows on the owner index.
    async fn records_by_owner(&self, owner: &str) -> Result<Vec<Record>, StoreError> {
        self.inner.records_by_owner(owner, now_millis()).await
    }

    fn limits_owners(&self) -> bool {
        true
    }

    /// One transaction that locks the owner's live rows (see `store/limit.rs`).
    async fn limit_owner(
        &self,
        owner: &str,
        newest: &SessionId,
        limit: OwnerLimit,
    ) -> Result<OwnerLimited, StoreError> {
        self.limit_owner_rows(owner, newest, limit).await
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

    /// The session locks: a lease row per locked session in
    /// `{table}_locks` (see the crate documentation).
    fn locks(&self) -> Option<&dyn SessionLocks> {
        Some(self)
    }

    /// Scans the live rows in pages of 500 and removes those that
    /// `predicate` selects, each only if it was not saved in between.
    async fn delete_where(&self, predicate: &RecordPredicate<'_>) -> Result<u64, StoreError> {
        self.delete_selected(predicate).await
    }
}
