//! The near cache: records this process read, served from its memory, kept
//! coherent with Redis by client tracking. Opt in with
//! [`RedisStoreBuilder::near_cache`](crate::RedisStoreBuilder::near_cache);
//! the crate documentation's "Near cache" section tells the guarantees and
//! their limits.
//!
//! - `entries`: the cached records, their bounds, and the tickets that keep
//!   a fill from landing after an invalidation.
//! - `listener`: the connections that receive the invalidations, and what
//!   happens when they fail.

mod entries;
mod listener;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use entries::Entries;
pub(crate) use listener::{listener_client, node_configs, Listener};

/// The default [`NearCache::max_age`]: 30 seconds.
pub const DEFAULT_NEAR_CACHE_MAX_AGE: Duration = Duration::from_secs(30);

/// The default [`NearCache::touch_deferral`]: 10 seconds.
pub const DEFAULT_TOUCH_DEFERRAL: Duration = Duration::from_secs(10);

/// The settings of the near cache. `NearCache::new(capacity)` gives the
/// defaults; [`RedisStoreBuilder::near_cache`](crate::RedisStoreBuilder::near_cache)
/// takes a capacity alone.
///
/// ```
/// use std::time::Duration;
/// use session_store_redis::{NearCache, RedisStore};
///
/// let builder = RedisStore::builder().near_cache_with(
///     NearCache::new(50_000)
///         .max_age(Duration::from_secs(10))
///         .touch_deferral(Duration::from_secs(5)),
/// );
/// # let _ = builder;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct NearCache {
    capacity: usize,
    max_age: Duration,
    touch_deferral: Duration,
}

impl NearCache {
    /// A cache of at most `capacity` sessions (at least 2), with the default
    /// maximum age and touch deferral.
    pub fn new(capacity: usize) -> Self {
        NearCache {
            capacity: capacity.max(2),
            max_age: DEFAULT_NEAR_CACHE_MAX_AGE,
            touch_deferral: DEFAULT_TOUCH_DEFERRAL,
        }
    }

    /// How long an entry may be served after it was read from Redis
    /// (default 30 seconds), however quiet tracking stays: a bound on the
    /// damage of an invalidation lost in a way nobody noticed.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// How far short of exact a session's idle expiry may be left to save
    /// a touch (default 10 seconds; session-core applies at most 5% of the
    /// idle timeout). The store asks the request cycle for this
    /// [refresh slack](session_core::store::SessionStore::refresh_slack):
    /// a read-only request whose refresh would move the idle expiry by less
    /// skips the touch and the `Set-Cookie`, and is then served from the
    /// cache with no round trip. A touch that does happen always goes to
    /// Redis, whose answer says whether the session still exists.
    /// `Duration::ZERO` asks for nothing more than the configuration's own
    /// slack.
    pub fn touch_deferral(mut self, deferral: Duration) -> Self {
        self.touch_deferral = deferral;
        self
    }

    /// The most sessions held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl From<usize> for NearCache {
    fn from(capacity: usize) -> Self {
        NearCache::new(capacity)
    }
}

/// What the near cache of a store has done since it started; see
/// [`RedisStore::near_cache_stats`](crate::RedisStore::near_cache_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NearCacheStats {
    /// Loads answered from the cache.
    pub hits: u64,
    /// Loads that went to Redis.
    pub misses: u64,
    /// Entries dropped because their key changed (here or elsewhere).
    pub invalidations: u64,
    /// Times the whole cache was dropped (`FLUSHDB`, lost invalidations,
    /// lost tracking, this store's `clear`).
    pub flushes: u64,
    /// Sessions held now.
    pub entries: usize,
    /// Whether tracking is live, so that the cache serves.
    pub enabled: bool,
}

/// The near cache of one store.
#[derive(Debug)]
pub(crate) struct Near {
    pub(crate) entries: Arc<Entries>,
    touch_deferral: Duration,
    /// Ends the listener task when the store goes.
    _listener: Option<Listener>,
}

impl Near {
    pub(crate) fn new(
        config: &NearCache,
        main: Option<fred::clients::Client>,
        prefix: &str,
        timeout: Duration,
    ) -> Self {
        let entries = Arc::new(Entries::new(
            config.capacity,
            config.max_age,
            listener::liveness(timeout),
        ));
        let listener = match (main, tokio::runtime::Handle::try_current()) {
            (Some(main), Ok(runtime)) => Some(Listener::spawn(
                &runtime,
                entries.clone(),
                main,
                prefix.to_owned(),
                timeout,
            )),
            (None, _) => {
                tracing::warn!("near cache: the pool has no client; the cache stays off");
                None
            }
            (_, Err(_)) => {
                tracing::warn!(
                    "near cache: the store was built outside a tokio runtime; the cache stays off"
                );
                None
            }
        };
        Near {
            entries,
            touch_deferral: config.touch_deferral,
            _listener: listener,
        }
    }

    /// See [`NearCache::touch_deferral`].
    pub(crate) fn touch_deferral(&self) -> Duration {
        self.touch_deferral
    }

    pub(crate) fn stats(&self) -> NearCacheStats {
        let counters = &self.entries.counters;
        NearCacheStats {
            hits: counters.hits.load(Ordering::Relaxed),
            misses: counters.misses.load(Ordering::Relaxed),
            invalidations: counters.invalidations.load(Ordering::Relaxed),
            flushes: counters.flushes.load(Ordering::Relaxed),
            entries: self.entries.len(),
            enabled: self.entries.is_enabled(),
        }
    }
}
