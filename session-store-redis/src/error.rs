//! Errors of this crate beyond [`StoreError`](session_core::store::StoreError).

use std::time::Duration;

/// The store cannot be set up as configured. It arrives as the source of
/// [`StoreError::Config`](session_core::store::StoreError::Config), reported
/// by [`RedisStore::connect`](crate::RedisStore::connect) before any
/// connection is tried, and never as `Unavailable` (retrying cannot cure
/// it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL is not a Redis URL fred understands.
    #[error("invalid redis url: {0}")]
    InvalidUrl(#[source] fred::error::Error),
}

/// [`RedisStore::connect`](crate::RedisStore::connect) could not reach a
/// working Redis. It arrives as the source of
/// [`StoreError::Unavailable`](session_core::store::StoreError::Unavailable), so
/// `error.source()` can be downcast to it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// No connection could be made, or the first `PING` failed.
    #[error("cannot connect to redis at {servers}: {source}")]
    Unreachable {
        /// The servers tried (`host:port`, never credentials).
        servers: String,
        /// What fred reported.
        #[source]
        source: fred::error::Error,
    },
    /// The connection was not made within the command timeout.
    #[error("no connection to redis at {servers} within {timeout:?}")]
    TimedOut {
        /// The servers tried.
        servers: String,
        /// The timeout.
        timeout: Duration,
    },
}
