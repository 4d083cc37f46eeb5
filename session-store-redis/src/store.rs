//! The store itself: construction and the per-session operations. Walks of
//! the keyspace are in `scan`, the owner index in `owners`.

mod owners;
mod scan;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fred::types::Value;
use futures_util::future::try_join;
use session_core::time::OffsetDateTime;
use session_core::{Record, RecordPredicate, SessionId, SessionStore, StoreError};

use crate::builder::RedisStoreBuilder;
use crate::conn::{Backend, Redis};
use crate::keys::Keys;
use crate::layout::{self, Loaded};
use crate::scripts::SCRIPTS;

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

    /// A store on `backend`; `owned` when the store opened the connection
    /// and closes it when its last clone is dropped.
    pub(crate) fn new(backend: Backend, prefix: String, timeout: Duration, owned: bool) -> Self {
        let redis = Redis::new(backend, timeout, owned);
        let keys = Keys::new(prefix);
        let one_slot = !redis.is_clustered() || keys.prefix_pins_one_slot();
        RedisStore {
            inner: Arc::new(Inner {
                redis,
                keys,
                one_slot,
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
    /// the script in full once (`EVAL`) instead of by its hash.
    pub async fn verify(&self) -> Result<(), StoreError> {
        self.inner.redis.ping().await?;
        self.inner.redis.load_scripts(&SCRIPTS.all()).await
    }

    /// Closes the connections (best effort, within the timeout).
    pub(crate) async fn quit(&self) {
        let redis = &self.inner.redis;
        redis.backend().quit(redis.timeout()).await;
    }

    /// The owner-index write that goes with a record write on a cluster,
    /// where the two keys live on different slots.
    async fn index_separately(&self, record: &Record) -> Result<(), StoreError> {
        let Some(owner) = record.owner.as_deref().filter(|_| !self.inner.one_slot) else {
            return Ok(());
        };
        let key = self.inner.keys.owner(owner);
        let args = vec![
            record.id.as_str().into(),
            Record::millis(record.absolute_expires_at).into(),
        ];
        self.inner.redis.eval(&SCRIPTS.index, &[&key], args).await?;
        Ok(())
    }

    /// The keys of a create or save script: the record, and the owner index
    /// when both live on one slot.
    fn write_keys(&self, record: &Record) -> Vec<String> {
        let mut keys = vec![self.inner.keys.record(&record.id)];
        if let Some(owner) = record.owner.as_deref().filter(|_| self.inner.one_slot) {
            keys.push(self.inner.keys.owner(owner));
        }
        keys
    }

    async fn write(
        &self,
        script: &crate::scripts::Script,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<i64, StoreError> {
        let keys = self.write_keys(record);
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let args = layout::write_args(record, expected);
        // On a cluster the index write runs alongside, not after: one round
        // trip of latency. An index entry without its record is harmless
        // (entries are checked against the record's owner when read).
        let (reply, ()) = try_join(
            self.inner.redis.eval(script, &keys, args),
            self.index_separately(record),
        )
        .await?;
        layout::integer(&reply).ok_or_else(|| unexpected(script.name, &reply))
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
        match self.write(&SCRIPTS.create, record, None).await? {
            1 => Ok(()),
            0 => Err(StoreError::AlreadyExists),
            other => Err(unexpected("create", &Value::Integer(other))),
        }
    }

    async fn save(&self, record: &Record, expected_version: Option<u64>) -> Result<(), StoreError> {
        match self.write(&SCRIPTS.save, record, expected_version).await? {
            1 => Ok(()),
            0 => Err(StoreError::NotFound),
            -1 => Err(StoreError::Conflict {
                expected: expected_version.unwrap_or_default(),
            }),
            other => Err(unexpected("save", &Value::Integer(other))),
        }
    }

    async fn load(
        &self,
        id: &SessionId,
        touch: Option<OffsetDateTime>,
    ) -> Result<Option<Record>, StoreError> {
        let key = self.inner.keys.record(id);
        let touch: Value = match touch {
            Some(at) => Record::millis(at).into(),
            None => "".into(),
        };
        let reply = self
            .inner
            .redis
            .eval(&SCRIPTS.load, &[&key], vec![touch])
            .await?;
        match layout::decode(id, reply) {
            // Redis expires the key itself; this covers an application clock
            // ahead of the server's.
            Loaded::Record(record) if record.is_expired(OffsetDateTime::now_utc()) => Ok(None),
            Loaded::Record(record) => Ok(Some(record)),
            Loaded::Missing => Ok(None),
            Loaded::Malformed(reason) => {
                tracing::warn!(%id, reason, "redis holds an unreadable session record; treating it as absent");
                Ok(None)
            }
        }
    }

    async fn touch(
        &self,
        id: &SessionId,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let key = self.inner.keys.record(id);
        let args = vec![Record::millis(idle_expires_at).into()];
        let reply = self.inner.redis.eval(&SCRIPTS.touch, &[&key], args).await?;
        Ok(layout::integer(&reply) == Some(1))
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let key = self.inner.keys.record(id);
        let reply = self
            .inner
            .redis
            .call("UNLINK", &key, vec![key.as_str().into()])
            .await?;
        Ok(layout::integer(&reply).is_some_and(|n| n > 0))
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.clear_prefix().await
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

    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError> {
        self.delete_owner(owner).await
    }

    async fn delete_where(&self, predicate: &RecordPredicate<'_>) -> Result<u64, StoreError> {
        self.delete_matching(predicate).await
    }
}
