//! The connection pool of whichever database is in use, and how a URL
//! becomes one.

use std::str::FromStr;
use std::time::Duration;

use session_core::store::StoreError;

use crate::dialect::SqlDialect;
use crate::error::ConfigError;

/// Runs the same code on whichever pool is inside a [`SqlPool`]: the sqlx
/// query API is generic over the database, so one body serves all three.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            #[cfg(feature = "postgres")]
            $crate::pool::SqlPool::Postgres($p) => $body,
            #[cfg(feature = "mysql")]
            $crate::pool::SqlPool::MySql($p) => $body,
            #[cfg(feature = "sqlite")]
            $crate::pool::SqlPool::Sqlite($p) => $body,
            // Only the crate's compile_error! should speak when no driver is on.
            #[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
            _ => unreachable!(),
        }
    };
}
pub(crate) use on_pool;

/// A sqlx connection pool for one of the enabled databases.
///
/// Build one yourself to share it with the rest of the application (each
/// sqlx pool type converts with `From`), or let
/// [`SqlStore::connect`](crate::SqlStore::connect) build one from a URL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SqlPool {
    /// A PostgreSQL pool.
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    /// A MySQL or MariaDB pool.
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
    /// An SQLite pool.
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
}

#[cfg(feature = "postgres")]
impl From<sqlx::PgPool> for SqlPool {
    fn from(pool: sqlx::PgPool) -> Self {
        SqlPool::Postgres(pool)
    }
}

#[cfg(feature = "mysql")]
impl From<sqlx::MySqlPool> for SqlPool {
    fn from(pool: sqlx::MySqlPool) -> Self {
        SqlPool::MySql(pool)
    }
}

#[cfg(feature = "sqlite")]
impl From<sqlx::SqlitePool> for SqlPool {
    fn from(pool: sqlx::SqlitePool) -> Self {
        SqlPool::Sqlite(pool)
    }
}

impl SqlPool {
    /// Which database this pool talks to.
    pub fn dialect(&self) -> SqlDialect {
        match self {
            #[cfg(feature = "postgres")]
            SqlPool::Postgres(_) => SqlDialect::Postgres,
            #[cfg(feature = "mysql")]
            SqlPool::MySql(_) => SqlDialect::MySql,
            #[cfg(feature = "sqlite")]
            SqlPool::Sqlite(_) => SqlDialect::Sqlite,
            #[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
            _ => unreachable!(),
        }
    }

    /// How long the pool waits for a connection before giving up: the
    /// duration reported by [`StoreError::Timeout`].
    pub fn acquire_timeout(&self) -> Duration {
        on_pool!(self, p => p.options().get_acquire_timeout())
    }

    /// Closes every connection; later store calls fail as unavailable.
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}

/// How [`SqlStore::connect`](crate::SqlStore::connect) sizes the pool it builds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolSettings {
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
}

/// Builds a pool from a URL and opens one connection, so that a wrong
/// address or a database that is down fails here, not on the first request.
pub(crate) async fn connect(url: &str, settings: PoolSettings) -> Result<SqlPool, StoreError> {
    let dialect = SqlDialect::from_url(url).ok_or_else(|| ConfigError::UnsupportedScheme {
        scheme: url.split(':').next().unwrap_or_default().to_owned(),
    })?;
    match dialect {
        #[cfg(feature = "postgres")]
        SqlDialect::Postgres => {
            let mut options = sqlx::postgres::PgConnectOptions::from_str(url)
                .map_err(|e| invalid_url(dialect, &e))?;
            if options.get_application_name().is_none() {
                // Lets a DBA see (and tests find) this pool's connections.
                options = options.application_name("session-store-sql");
            }
            let server = format!("{}:{}", options.get_host(), options.get_port());
            let pool = open(options, settings, dialect, server).await?;
            Ok(SqlPool::Postgres(pool))
        }
        #[cfg(feature = "mysql")]
        SqlDialect::MySql => {
            // sqlx ignores the scheme, so `mariadb://` parses as is.
            let options = sqlx::mysql::MySqlConnectOptions::from_str(url)
                .map_err(|e| invalid_url(dialect, &e))?;
            let server = format!("{}:{}", options.get_host(), options.get_port());
            let pool = open(options, settings, dialect, server).await?;
            Ok(SqlPool::MySql(pool))
        }
        #[cfg(feature = "sqlite")]
        SqlDialect::Sqlite => connect_sqlite(url, settings).await,
        #[allow(unreachable_patterns)]
        other => Err(ConfigError::DriverNotEnabled { dialect: other }.into()),
    }
}

/// A URL that the driver cannot parse: a configuration error, never an
/// outage. The driver's reason names the part at fault, never the URL.
fn invalid_url(dialect: SqlDialect, error: &sqlx::Error) -> StoreError {
    ConfigError::InvalidUrl {
        dialect,
        reason: error.to_string(),
    }
    .into()
}

/// A pool of a network database with its first connection open; if none
/// can be made, an error that names `server` and says why.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn open<DB: sqlx::Database>(
    options: <DB::Connection as sqlx::Connection>::Options,
    settings: PoolSettings,
    dialect: SqlDialect,
    server: String,
) -> Result<sqlx::Pool<DB>, StoreError> {
    use crate::error::ConnectError;

    match pool_options(settings).connect_with(options.clone()).await {
        Ok(pool) => Ok(pool),
        Err(error) => {
            let why = why_unreachable::<DB>(&options, error, settings.acquire_timeout).await;
            Err(match why {
                Some(source) => ConnectError::Unreachable {
                    dialect,
                    server,
                    source,
                },
                None => ConnectError::TimedOut {
                    dialect,
                    server,
                    timeout: settings.acquire_timeout,
                },
            }
            .into())
        }
    }
}

/// The driver's reason for a failed first connection, `None` for a plain
/// timeout. A pool retries until its acquire timeout and then answers only
/// that it timed out, which hides a refused connection or a wrong
/// password: one direct attempt, within the same timeout, tells which.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn why_unreachable<DB: sqlx::Database>(
    options: &<DB::Connection as sqlx::Connection>::Options,
    error: sqlx::Error,
    timeout: Duration,
) -> Option<sqlx::Error> {
    use sqlx::Connection as _;

    if !matches!(error, sqlx::Error::PoolTimedOut) {
        return Some(error);
    }
    match tokio::time::timeout(timeout, DB::Connection::connect_with(options)).await {
        Ok(Err(reason)) => Some(reason),
        Ok(Ok(connection)) => {
            // It answers now: what failed was its slowness.
            let _ = connection.close().await;
            None
        }
        Err(_) => None,
    }
}

fn pool_options<DB: sqlx::Database>(settings: PoolSettings) -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
}

#[cfg(feature = "sqlite")]
async fn connect_sqlite(url: &str, settings: PoolSettings) -> Result<SqlPool, StoreError> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};

    use crate::error::from_sqlx;

    let fail = |e| from_sqlx(e, settings.acquire_timeout);
    let options =
        SqliteConnectOptions::from_str(url).map_err(|e| invalid_url(SqlDialect::Sqlite, &e))?;
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let pool = if in_memory {
        // An in-memory database lives as long as one connection to it: keep
        // exactly one, forever (a shared cache with several connections
        // would also fail writers with SQLITE_LOCKED instead of waiting).
        pool_options(settings)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
    } else {
        // WAL: readers never wait for the writer, and writers queue on the
        // busy timeout instead of failing.
        pool_options(settings)
            .connect_with(options.journal_mode(SqliteJournalMode::Wal))
            .await
    };
    Ok(SqlPool::Sqlite(pool.map_err(fail)?))
}
