//! Errors of this crate beyond [`StoreError`](session_core::store::StoreError), and
//! how driver errors become store errors.

use std::time::Duration;

use mongodb::error::{Error as DriverError, ErrorKind, WriteFailure};
use session_core::store::StoreError;

/// The server's code for a duplicate key (`E11000`).
const DUPLICATE_KEY: i32 = 11000;

/// The store cannot be set up as configured. It arrives as the source of
/// [`StoreError::Config`], reported when the store is built or connects
/// (before any connection is tried), never as `Unavailable`: retrying
/// cannot cure it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A database or collection name that MongoDB would refuse.
    #[error("invalid {what} name {name:?}: {reason}")]
    InvalidName {
        /// `"database"` or `"collection"`.
        what: &'static str,
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The URL is not a MongoDB connection string the driver understands.
    /// Only the driver's reason is kept, never the URL, which may hold a
    /// password.
    #[error("invalid MongoDB URL: {reason}")]
    InvalidUrl {
        /// What the driver reported.
        reason: String,
    },
}

/// [`MongoStore::connect`](crate::MongoStore::connect) could not reach a
/// working MongoDB server. It arrives as the source of
/// [`StoreError::Unavailable`], so `error.source()` can be downcast to it;
/// the message names the servers and the driver's reason, never
/// credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// No server answered the first command (`ping`), or it failed.
    #[error("cannot connect to MongoDB at {servers}: {source}")]
    Unreachable {
        /// The servers tried (`host:port`, never credentials).
        servers: String,
        /// What the driver reported.
        #[source]
        source: DriverError,
    },
    /// The first command got no answer within the command timeout.
    #[error("no answer from MongoDB at {servers} within {timeout:?}")]
    TimedOut {
        /// The servers tried.
        servers: String,
        /// The timeout.
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

/// Maps a driver error: documents or replies that cannot be read are
/// malformed data; anything else (no server, I/O, a closed pool, a command
/// the server refused) means the store is unavailable.
pub(crate) fn from_driver(error: DriverError) -> StoreError {
    match *error.kind {
        ErrorKind::BsonDeserialization(_) | ErrorKind::InvalidResponse { .. } => {
            StoreError::Malformed(error.to_string())
        }
        _ => StoreError::unavailable(error),
    }
}

/// Whether `error` is a unique-index collision on `_id` (from an insert,
/// an upsert or a find-and-modify alike).
pub(crate) fn is_duplicate_key(error: &DriverError) -> bool {
    match &*error.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_unavailable_and_decoding_errors_malformed() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let err = from_driver(DriverError::from(io));
        assert!(err.is_unavailable(), "{err}");
        let undecodable = mongodb::bson::from_bson::<String>(mongodb::bson::Bson::Int32(1))
            .expect_err("an integer is not a string");
        assert!(matches!(
            from_driver(DriverError::from(undecodable)),
            StoreError::Malformed(_)
        ));
    }

    #[test]
    fn configuration_errors_are_no_outage_and_say_what_is_wrong() {
        let store: StoreError = ConfigError::InvalidName {
            what: "collection",
            name: "a$b".into(),
            reason: "contains '$'",
        }
        .into();
        assert!(store.is_config() && !store.is_unavailable(), "{store:?}");
        let source = std::error::Error::source(&store).expect("a source");
        assert!(
            source.to_string().contains("collection name \"a$b\""),
            "{source}"
        );
    }
}
