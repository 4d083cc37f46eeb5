//! Errors of this crate beyond [`StoreError`](session_core::store::StoreError).

use std::time::Duration;

/// [`RedisStore::connect`](crate::RedisStore::connect) could not reach a
/// working Redis. It arrives as the source of
/// [`StoreError::Unavailable`](session_core::store::StoreError::Unavailable), so
/// `error.source()` can be downcast to it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not a Redis URL fred understands.
    #[error("invalid redis url: {0}")]
    Url(#[source] fred::error::Error),
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
