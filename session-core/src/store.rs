//! The store trait and its errors, for store authors.
//!
//! # Implementing a store
//!
//! A store keeps [`Record`]s between requests: bytes and their metadata,
//! keyed by [`SessionId`] (the SHA-256 of the cookie's token, never the
//! token). It never sees the application's type, and it is shared by every
//! process of the application, so its answers come from the backend, never
//! from one process's memory. What each method of [`SessionStore`] must
//! guarantee:
//!
//! - **Expired is absent.** A record past [`Record::expires_at`] is invisible
//!   to every method, and the store removes it without the application's
//!   help (a sweeper, key expiry, a TTL index).
//! - **`create`** never overwrites a live record
//!   ([`StoreError::AlreadyExists`]); an expired one may be replaced.
//! - **`save`** never creates one: a missing record is
//!   [`StoreError::NotFound`]; with an expected version, another version is
//!   [`StoreError::Conflict`] and nothing changes.
//! - **`rotate`** moves a record to its new id in one atomic step, only if
//!   the old id still holds a live record (at the expected version);
//!   otherwise `NotFound`, `Conflict` or `AlreadyExists`, and nothing
//!   changes. A deleted session is never resurrected.
//! - **`load`** with a touch and **`touch`** move only the idle expiry,
//!   capped at the absolute one ([`Record::capped_idle`]); `touch` answers
//!   whether a live record was there.
//! - **`delete`** answers whether a live record existed; **`clear`** removes
//!   this store's records and nothing else of the backend.
//! - The optional **`count`**, **`ids`**, **`ids_by_owner`**,
//!   **`delete_by_owner`** and **`delete_where`** answer
//!   [`StoreError::Unsupported`] unless implemented; owners compare exactly.
//! - **Expiry reports** (optional): a store that removes expired records
//!   itself reports each one it removed, once, to its [`ExpirySink`]
//!   ([`SessionStore::expiry_sink`]), with the owner it had; never a record
//!   removed for another reason (a delete, a rotation, an eviction).
//! - **Errors:** a backend that is down or slow is
//!   [`StoreError::Unavailable`] or [`StoreError::Timeout`] (a `503`);
//!   configuration mistakes are [`StoreError::Config`], found when the store
//!   is built or connects; data it cannot read is [`StoreError::Malformed`].
//!   Never a panic.
//!
//! A complete store, records in a `HashMap` behind a lock:
//!
#![doc = concat!(
    "```\n",
    include_str!("store/guide.rs"),
    r#"
// Any such store works with the rest of the library at once:
use session_core::{SessionConfig, SessionManager};

# #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
let manager = SessionManager::<u32>::new(SessionConfig::testing().store(GuideStore::default()).build()?);
let session = manager.create();
*session.data_mut() += 1;
manager.commit(&session).await?;
assert_eq!(manager.get(&session.id()).await?.data, 1);
# Ok(()) }
```
"#
)]
//!
//! To prove it keeps the contract, the store's tests run the checks of the
//! `session-store-conformance` crate, one line for all of them
//! (`session_store_conformance::conformance_suite!(fresh())`, where `fresh()`
//! makes an empty store); that crate runs them on this very store in its
//! `tests/guide.rs`.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

mod cleanup;
mod wakeups;

pub use crate::expiry::{ExpiredSession, ExpirySink, ExpirySource};
use crate::id::SessionId;
pub use crate::lock::{LockAttempt, LockToken, SavedAndUnlocked, SessionLocks};
pub use crate::meta::{OwnerLimit, OwnerLimitPolicy, OwnerLimited};
pub use crate::record::Record;
pub use cleanup::{CleanupSchedule, DEFAULT_CLEANUP_EVERY};
pub use wakeups::{LeaseWaiters, LeaseWakeups};

/// A store operation failed.
///
/// Adapters turn [`StoreError::Unavailable`], [`StoreError::Timeout`] and
/// [`StoreError::CapacityExceeded`] into `503 Service Unavailable`,
/// [`StoreError::Conflict`] and [`StoreError::NotFound`] (on save) into
/// `409 Conflict`; see [`SessionError::class`](crate::SessionError::class).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `create` found a record with this id already (a token collision, or a
    /// replayed create).
    #[error("a session with this id already exists")]
    AlreadyExists,
    /// `save` found another version than the one it expected: another
    /// request saved the session in between.
    #[error(
        "the session was saved by another request in the meantime (expected version {expected})"
    )]
    Conflict {
        /// The version the save expected to replace.
        expected: u64,
    },
    /// `save` found no record: it expired, or was deleted (for example by
    /// "log out everywhere") while the request ran. Never a silent no-op.
    #[error("the session no longer exists in the store")]
    NotFound,
    /// The store is at its configured capacity and refuses new sessions.
    #[error("the session store is full ({capacity} sessions)")]
    CapacityExceeded {
        /// The configured capacity.
        capacity: usize,
    },
    /// The store cannot do this operation (for example listing sessions in
    /// the cookie store, which keeps no server state).
    #[error("the {store} store does not support {operation}")]
    Unsupported {
        /// The store's name.
        store: &'static str,
        /// The operation asked for.
        operation: &'static str,
    },
    /// The backend did not answer in time.
    #[error("the session store did not answer within {0:?}")]
    Timeout(Duration),
    /// The backend failed or is unreachable.
    #[error("the session store is unavailable: {0}")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// The backend returned something this store cannot read.
    #[error("the session store returned malformed data: {0}")]
    Malformed(String),
    /// The store cannot work as configured (a table name that is no
    /// identifier, a URL that is no URL of its backend). Stores report it
    /// when they are built or connect, before any request; it is never
    /// [`StoreError::Unavailable`], since retrying cannot help, and a
    /// request that meets one answers `500`, not `503`. The source is the
    /// store's own `ConfigError`.
    #[error("the session store is misconfigured: {0}")]
    Config(#[source] Box<dyn StdError + Send + Sync>),
}

impl StoreError {
    /// Wraps a backend error as [`StoreError::Unavailable`].
    pub fn unavailable(error: impl StdError + Send + Sync + 'static) -> Self {
        StoreError::Unavailable(Box::new(error))
    }

    /// Wraps a store's configuration error as [`StoreError::Config`].
    ///
    /// ```
    /// use session_core::{store::StoreError, SessionError};
    ///
    /// let error = StoreError::config(std::fmt::Error);
    /// assert!(error.is_config() && !error.is_unavailable());
    /// // Should a request meet one, it is a `500`: no retry can cure it.
    /// assert_eq!(SessionError::Store(error).status_code(), 500);
    /// ```
    pub fn config(error: impl StdError + Send + Sync + 'static) -> Self {
        StoreError::Config(Box::new(error))
    }

    /// Whether this error is a configuration error ([`StoreError::Config`]).
    pub fn is_config(&self) -> bool {
        matches!(self, StoreError::Config(_))
    }

    /// [`StoreError::Unsupported`]: the store named `store` cannot do
    /// `operation`.
    pub fn unsupported(store: &'static str, operation: &'static str) -> Self {
        StoreError::Unsupported { store, operation }
    }

    /// Whether this error means the backend is down or slow (a `503`).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_)
                | StoreError::Timeout(_)
                | StoreError::CapacityExceeded { .. }
        )
    }
}

/// A test over stored records, for [`SessionStore::delete_where`].
pub type RecordPredicate<'a> = dyn Fn(&Record) -> bool + Send + Sync + 'a;

/// A session store: where records live between requests.
///
/// Stores see bytes, never the application's type; they key records by
/// [`SessionId`], never by the cookie token. Every method must treat expired
/// records as absent. The trait is object-safe, so a configuration holds any
/// store as `Arc<dyn SessionStore>` and swapping stores is one line.
///
/// The first six methods are required; [`rotate`](Self::rotate) has a
/// non-atomic fallback that a store able to do better overrides. Listing, counting and owner-wide
/// deletion are optional abilities: their default answers
/// [`StoreError::Unsupported`].
///
/// The repository's `session-store-conformance` crate holds this contract
/// as checks that the memory, Redis and SQL stores' tests run; a new
/// server-side store can run them too.
#[async_trait]
pub trait SessionStore: Send + Sync + fmt::Debug + 'static {
    /// A short name for logs and errors (`"memory"`, `"redis"`, ...).
    fn name(&self) -> &'static str;

    /// Inserts a new record. Fails with [`StoreError::AlreadyExists`] if a
    /// live record has this id; never overwrites.
    async fn create(&self, record: &Record) -> Result<(), StoreError>;

    /// Replaces an existing live record with `record` (whose `version` is the
    /// new version). With `expected_version`, replaces only a record at that
    /// version, else [`StoreError::Conflict`]. A missing or expired record is
    /// [`StoreError::NotFound`], never recreated.
    async fn save(&self, record: &Record, expected_version: Option<u64>) -> Result<(), StoreError>;

    /// Moves a live record to a new id (session rotation, on login), in one
    /// atomic operation: `record` (its new id, data and version) is stored
    /// and the record at `from` removed, only if `from` still holds a live
    /// record, and, with `expected_version`, one at that version.
    ///
    /// - `from` missing or expired (logged out in another tab, deleted by
    ///   "log out everywhere", revoked): [`StoreError::NotFound`], and
    ///   nothing is created: a rotation never resurrects a session.
    /// - `from` at another version than `expected_version`:
    ///   [`StoreError::Conflict`], nothing changes (the other request's save
    ///   is kept).
    /// - a live record at `record.id` already: [`StoreError::AlreadyExists`],
    ///   nothing changes.
    ///
    /// A store that can make this one operation (a script, a transaction, a
    /// map operation) must override it. The default is the documented
    /// fallback for stores that cannot: it checks `from`, creates `record`
    /// and then deletes `from`, three calls, so a save or a delete that lands
    /// on `from` between the check and the delete is lost (the rotation wins),
    /// and a failure between the create and the delete leaves both records
    /// until the old one expires.
    async fn rotate(
        &self,
        from: &SessionId,
        record: &Record,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc();
        let current = self
            .load(from, None)
            .await?
            .filter(|r| !r.is_expired(now))
            .ok_or(StoreError::NotFound)?;
        if let Some(expected) = expected_version {
            if current.version != expected {
                return Err(StoreError::Conflict { expected });
            }
        }
        self.create(record).await?;
        self.delete(from).await?;
        Ok(())
    }

    /// Loads a live record. With `touch`, also moves its idle expiry to
    /// `touch` (capped at the absolute expiry) in the same operation and
    /// returns the record with the new idle expiry.
    async fn load(
        &self,
        id: &SessionId,
        touch: Option<OffsetDateTime>,
    ) -> Result<Option<Record>, StoreError>;

    /// Moves the idle expiry of a live record to `idle_expires_at` (capped at
    /// its absolute expiry) without rewriting its data. Answers whether a
    /// live record existed: `false` for a record that was deleted, rotated
    /// away or expired, which the request cycle relies on to never send a
    /// dead token back to the browser. The answer must come from the
    /// backend, never from memory of this process alone.
    async fn touch(
        &self,
        id: &SessionId,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Removes a record. Answers whether it existed.
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError>;

    /// Removes every record of this store, and nothing else (a key prefix, a
    /// table), never other data of the backend.
    async fn clear(&self) -> Result<(), StoreError>;

    /// How many live records the store holds.
    async fn count(&self) -> Result<u64, StoreError> {
        Err(StoreError::unsupported(self.name(), "count"))
    }

    /// The ids of all live records.
    async fn ids(&self) -> Result<Vec<SessionId>, StoreError> {
        Err(StoreError::unsupported(self.name(), "listing"))
    }

    /// The ids of the live records of one owner.
    async fn ids_by_owner(&self, owner: &str) -> Result<Vec<SessionId>, StoreError> {
        let _ = owner;
        Err(StoreError::unsupported(self.name(), "listing by owner"))
    }

    /// The live records of one owner, in any order, from the store's owner
    /// index (never a scan of every record): what "your devices" lists.
    async fn records_by_owner(&self, owner: &str) -> Result<Vec<Record>, StoreError> {
        let _ = owner;
        Err(StoreError::unsupported(
            self.name(),
            "listing records by owner",
        ))
    }

    /// Bounds one owner's live sessions after the record `newest` gained
    /// that owner (a login), as one atomic step of the store: what
    /// [`OwnerLimited::decide`] says for the owner's live records at that
    /// moment is removed before any other call of this method on that owner
    /// looks. The default answers [`StoreError::Unsupported`].
    async fn limit_owner(
        &self,
        owner: &str,
        newest: &SessionId,
        limit: OwnerLimit,
    ) -> Result<OwnerLimited, StoreError> {
        let _ = (owner, newest, limit);
        Err(StoreError::unsupported(
            self.name(),
            "limiting sessions per owner",
        ))
    }

    /// Removes every record of one owner ("log out everywhere"). Answers how
    /// many were removed.
    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError> {
        let _ = owner;
        Err(StoreError::unsupported(self.name(), "deleting by owner"))
    }

    /// Removes every live record that `predicate` selects (for example the
    /// sessions of a tenant, or those created before a breach). Answers how
    /// many were removed. Stores that cannot scan answer
    /// [`StoreError::Unsupported`].
    async fn delete_where(&self, predicate: &RecordPredicate<'_>) -> Result<u64, StoreError> {
        let _ = predicate;
        Err(StoreError::unsupported(
            self.name(),
            "deleting by predicate",
        ))
    }

    /// The [refresh slack](crate::SessionConfig::refresh_slack)
    /// this store asks for: how little a read-only request's refresh may
    /// move the idle expiry before the request cycle skips it (the touch
    /// and the `Set-Cookie`). The configuration uses the larger of this
    /// (at most 5% of the idle timeout) and its own slack (the
    /// [refresh fraction](crate::SessionConfigBuilder::refresh_fraction)
    /// of the idle timeout). The default,
    /// zero, asks nothing. A store whose reads cost no round trip but whose
    /// touches do (the Redis store's near cache) asks for more, so that a
    /// read-only request on a hot session writes nothing, while every
    /// touch still reaches the backend.
    fn refresh_slack(&self) -> Duration {
        Duration::ZERO
    }

    /// For stores that keep the record in the cookie itself: the sealing
    /// half. Server-side stores answer `None` (the default), and the request
    /// cycle then uses random tokens and [`SessionId::from_token`].
    fn cookie_sealing(&self) -> Option<&dyn CookieSealing> {
        None
    }

    /// Whether [`limit_owner`](Self::limit_owner) is implemented. The
    /// default `false` means a configuration that asks for
    /// [`max_sessions_per_owner`](crate::SessionConfigBuilder::max_sessions_per_owner)
    /// is refused at build time, not at a user's login.
    fn limits_owners(&self) -> bool {
        false
    }

    /// Where this store reports the records it removes because they
    /// expired (its sweeper or cleanup task, `remove_expired()`, a load
    /// that meets an expired record, a backend's expiry notification), so
    /// that the application's
    /// [`on_expired`](crate::SessionConfigBuilder::on_expired) hears of
    /// them. A store that reports holds one [`ExpirySink`] in the state its
    /// clones share and answers it here; every configuration built on the
    /// store listens to it. The default `None` reports nothing: the
    /// application then hears only of the expiries the request cycle finds
    /// itself (a loaded record past its expiry).
    fn expiry_sink(&self) -> Option<&ExpirySink> {
        None
    }

    /// For stores that can lease a lock per session: the locking half,
    /// which [`Concurrency::Serialize`](crate::Concurrency) needs. The
    /// default `None` means the store cannot serialize requests, and a
    /// configuration that asks for it is refused at build time.
    fn locks(&self) -> Option<&dyn SessionLocks> {
        None
    }
}

/// A record opened from a cookie by a [`CookieSealing`] store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Unsealed {
    /// The record.
    pub record: Record,
    /// Whether it was sealed with an older key, so that the response should
    /// seal it again with the current one.
    pub stale_key: bool,
}

impl Unsealed {
    /// Wraps an opened record.
    pub fn new(record: Record, stale_key: bool) -> Self {
        Unsealed { record, stale_key }
    }
}

/// The half of a client-side store that turns records into cookie values and
/// back. The cookie value *is* the token: there is nothing to look up.
#[async_trait]
pub trait CookieSealing: Send + Sync {
    /// Opens the value of cookie `cookie_name`. Total: anything that is not a
    /// live record sealed by this store for this cookie name answers
    /// `Ok(None)`, never an error or a panic. `Err` is for a failing
    /// revocation check only.
    async fn open(
        &self,
        cookie_name: &str,
        value: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Unsealed>, StoreError>;

    /// Seals a record into the value of cookie `cookie_name` (bound in, so the
    /// value is useless under another name).
    async fn seal(&self, cookie_name: &str, record: &Record) -> Result<String, StoreError>;
}
