//! Building a [`RedisStore`]: from a URL, or from a client or pool that the
//! application built.

use std::time::Duration;

use fred::clients::{Client, Pool};
use fred::interfaces::ClientLike;
use fred::types::config::{Config, ReconnectPolicy, UnresponsiveConfig};
use fred::types::Builder;
use session_core::store::StoreError;

use crate::conn::Backend;
use crate::error::{ConfigError, ConnectError};
use crate::near_cache::NearCache;
use crate::store::RedisStore;

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "session:";
/// The default command timeout.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// The default [`RedisStoreBuilder::touch_slack`]: 1 second.
pub const DEFAULT_TOUCH_SLACK: Duration = Duration::from_secs(1);

/// The connections of a store built by [`RedisStoreBuilder::connect`]
/// unless [`RedisStoreBuilder::pool_size`] says otherwise.
pub const DEFAULT_POOL_SIZE: usize = 1;

/// The longest pause between reconnection attempts of a store built by
/// [`RedisStoreBuilder::connect`] unless
/// [`RedisStoreBuilder::max_reconnect_delay`] says otherwise.
pub const DEFAULT_MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// Builds a [`RedisStore`]. Get one with [`RedisStore::builder`].
///
/// ```
/// use std::time::Duration;
/// use session_store_redis::RedisStore;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), session_core::store::StoreError> {
/// # let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
/// let store = RedisStore::builder()
///     .prefix("myapp:session:")
///     .command_timeout(Duration::from_millis(500))
///     .connect(&url)
///     .await?;
/// assert_eq!(store.prefix(), "myapp:session:");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisStoreBuilder {
    prefix: String,
    command_timeout: Duration,
    pool_size: usize,
    max_reconnect_delay: Duration,
    touch_slack: Duration,
    near_cache: Option<NearCache>,
    lock_wakeups: bool,
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        RedisStoreBuilder {
            prefix: DEFAULT_PREFIX.to_owned(),
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            pool_size: DEFAULT_POOL_SIZE,
            max_reconnect_delay: DEFAULT_MAX_RECONNECT_DELAY,
            touch_slack: DEFAULT_TOUCH_SLACK,
            near_cache: None,
            lock_wakeups: true,
        }
    }
}

impl RedisStoreBuilder {
    /// The prefix of every key of the store (default `session:`). Stores with
    /// different prefixes share a Redis without seeing each other, and
    /// [`clear`](session_core::store::SessionStore::clear) removes only keys under
    /// the prefix.
    ///
    /// On a Redis Cluster, a prefix with a hash tag (`{myapp}:session:`) puts
    /// every session on one slot: owner-index updates then happen in the same
    /// script as the record write, and a rotation is one atomic script, at
    /// the price of one node holding all sessions. Without one, sessions
    /// spread over the cluster, and a rotation is split in steps whose
    /// deciding one is atomic (see the crate documentation).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one command may take before the store answers
    /// [`StoreError::Timeout`] (default 1 second). Also the connection
    /// timeout of [`connect`](Self::connect).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// For [`connect`](Self::connect) only: how many connections to open
    /// (default 1; fred pipelines concurrent commands on each connection).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// For [`connect`](Self::connect) only: the longest wait between two
    /// reconnection attempts while Redis is unreachable (default 2 seconds;
    /// attempts start after 50 ms and back off exponentially, forever).
    pub fn max_reconnect_delay(mut self, delay: Duration) -> Self {
        self.max_reconnect_delay = delay;
        self
    }

    /// How far short of exact a touching load may leave a session's idle
    /// expiry to save its touch (default 1 second, and never more than 1% of
    /// the idle timeout). A [`load`](session_core::store::SessionStore::load) with
    /// a touch that would move the key's expiry by less than this, judged
    /// from this process's own last touch, write or read of the session, is
    /// a plain `GET` (which proves that the session exists).
    /// `Duration::ZERO` touches on every touching load.
    ///
    /// It never applies to [`touch`](session_core::store::SessionStore::touch):
    /// the request cycle of session-core loads without touching and touches
    /// at commit, and the answer of that touch (whether the session still
    /// exists, which only Redis knows) decides whether the cookie goes out
    /// again, so it is always sent. Under session-core's request cycle the
    /// slack therefore changes nothing; it serves applications that call
    /// the store's touching load themselves.
    pub fn touch_slack(mut self, slack: Duration) -> Self {
        self.touch_slack = slack;
        self
    }

    /// Turns the near cache on, holding at most `capacity` sessions (`0`
    /// turns it off): loads of a session this process read recently are
    /// answered from its memory, with no round trip, and Redis's client
    /// tracking reports every change of the key by any client (a save,
    /// touch, delete or rotation by another process, an expiry, `FLUSHDB`),
    /// which drops the cached copy. The store asks the request cycle not to
    /// refresh a session's idle expiry by less than the touch deferral
    /// (see [`NearCache::touch_deferral`]), so that a read-only request on a
    /// hot session costs no round trip; every touch reaches Redis.
    ///
    /// The store opens two more connections per Redis node for the
    /// invalidations (the same servers, credentials and TLS as the store's
    /// connection). While they are down, or their heartbeat goes
    /// unanswered, the cache is empty and unused. Needs Redis 6 or later
    /// and a tokio runtime when the store is built. See the crate
    /// documentation's "Near cache" section for the guarantees and their
    /// limits.
    ///
    /// ```
    /// use session_store_redis::RedisStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), session_core::store::StoreError> {
    /// # let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    /// let store = RedisStore::builder().near_cache(10_000).connect(&url).await?;
    /// assert!(store.near_cache_stats().is_some());
    /// # Ok(()) }
    /// ```
    pub fn near_cache(self, capacity: usize) -> Self {
        if capacity == 0 {
            return RedisStoreBuilder {
                near_cache: None,
                ..self
            };
        }
        self.near_cache_with(NearCache::new(capacity))
    }

    /// Turns the near cache on with settings other than the defaults; see
    /// [`near_cache`](Self::near_cache) and [`NearCache`].
    pub fn near_cache_with(mut self, config: NearCache) -> Self {
        self.near_cache = Some(config);
        self
    }

    /// Whether a request waiting for a session's lock (under
    /// `Concurrency::Serialize`) is woken when the holder in another
    /// process gives it back (default `true`). The waiters of one process
    /// are woken by the request cycle anyway; without this, a waiter of
    /// another process notices the release at its next retry (backoff of
    /// 2 to 100 ms with jitter).
    ///
    /// How: a waiter of another process marks the lease as waited on (in its
    /// value), and the script that gives it back then publishes it on the
    /// channel `typed-sessions:lease-released`, to which the store
    /// subscribes at its first wait, on one connection of its own (the same
    /// servers, credentials and TLS as the store's). A release nobody waits
    /// for publishes nothing and costs no command more, and a store that
    /// never waits opens nothing. Under contention from several processes
    /// it keeps the lease from staying with the process that holds it
    /// (see the crate's README, "Waiting for a lease"). Turn
    /// it off where pub/sub is unwelcome (an ACL that forbids the channel
    /// only costs the wake-ups, never a release).
    ///
    /// ```
    /// use session_store_redis::RedisStore;
    ///
    /// let builder = RedisStore::builder().lock_wakeups(false);
    /// # let _ = builder;
    /// ```
    pub fn lock_wakeups(mut self, on: bool) -> Self {
        self.lock_wakeups = on;
        self
    }

    /// A store on a client the application built. Connecting it, and giving
    /// it a [`ReconnectPolicy`] so that it recovers from outages by itself,
    /// is the application's business; the store's timeout and fail-fast
    /// behaviour are set per command and apply to any client.
    pub fn build_with_client(self, client: Client) -> RedisStore {
        RedisStore::new(
            Backend::Client(client),
            self.prefix,
            self.command_timeout,
            self.touch_slack,
            false,
            self.near_cache.as_ref(),
            self.lock_wakeups,
        )
    }

    /// A store on a pool the application built; see
    /// [`build_with_client`](Self::build_with_client).
    pub fn build_with_pool(self, pool: Pool) -> RedisStore {
        RedisStore::new(
            Backend::Pool(pool),
            self.prefix,
            self.command_timeout,
            self.touch_slack,
            false,
            self.near_cache.as_ref(),
            self.lock_wakeups,
        )
    }

    /// Connects to `url`, checks the server with a `PING` and loads the
    /// scripts, all within the command timeout; an unreachable server is
    /// [`StoreError::Unavailable`] with a [`ConnectError`] inside, a URL
    /// that is no Redis URL [`StoreError::Config`] with a [`ConfigError`]
    /// inside.
    ///
    /// The URL chooses the deployment (see fred's `Config::from_url`):
    /// `redis://host:6379/0` (single node, `rediss://` needs a TLS feature of
    /// fred), `redis-cluster://host:7000?node=host:7001&node=host:7002`
    /// (cluster), `redis-sentinel://host:26379/0?sentinelServiceName=mymaster&node=host2:26379`
    /// (Sentinel). The client reconnects by itself after an outage.
    pub async fn connect(self, url: &str) -> Result<RedisStore, StoreError> {
        let config =
            Config::from_url(url).map_err(|e| StoreError::config(ConfigError::InvalidUrl(e)))?;
        let servers = servers(&config);
        let backend = self.backend(config).map_err(|e| unreachable(&servers, e))?;
        let timeout = self.command_timeout;
        let initialised = match &backend {
            Backend::Client(client) => tokio::time::timeout(timeout, client.init()).await,
            Backend::Pool(pool) => tokio::time::timeout(timeout, pool.init()).await,
        };
        match initialised {
            Ok(Ok(_task)) => {}
            Ok(Err(error)) => return Err(unreachable(&servers, error)),
            Err(_) => {
                return Err(StoreError::unavailable(ConnectError::TimedOut {
                    servers,
                    timeout,
                }))
            }
        }
        let near_cache = self.near_cache.as_ref();
        let store = RedisStore::new(
            backend,
            self.prefix,
            timeout,
            self.touch_slack,
            true,
            near_cache,
            self.lock_wakeups,
        );
        if let Err(error) = store.verify().await {
            store.quit().await;
            return Err(match error {
                StoreError::Unavailable(source) => match source.downcast::<fred::error::Error>() {
                    Ok(fred) => unreachable(&servers, *fred),
                    Err(other) => StoreError::Unavailable(other),
                },
                StoreError::Timeout(timeout) => {
                    StoreError::unavailable(ConnectError::TimedOut { servers, timeout })
                }
                other => other,
            });
        }
        Ok(store)
    }

    fn backend(&self, config: Config) -> Result<Backend, fred::error::Error> {
        let timeout = self.command_timeout;
        let mut builder = Builder::from_config(config);
        builder
            .with_connection_config(|c| {
                c.connection_timeout = timeout;
                c.internal_command_timeout = timeout;
                c.max_command_attempts = 1;
                // A server that stops answering (frozen, partitioned) gets its
                // connection closed, so that later commands fail fast instead
                // of each waiting for the timeout.
                c.unresponsive = UnresponsiveConfig {
                    max_timeout: Some(timeout * 2),
                    interval: (timeout / 4).max(Duration::from_millis(10)),
                };
            })
            .with_performance_config(|p| p.default_command_timeout = timeout)
            .set_policy(ReconnectPolicy::new_exponential(
                0,
                50,
                u32::try_from(self.max_reconnect_delay.as_millis()).unwrap_or(u32::MAX),
                2,
            ));
        Ok(if self.pool_size > 1 {
            Backend::Pool(builder.build_pool(self.pool_size)?)
        } else {
            Backend::Client(builder.build()?)
        })
    }
}

fn servers(config: &Config) -> String {
    let hosts: Vec<String> = config
        .server
        .hosts()
        .iter()
        .map(|s| s.to_string())
        .collect();
    hosts.join(", ")
}

fn unreachable(servers: &str, source: fred::error::Error) -> StoreError {
    StoreError::unavailable(ConnectError::Unreachable {
        servers: servers.to_owned(),
        source,
    })
}
