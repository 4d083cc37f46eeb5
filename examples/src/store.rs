//! Opening the store that `SESSION_STORE` names.

use std::sync::Arc;
use std::time::Duration;

use session_core::store::{SessionStore, StoreError};
use session_store_cookie::CookieStore;
use session_store_memory::MemoryStore;
use session_store_mongo::MongoStore;
use session_store_redis::RedisStore;
use session_store_sql::SqlStore;

use crate::config::{DemoConfig, StoreKind};
use crate::error::DemoError;

/// How long one Redis command may take: also the connection timeout at
/// start. Short, so that an outage is a quick `503` rather than a hang.
pub const REDIS_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one MongoDB operation may take: also the connection timeout at
/// start, as for Redis.
pub const MONGODB_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// The pause before the one retry of a failed table creation.
const MIGRATE_RETRY_DELAY: Duration = Duration::from_millis(250);

/// Opens the configured store: one arm per store, each using the parts of
/// [`DemoConfig`] it needs (`redis_url`, `database_url`, `mongodb_url`,
/// `namespace`, `keys`;
/// the defaults are listed in [`config`](crate::config)).
///
/// A store that needs a server connects here (and an SQL store creates its
/// table, the MongoDB store its indexes), so that an unreachable server stops the demo at start with one
/// clear line rather than failing the first request.
///
/// ```
/// use examples::{build_store, DemoConfig};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let config = DemoConfig::from_pairs(&[]).unwrap();
/// assert!(build_store(&config).await.is_ok());
/// let config = DemoConfig::from_pairs(&[("SESSION_STORE", "cookie")]).unwrap();
/// assert!(build_store(&config).await.is_ok());
/// # }
/// ```
pub async fn build_store(config: &DemoConfig) -> Result<Arc<dyn SessionStore>, DemoError> {
    let failed = |source| DemoError::Store {
        store: config.store,
        source,
    };
    let store: Arc<dyn SessionStore> = match config.store {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Redis => Arc::new(open_redis(config).await.map_err(failed)?),
        // The ring that seals the notes also seals the cookies: the first
        // secret seals, the others still open (rotation).
        StoreKind::Cookie => Arc::new(CookieStore::new(config.keys.clone())),
        StoreKind::Postgres | StoreKind::Mysql | StoreKind::Sqlite => {
            Arc::new(open_sql(config).await.map_err(failed)?)
        }
        StoreKind::Mongodb => Arc::new(open_mongodb(config).await.map_err(failed)?),
    };
    tracing::debug!(store = %config.store, "session store ready");
    Ok(store)
}

async fn open_redis(config: &DemoConfig) -> Result<RedisStore, StoreError> {
    RedisStore::builder()
        .prefix(config.redis_prefix())
        .command_timeout(REDIS_COMMAND_TIMEOUT)
        .near_cache(config.redis_near_cache)
        .connect(&config.redis_url)
        .await
}

async fn open_sql(config: &DemoConfig) -> Result<SqlStore, StoreError> {
    let url = config
        .database_url
        .as_deref()
        .or(config.store.default_database_url())
        .unwrap_or_default();
    let store = SqlStore::builder()
        .table(config.sql_table())
        .connect(url)
        .await?;
    if let Err(error) = store.migrate().await {
        // Several demos starting at once on one new table may collide in
        // CREATE TABLE (SQLite refuses a stale writer at once, for one);
        // the table exists by the time of the second try.
        tracing::debug!(%error, "creating the session table failed; trying once more");
        tokio::time::sleep(MIGRATE_RETRY_DELAY).await;
        store.migrate().await?;
    }
    Ok(store)
}

async fn open_mongodb(config: &DemoConfig) -> Result<MongoStore, StoreError> {
    let store = MongoStore::builder()
        .collection(config.mongodb_collection())
        .command_timeout(MONGODB_COMMAND_TIMEOUT)
        .connect(&config.mongodb_url)
        .await?;
    // Creating indexes that exist already is a no-op, so several demos may
    // start on one collection at once.
    store.migrate().await?;
    Ok(store)
}
