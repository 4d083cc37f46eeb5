//! The store itself: construction and the per-session operations (loads and
//! touches in `read`, creates and saves in `write`, rotation in `rotate`,
//! session locks in `lock`). Walks of the keyspace are in `scan`, the owner
//! index in `owners`, the cap per owner in `limit`.

mod cached;
mod limit;
mod lock;
mod owners;
mod read;
mod rotate;
mod scan;
mod write;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fred::types::Value;
use session_core::time::OffsetDateTime;
use session_core::{
    store::{
        OwnerLimit, OwnerLimited, Record, RecordPredicate, SessionLocks, SessionStore, StoreError,
    },
    SessionId,
};

use crate::builder::RedisStoreBuilder;
use crate::conn::{Backend, Redis};
use crate::keys::Keys;
use crate::known::{Known, GENERATION};
use crate::near_cache::{Near, NearCache};
use crate::scripts::SCRIPTS;
use crate::wakeups::Wakeups;

/// A session store on Redis (single node, Sentinel or Cluster), through
/// [fred](https://docs.rs/fred). Cloning shares the connection.
///
/// See the [crate documentation](crate) for the key layout, the round trips
/// of each operation and the behaviour when Redis is in trouble.
#[derive(Debug, Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    redis: Redis,
    keys: Keys,
    /// Whether every key the store writes lives in one slot (no cluster, or
    /// a prefix with a hash tag): then record and owner index are written by
    /// one script.
    one_slot: bool,
    /// The sessions this process has seen recently (see `known.rs`).
    known: Known,
    /// See [`RedisStoreBuilder::touch_slack`], in ms.
    touch_slack_ms: i64,
    /// See [`RedisStoreBuilder::near_cache`]; `None` when off.
    near: Option<Near>,
    /// See [`RedisStoreBuilder::lock_wakeups`]; `None` when off.
    wakeups: Option<Wakeups>,
}

impl RedisStore {
    /// Connects to `url` with the default prefix (`session:`) and timeout
    /// (1 second), and checks the server with a `PING`. See
    /// [`RedisStoreBuilder::connect`] for the URL forms (single node,
    /// cluster, Sentinel).
    ///
    /// ```
    /// use session_core::{SessionConfig, SessionManager};
    /// use session_store_redis::RedisStore;
    ///
    /// #[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
    /// struct Cart { items: Vec<String> }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    /// let store = RedisStore::connect(&url).await?;
    /// let manager = SessionManager::<Cart>::new(SessionConfig::builder().store(store).build()?);
    /// # let _ = manager;
    ///
    /// // Nobody listens on port 1: a clear error, no hanging.
    /// let error = RedisStore::connect("redis://127.0.0.1:1").await.unwrap_err();
    /// assert!(error.is_unavailable());
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<RedisStore, StoreError> {
        Self::builder().connect(url).await
    }

    /// A builder: prefix, timeout, and a URL, client or pool.
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder::default()
    }

    /// A store with the default settings on a client the application
    /// built; see [`RedisStoreBuilder::build_with_client`].
    pub fn from_client(client: fred::clients::Client) -> RedisStore {
        Self::builder().build_with_client(client)
    }

    /// A store with the default settings on a pool the application built;
    /// see [`RedisStoreBuilder::build_with_pool`].
    pub fn from_pool(pool: fred::clients::Pool) -> RedisStore {
        Self::builder().build_with_pool(pool)
    }

    /// A store on `backend`; `owned` when the store opened the connection
    /// and closes it when its last clone is dropped.
    pub(crate) fn new(
        backend: Backend,
        prefix: String,
        timeout: Duration,
        touch_slack: Duration,
        owned: bool,
        near_cache: Option<&NearCache>,
        lock_wakeups: bool,
    ) -> Self {
        let redis = Redis::new(backend, timeout, owned);
        let keys = Keys::new(prefix);
        let one_slot = !redis.is_clustered() || keys.prefix_pins_one_slot();
        let near =
            near_cache.map(|config| Near::new(config, redis.main_client(), keys.prefix(), timeout));
        let wakeups = lock_wakeups.then(|| Wakeups::new(redis.main_client(), timeout));
        RedisStore {
            inner: Arc::new(Inner {
                redis,
                keys,
                one_slot,
                known: Known::new(GENERATION),
                touch_slack_ms: i64::try_from(touch_slack.as_millis()).unwrap_or(i64::MAX),
                near,
                wakeups,
            }),
        }
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        self.inner.keys.prefix()
    }

    /// The command timeout.
    pub fn command_timeout(&self) -> Duration {
        self.inner.redis.timeout()
    }

    /// The Redis key of a session: the prefix and the id (the hash of the
    /// cookie token, never the token). For operators and tests.
    pub fn record_key(&self, id: &SessionId) -> String {
        self.inner.keys.record(id)
    }

    /// Sends a `PING` (a health check for readiness probes).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.inner.redis.ping().await
    }

    /// Checks the server with a `PING` and loads the store's scripts into
    /// the script cache of every node. [`connect`](Self::connect) does this;
    /// after [`build_with_client`](RedisStoreBuilder::build_with_client) or
    /// [`build_with_pool`](RedisStoreBuilder::build_with_pool) it is
    /// optional: without it, the first use of each script on each node sends
    /// the script in full once (`EVAL`) instead of by its hash. (The common
    /// requests use plain commands; scripts serve the rarer operations.)
    pub async fn verify(&self) -> Result<(), StoreError> {
        self.inner.redis.ping().await?;
        self.inner.redis.load_scripts(&SCRIPTS.all()).await
    }

    /// Closes the connections (best effort, within the timeout).
    pub(crate) async fn quit(&self) {
        let redis = &self.inner.redis;
        redis.backend().quit(redis.timeout()).await;
    }
}

fn unexpected(what: &str, reply: &Value) -> StoreError {
    StoreError::Malformed(format!("unexpected reply to {what}: {:?}", reply.kind()))
}

#[async_trait]
impl SessionStore for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.changing(&[&record.id], self.create_record(record))
            .await
    }

    async fn save(&self, record: &Record, expected_version: Option<u64>) -> Result<(), StoreError> {
        self.changing(&[&record.id], self.save_record(record, expected_version))
            .await
    }

    async fn rotate(
        &self,
        from: &SessionId,
        record: &Record,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let write = self.rotate_record(from, record, expected_version);
        self.changing(&[from, &record.id], write).await
    }

    async fn load(
        &self,
        id: &SessionId,
        touch: Option<OffsetDateTime>,
    ) -> Result<Option<Record>, StoreError> {
        self.load_cached(id, touch.map(Record::millis)).await
    }

    async fn touch(
        &self,
        id: &SessionId,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.touch_cached(id, Record::millis(idle_expires_at)).await
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let key = self.inner.keys.record(id);
        self.inner.known.forget(id);
        self.changing(&[id], self.inner.redis.unlink(&key)).await
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.inner.known.clear();
        self.changing_all(self.clear_prefix()).await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.ids().await?.len() as u64)
    }

    async fn ids(&self) -> Result<Vec<SessionId>, StoreError> {
        self.scan_ids().await
    }

    async fn ids_by_owner(&self, owner: &str) -> Result<Vec<SessionId>, StoreError> {
        self.owner_ids(owner).await
    }

    /// The owner index's ids, then one load per session, in parallel.
    async fn records_by_owner(&self, owner: &str) -> Result<Vec<Record>, StoreError> {
        self.owner_records(owner).await
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError> {
        self.changing_all(self.delete_by_owner_here(owner)).await
    }

    /// One script over the owner index and its records (see `store/limit.rs`).
    async fn limit_owner(
        &self,
        owner: &str,
        newest: &SessionId,
        limit: OwnerLimit,
    ) -> Result<OwnerLimited, StoreError> {
        self.limit_owner_here(owner, newest, limit).await
    }

    /// Where every key lives in one slot: not on a cluster whose prefix has
    /// no hash tag.
    fn limits_owners(&self) -> bool {
        self.can_limit_owners()
    }

    async fn delete_where(&self, predicate: &RecordPredicate<'_>) -> Result<u64, StoreError> {
        self.changing_all(self.delete_matching(predicate)).await
    }

    /// The near cache's touch deferral (see `store/cached.rs`), or zero.
    fn refresh_slack(&self) -> Duration {
        self.asked_refresh_slack()
    }

    /// The store's session locks (see `store/lock.rs`); none on a cluster
    /// whose prefix has braces that make no hash tag (`{}:`), where no lock
    /// key can share its record's slot.
    fn locks(&self) -> Option<&dyn SessionLocks> {
        self.can_lock().then_some(self as &dyn SessionLocks)
    }
}
