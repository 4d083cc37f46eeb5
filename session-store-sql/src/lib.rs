//! A session store in an SQL table, on sqlx: PostgreSQL, MySQL/MariaDB and
//! SQLite, one cargo feature each (`postgres`, `mysql`, `sqlite`; all on by
//! default). Only the enabled drivers compile.
//!
//! - [`SqlStore`]: the store. [`SqlStore::connect`] picks the driver from the
//!   URL scheme; [`SqlStore::postgres`], [`SqlStore::mysql`],
//!   [`SqlStore::sqlite`] and [`SqlStoreBuilder::build`] take a pool that the
//!   application already has.
//! - [`SqlStoreBuilder`]: table and schema names, background cleanup period
//!   and batch size, statement and pool timeouts.
//! - [`SqlStore::migrate`] creates the table idempotently;
//!   [`SqlDialect::migration_sql`] gives the same SQL to teams that manage
//!   migrations themselves (the crate README lists it for each database).
//! - [`SqlPool`]: whichever sqlx pool is in use; [`ConfigError`]: a bad name
//!   or URL.
//!
//! # The table
//!
//! One row per session, keyed by the [`SessionId`](session_core::SessionId)
//! (the SHA-256 of the cookie token, never the token): the encoded data,
//! the creation time, the idle and absolute expiries, their minimum
//! `expires_at` (indexed: what loads filter on and what cleanup deletes by),
//! the version and the owner (indexed, for "log out everywhere", listing a
//! user's sessions and the cap per user).
//! Timestamps are `BIGINT` Unix milliseconds
//! ([`Record::millis`](session_core::store::Record::millis)): the one type that
//! means the same in all three databases, with no time zone to get wrong.
//!
//! # Behaviour
//!
//! - `create` never overwrites a live row (an expired one with the same id
//!   is replaced); `save` never inserts, and with an expected version runs
//!   `UPDATE ... WHERE version = $n`, so under
//!   [`Concurrency::Reject`](session_core::Concurrency::Reject) no
//!   acknowledged write is lost.
//! - `rotate` moves a row to its new id atomically, only if the old id still
//!   holds a live row at the expected version: one statement on PostgreSQL
//!   (a data-modifying CTE), one transaction that locks the old row first on
//!   MySQL/MariaDB and SQLite. A session deleted meanwhile is never
//!   resurrected.
//! - A load that refreshes the idle expiry does it in the same statement
//!   (`UPDATE ... RETURNING`; on MySQL an update, then a select); `touch`
//!   writes only the expiry columns.
//! - Expired rows are invisible at once. A background task removes them
//!   every 60 seconds (configurable) in batches of 1000 rows, each its own
//!   short statement, so a backlog never locks the table for long; it stops
//!   when the last clone of the store is dropped. Every row it removes is
//!   reported once, with its owner, to the store's
//!   [`ExpirySink`](session_core::store::ExpirySink) (what `on_expired` hears).
//! - Every statement runs under a timeout (5 s), and pools built by
//!   [`SqlStore::connect`] wait at most 1 s for a connection: an outage
//!   fails fast with [`StoreError::Timeout`](session_core::store::StoreError) or
//!   `Unavailable` (a `503` through the adapters), and the pool reconnects
//!   by itself when the database is back.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use session_core::{SessionConfig, SessionManager};
//! use session_store_sql::SqlStore;
//!
//! #[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
//! struct Visits {
//!     count: u32,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // e.g. postgres://postgres@127.0.0.1:5432/app or mysql://root@127.0.0.1:3306/app
//! let store = SqlStore::builder()
//!     .table("web_sessions")
//!     .cleanup_every(Duration::from_secs(300))
//!     .connect("sqlite::memory:")
//!     .await?;
//! store.migrate().await?;
//!
//! let manager = SessionManager::<Visits>::new(SessionConfig::testing().store(store).build()?);
//! let session = manager.create();
//! session.data_mut().count += 1;
//! manager.commit(&session).await?;
//! assert_eq!(manager.count().await?, 1);
//! # Ok(()) }
//! ```

#[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
compile_error!(
    "session-store-sql needs at least one of the features `postgres`, `mysql`, `sqlite`"
);

mod builder;
mod cleanup;
mod dialect;
mod error;
mod ident;
mod lock;
mod lock_queries;
mod pool;
mod store;
#[cfg(feature = "postgres")]
mod wakeups;

pub use builder::{
    SqlStoreBuilder, DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_CLEANUP_BATCH, DEFAULT_CLEANUP_EVERY,
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_TABLE,
};
pub use dialect::SqlDialect;
pub use error::{ConfigError, ConnectError};
pub use pool::SqlPool;
pub use store::SqlStore;

/// sqlx, re-exported so that applications build pools with the same version.
pub use sqlx;
