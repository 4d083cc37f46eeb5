#![doc = include_str!("../README.md")]
//!
//! # Where things are
//!
//! - [`RedisStore`]: the store ([`SessionStore`](session_core::store::SessionStore)
//!   implementation), [`RedisStore::connect`] and [`RedisStore::builder`].
//! - [`RedisStoreBuilder`]: prefix, command timeout, and a URL, a
//!   [`fred::clients::Client`] or a [`fred::clients::Pool`].
//! - [`NearCache`], [`NearCacheStats`]: the opt-in near cache (see
//!   [`RedisStoreBuilder::near_cache`]).
//! - [`ConnectError`], [`ConfigError`]: why [`RedisStore::connect`] failed
//!   (an unreachable server, a bad URL).
//! - [`fred`]: re-exported, so that the client or pool handed to the builder
//!   comes from the same version.

mod builder;
mod conn;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod keys;
mod known;
mod layout;
mod near_cache;
mod scripts;
mod store;
mod wakeups;

pub use builder::{
    RedisStoreBuilder, DEFAULT_COMMAND_TIMEOUT, DEFAULT_MAX_RECONNECT_DELAY, DEFAULT_POOL_SIZE,
    DEFAULT_PREFIX, DEFAULT_TOUCH_SLACK,
};
pub use error::{ConfigError, ConnectError};
pub use near_cache::{
    NearCache, NearCacheStats, DEFAULT_NEAR_CACHE_MAX_AGE, DEFAULT_TOUCH_DEFERRAL,
};
pub use store::RedisStore;

/// The Redis client this store is built on.
pub use fred;
