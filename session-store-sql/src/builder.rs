//! The builder: table, cleanup and timeouts, then a URL or the application's
//! own pool.

use std::time::Duration;

use session_core::store::StoreError;
pub use session_core::store::DEFAULT_CLEANUP_EVERY;

use crate::ident::TableRef;
use crate::pool::{connect, PoolSettings, SqlPool};
use crate::store::{Settings, SqlStore};

/// The table name used unless [`SqlStoreBuilder::table`] says otherwise.
pub const DEFAULT_TABLE: &str = "sessions";

/// How many expired rows one cleanup statement removes at most, unless
/// [`SqlStoreBuilder::cleanup_batch`] says otherwise.
pub const DEFAULT_CLEANUP_BATCH: u32 = 1000;

/// How long one statement may take unless
/// [`SqlStoreBuilder::command_timeout`] says otherwise.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// The size of a pool built by [`SqlStoreBuilder::connect`] unless
/// [`SqlStoreBuilder::max_connections`] says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// How long a call waits for a connection of a pool built by
/// [`SqlStoreBuilder::connect`] unless [`SqlStoreBuilder::acquire_timeout`]
/// says otherwise.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// Builds a [`SqlStore`]: table, cleanup and timeouts, then either
/// [`connect`](Self::connect) to a URL or
/// [`build_with_pool`](Self::build_with_pool) on a pool that the
/// application made.
#[derive(Debug, Clone)]
#[must_use]
pub struct SqlStoreBuilder {
    table: String,
    schema: Option<String>,
    settings: Settings,
    pool: PoolSettings,
}

impl Default for SqlStoreBuilder {
    fn default() -> Self {
        SqlStoreBuilder {
            table: DEFAULT_TABLE.to_owned(),
            schema: None,
            settings: Settings::default(),
            pool: PoolSettings {
                max_connections: DEFAULT_MAX_CONNECTIONS,
                acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            },
        }
    }
}

impl SqlStoreBuilder {
    /// The table name (default [`DEFAULT_TABLE`]): ASCII letters, digits and
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

    /// How often expired rows are removed in the background (default
    /// [`DEFAULT_CLEANUP_EVERY`]); see [`CleanupSchedule`] for the task.
    ///
    /// [`CleanupSchedule`]: session_core::store::CleanupSchedule
    pub fn cleanup_every(mut self, period: Duration) -> Self {
        self.settings.cleanup.set_every(period);
        self
    }

    /// No background cleanup, for deployments that run
    /// [`SqlStore::remove_expired`] from a scheduled job instead.
    pub fn no_cleanup(mut self) -> Self {
        self.settings.cleanup.disable();
        self
    }

    /// How many expired rows one cleanup statement removes at most (default
    /// [`DEFAULT_CLEANUP_BATCH`]; zero is taken as one): each batch is its
    /// own short transaction, so a large backlog never holds locks for long.
    pub fn cleanup_batch(mut self, rows: u32) -> Self {
        self.settings.cleanup.set_batch(rows);
        self
    }

    /// How long one statement, waiting for a connection included, may take
    /// before the call fails with [`StoreError::Timeout`] (default
    /// [`DEFAULT_COMMAND_TIMEOUT`]).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.settings.command_timeout = timeout;
        self
    }

    /// Whether a waiter of another process is woken by the release of the
    /// lease it waits for, under `Concurrency::Serialize` (default on;
    /// PostgreSQL only, the other databases wait with backoff whatever
    /// this says). A refused attempt marks the lease, whose release then
    /// announces itself with `NOTIFY`; each process listens on one
    /// connection of its own (beside the pool), opened at its first wait.
    /// Off, waiters of other processes wait their backoff step (up to
    /// 100 ms) after a release, and no lease is marked.
    ///
    /// ```
    /// use session_store_sql::SqlStore;
    ///
    /// let builder = SqlStore::builder().lock_wakeups(false);
    /// ```
    pub fn lock_wakeups(mut self, on: bool) -> Self {
        self.settings.lock_wakeups = on;
        self
    }

    /// For [`connect`](Self::connect): the pool's size (default
    /// [`DEFAULT_MAX_CONNECTIONS`]).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.pool.max_connections = max.max(1);
        self
    }

    /// For [`connect`](Self::connect): how long a call waits for a free or
    /// new connection before failing with [`StoreError::Timeout`] (default
    /// [`DEFAULT_ACQUIRE_TIMEOUT`]), so that an outage fails requests fast.
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
    pub fn build_with_pool(self, pool: impl Into<SqlPool>) -> Result<SqlStore, StoreError> {
        let table = TableRef::new(self.schema.as_deref(), &self.table)?;
        Ok(SqlStore::assemble(pool.into(), table, self.settings))
    }

    /// Builds a pool from `url` (see [`SqlStore::connect`]), opening one
    /// connection to check the address, and then the store on it.
    pub async fn connect(self, url: &str) -> Result<SqlStore, StoreError> {
        // Check the names before touching the network.
        TableRef::new(self.schema.as_deref(), &self.table)?;
        let pool = connect(url, self.pool).await?;
        self.build_with_pool(pool)
    }
}
