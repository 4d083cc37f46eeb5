//! Configuration errors, and how database errors become store errors.

use std::time::Duration;

use session_core::store::StoreError;

use crate::dialect::SqlDialect;

/// The store cannot be set up as configured.
///
/// Constructors answer [`StoreError`] (so `?` works next to every other store
/// call); a configuration problem arrives as [`StoreError::Config`] whose
/// source is this error, reported when the store is built or connects and
/// never as `Unavailable` (retrying cannot cure it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A table or schema name that is not a plain identifier.
    #[error("invalid {what} name {name:?}: {reason}")]
    InvalidName {
        /// `"table"` or `"schema"`.
        what: &'static str,
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The URL names no database this crate knows. Only the scheme is kept,
    /// so a password in the URL never reaches a log.
    #[error(
        "unsupported database URL scheme {scheme:?}: expected postgres://, postgresql://, \
         mysql://, mariadb:// or sqlite:"
    )]
    UnsupportedScheme {
        /// The part of the URL before the first `:`.
        scheme: String,
    },
    /// The URL has a known scheme but the driver cannot parse the rest (a
    /// port that is no number, an unknown option value). Only the driver's
    /// reason is kept, never the URL, which may hold a password.
    #[error("invalid {dialect} URL: {reason}")]
    InvalidUrl {
        /// The database the scheme names.
        dialect: SqlDialect,
        /// What the driver reported.
        reason: String,
    },
    /// The URL names a database whose driver is not compiled in.
    #[error(
        "the {dialect} driver is not compiled in: enable the `{feature}` feature of session-store-sql",
        feature = dialect.feature()
    )]
    DriverNotEnabled {
        /// The database the URL names.
        dialect: SqlDialect,
    },
}

/// The database could not be reached when the store was built (by
/// [`SqlStore::connect`](crate::SqlStore::connect)). It arrives as the
/// source of [`StoreError::Unavailable`], so `error.source()` can be
/// downcast to it; the message names the server, never credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// A connection was refused or failed.
    #[error("cannot connect to the {dialect} database at {server}: {source}")]
    Unreachable {
        /// The database.
        dialect: SqlDialect,
        /// The server tried (`host:port`, or a socket path).
        server: String,
        /// What the driver reported.
        #[source]
        source: sqlx::Error,
    },
    /// No connection was made within the pool's acquire timeout.
    #[error("no connection to the {dialect} database at {server} within {timeout:?}")]
    TimedOut {
        /// The database.
        dialect: SqlDialect,
        /// The server tried.
        server: String,
        /// The acquire timeout.
        timeout: Duration,
    },
}

impl From<ConnectError> for StoreError {
    fn from(error: ConnectError) -> Self {
        StoreError::unavailable(error)
    }
}

impl From<ConfigError> for StoreError {
    fn from(error: ConfigError) -> Self {
        StoreError::config(error)
    }
}

/// Maps a driver error: a pool that waited in vain is a timeout, rows that
/// cannot be read are malformed data, anything else (I/O, a closed pool, a
/// database error) means the database is unavailable.
pub(crate) fn from_sqlx(error: sqlx::Error, acquire_timeout: Duration) -> StoreError {
    use sqlx::Error as E;
    match error {
        E::PoolTimedOut => StoreError::Timeout(acquire_timeout),
        E::RowNotFound
        | E::TypeNotFound { .. }
        | E::ColumnIndexOutOfBounds { .. }
        | E::ColumnNotFound(_)
        | E::ColumnDecode { .. }
        | E::Decode(_) => StoreError::Malformed(error.to_string()),
        other => StoreError::unavailable(other),
    }
}

/// Whether `error` is a primary-key collision.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// Whether the database rolled back the call's transaction as a deadlock
/// victim (SQLSTATE 40P01 on PostgreSQL, 40001 with MySQL's 1213) or a
/// serialization failure (40001): nothing it did remains, so it may run
/// again.
pub(crate) fn is_deadlock(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "40001" || code == "40P01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_timeouts_are_timeouts_and_the_rest_is_unavailable() {
        let timeout = Duration::from_millis(300);
        assert!(matches!(
            from_sqlx(sqlx::Error::PoolTimedOut, timeout),
            StoreError::Timeout(t) if t == timeout
        ));
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let err = from_sqlx(sqlx::Error::Io(io), timeout);
        assert!(err.is_unavailable(), "{err}");
        assert!(matches!(
            from_sqlx(sqlx::Error::ColumnNotFound("x".into()), timeout),
            StoreError::Malformed(_)
        ));
    }

    #[test]
    fn config_errors_keep_secrets_out() {
        let err = ConfigError::UnsupportedScheme {
            scheme: "redis".into(),
        };
        assert!(!err.to_string().contains("password"));
        let store: StoreError = ConfigError::DriverNotEnabled {
            dialect: SqlDialect::MySql,
        }
        .into();
        assert!(store.to_string().contains("`mysql` feature"), "{store}");
        assert!(store.is_config() && !store.is_unavailable(), "{store:?}");
    }
}
