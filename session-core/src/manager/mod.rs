//! The provider: everything an application does with sessions outside the
//! request cycle. The request cycle's load and commit steps are in `cycle`,
//! the commit planner (what to write, and how) in `plan`.

mod cycle;
mod owners;
mod plan;

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

use session_crypto::KeyRing;
use time::OffsetDateTime;

use crate::config::SessionConfig;
use crate::data::SessionData;
use crate::envelope::{self, Unknown};
use crate::error::SessionError;
use crate::events::{EventKind, SessionEvent};
use crate::flash::FlashState;
use crate::id::{SessionId, Token};
use crate::meta::Meta;
use crate::record::Record;
use crate::schema::{Schema, SessionSchema};
use crate::session::{Session, State, Timeouts};
use crate::store::{SessionStore, StoreError};
use crate::telemetry::{self, Operation};

/// A session read by id, outside any request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionSnapshot<T> {
    /// The id.
    pub id: SessionId,
    /// The data.
    pub data: T,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it expires unless used.
    pub expires_at: OffsetDateTime,
    /// Its owner, if set.
    pub owner: Option<String>,
}

/// The session provider for data type `T`: cheap to clone, shared by every
/// request.
///
/// ```
/// use session_core::{SessionConfig, SessionManager};
/// use session_store_memory::MemoryStore;
///
/// #[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
/// struct UserSession { user_id: Option<u64> }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), session_core::SessionError> {
/// let manager = SessionManager::<UserSession>::new(
///     SessionConfig::testing().store(MemoryStore::new()).build().unwrap(),
/// );
/// let session = manager.create();
/// session.data_mut().user_id = Some(7);
/// session.set_owner(Some("7"));
/// let cookie = manager.commit(&session).await?.expect("saved");
///
/// let id = session.id();
/// assert_eq!(manager.get(&id).await?.data.user_id, Some(7));
/// assert_eq!(manager.delete_by_owner("7").await?, 1); // log out everywhere
/// assert!(manager.find(&id).await?.is_none());
/// # let _ = cookie; Ok(()) }
/// ```
pub struct SessionManager<T> {
    config: Arc<SessionConfig>,
    /// How stored data of each schema version becomes a `T`.
    schema: Schema<T>,
    _data: PhantomData<fn() -> T>,
}

impl<T> Clone for SessionManager<T> {
    fn clone(&self) -> Self {
        SessionManager {
            config: Arc::clone(&self.config),
            schema: self.schema,
            _data: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for SessionManager<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionManager")
            .field("config", &self.config)
            .finish()
    }
}

/// A session cookie's value that passed the cheap checks, owned so that a
/// load does not hold on to the request's headers.
pub(crate) enum CookieValue {
    /// A server-side store's token (43 base64url characters).
    Token(Token),
    /// A sealed record, for a store that keeps it in the cookie.
    Sealed(String),
}

impl<T: SessionData> SessionManager<T> {
    /// A manager for a configuration. `T` is unversioned (schema version
    /// 0); see [`versioned`](Self::versioned) for types with migrations.
    pub fn new(config: SessionConfig) -> Self {
        Self::with_schema(config, Schema::unversioned())
    }

    fn with_schema(config: SessionConfig, schema: Schema<T>) -> Self {
        if config.codec == crate::Codec::Bincode && schema.version != 0 {
            tracing::warn!(
                version = schema.version,
                "bincode records carry no schema version: migrations will not run"
            );
        }
        SessionManager {
            config: Arc::new(config),
            schema,
            _data: PhantomData,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.config.store
    }

    /// The key ring (for [`Sealed`](crate::Sealed) fields).
    pub fn keys(&self) -> &KeyRing {
        &self.config.keys
    }

    fn sealed_cookies(&self) -> bool {
        self.config.store.cookie_sealing().is_some()
    }

    /// One call to this manager's store, timed, counted and traced
    /// ([`telemetry::store_call`]).
    pub(crate) async fn store_call<R>(
        &self,
        operation: Operation,
        id: &SessionId,
        call: impl std::future::Future<Output = Result<R, StoreError>>,
    ) -> Result<R, StoreError> {
        telemetry::store_call(self.config.store.name(), operation, Some(id), call).await
    }

    /// A store call about no single session (clear, count, owner-wide).
    async fn store_wide<R>(
        &self,
        operation: Operation,
        call: impl std::future::Future<Output = Result<R, StoreError>>,
    ) -> Result<R, StoreError> {
        telemetry::store_call(self.config.store.name(), operation, None, call).await
    }

    /// A new, empty session. Nothing is stored until it holds data and is
    /// committed.
    pub fn create(&self) -> Session<T> {
        let now = OffsetDateTime::now_utc();
        let (id, token) = if self.sealed_cookies() {
            (SessionId::random(), None)
        } else {
            let token = Token::random();
            (token.id(), Some(token))
        };
        Session::from_state(
            self.config.keys.clone(),
            State {
                data: T::default(),
                id,
                token,
                created_at: now,
                idle_expires_at: now + self.config.idle_timeout,
                absolute_expires_at: now + self.config.absolute_timeout,
                version: 0,
                owner: None,
                persisted: false,
                modified: false,
                generation: 0,
                refreshed: false,
                reissue: false,
                previous_id: None,
                deleted: false,
                flash: FlashState::default(),
                unknown: Unknown::default(),
                csrf: None,
                meta: Meta::default(),
                timeouts: self.timeouts(None),
                owner_changed: false,
                client: None,
                degraded: false,
            },
        )
    }

    /// The timeouts of a session whose stored metadata is `meta`.
    pub(crate) fn timeouts(&self, meta: Option<&Meta>) -> Timeouts {
        let default_idle = self.config.idle_timeout;
        Timeouts {
            idle: meta.map_or(default_idle, |m| m.idle_timeout(default_idle)),
            default_idle,
            default_absolute: self.config.absolute_timeout,
            remember_max: self.config.accounts.remember_max,
        }
    }

    /// The value if it could be a session cookie of this configuration at
    /// all (a cheap filter before any store call), owned.
    pub(crate) fn read_cookie(&self, value: &str) -> Option<CookieValue> {
        if self.sealed_cookies() {
            let plausible = !value.is_empty() && value.len() <= crate::config::MAX_COOKIE_BYTES;
            plausible.then(|| CookieValue::Sealed(value.to_owned()))
        } else {
            Token::parse(value).map(CookieValue::Token)
        }
    }

    /// Loads the session named by a cookie value. An absent, malformed,
    /// unknown, expired or undecodable value gives a new session with a new
    /// token: a client's token is never adopted. Only a store failure is an
    /// error.
    pub async fn load(&self, cookie_value: Option<&str>) -> Result<Session<T>, SessionError> {
        let value = cookie_value.and_then(|v| self.read_cookie(v));
        self.load_value(value, crate::serialize::Access::ReadWrite, None)
            .await
    }

    fn emit_with_state(&self, kind: EventKind, session: &Session<T>, previous: Option<&SessionId>) {
        let state = session.lock();
        self.emit(
            kind,
            &state.id,
            previous,
            state.owner.as_deref(),
            Some(&state.data),
        );
    }

    fn emit(
        &self,
        kind: EventKind,
        id: &SessionId,
        previous_id: Option<&SessionId>,
        owner: Option<&str>,
        data: Option<&T>,
    ) {
        self.config.callbacks.emit(&SessionEvent {
            kind,
            id,
            previous_id,
            owner,
            source: None,
            data: data.map(|d| d as &(dyn Any + Send + Sync)),
        });
    }

    /// The live session with this id, or [`SessionError::NotFound`].
    pub async fn get(&self, id: &SessionId) -> Result<SessionSnapshot<T>, SessionError> {
        self.find(id)
            .await?
            .ok_or_else(|| SessionError::NotFound(id.clone()))
    }

    /// The live session with this id, if any.
    pub async fn find(&self, id: &SessionId) -> Result<Option<SessionSnapshot<T>>, SessionError> {
        let now = OffsetDateTime::now_utc();
        let load = self.config.store.load(id, None);
        let Some(record) = self.store_call(Operation::Load, id, load).await? else {
            return Ok(None);
        };
        if record.is_expired(now) {
            return Ok(None);
        }
        let decoded = envelope::decode(self.config.codec, &self.schema, &record.data)?;
        Ok(Some(SessionSnapshot {
            expires_at: record.expires_at(),
            id: record.id,
            data: decoded.data,
            created_at: record.created_at,
            owner: record.owner,
        }))
    }

    /// Deletes the session with this id. Answers whether it existed.
    pub async fn delete(&self, id: &SessionId) -> Result<bool, SessionError> {
        let delete = self.config.store.delete(id);
        let existed = self.store_call(Operation::Delete, id, delete).await?;
        if existed {
            self.emit(EventKind::Deleted, id, None, None, None);
        }
        Ok(existed)
    }

    /// Deletes every session of this store.
    pub async fn clear(&self) -> Result<(), SessionError> {
        Ok(self
            .store_wide(Operation::Clear, self.config.store.clear())
            .await?)
    }

    /// Deletes every session of one owner ("log out everywhere"). Answers how
    /// many were deleted.
    pub async fn delete_by_owner(&self, owner: &str) -> Result<u64, SessionError> {
        let delete = self.config.store.delete_by_owner(owner);
        Ok(self.store_wide(Operation::DeleteByOwner, delete).await?)
    }

    /// Deletes every live session whose data `predicate` selects, where the
    /// store can scan (memory; see each store's docs). Records that do not
    /// decode are left alone. Answers how many were deleted.
    ///
    /// ```
    /// # use session_core::{SessionConfig, SessionManager};
    /// # use session_store_memory::MemoryStore;
    /// #[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
    /// struct UserSession { tenant: String }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), session_core::SessionError> {
    /// # let manager = SessionManager::<UserSession>::new(
    /// #     SessionConfig::testing().store(MemoryStore::new()).build().unwrap());
    /// for tenant in ["acme", "acme", "initech"] {
    ///     let session = manager.create();
    ///     session.data_mut().tenant = tenant.into();
    ///     manager.commit(&session).await?;
    /// }
    /// assert_eq!(manager.delete_where(|s| s.data.tenant == "acme").await?, 2);
    /// assert_eq!(manager.count().await?, 1);
    /// # Ok(()) }
    /// ```
    pub async fn delete_where(
        &self,
        predicate: impl Fn(&SessionSnapshot<T>) -> bool + Send + Sync,
    ) -> Result<u64, SessionError> {
        let codec = self.config.codec;
        let schema = self.schema;
        let test = move |record: &Record| {
            envelope::decode(codec, &schema, &record.data)
                .map(|decoded| {
                    predicate(&SessionSnapshot {
                        id: record.id.clone(),
                        data: decoded.data,
                        created_at: record.created_at,
                        expires_at: record.expires_at(),
                        owner: record.owner.clone(),
                    })
                })
                .unwrap_or(false)
        };
        let delete = self.config.store.delete_where(&test);
        Ok(self.store_wide(Operation::DeleteWhere, delete).await?)
    }

    /// How many live sessions the store holds.
    pub async fn count(&self) -> Result<u64, SessionError> {
        Ok(self
            .store_wide(Operation::Count, self.config.store.count())
            .await?)
    }
}

impl<T: SessionSchema> SessionManager<T> {
    /// A manager for a type with a declared schema version: records of
    /// older versions are migrated on load (and written back in `T`'s
    /// version at their next save), records of newer or unreachable
    /// versions are treated as absent and logged.
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use session_core::{SessionConfig, SessionManager, SessionSchema};
    /// use session_store_memory::MemoryStore;
    ///
    /// #[derive(Default, Clone, Serialize, Deserialize)]
    /// struct Cart { items: Vec<String> }
    ///
    /// impl SessionSchema for Cart {
    ///     const VERSION: u32 = 1;
    ///     type Previous = Self;
    ///     fn migrate(previous: Self) -> Self { previous }
    /// }
    ///
    /// let config = SessionConfig::testing().store(MemoryStore::new()).build().unwrap();
    /// let manager = SessionManager::<Cart>::versioned(config);
    /// # let _ = manager;
    /// ```
    pub fn versioned(config: SessionConfig) -> Self {
        Self::with_schema(config, Schema::versioned())
    }
}
