//! The provider: everything an application does with sessions outside the
//! request cycle, and the load and commit steps inside it.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

use session_crypto::KeyRing;
use time::OffsetDateTime;

use crate::config::{Concurrency, IdleRefresh, SessionConfig};
use crate::cookie_header::{removal_cookie, session_cookie, SetCookie};
use crate::data::SessionData;
use crate::envelope::{self, Decoded, Unknown};
use crate::error::SessionError;
use crate::events::{EventKind, SessionEvent};
use crate::flash::FlashState;
use crate::id::{SessionId, Token};
use crate::record::Record;
use crate::schema::{Schema, SessionSchema};
use crate::session::{Session, State};
use crate::store::{SessionStore, StoreError};

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
/// assert_eq!(manager.delete_owner("7").await?, 1); // log out everywhere
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

/// How a commit stores its record, decided under the session lock and
/// carried out after it is released (a lock is never held across a store
/// call). A deletion is decided apart, before.
enum Write {
    /// A new record: the first write of a new session.
    Create,
    /// The record moves to the session's new id (rotation), only if `from`
    /// still holds it (at `expected`, when given).
    Rotate {
        from: SessionId,
        expected: Option<u64>,
    },
    /// Replace the record, at the version given if any.
    Save(Option<u64>),
    /// Only the idle expiry moves. The store's answer also proves that the
    /// record still exists, so a dead token is never sent back.
    Touch,
    /// Nothing to store, but the cookie goes out again (new `Max-Age`, or a
    /// cookie sealed with an old key).
    Resend,
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
            },
        )
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
        self.load_value(cookie_value.and_then(|v| self.read_cookie(v)))
            .await
    }

    /// [`load`](Self::load) for a value that [`read_cookie`](Self::read_cookie)
    /// has checked already.
    pub(crate) async fn load_value(
        &self,
        value: Option<CookieValue>,
    ) -> Result<Session<T>, SessionError> {
        let Some(value) = value else {
            return Ok(self.create());
        };
        let now = OffsetDateTime::now_utc();
        let loaded = match (&value, self.config.store.cookie_sealing()) {
            (CookieValue::Sealed(sealed), Some(sealing)) => sealing
                .open(&self.config.cookie_name, sealed, now)
                .await?
                .map(|u| (u.record, None, u.stale_key)),
            (CookieValue::Token(token), None) => self
                .load_server(token, now)
                .await?
                .map(|record| (record, Some(*token), false)),
            // A value checked for another kind of store (not possible
            // through `read_cookie`): a new session, as for any stranger.
            _ => None,
        };
        let Some((record, token, stale_key)) = loaded else {
            return Ok(self.create());
        };
        match envelope::decode(self.config.codec, &self.schema, &record.data) {
            Ok(decoded) => Ok(self.loaded(record, decoded, token, stale_key, now)),
            Err(error) => {
                tracing::warn!(id = %record.id, %error, "stored session does not decode; starting a new session");
                Ok(self.create())
            }
        }
    }

    /// Loads a server-side record without touching it: the idle refresh
    /// happens at commit, where the store's answer also tells whether the
    /// record still exists (another request may rotate or delete it while
    /// this one runs).
    async fn load_server(
        &self,
        token: &Token,
        now: OffsetDateTime,
    ) -> Result<Option<Record>, StoreError> {
        let id = token.id();
        let record = self.config.store.load(&id, None).await?;
        Ok(record.filter(|r| !r.is_expired(now) && r.id == id))
    }

    fn loaded(
        &self,
        record: Record,
        decoded: Decoded<T>,
        token: Option<Token>,
        stale_key: bool,
        now: OffsetDateTime,
    ) -> Session<T> {
        // `Always` refreshes unless the idle expiry would move by less than
        // the slack: a burst of reads then costs no write and no header.
        let wanted = record.capped_idle(now + self.config.idle_timeout);
        let always = matches!(self.config.idle_refresh, IdleRefresh::Always)
            && wanted - record.idle_expires_at >= self.config.refresh_slack;
        let mut idle_expires_at = record.idle_expires_at;
        if always && token.is_none() {
            // A sealed cookie has no store to touch: the new expiry goes out
            // in the resealed cookie at commit.
            idle_expires_at = wanted;
        }
        if let Some(from) = decoded.migrated_from {
            tracing::debug!(id = %record.id, from, to = self.schema.version, "stored session migrated");
        }
        if !decoded.unknown.is_empty() {
            tracing::debug!(id = %record.id, fields = %decoded.unknown, "stored session has fields this release does not know; they are kept");
        }
        let session = Session::from_state(
            self.config.keys.clone(),
            State {
                data: decoded.data,
                id: record.id,
                token,
                created_at: record.created_at,
                idle_expires_at,
                absolute_expires_at: record.absolute_expires_at,
                version: record.version,
                owner: record.owner,
                persisted: true,
                modified: false,
                generation: 0,
                refreshed: always,
                reissue: stale_key,
                previous_id: None,
                deleted: false,
                flash: FlashState::loaded(decoded.flash),
                unknown: decoded.unknown,
            },
        );
        self.emit_with_state(EventKind::Loaded, &session, None);
        session
    }

    /// Writes what changed and answers the `Set-Cookie` to send, if any.
    /// Same as [`commit_with_status`](Self::commit_with_status) with `200`.
    pub async fn commit(&self, session: &Session<T>) -> Result<Option<SetCookie>, SessionError> {
        self.commit_with_status(session, 200).await
    }

    /// Writes what changed, for a response with HTTP `status`, and answers
    /// the `Set-Cookie` to send, if any. A `5xx` saves nothing unless
    /// [`save_on_server_error`](crate::SessionConfigBuilder::save_on_server_error)
    /// is set (deletion still happens: a logout must not be undone by an
    /// error page). Calling it again after a success writes nothing new.
    pub async fn commit_with_status(
        &self,
        session: &Session<T>,
        status: u16,
    ) -> Result<Option<SetCookie>, SessionError> {
        let now = OffsetDateTime::now_utc();
        // This future is part of every request's, so it is kept small: the
        // rarer steps (deletion, creation) are boxed, and a deletion is
        // settled before any record exists.
        let deletion = Self::deletion(&session.lock());
        if let Some(ids) = deletion {
            return Box::pin(self.run_delete(session, ids)).await;
        }
        // Matched as a temporary: a named plan would stay in the future's
        // state next to the record moved out of it.
        let (Some((mut record, write)), generation) = ({
            let state = session.lock();
            (self.plan(&state, status, now)?, state.generation)
        }) else {
            return Ok(None);
        };
        // A sealed cookie is its own storage: sealing is the save.
        let sealed_cookies = self.sealed_cookies();
        match &write {
            Write::Create if !sealed_cookies => {
                Box::pin(self.store_new(session, &mut record, None)).await?
            }
            Write::Rotate { from, expected } => {
                let moved = Box::pin(self.run_rotate(session, &mut record, from, *expected));
                if !moved.await? {
                    return Ok(Self::vanished(session, "rotation"));
                }
            }
            Write::Save(expected) if !sealed_cookies => {
                self.config.store.save(&record, *expected).await?
            }
            Write::Touch if !sealed_cookies => {
                let store = &self.config.store;
                if !store.touch(&record.id, record.idle_expires_at).await? {
                    return Ok(Self::vanished(session, "touch"));
                }
            }
            Write::Create | Write::Save(_) | Write::Touch | Write::Resend => {}
        }
        let sealed = self.seal(&record).await?;
        let cookie = self.finish_write(session, &record, sealed, generation, now)?;
        match &write {
            Write::Create => self.emit_with_state(EventKind::Started, session, None),
            Write::Rotate { from, .. } => {
                self.emit_with_state(EventKind::Regenerated, session, Some(from))
            }
            _ => {}
        }
        Ok(cookie)
    }

    /// The ids to delete if the session was deleted: the stored one and the
    /// one it rotated away from.
    fn deletion(state: &State<T>) -> Option<Vec<SessionId>> {
        state.deleted.then(|| {
            let ids = state.persisted.then(|| state.id.clone());
            ids.into_iter().chain(state.previous_id.clone()).collect()
        })
    }

    /// The record to write and how, if anything is to be written.
    fn plan(
        &self,
        state: &State<T>,
        status: u16,
        now: OffsetDateTime,
    ) -> Result<Option<(Record, Write)>, SessionError> {
        // Deleted after `deletion` looked (by another holder of the
        // handle): nothing is written; the next commit deletes.
        if state.deleted {
            return Ok(None);
        }
        if status >= 500 && !self.config.save_on_server_error {
            return Ok(None);
        }
        if now >= state.absolute_expires_at {
            return Ok(None);
        }
        if !state.persisted && !state.modified {
            return Ok(None);
        }
        let write_idle = now + self.config.idle_timeout;
        if state.modified {
            let record = self.record(
                state,
                write_idle.min(state.absolute_expires_at),
                state.version + 1,
            )?;
            let expected =
                (self.config.concurrency == Concurrency::Reject).then_some(state.version);
            let write = match (&state.previous_id, state.persisted) {
                (Some(from), _) => Write::Rotate {
                    from: from.clone(),
                    expected,
                },
                (None, false) => Write::Create,
                (None, true) => Write::Save(expected),
            };
            return Ok(Some((record, write)));
        }
        let touch = match self.config.idle_refresh {
            IdleRefresh::WhenRemainingBelow(fraction) => {
                let remaining = state.idle_expires_at - now;
                remaining < self.config.idle_timeout.mul_f64(fraction)
            }
            // A server store's touch at commit is the sliding refresh, and
            // its answer proves that the record still exists; a sealed
            // cookie is resealed instead (`refreshed`).
            IdleRefresh::Always => state.refreshed && !self.sealed_cookies(),
            IdleRefresh::OnWrite => false,
        };
        if touch {
            let record = self.record(
                state,
                write_idle.min(state.absolute_expires_at),
                state.version,
            )?;
            return Ok(Some((record, Write::Touch)));
        }
        if state.refreshed || state.reissue {
            let record = self.record(state, state.idle_expires_at, state.version)?;
            return Ok(Some((record, Write::Resend)));
        }
        Ok(None)
    }

    /// The record for the current state. Server stores need the encoded data
    /// only for writes; sealed cookies always carry it. Encoded data over
    /// `max_session_bytes` is an error.
    fn record(
        &self,
        state: &State<T>,
        idle: OffsetDateTime,
        version: u64,
    ) -> Result<Record, SessionError> {
        let needs_data = state.modified || self.sealed_cookies();
        let data = if needs_data {
            let flash = state.flash.to_save();
            let data = envelope::encode(
                self.config.codec,
                self.schema.version,
                &state.data,
                &flash,
                &state.unknown,
            )?;
            // Checked here, before any store call, so that an oversized
            // session writes nothing in any store.
            let limit = self.config.max_session_bytes;
            if data.len() > limit {
                return Err(SessionError::SessionTooLarge {
                    size: data.len(),
                    limit,
                });
            }
            data
        } else {
            Vec::new()
        };
        Ok(Record::new(
            state.id.clone(),
            data,
            state.created_at,
            idle,
            state.absolute_expires_at,
        )
        .with_version(version)
        .with_owner(state.owner.clone()))
    }

    async fn run_delete(
        &self,
        session: &Session<T>,
        ids: Vec<SessionId>,
    ) -> Result<Option<SetCookie>, SessionError> {
        for id in &ids {
            self.config.store.delete(id).await?;
        }
        if let Some(id) = ids.first() {
            let state = session.lock();
            self.emit(
                EventKind::Deleted,
                id,
                None,
                state.owner.as_deref(),
                Some(&state.data),
            );
        }
        let cookie = removal_cookie(&self.config.cookie, &self.config.cookie_name);
        let mut state = session.lock();
        state.persisted = false;
        Ok(Some(cookie))
    }

    /// Stores a new record under the session's token, or moves the record
    /// there from `from` (rotation). A new id that is taken (only a broken
    /// random source gets there) is retried with a fresh token, so another
    /// session is never overwritten.
    async fn store_new(
        &self,
        session: &Session<T>,
        record: &mut Record,
        from: Option<(&SessionId, Option<u64>)>,
    ) -> Result<(), StoreError> {
        let store = &self.config.store;
        let mut token = session.lock().token;
        let mut attempts = 0;
        loop {
            let stored = match from {
                None => store.create(record).await,
                Some((old, expected)) => store.rotate(old, record, expected).await,
            };
            match stored {
                Ok(()) => break,
                Err(StoreError::AlreadyExists) if attempts < 3 => {
                    attempts += 1;
                    let fresh = Token::random();
                    record.id = fresh.id();
                    token = Some(fresh);
                }
                Err(error) => return Err(error),
            }
        }
        let mut state = session.lock();
        state.token = token;
        state.id = record.id.clone();
        Ok(())
    }

    /// Rotates the record away from `from`. Answers `false` when `from` was
    /// deleted or expired meanwhile: then nothing was created. A sealed
    /// cookie has no server record to move; its old id is revoked, where the
    /// store keeps revocations.
    async fn run_rotate(
        &self,
        session: &Session<T>,
        record: &mut Record,
        from: &SessionId,
        expected: Option<u64>,
    ) -> Result<bool, SessionError> {
        if self.sealed_cookies() {
            self.config.store.delete(from).await?;
            return Ok(true);
        }
        match self
            .store_new(session, record, Some((from, expected)))
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::NotFound) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// The session's record is gone (deleted, rotated away or expired by
    /// another request or process while this one ran): nothing was written,
    /// and the response sends no `Set-Cookie` at all. Not the old token (it
    /// is dead), and not a removal either: the request that rotated or
    /// deleted the session has sent the browser its own cookie, which a
    /// later response must not overwrite (two parallel logins, a read that
    /// loaded before the login). A browser that still holds a dead token
    /// gets a fresh session on its next request.
    fn vanished(session: &Session<T>, during: &'static str) -> Option<SetCookie> {
        let mut state = session.lock();
        tracing::debug!(id = %state.id, during, "session vanished from the store while the request ran");
        state.persisted = false;
        state.previous_id = None;
        state.refreshed = false;
        state.reissue = false;
        None
    }

    /// The sealed cookie value of a record, where the store keeps records
    /// in cookies.
    async fn seal(&self, record: &Record) -> Result<Option<String>, SessionError> {
        match self.config.store.cookie_sealing() {
            Some(sealing) => Ok(Some(sealing.seal(&self.config.cookie_name, record).await?)),
            None => Ok(None),
        }
    }

    /// Updates the handle after a successful store call and builds the
    /// cookie, carrying `sealed` or else the session's token.
    fn finish_write(
        &self,
        session: &Session<T>,
        record: &Record,
        sealed: Option<String>,
        generation: u64,
        now: OffsetDateTime,
    ) -> Result<Option<SetCookie>, SessionError> {
        let mut state = session.lock();
        state.persisted = true;
        state.version = record.version;
        state.idle_expires_at = record.idle_expires_at;
        state.previous_id = None;
        state.refreshed = false;
        state.reissue = false;
        if state.generation == generation {
            state.modified = false;
            if !state.flash.is_empty() {
                state.flash = FlashState::loaded(state.flash.to_save());
            }
        }
        let token = state.token.as_ref().map(Token::as_str);
        let Some(value) = sealed.as_deref().or(token) else {
            return Ok(None);
        };
        // Formatting only, under the lock: the token is not copied out.
        session_cookie(
            &self.config.cookie,
            &self.config.cookie_name,
            value,
            record.expires_at() - now,
        )
        .map(Some)
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
        let Some(record) = self.config.store.load(id, None).await? else {
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
        let existed = self.config.store.delete(id).await?;
        if existed {
            self.emit(EventKind::Deleted, id, None, None, None);
        }
        Ok(existed)
    }

    /// Deletes every session of this store.
    pub async fn clear(&self) -> Result<(), SessionError> {
        Ok(self.config.store.clear().await?)
    }

    /// Deletes every session of one owner ("log out everywhere"). Answers how
    /// many were deleted.
    pub async fn delete_owner(&self, owner: &str) -> Result<u64, SessionError> {
        Ok(self.config.store.delete_by_owner(owner).await?)
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
        Ok(self.config.store.delete_where(&test).await?)
    }

    /// How many live sessions the store holds.
    pub async fn count(&self) -> Result<u64, SessionError> {
        Ok(self.config.store.count().await?)
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
